package gateway_test

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/spyglass-gateway/spyglass/backends/glance"
	"github.com/spyglass-gateway/spyglass/backends/glance/glancetest"
	"github.com/spyglass-gateway/spyglass/federation"
	"github.com/spyglass-gateway/spyglass/gateway"
)

// TestCreateTimedOutLeavesNoImage: a region that answers a create after
// the gateway gave up (a read timeout: the client is told 503) has made
// the image all the same; with an id Spyglass chose, nobody else could
// find it, and it would stay in its owner's listings. The gateway deletes
// it. An id the client chose is left for the client to find.
func TestCreateTimedOutLeavesNoImage(t *testing.T) {
	g := glancetest.SharedT(t)
	target, _ := url.Parse(g.URL)
	proxy := httputil.NewSingleHostReverseProxy(target)
	// The region's answer to a create is held past the gateway's read
	// timeout; the create itself reaches Glance at once.
	proxy.ModifyResponse = func(resp *http.Response) error {
		if resp.Request.Method == "POST" && resp.Request.URL.Path == "/v2/images" {
			time.Sleep(1500 * time.Millisecond)
		}
		return nil
	}
	slow := httptest.NewServer(proxy)
	t.Cleanup(slow.Close)
	remote, err := glance.New(glance.Config{Name: "origin", Endpoint: slow.URL, ReadTimeout: 500 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	cat, err := federation.New(federation.Config{
		Regions: []federation.RegionConfig{{Name: "origin", Region: federation.RegionOf(remote)}}, Default: "origin",
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cat.Close)
	ts := serveData(t, gateway.Config{EnableV1: true}, cat)

	// inGlance lists p1's images of that name in the region itself.
	inGlance := func(name string) int {
		t.Helper()
		req, _ := http.NewRequest("GET", g.URL+"/v2/images?name="+name, nil)
		glancetest.SetCaller(req.Header, "p1", "u-p1", "member")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var page struct{ Images []any }
		if err := json.NewDecoder(resp.Body).Decode(&page); err != nil {
			t.Fatal(err)
		}
		return len(page.Images)
	}
	for _, tc := range []struct {
		name   string
		create func(name string) int
		kept   int // images left in the region
	}{
		{"v2", func(name string) int {
			resp, _ := ts.do(t, p1, "POST", "/v2/images", strings.NewReader(`{"name": "`+name+`"}`), "Content-Type", "application/json")
			return resp.StatusCode
		}, 0},
		{"v1", func(name string) int {
			resp, _ := ts.do(t, p1, "POST", "/v1/images", nil, "x-image-meta-name", name)
			return resp.StatusCode
		}, 0},
		{"v2 with the client's id", func(name string) int {
			resp, _ := ts.do(t, p1, "POST", "/v2/images", strings.NewReader(`{"name": "`+name+`", "id": "`+uuid.NewString()+`"}`), "Content-Type", "application/json")
			return resp.StatusCode
		}, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			name := "orphan-" + strings.ReplaceAll(tc.name, " ", "-") + "-" + uuid.NewString()[:8]
			if got := tc.create(name); got != 503 {
				t.Fatalf("create: %d, want 503 (the region answered too late)", got)
			}
			deadline := time.Now().Add(20 * time.Second)
			for inGlance(name) != tc.kept && time.Now().Before(deadline) {
				time.Sleep(200 * time.Millisecond)
			}
			if tc.kept == 0 {
				if n := inGlance(name); n != 0 {
					t.Errorf("%d images left in the region", n)
				}
				return
			}
			time.Sleep(3 * time.Second) // past the first delete attempt
			if n := inGlance(name); n != tc.kept {
				t.Errorf("%d images in the region, want %d", n, tc.kept)
			}
		})
	}
}
