package gateway_test

import (
	"bytes"
	"context"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/spyglass-gateway/spyglass/backends/glance"
	"github.com/spyglass-gateway/spyglass/backends/glance/glancetest"
	"github.com/spyglass-gateway/spyglass/backends/local"
	"github.com/spyglass-gateway/spyglass/backends/outbound"
	"github.com/spyglass-gateway/spyglass/cache/blob"
	"github.com/spyglass-gateway/spyglass/federation"
	"github.com/spyglass-gateway/spyglass/gateway"
	"github.com/spyglass-gateway/spyglass/policy"
)

// The v1 external sources (v1source.go): x-image-meta-location and
// x-glance-api-copy-from, from a real HTTP server on loopback. Line
// numbers are of Queens' glance/api/v1/images.py at queens-eol.

// source is the external server: the image at /image.img (HEAD and Range,
// by http.ServeContent), a stream cut after 1000 bytes at /cut.img, 404
// elsewhere. gets counts the GETs of /image.img.
type source struct {
	*httptest.Server
	image []byte
	gets  atomic.Int64
}

func startSource(t *testing.T) *source {
	t.Helper()
	s := &source{image: bytes.Repeat([]byte("external image bytes "), 500)}
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/image.img":
			if r.Method == http.MethodGet {
				s.gets.Add(1)
			}
			http.ServeContent(w, r, "image.img", time.Time{}, bytes.NewReader(s.image))
		case "/cut.img":
			w.Header().Set("Content-Length", strconv.Itoa(len(s.image)))
			w.Write(s.image[:1000])
		default:
			http.NotFound(w, r)
		}
	}))
	t.Cleanup(s.Close)
	return s
}

// fetcher lets the gateway reach srv on loopback (and only it): the
// default import filtering refuses loopback.
func (s *source) fetcher(t *testing.T) *outbound.Fetcher {
	t.Helper()
	u, _ := url.Parse(s.URL)
	f, err := outbound.New(outbound.Options{Filter: outbound.Filter{AllowedHosts: []string{u.Hostname()}}})
	if err != nil {
		t.Fatal(err)
	}
	return f
}

// startSourceEmbedded serves an embedded store whose import filtering
// allows src.
func startSourceEmbedded(t *testing.T, src *source) *dataServer {
	t.Helper()
	f := src.fetcher(t)
	store, err := local.Open(t.TempDir(), local.Options{Fetcher: f})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	ds := serveData(t, gateway.Config{EnableV1: true, ImportFilter: f}, store)
	ds.store = store
	return ds
}

// closedURL is an http URL on loopback where nothing listens.
func closedURL(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	return "http://" + addr + "/image.img"
}

var formats = []string{"x-image-meta-disk_format", "raw", "x-image-meta-container_format", "bare"}

func hdrs(extra ...string) []string { return append(append([]string(nil), formats...), extra...) }

// checkLocationImage: the image serves the source's bytes through v1 and
// v2, whole and by Range, and shows its location nowhere.
func checkLocationImage(t *testing.T, ts *testServer, src *source, id string) {
	t.Helper()
	if resp, got := ts.do(t, p1, "GET", "/v1/images/"+id, nil); resp.StatusCode != 200 || !bytes.Equal(got, src.image) {
		t.Errorf("GET v1: %d, %d bytes", resp.StatusCode, len(got))
	} else if loc := resp.Header.Get("x-image-meta-location"); loc != "" {
		t.Errorf("GET v1 shows the location %q", loc)
	}
	if resp, got := ts.do(t, p1, "GET", "/v2/images/"+id+"/file", nil); resp.StatusCode != 200 || !bytes.Equal(got, src.image) {
		t.Errorf("GET /file: %d, %d bytes", resp.StatusCode, len(got))
	}
	resp, got := ts.do(t, p1, "GET", "/v2/images/"+id+"/file", nil, "Range", "bytes=100-199")
	if resp.StatusCode != 206 || !bytes.Equal(got, src.image[100:200]) {
		t.Errorf("GET /file Range: %d %q", resp.StatusCode, got)
	}
	if want := "bytes 100-199/" + strconv.Itoa(len(src.image)); resp.Header.Get("Content-Range") != want {
		t.Errorf("Content-Range %q, want %q", resp.Header.Get("Content-Range"), want)
	}
	// Glance hides locations unless show_multiple_locations or
	// show_image_direct_url (both off by default).
	_, body := ts.do(t, p1, "GET", "/v2/images/"+id, nil)
	if strings.Contains(string(body), src.URL) || strings.Contains(string(body), "direct_url") || strings.Contains(string(body), `"locations"`) {
		t.Errorf("v2 show shows the location: %s", body)
	}
	resp, _ = ts.do(t, p1, "HEAD", "/v1/images/"+id, nil)
	for k, v := range resp.Header {
		if strings.Contains(strings.Join(v, ","), src.URL) {
			t.Errorf("HEAD v1 shows the location in %s", k)
		}
	}
}

