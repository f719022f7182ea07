package federation_test

import (
	"bytes"
	"context"
	"io"
	"testing"
	"time"

	"github.com/valyala/fasthttp"

	"github.com/spyglass-gateway/spyglass/backends"
	"github.com/spyglass-gateway/spyglass/backends/local"
	"github.com/spyglass-gateway/spyglass/cache/meta"
	"github.com/spyglass-gateway/spyglass/federation"
	"github.com/spyglass-gateway/spyglass/gateway"
	"github.com/spyglass-gateway/spyglass/policy"
)

// benchCatalog is a gateway over one embedded region behind a metadata
// cache, with one active image of 64 KiB owned by p1.
func benchCatalog(b *testing.B) (fasthttp.RequestHandler, *meta.Cache, string) {
	store, err := local.Open(b.TempDir(), local.Options{})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { store.Close() })
	mc, err := meta.New(meta.Config{TTL: time.Hour, MaxEntries: 10_000})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(mc.Close)
	fed, err := federation.New(federation.Config{Region: federation.RegionOf(store), Meta: mc})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(fed.Close)
	auth, _ := policy.NewAuthenticator("trusted")
	srv, err := gateway.New(gateway.Config{}, gateway.CatalogOf(fed), auth)
	if err != nil {
		b.Fatal(err)
	}
	ctx := backends.WithCaller(context.Background(), &backends.Caller{Project: "p1", Roles: []string{"member"}})
	name, owner, df, cf := "cirros", "p1", "raw", "bare"
	img, err := store.CreateImage(ctx, &backends.Image{ID: "8d3e3c52-6d4e-4b5f-9c0a-1f2e3d4c5b6a", Name: &name, Owner: &owner,
		Visibility: "private", DiskFormat: &df, ContainerFormat: &cf})
	if err != nil {
		b.Fatal(err)
	}
	if _, err := store.UploadData(ctx, img.ID, bytes.NewReader(make([]byte, 64<<10)), backends.UploadOptions{ExpectedSize: -1}); err != nil {
		b.Fatal(err)
	}
	return srv.Handler(), mc, img.ID
}

func benchRequest(path string) *fasthttp.Request {
	var req fasthttp.Request
	req.SetRequestURI(path)
	req.Header.Set("X-Identity-Status", "Confirmed")
	req.Header.Set("X-Project-Id", "p1")
	req.Header.Set("X-User-Id", "u1")
	req.Header.Set("X-Roles", "member")
	return &req
}

// BenchmarkWarmDownload is the download path with the record cached: the
// handler's lookup, the data opened from the record it resolved, the body
// sent (to nowhere).
func BenchmarkWarmDownload(b *testing.B) {
	h, _, id := benchCatalog(b)
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		var ctx fasthttp.RequestCtx
		ctx.Init(benchRequest("/v2/images/"+id+"/file"), nil, nil)
		for pb.Next() {
			h(&ctx)
			if ctx.Response.StatusCode() != 200 {
				b.Fatalf("status %d", ctx.Response.StatusCode())
			}
			ctx.Response.BodyWriteTo(io.Discard)
			ctx.Response.Reset()
		}
	})
}

// BenchmarkMissShow is a show whose record is never cached (invalidated
// before each): the cost of a miss on top of the region's answer.
func BenchmarkMissShow(b *testing.B) {
	h, mc, id := benchCatalog(b)
	var ctx fasthttp.RequestCtx
	ctx.Init(benchRequest("/v2/images/"+id), nil, nil)
	bg := context.Background()
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		mc.Invalidate(bg, id)
		h(&ctx)
		if ctx.Response.StatusCode() != 200 {
			b.Fatalf("status %d", ctx.Response.StatusCode())
		}
		ctx.Response.Reset()
	}
}
