package gateway

import (
	"testing"
	"time"

	"github.com/valyala/fasthttp"
)

func TestRouteOf(t *testing.T) {
	for _, c := range []struct {
		path, accept string
		want         route
	}{
		{"/", "", routeRoot},
		{"/versions", "", routeVersions},
		{"/healthcheck", "", routeHealthcheck},
		{"/v2", "", routeVersion},
		{"/v2/", "", routeVersion},
		{"/v2.16/images", "", routeImages},
		{"/v2/images/", "", routeOther},
		{"/v2/images/4d0d7b9e-0ab3-4a8e-9e4b-07f2b1e0e9a1", "", routeImage},
		{"/images/4d0d7b9e", "application/vnd.openstack.images-v2", routeImage},
		{"/v2/images/x/file", "", routeImageFile},
		{"/v2/images/x/stage", "", routeImageStage},
		{"/v2/images/x/import", "", routeImageImport},
		{"/v2/images/x/tasks", "", routeImageTasks},
		{"/v2/images/x/actions/deactivate", "", routeImageAction},
		{"/v2/images/x/actions/explode", "", routeOther},
		{"/v2/images/x/tags/some-tag", "", routeImageTag},
		{"/v2/images/x/members", "", routeImageMembers},
		{"/v2/images/x/members/p2", "", routeImageMember},
		{"/v2/images/x/file/more", "", routeOther},
		{"/v2/schemas/image", "", routeSchemas},
		{"/v2/schemas", "", routeOther},
		{"/v2/tasks", "", routeTasks},
		{"/v2/tasks/t1", "", routeTask},
		{"/v2/cache", "", routeCache},
		{"/v2/cache/clean", "", routeCacheClean},
		{"/v2/cache/prune", "", routeCachePrune},
		{"/v2/cache/x", "", routeCacheImage},
		{"/v2/info/stores", "", routeInfo},
		{"/v2/info/stores/detail", "", routeInfo},
		{"/v9/images", "", routeOther},
		{"/v2/images", "application/vnd.openstack.images-v2", routeImages},
		{"/images", "application/vnd.openstack.images-v9", routeOther},
		{"/a/b/c/d/e/f/g/h/i", "", routeOther},
		{"/wp-login.php", "", routeOther},
	} {
		var h fasthttp.RequestHeader
		if c.accept != "" {
			h.Set("Accept", c.accept)
		}
		if got := routeOf([]byte(c.path), &h); got != c.want {
			t.Errorf("routeOf(%q, %q) = %s, want %s", c.path, c.accept, routeNames[got], routeNames[c.want])
		}
	}
}

// FuzzRouteOf: any path names one of the route templates, never panics.
func FuzzRouteOf(f *testing.F) {
	for _, s := range []string{"/", "/v2/images/x/members/y", "//v2//images", "/v2/images/x/actions/deactivate", "/versions/"} {
		f.Add(s, "")
		f.Add(s, "application/vnd.openstack.images-v2")
	}
	f.Fuzz(func(t *testing.T, path, accept string) {
		if path == "" {
			path = "/"
		}
		var h fasthttp.RequestHeader
		h.Set("Accept", accept)
		if got := routeOf([]byte(path), &h); got >= numRoutes {
			t.Fatalf("routeOf(%q) = %d", path, got)
		}
	})
}

// BenchmarkObserve is what recording one request costs: route template,
// series lookup, histogram bucket.
func BenchmarkObserve(b *testing.B) {
	rm := NewRequestMetrics()
	var ctx fasthttp.RequestCtx
	ctx.Request.SetRequestURI("/v2/images/4d0d7b9e-0ab3-4a8e-9e4b-07f2b1e0e9a1")
	ctx.Request.Header.Set("X-Auth-Token", "gAAAAABk")
	ctx.Request.Header.Set("Accept", "application/json")
	ctx.Response.SetStatusCode(200)
	start := time.Now()
	b.ReportAllocs()
	for b.Loop() {
		rm.observe(&ctx, start)
	}
}
