package main

import (
	"crypto/md5"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/spyglass-gateway/spyglass/admin"
	"github.com/spyglass-gateway/spyglass/backends/glance/glancetest"
)

// scrape reads the instance's /metrics, parsed as Prometheus' text format.
func scrape(t *testing.T, p *process) metrics {
	t.Helper()
	resp, err := http.Get("http://" + p.admin + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET /metrics: %d", resp.StatusCode)
	}
	parser := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := parser.TextToMetricFamilies(resp.Body)
	if err != nil {
		t.Fatalf("GET /metrics: not Prometheus' text format: %v", err)
	}
	return fams
}

type metrics map[string]*dto.MetricFamily

// value is the series of family name whose labels are exactly labels (a
// histogram's value is its count); ok is false when there is none.
func (m metrics) value(name string, labels ...string) (v float64, ok bool) {
	f := m[name]
	if f == nil {
		return 0, false
	}
	want := map[string]string{}
	for i := 0; i+1 < len(labels); i += 2 {
		want[labels[i]] = labels[i+1]
	}
next:
	for _, s := range f.GetMetric() {
		if len(s.GetLabel()) != len(want) {
			continue
		}
		for _, l := range s.GetLabel() {
			if v, ok := want[l.GetName()]; !ok || v != l.GetValue() {
				continue next
			}
		}
		switch f.GetType() {
		case dto.MetricType_COUNTER:
			return s.GetCounter().GetValue(), true
		case dto.MetricType_GAUGE:
			return s.GetGauge().GetValue(), true
		case dto.MetricType_HISTOGRAM:
			return float64(s.GetHistogram().GetSampleCount()), true
		default:
			return s.GetUntyped().GetValue(), true
		}
	}
	return 0, false
}

// must is value, failing the test when the series is absent.
func (m metrics) must(t *testing.T, name string, labels ...string) float64 {
	t.Helper()
	v, ok := m.value(name, labels...)
	if !ok {
		t.Fatalf("no series %s%v in /metrics; families: %s", name, labels, m.names())
	}
	return v
}

func (m metrics) names() string {
	var ns []string
	for n := range m {
		ns = append(ns, n)
	}
	sort.Strings(ns)
	return strings.Join(ns, " ")
}

// ready reads GET /ready: its status and body.
func ready(t *testing.T, p *process) (int, admin.Readiness) {
	t.Helper()
	resp, err := http.Get("http://" + p.admin + "/ready")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var r admin.Readiness
	if err := json.NewDecoder(resp.Body).Decode(&r); err != nil {
		t.Fatalf("GET /ready: body not JSON: %v", err)
	}
	return resp.StatusCode, r
}

// pollReady polls GET /ready (calling poke before each try) until it
// answers want, and returns that body.
func pollReady(t *testing.T, p *process, want int, poke func()) admin.Readiness {
	t.Helper()
	var (
		code int
		r    admin.Readiness
	)
	for deadline := time.Now().Add(20 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		if poke != nil {
			poke()
		}
		if code, r = ready(t, p); code == want {
			return r
		}
	}
	t.Fatalf("GET /ready: still %d %+v after 20s, want %d", code, r, want)
	return r
}

// refusingEndpoint is an address nothing listens on: a region there
// refuses every connection.
func refusingEndpoint(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return "http://" + addr
}

func get(t *testing.T, url string, hdr ...string) (*http.Response, []byte) {
	t.Helper()
	req := adminReq(t, "GET", url, nil)
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	return resp, body
}