// TestV1Location: images.py:796-848 (_handle_source with a location) and
// 563-632 (_reserve), on the embedded store.
func TestV1Location(t *testing.T) {
	src := startSource(t)
	ts := startSourceEmbedded(t, src)
	size := strconv.Itoa(len(src.image))

	t.Run("create", func(t *testing.T) {
		resp, body := ts.do(t, p1, "POST", "/v1/images", nil, hdrs("x-image-meta-name", "remote", "x-image-meta-location", src.URL+"/image.img")...)
		if resp.StatusCode != 201 {
			t.Fatalf("POST: %d %s", resp.StatusCode, body)
		}
		img := v1Body(t, body)
		// Active at once, the size the HEAD found, no checksum: the data
		// is never read.
		if img["status"] != "active" || img["size"] != float64(len(src.image)) || img["checksum"] != nil {
			t.Fatalf("created: %v", img)
		}
		if strings.Contains(string(body), src.URL) || resp.Header.Get("ETag") != "" {
			t.Errorf("the create shows the location or an ETag: %v %s", resp.Header, body)
		}
		before := src.gets.Load()
		checkLocationImage(t, ts.testServer, src, img["id"].(string))
		if src.gets.Load() == before {
			t.Error("the data was not read from the location")
		}
	})
	t.Run("create with its size and checksum", func(t *testing.T) {
		sum := md5hex(src.image)
		resp, body := ts.do(t, p1, "POST", "/v1/images", nil, hdrs("x-image-meta-location", src.URL+"/image.img",
			"x-image-meta-size", size, "x-image-meta-checksum", sum)...)
		if resp.StatusCode != 201 || v1Body(t, body)["checksum"] != sum || resp.Header.Get("ETag") != sum {
			t.Fatalf("POST: %d %v %s", resp.StatusCode, resp.Header, body)
		}
		checkLocationImage(t, ts.testServer, src, v1Body(t, body)["id"].(string))
	})
	for _, tc := range []struct {
		name   string
		hdr    []string
		body   string
		status int
		msg    string
	}{
		// _validate_source, images.py:467-484.
		{"empty location", hdrs("x-image-meta-location", ""), "", 400, "External source should not be empty"},
		{"file location", hdrs("x-image-meta-location", "file:///etc/passwd"), "", 400, "External sources are not supported: 'file:///etc/passwd'"},
		{"unknown scheme", hdrs("x-image-meta-location", "swift://x/y"), "", 400, "External sources are not supported: 'swift://x/y'"},
		// The operator's import filtering: only the source's host.
		{"refused host", hdrs("x-image-meta-location", "http://localhost:1/image.img"), "", 400, "External sources are not supported"},
		// glance_store http get_size through _get_size (images.py:776-794).
		{"not found at the location", hdrs("x-image-meta-location", src.URL+"/gone"), "", 404, "HTTP datastore could not find image at URI."},
		{"location unreachable", hdrs("x-image-meta-location", closedURL(t)), "", 400, "The HTTP URL is invalid"},
		// images.py:823-841.
		{"size differs", hdrs("x-image-meta-location", src.URL+"/image.img", "x-image-meta-size", "5"), "", 409,
			"Provided image size must match the stored image size. (provided size: 5, stored size: " + size + ")"},
		// images.py:799-805.
		{"location and copy-from", hdrs("x-image-meta-location", src.URL+"/image.img", "x-glance-api-copy-from", src.URL+"/image.img"), "", 400,
			"It's invalid to provide multiple image sources."},
		{"location and data", hdrs("x-image-meta-location", src.URL+"/image.img", "Content-Type", "application/octet-stream"), "data", 400,
			"It's invalid to provide multiple image sources."},
		// _validate_image_for_activation, images.py:850-866.
		{"no disk format", []string{"x-image-meta-container_format", "bare", "x-image-meta-location", src.URL + "/image.img"}, "", 400, "Disk format is not specified."},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := imageCount(t, ts.testServer)
			var body *strings.Reader
			if tc.body != "" {
				body = strings.NewReader(tc.body)
			}
			var resp *http.Response
			var got []byte
			if body != nil {
				resp, got = ts.do(t, p1, "POST", "/v1/images", body, tc.hdr...)
			} else {
				resp, got = ts.do(t, p1, "POST", "/v1/images", nil, tc.hdr...)
			}
			if resp.StatusCode != tc.status || !strings.Contains(string(got), tc.msg) {
				t.Fatalf("POST: %d %s, want %d %q", resp.StatusCode, got, tc.status, tc.msg)
			}
			if after := imageCount(t, ts.testServer); after != before {
				t.Errorf("%d images after, %d before: a refused create kept one", after, before)
			}
		})
	}
	t.Run("update a queued image", func(t *testing.T) {
		resp, body := ts.do(t, p1, "POST", "/v1/images", nil, hdrs("x-image-meta-name", "later")...)
		if resp.StatusCode != 201 {
			t.Fatalf("POST: %d %s", resp.StatusCode, body)
		}
		id := v1Body(t, body)["id"].(string)
		resp, body = ts.do(t, p1, "PUT", "/v1/images/"+id, nil, "x-image-meta-location", src.URL+"/image.img")
		if resp.StatusCode != 200 || v1Body(t, body)["status"] != "active" || v1Body(t, body)["name"] != "later" {
			t.Fatalf("PUT location: %d %s", resp.StatusCode, body)
		}
		checkLocationImage(t, ts.testServer, src, id)
		// images.py:1055-1058: a location that cannot be sized changes
		// nothing of the queued image.
		_, body = ts.do(t, p1, "POST", "/v1/images", nil, hdrs("x-image-meta-name", "kept")...)
		other := v1Body(t, body)["id"].(string)
		resp, body = ts.do(t, p1, "PUT", "/v1/images/"+other, nil, "x-image-meta-name", "renamed", "x-image-meta-location", src.URL+"/gone")
		if resp.StatusCode != 404 || !strings.Contains(string(body), "HTTP datastore could not find image at URI.") {
			t.Errorf("PUT a location not found: %d %s", resp.StatusCode, body)
		}
		if v2 := ts.json(t, p1, "GET", "/v2/images/"+other, nil, 200); v2["name"] != "kept" || v2["status"] != "queued" {
			t.Errorf("after a refused location: name %v status %v, want kept queued", v2["name"], v2["status"])
		}
		// images.py:1012 and 1029-1033: only a queued image.
		resp, body = ts.do(t, p1, "PUT", "/v1/images/"+id, nil, "x-image-meta-location", src.URL+"/image.img")
		if resp.StatusCode != 400 || !strings.Contains(string(body), "Attempted to update Location field for an image not in queued status.") {
			t.Errorf("PUT location again: %d %s", resp.StatusCode, body)
		}
		resp, body = ts.do(t, p1, "PUT", "/v1/images/"+id, nil, "x-glance-api-copy-from", src.URL+"/image.img")
		if resp.StatusCode != 400 || !strings.Contains(string(body), "Attempted to update Location field for an image not in queued status.") {
			t.Errorf("PUT copy-from on an active image: %d %s", resp.StatusCode, body)
		}
		// Deleted, it no longer reads the location.
		if resp, body := ts.do(t, p1, "DELETE", "/v1/images/"+id, nil); resp.StatusCode != 200 {
			t.Fatalf("DELETE: %d %s", resp.StatusCode, body)
		}
		if resp, _ := ts.do(t, p1, "GET", "/v2/images/"+id+"/file", nil); resp.StatusCode != 404 {
			t.Errorf("GET /file of the deleted image: %d", resp.StatusCode)
		}
	})
	t.Run("the location gone: 503 as glance_store's", func(t *testing.T) {
		gone := startSource(t)
		resp, body := ts.do(t, p1, "POST", "/v1/images", nil, hdrs("x-image-meta-location", gone.URL+"/image.img")...)
		if resp.StatusCode != 201 {
			t.Fatalf("POST: %d %s", resp.StatusCode, body)
		}
		id := v1Body(t, body)["id"].(string)
		gone.Close()
		if resp, body := ts.do(t, p1, "GET", "/v2/images/"+id+"/file", nil); resp.StatusCode != 503 ||
			!strings.Contains(string(body), "Remote server where the image is present is unavailable.") {
			t.Errorf("GET /file: %d %s", resp.StatusCode, body)
		}
	})
}

