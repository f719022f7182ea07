package policy_test

import (
	"context"
	"encoding/json"
	"testing"

	"github.com/valyala/fasthttp"

	"github.com/spyglass-gateway/spyglass/backends/local"
	"github.com/spyglass-gateway/spyglass/gateway"
	"github.com/spyglass-gateway/spyglass/policy"
	"github.com/spyglass-gateway/spyglass/policy/keystonetest"
)

// BenchmarkKeystone measures keystone mode once a token is known: the
// authenticator alone (the goal: under 2µs, no allocation), and the
// gateway's show path with keystone auth against the same path in trusted
// mode (compare the two ns/op; the goal is within 10%). A real Keystone
// validates the token once, before the timer starts.
func BenchmarkKeystone(b *testing.B) {
	ks := keystonetest.StartT(b)
	fx := ks.FixtureT(b)
	svc := serviceUser(b, ks)
	tok := ks.ProjectTokenT(b, fx.MemberA, fx.ProjectA)
	k := newKeystone(b, svc)
	ctx := context.Background()
	if _, err := k.Authenticate(ctx, tokenHdr(tok)); err != nil {
		b.Fatal(err)
	}

	b.Run("authenticate-cached", func(b *testing.B) {
		var req fasthttp.Request
		req.Header.Set("X-Auth-Token", tok)
		req.Header.Set("X-Openstack-Request-Id", "req-5f0c7b2e-2d5a-4a4e-9f0e-1c2d3e4f5a6b")
		b.ReportAllocs()
		for b.Loop() {
			if _, err := k.Authenticate(ctx, &req.Header); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("authenticate-cached-parallel", func(b *testing.B) {
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			var req fasthttp.Request
			req.Header.Set("X-Auth-Token", tok)
			for pb.Next() {
				if _, err := k.Authenticate(ctx, &req.Header); err != nil {
					b.Fatal(err)
				}
			}
		})
	})

	store, err := local.Open(b.TempDir(), local.Options{})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { store.Close() })
	pol := policy.MustNew(policy.Options{})
	keystoneSrv, err := gateway.New(gateway.Config{Policy: pol}, gateway.CatalogOf(store), k)
	if err != nil {
		b.Fatal(err)
	}
	trusted, _ := policy.NewAuthenticator("trusted")
	trustedSrv, err := gateway.New(gateway.Config{Policy: pol}, gateway.CatalogOf(store), trusted)
	if err != nil {
		b.Fatal(err)
	}
	id := createImage(b, keystoneSrv.Handler(), tok)

	show := func(b *testing.B, h fasthttp.RequestHandler, set func(*fasthttp.RequestHeader)) {
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			var ctx fasthttp.RequestCtx
			var req fasthttp.Request
			req.SetRequestURI("/v2/images/" + id)
			set(&req.Header)
			ctx.Init(&req, nil, nil)
			for pb.Next() {
				ctx.Response.Reset()
				h(&ctx)
				if ctx.Response.StatusCode() != 200 {
					b.Fatalf("status %d: %s", ctx.Response.StatusCode(), ctx.Response.Body())
				}
			}
		})
	}
	b.Run("gateway-show-trusted", func(b *testing.B) {
		show(b, trustedSrv.Handler(), func(h *fasthttp.RequestHeader) {
			h.Set("X-Identity-Status", "Confirmed")
			h.Set("X-Project-Id", fx.ProjectA)
			h.Set("X-User-Id", fx.MemberA.ID)
			h.Set("X-Roles", "member,reader")
		})
	})
	b.Run("gateway-show-keystone", func(b *testing.B) {
		show(b, keystoneSrv.Handler(), func(h *fasthttp.RequestHeader) { h.Set("X-Auth-Token", tok) })
	})
}

func createImage(b *testing.B, h fasthttp.RequestHandler, tok string) string {
	var ctx fasthttp.RequestCtx
	var req fasthttp.Request
	req.Header.SetMethod("POST")
	req.SetRequestURI("/v2/images")
	req.Header.Set("X-Auth-Token", tok)
	req.Header.SetContentType("application/json")
	req.SetBodyString(`{"name": "cirros", "disk_format": "qcow2", "container_format": "bare"}`)
	ctx.Init(&req, nil, nil)
	h(&ctx)
	if ctx.Response.StatusCode() != 201 {
		b.Fatalf("create: %d %s", ctx.Response.StatusCode(), ctx.Response.Body())
	}
	var img struct{ ID string }
	if err := json.Unmarshal(ctx.Response.Body(), &img); err != nil {
		b.Fatal(err)
	}
	return img.ID
}
