package gateway

import (
	"bytes"
	"encoding/json"
	"errors"
	"strconv"
	"strings"
	"time"

	"github.com/spyglass-gateway/spyglass/backends"
	"github.com/spyglass-gateway/spyglass/policy"
)

// The metadata definitions API (/v2/metadefs), as Glance 25's
// glance/api/v2/metadef_*.py answer it: each handler runs the
// deserializer's checks first (query, body), then finds the namespace (a
// private one is visible to its owner and admins only, as Glance's
// database layer decides), then asks policy with MetadefAPIPolicy's
// target, then calls the catalog; the refusals are worded as the
// controller that makes them words them.

// nsMiss says how a route words a namespace it cannot find.
type nsMiss uint8

const (
	// missShow: the namespace's show. Missing: the database's message;
	// hidden: a bare 404.
	missShow nsMiss = iota
	// missObjects: the objects' routes. Missing: the database's message;
	// hidden: "Namespace X not found".
	missObjects
	// missAny: the others: "Namespace X not found" either way.
	missAny
)

var errMetadefsOff = errStatus(501, defaultExplanations[501])

// metadefs returns the catalog's metadefs or answers 501.
func (s *Server) metadefs(c *call) (Metadefs, bool) {
	if s.cat.Metadefs == nil {
		writeError(c.ctx, errMetadefsOff)
		return nil, false
	}
	return s.cat.Metadefs, true
}

// metadefsNoBody is metadefs for the routes Glance's router marks
// body_reject: a request with a body is a 400 before anything else.
func (s *Server) metadefsNoBody(c *call) (Metadefs, bool) {
	if c.hasBody() {
		writeError(c.ctx, badRequest("A body is not expected with this request."))
		return nil, false
	}
	return s.metadefs(c)
}

// namespaceVisible is Glance's _is_namespace_visible.
func namespaceVisible(c *call, ns *backends.MetadefNamespace) bool {
	return c.id.IsAdmin || ns.Owner == "" || ns.Visibility == "public" ||
		(c.id.ProjectID != "" && c.id.ProjectID == ns.Owner)
}

// findNamespace is the controllers' ns_repo.get(namespace).
//
// A region that hides the namespace itself answers backends.ErrHidden.
func (s *Server) findNamespace(c *call, md Metadefs, name string, miss nsMiss) (*backends.MetadefNamespace, error) {
	ns, err := md.Namespace(c, name)
	if errors.Is(err, backends.ErrHidden) || (err == nil && !namespaceVisible(c, ns)) {
		if miss == missShow {
			return nil, errHidden
		}
		return nil, backends.Errorf(backends.ErrNotFound, "Namespace "+name+" not found")
	}
	if err != nil && miss == missAny && errors.Is(err, backends.ErrNotFound) {
		return nil, backends.Errorf(backends.ErrNotFound, "Namespace "+name+" not found")
	}
	return ns, err
}

// enforceMetadef is MetadefAPIPolicy._enforce: a refusal is a bare 404
// when the caller may not even get the namespace, else the rule's 403. ns
// nil: a call about no namespace ({'project_id': the caller's}).
func (s *Server) enforceMetadef(c *call, r policy.Rule, ns *backends.MetadefNamespace) error {
	t := policy.ProjectTarget(&c.id)
	if ns != nil {
		t = policy.MetadefTarget(ns.Owner, ns.Visibility)
	}
	if c.pol.Allowed(r, &c.id, &t) {
		return nil
	}
	if r == policy.GetMetadefNamespace || !c.pol.Allowed(policy.GetMetadefNamespace, &c.id, &t) {
		return errHidden
	}
	return forbidden(r)
}

// checkMetadef is MetadefAPIPolicy.check.
func (s *Server) checkMetadef(c *call, r policy.Rule, ns *backends.MetadefNamespace) bool {
	return s.enforceMetadef(c, r, ns) == nil
}

