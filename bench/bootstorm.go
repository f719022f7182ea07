package main

import (
	"bytes"
	"context"
	"crypto/md5"
	"crypto/sha512"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"log"
	"math/rand/v2"
	"net"
	"net/http"
	"net/http/httptrace"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/spyglass-gateway/spyglass/backends/glance/glancetest"
)

// StormOptions configure the boot storm: N concurrent downloads of one
// image, as Nova does when hundreds of hosts boot it at once.
type StormOptions struct {
	ImageSize int64
	Ns        []int
	// DirectMaxN bounds N for downloads straight from Glance (each is a full
	// transfer through Python: N=500 of 512 MiB would take many minutes).
	DirectMaxN int
	// OriginRate limits each origin connection (bytes/s; 0: unlimited), a
	// WAN link between the site and its region.
	OriginRate int64
	// SiteInstances, when > 1, adds the site variant: that many Spyglass
	// instances sharing a Redis behind a round-robin front (targets
	// site-cold, site-warm).
	SiteInstances int
	// PerfDir, when set, records each storm with `perf record -a -g` (the
	// whole host: the servers, the origin, the clients, the kernel) into
	// PerfDir/<target>-n<N>.data, for `perf report --sort comm,dso,sym`.
	PerfDir string
	// Caches names the caches a storm runs against, in the order they run
	// (nginx, varnish, spyglass); empty: all three in that order. The order
	// is a knob so that its effect can be measured: the first cache to fill
	// might touch colder pages on a host that hands free memory back to its
	// hypervisor (two runs in both orders showed nothing beyond noise).
	Caches []string
	// Client is what each storm client asks: ClientGlance (the default)
	// or ClientFile.
	Client string
}

// The storm's clients. ClientGlance asks as a booting Nova host does:
// Nova's download is python-glanceclient's images.data(), which with its
// default do_checksum=True GETs the image's record (for os_hash_value and
// checksum) and then, on the same session, its data
// (glanceclient/v2/images.py, data()). ClientFile GETs the data alone,
// blind, as no OpenStack client does; it is what a cache that need not
// read the record (nginx, Varnish) is fastest at. Either way the first
// byte is the data's, from the release.
const (
	ClientGlance = "glanceclient"
	ClientFile   = "file"
)

// StormResult is one storm against one target.
type StormResult struct {
	Target      string  `json:"target"` // glance, nginx-cold, nginx-warm, varnish-cold, varnish-warm, spyglass-cold, spyglass-warm, site-cold, site-warm
	Client      string  `json:"client"` // ClientGlance or ClientFile
	N           int     `json:"n"`
	ImageMiB    float64 `json:"image_mib"`
	OriginRatio float64 `json:"origin_bytes_per_image"`
	WallS       float64 `json:"wall_s"`
	TTFBP50     float64 `json:"ttfb_p50_s"`
	TTFBP99     float64 `json:"ttfb_p99_s"`
	DoneP50     float64 `json:"completion_p50_s"`
	DoneP99     float64 `json:"completion_p99_s"`
	MiBps       float64 `json:"aggregate_mib_per_s"`
	// OriginFirstByte is when the origin sent its first body byte, from the
	// storm's start; waiters' first bytes are compared with it.
	OriginFirstByteS float64 `json:"origin_first_byte_s"`
	// FillS is the origin's transfer: from its first body byte to its last
	// (for a cache, the one transfer every client waits on).
	FillS float64 `json:"origin_fill_s"`
	// OriginRecords and OriginData count the requests the origin logged
	// for the image during the storm: GET /v2/images/{id} and .../file.
	OriginRecords  int     `json:"origin_record_requests"`
	OriginData     int     `json:"origin_data_requests"`
	SpyglassRSSMiB float64 `json:"spyglass_peak_rss_mib,omitempty"`
	// What a cache that verifies cannot avoid, measured for this image
	// just before its storms (on spyglass-cold only): the origin's answer
	// to its record and to its data (headers), asked one after the other
	// and both at once (probeOrigin), and a core's CPU for one SHA-512 of
	// the image (sha512CPU).
	OriginRecordS float64 `json:"origin_record_s,omitempty"`
	OriginDataS   float64 `json:"origin_data_headers_s,omitempty"`
	OriginBothS   float64 `json:"origin_record_and_data_at_once_s,omitempty"`
	SHA512CPUS    float64 `json:"sha512_cpu_s,omitempty"`
	// ServerCPUS is the CPU time (user and system) the target's processes
	// used during the storm; 0 for a target the bench does not run as
	// one process group (glance, the site). The clients share the host's
	// cores with the servers, so a server that spends less CPU per byte
	// does not always get a higher aggregate on one shared machine: this
	// is the cost comparison the noise does not blur.
	ServerCPUS float64 `json:"server_cpu_s"`
	Errors     int     `json:"errors"`
}

