package gateway

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/spyglass-gateway/spyglass/backends"
)

// The metadef request bodies, parsed as Glance's deserializers do: the
// read-only keys refused (403), the schema checked (400 with jsonschema's
// report), then the WSME model built (glance/api/v2/model/metadef_*.py),
// which keeps the attributes it knows. Where Glance answers 500 (an
// attribute WSME does not know inside a property or an object, a value of
// the wrong type for WSME), Spyglass answers 400.

// checkReadOnly is the deserializers' _check_allowed: `key in body`, which
// Python also answers for a list (an element) and a string (a substring).
func checkReadOnly(v any, keys ...string) error {
	for _, k := range keys {
		in := false
		switch x := v.(type) {
		case map[string]any:
			_, in = x[k]
		case []any:
			for _, e := range x {
				if s, ok := e.(string); ok && s == k {
					in = true
				}
			}
		case string:
			in = strings.Contains(x, k)
		}
		if in {
			return errStatus(403, "Attribute '"+k+"' is read-only.")
		}
	}
	return nil
}

// decodeMetadef decodes and validates a body against schema s.
func decodeMetadef(body []byte, s *metadefSchema, readOnly ...string) (map[string]any, error) {
	v, err := decodeJSON(body)
	if err != nil {
		return nil, err
	}
	switch v.(type) {
	case map[string]any, []any:
	default:
		return nil, badRequest("Unexpected body type. Expected list/dict.")
	}
	if err := checkReadOnly(v, readOnly...); err != nil {
		return nil, err
	}
	if err := s.validate(v); err != nil {
		return nil, err
	}
	obj, ok := v.(map[string]any)
	if !ok {
		return nil, badRequest("Provided object does not match schema '" + s.name + "': " + pyRepr(v) + " is not of type 'object'")
	}
	return obj, nil
}

func errWSME(field string, v any) error {
	return badRequest("Invalid input for field/attribute " + field + ". Value: '" + pyRepr(v) + "'.")
}

func optString(obj map[string]any, key string) (*string, error) {
	v, ok := obj[key]
	if !ok || v == nil {
		return nil, nil
	}
	s, ok := v.(string)
	if !ok {
		return nil, errWSME(key, v)
	}
	return &s, nil
}

func stringList(field string, v any) ([]string, error) {
	arr, ok := v.([]any)
	if !ok {
		return nil, errWSME(field, v)
	}
	out := make([]string, 0, len(arr))
	for _, e := range arr {
		s, ok := e.(string)
		if !ok {
			return nil, errWSME(field, v)
		}
		out = append(out, s)
	}
	return out, nil
}

// ParseNamespace parses POST /v2/metadefs/namespaces and PUT
// /v2/metadefs/namespaces/{ns} (which keeps only the namespace's own
// fields). Owner "" and Visibility "" when absent: the gateway fills them.
func ParseNamespace(body []byte) (*backends.MetadefNamespaceContent, error) {
	obj, err := decodeMetadef(body, nsSchema, "self", "schema", "created_at", "updated_at")
	if err != nil {
		return nil, err
	}
	c := &backends.MetadefNamespaceContent{}
	c.Namespace, _ = obj["namespace"].(string)
	if c.DisplayName, err = optString(obj, "display_name"); err != nil {
		return nil, err
	}
	if c.Description, err = optString(obj, "description"); err != nil {
		return nil, err
	}
	c.Visibility, _ = obj["visibility"].(string)
	c.Protected, _ = obj["protected"].(bool)
	c.Owner, _ = obj["owner"].(string)
	if raw, ok := obj["resource_type_associations"].([]any); ok {
		for _, e := range raw {
			m, _ := e.(map[string]any)
			a, err := associationOf(m)
			if err != nil {
				return nil, err
			}
			c.Associations = append(c.Associations, a)
		}
	}
	if raw, ok := obj["properties"].(map[string]any); ok {
		for _, name := range sortedKeys(raw) {
			schema, err := normalizeProperty(name, raw[name])
			if err != nil {
				return nil, err
			}
			c.Properties = append(c.Properties, &backends.MetadefProperty{Name: name, Schema: schema})
		}
	}
	if raw, ok := obj["objects"].([]any); ok {
		for _, e := range raw {
			m, _ := e.(map[string]any)
			o, err := objectOf(m, "objects")
			if err != nil {
				return nil, err
			}
			c.Objects = append(c.Objects, o)
		}
	}
	if raw, ok := obj["tags"].([]any); ok {
		for _, e := range raw {
			m, _ := e.(map[string]any)
			for k := range m {
				if k != "name" {
					return nil, errWSME("tags", e)
				}
			}
			name, ok := m["name"].(string)
			if !ok {
				return nil, errWSME("tags", e)
			}
			c.Tags = append(c.Tags, &backends.MetadefTag{Name: name})
		}
	}
	return c, nil
}

