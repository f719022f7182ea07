package main

import (
	"bufio"
	"bytes"
	"crypto/md5"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/spyglass-gateway/spyglass/backends/glance/glancetest"
	"github.com/spyglass-gateway/spyglass/internal/testproc"
)

// startWithConfig starts the binary with a configuration file; unlike
// startServe it leaves everything to the file.
func startWithConfig(t *testing.T, bin, cfgPath string) *process {
	t.Helper()
	return startArgs(t, bin, "serve", "--config", cfgPath)
}

// glanceRegionConfig writes a configuration file (in a new temporary
// directory, with the image data cache there) for one glance region at
// endpoint, with auth.mode auth and any further top-level keys in extra
// (YAML lines), and returns its path.
func glanceRegionConfig(t *testing.T, auth, endpoint, extra string) string {
	t.Helper()
	dir := t.TempDir()
	cfgPath := filepath.Join(dir, "spyglass.yaml")
	cfg := fmt.Sprintf(`listen: 127.0.0.1:0
auth: {mode: %s}
regions:
  - {name: origin, kind: glance, endpoint: %q}
cache: {dir: %q, max_size: 1GiB}
`, auth, endpoint, filepath.Join(dir, "cache")) + extra
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	return cfgPath
}

// logField is the value of key=value in a text log line ("" if absent).
func logField(line, key string) string {
	for _, f := range strings.Fields(line) {
		if v, ok := strings.CutPrefix(f, key+"="); ok {
			return v
		}
	}
	return ""
}

// startArgs runs the binary with args and returns once it has logged the
// address it listens on.
func startArgs(t *testing.T, bin string, args ...string) *process {
	t.Helper()
	return startArgsEnv(t, bin, nil, args...)
}

// startArgsEnv is startArgs with more environment variables (NAME=value).
func startArgsEnv(t *testing.T, bin string, env []string, args ...string) *process {
	t.Helper()
	cmd := exec.Command(bin, args...)
	cmd.Env = append(os.Environ(), "SPYGLASS_LISTEN=", "SPYGLASS_AUTH=", "SPYGLASS_DATA_DIR=", "SPYGLASS_ADMIN_LISTEN=127.0.0.1:0", "SPYGLASS_ADMIN_TOKEN=")
	cmd.Env = append(cmd.Env, env...)
	pipe, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := testproc.Start(cmd); err != nil { // dies with the test binary
		t.Fatal(err)
	}
	p := &process{cmd: cmd, done: make(chan error, 1), exited: make(chan struct{})}
	addrc := make(chan [2]string, 1)
	copied := make(chan struct{})
	go func() {
		defer close(copied)
		sc := bufio.NewScanner(pipe)
		for sc.Scan() {
			line := sc.Text()
			p.mu.Lock()
			p.stderr.WriteString(line + "\n")
			p.mu.Unlock()
			if i := strings.Index(line, " addr="); i >= 0 && strings.Contains(line, "listening") {
				select {
				case addrc <- [2]string{strings.Fields(line[i+len(" addr="):])[0], logField(line, "admin")}:
				default:
				}
			}
		}
	}()
	go func() {
		<-copied
		p.done <- cmd.Wait()
		close(p.exited)
	}()
	t.Cleanup(func() {
		// Not cmd.ProcessState: Wait writes it in another goroutine.
		select {
		case <-p.exited:
		default:
			testproc.Kill(cmd)
			<-p.exited
		}
		testproc.Kill(cmd) // dismisses the reaper of one that ended before
		if t.Failed() {
			t.Logf("spyglass stderr:\n%s", p.log())
		}
	})
	select {
	case a := <-addrc:
		p.addr, p.admin = a[0], a[1]
	case err := <-p.done:
		p.done <- err
		t.Fatalf("spyglass exited before listening: %v\n%s", err, p.log())
	case <-time.After(20 * time.Second):
		t.Fatalf("spyglass did not log its address within 20s:\n%s", p.log())
	}
	return p
}

// throttle is a loopback TCP proxy in front of a real Glance: a slow WAN
// link (bytes per second from the origin, per connection) that counts the
// bytes the origin sends. Real Glance cannot be made slow on demand; the
// proxy only delays bytes, it never alters them.
type throttle struct {
	ln        net.Listener
	rate      int64
	fromOrig  atomic.Int64
	closeOnce sync.Once
}

func startThrottle(t *testing.T, target string, bytesPerSec int64) *throttle {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	th := &throttle{ln: ln, rate: bytesPerSec}
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go th.serve(c, target)
		}
	}()
	t.Cleanup(func() { ln.Close() })
	return th
}

func (th *throttle) url() string { return "http://" + th.ln.Addr().String() }

