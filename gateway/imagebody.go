package gateway

import (
	"bytes"
	"encoding/json"
	"fmt"
	"regexp"
	"sort"
	"strconv"
	"strings"

	"github.com/spyglass-gateway/spyglass/backends"
)

// The image schema checks below are Glance 25's image schema
// (gateway/schemas/data/image.json) as jsonschema applies it: types, enums,
// maxLength, the id pattern, string-valued additional properties. Messages
// carry jsonschema's first line; Glance appends a dump of the schema, which
// Spyglass does not reproduce.

var uuidPattern = regexp.MustCompile(`^([0-9a-fA-F]){8}-([0-9a-fA-F]){4}-([0-9a-fA-F]){4}-([0-9a-fA-F]){4}-([0-9a-fA-F]){12}$`)

var (
	containerFormats = []string{"ami", "ari", "aki", "bare", "ovf", "ova", "docker", "compressed"}
	diskFormats      = []string{"ami", "ari", "aki", "vhd", "vhdx", "vmdk", "raw", "qcow2", "vdi", "iso", "ploop"}
	visibilities     = []string{"community", "public", "private", "shared"}
)

// createDisallowed are refused on create before the schema is checked
// (RequestDeserializer _disallowed_properties), in Glance's order, from the
// attribute table.
var createDisallowed = func() []string {
	var names []string
	for _, a := range backends.Attributes() {
		if a.Create == backends.CreateDisallowed {
			names = append(names, a.Name)
		}
	}
	return names
}()

const reservedNamespace = "os_glance"

func schemaError(detail string) error {
	return backends.Errorf(backends.ErrBadRequest, "Provided object does not match schema 'image': "+detail)
}

