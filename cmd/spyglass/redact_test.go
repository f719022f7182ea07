package main

import (
	"context"
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

	"github.com/redis/go-redis/v9"
	commonpb "go.opentelemetry.io/proto/otlp/common/v1"

	"github.com/spyglass-gateway/spyglass/backends/glance/glancetest"
	"github.com/spyglass-gateway/spyglass/cache/redistest"
	"github.com/spyglass-gateway/spyglass/policy/keystonetest"
)

// The canaries: credentials of every kind this test hands the process, each
// of which must be in no log line and no span.
const (
	canaryServicePassword = "svc-pw-CANARY-5b1d"         // auth.keystone.password
	canaryRedisPassword   = "redis-pw-CANARY-77a0"       // redis.password
	canaryToken           = "gAAAAABtoken-CANARY-c0ffee" // a token Keystone rejects
	canaryURLPassword     = "url-pw-CANARY-9e21"         // userinfo in URLs
	canarySignature       = "sig-CANARY-d4e5f6"          // signed URLs' query strings
)

// TestNoCredentialInLogsOrSpans runs the binary at log level debug (the
// access log on) with traces exported to a real OTLP receiver, over an
// embedded region and a real Glance region, with the Redis tier behind a
// password, and walks the error paths where a credential could reach a log
// line or a span: rejected and valid Keystone tokens, a token before a
// malformed header, request lines with userinfo and signatures, signed
// web-download URLs, a location with a password, Keystone down, a SIGHUP
// with a bad file. Then every line of stderr and every text of every span
// exported must hold none of the canaries nor the real tokens. In keystone
// mode (a real Keystone, the service user's password a canary) and in
// trusted mode (where the Glance region, which believes trusted headers,
// serves data).
func TestNoCredentialInLogsOrSpans(t *testing.T) {
	bin := buildBinary(t)
	g := glancetest.SharedT(t)
	regionImage := putImageToGlance(t, g, "redact", []byte(strings.Repeat("0123456789", 100)))
	rdb := redistest.StartT(t)
	rc := redis.NewClient(&redis.Options{Addr: rdb.Addr})
	if err := rc.ConfigSet(context.Background(), "requirepass", canaryRedisPassword).Err(); err != nil {
		t.Fatal(err)
	}
	rc.Close()

	t.Run("keystone", func(t *testing.T) {
		ks := keystonetest.StartT(t)
		ctx := context.Background()
		fx := ks.FixtureT(t)
		svcProject, err := ks.CreateProject(ctx, "service")
		if err != nil {
			t.Fatal(err)
		}
		svc, err := ks.CreateUser(ctx, "spyglass", canaryServicePassword)
		if err != nil {
			t.Fatal(err)
		}
		if err := ks.Grant(ctx, svc.ID, svcProject, "admin"); err != nil {
			t.Fatal(err)
		}
		token := ks.ProjectTokenT(t, fx.MemberA, fx.ProjectA)
		late := ks.ProjectTokenT(t, fx.MemberB, fx.ProjectB) // first shown while Keystone is down
		r := startRedactRun(t, bin, fmt.Sprintf("auth:\n  mode: keystone\n  keystone: {auth_url: %q, username: spyglass, password: %q, project_name: service, timeout: 30s}\n",
			ks.AuthURL(), canaryServicePassword), g.URL, rdb.Addr)
		r.secrets = append(r.secrets, token, late)
		auth := []string{"X-Auth-Token", token}

		r.expect(401, "GET", "/v2/images", "", "X-Auth-Token", canaryToken)
		r.expect(401, "GET", "/v2/images", "", "X-Storage-Token", canaryToken)
		r.expect(401, "GET", "/v2/images/"+regionImage+"/file", "", "X-Auth-Token", canaryToken, "Range", "bytes=0-9")
		r.errorPaths(auth, regionImage)

		// Keystone down: a token never seen cannot be validated (503),
		// and the failure is logged.
		ks.Stop()
		r.expect(503, "GET", "/v2/images", "", "X-Auth-Token", late)
		r.hupBadConfig()
		r.stop()
	})

	t.Run("trusted", func(t *testing.T) {
		r := startRedactRun(t, bin, "auth: {mode: trusted}\n", g.URL, rdb.Addr)
		r.regionServes = true
		who := []string{"X-Identity-Status", "Confirmed", "X-Project-Id", "ops", "X-User-Id", "u-ops", "X-Roles", "admin,member,reader",
			"X-Auth-Token", canaryToken}
		r.errorPaths(who, regionImage)
		r.hupBadConfig()
		r.stop()
	})
}