func (th *throttle) serve(c net.Conn, target string) {
	defer c.Close()
	o, err := net.Dial("tcp", target)
	if err != nil {
		return
	}
	defer o.Close()
	go io.Copy(o, c)
	buf := make([]byte, 16<<10)
	chunk := th.rate / 50 // 20 ms worth
	if chunk < 1 {
		chunk = 1
	}
	for {
		n, err := o.Read(buf[:min(int64(len(buf)), chunk)])
		if n > 0 {
			th.fromOrig.Add(int64(n))
			if _, werr := c.Write(buf[:n]); werr != nil {
				return
			}
			time.Sleep(time.Duration(int64(n) * int64(time.Second) / th.rate))
		}
		if err != nil {
			return
		}
	}
}

// adminReq is a request as an admin of project "ops" (trusted mode).
func adminReq(t *testing.T, method, url string, body io.Reader) *http.Request {
	t.Helper()
	req, err := http.NewRequest(method, url, body)
	if err != nil {
		t.Fatal(err)
	}
	glancetest.SetCaller(req.Header, "ops", "u-ops", "admin,member,reader")
	return req
}

// TestGlanceRegionFillSurvivesKill9: Spyglass in front of a real Glance over
// a slow link is killed with SIGKILL in the middle of filling its blob cache
// from a download; restarted on the same cache directory it never lists or
// serves the partial entry as complete, serves the image's exact bytes, and
// the origin is not asked for the image many times over.
func TestGlanceRegionFillSurvivesKill9(t *testing.T) {
	bin := buildBinary(t)
	g := glancetest.SharedT(t)
	const size = 8 << 20
	data := make([]byte, size)
	rand.Read(data)
	sum := md5.Sum(data)
	want := hex.EncodeToString(sum[:])

	id := putImageToGlance(t, g, "boot", data)

	th := startThrottle(t, strings.TrimPrefix(g.URL, "http://"), 2<<20) // 2 MiB/s: a 4 s fill
	cfgPath := glanceRegionConfig(t, "trusted", th.url(), "")

	p := startWithConfig(t, bin, cfgPath)
	resp, err := http.DefaultClient.Do(adminReq(t, "GET", "http://"+p.addr+"/v2/images/"+id+"/file", nil))
	if err != nil {
		t.Fatal(err)
	}
	got := make([]byte, 1<<20)
	if _, err := io.ReadFull(resp.Body, got); err != nil {
		t.Fatalf("first MiB through spyglass: %v", err)
	}
	if !bytes.Equal(got, data[:len(got)]) {
		t.Fatal("the first MiB through spyglass is not the image's")
	}
	p.cmd.Process.Signal(syscall.SIGKILL)
	<-p.done
	resp.Body.Close()
	killedAt := th.fromOrig.Load()
	if killedAt >= size {
		t.Fatalf("the fill finished before the kill (%d bytes from the origin); the link is too fast for this test", killedAt)
	}

	p = startWithConfig(t, bin, cfgPath)
	base := "http://" + p.addr
	if cached := cachedIDs(t, base); cached[id] {
		t.Fatal("after kill -9 mid-fill, the partial entry is listed as cached")
	}
	resp, err = http.DefaultClient.Do(adminReq(t, "GET", base+"/v2/images/"+id+"/file", nil))
	if err != nil {
		t.Fatal(err)
	}
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("download after restart: %d %v", resp.StatusCode, err)
	}
	h := md5.Sum(body)
	if hex.EncodeToString(h[:]) != want || len(body) != size {
		t.Fatalf("download after restart: %d bytes, md5 %x; want %d bytes, %s", len(body), h, size, want)
	}
	if cached := cachedIDs(t, base); !cached[id] {
		t.Fatal("after a complete download the image is not listed as cached")
	}
	// A warm read costs the origin nothing.
	before := th.fromOrig.Load()
	resp, _ = http.DefaultClient.Do(adminReq(t, "GET", base+"/v2/images/"+id+"/file", nil))
	warm, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if !bytes.Equal(warm, data) {
		t.Fatal("warm read: wrong bytes")
	}
	if d := th.fromOrig.Load() - before; d > 64<<10 {
		t.Fatalf("warm read fetched %d bytes from the origin", d)
	}
	// Origin bytes in all: the killed fill's part plus at most one whole
	// transfer (a resumed fill fetches only the rest), plus metadata.
	if total := th.fromOrig.Load(); total > killedAt+size+(256<<10) {
		t.Fatalf("origin sent %d bytes for a %d-byte image (%d before the kill)", total, size, killedAt)
	}
}

func withJSON(r *http.Request) *http.Request {
	r.Header.Set("Content-Type", "application/json")
	return r
}

