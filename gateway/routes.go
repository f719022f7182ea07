package gateway

import (
	"bytes"
	"strings"

	"github.com/valyala/fasthttp"

	"github.com/spyglass-gateway/spyglass/backends"
	"github.com/spyglass-gateway/spyglass/policy"
)

// routeSpec is one row of the route table: a method at a path template.
// The template is also the route's id: the name of its spans ("GET
// /v2/images/{image_id}") and its http.route attribute and metric label,
// whatever version prefix the request used (/v2.16/images is
// /v2/images), so their cardinality is bounded by this table.
type routeSpec struct {
	method string // "GET", "POST", ...: exactly (a HEAD is not a GET)
	path   string // "/v2/images/{image_id}": the API's major version, then literals and {placeholders}

	// rule is the policy rule that decides who may take the route, as its
	// handler enforces it (on the image, or on {}; the refusals worded as
	// Glance words them; TestRouteRules holds the two to each other);
	// ruled false: the route has none of its own.
	rule  policy.Rule
	ruled bool

	// tail: the last placeholder takes every segment left (a schema's
	// name: /v2/schemas/metadefs/namespace).
	tail bool

	// handle answers the request; a holds the placeholders' values in
	// the template's order.
	handle func(s *Server, c *call, a routeArgs)
}

// routeTable is every route of the Images API, in matching order: a
// request takes the first row whose template and method match; when a
// template matches and no row's method does, the answer is a 405 whose
// Allow lists that template's methods in table order (Glance's
// reject_method_resource). /cache/{image_id} comes before /cache/clean
// and /cache/prune so that their other methods answer as Glance's
// /cache/{image_id} does (Allow: DELETE, PUT).
//
// What comes before a route is matched (/healthcheck, /versions, version
// negotiation and the bare version prefix) is serve's, with the fixed ids
// of pseudoRoutes.
var routeTable = [...]routeSpec{
	{method: "GET", path: "/v2/images", rule: policy.GetImages, ruled: true, handle: func(s *Server, c *call, a routeArgs) { s.listImages(c) }},
	{method: "POST", path: "/v2/images", rule: policy.AddImage, ruled: true, handle: func(s *Server, c *call, a routeArgs) { s.createImage(c) }},
	{method: "GET", path: "/v2/images/{image_id}", rule: policy.GetImage, ruled: true, handle: func(s *Server, c *call, a routeArgs) { s.showImage(c, a[0]) }},
	{method: "PATCH", path: "/v2/images/{image_id}", rule: policy.ModifyImage, ruled: true, handle: func(s *Server, c *call, a routeArgs) { s.updateImage(c, string(a[0])) }},
	{method: "DELETE", path: "/v2/images/{image_id}", rule: policy.DeleteImage, ruled: true, handle: func(s *Server, c *call, a routeArgs) { s.deleteImage(c, string(a[0])) }},
	{method: "GET", path: "/v2/images/{image_id}/file", rule: policy.DownloadImage, ruled: true, handle: func(s *Server, c *call, a routeArgs) { s.download(c, string(a[0])) }},
	{method: "PUT", path: "/v2/images/{image_id}/file", rule: policy.UploadImage, ruled: true, handle: func(s *Server, c *call, a routeArgs) { s.upload(c, string(a[0])) }},
	{method: "PUT", path: "/v2/images/{image_id}/stage", rule: policy.ModifyImage, ruled: true, handle: func(s *Server, c *call, a routeArgs) { s.stage(c, string(a[0])) }},
	{method: "POST", path: "/v2/images/{image_id}/import", rule: policy.ModifyImage, ruled: true, handle: func(s *Server, c *call, a routeArgs) { s.importImage(c, string(a[0])) }},
	{method: "GET", path: "/v2/images/{image_id}/tasks", rule: policy.GetImage, ruled: true, handle: func(s *Server, c *call, a routeArgs) { s.imageTasks(c, string(a[0])) }},
	{method: "POST", path: "/v2/images/{image_id}/actions/deactivate", rule: policy.Deactivate, ruled: true, handle: func(s *Server, c *call, a routeArgs) { s.imageAction(c, string(a[0]), "deactivate") }},
	{method: "POST", path: "/v2/images/{image_id}/actions/reactivate", rule: policy.Reactivate, ruled: true, handle: func(s *Server, c *call, a routeArgs) { s.imageAction(c, string(a[0]), "reactivate") }},
	{method: "PUT", path: "/v2/images/{image_id}/tags/{tag_value}", rule: policy.ModifyImage, ruled: true, handle: func(s *Server, c *call, a routeArgs) { s.addTag(c, string(a[0]), string(a[1])) }},
	{method: "DELETE", path: "/v2/images/{image_id}/tags/{tag_value}", rule: policy.ModifyImage, ruled: true, handle: func(s *Server, c *call, a routeArgs) { s.deleteTag(c, string(a[0]), string(a[1])) }},
	{method: "GET", path: "/v2/images/{image_id}/members", rule: policy.GetMembers, ruled: true, handle: func(s *Server, c *call, a routeArgs) { s.listMembers(c, string(a[0])) }},
	{method: "POST", path: "/v2/images/{image_id}/members", rule: policy.AddMember, ruled: true, handle: func(s *Server, c *call, a routeArgs) { s.addMember(c, string(a[0])) }},
	{method: "GET", path: "/v2/images/{image_id}/members/{member_id}", rule: policy.GetMember, ruled: true, handle: func(s *Server, c *call, a routeArgs) { s.getMember(c, string(a[0]), string(a[1])) }},
	{method: "PUT", path: "/v2/images/{image_id}/members/{member_id}", rule: policy.ModifyMember, ruled: true, handle: func(s *Server, c *call, a routeArgs) { s.updateMember(c, string(a[0]), string(a[1])) }},
	{method: "DELETE", path: "/v2/images/{image_id}/members/{member_id}", rule: policy.DeleteMember, ruled: true, handle: func(s *Server, c *call, a routeArgs) { s.deleteMember(c, string(a[0]), string(a[1])) }},
	{method: "GET", path: "/v2/schemas/{schema}", tail: true, handle: func(s *Server, c *call, a routeArgs) { s.getSchema(c, a[0]) }},
	{method: "GET", path: "/v2/tasks", rule: policy.TasksAPIAccess, ruled: true, handle: func(s *Server, c *call, a routeArgs) { s.listTasks(c) }},
	{method: "POST", path: "/v2/tasks", rule: policy.TasksAPIAccess, ruled: true, handle: func(s *Server, c *call, a routeArgs) { s.createTask(c) }},
	{method: "GET", path: "/v2/tasks/{task_id}", rule: policy.TasksAPIAccess, ruled: true, handle: func(s *Server, c *call, a routeArgs) { s.getTask(c, string(a[0])) }},
	{method: "DELETE", path: "/v2/tasks/{task_id}", handle: func(s *Server, c *call, a routeArgs) { s.deleteTask(c) }},
	{method: "GET", path: "/v2/cache", rule: policy.CacheList, ruled: true, handle: func(s *Server, c *call, a routeArgs) { s.cacheState(c) }},
	{method: "DELETE", path: "/v2/cache", rule: policy.CacheDelete, ruled: true, handle: func(s *Server, c *call, a routeArgs) { s.clearCache(c) }},
	{method: "DELETE", path: "/v2/cache/{image_id}", rule: policy.CacheDelete, ruled: true, handle: func(s *Server, c *call, a routeArgs) { s.deleteCachedImage(c, string(a[0])) }},
	{method: "PUT", path: "/v2/cache/{image_id}", rule: policy.CacheImage, ruled: true, handle: func(s *Server, c *call, a routeArgs) { s.queueImage(c, string(a[0])) }},
	{method: "POST", path: "/v2/cache/clean", rule: policy.ManageImageCache, ruled: true, handle: func(s *Server, c *call, a routeArgs) { s.cleanOrPrune(c, "clean") }},
	{method: "POST", path: "/v2/cache/prune", rule: policy.ManageImageCache, ruled: true, handle: func(s *Server, c *call, a routeArgs) { s.cleanOrPrune(c, "prune") }},
	// /v2/info/{info} answers import, stores and usage, and 404 for any
	// other name (after its 405: a POST to any name is a 405).
	{method: "GET", path: "/v2/info/{info}", handle: func(s *Server, c *call, a routeArgs) { s.getInfo(c, a[0]) }},
	{method: "GET", path: "/v2/info/stores/detail", rule: policy.StoresInfoDetail, ruled: true, handle: func(s *Server, c *call, a routeArgs) { s.getInfo(c, nil) }},

	// The metadata definitions (metadefs.go), in the order of Glance's
	// router; each handler enforces its rule on the namespace
	// (MetadefAPIPolicy), so none is ruled here.
	{method: "GET", path: "/v2/metadefs/resource_types", handle: func(s *Server, c *call, a routeArgs) { s.listResourceTypes(c) }},
	{method: "GET", path: "/v2/metadefs/namespaces/{namespace}/resource_types", handle: func(s *Server, c *call, a routeArgs) { s.listAssociations(c, string(a[0])) }},
	{method: "POST", path: "/v2/metadefs/namespaces/{namespace}/resource_types", handle: func(s *Server, c *call, a routeArgs) { s.createAssociation(c, string(a[0])) }},
	{method: "DELETE", path: "/v2/metadefs/namespaces/{namespace}/resource_types/{resource_type}", handle: func(s *Server, c *call, a routeArgs) { s.deleteAssociation(c, string(a[0]), string(a[1])) }},
	{method: "GET", path: "/v2/metadefs/namespaces", handle: func(s *Server, c *call, a routeArgs) { s.listNamespaces(c) }},
	{method: "POST", path: "/v2/metadefs/namespaces", handle: func(s *Server, c *call, a routeArgs) { s.createNamespace(c) }},
	{method: "GET", path: "/v2/metadefs/namespaces/{namespace}", handle: func(s *Server, c *call, a routeArgs) { s.showNamespace(c, string(a[0])) }},
	{method: "PUT", path: "/v2/metadefs/namespaces/{namespace}", handle: func(s *Server, c *call, a routeArgs) { s.updateNamespace(c, string(a[0])) }},
	{method: "DELETE", path: "/v2/metadefs/namespaces/{namespace}", handle: func(s *Server, c *call, a routeArgs) { s.deleteNamespace(c, string(a[0])) }},
	{method: "GET", path: "/v2/metadefs/namespaces/{namespace}/properties", handle: func(s *Server, c *call, a routeArgs) { s.listMetadefProperties(c, string(a[0])) }},
	{method: "POST", path: "/v2/metadefs/namespaces/{namespace}/properties", handle: func(s *Server, c *call, a routeArgs) { createItem(s, c, metadefPropertyKind, string(a[0])) }},
	{method: "DELETE", path: "/v2/metadefs/namespaces/{namespace}/properties", handle: func(s *Server, c *call, a routeArgs) {
		s.deleteNamespaceContent(c, string(a[0]), backends.MetadefProperties)
	}},
	{method: "GET", path: "/v2/metadefs/namespaces/{namespace}/properties/{property_name}", handle: func(s *Server, c *call, a routeArgs) { showItem(s, c, metadefPropertyKind, string(a[0]), string(a[1])) }},
	{method: "PUT", path: "/v2/metadefs/namespaces/{namespace}/properties/{property_name}", handle: func(s *Server, c *call, a routeArgs) {
		updateItem(s, c, metadefPropertyKind, string(a[0]), string(a[1]))
	}},
	{method: "DELETE", path: "/v2/metadefs/namespaces/{namespace}/properties/{property_name}", handle: func(s *Server, c *call, a routeArgs) {
		deleteItem(s, c, metadefPropertyKind, string(a[0]), string(a[1]))
	}},
	{method: "GET", path: "/v2/metadefs/namespaces/{namespace}/objects", handle: func(s *Server, c *call, a routeArgs) { s.listMetadefObjects(c, string(a[0])) }},
	{method: "POST", path: "/v2/metadefs/namespaces/{namespace}/objects", handle: func(s *Server, c *call, a routeArgs) { createItem(s, c, metadefObjectKind, string(a[0])) }},
	{method: "DELETE", path: "/v2/metadefs/namespaces/{namespace}/objects", handle: func(s *Server, c *call, a routeArgs) {
		s.deleteNamespaceContent(c, string(a[0]), backends.MetadefObjects)
	}},
	{method: "GET", path: "/v2/metadefs/namespaces/{namespace}/objects/{object_name}", handle: func(s *Server, c *call, a routeArgs) { showItem(s, c, metadefObjectKind, string(a[0]), string(a[1])) }},
	{method: "PUT", path: "/v2/metadefs/namespaces/{namespace}/objects/{object_name}", handle: func(s *Server, c *call, a routeArgs) { updateItem(s, c, metadefObjectKind, string(a[0]), string(a[1])) }},
	{method: "DELETE", path: "/v2/metadefs/namespaces/{namespace}/objects/{object_name}", handle: func(s *Server, c *call, a routeArgs) { deleteItem(s, c, metadefObjectKind, string(a[0]), string(a[1])) }},
	{method: "GET", path: "/v2/metadefs/namespaces/{namespace}/tags", handle: func(s *Server, c *call, a routeArgs) { s.listMetadefTags(c, string(a[0])) }},
	{method: "POST", path: "/v2/metadefs/namespaces/{namespace}/tags", handle: func(s *Server, c *call, a routeArgs) { s.createMetadefTags(c, string(a[0])) }},
	{method: "DELETE", path: "/v2/metadefs/namespaces/{namespace}/tags", handle: func(s *Server, c *call, a routeArgs) { s.deleteNamespaceContent(c, string(a[0]), backends.MetadefTags) }},
	{method: "GET", path: "/v2/metadefs/namespaces/{namespace}/tags/{tag_name}", handle: func(s *Server, c *call, a routeArgs) { showItem(s, c, metadefTagKind, string(a[0]), string(a[1])) }},
	{method: "POST", path: "/v2/metadefs/namespaces/{namespace}/tags/{tag_name}", handle: func(s *Server, c *call, a routeArgs) { s.createMetadefTag(c, string(a[0]), string(a[1])) }},
	{method: "PUT", path: "/v2/metadefs/namespaces/{namespace}/tags/{tag_name}", handle: func(s *Server, c *call, a routeArgs) { updateItem(s, c, metadefTagKind, string(a[0]), string(a[1])) }},
	{method: "DELETE", path: "/v2/metadefs/namespaces/{namespace}/tags/{tag_name}", handle: func(s *Server, c *call, a routeArgs) { deleteItem(s, c, metadefTagKind, string(a[0]), string(a[1])) }},

	// The Images API v1 reads (v1images.go), with Config.EnableV1:
	// Queens' glance/api/v1/router.py, whose /images/detail comes before
	// /images/{id}. HEAD /v1/images is a 405 there too (its route is GET
	// only).
	{method: "GET", path: "/v1/images", rule: policy.GetImages, ruled: true, handle: func(s *Server, c *call, a routeArgs) { s.v1ListImages(c, false) }},
	{method: "GET", path: "/v1/images/detail", rule: policy.GetImages, ruled: true, handle: func(s *Server, c *call, a routeArgs) { s.v1ListImages(c, true) }},
	{method: "HEAD", path: "/v1/images/detail", handle: func(s *Server, c *call, a routeArgs) { s.v1DetailHead(c) }},
	{method: "HEAD", path: "/v1/images/{image_id}", rule: policy.GetImage, ruled: true, handle: func(s *Server, c *call, a routeArgs) { s.v1Meta(c, string(a[0])) }},
	{method: "GET", path: "/v1/images/{image_id}", rule: policy.DownloadImage, ruled: true, handle: func(s *Server, c *call, a routeArgs) { s.v1Show(c, string(a[0])) }},
	// The v1 writes (v1write.go), with the rules Queens' controller
	// enforced: add_image (images.py:912), modify_image (951),
	// delete_image (1119); publicize_image and upload_image as the
	// request asks for them (on v2's targets: v1Enforce says why).
	{method: "POST", path: "/v1/images", rule: policy.AddImage, ruled: true, handle: func(s *Server, c *call, a routeArgs) { s.v1Create(c) }},
	{method: "PUT", path: "/v1/images/{image_id}", rule: policy.ModifyImage, ruled: true, handle: func(s *Server, c *call, a routeArgs) { s.v1Update(c, string(a[0])) }},
	{method: "DELETE", path: "/v1/images/{image_id}", rule: policy.DeleteImage, ruled: true, handle: func(s *Server, c *call, a routeArgs) { s.v1Delete(c, string(a[0])) }},
	// The v1 members (v1members.go), with Queens' rules: get_members,
	// modify_member (v2's add_member under the current defaults:
	// v1MemberRule), delete_member; GET of one member is Queens' 405, and
	// /v1/shared-images has no rule.
	{method: "GET", path: "/v1/images/{image_id}/members", rule: policy.GetMembers, ruled: true, handle: func(s *Server, c *call, a routeArgs) { s.v1ListMembers(c, string(a[0])) }},
	{method: "PUT", path: "/v1/images/{image_id}/members", rule: policy.ModifyMember, ruled: true, handle: func(s *Server, c *call, a routeArgs) { s.v1ReplaceMembers(c, string(a[0])) }},
	{method: "GET", path: "/v1/images/{image_id}/members/{member_id}", handle: func(s *Server, c *call, a routeArgs) { s.v1ShowMember(c) }},
	{method: "PUT", path: "/v1/images/{image_id}/members/{member_id}", rule: policy.ModifyMember, ruled: true, handle: func(s *Server, c *call, a routeArgs) { s.v1ShareMember(c, string(a[0]), string(a[1])) }},
	{method: "DELETE", path: "/v1/images/{image_id}/members/{member_id}", rule: policy.DeleteMember, ruled: true, handle: func(s *Server, c *call, a routeArgs) { s.v1DeleteMember(c, string(a[0]), string(a[1])) }},
	{method: "GET", path: "/v1/shared-images/{member_id}", handle: func(s *Server, c *call, a routeArgs) { s.v1SharedImages(c, string(a[0])) }},
}