func (s *Server) enforceAll(c *call, ns *backends.MetadefNamespace, rules ...policy.Rule) error {
	for _, r := range rules {
		if err := s.enforceMetadef(c, r, ns); err != nil {
			return err
		}
	}
	return nil
}

// --- rendering -------------------------------------------------------------

// isoTime is oslo's isotime: seconds, Z.
// The zero time (a NULL: definitions loaded from files have no
// updated_at) is "", which the bodies omit.
func isoTime(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format("2006-01-02T15:04:05Z")
}

type assocJSON struct {
	Name             string  `json:"name"`
	Prefix           *string `json:"prefix,omitempty"`
	PropertiesTarget *string `json:"properties_target,omitempty"`
	CreatedAt        string  `json:"created_at,omitempty"`
	UpdatedAt        string  `json:"updated_at,omitempty"`
}

func assocOf(a *backends.MetadefAssociation, times bool) assocJSON {
	j := assocJSON{Name: a.Name, Prefix: a.Prefix, PropertiesTarget: a.PropertiesTarget}
	if times {
		j.CreatedAt, j.UpdatedAt = isoTime(a.CreatedAt), isoTime(a.UpdatedAt)
	}
	return j
}

type objectJSON struct {
	Name        string          `json:"name"`
	Required    *[]string       `json:"required,omitempty"`
	Description *string         `json:"description,omitempty"`
	Properties  json.RawMessage `json:"properties,omitempty"`
	CreatedAt   string          `json:"created_at,omitempty"`
	UpdatedAt   string          `json:"updated_at,omitempty"`
	Self        string          `json:"self,omitempty"`
	Schema      string          `json:"schema,omitempty"`
}

// objectJSONOf is an object as Glance shows it: full adds its times and
// links (the request's objects a namespace's create echoes have none).
func objectJSONOf(ns string, o *backends.MetadefObject, full bool) objectJSON {
	j := objectJSON{Name: o.Name, Description: o.Description, Properties: o.Properties}
	if o.Required != nil {
		j.Required = &o.Required
	}
	if full {
		j.CreatedAt, j.UpdatedAt = isoTime(o.CreatedAt), isoTime(o.UpdatedAt)
		j.Self = "/v2/metadefs/namespaces/" + ns + "/objects/" + o.Name
		j.Schema = "/v2/schemas/metadefs/object"
	}
	return j
}

// storedObjectJSON is an object read back from the database: Glance's
// model turns a missing required into [] and missing properties into {}.
func storedObjectJSON(ns string, o *backends.MetadefObject) objectJSON {
	j := objectJSONOf(ns, o, true)
	if j.Required == nil {
		j.Required = &[]string{}
	}
	if j.Properties == nil {
		j.Properties = json.RawMessage("{}")
	}
	return j
}

type tagJSON struct {
	Name      string `json:"name"`
	CreatedAt string `json:"created_at,omitempty"`
	UpdatedAt string `json:"updated_at,omitempty"`
}

type namespaceJSON struct {
	Namespace    string          `json:"namespace"`
	DisplayName  *string         `json:"display_name,omitempty"`
	Description  *string         `json:"description,omitempty"`
	Visibility   string          `json:"visibility"`
	Protected    bool            `json:"protected"`
	Owner        *string         `json:"owner,omitempty"`
	CreatedAt    string          `json:"created_at"`
	UpdatedAt    string          `json:"updated_at,omitempty"`
	Associations []assocJSON     `json:"resource_type_associations,omitempty"`
	Properties   json.RawMessage `json:"properties,omitempty"`
	Objects      []objectJSON    `json:"objects,omitempty"`
	Tags         []tagJSON       `json:"tags,omitempty"`
	Self         string          `json:"self"`
	Schema       string          `json:"schema"`
}

