package gateway

import (
	"encoding/json"
	"regexp"
	"strings"

	"github.com/spyglass-gateway/spyglass/backends"
)

// PatchContentTypes are the media types PATCH /v2/images/{id} accepts, in
// the order Glance lists them in Accept-Patch.
var PatchContentTypes = []string{
	"application/openstack-images-v2.0-json-patch",
	"application/openstack-images-v2.1-json-patch",
}

var patchOps = []string{"add", "remove", "replace"}

var (
	patchAdjacent = regexp.MustCompile(`/\s*?/`)
	patchBadTilde = regexp.MustCompile(`~[^01]`)
)

// ParsePatch parses a PATCH /v2/images/{id} body as Glance's
// RequestDeserializer.update: the media type decides the dialect (v2.1 is
// RFC 6902's {"op", "path", "value"}; the deprecated v2.0 is {"replace":
// "/path", "value"}), pointers are validated and decoded, read-only and
// reserved attributes are refused (403), values are checked against the
// image schema (400). Another media type is ErrUnsupportedMedia (415; the
// gateway adds Accept-Patch).
func ParsePatch(contentType string, body []byte) ([]backends.Change, error) {
	if i := strings.IndexByte(contentType, ';'); i >= 0 {
		contentType = contentType[:i]
	}
	contentType = strings.ToLower(strings.TrimSpace(contentType))
	legacy := false
	switch contentType {
	case "application/openstack-images-v2.1-json-patch":
	case "application/openstack-images-v2.0-json-patch":
		legacy = true
	default:
		return nil, &backends.Error{Kind: backends.ErrUnsupportedMedia, Explanation: "The request media type " + contentType + " is not supported by this server."}
	}
	v, err := decodeJSON(body)
	if err != nil {
		return nil, err
	}
	list, ok := v.([]any)
	if !ok {
		return nil, backends.Errorf(backends.ErrBadRequest, "Request body must be a JSON array of operation objects.")
	}
	changes := make([]backends.Change, 0, len(list))
	for _, raw := range list {
		obj, ok := raw.(map[string]any)
		if !ok {
			return nil, backends.Errorf(backends.ErrBadRequest, "Operations must be JSON objects.")
		}
		var op, pointer string
		if legacy {
			for _, k := range patchOps {
				if _, ok := obj[k]; ok {
					if op != "" {
						return nil, backends.Errorf(backends.ErrBadRequest, `Operation objects must contain only one member named "add", "remove", or "replace".`)
					}
					op = k
				}
			}
			if op == "" {
				return nil, backends.Errorf(backends.ErrBadRequest, `Operation objects must contain exactly one member named "add", "remove", or "replace".`)
			}
			p, ok := obj[op].(string)
			if !ok {
				return nil, backends.Errorf(backends.ErrBadRequest, "Malformed JSON in request body.")
			}
			pointer = p
		} else {
			rawOp, ok := obj["op"]
			if !ok || rawOp == nil {
				return nil, backends.Errorf(backends.ErrBadRequest, "Unable to find `op` in JSON Schema change. It must be one of the following: add, remove, replace.")
			}
			op, _ = rawOp.(string)
			if op != "add" && op != "remove" && op != "replace" {
				return nil, backends.Errorf(backends.ErrBadRequest, "Invalid operation: `"+pyStr(rawOp)+"`. It must be one of the following: add, remove, replace.")
			}
			rawPath, ok := obj["path"]
			if !ok {
				return nil, backends.Errorf(backends.ErrBadRequest, "Unable to find 'path' in JSON Schema change")
			}
			p, ok := rawPath.(string)
			if !ok {
				return nil, backends.Errorf(backends.ErrBadRequest, "Malformed JSON in request body.")
			}
			pointer = p
		}
		path, err := decodePointer(pointer)
		if err != nil {
			return nil, err
		}
		// Only /locations/N goes two deep (add/remove); everything else is
		// one segment.
		depth := 1
		if path[0] == "locations" && (op == "add" || op == "remove") {
			depth = 2
		}
		if len(path) != depth {
			return nil, backends.Errorf(backends.ErrBadRequest, "Invalid JSON pointer for this resource: '/"+strings.Join(path, "/")+"'")
		}
		ch := backends.Change{Path: path, Legacy: legacy}
		switch op {
		case "add":
			ch.Op = backends.PatchAdd
		case "remove":
			ch.Op = backends.PatchRemove
		case "replace":
			ch.Op = backends.PatchReplace
		}
		var value any
		if op != "remove" {
			val, ok := obj["value"]
			if !ok {
				return nil, backends.Errorf(backends.ErrBadRequest, `Operation "`+op+`" requires a member named "value".`)
			}
			value = val
			ch.Value, _ = json.Marshal(val)
		}
		root := path[0]
		// Read-only and reserved attributes are refused before the image
		// is looked up; the rest of the one check (backends.CheckChange)
		// needs the image and the caller.
		if err := backends.CheckAttribute(root); err != nil {
			return nil, err
		}
		if op != "remove" {
			if len(path) == 1 {
				if err := validateImageAttr(root, value); err != nil {
					return nil, err
				}
				if l, ok := value.([]any); ok && root == "locations" {
					if err := validateLocations(l); err != nil {
						return nil, err
					}
				}
			} else if root == "locations" {
				if err := validateLocations([]any{value}); err != nil {
					return nil, err
				}
			}
		}
		changes = append(changes, ch)
	}
	return changes, nil
}

func pyStr(v any) string {
	if s, ok := v.(string); ok {
		return s
	}
	return pyRepr(v)
}

// decodePointer is _decode_json_pointer with _validate_json_pointer.
func decodePointer(p string) ([]string, error) {
	bad := func(msg string) ([]string, error) {
		return nil, backends.Errorf(backends.ErrBadRequest, "Pointer `"+p+"` "+msg)
	}
	if !strings.HasPrefix(p, "/") {
		return bad(`does not start with "/".`)
	}
	if patchAdjacent.MatchString(p[1:]) {
		return bad(`contains adjacent "/".`)
	}
	if len(p) > 1 && strings.HasSuffix(p, "/") {
		return bad(`end with "/".`)
	}
	if strings.TrimSpace(p[1:]) == "/" {
		return bad("does not contains valid token.")
	}
	if patchBadTilde.MatchString(p) || strings.HasSuffix(p, "~") {
		return bad(`contains "~" not part of a recognized escape sequence.`)
	}
	parts := strings.Split(strings.TrimLeft(p, "/"), "/")
	for i, part := range parts {
		parts[i] = strings.TrimSpace(strings.ReplaceAll(strings.ReplaceAll(part, "~1", "/"), "~0", "~"))
	}
	return parts, nil
}