// StormEnv is a real Glance behind a byte-counting link, with nginx
// proxy_cache (proxy_cache_lock on) and Spyglass (a glance region with the
// blob cache) in front of that link.
type StormEnv struct {
	Dir        string
	Glance     *glancetest.Glance
	Link       *countingLink
	NginxURL   string
	VarnishURL string // "" when varnishd is not installed
	SpyURL     string
	SiteURL    string // the site variant's round-robin front; "" without it
	spy        *exec.Cmd
	nginx      *exec.Cmd
	varnish    *exec.Cmd
	siteFront  *http.Server
	procs      []*exec.Cmd
	env        *Env // for its process helpers
	perfDir    string
	client     string
}

var adminIdentity = map[string]string{
	"X-Identity-Status": "Confirmed", "X-Project-Id": "ops", "X-User-Id": "u-ops", "X-Roles": "admin,member,reader",
}

// StartStormEnv starts the peers.
func StartStormEnv(ctx context.Context, opts StormOptions) (*StormEnv, error) {
	if _, err := exec.LookPath("nginx"); err != nil {
		return nil, fmt.Errorf("nginx not found: run `make deps-bench` (installs nginx-light)")
	}
	dir, err := os.MkdirTemp("", "spyglass-storm-")
	if err != nil {
		return nil, err
	}
	switch opts.Client {
	case "":
		opts.Client = ClientGlance
	case ClientGlance, ClientFile:
	default:
		return nil, fmt.Errorf("storm client %q: want %s or %s", opts.Client, ClientGlance, ClientFile)
	}
	se := &StormEnv{Dir: dir, env: &Env{Dir: dir}, perfDir: opts.PerfDir, client: opts.Client}
	fail := func(err error) (*StormEnv, error) { se.Close(); return nil, err }
	if se.Glance, err = glancetest.Start(ctx, filepath.Join(dir, "glance")); err != nil {
		return fail(fmt.Errorf("glance: %w", err))
	}
	if se.Link, err = startLink(strings.TrimPrefix(se.Glance.URL, "http://"), opts.OriginRate); err != nil {
		return fail(err)
	}
	port, err := freePort()
	if err != nil {
		return fail(err)
	}
	user := ""
	if os.Geteuid() == 0 {
		user = "user root;"
	}
	conf := fmt.Sprintf(stormNginxConf, user, dir, se.Link.Addr(), port)
	path := filepath.Join(dir, "nginx.conf")
	if err := os.WriteFile(path, []byte(conf), 0o644); err != nil {
		return fail(err)
	}
	se.nginx = exec.Command("nginx", "-p", dir, "-c", path)
	if err := se.env.start("nginx", se.nginx); err != nil {
		return fail(err)
	}
	se.NginxURL = fmt.Sprintf("http://127.0.0.1:%d", port)
	if err := waitHTTP(se.nginx, se.NginxURL+"/versions", 20*time.Second); err != nil {
		return fail(fmt.Errorf("nginx: %w", err))
	}
	if err := se.startVarnish(opts); err != nil {
		return fail(fmt.Errorf("varnish: %w", err))
	}
	if err := se.startSpyglass(ctx); err != nil {
		return fail(fmt.Errorf("spyglass: %w", err))
	}
	if opts.SiteInstances > 1 {
		if err := se.startSite(ctx, opts.SiteInstances); err != nil {
			return fail(fmt.Errorf("site: %w", err))
		}
	}
	return se, nil
}

// stormNginxConf caches image data for everyone (the bytes do not depend
// on the caller) with proxy_cache_lock, nginx's answer to a thundering herd.
const stormNginxConf = `%s
worker_processes 2;
pid %[2]s/nginx.pid;
error_log %[2]s/nginx-error.log warn;
daemon off;
events { worker_connections 4096; }
http {
  access_log off;
  client_body_temp_path %[2]s/body;
  proxy_temp_path %[2]s/proxy;
  fastcgi_temp_path %[2]s/fastcgi;
  uwsgi_temp_path %[2]s/uwsgi;
  scgi_temp_path %[2]s/scgi;
  proxy_cache_path %[2]s/cache levels=1:2 keys_zone=img:16m max_size=20g inactive=60m use_temp_path=off;
  upstream glance { server %[3]s; keepalive 64; }
  server {
    listen 127.0.0.1:%[4]d;
    location / {
      proxy_pass http://glance;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_cache img;
      proxy_cache_key "$request_uri";
      proxy_cache_valid 200 60m;
      proxy_ignore_headers Cache-Control Expires Set-Cookie Vary;
      proxy_cache_lock on;
      proxy_read_timeout 600s;
      add_header X-Cache-Status $upstream_cache_status;
    }
  }
}
`

