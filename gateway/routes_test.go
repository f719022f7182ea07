package gateway

import (
	"strings"
	"testing"
	"time"

	"github.com/valyala/fasthttp"

	"github.com/spyglass-gateway/spyglass/gateway/schemas"
)

// routeServer is enough of a Server to resolve routes: one serving every
// version (an image cache configured, v1 on).
var routeServer = &Server{cfg: Config{EnableV1: true}, versions: append(append([]schemas.Version(nil), schemas.APIVersions...), schemas.V1Versions...)}

func resolveFor(method, path, accept string) resolved {
	var ctx fasthttp.RequestCtx
	ctx.Request.Header.SetMethod(method)
	ctx.Request.SetRequestURI(path)
	if accept != "" {
		ctx.Request.Header.Set("Accept", accept)
	}
	var rv resolved
	routeServer.resolve(&ctx, &rv)
	return rv
}

// TestResolve: what serve does with a request, and the route id its span
// and metric carry, decided from the method, path and Accept header.
func TestResolve(t *testing.T) {
	const v2 = "application/vnd.openstack.images-v2"
	for _, c := range []struct {
		method, path, accept string
		out                  routeOutcome
		id, allow            string
	}{
		{"GET", "/", "", outChoices, "/", ""},
		{"GET", "/versions", "", outVersions, "/versions", ""},
		{"POST", "/versions/x", "", outVersions, "/versions", ""},
		{"GET", "/healthcheck", "", outHealthcheck, "/healthcheck", ""},
		{"GET", "/v2", "", outBareVersion, "/v2", ""},
		{"GET", "/v2/", "", outBareVersion, "/v2", ""},
		{"GET", "/", v2, outBareVersion, "/v2", ""},
		{"GET", "/v2.16/images", "", outRoute, "/v2/images", ""},
		{"HEAD", "/v2/images", "", outNotAllowed, "/v2/images", "GET, POST"},
		{"GET", "/v2/images/", "", outNotFound, "other", ""},
		{"GET", "/v2/images/4d0d7b9e-0ab3-4a8e-9e4b-07f2b1e0e9a1", "", outRoute, "/v2/images/{image_id}", ""},
		{"PUT", "/v2/images/x", "", outNotAllowed, "/v2/images/{image_id}", "GET, PATCH, DELETE"},
		{"GET", "/images/4d0d7b9e", v2, outRoute, "/v2/images/{image_id}", ""},
		{"GET", "/images/4d0d7b9e", v2 + ".1", outRoute, "/v2/images/{image_id}", ""},
		{"GET", "/v2/images", v2, outNotFound, "other", ""}, // the Accept header names the version: "v2" is the first segment
		{"GET", "/v2/images/x/file", "", outRoute, "/v2/images/{image_id}/file", ""},
		{"POST", "/v2/images/x/file", "", outNotAllowed, "/v2/images/{image_id}/file", "GET, PUT"},
		{"PUT", "/v2/images/x/stage", "", outRoute, "/v2/images/{image_id}/stage", ""},
		{"POST", "/v2/images/x/import", "", outRoute, "/v2/images/{image_id}/import", ""},
		{"GET", "/v2/images/x/tasks", "", outRoute, "/v2/images/{image_id}/tasks", ""},
		{"POST", "/v2/images/x/actions/deactivate", "", outRoute, "/v2/images/{image_id}/actions/deactivate", ""},
		{"GET", "/v2/images/x/actions/reactivate", "", outNotAllowed, "/v2/images/{image_id}/actions/reactivate", "POST"},
		{"POST", "/v2/images/x/actions/explode", "", outNotFound, "other", ""},
		{"PUT", "/v2/images/x/tags/some-tag", "", outRoute, "/v2/images/{image_id}/tags/{tag_value}", ""},
		{"GET", "/v2/images/x/tags/some-tag", "", outNotAllowed, "/v2/images/{image_id}/tags/{tag_value}", "PUT, DELETE"},
		{"GET", "/v2/images/x/members", "", outRoute, "/v2/images/{image_id}/members", ""},
		{"GET", "/v2/images/x/members/p2", "", outRoute, "/v2/images/{image_id}/members/{member_id}", ""},
		{"POST", "/v2/images/x/members/p2", "", outNotAllowed, "/v2/images/{image_id}/members/{member_id}", "GET, PUT, DELETE"},
		{"GET", "/v2/images/x/file/more", "", outNotFound, "other", ""},
		{"GET", "/v2/schemas/image", "", outRoute, "/v2/schemas/{schema}", ""},
		{"GET", "/v2/schemas/metadefs/namespace", "", outRoute, "/v2/schemas/{schema}", ""},
		{"POST", "/v2/schemas/image", "", outNotAllowed, "/v2/schemas/{schema}", "GET"},
		{"GET", "/v2/schemas", "", outNotFound, "other", ""},
		{"GET", "/v2/tasks", "", outRoute, "/v2/tasks", ""},
		{"DELETE", "/v2/tasks/t1", "", outRoute, "/v2/tasks/{task_id}", ""},
		{"PUT", "/v2/tasks/t1", "", outNotAllowed, "/v2/tasks/{task_id}", "GET, DELETE"},
		{"GET", "/v2/cache", "", outRoute, "/v2/cache", ""},
		{"POST", "/v2/cache", "", outNotAllowed, "/v2/cache", "GET, DELETE"},
		{"POST", "/v2/cache/clean", "", outRoute, "/v2/cache/clean", ""},
		{"POST", "/v2/cache/prune", "", outRoute, "/v2/cache/prune", ""},
		{"PUT", "/v2/cache/clean", "", outRoute, "/v2/cache/{image_id}", ""}, // an image named "clean"
		{"GET", "/v2/cache/clean", "", outNotAllowed, "/v2/cache/{image_id}", "DELETE, PUT"},
		{"PUT", "/v2/cache/x", "", outRoute, "/v2/cache/{image_id}", ""},
		{"POST", "/v2/cache/x", "", outNotAllowed, "/v2/cache/{image_id}", "DELETE, PUT"},
		{"GET", "/v2/info/stores", "", outRoute, "/v2/info/{info}", ""},
		{"POST", "/v2/info/anything", "", outNotAllowed, "/v2/info/{info}", "GET"},
		{"GET", "/v2/info/stores/detail", "", outRoute, "/v2/info/stores/detail", ""},
		{"GET", "/v2/info/x/y", "", outNotFound, "other", ""},
		{"GET", "/v9/images", "", outChoices, "other", ""},
		{"GET", "/images", v2 + "9", outChoices, "other", ""},
		{"GET", "/v2/a/b/c/d/e/f/g/h/i", "", outNotFound, "other", ""},
		{"GET", "/wp-login.php", "", outChoices, "other", ""},
		{"GET", "/v1/images", "", outRoute, "/v1/images", ""},
		{"HEAD", "/v1/images", "", outNotAllowed, "/v1/images", "GET, POST"},
		{"GET", "/v1.0/images/detail", "", outRoute, "/v1/images/detail", ""},
		{"HEAD", "/v1.1/images/detail", "", outRoute, "/v1/images/detail", ""},
		{"POST", "/v1/images/detail", "", outNotAllowed, "/v1/images/detail", "GET, HEAD"},
		{"HEAD", "/v1/images/x", "", outRoute, "/v1/images/{image_id}", ""},
		{"GET", "/images/x", "application/vnd.openstack.images-v1", outRoute, "/v1/images/{image_id}", ""},
		{"PATCH", "/v1/images/x", "", outNotAllowed, "/v1/images/{image_id}", "HEAD, GET, PUT, DELETE"},
		{"DELETE", "/v1/images/x", "", outRoute, "/v1/images/{image_id}", ""},
		{"POST", "/v1/images", "", outRoute, "/v1/images", ""},
		{"GET", "/v1", "", outBareVersion, "/v1", ""},
		{"GET", "/v1.2/images", "", outChoices, "other", ""},
		{"GET", "/v1/images/x/members", "", outRoute, "/v1/images/{image_id}/members", ""},
		{"POST", "/v1/images/x/members", "", outNotAllowed, "/v1/images/{image_id}/members", "GET, PUT"},
		{"PATCH", "/v1/images/x/members/p2", "", outNotAllowed, "/v1/images/{image_id}/members/{member_id}", "GET, PUT, DELETE"},
		{"GET", "/v1/shared-images/p2", "", outRoute, "/v1/shared-images/{member_id}", ""},
		{"GET", "/v1/images/x/members/p2/x", "", outNotFound, "other", ""},
		{"GET", "/v1/schemas/image", "", outNotFound, "other", ""}, // no v2 route under /v1
		{"GET", "/v2/images/detail", "", outRoute, "/v2/images/{image_id}", ""},
	} {
		rv := resolveFor(c.method, c.path, c.accept)
		allow := ""
		if rv.out == outNotAllowed {
			allow = rv.route.allow
		}
		if rv.out != c.out || routeIDs[rv.id] != c.id || allow != c.allow {
			t.Errorf("%s %s (Accept %q): outcome %d route %q Allow %q, want %d %q %q", c.method, c.path, c.accept,
				rv.out, routeIDs[rv.id], allow, c.out, c.id, c.allow)
		}
	}
}