// redactRun is one spyglass process under the canary test.
type redactRun struct {
	t       *testing.T
	p       *process
	base    string
	otlp    *otlpReceiver
	cfgPath string
	cfg     string   // the configuration file's text
	secrets []string // besides the canaries
	// regionServes: the Glance region answers this run's callers (trusted
	// mode); in keystone mode it refuses their tokens.
	regionServes bool
}

func startRedactRun(t *testing.T, bin, authYAML, glanceURL, redisAddr string) *redactRun {
	dir := t.TempDir()
	otlp := startOTLPReceiver(t)
	cfg := fmt.Sprintf(`listen: 127.0.0.1:0
%sregions:
  - {name: local, kind: local, data_dir: %q}
  - {name: origin, kind: glance, endpoint: %q}
default_region: local
cache: {dir: %q, max_size: 1GiB}
redis: {addr: %q, password: %q}
telemetry: {traces_endpoint: %q}
log: {level: debug, format: text}
`, authYAML, filepath.Join(dir, "data"), glanceURL, filepath.Join(dir, "cache"), redisAddr, canaryRedisPassword, otlp.url)
	cfgPath := filepath.Join(dir, "spyglass.yaml")
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	r := &redactRun{t: t, otlp: otlp, cfgPath: cfgPath, cfg: cfg}
	r.p = startWithConfig(t, bin, cfgPath)
	r.base = "http://" + r.p.addr
	t.Cleanup(r.check)
	return r
}