func namespaceJSONOf(ns *backends.MetadefNamespace) namespaceJSON {
	j := namespaceJSON{
		Namespace: ns.Namespace, DisplayName: ns.DisplayName, Description: ns.Description,
		Visibility: ns.Visibility, Protected: ns.Protected,
		CreatedAt: isoTime(ns.CreatedAt), UpdatedAt: isoTime(ns.UpdatedAt),
		Self: "/v2/metadefs/namespaces/" + ns.Namespace, Schema: "/v2/schemas/metadefs/namespace",
	}
	if ns.Owner != "" {
		owner := ns.Owner
		j.Owner = &owner
	}
	return j
}

// propertiesJSON is the {name: schema, ...} object of properties; prefix
// is prepended to each name.
func propertiesJSON(props []*backends.MetadefProperty, prefix string) json.RawMessage {
	if len(props) == 0 {
		return nil
	}
	b := []byte{'{'}
	for i, p := range props {
		if i > 0 {
			b = append(b, ", "...)
		}
		b = appendJSONString(b, prefix+p.Name)
		b = append(b, ": "...)
		b = append(b, p.Schema...)
	}
	return append(b, '}')
}

// propertyJSON is a property shown alone: its name first, then its schema.
func propertyJSON(p *backends.MetadefProperty) []byte {
	b := append([]byte(`{"name": `), appendJSONString(nil, p.Name)...)
	schema := strings.TrimSpace(string(p.Schema))
	if inner := strings.TrimSpace(strings.TrimSuffix(strings.TrimPrefix(schema, "{"), "}")); inner != "" {
		b = append(b, ", "...)
		b = append(b, inner...)
	}
	return append(b, '}')
}

func (s *Server) writeJSON(c *call, status int, v any) {
	var b []byte
	switch x := v.(type) {
	case []byte:
		b = x
	default:
		// As Glance's jsonutils.dumps: <, > and & as they are.
		var buf bytes.Buffer
		enc := json.NewEncoder(&buf)
		enc.SetEscapeHTML(false)
		if err := enc.Encode(v); err != nil {
			writeError(c.ctx, err)
			return
		}
		b = bytes.TrimSuffix(buf.Bytes(), []byte("\n"))
	}
	if status != 0 {
		c.ctx.SetStatusCode(status)
	}
	c.ctx.Response.Header.SetContentTypeBytes(ctJSON)
	c.ctx.Response.SetBody(b)
}

// --- query parameters ------------------------------------------------------

type mdListParams struct {
	limit      int  // -1: none given
	hasMarker  bool // present (an empty marker counts for namespaces)
	marker     string
	sortKey    string
	desc       bool
	visibility string
}

// parseMetadefList is the index deserializers' checks. visibilities are
// the values the route accepts; limitPositive: a 0 limit is refused
// (objects); defaultLimit: the namespaces' limit_param_default.
func parseMetadefList(c *call, visibilities []string, zeroLimitOK bool, defaultLimit bool) (*mdListParams, error) {
	args := c.ctx.QueryArgs()
	if !validQuery(args) {
		return nil, errUndecodable
	}
	p := &mdListParams{limit: -1, sortKey: "created_at", desc: true}
	if v := args.Peek("sort_dir"); v != nil {
		switch string(v) {
		case "asc":
			p.desc = false
		case "desc":
		default:
			return nil, badRequest("Invalid sort direction: " + string(v))
		}
	}
	if v := args.Peek("sort_key"); v != nil {
		p.sortKey = string(v)
	}
	if v := args.Peek("visibility"); len(v) > 0 {
		ok := false
		for _, allowed := range visibilities {
			ok = ok || string(v) == allowed
		}
		if !ok {
			return nil, badRequest("Invalid visibility value: " + string(v))
		}
		p.visibility = string(v)
	}
	if v := args.Peek("marker"); v != nil {
		p.hasMarker, p.marker = true, string(v)
	}
	if v := args.Peek("limit"); v != nil || defaultLimit {
		n := defaultListLimit
		if v != nil {
			var err error
			if n, err = strconv.Atoi(strings.TrimSpace(string(v))); err != nil {
				// Glance's namespaces answer 500 here (int() before the
				// check); the others this.
				return nil, badRequest("limit param must be an integer")
			}
		}
		if defaultLimit {
			n = min(n, maxListLimit)
		}
		if n < 0 || (n == 0 && !zeroLimitOK) {
			return nil, badRequest("limit param must be positive")
		}
		p.limit = n
	}
	return p, nil
}

