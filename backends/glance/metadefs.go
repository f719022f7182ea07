package glance

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"time"

	"github.com/spyglass-gateway/spyglass/backends"
)

// The metadata definitions of a Glance region: each call is the region's
// own /v2/metadefs request, made with the caller's identity, and its
// answer decoded into the records the gateway renders. The region keeps
// its rules (visibility, uniqueness, protection) and words its refusals;
// remoteError keeps those words.

// extraHeaderKey carries one more request header for the region (the
// tags' X-Openstack-Append).
type extraHeaderKey struct{}

func withHeader(ctx context.Context, name, value string) context.Context {
	return context.WithValue(ctx, extraHeaderKey{}, [2]string{name, value})
}

func nsPath(ns string) string { return "/v2/metadefs/namespaces/" + url.PathEscape(ns) }

func (r *Region) decodeErr(what string, err error) error {
	return fmt.Errorf("region %s: decoding %s: %v: %w", r.name, what, err, errUnavailable)
}

// mdTime reads Glance's isotime ("" or absent: the zero time).
func mdTime(s string) time.Time {
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		return time.Time{}
	}
	return t.UTC()
}

type nsDoc struct {
	Namespace   string  `json:"namespace"`
	DisplayName *string `json:"display_name"`
	Description *string `json:"description"`
	Visibility  string  `json:"visibility"`
	Protected   bool    `json:"protected"`
	Owner       *string `json:"owner"`
	CreatedAt   string  `json:"created_at"`
	UpdatedAt   string  `json:"updated_at"`
}

func (d *nsDoc) record() *backends.MetadefNamespace {
	ns := &backends.MetadefNamespace{
		Namespace: d.Namespace, DisplayName: d.DisplayName, Description: d.Description,
		Visibility: d.Visibility, Protected: d.Protected,
		CreatedAt: mdTime(d.CreatedAt), UpdatedAt: mdTime(d.UpdatedAt),
	}
	if d.Owner != nil {
		ns.Owner = *d.Owner
	}
	return ns
}

func nsBody(ns *backends.MetadefNamespace) map[string]any {
	doc := map[string]any{"namespace": ns.Namespace, "visibility": ns.Visibility, "protected": ns.Protected}
	if ns.DisplayName != nil {
		doc["display_name"] = *ns.DisplayName
	}
	if ns.Description != nil {
		doc["description"] = *ns.Description
	}
	if ns.Owner != "" {
		doc["owner"] = ns.Owner
	}
	return doc
}

func (r *Region) namespaceAnswer(body []byte, err error) (*backends.MetadefNamespace, error) {
	d, err := decodeDoc[nsDoc](r, "a namespace", body, err)
	if err != nil {
		return nil, err
	}
	return d.record(), nil
}

// Namespace looks the namespace up as visible to the caller (see
// lookupCtx: the gateway applies get_metadef_namespace itself).
//
// A namespace the region hides from the caller is backends.ErrHidden:
// Glance answers it with a bare 404, a missing one with its message.
func (r *Region) Namespace(ctx context.Context, name string) (*backends.MetadefNamespace, error) {
	body, _, err := r.call(lookupCtx(ctx), "GET", nsPath(name), nil, "", 200)
	var be *backends.Error
	if errors.As(err, &be) && be.Kind == backends.ErrNotFound && !be.Detail && be.Explanation == backends.ErrHidden.Error() {
		return nil, backends.ErrHidden
	}
	return r.namespaceAnswer(body, err)
}

// ListNamespaces lists the region's namespaces for the caller: the region
// decides their visibility.
func (r *Region) ListNamespaces(ctx context.Context, q *backends.NamespaceQuery) ([]*backends.MetadefNamespace, error) {
	v := pageQuery(q.Limit, q.Marker, q.SortKey, q.Desc)
	if q.Visibility != "" {
		v.Set("visibility", q.Visibility)
	}
	if q.ResourceTypes != nil {
		v.Set("resource_types", strings.Join(q.ResourceTypes, ","))
	}
	body, _, err := r.call(lookupCtx(ctx), "GET", "/v2/metadefs/namespaces?"+v.Encode(), nil, "", 200)
	doc, err := decodeDoc[struct{ Namespaces []nsDoc }](r, "namespaces", body, err)
	if err != nil {
		return nil, err
	}
	out := make([]*backends.MetadefNamespace, len(doc.Namespaces))
	for i := range doc.Namespaces {
		out[i] = doc.Namespaces[i].record()
	}
	return out, nil
}