// startVarnish starts varnishd (Debian's varnish, 7.1) in front of the
// link, caching image data for everyone; its request coalescing (the
// waiting list) with streaming (do_stream) is its answer to a thundering
// herd. Storage is a file in the temporary directory sized for every image
// of the run; workdir (-n) is there too. Without varnishd the run goes on
// without it (make deps-bench installs it).
func (se *StormEnv) startVarnish(opts StormOptions) error {
	host, port, _ := net.SplitHostPort(se.Link.Addr())
	storeMiB := opts.ImageSize>>20*int64(len(opts.Ns)+1) + 256
	url, cmd, err := se.env.runVarnish("storm", fmt.Sprintf(stormVCL, host, port),
		fmt.Sprintf("file,%s,%dM", filepath.Join(se.Dir, "varnish.bin"), storeMiB),
		"thread_pool_max=2000", "default_ttl=3600", "send_timeout=600")
	se.VarnishURL, se.varnish = url, cmd
	return err
}

// stormVCL caches every GET for everyone (the bytes do not depend on the
// caller), streaming a miss to every request waiting on it.
const stormVCL = `vcl 4.1;
backend glance { .host = "%s"; .port = "%s"; .first_byte_timeout = 600s; .between_bytes_timeout = 600s; }
sub vcl_recv {
  if (req.method != "GET" && req.method != "HEAD") { return (pass); }
  return (hash);
}
sub vcl_hash { hash_data(req.url); return (lookup); }
sub vcl_backend_response {
  unset beresp.http.Set-Cookie;
  unset beresp.http.Vary;
  set beresp.ttl = 1h;
  set beresp.do_stream = true;
  return (deliver);
}
sub vcl_deliver { if (obj.hits > 0) { set resp.http.X-Cache = "HIT"; } else { set resp.http.X-Cache = "MISS"; } }
`

func (se *StormEnv) startSpyglass(ctx context.Context) error {
	bin, addr, err := buildSpyglass(ctx, se.Dir)
	if err != nil {
		return err
	}
	cfg := fmt.Sprintf("listen: %s\nauth: {mode: trusted}\nregions:\n  - {name: origin, kind: glance, endpoint: \"http://%s\"}\ncache: {dir: %q, max_size: 40GiB}\n",
		addr, se.Link.Addr(), filepath.Join(se.Dir, "spyglass-cache"))
	path := filepath.Join(se.Dir, "spyglass.yaml")
	if err := os.WriteFile(path, []byte(cfg), 0o644); err != nil {
		return err
	}
	se.spy = exec.Command(bin, "serve", "--config", path, "--admin-listen", "127.0.0.1:0")
	if err := se.env.start("spyglass", se.spy); err != nil {
		return err
	}
	se.SpyURL = "http://" + addr
	return waitHTTP(se.spy, se.SpyURL+"/versions", 20*time.Second)
}

// Close stops everything and removes the directory.
func (se *StormEnv) Close() {
	if se.siteFront != nil {
		se.siteFront.Close()
	}
	if se.env != nil {
		se.env.Glance = se.Glance
		se.env.Close()
	}
	if se.Link != nil {
		se.Link.Close()
	}
}

// spyRSS is Spyglass's peak resident set (VmHWM), MiB.
func (se *StormEnv) spyRSS() float64 {
	if se.spy == nil || se.spy.Process == nil {
		return 0
	}
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", se.spy.Process.Pid))
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if rest, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			kb, _ := strconv.ParseFloat(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 64)
			return kb / 1024
		}
	}
	return 0
}

// stormImage is one uploaded image and its bytes, kept to check every
// download byte for byte.
type stormImage struct {
	id   string
	data []byte
	md5  string
}

// uploadImage creates a public image of size bytes in Glance, directly.
func (se *StormEnv) uploadImage(size int64, seed uint64) (*stormImage, error) {
	data := make([]byte, size)
	rng := rand.New(rand.NewPCG(seed, seed^0x5eed))
	for i := 0; i+8 <= len(data); i += 8 {
		v := rng.Uint64()
		for j := 0; j < 8; j++ {
			data[i+j] = byte(v >> (8 * j))
		}
	}
	resp, body, err := callAs("POST", se.Glance.URL+"/v2/images",
		[]byte(`{"name": "boot", "disk_format": "raw", "container_format": "bare", "visibility": "public"}`), "application/json")
	if err != nil || resp.StatusCode != 201 {
		return nil, fmt.Errorf("create: %v %s", err, body)
	}
	var img struct{ ID string }
	json.Unmarshal(body, &img)
	resp, body, err = callAs("PUT", se.Glance.URL+"/v2/images/"+img.ID+"/file", data, "application/octet-stream")
	if err != nil || resp.StatusCode != 204 {
		return nil, fmt.Errorf("upload: %v %s", err, body)
	}
	sum := md5.Sum(data)
	return &stormImage{id: img.ID, data: data, md5: hex.EncodeToString(sum[:])}, nil
}

