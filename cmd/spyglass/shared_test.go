package main

import (
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/spyglass-gateway/spyglass/backends/glance/glancetest"
	"github.com/spyglass-gateway/spyglass/cache/redistest"
)

// TestTwoInstancesShareOneRedis: two `spyglass serve` processes in front of
// one real Glance, sharing one real redis-server, both caching metadata for
// an hour. An update and then a delete through the first are what the
// second's next shows answer (its cached record was invalidated through
// Redis), not the record it had cached.
func TestTwoInstancesShareOneRedis(t *testing.T) {
	bin := buildBinary(t)
	g := glancetest.SharedT(t)
	redis := redistest.StartT(t)
	resp, err := http.DefaultClient.Do(withJSON(adminReq(t, "POST", g.URL+"/v2/images",
		strings.NewReader(`{"name": "before", "visibility": "public"}`))))
	if err != nil {
		t.Fatal(err)
	}
	var img struct{ ID string }
	json.NewDecoder(resp.Body).Decode(&img)
	resp.Body.Close()

	var spy []string
	for range 2 {
		dir := t.TempDir()
		cfgPath := filepath.Join(dir, "spyglass.yaml")
		os.WriteFile(cfgPath, []byte(fmt.Sprintf(`listen: 127.0.0.1:0
auth: {mode: trusted}
regions:
  - {name: origin, kind: glance, endpoint: %q}
cache: {dir: %q, max_size: 1GiB, metadata_ttl: 1h}
redis: {addr: %q, timeout: 2s}
`, g.URL, filepath.Join(dir, "cache"), redis.Addr)), 0o600)
		p := startWithConfig(t, bin, cfgPath)
		spy = append(spy, "http://"+p.addr)
	}
	show := func(base string) (int, string) {
		resp, err := http.DefaultClient.Do(adminReq(t, "GET", base+"/v2/images/"+img.ID, nil))
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var got struct{ Name string }
		json.NewDecoder(resp.Body).Decode(&got)
		return resp.StatusCode, got.Name
	}
	eventually := func(what string, cond func() bool) {
		t.Helper()
		deadline := time.Now().Add(30 * time.Second)
		for !cond() {
			if time.Now().After(deadline) {
				t.Fatalf("not within 30s: %s", what)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	for _, s := range spy {
		if code, name := show(s); code != 200 || name != "before" {
			t.Fatalf("warm %s: %d %q", s, code, name)
		}
	}

	patch := adminReq(t, "PATCH", spy[0]+"/v2/images/"+img.ID,
		strings.NewReader(`[{"op": "replace", "path": "/name", "value": "after"}]`))
	patch.Header.Set("Content-Type", "application/openstack-images-v2.1-json-patch")
	if resp, err := http.DefaultClient.Do(patch); err != nil || resp.StatusCode != 200 {
		t.Fatalf("update through the first instance: %v %v", err, resp)
	}
	eventually("the second instance serves the update", func() bool {
		code, name := show(spy[1])
		return code == 200 && name == "after"
	})

	if resp, err := http.DefaultClient.Do(adminReq(t, "DELETE", spy[0]+"/v2/images/"+img.ID, nil)); err != nil || resp.StatusCode != 204 {
		t.Fatalf("delete through the first instance: %v %v", err, resp)
	}
	eventually("the second instance no longer shows the deleted image", func() bool {
		code, _ := show(spy[1])
		return code == 404
	})
}