// routeID names a route template: an index into routeIDs. The first ones
// are serve's own (pseudoRoutes); then one per template of routeTable.
type routeID uint8

const (
	routeOther       routeID = iota // no route: unknown paths (404), unknown versions (300)
	routeRoot                       // "/" with no version: the version document (300)
	routeVersions                   // /versions
	routeHealthcheck                // /healthcheck
	routeVersionV2                  // the bare version prefix: /v2 (a redirect), /v2/ (404)
	routeVersionV1                  // /v1 (a redirect)
	numPseudoRoutes
)

var pseudoRoutes = [numPseudoRoutes]string{
	routeOther:       "other",
	routeRoot:        "/",
	routeVersions:    "/versions",
	routeHealthcheck: "/healthcheck",
	routeVersionV2:   "/v2",
	routeVersionV1:   "/v1",
}

// maxArgs is the most placeholders a template has.
const maxArgs = 2

// routeArgs are the values of a route's placeholders: slices of the
// request's path, passed by value so that neither the resolved route nor
// the call grows or escapes for them.
type routeArgs [maxArgs][]byte

// compiledRoute is a routeSpec ready to match.
type compiledRoute struct {
	*routeSpec
	id    routeID
	api   string         // "v2"
	segs  []string       // after the version; "" is a placeholder
	args  [maxArgs]uint8 // the placeholders' indexes in segs
	nargs uint8
	allow string // the Allow of this template's 405
}