func callAs(method, url string, body []byte, ct string) (*http.Response, []byte, error) {
	req, err := http.NewRequest(method, url, bytes.NewReader(body))
	if err != nil {
		return nil, nil, err
	}
	for k, v := range adminIdentity {
		req.Header.Set(k, v)
	}
	if ct != "" {
		req.Header.Set("Content-Type", ct)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp, b, err
}

// storm runs n concurrent downloads of img from base and measures them.
// Every body is compared with the image byte for byte: a wrong or missing
// byte is an error of the run, not a statistic.
func (se *StormEnv) storm(target, base string, img *stormImage, n int) StormResult {
	tr := &http.Transport{MaxIdleConnsPerHost: n, MaxConnsPerHost: 0, DisableCompression: true}
	defer tr.CloseIdleConnections()
	client := &http.Client{Transport: tr}
	beforeOrigin := se.Link.Sent()
	se.Link.ResetFirstByte()
	logFrom := se.originLogSize()
	server := se.serverOf(target)
	cpuBefore := groupCPU(server)
	ttfb := make([]float64, n)
	done := make([]float64, n)
	var errs atomic.Int64
	var wg, ready sync.WaitGroup
	// The barrier: every client is ready, then all are released at once;
	// times count from the release.
	gate := make(chan struct{})
	var start time.Time
	for i := 0; i < n; i++ {
		wg.Add(1)
		ready.Add(1)
		go func(i int) {
			defer wg.Done()
			req, _ := http.NewRequest("GET", base+"/v2/images/"+img.id+"/file", nil)
			record, _ := http.NewRequest("GET", base+"/v2/images/"+img.id, nil)
			for k, v := range adminIdentity {
				req.Header.Set(k, v)
				record.Header.Set(k, v)
			}
			var first time.Time
			req = req.WithContext(httptrace.WithClientTrace(context.Background(), &httptrace.ClientTrace{
				GotFirstResponseByte: func() { first = time.Now() },
			}))
			buf := make([]byte, 256<<10)
			ready.Done()
			<-gate
			if se.client == ClientGlance && !askRecord(client, record, img.id) {
				errs.Add(1)
				return
			}
			resp, err := client.Do(req)
			if err != nil {
				errs.Add(1)
				return
			}
			defer resp.Body.Close()
			if resp.StatusCode != 200 {
				errs.Add(1)
				return
			}
			var off int64
			for {
				k, err := resp.Body.Read(buf)
				if k > 0 {
					if off+int64(k) > int64(len(img.data)) || !bytes.Equal(buf[:k], img.data[off:off+int64(k)]) {
						errs.Add(1)
						return
					}
					off += int64(k)
				}
				if err == io.EOF {
					break
				}
				if err != nil {
					errs.Add(1)
					return
				}
			}
			if off != int64(len(img.data)) {
				errs.Add(1)
				return
			}
			ttfb[i] = first.Sub(start).Seconds()
			done[i] = time.Since(start).Seconds()
		}(i)
	}
	ready.Wait()
	// A P for every client while it runs: the N clients stand for N
	// hosts, each reading as soon as its bytes arrive. On the runtime's
	// default (a P per core, 2 here) clients that already stream keep
	// both Ps busy; a connection whose status arrived later waits for
	// the netpoller to be looked at and for a P (the runtime's 10 ms
	// slices): measured, the last clients of a storm "got" a status
	// Spyglass had sent 40 ms earlier, and a server that starts its first
	// bodies while it still sends statuses was charged that wait. With a P
	// each, the kernel schedules the clients' threads, as it would
	// schedule hosts' NICs.
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(n + 8))
	stopPerf := se.perf(target, n)
	start = time.Now()
	close(gate)
	wg.Wait()
	wall := time.Since(start).Seconds()
	stopPerf()
	cpu := groupCPU(server) - cpuBefore
	size := float64(len(img.data))
	r := StormResult{Target: target, Client: se.client, N: n, ImageMiB: size / (1 << 20), WallS: wall, Errors: int(errs.Load()), ServerCPUS: cpu,
		OriginRatio: float64(se.Link.Sent()-beforeOrigin) / size,
		MiBps:       float64(n) * size / (1 << 20) / wall}
	if fb, lb := se.Link.FirstByte(), se.Link.LastByte(); !fb.IsZero() {
		r.OriginFirstByteS = fb.Sub(start).Seconds()
		if lb.After(fb) {
			r.FillS = lb.Sub(fb).Seconds()
		}
	}
	r.OriginRecords, r.OriginData = se.originRequests(logFrom, img.id)
	r.TTFBP50, r.TTFBP99 = percentile(ttfb, 0.5), percentile(ttfb, 0.99)
	r.DoneP50, r.DoneP99 = percentile(done, 0.5), percentile(done, 0.99)
	if strings.HasPrefix(target, "spyglass") {
		r.SpyglassRSSMiB = se.spyRSS()
	}
	return r
}

