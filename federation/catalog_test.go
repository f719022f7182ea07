package federation_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
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

// The catalog serves every resource the gateway calls.
var (
	_ gateway.Images     = (*federation.Catalog)(nil)
	_ gateway.ImageData  = (*federation.Catalog)(nil)
	_ gateway.Members    = (*federation.Catalog)(nil)
	_ gateway.Tasks      = (*federation.Catalog)(nil)
	_ gateway.Stores     = (*federation.Catalog)(nil)
	_ gateway.ImageCache = (*federation.ImageCache)(nil)
)

// serve runs a gateway in trusted mode over cat (which serves every
// resource: gateway.CatalogOf) on a loopback port.
func serve(t testing.TB, cat any) string {
	t.Helper()
	auth, err := policy.NewAuthenticator("trusted")
	if err != nil {
		t.Fatal(err)
	}
	srv, err := gateway.New(gateway.Config{}, gateway.CatalogOf(cat), auth)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Shutdown(t.Context()) })
	return "http://" + ln.Addr().String()
}

type caller struct{ project, roles string }

func do(t *testing.T, base string, who caller, method, path string, body any) (int, []byte) {
	t.Helper()
	var r io.Reader
	ct := "application/json"
	switch b := body.(type) {
	case nil:
	case string: // a JSON patch
		r = bytes.NewReader([]byte(b))
		ct = "application/openstack-images-v2.1-json-patch"
	default:
		j, _ := json.Marshal(b)
		r = bytes.NewReader(j)
	}
	resp, b := send(t, base, who, method, path, r, map[string]string{"Content-Type": ct})
	return resp.StatusCode, b
}

// send makes one request as who with the given headers and returns the
// response (its body read and closed) and the body.
func send(t *testing.T, base string, who caller, method, path string, body io.Reader, header map[string]string) (*http.Response, []byte) {
	t.Helper()
	req, err := http.NewRequest(method, base+path, body)
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range header {
		req.Header.Set(k, v)
	}
	req.Header.Set("X-Identity-Status", "Confirmed")
	req.Header.Set("X-Project-Id", who.project)
	req.Header.Set("X-User-Id", "u-"+who.project)
	req.Header.Set("X-Roles", who.roles)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, b
}