// routes is routeTable compiled (at init: a malformed table panics, so no
// test or binary runs with one); routeIDs names every routeID.
var routes, routeIDs = compileRoutes(routeTable[:])

// routesByShape are the rows by API major version ("v2": 2) and number of
// segments after the version, in table order: a request compares its path
// with the few rows of its shape only.
var routesByShape = func() (t [3][maxSegments + 1][]*compiledRoute) {
	for i := range routes {
		r := &routes[i]
		major := r.api[1] - '0'
		for n := len(r.segs); n <= maxSegments; n++ {
			if n == len(r.segs) || r.tail {
				t[major][n] = append(t[major][n], r)
			}
		}
	}
	return t
}()

// numRoutes bounds routeID for the metrics' table.
const numRoutes = 48

func compileRoutes(table []routeSpec) ([]compiledRoute, []string) {
	ids := append([]string(nil), pseudoRoutes[:]...)
	idOf := map[string]routeID{}
	out := make([]compiledRoute, len(table))
	for i := range table {
		r := &table[i]
		parts := strings.Split(strings.TrimPrefix(r.path, "/"), "/")
		if !strings.HasPrefix(r.path, "/") || len(parts) < 2 || len(parts) > maxSegments {
			panic("gateway: route " + r.path + ": want /<version>/<1 to 7 segments>")
		}
		if len(parts[0]) != 2 || parts[0][0] != 'v' || parts[0][1] < '1' || parts[0][1] > '2' {
			panic("gateway: route " + r.path + ": the version is v1 or v2")
		}
		cr := compiledRoute{routeSpec: r, api: parts[0]}
		nargs := 0
		for j, p := range parts[1:] {
			if strings.HasPrefix(p, "{") && strings.HasSuffix(p, "}") {
				if nargs == maxArgs {
					panic("gateway: route " + r.path + ": more than maxArgs placeholders")
				}
				cr.args[nargs] = uint8(j)
				nargs++
				p = ""
			} else if p == "" || strings.ContainsAny(p, "{}") {
				panic("gateway: route " + r.path + ": malformed segment " + p)
			}
			cr.segs = append(cr.segs, p)
		}
		cr.nargs = uint8(nargs)
		if r.tail && (nargs == 0 || cr.segs[len(cr.segs)-1] != "") {
			panic("gateway: route " + r.path + ": tail needs a last placeholder")
		}
		id, ok := idOf[r.path]
		if !ok {
			id = routeID(len(ids))
			ids = append(ids, r.path)
			idOf[r.path] = id
		}
		cr.id = id
		out[i] = cr
	}
	if len(ids) > numRoutes {
		panic("gateway: more than numRoutes route templates")
	}
	// A template's Allow: its methods in table order.
	for i := range out {
		var allow []string
		for j := range out {
			if out[j].id == out[i].id {
				allow = append(allow, out[j].method)
			}
		}
		out[i].allow = strings.Join(allow, ", ")
	}
	return out, ids
}

