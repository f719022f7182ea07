package gateway_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/valyala/fasthttp"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"

	"github.com/spyglass-gateway/spyglass/backends/local"
	"github.com/spyglass-gateway/spyglass/backends/outbound"
	"github.com/spyglass-gateway/spyglass/gateway"
	"github.com/spyglass-gateway/spyglass/i18n"
	"github.com/spyglass-gateway/spyglass/i18n/i18ntest"
	"github.com/spyglass-gateway/spyglass/logctx"
	"github.com/spyglass-gateway/spyglass/policy"
)

// fuzzCanary is the credential the seeds carry (a token, a password, a
// signature): wherever an input holds it only as a credential, no log line
// and no span may hold it.
const fuzzCanary = "gAAAAABfuzzCanaryT0ken"

// The fixture images every seed can name: an active one with data (owner
// p1, shared with p2) and a queued one (owner p1, tagged).
const (
	fuzzActive = "a1a1a1a1-0000-4000-8000-000000000001"
	fuzzQueued = "b2b2b2b2-0000-4000-8000-000000000002"
	fuzzData   = "0123456789abcdefghijklmnopqrstuvwxyz" // the active image's bytes
)

// fuzzRigResetEvery bounds what the inputs pile up in a store (images,
// members, tasks) before the rig starts over with a fresh one: listings
// stay as fast as at the start.
const fuzzRigResetEvery = 2000

// FuzzServer writes raw request bytes to the whole gateway — router,
// authentication (noauth and trusted), JSON bodies and patches, uploads,
// ranges, list queries, v1 — over an embedded store, exactly as a client's
// connection would, with the log at debug level (access log on) and
// tracing on. Every input must hold, in both modes:
//   - no panic (a handler's is a 500, caught below);
//   - no 5xx: the client's input is never the server's failure;
//   - every response's body is exactly its Content-Length, and nothing
//     follows the last response;
//   - the canary, when the input carries it only as a credential, is in
//     no log line and no span.
//
// go test runs the seeds (fast); go test -fuzz FuzzServer explores. To
// explore past a finding being fixed elsewhere, name it in
// SPYGLASS_FUZZ_SKIP, a regular expression matched against each problem
// and the log of its input: SPYGLASS_FUZZ_SKIP='"err":"unexpected EOF"'.
func FuzzServer(f *testing.F) {
	if s := os.Getenv("SPYGLASS_FUZZ_SKIP"); s != "" {
		fuzzSkip = regexp.MustCompile(s)
	}
	for _, seed := range fuzzSeeds() {
		f.Add([]byte(seed))
	}
	rig := newFuzzRig(f)
	f.Fuzz(func(t *testing.T, raw []byte) {
		rig.check(t, raw)
	})
}

// fuzzSkip matches the problems SPYGLASS_FUZZ_SKIP says to pass over; nil:
// none.
var fuzzSkip *regexp.Regexp

// fuzzRig is the server under fuzzing: one embedded store behind a gateway
// in each auth mode, their logs and spans collected.
type fuzzRig struct {
	cats   *i18n.Catalogs
	logs   *syncBuffer
	spans  *tracetest.InMemoryExporter
	tp     *sdktrace.TracerProvider
	dir    string // the store's, made here: f.TempDir may not be called while fuzzing
	store  *local.Store
	modes  []*fuzzServer
	inputs int
}

type fuzzServer struct {
	mode string
	srv  *gateway.Server
	ln   *connListener
}

func newFuzzRig(tb testing.TB) *fuzzRig {
	r := &fuzzRig{logs: &syncBuffer{}, spans: tracetest.NewInMemoryExporter()}
	r.tp = sdktrace.NewTracerProvider(sdktrace.WithSyncer(r.spans))
	// Catalogs, so that the fuzzer reaches negotiation and translation
	// too: read into memory once, here, where tb may still set things up
	// (a restart runs inside the fuzz target, where f.Helper and
	// f.TempDir panic).
	cats, err := i18n.Load(i18ntest.Locale(tb))
	if err != nil {
		tb.Fatal(err)
	}
	r.cats = cats
	r.start(tb)
	tb.Cleanup(r.stop)
	return r
}

