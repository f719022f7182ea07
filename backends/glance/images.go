package glance

import (
	"context"
	"encoding/json"
	"fmt"
	"hash/maphash"
	"net/url"

	"github.com/spyglass-gateway/spyglass/backends"
)

func imagePath(id string) string { return "/v2/images/" + url.PathEscape(id) }

var memberAddSeed = maphash.MakeSeed()

// image decodes an image document. The region is the one store that holds
// the data, whatever Glance calls its own backend: clients see regions as
// stores.
func (r *Region) image(body []byte) (*backends.Image, error) {
	img, hasStores, shown, err := decodeImage(body)
	if err != nil {
		return nil, fmt.Errorf("region %s: %v: %w", r.name, err, errUnavailable)
	}
	r.sawLocations(shown)
	if hasStores {
		img.Stores = []string{r.name}
	}
	// Glance's import bookkeeping names its own backends; the client
	// knows the region as the store (GET /v2/info/stores), and imports go
	// to the region as a whole.
	for _, k := range importStoreProps {
		if v, ok := img.Properties[k]; ok && v != "" {
			img.Properties[k] = r.name
		}
	}
	return img, nil
}

// importStoreProps are the properties in which Glance lists store ids.
var importStoreProps = [...]string{"os_glance_failed_import", "os_glance_importing_to_stores"}

// CreateImage creates the image in the region with the attributes the
// gateway validated; the region sets status and times.
func (r *Region) CreateImage(ctx context.Context, img *backends.Image) (*backends.Image, error) {
	doc := map[string]any{
		"id": img.ID, "visibility": img.Visibility, "protected": img.Protected,
		"os_hidden": img.OSHidden, "min_disk": img.MinDisk, "min_ram": img.MinRAM,
	}
	if img.Name != nil {
		doc["name"] = *img.Name
	}
	if img.Owner != nil {
		doc["owner"] = *img.Owner
	}
	if img.ContainerFormat != nil {
		doc["container_format"] = *img.ContainerFormat
	}
	if img.DiskFormat != nil {
		doc["disk_format"] = *img.DiskFormat
	}
	if len(img.Tags) > 0 {
		doc["tags"] = img.Tags
	}
	for k, v := range img.Properties {
		doc[k] = v
	}
	body, _, err := r.call(ctx, "POST", "/v2/images", doc, "", 201)
	if err != nil {
		return nil, err
	}
	return r.image(body)
}

// Image looks the image up as visible to the caller's project.
func (r *Region) Image(ctx context.Context, id string) (*backends.Image, error) {
	body, _, err := r.call(lookupCtx(ctx), "GET", imagePath(id), nil, "", 200)
	if err != nil {
		return nil, err
	}
	return r.image(body)
}

// ListImages evaluates q in the region, as many requests as Glance's
// api_limit_max makes it take.
func (r *Region) ListImages(ctx context.Context, q *backends.ListQuery) ([]*backends.Image, error) {
	var out []*backends.Image
	marker := q.Marker
	for {
		want := q.Limit - len(out)
		if q.Limit == 0 {
			want = apiLimitMax
		}
		ask := min(want, apiLimitMax)
		path := "/v2/images?" + encodeListQuery(q, marker, ask)
		if err := r.checkRequestLine("GET", path); err != nil {
			return nil, err
		}
		body, _, err := r.call(lookupCtx(ctx), "GET", path, nil, "", 200)
		if err != nil {
			return nil, err
		}
		var page struct {
			Images []json.RawMessage `json:"images"`
		}
		if err := json.Unmarshal(body, &page); err != nil {
			return nil, fmt.Errorf("region %s: image list: %v: %w", r.name, err, errUnavailable)
		}
		for _, raw := range page.Images {
			img, err := r.image(raw)
			if err != nil {
				return nil, err
			}
			out = append(out, img)
		}
		if len(page.Images) < ask || (q.Limit > 0 && len(out) >= q.Limit) || len(page.Images) == 0 {
			return out, nil
		}
		marker = out[len(out)-1].ID
	}
}

// UpdateImage sends the changes as one JSON patch (the 2.1 media type).
func (r *Region) UpdateImage(ctx context.Context, id string, changes []backends.Change) (*backends.Image, error) {
	if err := hiddenLocations(changes); err != nil {
		return nil, err
	}
	legacy := len(changes) > 0 && changes[0].Legacy
	patch, err := encodePatch(changes, legacy)
	if err != nil {
		return nil, err
	}
	ct := "application/openstack-images-v2.1-json-patch"
	if legacy {
		ct = "application/openstack-images-v2.0-json-patch"
	}
	body, _, err := r.call(ctx, "PATCH", imagePath(id), patch, ct, 200)
	if err != nil {
		return nil, err
	}
	return r.image(body)
}