// TestMetricsAndReadinessGlanceRegions: the binary in front of a real
// Glance and a region that refuses connections. /metrics (parsed) moves
// with real requests: requests by route and status, metadata and image
// data cache hits, bytes served from the cache and read from the origin,
// the dead region's breaker opening; /ready stays 200 while one region is
// up, turns 503 while the image cache's disk fails and back after.
func TestMetricsAndReadinessGlanceRegions(t *testing.T) {
	bin := buildBinary(t)
	g := glancetest.SharedT(t)
	const size = 1 << 20
	data := make([]byte, size)
	rand.Read(data)
	sum := md5.Sum(data)

	id := putImageToGlance(t, g, "metered", data)

	dir := t.TempDir()
	cacheDir := filepath.Join(dir, "cache")
	cfgPath := filepath.Join(dir, "spyglass.yaml")
	os.WriteFile(cfgPath, []byte(fmt.Sprintf(`listen: 127.0.0.1:0
auth: {mode: trusted}
regions:
  - {name: origin, kind: glance, endpoint: %q}
  - {name: dead, kind: glance, endpoint: %q, connect_timeout: 1s}
default_region: origin
cache: {dir: %q, max_size: 1GiB}
`, g.URL, refusingEndpoint(t), cacheDir)), 0o600)
	p := startWithConfig(t, bin, cfgPath)
	base := "http://" + p.addr

	m := scrape(t, p)
	if got := m.must(t, "spyglass_breaker_state", "component", "region", "name", "dead"); got != 0 {
		t.Errorf("the dead region's breaker before any call: %v, want 0 (closed)", got)
	}
	if got := m.must(t, "spyglass_image_cache_limit_bytes", "limit", "max"); got != 1<<30 {
		t.Errorf("image cache max: %v, want %d", got, 1<<30)
	}
	if _, ok := m.value("http_server_request_duration_seconds", "http_request_method", "GET", "http_response_status_code", "200", "http_route", "/v2/images/{image_id}"); ok {
		t.Errorf("a show counted before any request")
	}

	// A listing reaches the dead region: its breaker opens.
	resp, _ := get(t, base+"/v2/images")
	if resp.StatusCode != 200 || resp.Header.Get("X-Spyglass-Missing-Regions") != "dead" {
		t.Fatalf("listing with a dead region: %d, missing %q", resp.StatusCode, resp.Header.Get("X-Spyglass-Missing-Regions"))
	}
	for i := 0; i < 2; i++ {
		if resp, body := get(t, base+"/v2/images/"+id); resp.StatusCode != 200 {
			t.Fatalf("show: %d %s", resp.StatusCode, body)
		}
	}
	for i := 0; i < 2; i++ {
		resp, body := get(t, base+"/v2/images/"+id+"/file")
		if got := md5.Sum(body); resp.StatusCode != 200 || got != sum {
			t.Fatalf("download %d: %d, %d bytes, md5 %s", i, resp.StatusCode, len(body), hex.EncodeToString(got[:]))
		}
	}
	resp, _ = get(t, base+"/v2/images/"+id+"/file", "Range", "bytes=0-999")
	if resp.StatusCode != 206 {
		t.Fatalf("ranged download: %d", resp.StatusCode)
	}

	m = scrape(t, p)
	for _, c := range []struct {
		route, status string
		want          float64
	}{
		{"/v2/images", "200", 1},
		{"/v2/images/{image_id}", "200", 2},
		{"/v2/images/{image_id}/file", "200", 2},
		{"/v2/images/{image_id}/file", "206", 1},
	} {
		if got := m.must(t, "http_server_request_duration_seconds", "http_request_method", "GET", "http_response_status_code", c.status, "http_route", c.route); got != c.want {
			t.Errorf("GET %s → %s counted %v times, want %v", c.route, c.status, got, c.want)
		}
	}
	if got := m.must(t, "spyglass_cache_hits_total", "cache", "metadata"); got < 1 {
		t.Errorf("metadata cache hits after a repeated show: %v, want ≥ 1", got)
	}
	if got := m.must(t, "spyglass_cache_misses_total", "cache", "image_data"); got != 1 {
		t.Errorf("image data cache misses: %v, want 1 (the first download)", got)
	}
	if got := m.must(t, "spyglass_cache_hits_total", "cache", "image_data"); got != 2 {
		t.Errorf("image data cache hits: %v, want 2 (the second download and the range)", got)
	}
	if got := m.must(t, "spyglass_image_cache_fills_total"); got != 1 {
		t.Errorf("fills: %v, want 1", got)
	}
	if got := m.must(t, "spyglass_image_cache_origin_read_bytes_total", "kind", "fill"); got != size {
		t.Errorf("bytes read from the origin by fills: %v, want %d (the image once)", got, size)
	}
	if got := m.must(t, "spyglass_image_sent_bytes_total", "source", "cache"); got != 2*size+1000 {
		t.Errorf("image bytes sent from the cache: %v, want %d", got, 2*size+1000)
	}
	// The image in whole blocks, its record and the directories.
	if got := m.must(t, "spyglass_image_cache_used_bytes"); got < size || got > size+64<<10 {
		t.Errorf("image cache use: %v, want %d and its record", got, size)
	}
	if got := m.must(t, "spyglass_image_cache_bypasses_total", "reason", "full"); got != 0 {
		t.Errorf("reads bypassed for want of room in a 1 GiB cache: %v", got)
	}
	if got := m.must(t, "spyglass_image_cache_fills_in_flight"); got != 0 {
		t.Errorf("fills in flight after the fill: %v", got)
	}

	// The breaker half-opens after a few seconds: poll, listing again.
	for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		get(t, base+"/v2/images")
		if scrape(t, p).must(t, "spyglass_breaker_state", "component", "region", "name", "dead") == 2 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the dead region's breaker never reported open (2)")
		}
	}
	if got := scrape(t, p).must(t, "spyglass_breaker_state", "component", "region", "name", "origin"); got != 0 {
		t.Errorf("the live region's breaker: %v, want 0", got)
	}

	// One region up: ready; the report names the dead one.
	code, r := ready(t, p)
	if code != 200 || !r.Ready || len(r.Regions) != 2 || !r.Regions[0].Available || r.ImageCache == nil || r.ImageCache.Disk != "ok" {
		t.Fatalf("GET /ready with one live region: %d %+v", code, r)
	}
	if r.ImageCache.UsedBytes < size || r.ImageCache.UsedBytes > size+64<<10 || r.ImageCache.MaxBytes != 1<<30 || r.ImageCache.HighWatermarkBytes != r.ImageCache.MaxBytes*9/10 {
		t.Errorf("GET /ready image cache: %+v", *r.ImageCache)
	}

	// The cache's disk fails (its directory is gone, a file in its place):
	// not ready; ready again once it is back.
	moved := cacheDir + ".away"
	if err := os.Rename(cacheDir, moved); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(cacheDir, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	code, r = ready(t, p)
	if code != 503 || r.Ready || r.ImageCache == nil || r.ImageCache.Disk == "ok" || len(r.Reasons) != 1 || !strings.HasPrefix(r.Reasons[0], "image_cache:") {
		t.Errorf("GET /ready with the cache directory gone: %d %+v, want 503 naming image_cache", code, r)
	}
	os.Remove(cacheDir)
	if err := os.Rename(moved, cacheDir); err != nil {
		t.Fatal(err)
	}
	if code, r = ready(t, p); code != 200 {
		t.Errorf("GET /ready with the cache directory back: %d %+v", code, r)
	}
}

