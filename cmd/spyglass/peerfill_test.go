package main

import (
	"bytes"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/spyglass-gateway/spyglass/backends/glance/glancetest"
	"github.com/spyglass-gateway/spyglass/cache/redistest"
)

// originProxy is a loopback HTTP reverse proxy in front of a real Glance
// that counts the image data bytes Glance sends (the bodies of GET
// .../file) and can slow them to a rate: a WAN link to the region that a
// test can measure and make slow. It never alters a byte.
type originProxy struct {
	url       string
	dataBytes atomic.Int64
	rate      atomic.Int64 // bytes per second per response; 0: no limit
}

func startOriginProxy(t *testing.T, target string) *originProxy {
	t.Helper()
	u, err := url.Parse(target)
	if err != nil {
		t.Fatal(err)
	}
	p := &originProxy{}
	rp := httputil.NewSingleHostReverseProxy(u)
	rp.FlushInterval = -1 // pass bytes on as they come
	rp.ModifyResponse = func(resp *http.Response) error {
		if resp.Request.Method == http.MethodGet && strings.HasSuffix(resp.Request.URL.Path, "/file") {
			resp.Body = &countingBody{rc: resp.Body, p: p}
		}
		return nil
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: rp}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	p.url = "http://" + ln.Addr().String()
	return p
}

type countingBody struct {
	rc io.ReadCloser
	p  *originProxy
}

func (c *countingBody) Read(b []byte) (int, error) {
	rate := c.p.rate.Load()
	if rate > 0 {
		b = b[:min(int64(len(b)), max(rate/50, 1))] // 20 ms worth at a time
	}
	n, err := c.rc.Read(b)
	c.p.dataBytes.Add(int64(n))
	if rate > 0 && n > 0 {
		time.Sleep(time.Duration(int64(n) * int64(time.Second) / rate))
	}
	return n, err
}

func (c *countingBody) Close() error { return c.rc.Close() }

// uploadToGlance creates a public raw image of size random bytes in g and
// returns its id and data.
func uploadToGlance(t *testing.T, g *glancetest.Glance, name string, size int) (string, []byte) {
	t.Helper()
	data := make([]byte, size)
	rand.Read(data)
	return putImageToGlance(t, g, name, data), data
}

// putImageToGlance creates a public raw image holding data in g and
// returns its id.
func putImageToGlance(t *testing.T, g *glancetest.Glance, name string, data []byte) string {
	t.Helper()
	resp, err := http.DefaultClient.Do(withJSON(adminReq(t, "POST", g.URL+"/v2/images",
		strings.NewReader(`{"name": "`+name+`", "disk_format": "raw", "container_format": "bare", "visibility": "public"}`))))
	if err != nil {
		t.Fatal(err)
	}
	var img struct{ ID string }
	json.NewDecoder(resp.Body).Decode(&img)
	resp.Body.Close()
	put := adminReq(t, "PUT", g.URL+"/v2/images/"+img.ID+"/file", bytes.NewReader(data))
	put.Header.Set("Content-Type", "application/octet-stream")
	if resp, err := http.DefaultClient.Do(put); err != nil || resp.StatusCode != 204 {
		t.Fatalf("upload to glance: %v %v", err, resp)
	}
	return img.ID
}

// fetchImage downloads an image (or a range of it, rng != "") through a
// Spyglass instance.
func fetchImage(t *testing.T, base, id, rng string) ([]byte, error) {
	req := adminReq(t, "GET", base+"/v2/images/"+id+"/file", nil)
	if rng != "" {
		req.Header.Set("Range", rng)
	}
	client := &http.Client{Timeout: 2 * time.Minute}
	resp, err := client.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if want := map[bool]int{true: 206, false: 200}[rng != ""]; resp.StatusCode != want {
		return nil, fmt.Errorf("status %d, want %d", resp.StatusCode, want)
	}
	return io.ReadAll(resp.Body)
}