// TestV1CopyFrom: images.py:813-818 and 634-694: the create answers
// queued at once; the copy ends active with the size and checksum of the
// bytes copied, or killed.
func TestV1CopyFrom(t *testing.T) {
	src := startSource(t)
	ts := startSourceEmbedded(t, src)
	t.Run("copied", func(t *testing.T) {
		resp, body := ts.do(t, p1, "POST", "/v1/images", nil, hdrs("x-image-meta-name", "copied", "x-glance-api-copy-from", src.URL+"/image.img")...)
		if resp.StatusCode != 201 {
			t.Fatalf("POST: %d %s", resp.StatusCode, body)
		}
		img := v1Body(t, body)
		if img["status"] != "queued" {
			t.Errorf("the create answered %v, want queued", img["status"])
		}
		id := img["id"].(string)
		ts.waitStatus(t, id, "active")
		v2 := ts.json(t, p1, "GET", "/v2/images/"+id, nil, 200)
		if v2["size"] != float64(len(src.image)) || v2["checksum"] != md5hex(src.image) {
			t.Errorf("copied image: size %v checksum %v", v2["size"], v2["checksum"])
		}
		gets := src.gets.Load()
		if resp, got := ts.do(t, p1, "GET", "/v2/images/"+id+"/file", nil); resp.StatusCode != 200 || !bytes.Equal(got, src.image) {
			t.Errorf("GET /file: %d, %d bytes", resp.StatusCode, len(got))
		}
		if src.gets.Load() != gets {
			t.Error("a copied image's data was read from the source again")
		}
	})
	t.Run("update a queued image", func(t *testing.T) {
		_, body := ts.do(t, p1, "POST", "/v1/images", nil, hdrs()...)
		id := v1Body(t, body)["id"].(string)
		resp, body := ts.do(t, p1, "PUT", "/v1/images/"+id, nil, "x-glance-api-copy-from", src.URL+"/image.img")
		if resp.StatusCode != 200 {
			t.Fatalf("PUT: %d %s", resp.StatusCode, body)
		}
		ts.waitStatus(t, id, "active")
	})
	for _, tc := range []struct {
		name string
		url  string
		hdr  []string
	}{
		{"unreachable", closedURL(t), nil},
		{"not found", src.URL + "/gone", nil},
		{"cut stream", src.URL + "/cut.img", nil},
		// upload_utils.py:128-143: the supplied checksum is checked.
		{"checksum mismatch", src.URL + "/image.img", []string{"x-image-meta-checksum", strings.Repeat("0", 32)}},
	} {
		t.Run(tc.name+" ends killed", func(t *testing.T) {
			resp, body := ts.do(t, p1, "POST", "/v1/images", nil, hdrs(append([]string{"x-glance-api-copy-from", tc.url}, tc.hdr...)...)...)
			if resp.StatusCode != 201 {
				t.Fatalf("POST: %d %s", resp.StatusCode, body)
			}
			id := v1Body(t, body)["id"].(string)
			ts.waitStatus(t, id, "killed")
			if resp, _ := ts.do(t, p1, "GET", "/v2/images/"+id+"/file", nil); resp.StatusCode != 204 {
				t.Errorf("GET /file of a killed image: %d", resp.StatusCode)
			}
			// A killed image can be deleted (Queens' cleanup).
			if resp, body := ts.do(t, p1, "DELETE", "/v1/images/"+id, nil); resp.StatusCode != 200 {
				t.Errorf("DELETE: %d %s", resp.StatusCode, body)
			}
		})
	}
	t.Run("refused by the import filter", func(t *testing.T) {
		before := imageCount(t, ts.testServer)
		resp, body := ts.do(t, p1, "POST", "/v1/images", nil, hdrs("x-glance-api-copy-from", "http://localhost:1/x")...)
		if resp.StatusCode != 400 || !strings.Contains(string(body), "External sources are not supported: 'http://localhost:1/x'") {
			t.Fatalf("POST: %d %s", resp.StatusCode, body)
		}
		if imageCount(t, ts.testServer) != before {
			t.Error("a refused copy-from kept an image")
		}
	})
	t.Run("copy-from and data", func(t *testing.T) {
		resp, body := ts.do(t, p1, "POST", "/v1/images", strings.NewReader("x"), hdrs("Content-Type", "application/octet-stream", "x-glance-api-copy-from", src.URL+"/image.img")...)
		if resp.StatusCode != 400 || !strings.Contains(string(body), "It's invalid to provide multiple image sources.") {
			t.Fatalf("POST: %d %s", resp.StatusCode, body)
		}
	})
}