// TestReadyOnlyRegionDown: with its only region refusing connections, the
// instance is not ready once a request finds it so (the breaker opens).
func TestReadyOnlyRegionDown(t *testing.T) {
	bin := buildBinary(t)
	dir := t.TempDir()
	cfgPath := filepath.Join(dir, "spyglass.yaml")
	os.WriteFile(cfgPath, []byte(fmt.Sprintf(`listen: 127.0.0.1:0
auth: {mode: trusted}
regions:
  - {name: gone, kind: glance, endpoint: %q, connect_timeout: 1s}
cache: {dir: %q, max_size: 1GiB}
`, refusingEndpoint(t), filepath.Join(dir, "cache"))), 0o600)
	p := startWithConfig(t, bin, cfgPath)

	if code, r := ready(t, p); code != 200 || r.Regions[0].Breaker != "closed" {
		t.Fatalf("GET /ready before any call: %d %+v", code, r)
	}
	r := pollReady(t, p, 503, func() { get(t, "http://"+p.addr+"/v2/images") })
	if r.Ready || r.Regions[0].Available || r.Regions[0].Breaker != "open" || len(r.Reasons) != 1 || !strings.HasPrefix(r.Reasons[0], "regions:") {
		t.Errorf("GET /ready with the only region down: %+v", r)
	}
	if got := scrape(t, p).must(t, "http_server_request_duration_seconds", "http_request_method", "GET", "http_response_status_code", "503", "http_route", "/v2/images"); got < 1 {
		t.Errorf("503 listings counted: %v", got)
	}
}