// pyRepr renders a decoded JSON value the way Python's repr shows it in
// jsonschema messages.
func pyRepr(v any) string {
	switch x := v.(type) {
	case nil:
		return "None"
	case bool:
		if x {
			return "True"
		}
		return "False"
	case string:
		return pyStrRepr(x)
	case json.Number:
		return x.String()
	case []any:
		parts := make([]string, len(x))
		for i, e := range x {
			parts[i] = pyRepr(e)
		}
		return "[" + strings.Join(parts, ", ") + "]"
	case map[string]any:
		keys := make([]string, 0, len(x))
		for k := range x {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		parts := make([]string, len(keys))
		for i, k := range keys {
			parts[i] = pyRepr(k) + ": " + pyRepr(x[k])
		}
		return "{" + strings.Join(parts, ", ") + "}"
	}
	return fmt.Sprint(v)
}

func enumRepr(nullable bool, values []string) string {
	parts := make([]string, 0, len(values)+1)
	if nullable {
		parts = append(parts, "None")
	}
	for _, v := range values {
		parts = append(parts, "'"+v+"'")
	}
	return "[" + strings.Join(parts, ", ") + "]"
}

func isInteger(v any) bool {
	n, ok := v.(json.Number)
	if !ok {
		return false
	}
	_, err := strconv.ParseInt(n.String(), 10, 64)
	return err == nil
}

// validateImageAttr checks one top-level key of an image document against
// the image schema, with jsonschema's full report on failure. Its switch is
// the schema document's (image.json), not the attribute table's: enums,
// maxLength, the id pattern, jsonschema's spelling of types and the schema
// paths of its reports belong to the schema, which has keys the table has
// not (locations). TestAttributeClassesGateway checks that every attribute
// of the table has its case here.
func validateImageAttr(key string, v any) error {
	prop := []string{"properties", key}
	fail := func(msg, validator string) error {
		return schemaViolation(msg, validator, append(prop, validator), []any{key}, v)
	}
	str := func(nullable bool, maxLen int) error {
		if v == nil && nullable {
			return nil
		}
		s, ok := v.(string)
		if !ok {
			if nullable {
				return fail(pyRepr(v)+" is not of type 'null', 'string'", "type")
			}
			return fail(pyRepr(v)+" is not of type 'string'", "type")
		}
		if maxLen > 0 && len([]rune(s)) > maxLen {
			return fail(pyRepr(v)+" is too long", "maxLength")
		}
		return nil
	}
	enum := func(nullable bool, values []string) error {
		if v == nil && nullable {
			return nil
		}
		if s, ok := v.(string); ok {
			for _, e := range values {
				if s == e {
					return nil
				}
			}
		}
		return fail(pyRepr(v)+" is not one of "+enumRepr(nullable, values), "enum")
	}
	switch key {
	case "id":
		if err := str(false, 0); err != nil {
			return err
		}
		if !uuidPattern.MatchString(v.(string)) {
			return fail(pyRepr(v)+" does not match "+pyStrRepr(uuidPattern.String()), "pattern")
		}
	case "name", "owner":
		return str(true, 255)
	case "visibility":
		return enum(false, visibilities)
	case "container_format":
		return enum(true, containerFormats)
	case "disk_format":
		return enum(true, diskFormats)
	case "protected", "os_hidden":
		if _, ok := v.(bool); !ok {
			return fail(pyRepr(v)+" is not of type 'boolean'", "type")
		}
	case "min_ram", "min_disk":
		if !isInteger(v) {
			return fail(pyRepr(v)+" is not of type 'integer'", "type")
		}
		n, _ := v.(json.Number).Int64()
		if n < 0 {
			return badRequest("Invalid value '" + n2s(n) + "' for parameter '" + key + "': Cannot be a negative value")
		}
		if n > 2147483647 {
			return badRequest("'" + key + "' value out of range, must not exceed 2147483647.")
		}
	case "tags":
		list, ok := v.([]any)
		if !ok {
			return fail(pyRepr(v)+" is not of type 'array'", "type")
		}
		items := []string{"properties", "tags", "items"}
		for i, t := range list {
			s, ok := t.(string)
			if !ok {
				return schemaViolation(pyRepr(t)+" is not of type 'string'", "type", append(items, "type"), []any{"tags", i}, t)
			}
			if len([]rune(s)) > 255 {
				return schemaViolation(pyRepr(t)+" is too long", "maxLength", append(items, "maxLength"), []any{"tags", i}, t)
			}
		}
	case "checksum":
		return str(true, 32)
	case "os_hash_algo":
		return str(true, 64)
	case "os_hash_value":
		return str(true, 128)
	case "size", "virtual_size":
		if v != nil && !isInteger(v) {
			return fail(pyRepr(v)+" is not of type 'null', 'integer'", "type")
		}
	case "status":
		return enum(false, []string{"queued", "saving", "active", "killed", "deleted", "uploading", "importing", "pending_delete", "deactivated"})
	case "created_at", "updated_at", "direct_url", "self", "file", "stores", "schema":
		return str(false, 0)
	case "locations":
		if _, ok := v.([]any); !ok {
			return fail(pyRepr(v)+" is not of type 'array'", "type")
		}
	default:
		if _, ok := v.(string); !ok {
			return schemaViolation(pyRepr(v)+" is not of type 'string'", "type", []string{"additionalProperties", "type"}, []any{key}, v)
		}
	}
	return nil
}

// decodeJSON decodes a request body as Glance's JSONRequestDeserializer:
// no body → 400 "Body expected in request."; bad JSON, or text Glance
// cannot decode or store (validJSONText) → 400 "Malformed JSON in request
// body.".
func decodeJSON(body []byte) (any, error) {
	if len(bytes.TrimSpace(body)) == 0 {
		return nil, backends.Errorf(backends.ErrBadRequest, "Body expected in request.")
	}
	if !validJSONText(body) {
		return nil, errMalformedJSON
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, backends.Errorf(backends.ErrBadRequest, "Malformed JSON in request body.")
	}
	// Only white space may follow the document (json.Decoder.More
	// misses a stray ']' or '}'; Python's json.loads calls it extra data).
	if len(bytes.TrimSpace(body[dec.InputOffset():])) > 0 {
		return nil, backends.Errorf(backends.ErrBadRequest, "Malformed JSON in request body.")
	}
	return v, nil
}

// ParseCreateImage parses and validates a POST /v2/images body. The image
// it returns holds only what the client gave: ID "" and Visibility "" when
// absent, Owner nil when absent; the gateway fills the defaults.
func ParseCreateImage(body []byte) (*backends.Image, error) {
	v, err := decodeJSON(body)
	if err != nil {
		return nil, err
	}
	obj, ok := v.(map[string]any)
	if !ok {
		if _, isList := v.([]any); isList {
			// Glance fails with a 500 here (AttributeError); Spyglass
			// answers the schema's complaint instead.
			return nil, schemaError(pyRepr(v) + " is not of type 'object'")
		}
		return nil, badRequest("Unexpected body type. Expected list/dict.")
	}
	for _, k := range createDisallowed {
		if _, ok := obj[k]; ok {
			return nil, errStatus(403, "Attribute '"+k+"' is read-only.")
		}
	}
	keys := make([]string, 0, len(obj))
	for k := range obj {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		if err := validateImageAttr(k, obj[k]); err != nil {
			return nil, err
		}
	}
	img := &backends.Image{}
	for _, k := range keys {
		val := obj[k]
		if k == "locations" {
			// Not in the table: locations has rules of its own.
			return nil, errStatus(403, "Attribute 'locations' is reserved.")
		}
		a := backends.LookupAttribute(k)
		if a == nil {
			if len([]rune(k)) > 255 {
				return nil, backends.Errorf(backends.ErrBadRequest, "Custom property should not be greater than 255 characters.")
			}
			if strings.HasPrefix(k, reservedNamespace) {
				return nil, errDetail(403, "Attribute '"+k+"' is reserved.")
			}
			if img.Properties == nil {
				img.Properties = map[string]string{}
			}
			img.Properties[k] = val.(string)
			continue
		}
		switch a.Create {
		case backends.CreateIgnored:
			// Glance 25's image factory ignores these on create.
			continue
		case backends.CreateReadOnly, backends.CreateDisallowed:
			return nil, errStatus(403, "Attribute '"+k+"' is read-only.")
		case backends.CreateReserved:
			return nil, errDetail(403, "Attribute '"+k+"' is reserved.")
		}
		// CreateSet. The record's fields are set by name: the table's
		// accessors read a nullable field's pointer, they cannot set it.
		switch k {
		case "id":
			img.ID = val.(string)
		case "name":
			img.Name = strPtr(val)
		case "owner":
			img.Owner = strPtr(val)
		case "visibility":
			img.Visibility = val.(string)
		case "container_format":
			img.ContainerFormat = strPtr(val)
		case "disk_format":
			img.DiskFormat = strPtr(val)
		case "protected":
			img.Protected = val.(bool)
		case "os_hidden":
			img.OSHidden = val.(bool)
		case "min_ram":
			img.MinRAM, _ = val.(json.Number).Int64()
		case "min_disk":
			img.MinDisk, _ = val.(json.Number).Int64()
		case "tags":
			seen := map[string]bool{}
			for _, t := range val.([]any) {
				if s := t.(string); !seen[s] {
					seen[s] = true
					img.Tags = append(img.Tags, s)
				}
			}
		default:
			// A new CreateSet attribute without its line here: refuse
			// it rather than drop it (TestAttributeClassesGateway catches it).
			return nil, errStatus(500, "Attribute '"+k+"' cannot be set on create by Spyglass.")
		}
	}
	return img, nil
}

func strPtr(v any) *string {
	if v == nil {
		return nil
	}
	s := v.(string)
	return &s
}

func n2s(n int64) string { return strconv.FormatInt(n, 10) }