func associationOf(m map[string]any) (*backends.MetadefAssociation, error) {
	a := &backends.MetadefAssociation{}
	for k := range m {
		switch k {
		case "name", "prefix", "properties_target":
		default:
			return nil, errWSME("resource_type_associations", m)
		}
	}
	name, ok := m["name"].(string)
	if !ok {
		return nil, errWSME("resource_type_associations", m)
	}
	a.Name = name
	var err error
	if a.Prefix, err = optString(m, "prefix"); err != nil {
		return nil, err
	}
	if a.PropertiesTarget, err = optString(m, "properties_target"); err != nil {
		return nil, err
	}
	return a, nil
}

// objectOf is the WSME MetadefObject of a validated object.
func objectOf(m map[string]any, field string) (*backends.MetadefObject, error) {
	o := &backends.MetadefObject{}
	for k := range m {
		switch k {
		case "name", "description", "required", "properties", "self", "schema", "created_at", "updated_at":
		default:
			return nil, errWSME(field, m)
		}
	}
	name, ok := m["name"].(string)
	if !ok {
		return nil, errWSME(field, m)
	}
	o.Name = name
	var err error
	if o.Description, err = optString(m, "description"); err != nil {
		return nil, err
	}
	if r, ok := m["required"]; ok && r != nil {
		if o.Required, err = stringList("required", r); err != nil {
			return nil, err
		}
	}
	if raw, ok := m["properties"].(map[string]any); ok {
		b := []byte{'{'}
		for i, name := range sortedKeys(raw) {
			schema, err := normalizeProperty(name, raw[name])
			if err != nil {
				return nil, err
			}
			if i > 0 {
				b = append(b, ", "...)
			}
			b = appendJSONString(b, name)
			b = append(b, ": "...)
			b = append(b, schema...)
		}
		o.Properties = append(b, '}')
	}
	return o, nil
}

// ParseMetadefObject parses POST and PUT .../objects[/{name}]. A create
// also checks each property against the property schema (Glance does so
// on create only).
func ParseMetadefObject(body []byte, create bool) (*backends.MetadefObject, error) {
	obj, err := decodeMetadef(body, objSchema, "self", "schema", "created_at", "updated_at")
	if err != nil {
		return nil, err
	}
	if create {
		if props, ok := obj["properties"].(map[string]any); ok {
			for _, name := range sortedKeys(props) {
				if err := objPropSchema.validate(props[name]); err != nil {
					return nil, err
				}
			}
		}
	}
	return objectOf(obj, "object")
}

// ParseMetadefProperty parses POST and PUT .../properties[/{name}].
func ParseMetadefProperty(body []byte) (*backends.MetadefProperty, error) {
	obj, err := decodeMetadef(body, propSchema, "created_at", "updated_at")
	if err != nil {
		return nil, err
	}
	name, _ := obj["name"].(string)
	rest := make(map[string]any, len(obj))
	for k, v := range obj {
		if k != "name" {
			rest[k] = v
		}
	}
	schema, err := normalizeProperty(name, rest)
	if err != nil {
		return nil, err
	}
	return &backends.MetadefProperty{Name: name, Schema: schema}, nil
}

// ParseMetadefTag parses PUT .../tags/{name}: {"name": "..."}.
func ParseMetadefTag(body []byte) (string, error) {
	obj, err := decodeMetadef(body, tagSchema, "created_at", "updated_at")
	if err != nil {
		return "", err
	}
	name, ok := obj["name"].(string)
	if !ok {
		return "", errWSME("name", obj["name"])
	}
	return name, nil
}

