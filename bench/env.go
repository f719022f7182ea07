package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	neturl "net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/spyglass-gateway/spyglass/backends/glance/glancetest"
	"github.com/spyglass-gateway/spyglass/internal/testproc"
)

// identity is the trusted-header caller every request uses: member and
// reader, as a project member is under the secure-RBAC defaults Spyglass
// runs (with member alone it may create an image but not show it: the
// show scenario's 404 since the defaults changed); Glance 25's legacy
// rules take either.
var identity = map[string]string{
	"X-Identity-Status": "Confirmed",
	"X-Project-Id":      "p1",
	"X-User-Id":         "u1",
	"X-Roles":           "member,reader",
}

// Env is the set of running peers.
type Env struct {
	Dir      string
	Glance   *glancetest.Glance
	NginxURL string
	// VarnishURL is Varnish's in front of the same Glance, "" when
	// varnishd is not installed (make deps-bench installs it).
	VarnishURL string
	SpyURL     string
	// ShowID holds, per target, an image id to show.
	ShowID map[string]string
	Load   WrkOptions

	procs []*exec.Cmd
}

// StartEnv starts Glance, nginx in front of it and Spyglass, and seeds each
// origin with the same images.
func StartEnv(ctx context.Context, images int) (*Env, error) {
	for _, bin := range []string{"wrk", "nginx"} {
		if _, err := exec.LookPath(bin); err != nil {
			return nil, fmt.Errorf("%s not found: run `make deps-bench` (installs wrk and nginx-light)", bin)
		}
	}
	dir, err := os.MkdirTemp("", "spyglass-bench-")
	if err != nil {
		return nil, err
	}
	env := &Env{Dir: dir, ShowID: map[string]string{}}
	fail := func(err error) (*Env, error) { env.Close(); return nil, err }

	env.Glance, err = glancetest.Start(ctx, filepath.Join(dir, "glance"))
	if err != nil {
		return fail(fmt.Errorf("glance: %w", err))
	}
	if env.NginxURL, err = env.startNginx(env.Glance.URL); err != nil {
		return fail(fmt.Errorf("nginx: %w", err))
	}
	if env.VarnishURL, err = env.startVarnish(env.Glance.URL); err != nil {
		return fail(fmt.Errorf("varnish: %w", err))
	}
	if env.SpyURL, err = env.startSpyglass(ctx); err != nil {
		return fail(fmt.Errorf("spyglass: %w", err))
	}
	for _, t := range []peer{{"glance", env.Glance.URL}, {"spyglass", env.SpyURL}} {
		id, err := seed(t.url, images)
		if err != nil {
			return fail(fmt.Errorf("seeding %s: %w", t.name, err))
		}
		env.ShowID[t.name] = id
	}
	env.ShowID["nginx"] = env.ShowID["glance"]
	env.ShowID["varnish"] = env.ShowID["glance"]
	return env, nil
}

// Describe names the running peers.
func (e *Env) Describe() string {
	return fmt.Sprintf("glance %s, nginx %s, varnish %s, spyglass %s (dir %s)", e.Glance.URL, e.NginxURL, e.VarnishURL, e.SpyURL, e.Dir)
}

// Close stops every peer and removes the work directory.
func (e *Env) Close() {
	for _, p := range e.procs {
		if p.Process != nil {
			_ = syscall.Kill(-p.Process.Pid, syscall.SIGTERM)
			done := make(chan struct{})
			go func() { p.Wait(); close(done) }()
			select {
			case <-done:
			case <-time.After(5 * time.Second):
				_ = syscall.Kill(-p.Process.Pid, syscall.SIGKILL)
			}
		}
	}
	if e.Glance != nil {
		e.Glance.Stop()
	}
	os.RemoveAll(e.Dir)
}

// peer is a server the bench measures or seeds: its name (the targets'
// prefix) and base URL ("" when it is not installed).
type peer struct{ name, url string }

func freePort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}

func (e *Env) start(name string, cmd *exec.Cmd) error {
	logf, err := os.Create(filepath.Join(e.Dir, name+".log"))
	if err != nil {
		return err
	}
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		return err
	}
	e.procs = append(e.procs, cmd)
	return nil
}

