package main

import (
	"encoding/json"
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

	"github.com/spyglass-gateway/spyglass/backends/glance/glancetest"
)

// The SSRF reproductions of the hardening issue, written as the tenant's
// requests: web-download of internal addresses, of encoded forms of
// them, and of a URL that redirects to the admin listener.

// importAs creates a queued image as project p1 at base and asks for a
// web-download of uri; it returns the image id, the status and the
// message of the answer.
func importAs(t *testing.T, base, uri string) (string, int, string) {
	t.Helper()
	req := memberReq(t, "POST", base+"/v2/images", `{"name": "wd", "disk_format": "raw", "container_format": "bare"}`)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	var img struct{ ID string }
	json.NewDecoder(resp.Body).Decode(&img)
	resp.Body.Close()
	if resp.StatusCode != 201 || img.ID == "" {
		t.Fatalf("create at %s: %d", base, resp.StatusCode)
	}
	body, _ := json.Marshal(map[string]any{"method": map[string]any{"name": "web-download", "uri": uri}})
	resp, err = http.DefaultClient.Do(memberReq(t, "POST", base+"/v2/images/"+img.ID+"/import", string(body)))
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	var doc struct{ Message string }
	if json.Unmarshal(b, &doc) != nil && resp.StatusCode >= 400 {
		t.Fatalf("import at %s: %d, body not JSON: %q", base, resp.StatusCode, b)
	}
	return img.ID, resp.StatusCode, strings.TrimSuffix(doc.Message, "<br /><br />\n\n\n")
}

func memberReq(t *testing.T, method, url, body string) *http.Request {
	t.Helper()
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	glancetest.SetCaller(req.Header, "p1", "u1", "member,reader")
	req.Header.Set("Accept", "application/json") // Glance's errors as JSON
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	return req
}

// imageDoc is GET /v2/images/{id} as project p1 sees it.
func imageDoc(t *testing.T, base, id string) map[string]any {
	t.Helper()
	resp, err := http.DefaultClient.Do(memberReq(t, "GET", base+"/v2/images/"+id, ""))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var doc map[string]any
	if err := json.NewDecoder(resp.Body).Decode(&doc); err != nil || resp.StatusCode != 200 {
		t.Fatalf("GET image %s: %d %v", id, resp.StatusCode, err)
	}
	return doc
}