// noFetch refuses every outbound request: web-download URLs in the inputs
// go nowhere: no host resolves.
type noResolve struct{}

func (noResolve) LookupNetIP(context.Context, string, string) ([]netip.Addr, error) {
	return nil, errors.New("fuzzing: no outbound requests")
}

// start makes the rig: tb is the caller's, the fuzz target's t on a
// restart.
func (r *fuzzRig) start(tb testing.TB) {
	dir, err := os.MkdirTemp("", "spyglass-fuzz-")
	if err != nil {
		tb.Fatal(err)
	}
	r.dir = dir
	fetcher, err := outbound.New(outbound.Options{Resolver: noResolve{}})
	if err != nil {
		tb.Fatal(err)
	}
	store, err := local.Open(dir, local.Options{SizeCap: 1 << 20, Fetcher: fetcher})
	if err != nil {
		tb.Fatal(err)
	}
	r.store = store
	log := slog.New(logctx.NewHandler(slog.NewJSONHandler(r.logs, &slog.HandlerOptions{Level: slog.LevelDebug})))
	r.modes = nil
	for _, mode := range []string{"noauth", "trusted"} {
		auth, err := policy.NewAuthenticator(mode)
		if err != nil {
			tb.Fatal(err)
		}
		srv, err := gateway.New(gateway.Config{Logger: log, Tracing: r.tp, Metrics: gateway.NewRequestMetrics(), SizeCap: 1 << 20, Catalogs: r.cats}, gateway.CatalogOf(store), auth)
		if err != nil {
			tb.Fatal(err)
		}
		ln := newConnListener()
		go srv.Serve(ln)
		r.modes = append(r.modes, &fuzzServer{mode: mode, srv: srv, ln: ln})
	}
	// The fixtures, made as a client would (trusted, as an admin).
	trusted := r.modes[1]
	const adminHdr = "X-Identity-Status: Confirmed\r\nX-Project-Id: admin\r\nX-User-Id: a\r\nX-Roles: admin,member,reader\r\n"
	for _, req := range []string{
		jsonRequest("POST", "/v2/images", adminHdr, `{"id": "`+fuzzActive+`", "name": "active", "owner": "p1", "visibility": "shared", "disk_format": "raw", "container_format": "bare", "tags": ["t1"], "fuzz_prop": "v"}`),
		"PUT /v2/images/" + fuzzActive + "/file HTTP/1.1\r\nHost: x\r\n" + adminHdr + "Content-Type: application/octet-stream\r\nContent-Length: " + fmt.Sprint(len(fuzzData)) + "\r\n\r\n" + fuzzData,
		jsonRequest("POST", "/v2/images/"+fuzzActive+"/members", adminHdr, `{"member": "p2"}`),
		jsonRequest("POST", "/v2/images", adminHdr, `{"id": "`+fuzzQueued+`", "name": "queued", "owner": "p1", "disk_format": "qcow2", "container_format": "bare", "tags": ["t1", "t2"]}`),
	} {
		out := trusted.roundTrip(tb, []byte(req))
		if !bytes.HasPrefix(out, []byte("HTTP/1.1 20")) {
			tb.Fatalf("fixture %q: %q", req, out)
		}
	}
}

func (r *fuzzRig) stop() {
	for _, m := range r.modes {
		m.srv.Shutdown(context.Background())
		m.ln.Close()
	}
	r.store.Close()
	os.RemoveAll(r.dir)
}

// check runs raw through each mode and checks the invariants.
func (r *fuzzRig) check(t *testing.T, raw []byte) {
	r.inputs++
	if r.inputs%fuzzRigResetEvery == 0 {
		r.stop()
		r.start(t)
	}
	for _, m := range r.modes {
		r.logs.mu.Lock()
		r.logs.b.Reset()
		r.logs.mu.Unlock()
		r.spans.Reset()

		out := m.roundTrip(t, raw)
		logs := r.logs.String()
		for _, problem := range answerProblems(out, accessMethods(logs)) {
			if fuzzSkip != nil && fuzzSkip.MatchString(problem+"\n"+logs) {
				continue
			}
			t.Errorf("%s: %s\ninput  %q\nanswer %q", m.mode, problem, raw, clip(out))
		}
		if canaryOnlyAsCredential(raw) {
			for _, line := range strings.Split(logs, "\n") {
				if strings.Contains(line, fuzzCanary) {
					t.Errorf("%s: the credential is in a log line\ninput %q\nline  %s", m.mode, raw, line)
				}
			}
			for _, s := range r.spans.GetSpans() {
				if text := spanText(s); strings.Contains(text, fuzzCanary) {
					t.Errorf("%s: the credential is in span %q\ninput %q\nspan  %s", m.mode, s.Name, raw, text)
				}
			}
		}
		if t.Failed() {
			t.Logf("%s: log:\n%s", m.mode, logs)
			return
		}
	}
}