// nginxConf caches show and list responses from Glance, keyed by URI and
// identity, ignoring Glance's (absent) caching headers.
const nginxConf = `%s
worker_processes 2;
pid %[2]s/nginx.pid;
error_log %[2]s/nginx-error.log warn;
daemon off;
events { worker_connections 1024; }
http {
  access_log off;
  client_body_temp_path %[2]s/body;
  proxy_temp_path %[2]s/proxy;
  fastcgi_temp_path %[2]s/fastcgi;
  uwsgi_temp_path %[2]s/uwsgi;
  scgi_temp_path %[2]s/scgi;
  proxy_cache_path %[2]s/cache levels=1:2 keys_zone=glance:16m max_size=1g inactive=60m;
  upstream glance { server %[3]s; keepalive 32; }
  server {
    listen 127.0.0.1:%[4]d;
    location / {
      proxy_pass http://glance;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_cache glance;
      proxy_cache_key "$request_method$request_uri$http_x_project_id$http_x_roles";
      proxy_cache_valid 200 10m;
      proxy_ignore_headers Cache-Control Expires Set-Cookie Vary;
      proxy_cache_lock on;
      add_header X-Cache-Status $upstream_cache_status;
    }
  }
}
`

func (e *Env) startNginx(origin string) (string, error) {
	port, err := freePort()
	if err != nil {
		return "", err
	}
	user := ""
	if os.Geteuid() == 0 {
		user = "user root;"
	}
	conf := fmt.Sprintf(nginxConf, user, e.Dir, strings.TrimPrefix(origin, "http://"), port)
	path := filepath.Join(e.Dir, "nginx.conf")
	if err := os.WriteFile(path, []byte(conf), 0o644); err != nil {
		return "", err
	}
	cmd := exec.Command("nginx", "-p", e.Dir, "-c", path)
	if err := e.start("nginx", cmd); err != nil {
		return "", err
	}
	url := fmt.Sprintf("http://127.0.0.1:%d", port)
	return url, waitHTTP(cmd, url+"/versions", 20*time.Second)
}

// varnishVCL caches show and list responses from Glance as nginxConf does:
// keyed by URI and identity (project and roles), Glance's headers ignored.
const varnishVCL = `vcl 4.1;
backend glance { .host = "%s"; .port = "%s"; }
sub vcl_recv {
  if (req.method != "GET" && req.method != "HEAD") { return (pass); }
  return (hash);
}
sub vcl_hash { hash_data(req.url); hash_data(req.http.X-Project-Id); hash_data(req.http.X-Roles); return (lookup); }
sub vcl_backend_response {
  unset beresp.http.Set-Cookie;
  unset beresp.http.Vary;
  set beresp.ttl = 10m;
  return (deliver);
}
sub vcl_deliver { if (obj.hits > 0) { set resp.http.X-Cache-Status = "HIT"; } else { set resp.http.X-Cache-Status = "MISS"; } }
`

// startVarnish starts Varnish (malloc storage) in front of origin; "" and
// no error when varnishd is not installed.
func (e *Env) startVarnish(origin string) (string, error) {
	host, port, _ := net.SplitHostPort(strings.TrimPrefix(origin, "http://"))
	url, _, err := e.runVarnish("show", fmt.Sprintf(varnishVCL, host, port), "malloc,256M")
	return url, err
}

// runVarnish starts Debian's varnishd with vcl (written to name.vcl), the
// storage given and params (-p), its workdir in e.Dir, on a free loopback
// port, and returns its URL and command; "", nil and no error when
// varnishd is not installed (make deps-bench installs it).
func (e *Env) runVarnish(name, vcl, storage string, params ...string) (string, *exec.Cmd, error) {
	bin, err := exec.LookPath("varnishd")
	if err != nil {
		if bin, err = exec.LookPath("/usr/sbin/varnishd"); err != nil {
			fmt.Fprintf(os.Stderr, "bench: varnishd not found (make deps-bench installs varnish): %s runs without it\n", name)
			return "", nil, nil
		}
	}
	path := filepath.Join(e.Dir, name+".vcl")
	if err := os.WriteFile(path, []byte(vcl), 0o644); err != nil {
		return "", nil, err
	}
	vport, err := freePort()
	if err != nil {
		return "", nil, err
	}
	args := []string{"-F", "-n", filepath.Join(e.Dir, "varnish-"+name), "-a", fmt.Sprintf("127.0.0.1:%d", vport),
		"-T", "127.0.0.1:0", "-f", path, "-s", storage}
	for _, p := range params {
		args = append(args, "-p", p)
	}
	if os.Geteuid() == 0 {
		args = append(args, "-j", "none") // no varnish user needed, no root-only paths
	}
	cmd := exec.Command(bin, args...)
	if err := e.start("varnish-"+name, cmd); err != nil {
		return "", nil, err
	}
	url := fmt.Sprintf("http://127.0.0.1:%d", vport)
	return url, cmd, waitHTTP(cmd, url+"/versions", 30*time.Second)
}