// ValidateTagName is POST .../tags/{name}'s check of the name in the path.
func ValidateTagName(name string) error {
	return tagSchema.validate(map[string]any{"name": name})
}

// ParseMetadefTags parses POST .../tags: {"tags": [{"name": "..."}, ...]}.
func ParseMetadefTags(body []byte) ([]string, error) {
	obj, err := decodeMetadef(body, tagsSchema, "created_at", "updated_at")
	if err != nil {
		return nil, err
	}
	list, _ := obj["tags"].([]any)
	names := make([]string, 0, len(list))
	for _, e := range list {
		m, _ := e.(map[string]any)
		name, ok := m["name"].(string)
		if !ok {
			return nil, errWSME("tags", e)
		}
		names = append(names, name)
	}
	return names, nil
}

// ParseResourceTypeAssociation parses POST .../resource_types.
func ParseResourceTypeAssociation(body []byte) (*backends.MetadefAssociation, error) {
	obj, err := decodeMetadef(body, rtaSchema, "created_at", "updated_at")
	if err != nil {
		return nil, err
	}
	return associationOf(obj)
}

// normalizeProperty is the WSME PropertyType of a property's JSON, as
// Glance stores it (json.tojson: the attributes set, in the model's
// order, values converted to the attributes' types), without the name.
func normalizeProperty(name string, v any) (json.RawMessage, error) {
	m, ok := v.(map[string]any)
	if !ok {
		return nil, errWSME("properties", v)
	}
	field := "properties"
	for k := range m {
		if !propertyFields[k] {
			return nil, errWSME(field, v)
		}
	}
	b := []byte{'{'}
	n := 0
	add := func(k string, val []byte) {
		if n > 0 {
			b = append(b, ", "...)
		}
		b = appendJSONString(b, k)
		b = append(b, ": "...)
		b = append(b, val...)
		n++
	}
	for _, k := range propertyOrder {
		raw, ok := m[k]
		if !ok || raw == nil {
			continue
		}
		var val []byte
		var err error
		switch k {
		case "type", "title", "description", "pattern":
			s, ok := raw.(string)
			if !ok {
				return nil, errWSME(k, raw)
			}
			val = appendJSONString(nil, s)
		case "operators", "enum":
			list, ok := raw.([]any)
			if !ok {
				return nil, errWSME(k, raw)
			}
			val, err = json.Marshal(list)
		case "default":
			// types.bytes: text as given, a number as Python's str.
			switch x := raw.(type) {
			case string:
				val = appendJSONString(nil, x)
			case json.Number:
				val = appendJSONString(nil, pyNumberStr(x))
			default:
				return nil, errWSME(k, raw)
			}
		case "readonly", "confidential", "uniqueItems", "additionalItems":
			bv, ok := raw.(bool)
			if !ok {
				return nil, errWSME(k, raw)
			}
			val = strconv.AppendBool(nil, bv)
		case "minimum", "maximum", "minLength", "maxLength", "minItems", "maxItems":
			num, ok := raw.(json.Number)
			if !ok {
				return nil, errWSME(k, raw)
			}
			f, err := strconv.ParseFloat(num.String(), 64)
			if err != nil || f > 1<<62 || f < -(1<<62) {
				return nil, errWSME(k, raw)
			}
			val = strconv.AppendInt(nil, int64(f), 10) // Python's int(): towards zero
		case "items":
			im, ok := raw.(map[string]any)
			if !ok {
				return nil, errWSME(k, raw)
			}
			for ik := range im {
				if ik != "type" && ik != "enum" {
					return nil, errWSME(k, raw)
				}
			}
			ib := []byte{'{'}
			if t, ok := im["type"]; ok && t != nil {
				s, ok := t.(string)
				if !ok {
					return nil, errWSME(k, raw)
				}
				ib = append(ib, `"type": `...)
				ib = appendJSONString(ib, s)
			}
			if e, ok := im["enum"]; ok && e != nil {
				list, ok := e.([]any)
				if !ok {
					return nil, errWSME(k, raw)
				}
				eb, _ := json.Marshal(list)
				if len(ib) > 1 {
					ib = append(ib, ", "...)
				}
				ib = append(ib, `"enum": `...)
				ib = append(ib, eb...)
			}
			val = append(ib, '}')
		}
		if err != nil {
			return nil, errWSME(k, raw)
		}
		add(k, val)
	}
	return append(b, '}'), nil
}