// TestV1SourcesGlanceRegion: a real Glance 25 region (glancetest) beside
// an embedded one. Stock Glance takes no http location: locations are
// invisible (show_multiple_locations off by default, and deprecated) so
// it refuses to add one, and only its file store is enabled. A location
// image therefore lives in the embedded region: created in the Glance
// region (the default), it moves there with its id. Copy-from copies into
// the Glance region through its own upload.
func TestV1SourcesGlanceRegion(t *testing.T) {
	g := glancetest.SharedT(t)
	src := startSource(t)
	f := src.fetcher(t)
	remote, err := glance.New(glance.Config{Name: "origin", Endpoint: g.URL})
	if err != nil {
		t.Fatal(err)
	}
	store, err := local.Open(t.TempDir(), local.Options{Fetcher: f, StoreName: "edge"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	blobs, err := blob.Open(blob.Config{Dir: t.TempDir(), MaxSize: 1 << 30, Retries: 1})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { blobs.Close() })
	cat, err := federation.New(federation.Config{
		Regions: []federation.RegionConfig{{Name: "origin", Region: federation.RegionOf(remote)}, {Name: "edge", Region: federation.RegionOf(store)}},
		Default: "origin", Blobs: blobs,
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cat.Close)
	ts := serveData(t, gateway.Config{EnableV1: true, ImportFilter: f, ImageCache: cat.ImageCache()}, cat)
	cached := func(id string) bool {
		t.Helper()
		_, body := ts.do(t, admin, "GET", "/v2/cache", nil)
		return strings.Contains(string(body), id)
	}

	t.Run("Glance refuses an http location", func(t *testing.T) {
		_, body := ts.do(t, p1, "POST", "/v1/images", nil, hdrs()...)
		id := v1Body(t, body)["id"].(string)
		req, _ := http.NewRequest("PATCH", g.URL+"/v2/images/"+id, strings.NewReader(`[{"op":"add","path":"/locations/-","value":{"url":"`+src.URL+`/image.img","metadata":{}}}]`))
		req.Header.Set("Content-Type", "application/openstack-images-v2.1-json-patch")
		glancetest.SetCaller(req.Header, "p1", "u-p1", "member")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 403 {
			t.Errorf("Glance's PATCH add location: %d, want 403", resp.StatusCode)
		}
	})
	t.Run("location", func(t *testing.T) {
		sum := md5hex(src.image)
		resp, body := ts.do(t, p1, "POST", "/v1/images", nil, hdrs("x-image-meta-location", src.URL+"/image.img", "x-image-meta-checksum", sum)...)
		if resp.StatusCode != 201 {
			t.Fatalf("POST: %d %s", resp.StatusCode, body)
		}
		id := v1Body(t, body)["id"].(string)
		v2 := ts.json(t, p1, "GET", "/v2/images/"+id, nil, 200)
		if v2["stores"] != "edge" || v2["status"] != "active" {
			t.Errorf("v2 show: stores %v status %v, want edge active", v2["stores"], v2["status"])
		}
		req, _ := http.NewRequest("GET", g.URL+"/v2/images/"+id, nil)
		glancetest.SetCaller(req.Header, "p1", "u-p1", "member")
		if resp, err := http.DefaultClient.Do(req); err != nil {
			t.Fatal(err)
		} else if resp.Body.Close(); resp.StatusCode != 404 {
			t.Errorf("the Glance region still has the moved image: %d", resp.StatusCode)
		}
		checkLocationImage(t, ts.testServer, src, id)
		// With a checksum to verify against, the data is cached: a
		// second download reads no byte from the location.
		gets := src.gets.Load()
		if resp, got := ts.do(t, p1, "GET", "/v2/images/"+id+"/file", nil); resp.StatusCode != 200 || !bytes.Equal(got, src.image) {
			t.Errorf("GET /file: %d, %d bytes", resp.StatusCode, len(got))
		}
		if n := src.gets.Load() - gets; n != 0 {
			t.Errorf("a cached location image read the location %d times", n)
		}
		if !cached(id) {
			t.Error("the cache API does not list the cached location image")
		}
		// Deleted, its cached data goes with it.
		if resp, body := ts.do(t, p1, "DELETE", "/v1/images/"+id, nil); resp.StatusCode != 200 {
			t.Fatalf("DELETE: %d %s", resp.StatusCode, body)
		}
		if cached(id) {
			t.Error("a deleted location image's data is still cached")
		}
	})
	t.Run("copy-from into Glance", func(t *testing.T) {
		resp, body := ts.do(t, p1, "POST", "/v1/images", nil, hdrs("x-glance-api-copy-from", src.URL+"/image.img")...)
		if resp.StatusCode != 201 {
			t.Fatalf("POST: %d %s", resp.StatusCode, body)
		}
		id := v1Body(t, body)["id"].(string)
		ts.glance = g.URL
		defer func() { ts.glance = "" }()
		ts.waitStatus(t, id, "active")
		if resp, got := ts.do(t, p1, "GET", "/v1/images/"+id, nil); resp.StatusCode != 200 || !bytes.Equal(got, src.image) {
			t.Errorf("GET v1: %d, %d bytes", resp.StatusCode, len(got))
		}
	})
	t.Run("copy-from unreachable stays queued in Glance", func(t *testing.T) {
		// Glance 25 has no killed transition: the failed upload leaves
		// the image queued, as a failed PUT /file does.
		resp, body := ts.do(t, p1, "POST", "/v1/images", nil, hdrs("x-glance-api-copy-from", closedURL(t))...)
		if resp.StatusCode != 201 {
			t.Fatalf("POST: %d %s", resp.StatusCode, body)
		}
		id := v1Body(t, body)["id"].(string)
		time.Sleep(300 * time.Millisecond)
		if got := glanceStatus(t, g.URL, id); got != "queued" {
			t.Errorf("status %s, want queued", got)
		}
	})
}

// TestV1CopyFromShutdown: a copy still running when the gateway shuts
// down is stopped, and its image ends killed before Shutdown returns (the
// catalog closes after it).
func TestV1CopyFromShutdown(t *testing.T) {
	src := startSource(t)
	stalled := make(chan struct{})
	slow := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Length", "1000000")
		w.Write(make([]byte, 1000))
		w.(http.Flusher).Flush()
		close(stalled)
		select { // stalled until the copy is stopped (or a failing test ends)
		case <-r.Context().Done():
		case <-time.After(5 * time.Second):
		}
	}))
	defer slow.Close()
	ts := startSourceEmbedded(t, src) // the same loopback host as slow
	resp, body := ts.do(t, p1, "POST", "/v1/images", nil, hdrs("x-glance-api-copy-from", slow.URL+"/big.img")...)
	if resp.StatusCode != 201 {
		t.Fatalf("POST: %d %s", resp.StatusCode, body)
	}
	id := v1Body(t, body)["id"].(string)
	<-stalled
	ts.waitStatus(t, id, "saving")
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := ts.srv.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	img, err := ts.store.Image(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	if img.Status != "killed" {
		t.Errorf("after Shutdown the copy's image is %s, want killed", img.Status)
	}
}