// do sends a request with hdr (name, value pairs) and returns its status
// and body.
func (r *redactRun) do(method, path, body string, hdr ...string) (int, string) {
	r.t.Helper()
	req, err := http.NewRequest(method, r.base+path, strings.NewReader(body))
	if err != nil {
		r.t.Fatal(err)
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	if body != "" && req.Header.Get("Content-Type") == "" {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		r.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func (r *redactRun) expect(status int, method, path, body string, hdr ...string) string {
	r.t.Helper()
	got, b := r.do(method, path, body, hdr...)
	if got != status {
		r.t.Errorf("%s %s: %d, want %d: %s", method, path, got, status, b)
	}
	return b
}

// raw writes a request as bytes and returns the answer's status line.
func (r *redactRun) raw(req string) string {
	r.t.Helper()
	c, err := net.Dial("tcp", r.p.addr)
	if err != nil {
		r.t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(30 * time.Second))
	io.WriteString(c, req)
	c.(*net.TCPConn).CloseWrite()
	answer, _ := io.ReadAll(c)
	line, _, _ := strings.Cut(string(answer), "\r\n")
	return line
}

// errorPaths are the requests both modes send, as the caller auth.
func (r *redactRun) errorPaths(auth []string, regionImage string) {
	t := r.t
	h := func(more ...string) []string { return append(append([]string{}, auth...), more...) }
	signed := "?temp_url_sig=" + canarySignature + "&X-Amz-Signature=" + canarySignature + "&sig=" + canarySignature
	userinfo := "http://spy:" + canaryURLPassword + "@127.0.0.1:1/image.qcow2" + signed

	// Through the Glance region, which believes only trusted headers: in
	// keystone mode it refuses the token it is handed (401), and that is
	// an error path too.
	region := func(status int, method, path string, hdr ...string) {
		t.Helper()
		if r.regionServes {
			r.expect(status, method, path, "", hdr...)
		} else {
			r.do(method, path, "", hdr...)
		}
	}
	region(200, "GET", "/v2/images", h()...)
	region(200, "GET", "/v2/images"+signed, h()...)
	region(404, "GET", "/v2/images/00000000-0000-4000-8000-00000000dead"+signed, h()...)
	// The region's image: metadata, data, a range, one past its end.
	region(200, "GET", "/v2/images/"+regionImage+signed, h()...)
	region(200, "GET", "/v2/images/"+regionImage+"/file"+signed, h()...)
	region(206, "GET", "/v2/images/"+regionImage+"/file", h("Range", "bytes=10-19")...)
	region(416, "GET", "/v2/images/"+regionImage+"/file", h("Range", "bytes=5000-")...)
	// Members and tags the region may choke on.
	r.do("POST", "/v2/images/"+regionImage+"/members", `{"member": "%ff"}`, h()...)
	r.do("PUT", "/v2/images/"+regionImage+"/tags/%ff", "", h()...)

	// An image of the embedded region: web-download from a URL with a
	// password and a signature, then a location with them.
	body := r.expect(201, "POST", "/v2/images", `{"name": "redact", "disk_format": "raw", "container_format": "bare"}`, h()...)
	id := jsonField(t, body, "id")
	r.do("POST", "/v2/images/"+id+"/import", `{"method": {"name": "web-download", "uri": "`+userinfo+`"}}`, h()...)
	r.do("PATCH", "/v2/images/"+id, `[{"op": "add", "path": "/locations/-", "value": {"url": "`+userinfo+`", "metadata": {}}}]`,
		h("Content-Type", "application/openstack-images-v2.1-json-patch")...)
	r.do("POST", "/v2/tasks", `{"type": "import", "input": {"import_from": "`+userinfo+`", "import_from_format": "raw", "image_properties": {"name": "t"}}}`, h()...)
	// The import and the task fail in the background: wait for them.
	deadline := time.Now().Add(20 * time.Second)
	for {
		_, b := r.do("GET", "/v2/images/"+id+"/tasks", "", h()...)
		if !strings.Contains(b, `"pending"`) && !strings.Contains(b, `"processing"`) || time.Now().After(deadline) {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	r.do("PUT", "/v2/images/"+id+"/file", "short", h("Content-Type", "application/octet-stream", "Content-Length", "5")...)
	r.expect(416, "GET", "/v2/images/"+id+"/file", "", h("Range", "bytes=9-")...)
	// A request id Glance refuses, with a token.
	r.expect(431, "GET", "/v2/images", "", h("X-Openstack-Request-Id", "req-"+strings.Repeat("x", 70))...)

	// Raw requests a client library would not send.
	var hdr strings.Builder
	for i := 0; i+1 < len(auth); i += 2 {
		hdr.WriteString(auth[i] + ": " + auth[i+1] + "\r\n")
	}
	tok := auth[len(auth)-1]
	for _, req := range []string{
		"GET /v2/images HTTP/1.1\r\nHost: x\r\n" + hdr.String() + "Bad Header\r\n\r\n",
		"GET /v2/images HTTP/1.1\r\nHost: x\r\nX-Auth-Token: " + tok + "\x01\r\n\r\n",
		"GET /v2/images HTTP/1.1\r\nHost: x\r\nX-Auth-Token : " + tok + "\r\n\r\n",
		"GET /v2/images" + signed + " HTTP/1.1 x\r\nHost: x\r\n\r\n",
		"GET " + userinfo + " HTTP/1.1\r\nHost: x\r\n" + hdr.String() + "\r\n",
		"PUT /v2/images/" + id + "/file HTTP/1.1\r\nHost: x\r\n" + hdr.String() + "Content-Type: application/octet-stream\r\nTransfer-Encoding: chunked\r\n\r\n5;" + tok + "\x01\r\nhello\r\n",
		"GET /v2/images HTTP/1.1\r\nHost: x\r\n" + hdr.String() + "X-Pad: " + strings.Repeat("p", 20<<10) + "\r\n\r\n",
	} {
		if line := r.raw(req); line == "" {
			t.Logf("no answer to %.60q", req)
		}
	}
}

// hupBadConfig reloads a configuration file whose region endpoint and
// Redis address hold a password: the reload is refused, and its problems
// logged; the same file is refused at start-up and by config check.
func (r *redactRun) hupBadConfig() {
	t := r.t
	bad := strings.Replace(r.cfg, "kind: glance, endpoint: \"", "kind: glance, endpoint: \"ftp://spy:"+canaryURLPassword+"@", 1)
	bad = strings.Replace(bad, "redis: {addr: \"", "redis: {addr: \"redis://:"+canaryURLPassword+"@", 1)
	if err := os.WriteFile(r.cfgPath, []byte(bad), 0o600); err != nil {
		t.Fatal(err)
	}
	n := strings.Count(r.p.log(), "reload: invalid configuration")
	r.p.cmd.Process.Signal(syscall.SIGHUP)
	deadline := time.Now().Add(20 * time.Second)
	for strings.Count(r.p.log(), "reload: invalid configuration") <= n {
		if time.Now().After(deadline) {
			t.Fatalf("no reload error 20s after SIGHUP:\n%s", r.p.log())
		}
		time.Sleep(20 * time.Millisecond)
	}
	// The same file at start-up, and through config check.
	for _, args := range [][]string{{"serve", "--config", r.cfgPath}, {"config", "check", r.cfgPath}} {
		out, _ := exec.Command(r.p.cmd.Path, args...).CombinedOutput()
		if !strings.Contains(string(out), "endpoint") {
			t.Errorf("spyglass %s: %s, want the endpoint's problem", strings.Join(args, " "), out)
		}
		r.grep("spyglass "+strings.Join(args, " "), string(out))
	}
	if err := os.WriteFile(r.cfgPath, []byte(r.cfg), 0o600); err != nil {
		t.Fatal(err)
	}
}

// stop ends the process with SIGTERM: the drain flushes the spans.
func (r *redactRun) stop() {
	r.p.cmd.Process.Signal(syscall.SIGTERM)
	if code := r.p.wait(r.t, 60*time.Second); code != 0 {
		r.t.Errorf("spyglass exited %d after SIGTERM", code)
	}
}

// check greps the whole log and every exported span for the secrets.
func (r *redactRun) check() {
	log := r.p.log()
	if !strings.Contains(log, "msg=request ") || !strings.Contains(log, "component=fasthttp") {
		r.t.Errorf("the log lacks access lines or fasthttp's messages: the test did not reach what it checks")
	}
	r.grep("stderr", log)
	r.otlp.mu.Lock()
	defer r.otlp.mu.Unlock()
	if len(r.otlp.spans) == 0 {
		r.t.Errorf("no span exported")
	}
	for _, s := range r.otlp.spans {
		var b strings.Builder
		b.WriteString(s.Name + " " + s.GetStatus().GetMessage())
		kvs := append([]*commonpb.KeyValue{}, s.Attributes...)
		for _, e := range s.Events {
			b.WriteString(" " + e.Name)
			kvs = append(kvs, e.Attributes...)
		}
		for _, kv := range kvs {
			b.WriteString(" " + kv.Key + "=" + kv.GetValue().String())
		}
		r.grep("span "+s.Name, b.String())
	}
}

func (r *redactRun) grep(where, text string) {
	r.t.Helper()
	for _, secret := range append([]string{canaryServicePassword, canaryRedisPassword, canaryToken, canaryURLPassword, canarySignature}, r.secrets...) {
		for _, line := range strings.Split(text, "\n") {
			if strings.Contains(line, secret) {
				r.t.Errorf("%s holds %q: %s", where, secret, line)
			}
		}
	}
}

func jsonField(t *testing.T, body, key string) string {
	t.Helper()
	_, rest, ok := strings.Cut(body, `"`+key+`": "`)
	if !ok {
		t.Fatalf("no %q in %s", key, body)
	}
	v, _, _ := strings.Cut(rest, `"`)
	return v
}