// samplePath is a request path for r's template under prefix ("/v2",
// "/v2.1", "" with a vnd Accept header), each placeholder given its own
// value, and those values.
func samplePath(r *compiledRoute, prefix string) (string, []string) {
	var b strings.Builder
	b.WriteString(prefix)
	var args []string
	for i, lit := range r.segs {
		b.WriteByte('/')
		if lit != "" {
			b.WriteString(lit)
			continue
		}
		v := "arg" + string(rune('a'+i))
		if r.tail && len(args) == int(r.nargs)-1 {
			v += "/more" // a tail takes several segments
		}
		b.WriteString(v)
		args = append(args, v)
	}
	return b.String(), args
}

// TestRouteTable walks the table: every row is reached at its template,
// under every version prefix and by Accept header, with its placeholders'
// values; its id (span name and metric label alike) is its template; no
// two rows of one method can match one path.
func TestRouteTable(t *testing.T) {
	for i := range routes {
		r := &routes[i]
		if got, want := routeIDs[r.id], r.path; got != want {
			t.Errorf("row %d: id %q, want its template %q", i, got, want)
		}
		if got := requestAttributes(r.id, methodOf([]byte(r.method)), 200); got.Len() != 3 {
			t.Errorf("%s %s: %d metric attributes", r.method, r.path, got.Len())
		} else if v, _ := got.Value("http.route"); v.AsString() != r.path {
			t.Errorf("%s %s: metric label %q, want %q", r.method, r.path, v.AsString(), r.path)
		}
		if r.handle == nil {
			t.Errorf("%s %s: no handler", r.method, r.path)
		}
		for _, pfx := range []struct{ prefix, accept string }{
			{"/" + r.api, ""}, {"/" + r.api + ".1", ""}, {"", "application/vnd.openstack.images-" + r.api},
		} {
			path, args := samplePath(r, pfx.prefix)
			rv := resolveFor(r.method, path, pfx.accept)
			if rv.out != outRoute || rv.route != r {
				got := "none"
				if rv.route != nil {
					got = rv.route.method + " " + rv.route.path
				}
				t.Errorf("%s %s (Accept %q): routed to %s (outcome %d), want row %d", r.method, path, pfx.accept, got, rv.out, i)
				continue
			}
			for j, want := range args {
				if got := string(rv.args[j]); got != want {
					t.Errorf("%s %s: placeholder %d = %q, want %q", r.method, path, j, got, want)
				}
			}
		}
		for j := range routes[:i] {
			if o := &routes[j]; o.method == r.method && o.api == r.api && overlap(o, r) && !moreSpecific(o, r) {
				t.Errorf("%s %s and %s collide", r.method, o.path, r.path)
			}
		}
	}
}

