package gateway

import (
	"bytes"
	"encoding/json"
	"math"
	"sort"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/spyglass-gateway/spyglass/gateway/schemas"
)

// Glance validates metadef bodies against its JSON schemas with
// jsonschema.validate (Draft 2020-12 for a schema without $schema) and
// answers the best_match error as jsonschema prints it. This file is that
// validator for the keywords the metadef schemas use (type, enum,
// maxLength, minimum, required, properties, additionalProperties, items,
// minItems, uniqueItems, allOf, $ref), over the schema documents Glance
// serves (gateway/schemas), read in their key order: jsonschema checks the
// keywords of a schema in the order its dict holds them, which decides the
// error reported when several apply.

// oschema is a JSON object that remembers its key order.
type oschema struct {
	keys []string
	m    map[string]any // values: *oschema, []any, string, json.Number, bool, nil
}

func (o *oschema) get(k string) (any, bool) {
	v, ok := o.m[k]
	return v, ok
}

// plain is the schema as decoded JSON (map[string]any), for the report.
func plainOf(v any) any {
	switch x := v.(type) {
	case *oschema:
		m := make(map[string]any, len(x.keys))
		for _, k := range x.keys {
			m[k] = plainOf(x.m[k])
		}
		return m
	case []any:
		out := make([]any, len(x))
		for i, e := range x {
			out[i] = plainOf(e)
		}
		return out
	}
	return v
}

func decodeOrdered(doc []byte) *oschema {
	dec := json.NewDecoder(bytes.NewReader(doc))
	dec.UseNumber()
	v, err := decodeOrderedValue(dec)
	if err != nil {
		panic("gateway: embedded schema: " + err.Error())
	}
	return v.(*oschema)
}

func decodeOrderedValue(dec *json.Decoder) (any, error) {
	tok, err := dec.Token()
	if err != nil {
		return nil, err
	}
	switch t := tok.(type) {
	case json.Delim:
		switch t {
		case '{':
			o := &oschema{m: map[string]any{}}
			for dec.More() {
				kt, err := dec.Token()
				if err != nil {
					return nil, err
				}
				k := kt.(string)
				v, err := decodeOrderedValue(dec)
				if err != nil {
					return nil, err
				}
				o.keys = append(o.keys, k)
				o.m[k] = v
			}
			_, err := dec.Token()
			return o, err
		case '[':
			var arr []any
			for dec.More() {
				v, err := decodeOrderedValue(dec)
				if err != nil {
					return nil, err
				}
				arr = append(arr, v)
			}
			_, err := dec.Token()
			if arr == nil {
				arr = []any{}
			}
			return arr, err
		}
	}
	return tok, nil
}

// metadefSchema is one of Glance's metadef schemas, ready to validate.
type metadefSchema struct {
	name string // the schema's name, as Glance's message names it
	root *oschema
}

func newMetadefSchema(doc []byte) *metadefSchema {
	root := decodeOrdered(doc)
	name, _ := root.m["name"].(string)
	return &metadefSchema{name: name, root: root}
}

var (
	nsSchema   = newMetadefSchema(schemas.Schema("metadefs/namespace"))
	objSchema  = newMetadefSchema(schemas.Schema("metadefs/object"))
	propSchema = newMetadefSchema(schemas.Schema("metadefs/property"))
	tagSchema  = newMetadefSchema(schemas.Schema("metadefs/tag"))
	rtaSchema  = newMetadefSchema(schemas.Schema("metadefs/resource_type"))
	// The two schemas Glance validates with but does not serve: an
	// object's property (properties.get_schema(require_name=False)) and
	// the tags of POST .../tags (tags.get_schema_for_list()).
	objPropSchema = func() *metadefSchema {
		s := newMetadefSchema(schemas.Schema("metadefs/property"))
		s.root.m["required"] = []any{"type", "title"}
		return s
	}()
	tagsSchema = newMetadefSchema([]byte(`{"name": "tags", "properties": {"tags": {"type": "array", "items": {"type": "object", "properties": {"name": {"type": "string"}}, "required": ["name"], "additionalProperties": false}}}, "additionalProperties": false}`))
)

// violation is one jsonschema ValidationError.
type violation struct {
	message    string
	validator  string
	schemaPath []any    // relative_schema_path without the validator
	path       []any    // the instance path: strings and ints
	schema     *oschema // the schema that failed
	instance   any
}

// validate returns the error Glance answers for inst, or nil.
func (s *metadefSchema) validate(inst any) error {
	var errs []violation
	v := validator{root: s.root, errs: &errs}
	v.check(inst, s.root, nil, nil)
	if len(errs) == 0 {
		return nil
	}
	best := &errs[0]
	for i := 1; i < len(errs); i++ {
		if relevanceLess(best, &errs[i]) {
			best = &errs[i]
		}
	}
	return badRequest("Provided object does not match schema '" + s.name + "': " + best.report())
}

