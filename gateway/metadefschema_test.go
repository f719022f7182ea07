package gateway

import (
	"bytes"
	"encoding/json"
	"os/exec"
	"strings"
	"testing"

	"github.com/spyglass-gateway/spyglass/gateway/schemas"
)

// TestMetadefSchemaMatchesJSONSchema holds the metadef validator to the
// one Glance uses: for each body, Python's jsonschema.validate over the
// same schema document must fail with the same text (best_match's error,
// printed as Glance prints it), or pass when the validator passes.
func TestMetadefSchemaMatchesJSONSchema(t *testing.T) {
	if err := exec.Command("/usr/bin/python3", "-c", "import jsonschema").Run(); err != nil {
		t.Fatalf("needs /usr/bin/python3 with jsonschema (python3-jsonschema, a dependency of python3-glance): %v", err)
	}
	type tc struct {
		schema string // a schemas.Paths name, or "tags" / "objprop"
		body   string
	}
	var cases []tc
	for _, b := range []string{
		`{"namespace": "x"}`, `{}`, `{"namespace": 1}`, `{"namespace": "x", "visibility": 5}`,
		`{"namespace": "x", "visibility": "shared"}`, `{"namespace": "x", "protected": 1}`, `{"namespace": "x", "a": 1, "b": 2}`,
		`{"namespace": "x", "owner": "` + strings.Repeat("o", 256) + `"}`, `{"namespace": "x", "display_name": null}`,
		`{"namespace": "x", "resource_type_associations": [{"name": 1}]}`, `{"namespace": "x", "resource_type_associations": {}}`,
		`{"namespace": "x", "properties": []}`, `{"namespace": "x", "properties": {"p": 1}}`,
		`{"namespace": "x", "properties": {"p": {"title": "t"}}}`, `{"namespace": "x", "properties": {"p": {"title": "t", "type": null}}}`,
		`{"namespace": "x", "properties": {"p": {"title": "t", "type": "string", "maxLength": -1}}}`,
		`{"namespace": "x", "properties": {"p": {"title": "t", "type": "string", "minLength": 1.5}}}`,
		`{"namespace": "x", "properties": {"p": {"title": "t", "type": "string", "minItems": true}}}`,
		`{"namespace": "x", "properties": {"p": {"title": "t", "type": "array", "items": {"type": "str"}}}}`,
		`{"namespace": "x", "properties": {"p": {"title": "t", "type": "string", "required": ["a", "a"]}}}`,
		`{"namespace": "x", "properties": {"p": {"title": "t", "type": "string", "name": "` + strings.Repeat("n", 81) + `"}}}`,
		`{"namespace": "x", "properties": {"p": {"title": 5, "type": "string", "readonly": "no"}}}`,
		`{"namespace": "x", "objects": [{"name": "o", "properties": {"p": {"type": "string"}}}]}`,
		`{"namespace": "x", "objects": [{"name": 1, "required": [1]}]}`,
		`{"namespace": "x", "tags": [{"name": "a"}, "b"]}`,
		`[]`, `["self"]`,
		// Two errors at one depth: best_match prefers the one whose
		// instance is not of its schema's type, whatever their order.
		`{"namespace": "x", "display_name": "` + strings.Repeat("d", 81) + `", "description": 5}`,
	} {
		cases = append(cases, tc{"metadefs/namespace", b})
	}
	for _, b := range []string{`{"name": "o"}`, `{}`, `{"name": "` + strings.Repeat("o", 81) + `"}`, `{"name": "o", "required": []}`,
		`{"name": "o", "properties": {"p": {"title": "P"}}}`, `{"name": "o", "x": 1}`, `{"name": "o", "description": 5}`} {
		cases = append(cases, tc{"metadefs/object", b})
	}
	for _, b := range []string{`{"name": "p", "title": "P", "type": "string"}`, `{"name": "p"}`, `{"title": "P", "type": "string"}`,
		`{"name": "p", "title": "P", "type": "string", "required": []}`, `{"name": "p", "title": "P", "type": "string", "enum": "x"}`,
		`{"name": "p", "title": "P", "type": "string", "maximum": "9"}`, `{"name": "p", "title": "P", "type": "string", "confidential": true}`,
		`{"name": "p", "title": "P", "type": "string", "minLength": -2}`, `{"name": "p", "title": "P", "type": "string", "uniqueItems": "yes"}`} {
		cases = append(cases, tc{"metadefs/property", b})
	}
	for _, b := range []string{`{"type": "string"}`, `{"title": "T", "type": "string", "name": 1}`, `{"title": "T", "type": "integer", "foo": 1}`} {
		cases = append(cases, tc{"objprop", b})
	}
	for _, b := range []string{`{"name": "t"}`, `{"name": 1}`, `{"nam": "t"}`, `{"name": "` + strings.Repeat("t", 81) + `"}`} {
		cases = append(cases, tc{"metadefs/tag", b})
	}
	for _, b := range []string{`{"tags": [{"name": "a"}]}`, `{"tags": {}}`, `{"tags": [{"name": 1}]}`, `{"tags": [{"name": "a", "x": 1}]}`, `{"tag": []}`, `{"tags": ["a"]}`} {
		cases = append(cases, tc{"tags", b})
	}
	for _, b := range []string{`{"name": "R"}`, `{"prefix": "p"}`, `{"name": "R", "prefix": 1}`, `{"name": "R", "protected": true}`} {
		cases = append(cases, tc{"metadefs/resource_type", b})
	}

	schemaOf := func(name string) *metadefSchema {
		switch name {
		case "tags":
			return tagsSchema
		case "objprop":
			return objPropSchema
		}
		return newMetadefSchema(schemas.Schema(name))
	}
	var in bytes.Buffer
	for _, c := range cases {
		doc := schemas.Schema(c.schema)
		switch c.schema {
		case "tags":
			doc = []byte(`{"name": "tags", "properties": {"tags": {"type": "array", "items": {"type": "object", "properties": {"name": {"type": "string"}}, "required": ["name"], "additionalProperties": false}}}, "additionalProperties": false}`)
		case "objprop":
			var m map[string]any
			json.Unmarshal(schemas.Schema("metadefs/property"), &m)
			m["required"] = []string{"type", "title"}
			doc, _ = json.Marshal(m)
		}
		line, _ := json.Marshal([]string{string(doc), c.body})
		in.Write(line)
		in.WriteByte('\n')
	}
	py := `
import sys, json, jsonschema
for line in sys.stdin:
    schema, body = json.loads(line)
    schema = json.loads(schema)
    try:
        jsonschema.validate(json.loads(body), schema)
        print(json.dumps(None))
    except jsonschema.ValidationError as e:
        print(json.dumps("Provided object does not match schema '%s': %s" % (schema['name'], e)))
`
	cmd := exec.Command("/usr/bin/python3", "-c", py)
	cmd.Stdin = &in
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("python: %v\n%s", err, out)
	}
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	if len(lines) != len(cases) {
		t.Fatalf("python answered %d lines for %d cases:\n%s", len(lines), len(cases), out)
	}
	for i, c := range cases {
		var want *string
		if err := json.Unmarshal([]byte(lines[i]), &want); err != nil {
			t.Fatalf("python line %q: %v", lines[i], err)
		}
		var v any
		dec := json.NewDecoder(strings.NewReader(c.body))
		dec.UseNumber()
		if err := dec.Decode(&v); err != nil {
			t.Fatal(err)
		}
		got := schemaOf(c.schema).validate(v)
		switch {
		case want == nil && got != nil:
			t.Errorf("%s %s: jsonschema passes, Spyglass: %v", c.schema, c.body, got)
		case want != nil && got == nil:
			t.Errorf("%s %s: Spyglass passes, jsonschema: %s", c.schema, c.body, *want)
		case want != nil && got.Error() != *want:
			t.Errorf("%s %s:\njsonschema: %s\nspyglass:   %s", c.schema, c.body, *want, got.Error())
		}
	}
}