// roundTrip writes raw to a new connection to the server, half-closes it,
// and returns everything the server wrote before it closed it.
func (m *fuzzServer) roundTrip(tb testing.TB, raw []byte) []byte {
	c := newRawConn(raw)
	m.ln.conns <- c
	select {
	case <-c.closed:
	case <-time.After(30 * time.Second):
		tb.Fatalf("%s: the server did not close the connection within 30s of the input's end\ninput %q\nanswer so far %q", m.mode, raw, clip(c.written()))
	}
	return c.written()
}

// answerProblems parses out as the responses to a request stream whose
// handled requests had methods (in order; a request fasthttp refused
// before the handler, always the last one, has none), and says what breaks
// the invariants. It reads bodies itself: a Content-Length is the
// server's claim to check, not a size to allocate.
func answerProblems(out []byte, methods []string) []string {
	var problems []string
	br := bufio.NewReader(bytes.NewReader(out))
	for i := 0; ; i++ {
		if _, err := br.Peek(1); err == io.EOF {
			return problems
		}
		var h fasthttp.ResponseHeader
		err := h.Read(br)
		for err == nil && h.StatusCode() >= 100 && h.StatusCode() < 200 {
			err = h.Read(br) // 100 Continue
		}
		if err != nil {
			return append(problems, fmt.Sprintf("response %d: unreadable header (bytes after the previous response?): %v", i+1, err))
		}
		status := h.StatusCode()
		var body []byte
		noBody := i < len(methods) && methods[i] == "HEAD" || status == 204 || status == 304
		switch cl := h.ContentLength(); {
		case noBody:
		case cl >= 0:
			rest, _ := io.ReadAll(io.LimitReader(br, int64(cl)))
			if len(rest) != cl {
				return append(problems, fmt.Sprintf("response %d: status %d, Content-Length %d, %d bytes follow", i+1, status, cl, len(rest)))
			}
			body = rest
		case cl == -1: // chunked
			var resp fasthttp.Response
			h.CopyTo(&resp.Header)
			if err := resp.ReadBody(br, 1<<30); err != nil {
				return append(problems, fmt.Sprintf("response %d: status %d: broken chunked body: %v", i+1, status, err))
			}
			body = resp.Body()
		default: // until the connection closes
			body, _ = io.ReadAll(br)
		}
		if status >= 500 {
			problems = append(problems, fmt.Sprintf("response %d: status %d: %s", i+1, status, clip(body)))
		}
	}
}

// accessMethods are the methods of the requests the access log lines
// (level debug, msg "request") name, in order.
func accessMethods(logs string) []string {
	var methods []string
	for _, line := range strings.Split(logs, "\n") {
		var l struct{ Msg, Method string }
		if json.Unmarshal([]byte(line), &l) == nil && l.Msg == "request" {
			methods = append(methods, l.Method)
		}
	}
	return methods
}

// canaryOnlyAsCredential reports whether raw holds the canary and every
// occurrence of it is a credential: a credential header's value, a URL's
// userinfo, a signing or token query parameter's value. Elsewhere (an
// image name, an id) it is the client's data and may be logged.
func canaryOnlyAsCredential(raw []byte) bool {
	s := string(raw)
	if !strings.Contains(s, fuzzCanary) {
		return false
	}
	for i := 0; ; {
		j := strings.Index(s[i:], fuzzCanary)
		if j < 0 {
			return true
		}
		at := i + j
		lineStart := strings.LastIndexByte(s[:at], '\n') + 1
		lineEnd := strings.IndexAny(s[at:], "\r\n")
		if lineEnd < 0 {
			lineEnd = len(s)
		} else {
			lineEnd += at
		}
		before, after := s[lineStart:at], s[at+len(fuzzCanary):lineEnd]
		if !credentialHeader(before) && !inUserinfo(before, after) && !credentialParam(before) {
			return false
		}
		i = at + len(fuzzCanary)
	}
}

