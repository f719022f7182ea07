//go:build !race

package gateway_test

import (
	"testing"

	"github.com/valyala/fasthttp"

	"github.com/spyglass-gateway/spyglass/gateway"
)

// TestNoAcceptLanguageAllocatesNoMore: with catalogs configured, a request
// without Accept-Language — a show, a 404 — allocates exactly what it
// allocates with none.
func TestNoAcceptLanguageAllocatesNoMore(t *testing.T) {
	cats := loadTestCatalogs(t)
	for _, tc := range []struct {
		name   string
		id     string // "": the image created
		status int
	}{{"show", "", 200}, {"not found", "aaa", 404}} {
		allocs := func(cfg gateway.Config) float64 {
			ts := startServerWith(t, "trusted", cfg)
			id := tc.id
			if id == "" {
				img := ts.json(t, p1, "POST", "/v2/images", map[string]any{"name": "cirros", "disk_format": "qcow2", "container_format": "bare"}, 201)
				id = img["id"].(string)
			}
			h := ts.srv.Handler()
			var ctx fasthttp.RequestCtx
			ctx.Init(showRequest(t, id, "Accept: text/html\r\n"), nil, nil)
			serve := func() {
				ctx.Response.Reset()
				h(&ctx)
				if ctx.Response.StatusCode() != tc.status {
					t.Fatalf("status %d, want %d", ctx.Response.StatusCode(), tc.status)
				}
			}
			serve()
			return testing.AllocsPerRun(200, serve)
		}
		without, with := allocs(gateway.Config{}), allocs(gateway.Config{Catalogs: cats})
		if with != without {
			t.Errorf("%s without Accept-Language: %v allocations with catalogs, %v without", tc.name, with, without)
		}
	}
}

// BenchmarkAcceptLanguage: a show and a 404 in memory, without catalogs,
// with catalogs but no Accept-Language (what the header costs those who
// do not send it: nothing), and the 404 asked for in Chinese.
func BenchmarkAcceptLanguage(b *testing.B) {
	cats := loadTestCatalogs(b)
	for _, bc := range []struct {
		name   string
		cfg    gateway.Config
		id     string // "": the image created
		header string
		status int
	}{
		{"show/catalogs=none", gateway.Config{}, "", "", 200},
		{"show/catalogs=zh_CN", gateway.Config{Catalogs: cats}, "", "", 200},
		{"notfound/catalogs=none", gateway.Config{}, "aaa", "", 404},
		{"notfound/catalogs=zh_CN", gateway.Config{Catalogs: cats}, "aaa", "", 404},
		{"notfound/catalogs=zh_CN/Accept-Language=zh", gateway.Config{Catalogs: cats}, "aaa", "Accept-Language: zh\r\n", 404},
	} {
		b.Run(bc.name, func(b *testing.B) {
			ts := startServerWith(b, "trusted", bc.cfg)
			id := bc.id
			if id == "" {
				img := ts.json(b, p1, "POST", "/v2/images", map[string]any{"name": "cirros", "disk_format": "qcow2", "container_format": "bare"}, 201)
				id = img["id"].(string)
			}
			h := ts.srv.Handler()
			var ctx fasthttp.RequestCtx
			ctx.Init(showRequest(b, id, "Accept: text/html\r\n"+bc.header), nil, nil)
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				ctx.Response.Reset()
				h(&ctx)
				if ctx.Response.StatusCode() != bc.status {
					b.Fatalf("status %d", ctx.Response.StatusCode())
				}
			}
		})
	}
}
