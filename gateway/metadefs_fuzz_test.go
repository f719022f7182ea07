package gateway

import (
	"encoding/json"
	"testing"
)

// The metadef body parsers take untrusted input: whatever the body, they
// answer a 4xx or a value whose stored JSON is valid, never a panic.

var metadefSeeds = []string{
	`{"namespace": "n", "display_name": "N", "visibility": "public", "protected": true, "owner": "p",
	  "resource_type_associations": [{"name": "OS::Glance::Image", "prefix": "hw_", "properties_target": "image"}],
	  "properties": {"p": {"title": "P", "type": "integer", "minimum": 1.5, "default": 3, "items": {"type": "string", "enum": ["a"]}}},
	  "objects": [{"name": "o", "required": ["a"], "properties": {"a": {"title": "A", "type": "string"}}}],
	  "tags": [{"name": "t"}]}`,
	`{"name": "o", "description": "d", "required": ["x", "y"], "properties": {"x": {"title": "X", "type": "string", "enum": ["a", 1, null]}}}`,
	`{"name": "p", "title": "P", "type": "array", "items": {"type": "string"}, "uniqueItems": true, "minItems": 0, "operators": ["<or>"]}`,
	`{"tags": [{"name": "a"}, {"name": "b"}]}`,
	`{"name": "OS::Nova::Flavor", "prefix": "hw:"}`,
	`{"namespace": "x", "properties": {"p": {"title": "t", "type": "strin"}}}`,
	`["self"]`, `"created_at"`, `5`, `null`, `{"name": 1e400}`, `{"namespace": "x", "properties": {"p": {"title": "t", "type": "string", "minimum": -9e99}}}`,
}

func checkMetadefErr(t *testing.T, err error) {
	t.Helper()
	if st, _ := statusOf(err); st != 400 && st != 403 && st != 413 {
		t.Fatalf("status %d: %v", st, err)
	}
}

func validJSON(t *testing.T, what string, b []byte) {
	t.Helper()
	if b != nil && !json.Valid(b) {
		t.Fatalf("%s: invalid JSON %q", what, b)
	}
}

func FuzzParseNamespace(f *testing.F) {
	for _, s := range metadefSeeds {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, body string) {
		c, err := ParseNamespace([]byte(body))
		if err != nil {
			checkMetadefErr(t, err)
			return
		}
		if !json.Valid([]byte(body)) {
			t.Fatalf("accepted %q", body)
		}
		for _, p := range c.Properties {
			validJSON(t, "property", p.Schema)
		}
		for _, o := range c.Objects {
			validJSON(t, "object", o.Properties)
		}
	})
}

func FuzzParseMetadefObject(f *testing.F) {
	for _, s := range metadefSeeds {
		f.Add(s, true)
		f.Add(s, false)
	}
	f.Fuzz(func(t *testing.T, body string, create bool) {
		o, err := ParseMetadefObject([]byte(body), create)
		if err != nil {
			checkMetadefErr(t, err)
			return
		}
		validJSON(t, "object", o.Properties)
	})
}

func FuzzParseMetadefProperty(f *testing.F) {
	for _, s := range metadefSeeds {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, body string) {
		p, err := ParseMetadefProperty([]byte(body))
		if err != nil {
			checkMetadefErr(t, err)
			return
		}
		validJSON(t, "property", p.Schema)
		validJSON(t, "shown", propertyJSON(p))
	})
}

func FuzzParseMetadefTags(f *testing.F) {
	for _, s := range metadefSeeds {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, body string) {
		if _, err := ParseMetadefTags([]byte(body)); err != nil {
			checkMetadefErr(t, err)
		}
		if _, err := ParseMetadefTag([]byte(body)); err != nil {
			checkMetadefErr(t, err)
		}
		if err := ValidateTagName(body); err != nil {
			checkMetadefErr(t, err)
		}
	})
}

func FuzzParseResourceTypeAssociation(f *testing.F) {
	for _, s := range metadefSeeds {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, body string) {
		if _, err := ParseResourceTypeAssociation([]byte(body)); err != nil {
			checkMetadefErr(t, err)
		}
	})
}