// matches reports whether the segments after the version, as many as r's
// shape takes, fit r's template.
func (r *compiledRoute) matches(seg [][]byte) bool {
	for i, lit := range r.segs {
		if lit != "" && string(seg[i]) != lit {
			return false
		}
	}
	return true
}

// routeOutcome is what serve does with a request, decided from its path,
// method and Accept header alone.
type routeOutcome uint8

const (
	outRoute       routeOutcome = iota // a row of routeTable takes it
	outHealthcheck                     // /healthcheck: OK
	outVersions                        // /versions: 200 with the version document
	outChoices                         // no version served: 300 with the document
	outBareVersion                     // /v2: a redirect to /v2/; /v2/: 404
	outNotFound                        // 404
	outNotAllowed                      // 405 with the template's Allow
)

// resolved is a request's route, decided once (resolve) and read by the
// handler, its span and its metric.
type resolved struct {
	out   routeOutcome
	id    routeID
	route *compiledRoute // outRoute and outNotAllowed
	path  []byte         // the path as routed (requestPath)
	first []byte         // the path's first segment: the bare version's redirect names it
	args  routeArgs
}

// resolve decides the request's route: Glance's VersionNegotiationFilter
// ("versions"; else the version from a vnd.openstack.images-vX Accept
// header or the first path segment; an unknown one answers 300), then the
// route table. It allocates nothing (but requestPath's rare dot-segment
// copy).
func (s *Server) resolve(ctx *fasthttp.RequestCtx, rv *resolved) {
	path := requestPath(ctx)
	rv.path = path
	if bytes.Equal(path, []byte("/healthcheck")) {
		rv.out, rv.id = outHealthcheck, routeHealthcheck
		return
	}
	var segs [maxSegments][]byte
	n, ok := segments(path, &segs)
	if n > 0 && bytes.Equal(segs[0], []byte("versions")) {
		rv.out, rv.id = outVersions, routeVersions
		return
	}
	rest := segs[:n]
	var version []byte
	if accept := ctx.Request.Header.Peek("Accept"); bytes.HasPrefix(accept, []byte(vndPrefix)) {
		version = accept[len(vndPrefix):]
	} else if n > 0 {
		version, rest = segs[0], segs[1:n]
	}
	if !s.servesVersion(version) {
		rv.out, rv.id = outChoices, routeOther
		if n == 0 {
			rv.id = routeRoot
		}
		return
	}
	if len(rest) == 0 {
		rv.out, rv.id = outBareVersion, routeVersionV2
		if major(version) == 1 {
			rv.id = routeVersionV1
		}
		if n == 1 && path[len(path)-1] != '/' {
			rv.first = segs[0]
		}
		return
	}
	// Glance's routes are strict about trailing slashes.
	if !ok || path[len(path)-1] == '/' {
		rv.out, rv.id = outNotFound, routeOther
		return
	}
	m := ctx.Method()
	var shape *compiledRoute // the first row whose template matches
	for _, r := range routesByShape[major(version)][len(rest)] {
		if !r.matches(rest) {
			continue
		}
		if shape == nil {
			shape = r
		}
		if string(m) != r.method {
			continue
		}
		rv.out, rv.id, rv.route = outRoute, r.id, r
		for j := 0; j < int(r.nargs); j++ {
			rv.args[j] = rest[r.args[j]]
		}
		if r.tail {
			// The last placeholder takes the rest of the path: from
			// where its first segment starts (both slice path's array).
			last := rest[r.args[r.nargs-1]]
			rv.args[r.nargs-1] = path[cap(path)-cap(last):]
		}
		return
	}
	if shape != nil {
		rv.out, rv.id, rv.route = outNotAllowed, shape.id, shape
		return
	}
	rv.out, rv.id = outNotFound, routeOther
}

// major is a served version's major number: 2 for "v2" and "v2.16".
func major(version []byte) int {
	if len(version) < 2 || version[1] < '1' || version[1] > '2' {
		return 0 // no rows
	}
	return int(version[1] - '0')
}