// askRecord GETs an image's record as glanceclient's data() does before
// the data: true when it is the image's (200, its id). The body is read
// to its end, so the data's request reuses the connection, as requests'
// session does.
func askRecord(client *http.Client, req *http.Request, id string) bool {
	resp, err := client.Do(req)
	if err != nil {
		return false
	}
	b, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	var rec struct {
		ID string `json:"id"`
	}
	return err == nil && resp.StatusCode == 200 && json.Unmarshal(b, &rec) == nil && rec.ID == id
}

// perf starts `perf record` for one storm when PerfDir is set; the func
// it returns stops it and waits for the file.
func (se *StormEnv) perf(target string, n int) func() {
	if se.perfDir == "" {
		return func() {}
	}
	out := filepath.Join(se.perfDir, fmt.Sprintf("%s-n%d.data", target, n))
	cmd := exec.Command("perf", "record", "-a", "-g", "-F", "499", "-o", out)
	if err := cmd.Start(); err != nil {
		log.Printf("bench: perf record: %v", err)
		return func() {}
	}
	time.Sleep(300 * time.Millisecond) // perf attaches to every CPU first
	return func() {
		cmd.Process.Signal(os.Interrupt)
		cmd.Wait()
	}
}

// serverOf is the process a target's storm is served by (its process
// group, as Env.start starts it), nil when not one of the bench's.
func (se *StormEnv) serverOf(target string) *exec.Cmd {
	switch {
	case strings.HasPrefix(target, "nginx"):
		return se.nginx
	case strings.HasPrefix(target, "varnish"):
		return se.varnish
	case strings.HasPrefix(target, "spyglass"):
		return se.spy
	}
	return nil
}

// groupCPU is the CPU time (user and system, seconds) used so far by the
// live processes of cmd's process group: nginx's workers, varnishd's
// child, Spyglass.
func groupCPU(cmd *exec.Cmd) float64 {
	if cmd == nil || cmd.Process == nil {
		return 0
	}
	pgid := strconv.Itoa(cmd.Process.Pid)
	dirs, _ := os.ReadDir("/proc")
	var ticks int64
	for _, d := range dirs {
		if d.Name()[0] < '0' || d.Name()[0] > '9' {
			continue
		}
		b, err := os.ReadFile("/proc/" + d.Name() + "/stat")
		if err != nil {
			continue
		}
		// The command name, in parentheses, may hold spaces: fields count
		// from after its closing one (state is field 3, pgrp 5, utime 14,
		// stime 15).
		i := bytes.LastIndexByte(b, ')')
		if i < 0 {
			continue
		}
		f := strings.Fields(string(b[i+1:]))
		if len(f) < 13 || f[2] != pgid {
			continue
		}
		u, _ := strconv.ParseInt(f[11], 10, 64)
		s, _ := strconv.ParseInt(f[12], 10, 64)
		ticks += u + s
	}
	return float64(ticks) / 100 // USER_HZ, 100 on Linux
}

func percentile(xs []float64, p float64) float64 {
	s := append([]float64(nil), xs...)
	sort.Float64s(s)
	if len(s) == 0 {
		return 0
	}
	return s[min(len(s)-1, int(p*float64(len(s))))]
}

// RunStorm runs every N against every target, every cache cold then every
// cache warm, each N on a fresh image (so "cold" is cold for nginx and
// Spyglass alike).
func RunStorm(se *StormEnv, opts StormOptions) ([]StormResult, error) {
	var out []StormResult
	for i, n := range opts.Ns {
		img, err := se.uploadImage(opts.ImageSize, uint64(i+1))
		if err != nil {
			return out, err
		}
		record, data, both, err := se.probeOrigin(img)
		if err != nil {
			return out, err
		}
		sha := sha512CPU(img.data)
		if n <= opts.DirectMaxN {
			out = append(out, se.storm("glance", "http://"+se.Link.Addr(), img, n))
		}
		// Every cache cold, then every cache warm: the warm storms run
		// next to each other, so the host's drift (it is shared) hits
		// them alike, and none runs in the wake of its own fill (the
		// writeback of the bytes it just wrote) while another does not.
		caches := se.caches(opts.Caches)
		for _, phase := range []string{"-cold", "-warm"} {
			for _, c := range caches {
				if c.url == "" {
					continue
				}
				r := se.storm(c.name+phase, c.url, img, n)
				if r.Target == "spyglass-cold" {
					r.OriginRecordS, r.OriginDataS, r.OriginBothS, r.SHA512CPUS = record, data, both, sha
				}
				out = append(out, r)
			}
		}
		if se.SiteURL != "" {
			// A fresh image: cold for the site's instances too.
			img, err := se.uploadImage(opts.ImageSize, uint64(1000+i))
			if err != nil {
				return out, err
			}
			out = append(out, se.storm("site-cold", se.SiteURL, img, n))
			out = append(out, se.storm("site-warm", se.SiteURL, img, n))
		}
	}
	return out, nil
}

