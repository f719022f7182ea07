package main

import (
	"bytes"
	"crypto/md5"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/spyglass-gateway/spyglass/backends/glance/glancetest"
)

var build struct {
	once sync.Once
	dir  string
	bin  string
	err  error
}

func TestMain(m *testing.M) {
	code := m.Run()
	// The tests in front of a real Glance share one (each keeps to its own
	// images): starting one per test cost minutes on a loaded machine.
	glancetest.StopShared()
	if build.dir != "" {
		os.RemoveAll(build.dir)
	}
	os.Exit(code)
}

// buildBinary builds cmd/spyglass once per test run, as a user would run it.
func buildBinary(t *testing.T) string {
	t.Helper()
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	build.once.Do(func() {
		goTool, err := exec.LookPath("go")
		if err != nil {
			goTool = filepath.Join(runtime.GOROOT(), "bin", "go")
		}
		if build.dir, build.err = os.MkdirTemp("", "spyglass-test-"); build.err != nil {
			return
		}
		build.bin = filepath.Join(build.dir, "spyglass")
		cmd := exec.Command(goTool, "build", "-ldflags", "-X main.version=test-1", "-o", build.bin, ".")
		if out, err := cmd.CombinedOutput(); err != nil {
			build.err = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	if build.err != nil {
		t.Fatal(build.err)
	}
	return build.bin
}

// process is a running "spyglass serve".
type process struct {
	cmd   *exec.Cmd
	addr  string
	admin string     // the admin listener's address, "off" when there is none
	done  chan error // the result of Wait
	// exited is closed once Wait has returned (and its result is in done,
	// for whoever takes it).
	exited chan struct{}

	mu     sync.Mutex
	stderr bytes.Buffer
}

func (p *process) log() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.stderr.String()
}

// startServe starts the binary on a free loopback port and waits until
// GET /versions answers.
func startServe(t *testing.T, bin, dataDir string) *process {
	t.Helper()
	p := startArgs(t, bin, "serve", "--listen", "127.0.0.1:0", "--data-dir", dataDir, "--auth", "noauth")
	deadline := time.Now().Add(5 * time.Second)
	for {
		resp, err := http.Get("http://" + p.addr + "/versions")
		if err == nil {
			resp.Body.Close()
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("GET /versions: %v", err)
		}
		time.Sleep(20 * time.Millisecond)
	}
	return p
}

func (p *process) wait(t *testing.T, timeout time.Duration) int {
	t.Helper()
	select {
	case err := <-p.done:
		var exit *exec.ExitError
		if err != nil && !errors.As(err, &exit) {
			t.Fatalf("wait: %v", err)
		}
		return p.cmd.ProcessState.ExitCode()
	case <-time.After(timeout):
		t.Fatalf("spyglass still running %v after SIGTERM:\n%s", timeout, p.log())
		return -1
	}
}

func do(t *testing.T, method, url, body string) (int, map[string]any) {
	t.Helper()
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	var m map[string]any
	if len(b) > 0 {
		if err := json.Unmarshal(b, &m); err != nil {
			t.Fatalf("%s %s: %d, body not JSON: %q", method, url, resp.StatusCode, b)
		}
	}
	return resp.StatusCode, m
}

// TestServeDrainsUploadOnSIGTERM is the operator's promise: stopping the
// gateway (systemd, Kubernetes) does not cut off an upload in progress.
func TestServeDrainsUploadOnSIGTERM(t *testing.T) {
	bin := buildBinary(t)
	dataDir := t.TempDir()
	p := startServe(t, bin, dataDir)
	base := "http://" + p.addr

	code, img := do(t, "POST", base+"/v2/images", `{"name": "drain", "disk_format": "raw", "container_format": "bare"}`)
	if code != http.StatusCreated {
		t.Fatalf("create image: %d %v", code, img)
	}
	id, _ := img["id"].(string)

	// The body trickles: a first chunk, SIGTERM, then ~1 s more of chunks.
	chunk := bytes.Repeat([]byte("spyglass"), 8<<10) // 64 KiB
	const chunks = 12
	sum := md5.New()
	pr, pw := io.Pipe()
	sigterm := make(chan struct{})
	go func() {
		for i := 0; i < chunks; i++ {
			if i == 1 {
				<-sigterm
			}
			if _, err := pw.Write(chunk); err != nil {
				pw.CloseWithError(err)
				return
			}
			sum.Write(chunk)
			time.Sleep(100 * time.Millisecond)
		}
		pw.Close()
	}()
	req, err := http.NewRequest("PUT", base+"/v2/images/"+id+"/file", pr)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/octet-stream")
	type result struct {
		code int
		body string
		err  error
	}
	uploaded := make(chan result, 1)
	go func() {
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			uploaded <- result{err: err}
			return
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		uploaded <- result{code: resp.StatusCode, body: string(b)}
	}()

	// SIGTERM only once the upload is in the handler (the image is saving):
	// a connection still in the accept queue would be refused, rightly.
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		_, img := do(t, "GET", base+"/v2/images/"+id, "")
		if img["status"] == "saving" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("image not saving 5s into the upload: %v", img)
		}
	}
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	close(sigterm)

	// New connections are refused while the upload drains.
	refused := false
	for deadline := time.Now().Add(time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		c, err := net.DialTimeout("tcp", p.addr, 100*time.Millisecond)
		if err != nil {
			refused = true
			break
		}
		c.Close()
	}
	if !refused {
		t.Errorf("new connections still accepted 1s after SIGTERM")
	}

	select {
	case r := <-uploaded:
		if r.err != nil {
			t.Fatalf("upload during shutdown: %v", r.err)
		}
		if r.code != http.StatusNoContent {
			t.Fatalf("upload during shutdown: %d %s", r.code, r.body)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("upload did not complete within 10s")
	}
	if got, want := p.wait(t, 10*time.Second), 0; got != want {
		t.Fatalf("exit code = %d, want %d\n%s", got, want, p.log())
	}
	if !strings.Contains(p.log(), "shutting down") {
		t.Errorf("no shutdown line in the log:\n%s", p.log())
	}

	// The image survived the restart, complete.
	p2 := startServe(t, bin, dataDir)
	code, img = do(t, "GET", "http://"+p2.addr+"/v2/images/"+id, "")
	if code != http.StatusOK {
		t.Fatalf("GET image after restart: %d %v", code, img)
	}
	if got, want := img["status"], "active"; got != want {
		t.Errorf("status = %v, want %v", got, want)
	}
	if got, want := img["size"], float64(chunks*len(chunk)); got != want {
		t.Errorf("size = %v, want %v", got, want)
	}
	if got, want := img["checksum"], hex.EncodeToString(sum.Sum(nil)); got != want {
		t.Errorf("checksum = %v, want %v", got, want)
	}
	if err := p2.cmd.Process.Signal(syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	if got, want := p2.wait(t, 10*time.Second), 0; got != want {
		t.Errorf("exit code after SIGINT = %d, want %d", got, want)
	}
}

func TestVersionLdflags(t *testing.T) {
	bin := buildBinary(t)
	out, err := exec.Command(bin, "version").Output()
	if err != nil {
		t.Fatal(err)
	}
	if got, want := string(out), fmt.Sprintf("spyglass test-1 %s ", runtime.Version()); !strings.HasPrefix(got, want) {
		t.Errorf("version = %q, want prefix %q", got, want)
	}
}

// The admin listener is on by default (its own port), answers while the API
// does, can be turned off, and a port already taken stops the start with a
// message naming the key.
func TestAdminListener(t *testing.T) {
	bin := buildBinary(t)
	p := startServe(t, bin, t.TempDir())
	if p.admin == "" || p.admin == "off" || p.admin == p.addr {
		t.Fatalf("admin listener address %q (API %q), want one of its own", p.admin, p.addr)
	}
	resp, err := http.Get("http://" + p.admin + "/healthcheck")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || string(body) != "OK" {
		t.Errorf("admin GET /healthcheck = %d %q, want 200 OK", resp.StatusCode, body)
	}

	off := startArgs(t, bin, "serve", "--listen", "127.0.0.1:0", "--admin-listen", "off", "--data-dir", t.TempDir())
	if off.admin != "off" {
		t.Errorf("--admin-listen off: admin=%q in the start-up log, want off", off.admin)
	}

	taken := exec.Command(bin, "serve", "--listen", "127.0.0.1:0", "--admin-listen", p.admin, "--data-dir", t.TempDir())
	taken.Env = append(os.Environ(), "SPYGLASS_ADMIN_LISTEN=")
	out, err := taken.CombinedOutput()
	var exit *exec.ExitError
	if !errors.As(err, &exit) || exit.ExitCode() != 1 || !strings.Contains(string(out), "admin.listen:") || !strings.Contains(string(out), "--admin-listen") {
		t.Errorf("a taken admin port: err %v, output:\n%s\nwant exit 1 naming admin.listen and the flag", err, out)
	}
}

// TestAdminTokenOffLoopback: the hostile start-up — the admin listener on
// every address with no token — exits 2 naming the key and the fix; with
// the token (SPYGLASS_ADMIN_TOKEN) it starts, and its admin listener
// answers 401 to whoever comes without it, /healthcheck and /ready
// excepted.
func TestAdminTokenOffLoopback(t *testing.T) {
	bin := buildBinary(t)
	refused := exec.Command(bin, "serve", "--listen", "127.0.0.1:0", "--admin-listen", "0.0.0.0:0", "--data-dir", t.TempDir())
	refused.Env = append(os.Environ(), "SPYGLASS_ADMIN_LISTEN=", "SPYGLASS_ADMIN_TOKEN=")
	out, err := refused.CombinedOutput()
	var exit *exec.ExitError
	if !errors.As(err, &exit) || exit.ExitCode() != 2 {
		t.Fatalf("admin listener on 0.0.0.0 without a token: %v, want exit 2\n%s", err, out)
	}
	for _, want := range []string{"admin.token_file: required: admin.listen 0.0.0.0:0 is not a loopback address", "openssl rand -hex 32", "SPYGLASS_ADMIN_TOKEN"} {
		if !strings.Contains(string(out), want) {
			t.Errorf("the refusal does not say %q:\n%s", want, out)
		}
	}

	const token = "binary-admin-token-0123456789"
	p := startArgsEnv(t, bin, []string{"SPYGLASS_ADMIN_TOKEN=" + token}, "serve", "--listen", "127.0.0.1:0", "--admin-listen", "0.0.0.0:0", "--data-dir", t.TempDir())
	_, port, _ := net.SplitHostPort(p.admin)
	base := "http://127.0.0.1:" + port
	for _, c := range []struct {
		path, auth string
		want       int
	}{
		{"/healthcheck", "", 200},
		{"/ready", "", 200},
		{"/metrics", "", 401},
		{"/cache", "", 401},
		{"/cache", "Bearer not-the-token-0123456789", 401},
		{"/metrics", "Bearer " + token, 200},
		{"/cache", "Bearer " + token, 200}, // the embedded store's image data cache (its prefetches)
	} {
		req, _ := http.NewRequest("GET", base+c.path, nil)
		if c.auth != "" {
			req.Header.Set("Authorization", c.auth)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != c.want {
			t.Errorf("GET %s with Authorization %q: %d %s, want %d", c.path, c.auth, resp.StatusCode, body, c.want)
		}
	}
	if strings.Contains(p.log(), token) {
		t.Error("the token is in the log")
	}
}
