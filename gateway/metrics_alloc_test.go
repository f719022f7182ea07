//go:build !race

package gateway_test

import (
	"testing"

	"github.com/valyala/fasthttp"
)

// TestMetricsAllocateNothing: recording a request costs no allocation: a
// show allocates as much with metrics on as with them off.
func TestMetricsAllocateNothing(t *testing.T) {
	allocs := func(on bool) float64 {
		ts, _ := startMetered(t, on)
		img := ts.json(t, p1, "POST", "/v2/images", map[string]any{"name": "cirros", "disk_format": "qcow2", "container_format": "bare"}, 201)
		h := ts.srv.Handler()
		var ctx fasthttp.RequestCtx
		ctx.Init(showRequest(t, img["id"].(string), ""), nil, nil)
		serve := func() {
			ctx.Response.Reset()
			h(&ctx)
			if ctx.Response.StatusCode() != 200 {
				t.Fatalf("status %d", ctx.Response.StatusCode())
			}
		}
		serve() // the first request of a route builds its attribute set
		return testing.AllocsPerRun(200, serve)
	}
	off, on := allocs(false), allocs(true)
	if on != off {
		t.Errorf("a show allocates %v times with metrics on, %v with them off", on, off)
	}
}