// probeRounds is how many times probeOrigin asks each way.
const probeRounds = 9

// probeOrigin measures what a verifying cache's cold miss asks of the
// origin before its first byte can go out: img's record, then its data (to
// the response's headers), the two one after the other and both at once;
// medians of probeRounds. It asks Glance directly: the link counts the
// storms' requests. An origin that serves one request at a time (Glance
// with one worker) answers both at once no sooner than one after the
// other: a cache that must read the record before it answers cannot then
// answer as soon as one that asks for the data blind, whatever it
// overlaps.
func (se *StormEnv) probeOrigin(img *stormImage) (record, data, both float64, err error) {
	tr := &http.Transport{MaxIdleConnsPerHost: 2}
	defer tr.CloseIdleConnections()
	recordPath, dataPath := "/v2/images/"+img.id, "/v2/images/"+img.id+"/file"
	var mu sync.Mutex
	ask := func(path string) float64 {
		req, _ := http.NewRequest("GET", se.Glance.URL+path, nil)
		for k, v := range adminIdentity {
			req.Header.Set(k, v)
		}
		t0 := time.Now()
		resp, rerr := tr.RoundTrip(req)
		if rerr == nil {
			if path == recordPath {
				_, rerr = io.Copy(io.Discard, resp.Body) // the record is read whole
			}
			resp.Body.Close() // the data's body is not wanted: closed unread
			if rerr == nil && resp.StatusCode != 200 {
				rerr = fmt.Errorf("status %d", resp.StatusCode)
			}
		}
		if rerr != nil {
			mu.Lock()
			err = fmt.Errorf("probing the origin: GET %s: %w", path, rerr)
			mu.Unlock()
		}
		return time.Since(t0).Seconds()
	}
	var rs, ds, bs []float64
	for range probeRounds {
		rs, ds = append(rs, ask(recordPath)), append(ds, ask(dataPath))
		t0 := time.Now()
		var wg sync.WaitGroup
		wg.Add(2)
		go func() { defer wg.Done(); ask(recordPath) }()
		go func() { defer wg.Done(); ask(dataPath) }()
		wg.Wait()
		bs = append(bs, time.Since(t0).Seconds())
	}
	return percentile(rs, 0.5), percentile(ds, 0.5), percentile(bs, 0.5), err
}

// sha512CPU is the CPU time of one SHA-512 of b on one thread (the
// thread's own clock: a core the host's other work takes meanwhile does
// not count), the least of three.
func sha512CPU(b []byte) float64 {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	best := 0.0
	for range 3 {
		before := threadCPU()
		sha512.Sum512(b)
		if d := threadCPU() - before; best == 0 || d < best {
			best = d
		}
	}
	return best
}

// threadCPU is the calling thread's CPU time so far (user and system), s.
func threadCPU() float64 {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_THREAD, &ru)
	return float64(ru.Utime.Nano()+ru.Stime.Nano()) / 1e9
}

// caches are the named caches with their URLs, in the order named; all
// three when none is named.
func (se *StormEnv) caches(names []string) []peer {
	urls := map[string]string{"nginx": se.NginxURL, "varnish": se.VarnishURL, "spyglass": se.SpyURL}
	if len(names) == 0 {
		names = []string{"nginx", "varnish", "spyglass"}
	}
	out := make([]peer, 0, len(names))
	for _, n := range names {
		out = append(out, peer{n, urls[n]})
	}
	return out
}

