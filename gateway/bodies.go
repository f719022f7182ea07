package gateway

import (
	"encoding/json"
	"strconv"
	"strings"

	"github.com/google/uuid"
	"github.com/valyala/fasthttp"

	"github.com/spyglass-gateway/spyglass/backends"
)

// ParseMemberCreate parses POST /v2/images/{id}/members: {"member": "..."}.
func ParseMemberCreate(body []byte) (string, error) {
	v, err := decodeJSON(body)
	if err != nil {
		return "", err
	}
	obj, ok := v.(map[string]any)
	if !ok {
		return "", badRequest(`Expected a member in the form: {"member": "image_id"}`)
	}
	raw, ok := obj["member"]
	if !ok {
		return "", badRequest("Member to be added not specified")
	}
	if raw == nil || raw == "" || raw == false {
		return "", badRequest("Member can't be empty")
	}
	s, ok := raw.(string)
	if n, isNum := raw.(json.Number); isNum {
		s, ok = n.String(), true // Glance stores a numeric member id as text
	}
	if !ok {
		return "", badRequest(`Expected a member in the form: {"member": "image_id"}`)
	}
	if len(s) > 255 {
		return "", badRequest("Provided object does not match schema 'member': " + pyRepr(s) + " is too long")
	}
	return s, nil
}

// ParseMemberUpdate parses PUT /v2/images/{id}/members/{member}:
// {"status": "accepted"}.
func ParseMemberUpdate(body []byte) (string, error) {
	v, err := decodeJSON(body)
	if err != nil {
		return "", err
	}
	obj, ok := v.(map[string]any)
	if !ok {
		return "", badRequest(`Expected a status in the form: {"status": "status"}`)
	}
	raw, ok := obj["status"]
	if !ok {
		return "", badRequest("Status not specified")
	}
	s, ok := raw.(string)
	if !ok {
		return "", badRequest(`Expected a status in the form: {"status": "status"}`)
	}
	switch s {
	case backends.MemberPending, backends.MemberAccepted, backends.MemberRejected:
		return s, nil
	}
	return "", badRequest(`Incorrect request: Status must be "pending", "accepted" or "rejected".`)
}

// ParseImport parses POST /v2/images/{id}/import (_validate_import_body).
// The method's availability is checked by the gateway.
func ParseImport(body []byte) (backends.ImportRequest, error) {
	var req backends.ImportRequest
	v, err := decodeJSON(body)
	if err != nil {
		return req, err
	}
	obj, ok := v.(map[string]any)
	if !ok {
		return req, badRequest("Import request requires a 'method' field.")
	}
	method, ok := obj["method"].(map[string]any)
	if !ok {
		return req, badRequest("Import request requires a 'method' field.")
	}
	name, ok := method["name"].(string)
	if !ok {
		return req, badRequest("Import request requires a 'name' field.")
	}
	req.Method = name
	req.AllStoresMustSucceed = true
	if raw, ok := obj["all_stores_must_succeed"]; ok {
		b, ok := raw.(bool)
		if !ok {
			return req, badRequest("'all_stores_must_succeed' must be boolean value only")
		}
		req.AllStoresMustSucceed = b
	}
	if raw, ok := obj["all_stores"]; ok {
		b, ok := raw.(bool)
		if !ok {
			return req, badRequest("'all_stores' must be boolean value only")
		}
		req.AllStores = b
	}
	if raw, ok := obj["stores"]; ok && raw != nil {
		list, ok := raw.([]any)
		if !ok {
			return req, badRequest("'stores' must be a list of store identifiers")
		}
		for _, s := range list {
			str, ok := s.(string)
			if !ok {
				return req, badRequest("'stores' must be a list of store identifiers")
			}
			req.Stores = append(req.Stores, str)
		}
	}
	if name == "web-download" {
		// The URI is filtered after the image's state is checked (gateway).
		req.URI, _ = method["uri"].(string)
	}
	return req, nil
}