// buildSpyglass builds this checkout's binary into dir and picks a free
// loopback address for it to listen on.
func buildSpyglass(ctx context.Context, dir string) (bin, addr string, err error) {
	bin = filepath.Join(dir, "spyglass")
	build := exec.CommandContext(ctx, "go", "build", "-o", bin, "./cmd/spyglass")
	build.Dir = moduleRoot()
	if out, err := build.CombinedOutput(); err != nil {
		return "", "", fmt.Errorf("go build: %v\n%s", err, out)
	}
	port, err := freePort()
	if err != nil {
		return "", "", err
	}
	return bin, fmt.Sprintf("127.0.0.1:%d", port), nil
}

func (e *Env) startSpyglass(ctx context.Context) (string, error) {
	bin, addr, err := buildSpyglass(ctx, e.Dir)
	if err != nil {
		return "", err
	}
	cmd := exec.Command(bin, "serve", "--listen", addr, "--admin-listen", "127.0.0.1:0", "--data-dir", filepath.Join(e.Dir, "spyglass-data"), "--auth", "trusted")
	if err := e.start("spyglass", cmd); err != nil {
		return "", err
	}
	return "http://" + addr, waitHTTP(cmd, "http://"+addr+"/versions", 20*time.Second)
}

func moduleRoot() string {
	out, err := exec.Command("go", "env", "GOMOD").Output()
	if err != nil {
		return "."
	}
	return filepath.Dir(strings.TrimSpace(string(out)))
}

// waitHTTP waits until cmd listens on url's port and answers GET url.
func waitHTTP(cmd *exec.Cmd, url string, d time.Duration) error {
	u, err := neturl.Parse(url)
	if err != nil {
		return err
	}
	return waitUp(cmd, u.Host, d, func() bool {
		resp, err := http.Get(url)
		if err != nil {
			return false
		}
		resp.Body.Close()
		return true
	})
}

// waitTCP waits until cmd listens on addr and accepts a connection.
func waitTCP(cmd *exec.Cmd, addr string, d time.Duration) error {
	return waitUp(cmd, addr, d, func() bool {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			return false
		}
		c.Close()
		return true
	})
}

// waitUp waits until cmd (started by Env.start, a process group of its
// own) listens on addr, then until probe succeeds. The port was free when
// freePort picked it; a process that took it meanwhile is an error, not a
// peer to measure (testproc.Bound).
func waitUp(cmd *exec.Cmd, addr string, d time.Duration, probe func() bool) error {
	_, p, err := net.SplitHostPort(addr)
	if err != nil {
		return err
	}
	port, err := strconv.Atoi(p)
	if err != nil {
		return err
	}
	deadline := time.Now().Add(d)
	for time.Now().Before(deadline) {
		bound, err := testproc.Bound(cmd, port)
		if err != nil {
			return fmt.Errorf("%s: %w", cmd.Path, err)
		}
		if bound && probe() {
			return nil
		}
		time.Sleep(50 * time.Millisecond)
	}
	return fmt.Errorf("%s did not answer on %s within %s", cmd.Path, addr, d)
}

func call(method, url string, body any) (*http.Response, []byte, error) {
	var r io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		r = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, url, r)
	if err != nil {
		return nil, nil, err
	}
	for k, v := range identity {
		req.Header.Set(k, v)
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp, b, err
}

// seed creates n images and returns the id of one of them.
func seed(base string, n int) (string, error) {
	var id string
	for i := 0; i < n; i++ {
		resp, b, err := call("POST", base+"/v2/images", map[string]any{
			"name": fmt.Sprintf("bench-%04d", i), "disk_format": "qcow2", "container_format": "bare",
			"hw_disk_bus": "virtio", "tags": []string{"bench"},
		})
		if err != nil {
			return "", err
		}
		if resp.StatusCode != 201 {
			return "", fmt.Errorf("create: %d %s", resp.StatusCode, b)
		}
		var img struct{ ID string }
		if err := json.Unmarshal(b, &img); err != nil {
			return "", err
		}
		if i == n/2 || id == "" {
			id = img.ID
		}
	}
	if id == "" {
		return "", errors.New("no image created")
	}
	return id, nil
}
