package gateway

import (
	"strings"
	"testing"

	"github.com/valyala/fasthttp"
)

// templateWords are every literal a route template may hold besides a
// version: anything else in a template would be the client's text (an id)
// in a span name.
var templateWords = map[string]bool{
	"": true, "healthcheck": true, "versions": true, "images": true, "file": true, "stage": true, "import": true,
	"tasks": true, "members": true, "actions": true, "deactivate": true, "reactivate": true, "tags": true,
	"schemas": true, "cache": true, "clean": true, "prune": true, "info": true, "stores": true, "usage": true, "detail": true,
}

// FuzzRouteTemplate: any path and Accept header gives "" or a template of
// placeholders and fixed words only, never the client's own text.
func FuzzRouteTemplate(f *testing.F) {
	for _, s := range []string{
		"/v2/images/0b2b3ea4-8d55-4c8e-9c1c-1d1e2f3a4b5c/file", "/v2.1/images/x/tags/some%20tag", "/v2/images/x/members/p2",
		"/v2/images/x/actions/deactivate", "/v2/cache/clean", "/v2/cache/abc", "/v2/info/stores/detail", "/versions",
		"/healthcheck", "/", "/v2/", "/v2", "/images", "/v9/images", "/v2/images/a/b/c/d/e/f/g/h/i", "//v2//images//x",
	} {
		f.Add(s, "")
		f.Add(strings.TrimPrefix(strings.TrimPrefix(s, "/v2.1"), "/v2"), "application/vnd.openstack.images-v2.1")
	}
	f.Fuzz(func(t *testing.T, path, accept string) {
		var ctx fasthttp.RequestCtx
		ctx.Request.SetRequestURI(path)
		if accept != "" {
			ctx.Request.Header.Set("Accept", accept)
		}
		tpl := routeTemplate(&ctx)
		if tpl == "" {
			return
		}
		if tpl[0] != '/' {
			t.Fatalf("%q: template %q does not start with /", path, tpl)
		}
		for i, seg := range strings.Split(tpl[1:], "/") {
			if templateWords[seg] || (strings.HasPrefix(seg, "{") && strings.HasSuffix(seg, "}")) {
				continue
			}
			if i == 0 && knownVersion([]byte(seg)) {
				continue
			}
			t.Fatalf("%q (Accept %q): template %q holds %q", path, accept, tpl, seg)
		}
	})
}