// overlap reports whether some path matches both templates.
func overlap(a, b *compiledRoute) bool {
	if len(a.segs) != len(b.segs) && !(a.tail && len(b.segs) > len(a.segs)) && !(b.tail && len(a.segs) > len(b.segs)) {
		return false
	}
	for i := 0; i < len(a.segs) && i < len(b.segs); i++ {
		if a.segs[i] != "" && b.segs[i] != "" && a.segs[i] != b.segs[i] {
			return false
		}
	}
	return true
}

// moreSpecific reports whether template a, matched first, leaves b
// reachable: a has a literal wherever b does, and somewhere a literal where
// b has a placeholder (/v1/images/detail before /v1/images/{image_id}).
func moreSpecific(a, b *compiledRoute) bool {
	if len(a.segs) != len(b.segs) || a.tail || b.tail {
		return false
	}
	more := false
	for i := range a.segs {
		switch {
		case b.segs[i] != "" && a.segs[i] != b.segs[i]:
			return false
		case b.segs[i] == "" && a.segs[i] != "":
			more = true
		}
	}
	return more
}

// TestRouteTableCollision: overlap and moreSpecific find a collision (the
// test above can fail).
func TestRouteTableCollision(t *testing.T) {
	table := []routeSpec{
		{method: "GET", path: "/v2/images/{image_id}"},
		{method: "GET", path: "/v2/images/detail"},
		{method: "GET", path: "/v2/schemas/{schema}", tail: true},
		{method: "GET", path: "/v2/schemas/images/{x}"},
		{method: "GET", path: "/v2/images/{image_id}"},
	}
	rs, _ := compileRoutes(table)
	if !overlap(&rs[0], &rs[1]) || !overlap(&rs[2], &rs[3]) || overlap(&rs[0], &rs[2]) {
		t.Errorf("overlap: images %v, schemas %v, across %v", overlap(&rs[0], &rs[1]), overlap(&rs[2], &rs[3]), overlap(&rs[0], &rs[2]))
	}
	// A placeholder first shadows the literal after it; the other way
	// round both are reachable; the same template twice collides.
	if moreSpecific(&rs[0], &rs[1]) || !moreSpecific(&rs[1], &rs[0]) || moreSpecific(&rs[0], &rs[4]) || moreSpecific(&rs[2], &rs[3]) {
		t.Errorf("moreSpecific: %v %v %v %v", moreSpecific(&rs[0], &rs[1]), moreSpecific(&rs[1], &rs[0]), moreSpecific(&rs[0], &rs[4]), moreSpecific(&rs[2], &rs[3]))
	}
}