// TestV1SourcePolicy: images.py:491 (set_image_location) and 916-919
// (copy_from, upload_image), each a bare 403 before anything is made;
// copy_from is no Glance 25 default, so a policy file's rule of that name
// decides (Queens' policy.json: "").
func TestV1SourcePolicy(t *testing.T) {
	src := startSource(t)
	ts := startSourceEmbedded(t, src)
	for _, tc := range []struct {
		rule string
		hdr  []string
	}{
		{"set_image_location", hdrs("x-image-meta-location", src.URL+"/image.img")},
		{"copy_from", hdrs("x-glance-api-copy-from", src.URL+"/image.img")},
		{"upload_image", hdrs("x-glance-api-copy-from", src.URL+"/image.img")},
	} {
		t.Run(tc.rule, func(t *testing.T) {
			f := filepath.Join(t.TempDir(), "policy.yaml")
			if err := os.WriteFile(f, []byte(`"`+tc.rule+`": "!"`+"\n"), 0o644); err != nil {
				t.Fatal(err)
			}
			ts.srv.SetPolicy(policy.MustNew(policy.Options{File: f}))
			defer ts.srv.SetPolicy(policy.MustNew(policy.Options{}))
			before := imageCount(t, ts.testServer)
			if resp, body := ts.do(t, p1, "POST", "/v1/images", nil, tc.hdr...); resp.StatusCode != 403 {
				t.Errorf("POST with %s refused: %d %s", tc.rule, resp.StatusCode, body)
			}
			if imageCount(t, ts.testServer) != before {
				t.Error("a refused create kept an image")
			}
		})
	}
}