// StormRatios are the comparisons the issue asks for, per N.
func StormRatios(res []StormResult) map[string]float64 {
	by := map[string]StormResult{}
	for _, r := range res {
		by[fmt.Sprintf("%s/%d", r.Target, r.N)] = r
	}
	out := map[string]float64{}
	for _, r := range res {
		if r.Target != "spyglass-cold" {
			continue
		}
		n := r.N
		warm, okw := by[fmt.Sprintf("spyglass-warm/%d", n)]
		nw, okn := by[fmt.Sprintf("nginx-warm/%d", n)]
		out[fmt.Sprintf("N=%d origin bytes per image, spyglass cold", n)] = r.OriginRatio
		if okw && warm.WallS > 0 {
			out[fmt.Sprintf("N=%d spyglass cold wall / warm wall", n)] = r.WallS / warm.WallS
		}
		if okw && okn && nw.MiBps > 0 {
			out[fmt.Sprintf("N=%d spyglass warm MiB/s / nginx warm", n)] = warm.MiBps / nw.MiBps
		}
		if vw, ok := by[fmt.Sprintf("varnish-warm/%d", n)]; okw && ok && vw.MiBps > 0 {
			out[fmt.Sprintf("N=%d spyglass warm MiB/s / varnish warm", n)] = warm.MiBps / vw.MiBps
		}
		if vw, ok := by[fmt.Sprintf("varnish-warm/%d", n)]; okw && ok && vw.ServerCPUS > 0 {
			out[fmt.Sprintf("N=%d spyglass warm server CPU / varnish warm", n)] = warm.ServerCPUS / vw.ServerCPUS
		}
		if okw && okn && nw.ServerCPUS > 0 {
			out[fmt.Sprintf("N=%d spyglass warm server CPU / nginx warm", n)] = warm.ServerCPUS / nw.ServerCPUS
		}
		if vc, ok := by[fmt.Sprintf("varnish-cold/%d", n)]; ok && vc.ServerCPUS > 0 {
			out[fmt.Sprintf("N=%d spyglass cold server CPU / varnish cold", n)] = r.ServerCPUS / vc.ServerCPUS
		}
		if vc, ok := by[fmt.Sprintf("varnish-cold/%d", n)]; ok && vc.FillS > 0 && r.FillS > 0 {
			out[fmt.Sprintf("N=%d spyglass origin fill s / varnish's", n)] = r.FillS / vc.FillS
		}
		if nc, ok := by[fmt.Sprintf("nginx-cold/%d", n)]; ok && nc.FillS > 0 && r.FillS > 0 {
			out[fmt.Sprintf("N=%d spyglass origin fill s / nginx's", n)] = r.FillS / nc.FillS
		}
		out[fmt.Sprintf("N=%d spyglass cold p99 first byte - origin first byte (s)", n)] = r.TTFBP99 - r.OriginFirstByteS
		if vc, ok := by[fmt.Sprintf("varnish-cold/%d", n)]; ok && vc.TTFBP99 > 0 {
			out[fmt.Sprintf("N=%d spyglass cold p99 first byte / varnish's", n)] = r.TTFBP99 / vc.TTFBP99
		}
		// The targets against the best peer: the shortest cold
		// wall, the highest warm aggregate.
		bestCold, bestWarm := 0.0, 0.0
		for _, other := range []string{"nginx", "varnish"} {
			if pc, ok := by[fmt.Sprintf("%s-cold/%d", other, n)]; ok && pc.WallS > 0 && (bestCold == 0 || pc.WallS < bestCold) {
				bestCold = pc.WallS
			}
			if pw, ok := by[fmt.Sprintf("%s-warm/%d", other, n)]; ok && pw.MiBps > bestWarm {
				bestWarm = pw.MiBps
			}
		}
		if bestCold > 0 {
			out[fmt.Sprintf("N=%d spyglass cold wall / best peer's cold wall", n)] = r.WallS / bestCold
		}
		if okw && bestWarm > 0 {
			out[fmt.Sprintf("N=%d spyglass warm MiB/s / best peer's warm", n)] = warm.MiBps / bestWarm
		}
		if sc, ok := by[fmt.Sprintf("site-cold/%d", n)]; ok {
			out[fmt.Sprintf("N=%d origin bytes per image, site of instances behind round-robin, cold", n)] = sc.OriginRatio
			if sw, ok := by[fmt.Sprintf("site-warm/%d", n)]; ok && sw.WallS > 0 {
				out[fmt.Sprintf("N=%d site cold wall / warm wall", n)] = sc.WallS / sw.WallS
			}
		}
		if nc, ok := by[fmt.Sprintf("nginx-cold/%d", n)]; ok {
			out[fmt.Sprintf("N=%d nginx cold p99 first byte - origin first byte (s)", n)] = nc.TTFBP99 - nc.OriginFirstByteS
		}
		// What verifying costs, in the units it comes in: the origin's
		// answers to record and data at once against one after the other
		// (1: it serves one at a time), and Spyglass's cold CPU beyond
		// Varnish's (which verifies nothing) in SHA-512s of the image.
		if r.OriginRecordS > 0 && r.OriginDataS > 0 {
			out[fmt.Sprintf("N=%d origin record and data at once / one after the other", n)] = r.OriginBothS / (r.OriginRecordS + r.OriginDataS)
		}
		if vc, ok := by[fmt.Sprintf("varnish-cold/%d", n)]; ok && r.SHA512CPUS > 0 && vc.ServerCPUS > 0 {
			out[fmt.Sprintf("N=%d spyglass cold CPU beyond varnish's, in SHA-512s of the image", n)] = (r.ServerCPUS - vc.ServerCPUS) / r.SHA512CPUS
		}
	}
	return out
}