// CreateNamespace creates the namespace and its contents in one request,
// as the client asked.
func (r *Region) CreateNamespace(ctx context.Context, c *backends.MetadefNamespaceContent) (*backends.MetadefNamespace, error) {
	doc := nsBody(&c.MetadefNamespace)
	if len(c.Associations) > 0 {
		list := make([]any, len(c.Associations))
		for i, a := range c.Associations {
			list[i] = assocBody(a)
		}
		doc["resource_type_associations"] = list
	}
	if len(c.Properties) > 0 {
		props := map[string]json.RawMessage{}
		for _, p := range c.Properties {
			props[p.Name] = p.Schema
		}
		doc["properties"] = props
	}
	if len(c.Objects) > 0 {
		list := make([]any, len(c.Objects))
		for i, o := range c.Objects {
			list[i] = objectBody(o)
		}
		doc["objects"] = list
	}
	if len(c.Tags) > 0 {
		list := make([]any, len(c.Tags))
		for i, t := range c.Tags {
			list[i] = map[string]string{"name": t.Name}
		}
		doc["tags"] = list
	}
	body, _, err := r.call(ctx, "POST", "/v2/metadefs/namespaces", doc, "", 201)
	return r.namespaceAnswer(body, err)
}

func (r *Region) UpdateNamespace(ctx context.Context, name string, ns *backends.MetadefNamespace) (*backends.MetadefNamespace, error) {
	body, _, err := r.call(ctx, "PUT", nsPath(name), nsBody(ns), "", 200)
	return r.namespaceAnswer(body, err)
}

func (r *Region) DeleteNamespace(ctx context.Context, name string) error {
	_, _, err := r.call(ctx, "DELETE", nsPath(name), nil, "", 204)
	return err
}

func (r *Region) DeleteNamespaceContent(ctx context.Context, name, kind string) error {
	_, _, err := r.call(ctx, "DELETE", nsPath(name)+"/"+kind, nil, "", 204)
	return err
}

// --- objects ---------------------------------------------------------------

var objectAPI = &itemAPI[*backends.MetadefObject]{
	kind: backends.MetadefObjects,
	answer: func(r *Region, body []byte, err error) (*backends.MetadefObject, error) {
		d, err := decodeDoc[objectDoc](r, "an object", body, err)
		if err != nil {
			return nil, err
		}
		return d.record(), nil
	},
	body: func(o *backends.MetadefObject) (any, string) { return objectBody(o), "" },
}

type objectDoc struct {
	Name        string          `json:"name"`
	Description *string         `json:"description"`
	Required    []string        `json:"required"`
	Properties  json.RawMessage `json:"properties"`
	CreatedAt   string          `json:"created_at"`
	UpdatedAt   string          `json:"updated_at"`
}

func (d *objectDoc) record() *backends.MetadefObject {
	return &backends.MetadefObject{Name: d.Name, Description: d.Description, Required: d.Required, Properties: d.Properties,
		CreatedAt: mdTime(d.CreatedAt), UpdatedAt: mdTime(d.UpdatedAt)}
}

func objectBody(o *backends.MetadefObject) map[string]any {
	doc := map[string]any{"name": o.Name}
	if o.Description != nil {
		doc["description"] = *o.Description
	}
	if o.Required != nil {
		doc["required"] = o.Required
	}
	if o.Properties != nil {
		doc["properties"] = o.Properties
	}
	return doc
}

func (r *Region) MetadefObjects(ctx context.Context, ns string) ([]*backends.MetadefObject, error) {
	body, _, err := r.call(lookupCtx(ctx), "GET", nsPath(ns)+"/objects", nil, "", 200)
	doc, err := decodeDoc[struct{ Objects []objectDoc }](r, "objects", body, err)
	if err != nil {
		return nil, err
	}
	out := make([]*backends.MetadefObject, len(doc.Objects))
	for i := range doc.Objects {
		out[i] = doc.Objects[i].record()
	}
	return out, nil
}

func (r *Region) MetadefObject(ctx context.Context, ns, name string) (*backends.MetadefObject, error) {
	return getItem(ctx, r, objectAPI, ns, name)
}

func (r *Region) CreateMetadefObject(ctx context.Context, ns string, o *backends.MetadefObject) (*backends.MetadefObject, error) {
	return createItem(ctx, r, objectAPI, ns, o)
}

func (r *Region) UpdateMetadefObject(ctx context.Context, ns, name string, o *backends.MetadefObject) (*backends.MetadefObject, error) {
	return updateItem(ctx, r, objectAPI, ns, name, o)
}

func (r *Region) DeleteMetadefObject(ctx context.Context, ns, name string) error {
	return deleteItem(ctx, r, objectAPI.kind, ns, name)
}