// TestSiteOneFillAcrossThreeInstances: three `spyglass serve` sharing a
// real redis-server, an admin token (their peer routes need it; /metrics
// is opened with admin.metrics_without_token) and a real Glance region
// behind a counting, throttling proxy. Concurrent downloads of one image
// through all three (ranges included) are byte-identical and cost the
// region one transfer; then the instance filling a second image is killed
// with SIGKILL mid-fill: the others still complete with the right bytes
// and the region sends at most twice the image.
func TestSiteOneFillAcrossThreeInstances(t *testing.T) {
	bin := buildBinary(t)
	g := glancetest.SharedT(t)
	r := redistest.StartT(t)
	proxy := startOriginProxy(t, g.URL)
	const size = 12 << 20
	id1, data1 := uploadToGlance(t, g, "storm", size)
	id2, data2 := uploadToGlance(t, g, "killed", size)

	tokenFile := filepath.Join(t.TempDir(), "admin.token")
	if err := os.WriteFile(tokenFile, []byte("site-admin-token-0123456789\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	siteConfig := func() string {
		return glanceRegionConfig(t, "trusted", proxy.url, fmt.Sprintf("redis: {addr: %q, timeout: 1s}\nadmin: {token_file: %q, metrics_without_token: true}\n", r.Addr, tokenFile))
	}
	var site []*process
	for i := range 3 {
		p := startWithConfig(t, bin, siteConfig())
		if !strings.Contains(p.log(), "serving image fills to the site's other instances") {
			t.Fatalf("instance %d does not serve fills to its peers:\n%s", i, p.log())
		}
		site = append(site, p)
	}

	// 1. A storm through all three at once, with ranges.
	proxy.rate.Store(8 << 20) // a 1.5 s fill
	var wg sync.WaitGroup
	errs := make(chan error, 20)
	for i := range 12 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			got, err := fetchImage(t, "http://"+site[i%3].addr, id1, "")
			if err != nil || !bytes.Equal(got, data1) {
				errs <- fmt.Errorf("download %d through instance %d: %d bytes, %v", i, i%3, len(got), err)
			}
		}()
	}
	for i, rng := range [][2]int{{10 << 20, 11<<20 - 1}, {1000, 2<<20 + 17}} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			got, err := fetchImage(t, "http://"+site[1+i].addr, id1, fmt.Sprintf("bytes=%d-%d", rng[0], rng[1]))
			if err != nil || !bytes.Equal(got, data1[rng[0]:rng[1]+1]) {
				errs <- fmt.Errorf("range %v through instance %d: %d bytes, %v", rng, 1+i, len(got), err)
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if t.Failed() {
		t.FailNow()
	}
	// A range fetched ahead at the filler can leave a few KiB in flight on
	// the stream it cuts short; a second transfer would be 12 MiB.
	if got := proxy.dataBytes.Load(); got < size || got > size+size/8 {
		t.Fatalf("the region sent %d image bytes for a %d-byte image through three instances (%.2f×)", got, size, float64(got)/size)
	}
	t.Logf("storm: the region sent %.3f× the image", float64(proxy.dataBytes.Load())/size)
	// The instances' metrics tell the same: origin bytes once, the rest
	// streamed between them.
	var origin, received, served float64
	for _, p := range site {
		m := scrape(t, p)
		origin += m.must(t, "spyglass_image_cache_origin_read_bytes_total", "kind", "fill")
		received += m.must(t, "spyglass_image_cache_peer_bytes_total", "direction", "received")
		served += m.must(t, "spyglass_image_cache_peer_bytes_total", "direction", "served")
	}
	// (The link counts bytes in flight on a cut stream that no fill read.)
	if origin < size || origin > float64(proxy.dataBytes.Load()) || received < size || served < size {
		t.Fatalf("site metrics: origin fill bytes %v (the region sent %d), peer bytes received %v, served %v; want the image (%d) once from the region, at least once each way between instances",
			origin, proxy.dataBytes.Load(), received, served, size)
	}

	// The peer route streams nothing to whoever comes without the token.
	for _, p := range site {
		resp, err := http.Get("http://" + p.admin + "/peer/v1/blobs/origin/" + id1)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusUnauthorized {
			t.Errorf("peer route without the token: %d, want 401", resp.StatusCode)
		}
	}

	// An instance without an admin listener says once that it serves no
	// peers, and still gets the image from the site (with the token), not
	// the region.
	quiet := startArgs(t, bin, "serve", "--config", siteConfig(), "--admin-listen", "off")
	if n := strings.Count(quiet.log(), "serves no image fills"); n != 1 {
		t.Fatalf("an instance without admin listener logged %d times that it serves no peers:\n%s", n, quiet.log())
	}
	stormBytes := proxy.dataBytes.Load()
	if got, err := fetchImage(t, "http://"+quiet.addr, id1, ""); err != nil || !bytes.Equal(got, data1) {
		t.Fatalf("through the instance without admin listener: %d bytes, %v", len(got), err)
	}
	if d := proxy.dataBytes.Load() - stormBytes; d != 0 {
		t.Fatalf("an instance joining after the storm made the region send %d bytes", d)
	}

	// 2. The filler killed mid-fill.
	proxy.rate.Store(2 << 20) // a 6 s fill
	before := proxy.dataBytes.Load()
	filler, others := site[0], site[1:]
	type result struct {
		got []byte
		err error
	}
	results := make(chan result, 3)
	resp, err := http.DefaultClient.Do(adminReq(t, "GET", "http://"+filler.addr+"/v2/images/"+id2+"/file", nil))
	if err != nil {
		t.Fatal(err)
	}
	head := make([]byte, 1<<20)
	if _, err := io.ReadFull(resp.Body, head); err != nil || !bytes.Equal(head, data2[:1<<20]) {
		t.Fatalf("first MiB through the filler: %v", err)
	}
	// The others attach to its fill; each has its first bytes before the kill.
	for _, p := range others {
		go func() {
			resp, err := (&http.Client{Timeout: 2 * time.Minute}).Do(adminReq(t, "GET", "http://"+p.addr+"/v2/images/"+id2+"/file", nil))
			if err != nil {
				results <- result{nil, err}
				return
			}
			defer resp.Body.Close()
			got, err := io.ReadAll(resp.Body)
			results <- result{got, err}
		}()
	}
	deadline := time.Now().Add(time.Minute)
	for proxy.dataBytes.Load()-before < 3<<20 {
		if time.Now().After(deadline) {
			t.Fatal("the fill made no progress within a minute")
		}
		time.Sleep(20 * time.Millisecond)
	}
	filler.cmd.Process.Signal(syscall.SIGKILL)
	<-filler.done
	resp.Body.Close()
	killedAt := proxy.dataBytes.Load() - before
	if killedAt >= size {
		t.Fatalf("the fill finished before the kill (%d bytes); the link is too fast for this test", killedAt)
	}
	for range others {
		res := <-results
		if res.err != nil || !bytes.Equal(res.got, data2) {
			t.Errorf("download after the filler was killed: %d bytes, %v", len(res.got), res.err)
		}
	}
	total := proxy.dataBytes.Load() - before
	t.Logf("filler killed after %d of %d bytes; the region sent %.3f× the image in all", killedAt, size, float64(total)/size)
	if total > 2*size {
		t.Fatalf("the region sent %d bytes for a %d-byte image with the filler killed (%.2f×; at most 2×)", total, size, float64(total)/size)
	}
	// Both survivors have it whole now: a read costs the region nothing.
	proxy.rate.Store(0)
	after := proxy.dataBytes.Load()
	for _, p := range others {
		if got, err := fetchImage(t, "http://"+p.addr, id2, ""); err != nil || !bytes.Equal(got, data2) {
			t.Fatalf("warm read: %v", err)
		}
	}
	if d := proxy.dataBytes.Load() - after; d != 0 {
		t.Fatalf("warm reads made the region send %d bytes", d)
	}
}