// credentialHeader: before is "X-Auth-Token:" (or another credential
// header) and anything on its line.
func credentialHeader(before string) bool {
	name, _, ok := strings.Cut(before, ":")
	if !ok {
		return false
	}
	switch strings.ToLower(strings.TrimSpace(name)) {
	case "x-auth-token", "x-storage-token", "x-subject-token", "x-service-token", "authorization", "proxy-authorization", "cookie":
		return true
	}
	return false
}

// inUserinfo: the canary is inside scheme://…@ of a URL.
func inUserinfo(before, after string) bool {
	k := strings.LastIndex(before, "//")
	if k < 0 || strings.ContainsAny(before[k+2:], "/?#[] \t\"\\") {
		return false
	}
	end := strings.IndexAny(after, "/?# \t\"\\")
	if end < 0 {
		end = len(after)
	}
	return strings.Contains(after[:end], "@")
}

// credentialParam: before ends with ?sig= (or another signing or token
// parameter) and part of its value.
func credentialParam(before string) bool {
	k := strings.LastIndexAny(before, "?&;")
	if k < 0 {
		return false
	}
	name, value, ok := strings.Cut(before[k+1:], "=")
	if !ok || strings.ContainsAny(value, "&;# \t\"'\\<>,)]}") {
		return false
	}
	switch strings.ToLower(name) {
	case "sig", "signature", "temp_url_sig", "x-amz-signature", "x-amz-credential", "x-amz-security-token",
		"token", "auth_token", "access_token", "password", "secret":
		return true
	}
	return false
}

// spanText is every text a span carries: name, attributes, events, status.
func spanText(s tracetest.SpanStub) string {
	var b strings.Builder
	b.WriteString(s.Name)
	for _, a := range s.Attributes {
		fmt.Fprintf(&b, " %s=%s", a.Key, a.Value.Emit())
	}
	for _, e := range s.Events {
		b.WriteString(" " + e.Name)
		for _, a := range e.Attributes {
			fmt.Fprintf(&b, " %s=%s", a.Key, a.Value.Emit())
		}
	}
	b.WriteString(" " + s.Status.Description)
	return b.String()
}

func clip(b []byte) string {
	if len(b) > 600 {
		return string(b[:600]) + "…"
	}
	return string(b)
}

func jsonRequest(method, path, hdr, body string) string {
	return method + " " + path + " HTTP/1.1\r\nHost: x\r\n" + hdr + "Content-Type: application/json\r\nContent-Length: " +
		fmt.Sprint(len(body)) + "\r\n\r\n" + body
}