// relevanceLess is jsonschema's relevance key compared: a shorter instance
// path, then an error whose instance does not match its schema's type, is
// more relevant; max keeps the first of equals.
func relevanceLess(a, b *violation) bool {
	if len(a.path) != len(b.path) {
		return len(b.path) < len(a.path)
	}
	return a.matchesType() && !b.matchesType()
}

func (e *violation) matchesType() bool {
	t, ok := e.schema.get("type")
	if !ok {
		return false
	}
	switch x := t.(type) {
	case string:
		return isType(e.instance, x)
	case []any:
		for _, each := range x {
			if s, ok := each.(string); ok && isType(e.instance, s) {
				return true
			}
		}
	}
	return false
}

func (e *violation) report() string {
	var b strings.Builder
	b.WriteString(e.message)
	b.WriteString("\n\nFailed validating ")
	b.WriteString(pyRepr(e.validator))
	b.WriteString(" in schema")
	for _, p := range e.schemaPath {
		if n, ok := p.(int); ok {
			b.WriteString("[" + strconv.Itoa(n) + "]")
		} else {
			b.WriteString("[" + pyRepr(p) + "]")
		}
	}
	b.WriteString(":\n    ")
	b.WriteString(strings.ReplaceAll(pformat(plainOf(e.schema)), "\n", "\n    "))
	b.WriteString("\n\nOn instance")
	for _, p := range e.path {
		if n, ok := p.(int); ok {
			b.WriteString("[" + strconv.Itoa(n) + "]")
		} else {
			b.WriteString("[" + pyRepr(p) + "]")
		}
	}
	b.WriteString(":\n    ")
	b.WriteString(strings.ReplaceAll(pformat(e.instance), "\n", "\n    "))
	return b.String()
}

type validator struct {
	root *oschema
	errs *[]violation
}

func appendPath[T any](p []T, e T) []T {
	out := make([]T, len(p), len(p)+1)
	copy(out, p)
	return append(out, e)
}

func (v *validator) fail(inst any, s *oschema, spath []any, ipath []any, kw, msg string) {
	*v.errs = append(*v.errs, violation{message: msg, validator: kw, schemaPath: spath, path: ipath, schema: s, instance: inst})
}

// resolve follows a local $ref ("#/definitions/x").
func (v *validator) resolve(ref string) *oschema {
	if !strings.HasPrefix(ref, "#/") {
		return nil
	}
	var cur any = v.root
	for _, p := range strings.Split(ref[2:], "/") {
		o, ok := cur.(*oschema)
		if !ok {
			return nil
		}
		cur = o.m[p]
	}
	o, _ := cur.(*oschema)
	return o
}