// templateWords are every literal a route id may hold: anything else in
// one would be the client's text (an id) in a span name or metric label.
var templateWords = map[string]bool{
	"": true, "healthcheck": true, "versions": true, "other": true, "v1": true, "v2": true, "images": true, "file": true,
	"stage": true, "import": true, "tasks": true, "members": true, "actions": true, "deactivate": true, "reactivate": true,
	"tags": true, "schemas": true, "cache": true, "clean": true, "prune": true, "info": true, "stores": true, "detail": true,
}

// FuzzResolve: any method, path and Accept header resolves to one of the
// route ids, never the client's own text, with a row exactly when one
// answers, and never panics.
func FuzzResolve(f *testing.F) {
	for _, s := range []string{
		"/", "/v2/images/0b2b3ea4-8d55-4c8e-9c1c-1d1e2f3a4b5c/file", "/v2.1/images/x/tags/some%20tag", "/v2/images/x/members/y",
		"//v2//images", "/v2/images/x/actions/deactivate", "/versions/", "/v2/cache/clean", "/v2/info/stores/detail",
		"/v2/schemas/metadefs//namespace", "/healthcheck", "/v2/", "/v2", "/images", "/v9/images", "/v2/images/a/b/c/d/e/f/g/h/i",
		"/v2/./images", "/v2/%2e%2e/images",
	} {
		f.Add("GET", s, "")
		f.Add("PUT", s, "application/vnd.openstack.images-v2")
		f.Add("POST", strings.TrimPrefix(strings.TrimPrefix(s, "/v2.1"), "/v2"), "application/vnd.openstack.images-v2.1")
	}
	f.Fuzz(func(t *testing.T, method, path, accept string) {
		if method == "" {
			method = "GET"
		}
		rv := resolveFor(method, path, accept)
		if int(rv.id) >= len(routeIDs) {
			t.Fatalf("%q: id %d", path, rv.id)
		}
		if (rv.route != nil) != (rv.out == outRoute || rv.out == outNotAllowed) {
			t.Fatalf("%q: outcome %d with row %v", path, rv.out, rv.route)
		}
		if rv.route != nil && rv.route.id != rv.id {
			t.Fatalf("%q: id %d, row's %d", path, rv.id, rv.route.id)
		}
		id := routeIDs[rv.id]
		for _, seg := range strings.Split(id, "/") {
			if !templateWords[seg] && !(strings.HasPrefix(seg, "{") && strings.HasSuffix(seg, "}")) {
				t.Fatalf("%q (Accept %q): route id %q holds %q", path, accept, id, seg)
			}
		}
	})
}

// BenchmarkObserve is what recording one request costs: series lookup,
// histogram bucket.
func BenchmarkObserve(b *testing.B) {
	rm := NewRequestMetrics()
	var ctx fasthttp.RequestCtx
	ctx.Request.SetRequestURI("/v2/images/4d0d7b9e-0ab3-4a8e-9e4b-07f2b1e0e9a1")
	ctx.Response.SetStatusCode(200)
	var rv resolved
	routeServer.resolve(&ctx, &rv)
	start := time.Now()
	b.ReportAllocs()
	for b.Loop() {
		rm.observe(&ctx, rv.id, start)
	}
}

// BenchmarkRouteResolve is what resolving a show's route costs: version
// negotiation and the table.
func BenchmarkRouteResolve(b *testing.B) {
	var ctx fasthttp.RequestCtx
	ctx.Request.SetRequestURI("/v2/images/4d0d7b9e-0ab3-4a8e-9e4b-07f2b1e0e9a1")
	ctx.Request.Header.Set("X-Auth-Token", "gAAAAABk")
	ctx.Request.Header.Set("Accept", "application/json")
	b.ReportAllocs()
	for b.Loop() {
		var rv resolved
		routeServer.resolve(&ctx, &rv)
		if rv.out != outRoute {
			b.Fatal(rv.out)
		}
	}
}