// --- namespaces --------------------------------------------------------------

func (s *Server) listNamespaces(c *call) {
	md, ok := s.metadefs(c)
	if !ok {
		return
	}
	p, err := parseMetadefList(c, []string{"public", "private"}, true, true)
	if err == nil {
		err = s.enforceAll(c, nil, policy.GetMetadefNamespaces, policy.ListMetadefResourceTypes)
	}
	if err != nil {
		writeError(c.ctx, err)
		return
	}
	q := &backends.NamespaceQuery{AllVisible: c.id.IsAdmin, Owner: c.id.ProjectID, Visibility: p.visibility, SortKey: p.sortKey, Desc: p.desc}
	if err == nil && p.hasMarker && p.marker != "" {
		var m *backends.MetadefNamespace
		if m, err = md.Namespace(c, p.marker); errors.Is(err, backends.ErrHidden) || (err == nil && !namespaceVisible(c, m)) {
			err = backends.Errorf(backends.ErrForbidden, "Forbidding request, metadata definition namespace="+p.marker+" is not visible.")
		}
		q.Marker = p.marker
	}
	if err != nil {
		writeError(c.ctx, err)
		return
	}
	if rts := c.ctx.QueryArgs().Peek("resource_types"); rts != nil {
		q.ResourceTypes = strings.Split(string(rts), ",")
	}
	var list []*backends.MetadefNamespace
	if p.limit != 0 {
		q.Limit = p.limit
		if list, err = md.ListNamespaces(c, q); err != nil {
			writeError(c.ctx, err)
			return
		}
	}
	out := []namespaceJSON{}
	last := ""
	shown := 0
	for _, ns := range list {
		if !s.checkMetadef(c, policy.GetMetadefNamespace, ns) {
			continue
		}
		shown++
		last = ns.Namespace
		j := namespaceJSONOf(ns)
		assocs, err := md.ResourceTypeAssociations(c, ns.Namespace)
		if err != nil && !errors.Is(err, backends.ErrNotFound) {
			writeError(c.ctx, err)
			return
		}
		for _, a := range assocs {
			j.Associations = append(j.Associations, assocOf(a, true))
		}
		out = append(out, j)
	}
	if shown == 0 || shown != p.limit {
		last = ""
	}
	b, err := json.Marshal(out)
	if err != nil {
		writeError(c.ctx, err)
		return
	}
	b = append([]byte(`{"namespaces": `), b[:len(b)-1]...)
	b = appendPageLinks(b, "metadefs/namespaces", c.ctx.QueryArgs(), last)
	s.writeJSON(c, 0, b)
}

