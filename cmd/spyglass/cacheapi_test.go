package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/spyglass-gateway/spyglass/backends/glance/glancetest"
)

// cacheCall is one request of the caching cycle as a trusted caller
// (admin: "admin,member,reader"; member: "member,reader").
func cacheCall(t *testing.T, base, as, method, path string, body []byte, hdr ...string) (int, []byte) {
	t.Helper()
	req, err := http.NewRequest(method, base+path, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	roles := "member,reader"
	if as == "admin" {
		roles = "admin,member,reader"
	}
	glancetest.SetCaller(req.Header, "p-"+as, "u-"+as, roles)
	req.Header.Set("Accept", "application/json")
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, b
}

type cacheListing struct {
	Cached []map[string]any `json:"cached_images"`
	Queued []string         `json:"queued_images"`
}

func (l cacheListing) cached(id string) map[string]any {
	for _, e := range l.Cached {
		if e["image_id"] == id {
			return e
		}
	}
	return nil
}

func listCache(t *testing.T, base string) cacheListing {
	t.Helper()
	code, b := cacheCall(t, base, "admin", "GET", "/v2/cache", nil)
	var l cacheListing
	if err := json.Unmarshal(b, &l); err != nil || code != 200 {
		t.Fatalf("GET /v2/cache: %d %s", code, b)
	}
	return l
}

// createImage creates an image as admin and, with data, uploads it.
func createImage(t *testing.T, base string, data []byte) string {
	t.Helper()
	code, b := cacheCall(t, base, "admin", "POST", "/v2/images", []byte(`{"name": "cached", "disk_format": "raw", "container_format": "bare", "visibility": "private"}`), "Content-Type", "application/json")
	var img struct{ ID string }
	if json.Unmarshal(b, &img); code != 201 || img.ID == "" {
		t.Fatalf("create: %d %s", code, b)
	}
	if data != nil {
		if code, b := cacheCall(t, base, "admin", "PUT", "/v2/images/"+img.ID+"/file", data, "Content-Type", "application/octet-stream"); code != 204 {
			t.Fatalf("upload: %d %s", code, b)
		}
	}
	return img.ID
}

// waitCached polls GET /v2/cache until the image is cached, as Tempest's
// waiters.wait_for_caching does.
func waitCached(t *testing.T, base, id string) cacheListing {
	t.Helper()
	for deadline := time.Now().Add(time.Minute); ; time.Sleep(100 * time.Millisecond) {
		l := listCache(t, base)
		if l.cached(id) != nil {
			return l
		}
		if time.Now().After(deadline) {
			t.Fatalf("image %s not cached within a minute: %+v", id, l)
		}
	}
}

// TestImageCachingCycle is Tempest's test_image_caching_cycle
// (tempest/api/image/v2/admin/test_image_caching.py), step by step, on
// `spyglass serve` with no configuration but its data directory (the
// embedded store: before, /v2/cache answered 404 "Caching via API is not
// supported at this site.") and in front of a real Glance region (before,
// an image just queued was listed nowhere while its fill ran), and on the
// real Glance itself, the oracle.
func TestImageCachingCycle(t *testing.T) {
	bin := buildBinary(t)
	g := glancetest.SharedT(t)
	embeddedDir := t.TempDir()
	var embeddedAdmin string
	targets := []struct {
		name  string
		start func(t *testing.T) string
	}{
		{"embedded default", func(t *testing.T) string {
			p := startArgs(t, bin, "serve", "--listen", "127.0.0.1:0", "--data-dir", embeddedDir, "--auth", "trusted")
			embeddedAdmin = p.admin
			return "http://" + p.addr
		}},
		{"glance region", func(t *testing.T) string {
			return "http://" + startWithConfig(t, bin, glanceRegionConfig(t, "trusted", g.URL, "")).addr
		}},
		{"two embedded regions", func(t *testing.T) string {
			dir := t.TempDir()
			cfgPath := filepath.Join(dir, "spyglass.yaml")
			if err := os.WriteFile(cfgPath, []byte(fmt.Sprintf("listen: 127.0.0.1:0\nauth: {mode: trusted}\nregions:\n  - {name: east, kind: local, data_dir: %q}\n  - {name: west, kind: local, data_dir: %q}\ndefault_region: east\n",
				filepath.Join(dir, "east"), filepath.Join(dir, "west"))), 0o600); err != nil {
				t.Fatal(err)
			}
			return "http://" + startWithConfig(t, bin, cfgPath).addr
		}},
		{"glance 25 (oracle)", func(*testing.T) string { return g.URL }},
	}
	for _, tc := range targets {
		t.Run(tc.name, func(t *testing.T) {
			base := tc.start(t)
			// Non-admins may not list the cache.
			if code, b := cacheCall(t, base, "member", "GET", "/v2/cache", nil); code != 403 {
				t.Errorf("member GET /v2/cache: %d %s, want 403", code, b)
			}
			if code, b := cacheCall(t, base, "admin", "PUT", "/v2/cache/non-existing-image-id", nil); code != 404 {
				t.Errorf("queue an unknown image: %d %s, want 404", code, b)
			}
			queued := createImage(t, base, nil)
			if code, b := cacheCall(t, base, "admin", "PUT", "/v2/cache/"+queued, nil); code != 400 {
				t.Errorf("queue a queued image: %d %s, want 400", code, b)
			}

			data := bytes.Repeat([]byte{0xa5}, 1024) // data_utils.random_bytes' size
			id := createImage(t, base, data)
			if code, b := cacheCall(t, base, "admin", "PUT", "/v2/cache/"+id, nil); code != 202 {
				t.Fatalf("queue: %d %s, want 202", code, b)
			}
			if l := listCache(t, base); !slices.Contains(l.Queued, id) || l.cached(id) != nil {
				t.Errorf("right after the queue: %+v, want %s queued and not cached", l, id)
			}
			l := waitCached(t, base, id)
			if slices.Contains(l.Queued, id) {
				t.Errorf("cached and still queued: %+v", l)
			}
			e := l.cached(id)
			if got, want := e["size"], float64(len(data)); got != want {
				t.Errorf("size %v, want %v", got, want)
			}
			if got, want := e["hits"], float64(0); got != want {
				t.Errorf("hits %v, want %v", got, want)
			}
			now := float64(time.Now().Unix())
			for _, k := range []string{"last_accessed", "last_modified"} {
				if v, ok := e[k].(float64); !ok || v < now-600 || v > now+60 {
					t.Errorf("%s = %v, want a Unix time near %v", k, e[k], now)
				}
			}

			// DELETE /v2/cache/{id} drops it; queued again, DELETE
			// /v2/cache drops everything.
			if code, b := cacheCall(t, base, "admin", "DELETE", "/v2/cache/"+id, nil); code != 204 {
				t.Errorf("delete the entry: %d %s", code, b)
			}
			if l := listCache(t, base); l.cached(id) != nil || slices.Contains(l.Queued, id) {
				t.Errorf("after its delete: %+v", l)
			}
			cacheCall(t, base, "admin", "PUT", "/v2/cache/"+id, nil)
			waitCached(t, base, id)
			if code, b := cacheCall(t, base, "admin", "DELETE", "/v2/cache", nil); code != 204 {
				t.Errorf("clear: %d %s", code, b)
			}
			if l := listCache(t, base); len(l.Cached) != 0 || len(l.Queued) != 0 {
				t.Errorf("after the clear: %+v, want nothing", l)
			}
			if code, b := cacheCall(t, base, "admin", "DELETE", "/v2/cache", nil, "x-image-cache-clear-target", "invalid"); code != 400 {
				t.Errorf("clear with target invalid: %d %s, want 400", code, b)
			}

			// Deleting the image drops its cached copy, as Glance's cache
			// middleware does (glance/api/middleware/cache.py,
			// _process_DELETE_response). The oracle runs without that
			// middleware in its pipeline, and keeps the copy.
			cacheCall(t, base, "admin", "PUT", "/v2/cache/"+id, nil)
			waitCached(t, base, id)
			if code, b := cacheCall(t, base, "admin", "DELETE", "/v2/images/"+id, nil); code != 204 {
				t.Fatalf("delete the image: %d %s", code, b)
			}
			if l := listCache(t, base); l.cached(id) != nil && base != g.URL {
				t.Errorf("after the image's delete: %+v, want it gone", l)
			}

			if tc.name == "embedded default" {
				// The operator's controls on the admin listener see the
				// embedded store's cache too.
				id := createImage(t, base, data)
				resp, err := http.DefaultClient.Do(adminReq(t, "PUT", "http://"+embeddedAdmin+"/cache/local/"+id, nil))
				if err != nil {
					t.Fatal(err)
				}
				resp.Body.Close()
				if resp.StatusCode != 202 {
					t.Errorf("admin PUT /cache/local/{id}: %d, want 202", resp.StatusCode)
				}
				waitCached(t, base, id)
			}
		})
	}
	// The embedded default keeps the cache under its data directory.
	if _, err := os.Stat(filepath.Join(embeddedDir, "cache")); err != nil {
		t.Errorf("the embedded store's image cache: %v, want it in <data_dir>/cache", err)
	}
}
