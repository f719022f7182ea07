package main

import (
	"bytes"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/spyglass-gateway/spyglass/admin"
	"github.com/spyglass-gateway/spyglass/backends/glance/glancetest"
)

// runCLI runs the binary and returns its exit code, stdout and stderr.
func runCLI(t *testing.T, bin string, args ...string) (int, string, string) {
	t.Helper()
	cmd := exec.Command(bin, args...)
	cmd.Env = append(os.Environ(), "SPYGLASS_ADMIN_LISTEN=", "SPYGLASS_ADMIN_TOKEN=")
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	var exit *exec.ExitError
	if err != nil && !errors.As(err, &exit) {
		t.Fatalf("%s: %v", strings.Join(args, " "), err)
	}
	return cmd.ProcessState.ExitCode(), stdout.String(), stderr.String()
}

// TestCacheCommands: "spyglass cache prefetch|ls|evict" against a running
// instance in front of a real Glance, its admin listener behind a token
// the commands read from the instance's configuration: a prefetched image
// is listed complete and then served without the origin sending its bytes
// again; evicted, it is gone; a prefetch into a cache whose disk takes
// nothing is refused at once (500, as Glance, on both the admin listener
// and /v2/cache); mistakes get one clear line and exit 1 (2 for usage).
func TestCacheCommands(t *testing.T) {
	bin := buildBinary(t)
	g := glancetest.SharedT(t)
	th := startThrottle(t, strings.TrimPrefix(g.URL, "http://"), 256<<20) // counts the origin's bytes
	tokenFile := filepath.Join(t.TempDir(), "admin.token")
	if err := os.WriteFile(tokenFile, []byte("cli-admin-token-0123456789\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cfgPath := glanceRegionConfig(t, "noauth", th.url(), fmt.Sprintf("admin: {token_file: %q}\n", tokenFile))
	p := startWithConfig(t, bin, cfgPath)
	base := "http://" + p.addr

	const size = 1 << 20
	data := make([]byte, size)
	rand.Read(data)
	code, img := do(t, "POST", base+"/v2/images", `{"name": "prefetched", "disk_format": "raw", "container_format": "bare"}`)
	if code != 201 {
		t.Fatalf("create: %d %v", code, img)
	}
	id := img["id"].(string)
	req, _ := http.NewRequest("PUT", base+"/v2/images/"+id+"/file", bytes.NewReader(data))
	req.Header.Set("Content-Type", "application/octet-stream")
	if resp, err := http.DefaultClient.Do(req); err != nil || resp.StatusCode != 204 {
		t.Fatalf("upload: %v %v", err, resp)
	}
	cli := func(wantCode int, args ...string) (string, string) {
		t.Helper()
		code, out, errOut := runCLI(t, bin, append([]string{"cache"}, append(args, "--admin", p.admin, "--config", cfgPath)...)...)
		if code != wantCode {
			t.Fatalf("spyglass cache %s: exit %d, want %d\nstdout: %s\nstderr: %s\nspyglass log:\n%s",
				strings.Join(args, " "), code, wantCode, out, errOut, p.log())
		}
		return out, errOut
	}
	state := func() string {
		t.Helper()
		out, _ := cli(0, "ls", "--json")
		var l admin.CacheListing
		if err := json.Unmarshal([]byte(out), &l); err != nil {
			t.Fatalf("ls --json: %v\n%s", err, out)
		}
		for _, e := range l.Images {
			if e.ImageID == id {
				if e.Region != "origin" || (e.State == "complete" && (e.Size != size || e.Bytes != size)) {
					t.Fatalf("ls --json entry %+v", e)
				}
				return e.State
			}
		}
		return ""
	}

	if out, _ := cli(0, "ls"); !strings.Contains(out, "no cached images") {
		t.Fatalf("ls before anything was cached:\n%s", out)
	}
	if out, _ := cli(0, "prefetch", id); !strings.Contains(out, "queued") {
		t.Fatalf("prefetch: %s", out)
	}
	deadline := time.Now().Add(30 * time.Second)
	for state() != "complete" {
		if time.Now().After(deadline) {
			out, _ := cli(0, "ls")
			t.Fatalf("prefetched image not complete within 30s:\n%s\n%s", out, p.log())
		}
		time.Sleep(50 * time.Millisecond)
	}
	out, _ := cli(0, "ls")
	if !strings.Contains(out, id) || !strings.Contains(out, "complete") || !strings.Contains(out, "REGION") {
		t.Fatalf("ls table does not show the image complete:\n%s", out)
	}

	// Served from the cache: the origin does not send the image again.
	before := th.fromOrig.Load()
	resp, err := http.Get(base + "/v2/images/" + id + "/file")
	if err != nil {
		t.Fatal(err)
	}
	got, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if !bytes.Equal(got, data) {
		t.Fatalf("download after prefetch: %d bytes, not the image's", len(got))
	}
	if d := th.fromOrig.Load() - before; d > 64<<10 {
		t.Fatalf("download after prefetch: the origin sent %d bytes", d)
	}

	if out, _ := cli(0, "evict", id); !strings.Contains(out, "evicted") {
		t.Fatalf("evict: %s", out)
	}
	if s := state(); s != "" {
		t.Fatalf("after evict the image is listed %q", s)
	}
	if _, errOut := cli(1, "evict", id); !strings.Contains(errOut, "is not cached") || !strings.Contains(errOut, "404") {
		t.Errorf("evict of an image not cached: %s", errOut)
	}
	// Without the instance's configuration (or SPYGLASS_ADMIN_TOKEN) the
	// commands have no token: 401, and a line saying where it comes from.
	code, _, errOut := runCLI(t, bin, "cache", "ls", "--admin", p.admin)
	if code != 1 || !strings.Contains(errOut, "The admin token is missing") || !strings.Contains(errOut, "(401 Unauthorized)") || !strings.Contains(errOut, "admin.token_file in --config FILE") {
		t.Errorf("ls without the token: exit %d: %s", code, errOut)
	}

	// The cache's disk takes nothing (a file where its directory was): a
	// prefetch is refused at once, never 202 and nothing.
	cacheDir := filepath.Join(filepath.Dir(cfgPath), "cache")
	if err := os.Rename(cacheDir, cacheDir+".away"); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(cacheDir, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if _, errOut := cli(1, "prefetch", id); !strings.Contains(errOut, "the image data cache cannot take image "+id+": cache.dir "+cacheDir) || !strings.Contains(errOut, "(500 Internal Server Error)") {
		t.Errorf("prefetch into an unusable cache: %s", errOut)
	}
	// Glance 25 with its image_cache_dir unwritable answers PUT
	// /v2/cache/{id} 500 with webob's generic words (asked by hand: its
	// queue file cannot be created), and so does /v2/cache here.
	req, _ = http.NewRequest("PUT", base+"/v2/cache/"+id, nil)
	req.Header.Set("Accept", "application/json")
	resp, err = http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if want := `{"message": "The server has either erred or is incapable of performing the requested operation.<br /><br />\n\n\n", "code": "500 Internal Server Error", "title": "Internal Server Error"}`; resp.StatusCode != 500 || string(body) != want {
		t.Errorf("PUT /v2/cache/{id} into an unusable cache: %d %s, want 500 %s", resp.StatusCode, body, want)
	}
	if s := state(); s != "" {
		t.Errorf("a refused prefetch is listed %q", s)
	}
	os.Remove(cacheDir)
	if err := os.Rename(cacheDir+".away", cacheDir); err != nil {
		t.Fatal(err)
	}
	// SIGHUP with a smaller cache.max_size evicts at once (the image, 1 MiB,
	// is over the new low watermark).
	cli(0, "prefetch", id)
	for deadline := time.Now().Add(30 * time.Second); state() != "complete"; time.Sleep(50 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("prefetched image not complete within 30s:\n%s", p.log())
		}
	}
	cfg, _ := os.ReadFile(cfgPath)
	os.WriteFile(cfgPath, bytes.Replace(cfg, []byte("max_size: 1GiB"), []byte("max_size: 1MiB"), 1), 0o600)
	if err := p.cmd.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(30 * time.Second); state() != ""; time.Sleep(50 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("cache.max_size 1MiB reloaded, the 1 MiB image still cached:\n%s", p.log())
		}
	}
	for deadline := time.Now().Add(20 * time.Second); !strings.Contains(p.log(), "cache_max_size=\"1MiB (0.8-0.9)\""); time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("no reload log line giving the new bound:\n%s", p.log())
		}
	}

	const unknown = "9d2cbb1e-0a6b-4fd5-8f3c-000000000000"
	if _, errOut := cli(1, "prefetch", unknown); !strings.Contains(errOut, "Image "+unknown+" not found.") {
		t.Errorf("prefetch of an unknown image: %s", errOut)
	}
	if _, errOut := cli(1, "prefetch", id, "--region", "elsewhere"); !strings.Contains(errOut, "Region elsewhere has no cached image data") {
		t.Errorf("prefetch from an unknown region: %s", errOut)
	}
	if _, errOut := cli(2, "prefetch"); !strings.Contains(errOut, "IMAGE_ID is required") {
		t.Errorf("prefetch without an id: %s", errOut)
	}

	// Nobody at the address: say which, and how to point elsewhere.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed := ln.Addr().String()
	ln.Close()
	code, _, errOut = runCLI(t, bin, "cache", "ls", "--admin", closed)
	if code != 1 || !strings.Contains(errOut, "no Spyglass admin listener at "+closed) || !strings.Contains(errOut, "--admin ADDR") {
		t.Errorf("ls against a closed port: exit %d: %s", code, errOut)
	}
	// The Images API port is not the admin listener.
	code, _, errOut = runCLI(t, bin, "cache", "ls", "--admin", p.addr)
	if code != 1 || !strings.Contains(errOut, "admin listener") {
		t.Errorf("ls against the Images API port: exit %d: %s", code, errOut)
	}

	// An instance with cache.max_size 0 has no image data cache.
	noCache := filepath.Join(t.TempDir(), "spyglass.yaml")
	if err := os.WriteFile(noCache, []byte("listen: 127.0.0.1:0\nregions: [{name: local, kind: local, data_dir: \""+t.TempDir()+"\"}]\ncache: {max_size: 0}\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	local := startWithConfig(t, bin, noCache)
	code, _, errOut = runCLI(t, bin, "cache", "ls", "--admin", local.admin)
	if code != 1 || !strings.Contains(errOut, "caches no image data") {
		t.Errorf("ls against an instance without a cache: exit %d: %s", code, errOut)
	}
}

// TestCacheCommandSendsToken: --token, else $OS_TOKEN, else
// $OS_AUTH_TOKEN, goes to the admin listener as X-Auth-Token (which the
// instance forwards to regions that accept only Keystone tokens). The
// listener here is a loopback server that records the header.
func TestCacheCommandSendsToken(t *testing.T) {
	got := make(chan string, 1)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != "PUT" || r.URL.Path != "/cache/east/img-1" {
			http.Error(w, "unexpected "+r.Method+" "+r.URL.Path, 400)
			return
		}
		got <- r.Header.Get("X-Auth-Token")
		w.WriteHeader(202)
	})}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	args := []string{"prefetch", "img-1", "--admin", ln.Addr().String(), "--region", "east"}

	for _, c := range []struct {
		name, flag, osToken, osAuthToken, want string
	}{
		{"flag", "from-flag", "from-os-token", "", "from-flag"},
		{"OS_TOKEN", "", "from-os-token", "from-os-auth-token", "from-os-token"},
		{"OS_AUTH_TOKEN", "", "", "from-os-auth-token", "from-os-auth-token"},
		{"none", "", "", "", ""},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Setenv("OS_TOKEN", c.osToken)
			t.Setenv("OS_AUTH_TOKEN", c.osAuthToken)
			a := args
			if c.flag != "" {
				a = append(a[:len(a):len(a)], "--token", c.flag)
			}
			var stdout, stderr bytes.Buffer
			if code := cacheCommand(a, &stdout, &stderr); code != 0 {
				t.Fatalf("exit %d: %s%s", code, stdout.String(), stderr.String())
			}
			if tok := <-got; tok != c.want {
				t.Errorf("X-Auth-Token %q, want %q", tok, c.want)
			}
		})
	}
}