func (s *Server) createNamespace(c *call) {
	md, ok := s.metadefs(c)
	if !ok {
		return
	}
	body, err := s.jsonBody(c)
	var content *backends.MetadefNamespaceContent
	if err == nil {
		content, err = ParseNamespace(body)
	}
	if err == nil {
		err = s.enforceMetadef(c, policy.AddMetadefNamespace, nil)
	}
	if err == nil && len(content.Associations) > 0 {
		err = s.enforceMetadef(c, policy.AddMetadefResourceTypeAssociation, nil)
	}
	if err == nil && len(content.Objects) > 0 {
		err = s.enforceMetadef(c, policy.AddMetadefObject, nil)
	}
	if err == nil && len(content.Properties) > 0 {
		err = s.enforceMetadef(c, policy.AddMetadefProperty, nil)
	}
	if err == nil && len(content.Tags) > 0 {
		err = s.enforceMetadef(c, policy.AddMetadefTag, nil)
	}
	if err != nil {
		writeError(c.ctx, err)
		return
	}
	if content.Owner == "" && !bodyHasKey(body, "owner") {
		// Glance: the caller's project unless the body names one.
		content.Owner = c.id.ProjectID
	}
	if content.Visibility == "" {
		content.Visibility = "private"
	}
	ns, err := md.CreateNamespace(c, content)
	if err != nil {
		writeError(c.ctx, err)
		return
	}
	// The answer echoes what the request asked for, as Glance's does.
	j := namespaceJSONOf(ns)
	for _, a := range content.Associations {
		j.Associations = append(j.Associations, assocOf(a, false))
	}
	j.Properties = propertiesJSON(content.Properties, "")
	for _, o := range content.Objects {
		j.Objects = append(j.Objects, objectJSONOf(ns.Namespace, o, false))
	}
	for _, t := range content.Tags {
		j.Tags = append(j.Tags, tagJSON{Name: t.Name})
	}
	c.ctx.Response.Header.Set("Location", hostURL(c.ctx)+"/v2/metadefs/namespaces/"+ns.Namespace)
	s.writeJSON(c, 201, j)
}

// bodyHasKey reports whether a JSON object body has key (even as "").
func bodyHasKey(body []byte, key string) bool {
	var m map[string]json.RawMessage
	if json.Unmarshal(body, &m) != nil {
		return false
	}
	_, ok := m[key]
	return ok
}

func (s *Server) showNamespace(c *call, name string) {
	md, ok := s.metadefsNoBody(c)
	if !ok {
		return
	}
	args := c.ctx.QueryArgs()
	if !validQuery(args) {
		writeError(c.ctx, errUndecodable)
		return
	}
	if v := args.Peek("visibility"); len(v) > 0 && string(v) != "public" && string(v) != "private" {
		writeError(c.ctx, badRequest("Invalid visibility value: "+string(v)))
		return
	}
	ns, err := s.findNamespace(c, md, name, missShow)
	if err == nil {
		if err = s.enforceMetadef(c, policy.GetMetadefNamespace, ns); err != nil {
			err = errHidden
		}
	}
	if err == nil {
		err = s.enforceAll(c, ns, policy.ListMetadefResourceTypes, policy.GetMetadefObjects, policy.GetMetadefProperties, policy.GetMetadefTags)
	}
	if err != nil {
		writeError(c.ctx, err)
		return
	}
	j := namespaceJSONOf(ns)
	objs, err := md.MetadefObjects(c, name)
	if err != nil {
		writeError(c.ctx, err)
		return
	}
	assocs, err := md.ResourceTypeAssociations(c, name)
	if err != nil {
		writeError(c.ctx, err)
		return
	}
	props, err := md.MetadefProperties(c, name)
	if err != nil {
		writeError(c.ctx, err)
		return
	}
	tags, err := md.MetadefTags(c, name, &backends.TagQuery{Desc: true})
	if err != nil {
		writeError(c.ctx, err)
		return
	}
	for _, a := range assocs {
		j.Associations = append(j.Associations, assocOf(a, true))
	}
	// _prefix_property_name: with ?resource_type= naming an association
	// that has a prefix, property names (and objects' required) get it.
	prefix := ""
	if rt := args.Peek("resource_type"); len(rt) > 0 {
		for _, a := range assocs {
			if a.Name == string(rt) {
				if a.Prefix != nil {
					prefix = *a.Prefix
				}
				break
			}
		}
	}
	for _, o := range objs {
		oj := storedObjectJSON(name, o)
		if prefix != "" {
			oj.Properties = prefixedProperties(o.Properties, prefix)
			if len(o.Required) > 0 {
				req := make([]string, len(o.Required))
				for i, r := range o.Required {
					req[i] = prefix + r
				}
				oj.Required = &req
			}
		}
		j.Objects = append(j.Objects, oj)
	}
	j.Properties = propertiesJSON(props, prefix)
	for _, t := range tags {
		j.Tags = append(j.Tags, tagJSON{Name: t.Name})
	}
	s.writeJSON(c, 0, j)
}

