package admin_test

import (
	"bytes"
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/spyglass-gateway/spyglass/admin"
	"github.com/spyglass-gateway/spyglass/backends/glance"
	"github.com/spyglass-gateway/spyglass/backends/glance/glancetest"
	"github.com/spyglass-gateway/spyglass/cache/blob"
	"github.com/spyglass-gateway/spyglass/federation"
)

// glanceImage creates an image in g as an admin and, with data, uploads it
// (active); without, it stays queued.
func glanceImage(t *testing.T, g *glancetest.Glance, data []byte) string {
	t.Helper()
	req, _ := http.NewRequest("POST", g.URL+"/v2/images", strings.NewReader(`{"name": "x", "disk_format": "raw", "container_format": "bare", "visibility": "public"}`))
	req.Header.Set("Content-Type", "application/json")
	glancetest.SetCaller(req.Header, "ops", "u-ops", "admin,member,reader")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	var img struct{ ID string }
	json.NewDecoder(resp.Body).Decode(&img)
	resp.Body.Close()
	if data != nil {
		put, _ := http.NewRequest("PUT", g.URL+"/v2/images/"+img.ID+"/file", bytes.NewReader(data))
		put.Header.Set("Content-Type", "application/octet-stream")
		glancetest.SetCaller(put.Header, "ops", "u-ops", "admin,member,reader")
		if resp, err := http.DefaultClient.Do(put); err != nil || resp.StatusCode != 204 {
			t.Fatalf("upload to glance: %v %v", err, resp)
		}
	}
	return img.ID
}

// TestCacheControlsOverGlance: the cache controls in front of a real Glance
// region, with the token: a prefetch is queued (202) and cached, listed,
// evicted (204); the requests Glance's cache API refuses are refused the
// same way, in Glance's error shape; and a prefetch into a cache whose disk
// takes nothing is answered 500 at once, naming the cause (Glance answers
// its PUT /v2/cache/{id} 500 then), rather than 202 and nothing.
func TestCacheControlsOverGlance(t *testing.T) {
	g := glancetest.StartT(t)
	remote, err := glance.New(glance.Config{Name: "r1", Endpoint: g.URL})
	if err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(t.TempDir(), "cache")
	blobs, err := blob.Open(blob.Config{Dir: dir, MaxSize: 1 << 30})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { blobs.Close() })
	inst := instanceOver(t, federation.RegionConfig{Name: "r1", Region: federation.RegionOf(remote)}, blobs)
	base := startAdmin(t, admin.Config{Token: testToken, Instance: inst})
	auth := map[string]string{"Authorization": "Bearer " + testToken}
	data := bytes.Repeat([]byte("spyglass"), 32<<10)
	active, queued := glanceImage(t, g, data), glanceImage(t, g, nil)

	listing := func() admin.CacheListing {
		t.Helper()
		a := send(t, "GET", base+"/cache", auth)
		var l admin.CacheListing
		if err := json.Unmarshal(a.body, &l); a.status != 200 || err != nil {
			t.Fatalf("GET /cache: %d %s", a.status, a.body)
		}
		return l
	}
	if a := send(t, "PUT", base+"/cache/r1/"+active, auth); a.status != http.StatusAccepted {
		t.Fatalf("prefetch: %d %s", a.status, a.body)
	}
	for deadline := time.Now().Add(time.Minute); ; time.Sleep(20 * time.Millisecond) {
		l := listing()
		if len(l.Images) == 1 && l.Images[0].State == "complete" && l.Images[0].ImageID == active && l.Images[0].Bytes == int64(len(data)) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("prefetched image not cached within a minute: %+v", l)
		}
	}

	// Glance-shaped refusals, from the gateway's error map.
	for _, tc := range []struct {
		name, method, path string
		status             int
		message            string
	}{
		{"unknown image", "PUT", "/cache/r1/0a1b2c3d-0000-4000-8000-000000000000", 404,
			"The resource could not be found.<br /><br />\nImage 0a1b2c3d-0000-4000-8000-000000000000 not found.\n\n"},
		{"image not active", "PUT", "/cache/r1/" + queued, 400,
			"The server could not comply with the request since it is either malformed or otherwise incorrect.<br /><br />\nOnly images with status active can be targeted for queueing\n\n"},
		{"region not cached", "PUT", "/cache/r2/" + active, 404,
			"The resource could not be found.<br /><br />\nRegion r2 has no cached image data; cached regions: r1.\n\n"},
		{"evict what is not cached", "DELETE", "/cache/r1/" + queued, 404,
			"The resource could not be found.<br /><br />\nImage " + queued + " is not cached from region r1.\n\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a := send(t, tc.method, base+tc.path, auth)
			var e glanceError
			if err := json.Unmarshal(a.body, &e); err != nil || a.status != tc.status || e.Message != tc.message || e.Code != itoa(int64(tc.status))+" "+http.StatusText(tc.status) {
				t.Errorf("%s %s: %d %s, want %d with message %q", tc.method, tc.path, a.status, a.body, tc.status, tc.message)
			}
		})
	}

	if a := send(t, "DELETE", base+"/cache/r1/"+active, auth); a.status != http.StatusNoContent {
		t.Fatalf("evict: %d %s", a.status, a.body)
	}
	if l := listing(); len(l.Images) != 0 {
		t.Fatalf("after the eviction: %+v", l)
	}

	// The cache's disk takes nothing (a file where its directory was).
	if err := os.Rename(dir, dir+".away"); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(dir, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	a := send(t, "PUT", base+"/cache/r1/"+active, auth)
	var e glanceError
	json.Unmarshal(a.body, &e)
	wantStart := "The server has either erred or is incapable of performing the requested operation.<br /><br />\nthe image data cache cannot take image " + active + ": cache.dir " + dir
	if a.status != http.StatusInternalServerError || e.Code != "500 Internal Server Error" || !strings.HasPrefix(e.Message, wantStart) {
		t.Errorf("prefetch into an unusable cache: %d %s, want 500 with a message starting %q", a.status, a.body, wantStart)
	}
	if l := listing(); len(l.Images) != 0 {
		t.Errorf("the refused prefetch is listed: %+v", l)
	}
}