// TestReadyWhileDraining: after SIGTERM, while an upload drains, /ready
// answers 503 (draining) and spyglass_draining is 1; before, 200 and 0.
func TestReadyWhileDraining(t *testing.T) {
	bin := buildBinary(t)
	p := startServe(t, bin, t.TempDir())
	base := "http://" + p.addr
	if code, r := ready(t, p); code != 200 || !r.Ready || r.Draining || len(r.Regions) != 1 || r.Regions[0].Name != "local" || !r.Regions[0].Available {
		t.Fatalf("GET /ready: %d %+v", code, r)
	}
	before := scrape(t, p)
	if got := before.must(t, "spyglass_draining"); got != 0 {
		t.Fatalf("spyglass_draining = %v before SIGTERM", got)
	}
	for _, name := range []string{"spyglass_transfers_active", "spyglass_transfers_queued"} {
		if got := before.must(t, name); got != 0 {
			t.Errorf("%s = %v with no transfer", name, got)
		}
	}

	code, img := do(t, "POST", base+"/v2/images", `{"name": "drain", "disk_format": "raw", "container_format": "bare"}`)
	if code != http.StatusCreated {
		t.Fatalf("create image: %d %v", code, img)
	}
	id, _ := img["id"].(string)
	pr, pw := io.Pipe()
	req, _ := http.NewRequest("PUT", base+"/v2/images/"+id+"/file", pr)
	req.Header.Set("Content-Type", "application/octet-stream")
	uploaded := make(chan int, 1)
	go func() {
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			uploaded <- -1
			return
		}
		resp.Body.Close()
		uploaded <- resp.StatusCode
	}()
	pw.Write([]byte("first bytes"))
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		if _, img := do(t, "GET", base+"/v2/images/"+id, ""); img["status"] == "saving" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("image not saving 10s into the upload")
		}
	}
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	r := pollReady(t, p, 503, nil)
	if r.Ready || !r.Draining || len(r.Reasons) != 1 || !strings.HasPrefix(r.Reasons[0], "draining") {
		t.Errorf("GET /ready while draining: %+v", r)
	}
	if got := scrape(t, p).must(t, "spyglass_draining"); got != 1 {
		t.Errorf("spyglass_draining = %v while draining", got)
	}
	pw.Write([]byte(" and the rest"))
	pw.Close()
	if got := <-uploaded; got != http.StatusNoContent {
		t.Errorf("upload during the drain: %d", got)
	}
	if got := p.wait(t, 10*time.Second); got != 0 {
		t.Errorf("exit code %d", got)
	}
}

// TestMetricsOff: telemetry.metrics false: no /metrics route; /ready is
// there all the same.
func TestMetricsOff(t *testing.T) {
	bin := buildBinary(t)
	dir := t.TempDir()
	cfgPath := filepath.Join(dir, "spyglass.yaml")
	os.WriteFile(cfgPath, []byte(fmt.Sprintf("listen: 127.0.0.1:0\nregions: [{name: local, kind: local, data_dir: %q}]\ntelemetry: {metrics: false}\n", dir)), 0o600)
	p := startWithConfig(t, bin, cfgPath)
	resp, err := http.Get("http://" + p.admin + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusNotFound {
		t.Errorf("GET /metrics with telemetry.metrics false: %d, want 404", resp.StatusCode)
	}
	if code, r := ready(t, p); code != 200 || !r.Ready {
		t.Errorf("GET /ready: %d %+v", code, r)
	}
}