// encodePatch writes changes back as JSON patch operations: RFC 6902's
// {"op": "add", "path": ...} or, for the deprecated 2.0 media type
// (legacy), Glance's {"add": "/path", "value": ...}.
func encodePatch(changes []backends.Change, legacy bool) ([]byte, error) {
	type op struct {
		Op    string          `json:"op"`
		Path  string          `json:"path"`
		Value json.RawMessage `json:"value,omitempty"`
	}
	ops := make([]op, 0, len(changes))
	for _, c := range changes {
		o := op{Path: pointer(c.Path), Value: c.Value}
		switch c.Op {
		case backends.PatchAdd:
			o.Op = "add"
		case backends.PatchRemove:
			o.Op = "remove"
			o.Value = nil
		case backends.PatchReplace:
			o.Op = "replace"
		default:
			return nil, backends.Errorf(backends.ErrBadRequest, "unknown patch operation")
		}
		if o.Op != "remove" && o.Value == nil {
			o.Value = json.RawMessage("null")
		}
		ops = append(ops, o)
	}
	if legacy {
		old := make([]map[string]any, len(ops))
		for i, o := range ops {
			old[i] = map[string]any{o.Op: o.Path}
			if o.Value != nil {
				old[i]["value"] = o.Value
			}
		}
		return json.Marshal(old)
	}
	return json.Marshal(ops)
}

// pointer encodes JSON-pointer segments (RFC 6901).
func pointer(segs []string) string {
	var b []byte
	for _, s := range segs {
		b = append(b, '/')
		for i := 0; i < len(s); i++ {
			switch s[i] {
			case '~':
				b = append(b, "~0"...)
			case '/':
				b = append(b, "~1"...)
			default:
				b = append(b, s[i])
			}
		}
	}
	return string(b)
}

// SetImageStatus deactivates or reactivates.
func (r *Region) SetImageStatus(ctx context.Context, id, status string) (*backends.Image, error) {
	action := ""
	switch status {
	case backends.StatusDeactivated:
		action = "deactivate"
	case backends.StatusActive:
		action = "reactivate"
	default:
		return nil, backends.Errorf(backends.ErrBadRequest, "unsupported status transition to "+status)
	}
	if _, _, err := r.call(ctx, "POST", imagePath(id)+"/actions/"+action, nil, "", 204); err != nil {
		return nil, err
	}
	return r.Image(ctx, id)
}

func (r *Region) DeleteImage(ctx context.Context, id string) error {
	_, _, err := r.call(ctx, "DELETE", imagePath(id), nil, "", 204)
	return err
}

func (r *Region) AddTag(ctx context.Context, id, tag string) error {
	_, _, err := r.call(ctx, "PUT", imagePath(id)+"/tags/"+url.PathEscape(tag), nil, "", 204)
	return err
}

func (r *Region) DeleteTag(ctx context.Context, id, tag string) error {
	_, _, err := r.call(ctx, "DELETE", imagePath(id)+"/tags/"+url.PathEscape(tag), nil, "", 204)
	return err
}

// Import starts an import in the region as the caller in ctx.
func (r *Region) Import(ctx context.Context, id string, req backends.ImportRequest) error {
	doc := map[string]any{"method": map[string]any{"name": req.Method}}
	if req.URI != "" {
		doc["method"].(map[string]any)["uri"] = req.URI
	}
	if len(req.Stores) > 0 {
		doc["stores"] = req.Stores
	}
	if req.AllStores {
		doc["all_stores"] = true
		doc["all_stores_must_succeed"] = req.AllStoresMustSucceed
	}
	_, _, err := r.call(ctx, "POST", imagePath(id)+"/import", doc, "", 202)
	return err
}

// Members lists the image's members as the caller may see them.
func (r *Region) Members(ctx context.Context, imageID string) ([]*backends.Member, error) {
	body, _, err := r.call(lookupCtx(ctx), "GET", imagePath(imageID)+"/members", nil, "", 200)
	if err != nil {
		return nil, err
	}
	var page struct {
		Members []memberDoc `json:"members"`
	}
	if err := json.Unmarshal(body, &page); err != nil {
		return nil, fmt.Errorf("region %s: members: %v: %w", r.name, err, errUnavailable)
	}
	out := make([]*backends.Member, 0, len(page.Members))
	for i := range page.Members {
		m, err := page.Members[i].member()
		if err != nil {
			return nil, fmt.Errorf("region %s: %v: %w", r.name, err, errUnavailable)
		}
		out = append(out, m)
	}
	return out, nil
}

func (r *Region) member(body []byte) (*backends.Member, error) {
	d, err := decodeOne[memberDoc](body)
	if err != nil {
		return nil, fmt.Errorf("region %s: member: %v: %w", r.name, err, errUnavailable)
	}
	m, err := d.member()
	if err != nil {
		return nil, fmt.Errorf("region %s: %v: %w", r.name, err, errUnavailable)
	}
	return m, nil
}