// propertyOrder is PropertyType's attributes in the model's order (name
// is the property's key, not stored in its schema).
var propertyOrder = []string{"type", "title", "description", "operators", "default", "readonly",
	"minimum", "maximum", "enum", "pattern", "minLength", "maxLength", "confidential", "items",
	"uniqueItems", "minItems", "maxItems", "additionalItems"}

var propertyFields = func() map[string]bool {
	m := map[string]bool{"name": true}
	for _, k := range propertyOrder {
		m[k] = true
	}
	return m
}()

// pyNumberStr is Python's str() of a JSON number: an integer as written, a
// float in its shortest repr ("1.5", "100.0").
func pyNumberStr(n json.Number) string {
	s := n.String()
	if !strings.ContainsAny(s, ".eE") {
		return s
	}
	f, err := strconv.ParseFloat(s, 64)
	if err != nil {
		return s
	}
	out := strconv.FormatFloat(f, 'g', -1, 64)
	if !strings.ContainsAny(out, ".eEn") {
		out += ".0"
	}
	return out
}

// NamespaceDefinition reads one of Glance's metadata definition files
// (etc/metadefs/*.json) as glance-manage db_load_metadefs does: no schema
// check; owner "admin" unless it names one; an object's required list is
// not kept (the loader does not store it); properties become what the API
// shows of them (WSME's PropertyType).
func NamespaceDefinition(doc []byte) (*backends.MetadefNamespaceContent, error) {
	dec := json.NewDecoder(bytes.NewReader(doc))
	dec.UseNumber()
	var obj map[string]any
	if err := dec.Decode(&obj); err != nil {
		return nil, err
	}
	c := &backends.MetadefNamespaceContent{}
	var ok bool
	if c.Namespace, ok = obj["namespace"].(string); !ok || c.Namespace == "" {
		return nil, errors.New("no namespace")
	}
	str := func(k string) *string {
		if v, ok := obj[k].(string); ok {
			return &v
		}
		return nil
	}
	c.DisplayName, c.Description = str("display_name"), str("description")
	c.Visibility, _ = obj["visibility"].(string)
	if c.Visibility == "" {
		c.Visibility = "private" // Glance's NULL, shown as private
	}
	c.Protected, _ = obj["protected"].(bool)
	c.Owner = "admin"
	if o, ok := obj["owner"].(string); ok {
		c.Owner = o
	}
	list := func(k string) []map[string]any {
		arr, _ := obj[k].([]any)
		var out []map[string]any
		for _, e := range arr {
			if m, ok := e.(map[string]any); ok {
				out = append(out, m)
			}
		}
		return out
	}
	for _, m := range list("resource_type_associations") {
		a := &backends.MetadefAssociation{}
		if a.Name, ok = m["name"].(string); !ok {
			return nil, errors.New("a resource type association without name")
		}
		if v, ok := m["prefix"].(string); ok {
			a.Prefix = &v
		}
		if v, ok := m["properties_target"].(string); ok {
			a.PropertiesTarget = &v
		}
		c.Associations = append(c.Associations, a)
	}
	if props, ok := obj["properties"].(map[string]any); ok {
		for _, name := range sortedKeys(props) {
			schema, err := normalizeProperty(name, props[name])
			if err != nil {
				return nil, fmt.Errorf("property %s: %s", name, err)
			}
			c.Properties = append(c.Properties, &backends.MetadefProperty{Name: name, Schema: schema})
		}
	}
	for _, m := range list("objects") {
		delete(m, "required")
		o, err := objectOf(m, "objects")
		if err != nil {
			return nil, fmt.Errorf("object %v: %s", m["name"], err)
		}
		c.Objects = append(c.Objects, o)
	}
	for _, m := range list("tags") {
		if name, ok := m["name"].(string); ok {
			c.Tags = append(c.Tags, &backends.MetadefTag{Name: name})
		}
	}
	return c, nil
}