// prefixedProperties renames an object's properties with prefix. Glance
// iterates object.properties.items(), which fails on an object without
// properties; an empty object stays empty here.
func prefixedProperties(raw json.RawMessage, prefix string) json.RawMessage {
	if raw == nil {
		return json.RawMessage("{}")
	}
	var m map[string]json.RawMessage
	if json.Unmarshal(raw, &m) != nil {
		return raw
	}
	out := make(map[string]json.RawMessage, len(m))
	for k, v := range m {
		out[prefix+k] = v
	}
	b, _ := json.Marshal(out)
	return b
}

func (s *Server) updateNamespace(c *call, name string) {
	var content *backends.MetadefNamespaceContent
	read := readBody(s, c, ParseNamespace, &content)
	md, _, ok := s.inNamespace(c, name, false, read, missAny, policy.ModifyMetadefNamespace)
	if !ok {
		return
	}
	ns := content.MetadefNamespace
	if ns.Visibility == "" {
		ns.Visibility = "private"
	}
	if ns.Owner == "" {
		ns.Owner = c.id.ProjectID
	}
	out, err := md.UpdateNamespace(c, name, &ns)
	if err != nil {
		writeError(c.ctx, err)
		return
	}
	s.writeJSON(c, 200, namespaceJSONOf(out))
}

func (s *Server) deleteNamespace(c *call, name string) {
	if md, _, ok := s.inNamespace(c, name, true, nil, missAny, policy.DeleteMetadefNamespace); ok {
		noContentOr(c, md.DeleteNamespace(c, name))
	}
}

// deleteNamespaceContent is DELETE .../objects, .../properties, .../tags.
func (s *Server) deleteNamespaceContent(c *call, name, kind string) {
	md, ns, ok := s.inNamespace(c, name, false, nil, missAny, policy.DeleteMetadefNamespace)
	if !ok {
		return
	}
	var err error
	if kind == backends.MetadefTags {
		err = s.enforceMetadef(c, policy.DeleteMetadefTags, ns)
	}
	if err == nil {
		err = md.DeleteNamespaceContent(c, name, kind)
	}
	noContentOr(c, err)
}

// --- objects -----------------------------------------------------------------

func (s *Server) listMetadefObjects(c *call, ns string) {
	read := func() error {
		_, err := parseMetadefList(c, []string{"public", "private", "shared"}, false, false)
		return err
	}
	md, cur, ok := s.inNamespace(c, ns, false, read, missObjects, policy.GetMetadefObjects)
	if !ok {
		return
	}
	objs, err := md.MetadefObjects(c, ns)
	if err != nil {
		writeError(c.ctx, err)
		return
	}
	type objectsJSON struct {
		Objects []objectJSON `json:"objects"`
		Schema  string       `json:"schema"`
	}
	out := objectsJSON{Objects: []objectJSON{}, Schema: "v2/schemas/metadefs/objects"}
	if s.checkMetadef(c, policy.GetMetadefObject, cur) {
		for _, o := range objs {
			out.Objects = append(out.Objects, storedObjectJSON(ns, o))
		}
	}
	s.writeJSON(c, 0, out)
}

// --- properties --------------------------------------------------------------

func (s *Server) listMetadefProperties(c *call, ns string) {
	md, _, ok := s.inNamespace(c, ns, true, nil, missAny, policy.GetMetadefProperties)
	if !ok {
		return
	}
	props, err := md.MetadefProperties(c, ns)
	if err != nil {
		writeError(c.ctx, err)
		return
	}
	all := propertiesJSON(props, "")
	if all == nil {
		all = json.RawMessage("{}")
	}
	s.writeJSON(c, 0, append(append([]byte(`{"properties": `), all...), '}'))
}

