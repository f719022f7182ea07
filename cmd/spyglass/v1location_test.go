package main

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// TestV1LocationSSRF: an http location (v1's x-image-meta-location) goes
// through the import filtering as web-download does, at creation (the
// HEAD) and at every download (the GET): a location that redirects to the
// admin listener is refused, and one that starts redirecting there after
// its image was created serves nothing.
func TestV1LocationSSRF(t *testing.T) {
	bin := buildBinary(t)
	image := bytes.Repeat([]byte("served from the location "), 100)
	var admin atomic.Value // the admin listener's address, once known
	var turned atomic.Bool // /img redirects to the admin listener too
	origin := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/img" && !turned.Load() {
			http.ServeContent(w, r, "img", time.Time{}, bytes.NewReader(image))
			return
		}
		http.Redirect(w, r, "http://"+admin.Load().(string)+"/metrics", http.StatusFound)
	}))
	defer origin.Close()
	u, _ := url.Parse(origin.URL)
	dir := t.TempDir()
	cfgPath := filepath.Join(dir, "spyglass.yaml")
	cfg := fmt.Sprintf(`listen: 127.0.0.1:0
auth: {mode: trusted}
regions: [{name: local, kind: local, data_dir: %q}]
import_filtering: {allowed_hosts: [127.0.0.1], allowed_ports: [%s]}
`, filepath.Join(dir, "data"), u.Port())
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	p := startWithConfig(t, bin, cfgPath)
	admin.Store(p.admin)
	base := "http://" + p.addr

	create := func(location string) (int, string, string) {
		req := memberReq(t, "POST", base+"/v1/images", "")
		req.Header.Del("Content-Type")
		req.Header.Set("x-image-meta-disk_format", "raw")
		req.Header.Set("x-image-meta-container_format", "bare")
		req.Header.Set("x-image-meta-location", location)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		var id string
		if i := strings.Index(string(b), `"id": "`); i >= 0 {
			id = string(b[i+7 : i+7+36])
		}
		return resp.StatusCode, id, string(b)
	}
	if status, _, body := create(origin.URL + "/to-admin"); status != 400 || !strings.Contains(body, "Redirect to disallowed URL") {
		t.Errorf("a location redirecting to the admin listener: %d %s", status, body)
	}
	status, id, body := create(origin.URL + "/img")
	if status != 201 {
		t.Fatalf("a location on the allowed host: %d %s", status, body)
	}
	get := func() (int, []byte) {
		resp, err := http.DefaultClient.Do(memberReq(t, "GET", base+"/v2/images/"+id+"/file", ""))
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, b
	}
	if status, b := get(); status != 200 || !bytes.Equal(b, image) {
		t.Fatalf("GET /file: %d, %d bytes", status, len(b))
	}
	turned.Store(true)
	if status, b := get(); status != 503 || bytes.Contains(b, []byte("# HELP")) {
		t.Errorf("GET /file once the location redirects to the admin listener: %d %.200s", status, b)
	}
}