// waitImport polls the image until its import ended (failed or active).
func waitImport(t *testing.T, base, id string) map[string]any {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for {
		doc := imageDoc(t, base, id)
		if f, _ := doc["os_glance_failed_import"].(string); f != "" || doc["status"] == "active" {
			return doc
		}
		if time.Now().After(deadline) {
			t.Fatalf("image %s: import still running after 60s: %v", id, doc)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// refusedAtRequest are the URIs refused with 400 before any task: the
// issue's reproductions and Glance's own refusals.
var refusedAtRequest = []string{
	"http://127.0.0.1/",
	"http://localhost/",
	"http://169.254.169.254/latest/meta-data/",
	"http://2130706433/",
	"http://0x7f000001/",
	"http://127.1/",
	"http://[::1]/",
	"http://[::ffff:127.0.0.1]/",
	"http://0.0.0.0/",
	"http://127.0.0.1./",
	"ftp://example.com/",
	"http://example.com:8080/",
}

// TestWebDownloadSSRF on the embedded store: internal and encoded
// addresses are refused at request time with Glance's message; an
// unreachable URL (Tempest's test_image_web_download_import_with_bad_url)
// is accepted and ends as a failed import; a URL that redirects to the
// admin listener never fetches it.
func TestWebDownloadSSRF(t *testing.T) {
	bin := buildBinary(t)
	var redirects atomic.Int64
	var admin atomic.Value // the admin listener's address, once known
	origin := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/img" {
			io.WriteString(w, "image bytes")
			return
		}
		redirects.Add(1)
		to := "http://" + admin.Load().(string) + "/metrics"
		if r.URL.Path == "/to-localhost" {
			to = "http://localhost:" + strings.Split(r.Host, ":")[1] + "/img"
		}
		http.Redirect(w, r, to, http.StatusFound)
	}))
	defer origin.Close()
	u, _ := url.Parse(origin.URL)

	// allowed_hosts lets the test reach its own loopback server, and only
	// it: what "a public mirror" is for this test.
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
	filtered := startWithConfig(t, bin, cfgPath)
	admin.Store(filtered.admin)
	base := "http://" + filtered.addr

	t.Run("redirect to the admin listener", func(t *testing.T) {
		id, status, msg := importAs(t, base, origin.URL+"/to-admin")
		if status != 202 {
			t.Fatalf("import: %d %q, want 202", status, msg)
		}
		doc := waitImport(t, base, id)
		if got, want := doc["status"], "queued"; got != want {
			t.Errorf("status %v, want %v (the admin listener's /metrics became the image)", got, want)
		}
		if got, want := doc["os_glance_failed_import"], "local"; got != want {
			t.Errorf("os_glance_failed_import %v, want %v", got, want)
		}
		if doc["size"] != nil {
			t.Errorf("size %v, want none", doc["size"])
		}
		if got := taskMessage(t, base, id); !strings.Contains(got, "Redirect to disallowed URL") {
			t.Errorf("task message %q, want the refused redirect", got)
		}
	})
	t.Run("redirect to a host not allowed", func(t *testing.T) {
		id, status, _ := importAs(t, base, origin.URL+"/to-localhost")
		if status != 202 {
			t.Fatalf("import: %d, want 202", status)
		}
		if doc := waitImport(t, base, id); doc["status"] != "queued" || doc["os_glance_failed_import"] != "local" {
			t.Errorf("image %v, want queued with os_glance_failed_import local", doc)
		}
	})
	t.Run("allowed host", func(t *testing.T) {
		id, status, _ := importAs(t, base, origin.URL+"/img")
		if status != 202 {
			t.Fatalf("import: %d, want 202", status)
		}
		if doc := waitImport(t, base, id); doc["status"] != "active" || doc["size"] != float64(len("image bytes")) {
			t.Errorf("image %v, want active with the data", doc)
		}
	})
	if got, want := redirects.Load(), int64(2); got != want {
		t.Errorf("the origin redirected %d times, want %d", got, want)
	}

	// The defaults: Glance's [import_filtering_opts].
	p := startServe(t, bin, t.TempDir())
	base = "http://" + p.addr
	for _, uri := range append(refusedAtRequest, "http://"+p.admin+"/metrics", origin.URL+"/img") {
		t.Run(uri, func(t *testing.T) {
			id, status, msg := importAs(t, base, uri)
			if got, want := status, 400; got != want {
				t.Errorf("status %d, want %d", got, want)
			}
			if got, want := msg, "URI for web-download does not pass filtering: "+uri; got != want {
				t.Errorf("message %q, want %q", got, want)
			}
			if doc := imageDoc(t, base, id); doc["status"] != "queued" || doc["os_glance_failed_import"] != nil {
				t.Errorf("after the 400 the image is %v, want untouched", doc)
			}
		})
	}
	t.Run("unreachable URL", func(t *testing.T) {
		id, status, msg := importAs(t, base, "http://does-not.exist/no/possible/way")
		if status != 202 {
			t.Fatalf("import: %d %q, want 202 (Tempest waits for a failed import)", status, msg)
		}
		doc := waitImport(t, base, id)
		if doc["status"] != "queued" || doc["os_glance_failed_import"] != "local" || doc["os_glance_importing_to_stores"] != "" {
			t.Errorf("image %v, want queued, os_glance_failed_import local, os_glance_importing_to_stores empty", doc)
		}
	})
}

// taskMessage is the message of the image's (one) import task.
func taskMessage(t *testing.T, base, id string) string {
	t.Helper()
	resp, err := http.DefaultClient.Do(memberReq(t, "GET", base+"/v2/images/"+id+"/tasks", ""))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var doc struct {
		Tasks []struct{ Status, Message string }
	}
	json.NewDecoder(resp.Body).Decode(&doc)
	if len(doc.Tasks) != 1 || doc.Tasks[0].Status != "failure" {
		t.Fatalf("tasks of %s: %+v, want one failed", id, doc.Tasks)
	}
	return doc.Tasks[0].Message
}