// TestCachedCatalogAnswersAsTheRegion drives one embedded store through two
// gateways, one straight over the store and one over the federation catalog
// with the metadata cache (TTL far longer than the test), with random
// writes through the cached gateway and random reads by random callers
// through both: every read must get the same status and body. A cached
// record must never show an image to a caller the region would hide it
// from, nor outlive a write made through Spyglass.
func TestCachedCatalogAnswersAsTheRegion(t *testing.T) {
	store, err := local.Open(t.TempDir(), local.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	meta, err := meta.New(meta.Config{TTL: time.Hour, VerdictTTL: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(meta.Close)
	fed, err := federation.New(federation.Config{Region: federation.RegionOf(store), Meta: meta})
	if err != nil {
		t.Fatal(err)
	}
	direct, cached := serve(t, store), serve(t, fed)

	callers := []caller{{"p1", "member"}, {"p2", "member"}, {"p3", "member"}, {"adm", "admin,member"}}
	owners := callers[:3]
	visibilities := []string{"private", "shared", "public", "community"}
	var ids []string
	for i := 0; i < 12; i++ {
		owner := owners[i%3]
		code, b := do(t, cached, owner, "POST", "/v2/images", map[string]any{
			"name": fmt.Sprintf("img-%d", i), "disk_format": "raw", "container_format": "bare",
			"visibility": []string{"private", "shared", "community"}[i/3%3], // public: made so by an admin below
		})
		if code != 201 {
			t.Fatalf("create: %d %s", code, b)
		}
		var img struct{ ID string }
		json.Unmarshal(b, &img)
		ids = append(ids, img.ID)
	}
	owner := func(i int) caller { return owners[i%3] }

	rng := rand.New(rand.NewPCG(1, 2))
	reads := []func(who caller, id string) (string, string){
		func(who caller, id string) (string, string) { return "GET", "/v2/images/" + id },
		func(who caller, id string) (string, string) { return "GET", "/v2/images/" + id + "/members" },
		func(who caller, id string) (string, string) {
			return "GET", "/v2/images/" + id + "/members/" + who.project
		},
		func(who caller, id string) (string, string) { return "GET", "/v2/images?member_status=all&limit=50" },
	}
	for step := 0; step < 400; step++ {
		i := rng.IntN(len(ids))
		id := ids[i]
		// Warm the cache as some caller, then maybe write, then compare.
		do(t, cached, callers[rng.IntN(len(callers))], "GET", "/v2/images/"+id, nil)
		switch rng.IntN(6) {
		case 0:
			v, by := visibilities[rng.IntN(4)], owner(i)
			if v == "public" { // publicize_image is an admin's
				by = callers[3]
			}
			do(t, cached, by, "PATCH", "/v2/images/"+id, fmt.Sprintf(`[{"op":"replace","path":"/visibility","value":%q}]`, v))
		case 1:
			do(t, cached, owner(i), "POST", "/v2/images/"+id+"/members", map[string]string{"member": owners[rng.IntN(3)].project})
		case 2:
			m := owners[rng.IntN(3)]
			st := []string{"accepted", "rejected", "pending"}[rng.IntN(3)]
			do(t, cached, m, "PUT", "/v2/images/"+id+"/members/"+m.project, map[string]string{"status": st})
		case 3:
			do(t, cached, owner(i), "DELETE", "/v2/images/"+id+"/members/"+owners[rng.IntN(3)].project, nil)
		case 4:
			do(t, cached, owner(i), "PATCH", "/v2/images/"+id, fmt.Sprintf(`[{"op":"replace","path":"/name","value":"n%d"}]`, step))
		}
		who := callers[rng.IntN(len(callers))]
		method, path := reads[rng.IntN(len(reads))](who, id)
		dc, db := do(t, direct, who, method, path, nil)
		cc, cb := do(t, cached, who, method, path, nil)
		if dc != cc || !bytes.Equal(db, cb) {
			t.Fatalf("step %d: %s %s as %s:\nregion: %d %s\ncached: %d %s", step, method, path, who.project, dc, db, cc, cb)
		}
	}
}

// BenchmarkCachedShow is the show hot path through the federation catalog
// with a fresh cached record (a remote region's steady state), to compare
// with gateway.BenchmarkShow straight over the embedded store.
func BenchmarkCachedShow(b *testing.B) {
	store, err := local.Open(b.TempDir(), local.Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer store.Close()
	meta, err := meta.New(meta.Config{TTL: time.Hour})
	if err != nil {
		b.Fatal(err)
	}
	defer meta.Close()
	fed, _ := federation.New(federation.Config{Region: federation.RegionOf(store), Meta: meta})
	auth, _ := policy.NewAuthenticator("trusted")
	srv, err := gateway.New(gateway.Config{}, gateway.CatalogOf(fed), auth)
	if err != nil {
		b.Fatal(err)
	}
	name := "cirros"
	img, err := store.CreateImage(b.Context(), &backends.Image{ID: "8d3e3c52-6d4e-4b5f-9c0a-1f2e3d4c5b6a", Name: &name, Owner: &[]string{"p1"}[0], Visibility: "private"})
	if err != nil {
		b.Fatal(err)
	}
	h := srv.Handler()
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		var ctx fasthttp.RequestCtx
		var req fasthttp.Request
		req.SetRequestURI("/v2/images/" + img.ID)
		req.Header.Set("X-Identity-Status", "Confirmed")
		req.Header.Set("X-Project-Id", "p1")
		req.Header.Set("X-User-Id", "u1")
		req.Header.Set("X-Roles", "member")
		ctx.Init(&req, nil, nil)
		for pb.Next() {
			ctx.Response.Reset()
			h(&ctx)
			if ctx.Response.StatusCode() != 200 {
				b.Fatalf("status %d", ctx.Response.StatusCode())
			}
		}
	})
}
