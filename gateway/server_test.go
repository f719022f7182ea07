package gateway_test

import (
	"bufio"
	"bytes"
	"crypto/md5"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/valyala/fasthttp"

	"github.com/spyglass-gateway/spyglass/backends/local"
	"github.com/spyglass-gateway/spyglass/gateway"
	"github.com/spyglass-gateway/spyglass/policy"
)

// testServer runs the gateway over a real embedded store on a loopback port.
type testServer struct {
	url   string
	srv   *gateway.Server
	store *local.Store
}

func startServer(t testing.TB, mode string) *testServer {
	t.Helper()
	return startServerWith(t, mode, gateway.Config{})
}

// startServerWith serves an embedded store on loopback through a gateway
// built with cfg and auth.mode mode.
func startServerWith(t testing.TB, mode string, cfg gateway.Config) *testServer {
	t.Helper()
	store, err := local.Open(t.TempDir(), local.Options{})
	if err != nil {
		t.Fatal(err)
	}
	auth, err := policy.NewAuthenticator(mode)
	if err != nil {
		t.Fatal(err)
	}
	srv, err := gateway.New(cfg, gateway.CatalogOf(store), auth)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go srv.Serve(ln)
	t.Cleanup(func() {
		srv.Shutdown(t.Context())
		store.Close()
	})
	return &testServer{url: "http://" + ln.Addr().String(), srv: srv, store: store}
}

type as struct {
	project string
	roles   string
}

var (
	p1    = as{"p1", "member"}
	p2    = as{"p2", "member"}
	p3    = as{"p3", "member"}
	admin = as{"adminproject", "admin,member"}
)

func (ts *testServer) do(t testing.TB, who as, method, path string, body io.Reader, hdr ...string) (*http.Response, []byte) {
	t.Helper()
	req, err := http.NewRequest(method, ts.url+path, body)
	if err != nil {
		t.Fatal(err)
	}
	if who.project != "" {
		req.Header.Set("X-Identity-Status", "Confirmed")
		req.Header.Set("X-Project-Id", who.project)
		req.Header.Set("X-User-Id", "u-"+who.project)
		req.Header.Set("X-Roles", who.roles)
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp, b
}

func (ts *testServer) json(t testing.TB, who as, method, path string, body any, wantStatus int, hdr ...string) map[string]any {
	t.Helper()
	var r io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		r = bytes.NewReader(b)
		if len(hdr) == 0 {
			hdr = []string{"Content-Type", "application/json"}
		}
	}
	resp, b := ts.do(t, who, method, path, r, hdr...)
	if resp.StatusCode != wantStatus {
		t.Fatalf("%s %s as %s: status %d, want %d; body %s", method, path, who.project, resp.StatusCode, wantStatus, b)
	}
	if resp.Header.Get("X-Openstack-Request-Id") == "" {
		t.Fatalf("%s %s: no X-Openstack-Request-Id", method, path)
	}
	var v map[string]any
	if len(b) > 0 && strings.HasPrefix(resp.Header.Get("Content-Type"), "application/json") {
		if err := json.Unmarshal(b, &v); err != nil {
			t.Fatalf("%s %s: bad JSON %q: %v", method, path, b, err)
		}
	}
	return v
}