// --- properties ------------------------------------------------------------

// propertyAPI's bodies are raw JSON: a property shown alone is its name
// beside its schema's keys, which no struct spells.
var propertyAPI = &itemAPI[*backends.MetadefProperty]{
	kind:   backends.MetadefProperties,
	answer: (*Region).propertyAnswer,
	body:   func(p *backends.MetadefProperty) (any, string) { return propertyBody(p), "application/json" },
}

// propertyAnswer reads a property shown alone: its name, then its schema.
func (r *Region) propertyAnswer(body []byte, err error) (*backends.MetadefProperty, error) {
	m, err := decodeDoc[map[string]json.RawMessage](r, "a property", body, err)
	if err != nil {
		return nil, err
	}
	var name string
	json.Unmarshal((*m)["name"], &name)
	delete(*m, "name")
	schema, err := json.Marshal(*m)
	if err != nil {
		return nil, r.decodeErr("a property", err)
	}
	return &backends.MetadefProperty{Name: name, Schema: schema}, nil
}

func propertyBody(p *backends.MetadefProperty) []byte {
	var m map[string]json.RawMessage
	json.Unmarshal(p.Schema, &m)
	if m == nil {
		m = map[string]json.RawMessage{}
	}
	m["name"], _ = json.Marshal(p.Name)
	b, _ := json.Marshal(m)
	return b
}

func (r *Region) MetadefProperties(ctx context.Context, ns string) ([]*backends.MetadefProperty, error) {
	body, _, err := r.call(lookupCtx(ctx), "GET", nsPath(ns)+"/properties", nil, "", 200)
	doc, err := decodeDoc[struct {
		Properties map[string]json.RawMessage `json:"properties"`
	}](r, "properties", body, err)
	if err != nil {
		return nil, err
	}
	out := make([]*backends.MetadefProperty, 0, len(doc.Properties))
	for name, schema := range doc.Properties {
		out = append(out, &backends.MetadefProperty{Name: name, Schema: schema})
	}
	return out, nil
}

func (r *Region) MetadefProperty(ctx context.Context, ns, name string) (*backends.MetadefProperty, error) {
	return getItem(ctx, r, propertyAPI, ns, name)
}

func (r *Region) CreateMetadefProperty(ctx context.Context, ns string, p *backends.MetadefProperty) (*backends.MetadefProperty, error) {
	return createItem(ctx, r, propertyAPI, ns, p)
}

func (r *Region) UpdateMetadefProperty(ctx context.Context, ns, name string, p *backends.MetadefProperty) (*backends.MetadefProperty, error) {
	return updateItem(ctx, r, propertyAPI, ns, name, p)
}

func (r *Region) DeleteMetadefProperty(ctx context.Context, ns, name string) error {
	return deleteItem(ctx, r, propertyAPI.kind, ns, name)
}

// --- tags ------------------------------------------------------------------

// tagAPI's create is the create of one tag by its name (POST
// .../tags/{name}, no body): CreateMetadefTag, not createItem.
var tagAPI = &itemAPI[*backends.MetadefTag]{
	kind: backends.MetadefTags,
	answer: func(r *Region, body []byte, err error) (*backends.MetadefTag, error) {
		d, err := decodeDoc[tagDoc](r, "a tag", body, err)
		if err != nil {
			return nil, err
		}
		return d.record(), nil
	},
	body: func(t *backends.MetadefTag) (any, string) { return map[string]string{"name": t.Name}, "" },
}

type tagDoc struct {
	Name      string `json:"name"`
	CreatedAt string `json:"created_at"`
	UpdatedAt string `json:"updated_at"`
}

func (d *tagDoc) record() *backends.MetadefTag {
	return &backends.MetadefTag{Name: d.Name, CreatedAt: mdTime(d.CreatedAt), UpdatedAt: mdTime(d.UpdatedAt)}
}

func (r *Region) tagList(body []byte, err error) ([]*backends.MetadefTag, error) {
	doc, err := decodeDoc[struct{ Tags []tagDoc }](r, "tags", body, err)
	if err != nil {
		return nil, err
	}
	out := make([]*backends.MetadefTag, len(doc.Tags))
	for i := range doc.Tags {
		out[i] = doc.Tags[i].record()
	}
	return out, nil
}

func (r *Region) MetadefTags(ctx context.Context, ns string, q *backends.TagQuery) ([]*backends.MetadefTag, error) {
	v := pageQuery(q.Limit, q.Marker, q.SortKey, q.Desc)
	body, _, err := r.call(lookupCtx(ctx), "GET", nsPath(ns)+"/tags?"+v.Encode(), nil, "", 200)
	return r.tagList(body, err)
}