// TestCacheCommandSendsAdminToken: the admin listener's token goes as
// Authorization: Bearer, read as serve reads it: SPYGLASS_ADMIN_TOKEN,
// else admin.token_file of --config; none, no header; a token file that
// cannot be read is a usage error naming the key.
func TestCacheCommandSendsAdminToken(t *testing.T) {
	got := make(chan string, 1)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got <- r.Header.Get("Authorization")
		w.WriteHeader(202)
	})}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	dir := t.TempDir()
	config := func(tokenFile string) string {
		path := filepath.Join(dir, "spyglass.yaml")
		if err := os.WriteFile(path, []byte(fmt.Sprintf("admin: {token_file: %q}\n", tokenFile)), 0o600); err != nil {
			t.Fatal(err)
		}
		return path
	}
	tokenFile := filepath.Join(dir, "admin.token")
	os.WriteFile(tokenFile, []byte("from-the-file-0123456789\n"), 0o600)
	args := []string{"prefetch", "img-1", "--admin", ln.Addr().String(), "--region", "east"}

	for _, c := range []struct {
		name, env, cfg, want string
	}{
		{"token file", "", config(tokenFile), "Bearer from-the-file-0123456789"},
		{"environment over the file", "from-the-environment-0123", config(tokenFile), "Bearer from-the-environment-0123"},
		{"environment alone", "from-the-environment-0123", "", "Bearer from-the-environment-0123"},
		{"none", "", "", ""},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Setenv("SPYGLASS_ADMIN_TOKEN", c.env)
			a := args
			if c.cfg != "" {
				a = append(a[:len(a):len(a)], "--config", c.cfg)
			}
			var stdout, stderr bytes.Buffer
			if code := cacheCommand(a, &stdout, &stderr); code != 0 {
				t.Fatalf("exit %d: %s%s", code, stdout.String(), stderr.String())
			}
			if h := <-got; h != c.want {
				t.Errorf("Authorization %q, want %q", h, c.want)
			}
		})
	}
	t.Setenv("SPYGLASS_ADMIN_TOKEN", "")
	var stdout, stderr bytes.Buffer
	code := cacheCommand(append(args, "--config", config(filepath.Join(dir, "missing"))), &stdout, &stderr)
	if code != 2 || !strings.Contains(stderr.String(), "admin.token_file:") || !strings.Contains(stderr.String(), "no such file") {
		t.Errorf("unreadable token file: exit %d: %s", code, stderr.String())
	}
}
