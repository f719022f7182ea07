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
	"testing"
	"time"

	"github.com/spyglass-gateway/spyglass/backends/glance/glancetest"
)

// TestTransfersShareOneBound: serve gives the gateway's v1 copy-from, the
// embedded region's web-download and the gateway's web-download into a
// Glance region one limiter, from the transfers keys. With one slot and
// one transfer a project, p1's copy (held open by the origin) makes p1's
// web-download fail at once with Glance's over-quota message, while p2's
// waits queued and runs when the copy ends; /metrics counts them.
func TestTransfersShareOneBound(t *testing.T) {
	bin := buildBinary(t)
	g := glancetest.SharedT(t)
	for _, tc := range []struct{ name, regions string }{
		{"embedded", "regions: [{name: local, kind: local, data_dir: %q}]\n"},
		{"glance region", "regions: [{name: origin, kind: glance, endpoint: " + fmt.Sprintf("%q", g.URL) + "}]\ncache: {dir: %q, max_size: 1GiB}\n"},
	} {
		t.Run(tc.name, func(t *testing.T) { transfersShareOneBound(t, bin, tc.regions) })
	}
}

func transfersShareOneBound(t *testing.T, bin, regions string) {
	release := make(chan struct{})
	arrived := make(chan string, 10)
	origin := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Write([]byte("first bytes;"))
		w.(http.Flusher).Flush()
		arrived <- r.URL.Path
		if r.URL.Path == "/held" {
			select {
			case <-release:
			case <-r.Context().Done():
				return
			}
		}
		w.Write([]byte("the rest"))
	}))
	defer origin.Close()
	defer origin.CloseClientConnections()
	u, _ := url.Parse(origin.URL)
	dir := t.TempDir()
	cfgPath := filepath.Join(dir, "spyglass.yaml")
	cfg := "listen: 127.0.0.1:0\nauth: {mode: trusted}\n" + fmt.Sprintf(regions, filepath.Join(dir, "data")) +
		fmt.Sprintf("import_filtering: {allowed_hosts: [127.0.0.1], allowed_ports: [%s]}\ntransfers: {max_active: 1, per_project: 1, max_queued: 1}\n", u.Port())
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	p := startWithConfig(t, bin, cfgPath)
	base := "http://" + p.addr
	call := func(project, method, path, body string, hdr ...string) (int, []byte) {
		t.Helper()
		req, err := http.NewRequest(method, base+path, strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		glancetest.SetCaller(req.Header, project, "u-"+project, "member,reader")
		req.Header.Set("Accept", "application/json")
		if body != "" {
			req.Header.Set("Content-Type", "application/json")
		}
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
	webDownload := func(project string) string {
		t.Helper()
		code, b := call(project, "POST", "/v2/images", `{"name": "wd", "disk_format": "raw", "container_format": "bare"}`)
		var img struct{ ID string }
		if json.Unmarshal(b, &img); code != 201 {
			t.Fatalf("create: %d %s", code, b)
		}
		if code, b := call(project, "POST", "/v2/images/"+img.ID+"/import", `{"method": {"name": "web-download", "uri": "`+origin.URL+`/`+project+`"}}`); code != 202 {
			t.Fatalf("import: %d %s", code, b)
		}
		return img.ID
	}
	task := func(project, id string) (status, message string) {
		_, b := call(project, "GET", "/v2/images/"+id+"/tasks", "")
		var doc struct {
			Tasks []struct{ Status, Message string }
		}
		json.Unmarshal(b, &doc)
		if len(doc.Tasks) != 1 {
			t.Fatalf("tasks of %s: %s", id, b)
		}
		return doc.Tasks[0].Status, doc.Tasks[0].Message
	}
	waitTask := func(project, id, want string) string {
		t.Helper()
		deadline := time.Now().Add(30 * time.Second)
		for {
			status, msg := task(project, id)
			if status == want {
				return msg
			}
			if time.Now().After(deadline) {
				t.Fatalf("task of %s: %s %q, want %s", id, status, msg, want)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	waitArrived := func(path string) {
		t.Helper()
		select {
		case got := <-arrived:
			if got != path {
				t.Fatalf("the origin was asked %s, want %s", got, path)
			}
		case <-time.After(30 * time.Second):
			t.Fatalf("the origin was never asked %s", path)
		}
	}

	code, b := call("p1", "POST", "/v1/images", "", "x-image-meta-name", "copy", "x-image-meta-disk_format", "raw",
		"x-image-meta-container_format", "bare", "x-glance-api-copy-from", origin.URL+"/held")
	if code != 201 {
		t.Fatalf("copy-from: %d %s", code, b)
	}
	waitArrived("/held")

	refused := webDownload("p1")
	if msg := waitTask("p1", refused, "failure"); !strings.Contains(msg, "Project p1 is over a limit for [Resource image_count_uploading is over limit of 1") {
		t.Errorf("p1's web-download failed with %q, want Glance's over-limit message", msg)
	}
	queued := webDownload("p2")
	if status, _ := task("p2", queued); status != "pending" {
		t.Errorf("p2's web-download task: %s, want pending while the copy runs", status)
	}
	m := scrape(t, p)
	for _, c := range []struct {
		name   string
		labels []string
		want   float64
	}{
		{"spyglass_transfers_active", nil, 1},
		{"spyglass_transfers_queued", nil, 1},
		{"spyglass_transfers_refused_total", []string{"reason", "project"}, 1},
	} {
		if got := m.must(t, c.name, c.labels...); got != c.want {
			t.Errorf("%s%v = %v, want %v", c.name, c.labels, got, c.want)
		}
	}
	select {
	case got := <-arrived:
		t.Fatalf("the origin was asked %s beyond the one slot", got)
	case <-time.After(100 * time.Millisecond):
	}

	close(release)
	waitArrived("/p2")
	waitTask("p2", queued, "success")
}