// fuzzSeeds are valid (and some deliberately broken) requests over the
// routes, in the trusted identity of project p1 (noauth ignores it).
func fuzzSeeds() []string {
	const who = "X-Identity-Status: Confirmed\r\nX-Project-Id: p1\r\nX-User-Id: u1\r\nX-Roles: member,reader\r\n"
	get := func(path string, hdr ...string) string {
		return "GET " + path + " HTTP/1.1\r\nHost: x\r\n" + who + strings.Join(hdr, "") + "\r\n"
	}
	req := func(method, path, hdr, body string) string {
		return method + " " + path + " HTTP/1.1\r\nHost: x\r\n" + who + hdr + "Content-Length: " + fmt.Sprint(len(body)) + "\r\n\r\n" + body
	}
	js := func(method, path, body string) string { return jsonRequest(method, path, who, body) }
	patch := func(body string) string {
		return req("PATCH", "/v2/images/"+fuzzQueued, "Content-Type: application/openstack-images-v2.1-json-patch\r\n", body)
	}
	a, q := "/v2/images/"+fuzzActive, "/v2/images/"+fuzzQueued
	seeds := []string{
		// Versions, health, schemas, info.
		get("/"), get("/versions"), get("/healthcheck"), get("/v2/"), get("/v2.1/images"), get("/v3/images"),
		get("/images", "Accept: application/vnd.openstack.images-v2.1\r\n"),
		get("/v2/schemas/image"), get("/v2/schemas/images"), get("/v2/schemas/member"), get("/v2/schemas/tasks"),
		get("/v2/info/import"), get("/v2/info/stores"), get("/v2/info/stores/detail"), get("/v2/info/usage"),
		// Listings.
		get("/v2/images?limit=1&sort=name:asc,created_at:desc"), get("/v2/images?sort_key=name&sort_dir=desc&sort_key=id"),
		get("/v2/images?marker=" + fuzzActive + "&limit=1"), get("/v2/images?name=in:active,%22queued%22"),
		get("/v2/images?created_at=gt:2020-01-01T00:00:00Z&updated_at=lte:2999-01-01T00:00:00Z"),
		get("/v2/images?tag=t1&tag=t2&visibility=shared&member_status=all&os_hidden=false"),
		get("/v2/images?size_min=1&size_max=100&status=active&disk_format=raw&fuzz_prop=v&owner=p1"),
		get("/v2/images", "Accept-Language: de\r\n"),
		get("/v2/images/aaa", "Accept-Language: zh\r\n"), get("/v2/images?limit=x", "Accept-Language: de, zh-CN;q=0.5\r\nAccept: application/json\r\n"),
		// One image, its data, ranges.
		get(a), get(a + "/file"), get(a+"/file", "Range: bytes=0-9\r\n"), get(a+"/file", "Range: bytes=-5\r\n"),
		get(a+"/file", "Range: bytes=30-\r\n"), get(a+"/file", "Range: bytes=0-1,3-4\r\n"), get(a+"/file", "Range: bytes=99-\r\n"),
		get(a+"/file", "Content-Range: bytes 5-9/*\r\n"), get(a+"/file", "Content-Range: bytes 5-9223372036854775807/*\r\n"),
		get(a+"/file", "Range: bytes=18446744073709551617-\r\n"), get(q + "/file"),
		// Writes: create, patch, upload, stage, import, actions, delete.
		js("POST", "/v2/images", `{"name": "n", "disk_format": "qcow2", "container_format": "bare", "tags": ["a"], "min_ram": 1, "protected": false, "visibility": "private", "k": "v"}`),
		js("POST", "/v2/images", `{"name": "\u00e9", "id": "not-a-uuid"}`),
		patch(`[{"op": "replace", "path": "/name", "value": "n2"}, {"op": "add", "path": "/k", "value": "v"}, {"op": "remove", "path": "/k"}]`),
		patch(`[{"op": "add", "path": "/tags/-", "value": "t3"}, {"op": "move", "from": "/name", "path": "/k"}, {"op": "copy", "from": "/k", "path": "/k2"}, {"op": "test", "path": "/k2", "value": "n2"}]`),
		patch(`[{"replace": "/min_ram", "value": 5}]`),
		req("PUT", q+"/file", "Content-Type: application/octet-stream\r\n", "hello"),
		"PUT " + q + "/file HTTP/1.1\r\nHost: x\r\n" + who + "Content-Type: application/octet-stream\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n",
		"PUT " + q + "/file HTTP/1.1\r\nHost: x\r\n" + who + "Content-Type: application/octet-stream\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhel",
		"PUT " + q + "/file HTTP/1.1\r\nHost: x\r\n" + who + "Content-Type: application/octet-stream\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\x92\x92\x92\x92",
		"PUT " + q + "/file HTTP/1.1\r\nHost: x\r\n" + who + "Content-Type: application/octet-stream\r\nTransfer-Encoding: chunked\r\n\r\n\xcb\xcb5\r\nhel",
		req("PUT", q+"/file", "Content-Type: application/octet-stream\r\nExpect: 100-continue\r\n", "hello"),
		req("PUT", q+"/stage", "Content-Type: application/octet-stream\r\n", "staged"),
		js("POST", q+"/import", `{"method": {"name": "glance-direct"}}`),
		js("POST", q+"/import", `{"method": {"name": "web-download", "uri": "http://u:`+fuzzCanary+`@example.com/i.img?temp_url_sig=`+fuzzCanary+`&X-Amz-Signature=`+fuzzCanary+`"}}`),
		js("POST", q+"/import", `{"method": {"name": "copy-image"}, "stores": ["local"]}`),
		req("POST", a+"/actions/deactivate", "", ""), req("POST", a+"/actions/reactivate", "", ""),
		req("DELETE", q, "", ""), req("DELETE", "/v2/images/c3c3c3c3-0000-4000-8000-000000000003", "", ""),
		// Members, tags.
		get(a + "/members"), get(a + "/members/p2"), js("POST", q+"/members", `{"member": "p3"}`),
		js("PUT", a+"/members/p2", `{"status": "accepted"}`), req("DELETE", a+"/members/p2", "", ""),
		req("PUT", q+"/tags/t9", "", ""), req("DELETE", q+"/tags/t1", "", ""), req("PUT", q+"/tags/%ff", "", ""),
		// Tasks, cache.
		get("/v2/tasks"), get("/v2/tasks?status=failure&sort_key=type&sort_dir=asc&limit=2"), get(q + "/tasks"),
		js("POST", "/v2/tasks", `{"type": "import", "input": {"import_from": "http://u:`+fuzzCanary+`@example.com/x", "import_from_format": "qcow2", "image_properties": {"name": "x"}}}`),
		get("/v2/tasks/d4d4d4d4-0000-4000-8000-000000000004"),
		get("/v2/cache"), req("PUT", "/v2/cache/"+fuzzActive, "", ""), req("DELETE", "/v2/cache", "", ""),
		// v1.
		get("/v1/images"), get("/v1/images/detail?is_public=none&sort_key=name"),
		"HEAD /v1/images/" + fuzzActive + " HTTP/1.1\r\nHost: x\r\n" + who + "\r\n",
		get("/v1/images/" + fuzzActive), get("/v1/images/"+fuzzActive, "Range: bytes=2-4\r\n"),
		req("POST", "/v1/images", "X-Image-Meta-Name: v1\r\nX-Image-Meta-Disk-Format: raw\r\nX-Image-Meta-Container-Format: bare\r\nX-Image-Meta-Property-K: v\r\nContent-Type: application/octet-stream\r\n", "v1data"),
		req("PUT", "/v1/images/"+fuzzQueued, "X-Image-Meta-Is-Public: true\r\nX-Image-Meta-Property-K: v\r\n", ""),
		get("/v1/images/" + fuzzActive + "/members"), req("PUT", "/v1/images/"+fuzzActive+"/members/p2", "", ""),
		get("/v1/shared-images/p2"), req("DELETE", "/v1/images/"+fuzzQueued, "", ""),
		// Keep-alive: two requests on one connection; HTTP/1.0.
		get("/versions") + get(a), "GET /v2/images HTTP/1.0\r\n" + who + "\r\n",
		// Broken framing and headers.
		"POST /v2/images HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
		"POST /v2/images HTTP/1.1\r\nHost: x\r\nContent-Length: -1\r\n\r\n",
		"GET /v2/images HTTP/1.1\r\nHost: x\r\nX-Openstack-Request-Id: req-" + strings.Repeat("x", 70) + "\r\n\r\n",
		"BREW /v2/images HTTP/1.1\r\nHost: x\r\n\r\n", "GET /v2/images/../schemas HTTP/1.1\r\nHost: x\r\n\r\n",
		// Credentials where a log could take them.
		"GET /v2/images HTTP/1.1\r\nHost: x\r\nX-Auth-Token: " + fuzzCanary + "\r\nBad Header\r\n\r\n",
		"GET /v2/images HTTP/1.1\r\nHost: x\r\nX-Auth-Token: " + fuzzCanary + "\x01\r\n\r\n",
		"GET /v2/images HTTP/1.1\r\nHost: x\r\nX-Auth-Token : " + fuzzCanary + "\r\n\r\n",
		"GET /v2/images HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer " + fuzzCanary + "\r\n" + who + "\r\n",
		"GET http://u:" + fuzzCanary + "@x/v2/images?sig=" + fuzzCanary + " HTTP/1.1\r\nHost: x\r\n" + who + "\r\n",
		"GET /v2/images?X-Amz-Signature=" + fuzzCanary + " HTTP/1.1 x\r\nHost: x\r\n\r\n",
		"GET /v2/images/" + fuzzActive + "/file?temp_url_sig=" + fuzzCanary + "&temp_url_expires=1 HTTP/1.1\r\nHost: x\r\n" + who + "Range: bytes=1-2\r\n\r\n",
	}
	return seeds
}