func printStorm(res []StormResult) {
	client := ""
	if len(res) > 0 {
		client = res[0].Client
	}
	fmt.Printf("\n== boot storm (same run; each client asks as %s) ==\n", client)
	fmt.Printf("%-14s %5s %8s %7s %7s %5s %8s %8s %8s %8s %9s %8s %8s %6s\n", "target", "N", "origin×", "fill s", "wall s", "rec/data", "ttfb50", "ttfb99", "done50", "done99", "MiB/s", "cpu s", "rssMiB", "errors")
	for _, r := range res {
		fmt.Printf("%-14s %5d %8.2f %7.2f %7.2f %3d/%-3d %8.3f %8.3f %8.2f %8.2f %9.0f %8.2f %8.0f %6d\n", r.Target, r.N, r.OriginRatio, r.FillS, r.WallS,
			r.OriginRecords, r.OriginData, r.TTFBP50, r.TTFBP99, r.DoneP50, r.DoneP99, r.MiBps, r.ServerCPUS, r.SpyglassRSSMiB, r.Errors)
	}
	printRatios(StormRatios(res))
}

// countingLink is a TCP proxy between the origin's clients and Glance: it
// counts the bytes the origin sends (the origin's cost) and can limit each
// connection's rate, like a WAN link. It never alters a byte.
type countingLink struct {
	ln        net.Listener
	target    string
	rate      int64
	sent      atomic.Int64
	mu        sync.Mutex
	firstByte time.Time
	lastByte  time.Time // of a body, since ResetFirstByte
	wantFirst bool
}

func startLink(target string, rate int64) (*countingLink, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	l := &countingLink{ln: ln, target: target, rate: rate}
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go l.serve(c)
		}
	}()
	return l, nil
}

func (l *countingLink) Addr() string { return l.ln.Addr().String() }
func (l *countingLink) Close()       { l.ln.Close() }
func (l *countingLink) Sent() int64  { return l.sent.Load() }

func (l *countingLink) ResetFirstByte() {
	l.mu.Lock()
	l.firstByte, l.lastByte, l.wantFirst = time.Time{}, time.Time{}, true
	l.mu.Unlock()
}

func (l *countingLink) FirstByte() time.Time {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.firstByte
}

// LastByte is when the origin last sent a body's bytes.
func (l *countingLink) LastByte() time.Time {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.lastByte
}

func (l *countingLink) serve(c net.Conn) {
	defer c.Close()
	o, err := net.Dial("tcp", l.target)
	if err != nil {
		return
	}
	defer o.Close()
	go func() { io.Copy(o, c); o.(*net.TCPConn).CloseWrite() }()
	buf := make([]byte, 64<<10)
	start := time.Now()
	var total int64
	for {
		n, err := o.Read(buf)
		if n > 0 {
			if n > 4096 { // a body, not just headers: the origin's first byte
				now := time.Now()
				l.mu.Lock()
				if l.wantFirst {
					l.firstByte, l.wantFirst = now, false
				}
				l.lastByte = now
				l.mu.Unlock()
			}
			l.sent.Add(int64(n))
			if _, werr := c.Write(buf[:n]); werr != nil {
				return
			}
			total += int64(n)
			if l.rate > 0 {
				due := start.Add(time.Duration(float64(total) / float64(l.rate) * float64(time.Second)))
				if d := time.Until(due); d > 0 {
					time.Sleep(d)
				}
			}
		}
		if err != nil {
			return
		}
	}
}

// originLogSize is where the origin's log ends now: originRequests reads
// what it logs after.
func (se *StormEnv) originLogSize() int64 {
	fi, err := os.Stat(filepath.Join(se.Glance.Dir, "api.log"))
	if err != nil {
		return 0
	}
	return fi.Size()
}

// originRequests counts the requests for image id the origin logged after
// offset from: its record (GET /v2/images/{id}) and its data (GET
// /v2/images/{id}/file). Glance logs a request when its answer is done.
func (se *StormEnv) originRequests(from int64, id string) (records, data int) {
	time.Sleep(200 * time.Millisecond) // the last answer's line
	f, err := os.Open(filepath.Join(se.Glance.Dir, "api.log"))
	if err != nil {
		return 0, 0
	}
	defer f.Close()
	if _, err := f.Seek(from, io.SeekStart); err != nil {
		return 0, 0
	}
	b, _ := io.ReadAll(f)
	for _, line := range strings.Split(string(b), "\n") {
		switch {
		case strings.Contains(line, "GET /v2/images/"+id+"/file "):
			data++
		case strings.Contains(line, "GET /v2/images/"+id+" "):
			records++
		}
	}
	return records, data
}