func cachedIDs(t *testing.T, base string) map[string]bool {
	t.Helper()
	resp, err := http.DefaultClient.Do(adminReq(t, "GET", base+"/v2/cache", nil))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var st struct {
		Cached []struct {
			ImageID string `json:"image_id"`
		} `json:"cached_images"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&st); err != nil || resp.StatusCode != 200 {
		t.Fatalf("GET /v2/cache: %d %v", resp.StatusCode, err)
	}
	ids := map[string]bool{}
	for _, c := range st.Cached {
		ids[c.ImageID] = true
	}
	return ids
}

// TestGlanceCLICacheCommands: the unmodified glance client's cache
// commands (cache-list, cache-queue, cache-delete, cache-clear) against
// Spyglass in front of a real Glance.
func TestGlanceCLICacheCommands(t *testing.T) {
	cli, err := exec.LookPath("glance")
	if err != nil {
		t.Fatalf("the glance client is needed (apt-get install python3-glanceclient; make deps installs it): %v", err)
	}
	bin := buildBinary(t)
	g := glancetest.SharedT(t)
	cfgPath := glanceRegionConfig(t, "noauth", g.URL, "")
	p := startWithConfig(t, bin, cfgPath)
	base := "http://" + p.addr

	data := bytes.Repeat([]byte("spyglass"), 1<<16)
	code, img := do(t, "POST", base+"/v2/images", `{"name": "cached", "disk_format": "raw", "container_format": "bare"}`)
	if code != 201 {
		t.Fatalf("create: %d %v", code, img)
	}
	id := img["id"].(string)
	req, _ := http.NewRequest("PUT", base+"/v2/images/"+id+"/file", bytes.NewReader(data))
	req.Header.Set("Content-Type", "application/octet-stream")
	if resp, err := http.DefaultClient.Do(req); err != nil || resp.StatusCode != 204 {
		t.Fatalf("upload: %v %v", err, resp)
	}

	run := glanceCLI(t, cli, base, p)
	if out := run("cache-list"); strings.Contains(out, id) {
		t.Fatalf("cache-list before anything was cached:\n%s", out)
	}
	run("cache-queue", id)
	deadline := time.Now().Add(30 * time.Second)
	for !cachedIDs(t, base)[id] {
		if time.Now().After(deadline) {
			t.Fatalf("queued image not cached within 30s:\n%s", run("cache-list"))
		}
		time.Sleep(100 * time.Millisecond)
	}
	if out := run("cache-list"); !strings.Contains(out, id) {
		t.Fatalf("cache-list does not show the cached image:\n%s", out)
	}
	run("cache-delete", id)
	if cachedIDs(t, base)[id] {
		t.Fatal("cache-delete left the image cached")
	}
	// A download caches it again; cache-clear empties the cache.
	resp, err := http.Get(base + "/v2/images/" + id + "/file")
	if err != nil {
		t.Fatal(err)
	}
	got, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if !bytes.Equal(got, data) {
		t.Fatal("download through the cache: wrong bytes")
	}
	if !cachedIDs(t, base)[id] {
		t.Fatal("a complete download did not leave the image cached")
	}
	run("cache-clear")
	if cachedIDs(t, base)[id] {
		t.Fatal("cache-clear left the image cached")
	}
}

// noProfiler is the PYTHONPATH setting the Python clients (glance,
// openstack) run with here: testdata/noprofiler hides osprofiler, an
// optional import of theirs that costs each command half a second of CPU
// (its __init__.py says why).
func noProfiler(t *testing.T) string {
	dir, err := filepath.Abs(filepath.Join("testdata", "noprofiler"))
	if err != nil {
		t.Fatal(err)
	}
	return "PYTHONPATH=" + dir
}

// glanceCLI returns a runner of the unmodified glance client against base
// (noauth), failing the test with the output and p's log when a command
// fails.
func glanceCLI(t *testing.T, cli, base string, p *process) func(args ...string) string {
	return func(args ...string) string {
		t.Helper()
		cmd := exec.Command(cli, append([]string{"--os-image-url", base, "--os-auth-token", "x"}, args...)...)
		// A fresh $HOME each time: Debian's glanceclient 4.1 caches the
		// image schema there, and once it has Glance 25's (which has
		// "stores") every later command fails with "--stores: conflicting
		// option string" — against a real Glance just the same.
		cmd.Env = append(os.Environ(), "HOME="+t.TempDir(), noProfiler(t))
		for _, k := range []string{"OS_AUTH_URL", "OS_USERNAME", "OS_PASSWORD", "OS_CLOUD"} {
			cmd.Env = append(cmd.Env, k+"=")
		}
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("glance %s: %v\n%s\nspyglass log:\n%s", strings.Join(args, " "), err, out, p.log())
		}
		return string(out)
	}
}