// TestWebDownloadSSRFThroughGlanceRegion: in front of a real Glance,
// Spyglass refuses the same URIs before the region is asked, so the
// region's Glance never fetches them (Glance 25 itself accepts loopback
// and link-local addresses: 202, and its task fetches them). Where Glance
// refuses too, both answer the same message.
func TestWebDownloadSSRFThroughGlanceRegion(t *testing.T) {
	bin := buildBinary(t)
	g := glancetest.SharedT(t)
	p := startWithConfig(t, bin, glanceRegionConfig(t, "trusted", g.URL, ""))
	base := "http://" + p.addr
	for _, uri := range refusedAtRequest {
		t.Run(uri, func(t *testing.T) {
			id, status, msg := importAs(t, base, uri)
			if got, want := status, 400; got != want {
				t.Errorf("status %d, want %d", got, want)
			}
			want := "URI for web-download does not pass filtering: " + uri
			if msg != want {
				t.Errorf("message %q, want %q", msg, want)
			}
			if _, gStatus, gMsg := importAs(t, g.URL, uri); gStatus == 400 && gMsg != msg {
				t.Errorf("Glance answers 400 %q, Spyglass %q", gMsg, msg)
			} else if gStatus != 400 {
				t.Logf("Glance 25 answers %d to a web-download of %s; Spyglass refuses it", gStatus, uri)
			}
			// The region was not asked: no task, no import bookkeeping.
			if doc := imageDoc(t, g.URL, id); doc["status"] != "queued" || doc["os_glance_failed_import"] != nil {
				t.Errorf("the region's image is %v, want untouched", doc)
			}
		})
	}
}

// TestWebDownloadUnreachableAllowed: a web-download of a loopback URL the
// import filtering allows (allowed_hosts 127.0.0.1, allowed_ports 1) that
// nothing answers ends as Glance 25's does, on the embedded store and
// through a Glance region: 202, then the task fails, the image is queued
// again with its store in os_glance_failed_import and
// os_glance_importing_to_stores emptied. The oracle is a Glance with the
// same [import_filtering_opts].
func TestWebDownloadUnreachableAllowed(t *testing.T) {
	bin := buildBinary(t)
	g := glancetest.StartTWith(t, glancetest.Options{ImportFiltering: "allowed_hosts = [127.0.0.1]\nallowed_ports = [1]\n"})
	filtering := "import_filtering: {allowed_hosts: [127.0.0.1], allowed_ports: [1]}\n"
	dir := t.TempDir()
	cfgPath := filepath.Join(dir, "spyglass.yaml")
	if err := os.WriteFile(cfgPath, []byte(fmt.Sprintf("listen: 127.0.0.1:0\nauth: {mode: trusted}\nregions: [{name: local, kind: local, data_dir: %q}]\n%s", filepath.Join(dir, "data"), filtering)), 0o600); err != nil {
		t.Fatal(err)
	}
	embedded := startWithConfig(t, bin, cfgPath)
	region := startWithConfig(t, bin, glanceRegionConfig(t, "trusted", g.URL, filtering))
	const uri = "http://127.0.0.1:1/x"
	for _, tc := range []struct{ name, base, store string }{
		{"glance 25 (oracle)", g.URL, "local"},
		{"embedded", "http://" + embedded.addr, "local"},
		{"glance region", "http://" + region.addr, "origin"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			id, status, msg := importAs(t, tc.base, uri)
			if status != 202 {
				t.Fatalf("import: %d %q, want 202", status, msg)
			}
			// Glance records the failed store first, then drops
			// os_glance_import_task and ends the task: wait for all.
			var doc map[string]any
			for deadline := time.Now().Add(time.Minute); ; time.Sleep(50 * time.Millisecond) {
				doc = waitImport(t, tc.base, id)
				if _, busy := doc["os_glance_import_task"]; !busy && taskStatus(t, tc.base, id) == "failure" {
					break
				}
				if time.Now().After(deadline) {
					t.Fatalf("the import has not ended within a minute: %v", doc)
				}
			}
			if got, want := doc["status"], "queued"; got != want {
				t.Errorf("status %v, want %v", got, want)
			}
			if got, want := doc["os_glance_failed_import"], tc.store; got != want {
				t.Errorf("os_glance_failed_import %v, want %v", got, want)
			}
			if got, want := doc["os_glance_importing_to_stores"], ""; got != want {
				t.Errorf("os_glance_importing_to_stores %v, want %q", got, want)
			}
			if doc["size"] != nil || doc["checksum"] != nil {
				t.Errorf("size %v checksum %v, want none", doc["size"], doc["checksum"])
			}
			if msg := taskMessage(t, tc.base, id); msg == "" {
				t.Errorf("the failed task says nothing")
			}
		})
	}
}

// taskStatus is the status of the image's (one) import task, "" when
// there is none.
func taskStatus(t *testing.T, base, id string) string {
	t.Helper()
	resp, err := http.DefaultClient.Do(memberReq(t, "GET", base+"/v2/images/"+id+"/tasks", ""))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var doc struct{ Tasks []struct{ Status string } }
	json.NewDecoder(resp.Body).Decode(&doc)
	if len(doc.Tasks) != 1 {
		return ""
	}
	return doc.Tasks[0].Status
}