func (r *Region) MetadefTag(ctx context.Context, ns, name string) (*backends.MetadefTag, error) {
	return getItem(ctx, r, tagAPI, ns, name)
}

func (r *Region) CreateMetadefTag(ctx context.Context, ns, name string) (*backends.MetadefTag, error) {
	body, _, err := r.call(ctx, "POST", itemPath(ns, tagAPI.kind, name), nil, "", 201)
	return tagAPI.answer(r, body, err)
}

func (r *Region) CreateMetadefTags(ctx context.Context, ns string, names []string, appending bool) ([]*backends.MetadefTag, error) {
	list := make([]any, len(names))
	for i, n := range names {
		list[i] = map[string]string{"name": n}
	}
	b, _ := json.Marshal(map[string]any{"tags": list})
	c := ctx
	if appending {
		c = withHeader(ctx, "X-Openstack-Append", "true")
	}
	body, _, err := r.call(c, "POST", nsPath(ns)+"/tags", b, "application/json", 201)
	return r.tagList(body, err)
}

func (r *Region) UpdateMetadefTag(ctx context.Context, ns, name, newName string) (*backends.MetadefTag, error) {
	return updateItem(ctx, r, tagAPI, ns, name, &backends.MetadefTag{Name: newName})
}

func (r *Region) DeleteMetadefTag(ctx context.Context, ns, name string) error {
	return deleteItem(ctx, r, tagAPI.kind, ns, name)
}

// --- resource types --------------------------------------------------------

type assocDoc struct {
	Name             string  `json:"name"`
	Prefix           *string `json:"prefix"`
	PropertiesTarget *string `json:"properties_target"`
	Protected        bool    `json:"protected"`
	CreatedAt        string  `json:"created_at"`
	UpdatedAt        string  `json:"updated_at"`
}

func (d *assocDoc) record() *backends.MetadefAssociation {
	return &backends.MetadefAssociation{Name: d.Name, Prefix: d.Prefix, PropertiesTarget: d.PropertiesTarget,
		CreatedAt: mdTime(d.CreatedAt), UpdatedAt: mdTime(d.UpdatedAt)}
}

func assocBody(a *backends.MetadefAssociation) map[string]any {
	doc := map[string]any{"name": a.Name}
	if a.Prefix != nil {
		doc["prefix"] = *a.Prefix
	}
	if a.PropertiesTarget != nil {
		doc["properties_target"] = *a.PropertiesTarget
	}
	return doc
}

func (r *Region) ResourceTypes(ctx context.Context) ([]*backends.MetadefResourceType, error) {
	body, _, err := r.call(lookupCtx(ctx), "GET", "/v2/metadefs/resource_types", nil, "", 200)
	doc, err := decodeDoc[struct {
		ResourceTypes []assocDoc `json:"resource_types"`
	}](r, "resource types", body, err)
	if err != nil {
		return nil, err
	}
	out := make([]*backends.MetadefResourceType, len(doc.ResourceTypes))
	for i, d := range doc.ResourceTypes {
		out[i] = &backends.MetadefResourceType{Name: d.Name, Protected: d.Protected, CreatedAt: mdTime(d.CreatedAt), UpdatedAt: mdTime(d.UpdatedAt)}
	}
	return out, nil
}

func (r *Region) ResourceTypeAssociations(ctx context.Context, ns string) ([]*backends.MetadefAssociation, error) {
	body, _, err := r.call(lookupCtx(ctx), "GET", nsPath(ns)+"/resource_types", nil, "", 200)
	doc, err := decodeDoc[struct {
		Associations []assocDoc `json:"resource_type_associations"`
	}](r, "resource type associations", body, err)
	if err != nil {
		return nil, err
	}
	out := make([]*backends.MetadefAssociation, len(doc.Associations))
	for i := range doc.Associations {
		out[i] = doc.Associations[i].record()
	}
	return out, nil
}

func (r *Region) CreateResourceTypeAssociation(ctx context.Context, ns string, a *backends.MetadefAssociation) (*backends.MetadefAssociation, error) {
	body, _, err := r.call(ctx, "POST", nsPath(ns)+"/resource_types", assocBody(a), "", 201)
	d, err := decodeDoc[assocDoc](r, "a resource type association", body, err)
	if err != nil {
		return nil, err
	}
	return d.record(), nil
}

func (r *Region) DeleteResourceTypeAssociation(ctx context.Context, ns, resourceType string) error {
	return deleteItem(ctx, r, "resource_types", ns, resourceType)
}