func (v *validator) check(inst any, s *oschema, spath []any, ipath []any) {
	for _, kw := range s.keys {
		val := s.m[kw]
		switch kw {
		case "$ref":
			// jsonschema descends with no schema path of its own.
			if ref, ok := val.(string); ok {
				if target := v.resolve(ref); target != nil {
					v.check(inst, target, spath, ipath)
				}
			}
		case "allOf":
			list, _ := val.([]any)
			for i, sub := range list {
				if o, ok := sub.(*oschema); ok {
					v.check(inst, o, appendPath(appendPath(spath, any("allOf")), any(i)), ipath)
				}
			}
		case "type":
			t, _ := val.(string)
			if !isType(inst, t) {
				v.fail(inst, s, spath, ipath, kw, pyRepr(inst)+" is not of type "+pyRepr(t))
			}
		case "enum":
			list, _ := val.([]any)
			found := false
			for _, e := range list {
				if pyEqual(inst, e) {
					found = true
					break
				}
			}
			if !found {
				v.fail(inst, s, spath, ipath, kw, pyRepr(inst)+" is not one of "+pyRepr(list))
			}
		case "maxLength":
			if str, ok := inst.(string); ok {
				if n, ok := intOf(val); ok && utf8.RuneCountInString(str) > n {
					v.fail(inst, s, spath, ipath, kw, pyRepr(inst)+" is too long")
				}
			}
		case "minimum":
			if isType(inst, "number") {
				x, _ := strconv.ParseFloat(inst.(json.Number).String(), 64)
				m, _ := strconv.ParseFloat(val.(json.Number).String(), 64)
				if x < m {
					v.fail(inst, s, spath, ipath, kw, pyRepr(inst)+" is less than the minimum of "+pyRepr(val))
				}
			}
		case "minItems":
			if arr, ok := inst.([]any); ok {
				if n, ok := intOf(val); ok && len(arr) < n {
					v.fail(inst, s, spath, ipath, kw, pyRepr(inst)+" is too short")
				}
			}
		case "uniqueItems":
			if arr, ok := inst.([]any); ok && val == true && !unique(arr) {
				v.fail(inst, s, spath, ipath, kw, pyRepr(inst)+" has non-unique elements")
			}
		case "required":
			obj, ok := inst.(map[string]any)
			list, _ := val.([]any)
			if ok {
				for _, r := range list {
					name, _ := r.(string)
					if _, has := obj[name]; !has {
						v.fail(inst, s, spath, ipath, kw, pyRepr(name)+" is a required property")
					}
				}
			}
		case "properties":
			obj, ok := inst.(map[string]any)
			props, _ := val.(*oschema)
			if ok && props != nil {
				for _, name := range props.keys {
					if x, has := obj[name]; has {
						if sub, ok := props.m[name].(*oschema); ok {
							v.check(x, sub, appendPath(appendPath(spath, any("properties")), any(name)), appendPath(ipath, any(name)))
						}
					}
				}
			}
		case "additionalProperties":
			obj, ok := inst.(map[string]any)
			if !ok {
				continue
			}
			props, _ := s.m["properties"].(*oschema)
			var extras []string
			for _, k := range sortedKeys(obj) {
				if props == nil || !hasKey(props, k) {
					extras = append(extras, k)
				}
			}
			switch ap := val.(type) {
			case *oschema:
				for _, k := range extras {
					v.check(obj[k], ap, appendPath(spath, any("additionalProperties")), appendPath(ipath, any(k)))
				}
			case bool:
				if !ap && len(extras) > 0 {
					verb := "was"
					if len(extras) > 1 {
						verb = "were"
					}
					reprs := make([]string, len(extras))
					for i, e := range extras {
						reprs[i] = pyRepr(e)
					}
					v.fail(inst, s, spath, ipath, kw, "Additional properties are not allowed ("+strings.Join(reprs, ", ")+" "+verb+" unexpected)")
				}
			}
		case "items":
			arr, ok := inst.([]any)
			sub, isSchema := val.(*oschema)
			if ok && isSchema {
				for i, x := range arr {
					v.check(x, sub, appendPath(spath, any("items")), appendPath(ipath, any(i)))
				}
			}
		}
	}
}

func hasKey(o *oschema, k string) bool {
	_, ok := o.m[k]
	return ok
}

func sortedKeys(m map[string]any) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	// Python sorts the extras it reports; the order of the others is the
	// instance's, which a decoded map does not keep: sorted is as good.
	sort.Strings(keys)
	return keys
}

func intOf(v any) (int, bool) {
	n, ok := v.(json.Number)
	if !ok {
		return 0, false
	}
	i, err := strconv.Atoi(n.String())
	return i, err == nil
}

// isType is jsonschema's Draft 2020-12 type checker over decoded JSON: a
// boolean is no number, and an integral float is an integer.
func isType(v any, t string) bool {
	switch t {
	case "object":
		_, ok := v.(map[string]any)
		return ok
	case "array":
		_, ok := v.([]any)
		return ok
	case "string":
		_, ok := v.(string)
		return ok
	case "boolean":
		_, ok := v.(bool)
		return ok
	case "null":
		return v == nil
	case "number":
		_, ok := v.(json.Number)
		return ok
	case "integer":
		n, ok := v.(json.Number)
		if !ok {
			return false
		}
		f, err := strconv.ParseFloat(n.String(), 64)
		return err == nil && f == math.Trunc(f) && !math.IsInf(f, 0)
	}
	return false
}

// pyEqual is Python's == over decoded JSON, with jsonschema's unbool: a
// boolean equals only a boolean.
func pyEqual(a, b any) bool {
	switch x := a.(type) {
	case nil:
		return b == nil
	case bool:
		y, ok := b.(bool)
		return ok && x == y
	case string:
		y, ok := b.(string)
		return ok && x == y
	case json.Number:
		y, ok := b.(json.Number)
		if !ok {
			return false
		}
		fx, err1 := strconv.ParseFloat(x.String(), 64)
		fy, err2 := strconv.ParseFloat(y.String(), 64)
		return err1 == nil && err2 == nil && fx == fy
	case []any:
		y, ok := b.([]any)
		if !ok || len(x) != len(y) {
			return false
		}
		for i := range x {
			if !pyEqual(x[i], y[i]) {
				return false
			}
		}
		return true
	case map[string]any:
		y, ok := b.(map[string]any)
		if !ok || len(x) != len(y) {
			return false
		}
		for k, e := range x {
			f, has := y[k]
			if !has || !pyEqual(e, f) {
				return false
			}
		}
		return true
	}
	return false
}

func unique(arr []any) bool {
	for i := range arr {
		for j := i + 1; j < len(arr); j++ {
			if pyEqual(arr[i], arr[j]) {
				return false
			}
		}
	}
	return true
}
