package federation_test

import (
	"encoding/json"
	"fmt"
	"runtime"
	"slices"
	"testing"
	"time"

	"github.com/valyala/fasthttp"

	"github.com/spyglass-gateway/spyglass/backends"
	"github.com/spyglass-gateway/spyglass/cache/meta"
	"github.com/spyglass-gateway/spyglass/cache/redis"
	"github.com/spyglass-gateway/spyglass/cache/redistest"
	"github.com/spyglass-gateway/spyglass/federation"
	"github.com/spyglass-gateway/spyglass/gateway"
	"github.com/spyglass-gateway/spyglass/policy"
)

// BenchmarkSharedTierWarmShow: the show hot path over two regions with
// every record and location warm, without a shared tier and with one (a
// real redis-server). Warm shows are first-level hits either way; the ratio
// on/off is the shared tier's cost on the hot path.
func BenchmarkSharedTierWarmShow(b *testing.B) {
	for _, mode := range []string{"off", "on"} {
		b.Run(mode, func(b *testing.B) {
			var shared *redis.Tier
			if mode == "on" {
				srv := redistest.StartT(b)
				var err error
				shared, err = redis.New(redis.Config{Addr: srv.Addr, Timeout: time.Second})
				if err != nil {
					b.Fatal(err)
				}
				defer shared.Close()
			}
			var rcs []federation.RegionConfig
			var ids []string
			for i := range 2 {
				store, _ := localRegion(b, i)
				mc := meta.Config{TTL: time.Hour, Name: fmt.Sprintf("r%d", i)}
				if shared != nil {
					mc.Shared = shared
				}
				meta, err := meta.New(mc)
				if err != nil {
					b.Fatal(err)
				}
				defer meta.Close()
				rcs = append(rcs, federation.RegionConfig{Name: fmt.Sprintf("r%d", i), Region: federation.RegionOf(store), Meta: meta})
				for j := range 50 {
					name := fmt.Sprintf("img-%d-%d", i, j)
					img, err := store.CreateImage(b.Context(), &backends.Image{ID: fmt.Sprintf("00000000-0000-4000-8000-%012d", i*100+j), Name: &name, Visibility: "public"})
					if err != nil {
						b.Fatal(err)
					}
					ids = append(ids, img.ID)
				}
			}
			cfg := federation.Config{Regions: rcs}
			if shared != nil {
				cfg.Shared = shared
			}
			fed, err := federation.New(cfg)
			if err != nil {
				b.Fatal(err)
			}
			defer fed.Close()
			auth, _ := policy.NewAuthenticator("trusted")
			srv, err := gateway.New(gateway.Config{}, gateway.CatalogOf(fed), auth)
			if err != nil {
				b.Fatal(err)
			}
			h := srv.Handler()
			show := func(ctx *fasthttp.RequestCtx, req *fasthttp.Request, id string) {
				req.SetRequestURI("/v2/images/" + id)
				ctx.Init(req, nil, nil)
				h(ctx)
				if ctx.Response.StatusCode() != 200 {
					b.Fatalf("status %d", ctx.Response.StatusCode())
				}
				ctx.Response.Reset()
			}
			newReq := func() *fasthttp.Request {
				var req fasthttp.Request
				req.Header.Set("X-Identity-Status", "Confirmed")
				req.Header.Set("X-Project-Id", "p1")
				req.Header.Set("X-User-Id", "u1")
				req.Header.Set("X-Roles", "member")
				return &req
			}
			var warm fasthttp.RequestCtx
			for _, id := range ids {
				show(&warm, newReq(), id)
			}
			b.ReportAllocs()
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				var ctx fasthttp.RequestCtx
				req := newReq()
				for k := 0; pb.Next(); k++ {
					show(&ctx, req, ids[k%len(ids)])
				}
			})
		})
	}
}

// BenchmarkSharedTierInvalidationLatency: two instances over one region and
// one redis-server, both holding an image's record. Each round updates the
// image through the first and measures how long after the write returned
// the second serves the new record (its first level dropped the old one on
// the published invalidation). It reports p50 and p99 in microseconds.
func BenchmarkSharedTierInvalidationLatency(b *testing.B) {
	srv := redistest.StartT(b)
	store, _ := localRegion(b, 0)
	name := "v0"
	img, err := store.CreateImage(b.Context(), &backends.Image{ID: "00000000-0000-4000-8000-000000000001", Name: &name, Visibility: "public"})
	if err != nil {
		b.Fatal(err)
	}
	var cats []*federation.Catalog
	for range 2 {
		shared, err := redis.New(redis.Config{Addr: srv.Addr, Timeout: time.Second})
		if err != nil {
			b.Fatal(err)
		}
		defer shared.Close()
		meta, err := meta.New(meta.Config{TTL: time.Hour, Shared: shared, Name: "r0"})
		if err != nil {
			b.Fatal(err)
		}
		defer meta.Close()
		cat, err := federation.New(federation.Config{Regions: []federation.RegionConfig{{Name: "r0", Region: federation.RegionOf(store), Meta: meta}}, Shared: shared})
		if err != nil {
			b.Fatal(err)
		}
		defer cat.Close()
		cats = append(cats, cat)
	}
	ctx := backendsWithAdmin()
	for _, c := range cats {
		if _, err := c.Image(ctx, img.ID); err != nil {
			b.Fatal(err)
		}
	}
	var lat []time.Duration
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		want := fmt.Sprintf("v%d", i+1)
		if _, err := cats[0].UpdateImage(ctx, img.ID, []backends.Change{{Op: backends.PatchReplace, Path: []string{"name"}, Value: json.RawMessage(`"` + want + `"`)}}); err != nil {
			b.Fatal(err)
		}
		written := time.Now()
		for {
			got, err := cats[1].Image(ctx, img.ID)
			if err != nil {
				b.Fatal(err)
			}
			if got.Name != nil && *got.Name == want {
				break
			}
			if time.Since(written) > 30*time.Second {
				b.Fatalf("instance 2 still serves %q 30s after the write", *got.Name)
			}
			runtime.Gosched()
		}
		lat = append(lat, time.Since(written))
	}
	b.StopTimer()
	slices.Sort(lat)
	b.ReportMetric(float64(lat[len(lat)/2].Microseconds()), "p50-µs")
	b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds()), "p99-µs")
}