func (r *Region) Member(ctx context.Context, imageID, memberID string) (*backends.Member, error) {
	body, _, err := r.call(lookupCtx(ctx), "GET", imagePath(imageID)+"/members/"+url.PathEscape(memberID), nil, "", 200)
	if err != nil {
		return nil, err
	}
	return r.member(body)
}

// AddMember adds one member at a time per image: Glance checks for a
// duplicate before it inserts, so concurrent adds of one member each
// succeed and leave duplicate rows, and the image then fails to delete
// (a 500, every time) — one tenant's burst of adds must not make that.
func (r *Region) AddMember(ctx context.Context, imageID, memberID string) (*backends.Member, error) {
	mu := &r.memberAdds[maphash.String(memberAddSeed, imageID)%uint64(len(r.memberAdds))]
	mu.Lock()
	defer mu.Unlock()
	body, _, err := r.call(ctx, "POST", imagePath(imageID)+"/members", map[string]string{"member": memberID}, "", 200)
	if err != nil {
		return nil, err
	}
	return r.member(body)
}

func (r *Region) UpdateMember(ctx context.Context, imageID, memberID, status string) (*backends.Member, error) {
	body, _, err := r.call(ctx, "PUT", imagePath(imageID)+"/members/"+url.PathEscape(memberID), map[string]string{"status": status}, "", 200)
	if err != nil {
		return nil, err
	}
	return r.member(body)
}

func (r *Region) DeleteMember(ctx context.Context, imageID, memberID string) error {
	_, _, err := r.call(ctx, "DELETE", imagePath(imageID)+"/members/"+url.PathEscape(memberID), nil, "", 204)
	return err
}

func (r *Region) task(body []byte) (*backends.Task, error) {
	d, err := decodeOne[taskDoc](body)
	if err != nil {
		return nil, fmt.Errorf("region %s: task: %v: %w", r.name, err, errUnavailable)
	}
	t, err := d.task()
	if err != nil {
		return nil, fmt.Errorf("region %s: %v: %w", r.name, err, errUnavailable)
	}
	return t, nil
}

func (r *Region) CreateTask(ctx context.Context, typ string, input json.RawMessage) (*backends.Task, error) {
	body, _, err := r.call(ctx, "POST", "/v2/tasks", map[string]any{"type": typ, "input": input}, "", 201)
	if err != nil {
		return nil, err
	}
	return r.task(body)
}

func (r *Region) Task(ctx context.Context, id string) (*backends.Task, error) {
	body, _, err := r.call(ctx, "GET", "/v2/tasks/"+url.PathEscape(id), nil, "", 200)
	if err != nil {
		return nil, err
	}
	return r.task(body)
}

func (r *Region) ListTasks(ctx context.Context, q *backends.TaskQuery) ([]*backends.Task, error) {
	v := url.Values{}
	if q.Status != "" {
		v.Set("status", q.Status)
	}
	if q.Type != "" {
		v.Set("type", q.Type)
	}
	if q.SortKey != "" {
		v.Set("sort_key", q.SortKey)
	}
	if q.Desc {
		v.Set("sort_dir", "desc")
	} else {
		v.Set("sort_dir", "asc")
	}
	if q.Limit > 0 {
		v.Set("limit", fmt.Sprint(q.Limit))
	}
	if q.Marker != "" {
		v.Set("marker", q.Marker)
	}
	body, _, err := r.call(ctx, "GET", "/v2/tasks?"+v.Encode(), nil, "", 200)
	if err != nil {
		return nil, err
	}
	return r.taskList(body)
}

func (r *Region) ImageTasks(ctx context.Context, imageID string) ([]*backends.Task, error) {
	body, _, err := r.call(ctx, "GET", imagePath(imageID)+"/tasks", nil, "", 200)
	if err != nil {
		return nil, err
	}
	return r.taskList(body)
}

// taskList decodes {"tasks": [...]}, both of Glance's task renderings.
func (r *Region) taskList(body []byte) ([]*backends.Task, error) {
	var page struct {
		Tasks []taskDoc `json:"tasks"`
	}
	if err := json.Unmarshal(body, &page); err != nil {
		return nil, fmt.Errorf("region %s: tasks: %v: %w", r.name, err, errUnavailable)
	}
	out := make([]*backends.Task, 0, len(page.Tasks))
	for i := range page.Tasks {
		t, err := page.Tasks[i].task()
		if err != nil {
			return nil, fmt.Errorf("region %s: %v: %w", r.name, err, errUnavailable)
		}
		out = append(out, t)
	}
	return out, nil
}