func TestImageLifecycle(t *testing.T) {
	ts := startServer(t, "trusted")
	img := ts.json(t, p1, "POST", "/v2/images", map[string]any{"name": "cirros", "disk_format": "qcow2", "container_format": "bare", "foo": "bar"}, 201)
	id := img["id"].(string)
	if got, want := img["status"], "queued"; got != want {
		t.Fatalf("status %v, want %v", got, want)
	}
	if got, want := img["visibility"], "shared"; got != want {
		t.Fatalf("visibility %v, want %v", got, want)
	}
	if got, want := img["owner"], "p1"; got != want {
		t.Fatalf("owner %v, want %v", got, want)
	}

	// Invisible to another project; visible to admin.
	ts.json(t, p2, "GET", "/v2/images/"+id, nil, 404)
	ts.json(t, admin, "GET", "/v2/images/"+id, nil, 200)

	// Upload, then download whole and ranged.
	data := bytes.Repeat([]byte("0123456789"), 1000)
	resp, b := ts.do(t, p1, "PUT", "/v2/images/"+id+"/file", bytes.NewReader(data), "Content-Type", "application/octet-stream")
	if resp.StatusCode != 204 {
		t.Fatalf("upload: %d %s", resp.StatusCode, b)
	}
	resp, b = ts.do(t, p1, "PUT", "/v2/images/"+id+"/file", bytes.NewReader(data), "Content-Type", "application/octet-stream")
	if resp.StatusCode != 409 {
		t.Fatalf("second upload: %d %s, want 409", resp.StatusCode, b)
	}
	sum := md5.Sum(data)
	img = ts.json(t, p1, "GET", "/v2/images/"+id, nil, 200)
	if got, want := img["checksum"], hex.EncodeToString(sum[:]); got != want {
		t.Fatalf("checksum %v, want %v", got, want)
	}
	if got, want := img["status"], "active"; got != want {
		t.Fatalf("status %v, want %v", got, want)
	}
	resp, b = ts.do(t, p1, "GET", "/v2/images/"+id+"/file", nil)
	if resp.StatusCode != 200 || !bytes.Equal(b, data) {
		t.Fatalf("download: %d, %d bytes", resp.StatusCode, len(b))
	}
	if got, want := resp.Header.Get("Content-MD5"), hex.EncodeToString(sum[:]); got != want {
		t.Fatalf("Content-MD5 %q, want %q", got, want)
	}
	resp, b = ts.do(t, p1, "GET", "/v2/images/"+id+"/file", nil, "Range", "bytes=10-19")
	if resp.StatusCode != 206 || string(b) != "0123456789" {
		t.Fatalf("range: %d %q", resp.StatusCode, b)
	}
	if got, want := resp.Header.Get("Content-Range"), fmt.Sprintf("bytes 10-19/%d", len(data)); got != want {
		t.Fatalf("Content-Range %q, want %q", got, want)
	}

	// PATCH: custom property, then a non-owner is refused.
	img = ts.json(t, p1, "PATCH", "/v2/images/"+id, []map[string]any{{"op": "replace", "path": "/foo", "value": "baz"}}, 200,
		"Content-Type", "application/openstack-images-v2.1-json-patch")
	if got, want := img["foo"], "baz"; got != want {
		t.Fatalf("foo %v, want %v", got, want)
	}
	resp, _ = ts.do(t, p1, "PATCH", "/v2/images/"+id, strings.NewReader(`[]`), "Content-Type", "application/json")
	if resp.StatusCode != 415 || resp.Header.Get("Accept-Patch") == "" {
		t.Fatalf("PATCH with application/json: %d, Accept-Patch %q", resp.StatusCode, resp.Header.Get("Accept-Patch"))
	}

	// Share with p2: pending members see it on show, not in the default list.
	ts.json(t, p1, "POST", "/v2/images/"+id+"/members", map[string]any{"member": "p2"}, 200)
	ts.json(t, p2, "GET", "/v2/images/"+id, nil, 200)
	list := ts.json(t, p2, "GET", "/v2/images", nil, 200)
	if n := len(list["images"].([]any)); n != 0 {
		t.Fatalf("p2 lists %d images before accepting, want 0", n)
	}
	ts.json(t, p2, "PUT", "/v2/images/"+id+"/members/p2", map[string]any{"status": "accepted"}, 200)
	list = ts.json(t, p2, "GET", "/v2/images", nil, 200)
	if n := len(list["images"].([]any)); n != 1 {
		t.Fatalf("p2 lists %d images after accepting, want 1", n)
	}
	ts.json(t, p3, "GET", "/v2/images/"+id, nil, 404)

	// Protected images cannot be deleted.
	ts.json(t, p1, "PATCH", "/v2/images/"+id, []map[string]any{{"op": "replace", "path": "/protected", "value": true}}, 200,
		"Content-Type", "application/openstack-images-v2.1-json-patch")
	ts.json(t, p1, "DELETE", "/v2/images/"+id, nil, 403)
	ts.json(t, p1, "PATCH", "/v2/images/"+id, []map[string]any{{"op": "replace", "path": "/protected", "value": false}}, 200,
		"Content-Type", "application/openstack-images-v2.1-json-patch")
	ts.json(t, p2, "DELETE", "/v2/images/"+id, nil, 403)
	ts.json(t, p1, "DELETE", "/v2/images/"+id, nil, 204)
	ts.json(t, p1, "GET", "/v2/images/"+id, nil, 404)
}

func TestVersionsAndAuth(t *testing.T) {
	ts := startServer(t, "trusted")
	resp, b := ts.do(t, as{}, "GET", "/", nil)
	if resp.StatusCode != 300 || !bytes.Contains(b, []byte(`"versions"`)) {
		t.Fatalf("GET /: %d %s", resp.StatusCode, b)
	}
	resp, _ = ts.do(t, as{}, "GET", "/versions", nil)
	if resp.StatusCode != 200 {
		t.Fatalf("GET /versions: %d", resp.StatusCode)
	}
	resp, _ = ts.do(t, as{}, "GET", "/v2/images", nil)
	if resp.StatusCode != 401 {
		t.Fatalf("unauthenticated list: %d, want 401", resp.StatusCode)
	}
	ts.json(t, p1, "GET", "/v2.5/images", nil, 200)
	ts.json(t, p1, "GET", "/images", nil, 200, "Accept", "application/vnd.openstack.images-v2.1")
	resp, _ = ts.do(t, p1, "PUT", "/v2/images", nil)
	if resp.StatusCode != 405 || resp.Header.Get("Allow") != "GET, POST" {
		t.Fatalf("PUT /v2/images: %d Allow %q", resp.StatusCode, resp.Header.Get("Allow"))
	}
}