// unprefixed is the property's name without the prefix of its namespace's
// association with resource type rt.
func (s *Server) unprefixed(c *call, md Metadefs, ns, rt, name string) (string, error) {
	types, err := md.ResourceTypes(c)
	if err != nil {
		return "", err
	}
	known := false
	for _, t := range types {
		known = known || t.Name == rt
	}
	if !known {
		return "", backends.Errorf(backends.ErrNotFound, "The metadata definition resource-type with name="+rt+", was not found.")
	}
	assocs, err := md.ResourceTypeAssociations(c, ns)
	if err != nil {
		return "", err
	}
	for _, a := range assocs {
		if a.Name != rt {
			continue
		}
		prefix := ""
		if a.Prefix != nil {
			prefix = *a.Prefix
		}
		if prefix != "" && strings.HasPrefix(name, prefix) {
			return name[len(prefix):], nil
		}
		pr := "None"
		if a.Prefix != nil {
			pr = *a.Prefix
		}
		return "", backends.Errorf(backends.ErrNotFound, "Property "+name+" does not start with the expected resource type association prefix of '"+pr+"'.")
	}
	return "", backends.Errorf(backends.ErrNotFound, "The metadata definition resource-type association of resource-type="+rt+" to namespace="+ns+", was not found.")
}

// --- tags ----------------------------------------------------------------------

type tagsJSON struct {
	Tags []tagJSON `json:"tags"`
}

func (s *Server) listMetadefTags(c *call, ns string) {
	var p *mdListParams
	read := func() (err error) {
		p, err = parseMetadefList(c, []string{"public", "private", "shared"}, true, false)
		return err
	}
	md, _, ok := s.inNamespace(c, ns, false, read, missAny, policy.GetMetadefTags)
	if !ok {
		return
	}
	q := &backends.TagQuery{SortKey: p.sortKey, Desc: p.desc, Marker: p.marker, Limit: p.limit}
	if p.limit == 0 {
		// Glance: a 0 limit ("0" is a true string) asks for no row.
		q.Limit = -1
	}
	tags, err := md.MetadefTags(c, ns, q)
	if err != nil {
		writeError(c.ctx, err)
		return
	}
	out := tagsJSON{Tags: []tagJSON{}}
	if p.limit != 0 {
		for _, t := range tags {
			out.Tags = append(out.Tags, tagJSON{Name: t.Name})
		}
	}
	s.writeJSON(c, 0, out)
}

func tagJSONOf(t *backends.MetadefTag) tagJSON {
	return tagJSON{Name: t.Name, CreatedAt: isoTime(t.CreatedAt), UpdatedAt: isoTime(t.UpdatedAt)}
}

// createMetadefTag is POST .../tags/{name}: the one item route whose
// steps inNamespace cannot run, for Glance checks the name (the URL's, as
// there is no body) between finding the namespace and the rule.
func (s *Server) createMetadefTag(c *call, ns, name string) {
	k := metadefTagKind
	md, ok := s.metadefsNoBody(c)
	if !ok {
		return
	}
	cur, err := s.findNamespace(c, md, ns, k.miss)
	if err == nil {
		err = ValidateTagName(name)
	}
	if err == nil {
		err = s.enforceMetadef(c, k.rules[itemCreate], cur)
	}
	var t *backends.MetadefTag
	if err == nil {
		t, err = md.CreateMetadefTag(c, ns, name)
	}
	if err != nil {
		writeError(c.ctx, err)
		return
	}
	s.writeJSON(c, 201, k.render(ns, t, false))
}