// ParseGlanceDownload parses glance-download's parameters of an import
// body (method.glance_image_id, glance_region, glance_service_interface)
// as Glance's import_image checks them once the image may be imported:
// region and image id required, the id a UUID, the interface public when
// absent. The endpoint is left for the gateway to find.
func ParseGlanceDownload(body []byte) (backends.GlanceSource, error) {
	var src backends.GlanceSource
	v, err := decodeJSON(body)
	if err != nil {
		return src, err
	}
	obj, _ := v.(map[string]any)
	method, _ := obj["method"].(map[string]any)
	str := func(key string) (string, bool, error) {
		raw, ok := method[key]
		if !ok {
			return "", false, nil
		}
		s, isStr := raw.(string)
		if !isStr {
			return "", true, badRequest("'" + key + "' must be a string")
		}
		return s, true, nil
	}
	region, ok, err := str("glance_region")
	if err != nil {
		return src, err
	}
	if !ok {
		return src, badRequest("'glance_region' needs to be set for glance-download import method")
	}
	id, ok, err := str("glance_image_id")
	if err != nil {
		return src, err
	}
	if !ok {
		return src, badRequest("'glance_image_id' needs to be set for glance-download import method")
	}
	if _, err := uuid.Parse(id); err != nil {
		return src, badRequest("Remote image id does not look like a UUID: " + id)
	}
	iface, ok, err := str("glance_service_interface")
	if err != nil {
		return src, err
	}
	if !ok {
		iface = "public"
	}
	src.ImageID, src.Region, src.Interface = id, region, iface
	return src, nil
}

// ParseTaskCreate parses POST /v2/tasks: {"type": "import", "input": {...}}.
func ParseTaskCreate(body []byte) (string, json.RawMessage, error) {
	v, err := decodeJSON(body)
	if err != nil {
		return "", nil, err
	}
	obj, ok := v.(map[string]any)
	if !ok {
		return "", nil, badRequest("Provided object does not match schema 'task': " + pyRepr(v) + " is not of type 'object'")
	}
	for _, k := range []string{"type", "input"} {
		if _, ok := obj[k]; !ok {
			return "", nil, badRequest("Task '" + k + "' is required")
		}
	}
	typ, ok := obj["type"].(string)
	if !ok || typ != "import" {
		if _, isStr := obj["type"].(string); !isStr {
			return "", nil, badRequest("Provided object does not match schema 'task': " + violationReport(taskSchema,
				pyRepr(obj["type"])+" is not of type 'string'", "type", []string{"properties", "type", "type"}, []any{"type"}, obj["type"]))
		}
		return "", nil, badRequest("Provided object does not match schema 'task': " + violationReport(taskSchema,
			pyRepr(obj["type"])+" is not one of ['import', 'api_image_import']", "enum", []string{"properties", "type", "enum"}, []any{"type"}, obj["type"]))
	}
	input, ok := obj["input"].(map[string]any)
	if !ok {
		return "", nil, badRequest("Provided object does not match schema 'task': " + pyRepr(obj["input"]) + " is not of type 'object'")
	}
	// Like Glance, import_from is not checked here: the task checks it
	// (and import filtering) and fails with the reason.
	raw, _ := json.Marshal(input)
	return typ, raw, nil
}

var taskSortKeys = map[string]bool{"created_at": true, "updated_at": true, "id": true, "type": true, "status": true}

// ParseTaskQuery parses GET /v2/tasks as Glance's tasks RequestDeserializer.
func ParseTaskQuery(args *fasthttp.Args) (*backends.TaskQuery, error) {
	if !validQuery(args) {
		return nil, errUndecodable
	}
	q := &backends.TaskQuery{SortKey: "created_at", Desc: true, Limit: defaultListLimit}
	if v := args.Peek("sort_dir"); v != nil {
		switch string(v) {
		case "asc":
			q.Desc = false
		case "desc":
		default:
			return nil, badRequest("Invalid sort direction: " + string(v))
		}
	}
	if v := args.Peek("sort_key"); v != nil {
		if !taskSortKeys[string(v)] {
			return nil, badRequest("Sort key supplied was not valid.")
		}
		q.SortKey = string(v)
	}
	if v := args.Peek("status"); len(v) > 0 {
		switch string(v) {
		case "pending", "processing", "success", "failure":
			q.Status = string(v)
		default:
			return nil, badRequest("Invalid status value: " + string(v))
		}
	}
	if v := args.Peek("type"); len(v) > 0 {
		if string(v) != "import" {
			return nil, badRequest("Invalid type value: " + string(v))
		}
		q.Type = string(v)
	}
	if v := args.Peek("marker"); v != nil {
		if !uuidPattern.MatchString(strings.ReplaceAll(string(v), "-", "")) && !uuidPattern.MatchString(string(v)) {
			if len(strings.ReplaceAll(string(v), "-", "")) != 32 {
				return nil, badRequest("Invalid marker format")
			}
		}
		q.Marker = string(v)
	}
	if v := args.Peek("limit"); v != nil {
		n, err := strconv.Atoi(strings.TrimSpace(string(v)))
		if err != nil {
			return nil, badRequest("limit param must be an integer")
		}
		if n < 0 {
			return nil, badRequest("limit param must be positive")
		}
		q.Limit = min(n, maxListLimit)
	}
	return q, nil
}