// connListener hands the server the connections a test makes.
type connListener struct {
	conns chan net.Conn
	done  chan struct{}
	once  sync.Once
}

func newConnListener() *connListener {
	return &connListener{conns: make(chan net.Conn), done: make(chan struct{})}
}

func (l *connListener) Accept() (net.Conn, error) {
	select {
	case c := <-l.conns:
		return c, nil
	case <-l.done:
		return nil, net.ErrClosed
	}
}

func (l *connListener) Close() error {
	l.once.Do(func() { close(l.done) })
	return nil
}

func (l *connListener) Addr() net.Addr { return fuzzAddr }

var fuzzAddr = &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 9292}

// rawConn is a client connection that has sent its bytes and half-closed:
// reads give the input then EOF, writes are kept.
type rawConn struct {
	in     *bytes.Reader
	mu     sync.Mutex
	out    bytes.Buffer
	closed chan struct{}
	once   sync.Once
}

func newRawConn(raw []byte) *rawConn {
	return &rawConn{in: bytes.NewReader(raw), closed: make(chan struct{})}
}

func (c *rawConn) Read(p []byte) (int, error) { return c.in.Read(p) }

func (c *rawConn) Write(p []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.out.Write(p)
}

func (c *rawConn) written() []byte {
	c.mu.Lock()
	defer c.mu.Unlock()
	return bytes.Clone(c.out.Bytes())
}