func (s *Server) createMetadefTags(c *call, ns string) {
	var names []string
	read := readBody(s, c, ParseMetadefTags, &names)
	md, _, ok := s.inNamespace(c, ns, false, read, missAny, policy.AddMetadefTags)
	if !ok {
		return
	}
	if _, err := md.CreateMetadefTags(c, ns, names, boolFromString(string(c.ctx.Request.Header.Peek("X-Openstack-Append")))); err != nil {
		writeError(c.ctx, err)
		return
	}
	out := tagsJSON{Tags: []tagJSON{}}
	for _, n := range names {
		out.Tags = append(out.Tags, tagJSON{Name: n})
	}
	s.writeJSON(c, 201, out)
}

// boolFromString is oslo's strutils.bool_from_string, not strict.
func boolFromString(v string) bool {
	switch strings.ToLower(strings.TrimSpace(v)) {
	case "1", "t", "true", "on", "y", "yes":
		return true
	}
	return false
}

// --- resource types --------------------------------------------------------------

func (s *Server) listResourceTypes(c *call) {
	md, ok := s.metadefsNoBody(c)
	if !ok {
		return
	}
	err := s.enforceMetadef(c, policy.ListMetadefResourceTypes, nil)
	var types []*backends.MetadefResourceType
	if err == nil {
		types, err = md.ResourceTypes(c)
	}
	if err != nil {
		writeError(c.ctx, err)
		return
	}
	type rtJSON struct {
		Name      string `json:"name"`
		CreatedAt string `json:"created_at"`
		UpdatedAt string `json:"updated_at,omitempty"`
	}
	out := struct {
		ResourceTypes []rtJSON `json:"resource_types"`
	}{ResourceTypes: []rtJSON{}}
	for _, t := range types {
		out.ResourceTypes = append(out.ResourceTypes, rtJSON{t.Name, isoTime(t.CreatedAt), isoTime(t.UpdatedAt)})
	}
	s.writeJSON(c, 0, out)
}

func (s *Server) listAssociations(c *call, ns string) {
	md, cur, ok := s.inNamespace(c, ns, true, nil, missAny, policy.ListMetadefResourceTypes)
	if !ok {
		return
	}
	assocs, err := md.ResourceTypeAssociations(c, ns)
	if err != nil {
		writeError(c.ctx, err)
		return
	}
	out := struct {
		Associations []assocJSON `json:"resource_type_associations"`
	}{Associations: []assocJSON{}}
	if s.checkMetadef(c, policy.GetMetadefResourceType, cur) {
		for _, a := range assocs {
			out.Associations = append(out.Associations, assocOf(a, true))
		}
	}
	s.writeJSON(c, 0, out)
}

func (s *Server) createAssociation(c *call, ns string) {
	var a *backends.MetadefAssociation
	read := readBody(s, c, ParseResourceTypeAssociation, &a)
	md, _, ok := s.inNamespace(c, ns, false, read, missAny, policy.AddMetadefResourceTypeAssociation)
	if !ok {
		return
	}
	a, err := md.CreateResourceTypeAssociation(c, ns, a)
	if err != nil {
		writeError(c.ctx, err)
		return
	}
	s.writeJSON(c, 201, assocOf(a, true))
}

func (s *Server) deleteAssociation(c *call, ns, rt string) {
	if md, _, ok := s.inNamespace(c, ns, true, nil, missAny, policy.RemoveMetadefResourceTypeAssociation); ok {
		noContentOr(c, md.DeleteResourceTypeAssociation(c, ns, rt))
	}
}

// noContentOr answers err, or with nothing (a delete's answer).
func noContentOr(c *call, err error) {
	if err != nil {
		writeError(c.ctx, err)
		return
	}
	noContent(c)
}

// noContent is webob's empty 204, with the Content-Type it keeps.
func noContent(c *call) {
	c.ctx.SetStatusCode(204)
	c.ctx.Response.Header.SetContentType("text/html; charset=UTF-8")
}