// BenchmarkShow measures the gateway's show path in memory: parse, trusted
// identity, store lookup, visibility, memoized rendering.
func BenchmarkShow(b *testing.B) {
	benchmarkShow(b, startServer(b, "trusted"), "")
}

// benchmarkShow creates an image in ts and shows it b.N times in memory,
// in parallel, the request parsed from the wire as the server sees it;
// header adds raw header lines ("Name: value\r\n").
func benchmarkShow(b *testing.B, ts *testServer, header string) {
	img := ts.json(b, p1, "POST", "/v2/images", map[string]any{"name": "cirros", "disk_format": "qcow2", "container_format": "bare"}, 201)
	id := img["id"].(string)
	h := ts.srv.Handler()
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		var ctx fasthttp.RequestCtx
		ctx.Init(showRequest(b, id, header), nil, nil)
		for pb.Next() {
			ctx.Response.Reset()
			h(&ctx)
			if ctx.Response.StatusCode() != 200 {
				b.Fatalf("status %d", ctx.Response.StatusCode())
			}
		}
	})
}

// showRequest is a show as the server reads it from the wire; header adds
// raw header lines.
func showRequest(b testing.TB, id, header string) *fasthttp.Request {
	var req fasthttp.Request
	raw := "GET /v2/images/" + id + " HTTP/1.1\r\nHost: spyglass\r\nX-Identity-Status: Confirmed\r\n" +
		"X-Project-Id: p1\r\nX-User-Id: u1\r\nX-Roles: member\r\n" + header + "\r\n"
	if err := req.Read(bufio.NewReader(strings.NewReader(raw))); err != nil {
		b.Fatal(err)
	}
	return &req
}

// BenchmarkList measures a default listing page (limit 25) over 1000 images.
func BenchmarkList(b *testing.B) {
	ts := startServer(b, "trusted")
	for i := 0; i < 1000; i++ {
		ts.json(b, p1, "POST", "/v2/images", map[string]any{"name": fmt.Sprintf("img-%04d", i), "disk_format": "raw", "container_format": "bare"}, 201)
	}
	h := ts.srv.Handler()
	b.ReportAllocs()
	b.ResetTimer()
	var ctx fasthttp.RequestCtx
	var req fasthttp.Request
	req.SetRequestURI("/v2/images?limit=25&sort=name:asc")
	req.Header.Set("X-Identity-Status", "Confirmed")
	req.Header.Set("X-Project-Id", "p1")
	req.Header.Set("X-Roles", "member")
	ctx.Init(&req, nil, nil)
	for i := 0; i < b.N; i++ {
		ctx.Response.Reset()
		h(&ctx)
		if ctx.Response.StatusCode() != 200 {
			b.Fatalf("status %d: %s", ctx.Response.StatusCode(), ctx.Response.Body())
		}
	}
	_ = time.Now
}

// TestNewNamesMissingContract: a catalog that cannot serve a resource is
// refused at construction, naming the field and the contract it needs.
func TestNewNamesMissingContract(t *testing.T) {
	store, err := local.Open(t.TempDir(), local.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	auth, _ := policy.NewAuthenticator("noauth")
	for _, tc := range []struct {
		name string
		drop func(*gateway.Catalog)
		want string
	}{
		{"images", func(c *gateway.Catalog) { c.Images = nil }, "Catalog.Images is nil (it needs a gateway.Images)"},
		{"data", func(c *gateway.Catalog) { c.Data = nil }, "Catalog.Data is nil (it needs a gateway.ImageData)"},
		{"members", func(c *gateway.Catalog) { c.Members = nil }, "Catalog.Members is nil (it needs a gateway.Members)"},
		{"tasks", func(c *gateway.Catalog) { c.Tasks = nil }, "Catalog.Tasks is nil (it needs a gateway.Tasks)"},
		{"stores", func(c *gateway.Catalog) { c.Stores = nil }, "Catalog.Stores is nil (it needs a gateway.Stores)"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cat := gateway.CatalogOf(store)
			tc.drop(&cat)
			_, err := gateway.New(gateway.Config{}, cat, auth)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("New: %v, want an error containing %q", err, tc.want)
			}
		})
	}
	if _, err := gateway.New(gateway.Config{}, gateway.CatalogOf(store), auth); err != nil {
		t.Errorf("New over the embedded store: %v", err)
	}
}