func (c *rawConn) Close() error {
	c.once.Do(func() { close(c.closed) })
	return nil
}

func (c *rawConn) LocalAddr() net.Addr              { return fuzzAddr }
func (c *rawConn) RemoteAddr() net.Addr             { return &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 40000} }
func (c *rawConn) SetDeadline(time.Time) error      { return nil }
func (c *rawConn) SetReadDeadline(time.Time) error  { return nil }
func (c *rawConn) SetWriteDeadline(time.Time) error { return nil }

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// TestCanaryOnlyAsCredential: the fuzz target's oracle of where the canary
// is a credential.
func TestCanaryOnlyAsCredential(t *testing.T) {
	c := fuzzCanary
	tests := []struct {
		raw  string
		want bool
	}{
		{"GET / HTTP/1.1\r\nX-Auth-Token: " + c + "\r\n\r\n", true},
		{"GET / HTTP/1.1\r\nauthorization:Bearer " + c + "x\r\n\r\n", true},
		{"GET http://u:" + c + "@h/v2?sig=" + c + " HTTP/1.1\r\n\r\n", true},
		{"GET /v2/images?a=1&temp_url_sig=" + c + "&b=2 HTTP/1.1\r\n\r\n", true},
		{"GET / HTTP/1.1\r\n\r\n", false},                                                 // no canary
		{"GET /v2/images/" + c + " HTTP/1.1\r\n\r\n", false},                              // an id
		{"GET /v2/images?name=" + c + " HTTP/1.1\r\n\r\n", false},                         // a filter
		{"GET /v2/images?sig=x&name=" + c + " HTTP/1.1\r\n\r\n", false},                   // the next parameter's value
		{"GET http://u:p@h/" + c + " HTTP/1.1\r\n\r\n", false},                            // after the userinfo
		{"GET / HTTP/1.1\r\nX-Auth-Token: " + c + "\r\nX-Name: " + c + "\r\n\r\n", false}, // also elsewhere
	}
	for _, tt := range tests {
		if got := canaryOnlyAsCredential([]byte(tt.raw)); got != tt.want {
			t.Errorf("canaryOnlyAsCredential(%q) = %v, want %v", tt.raw, got, tt.want)
		}
	}
}
