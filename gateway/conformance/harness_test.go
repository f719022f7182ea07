// Package conformance is the differential suite: it sends the same scripted
// requests to a real Glance 25 and to Spyglass and fails on every
// difference that is not listed, with its reason, in knownDifferences.
//
//	go test ./gateway/conformance/                      # Glance vs Spyglass
//	CONFORMANCE_PEER=glance go test ./gateway/conformance/  # Glance vs Glance: checks the suite's normalization
//	CONFORMANCE_SPYGLASS=http://127.0.0.1:9292 go test ...  # against an already running Spyglass
//
// It needs python3-glance (`make test` installs it).
package conformance

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/spyglass-gateway/spyglass/backends/glance/glancetest"
	"github.com/spyglass-gateway/spyglass/i18n/i18ntest"
)

// target is one server under test and what the script learned about it.
type target struct {
	name string
	base string // "http://127.0.0.1:PORT"
	// vars are the ids the script saved ("s07" → that server's uuid of seed image 7).
	vars map[string]string
	// ids maps a saved uuid back to its variable, to normalize bodies.
	ids map[string]string
}

func newTarget(name, base string) *target {
	return &target{name: name, base: strings.TrimRight(base, "/"), vars: map[string]string{}, ids: map[string]string{}}
}

type response struct {
	status int
	header http.Header
	body   []byte
}

var client = &http.Client{
	Timeout: 60 * time.Second,
	// No Accept-Encoding: compare what the servers send, not what Go decodes.
	Transport: &http.Transport{DisableCompression: true, MaxIdleConnsPerHost: 4},
	// Never follow redirects: a 3xx is an answer to compare.
	CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
}

var varRef = regexp.MustCompile(`\{\{([A-Za-z0-9_]+)\}\}`)

// expand replaces {{var}} with this target's value; an unknown variable
// expands to a fixed uuid nobody has, so the request still means "unknown".
func (t *target) expand(s string) string {
	return varRef.ReplaceAllStringFunc(s, func(m string) string {
		if v, ok := t.vars[m[2:len(m)-2]]; ok {
			return v
		}
		return "ffffffff-ffff-4fff-bfff-ffffffffffff"
	})
}

func (t *target) send(method, path string, header map[string]string, body string, chunked bool) (*response, error) {
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(t.expand(body))
		if chunked {
			// A reader of unknown length: Go sends Transfer-Encoding: chunked,
			// as glanceclient does for uploads from a pipe.
			rd = io.MultiReader(rd)
		}
	}
	req, err := http.NewRequest(method, t.base+t.expand(path), rd)
	if err != nil {
		return nil, err
	}
	for k, v := range header {
		if k == "Host" {
			req.Host = v
			continue
		}
		req.Header.Set(k, t.expand(v))
	}
	resp, err := client.Do(req)
	for try := 1; err != nil && try < 5 && rd == nil && brokenWrite(err); try++ {
		// A server that answers a request line it refuses (Glance's 414
		// at 8 KiB) and closes may do so before the client has written the
		// rest: the write then fails, and the answer is lost with the
		// connection. A body-less request is asked again.
		time.Sleep(time.Duration(try) * 50 * time.Millisecond)
		resp, err = client.Do(req)
	}
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, fmt.Errorf("reading body: %w", err)
	}
	return &response{status: resp.StatusCode, header: resp.Header, body: b}, nil
}

// brokenWrite is a connection the server closed while the request was
// being written.
func brokenWrite(err error) bool {
	return errors.Is(err, syscall.EPIPE) || errors.Is(err, syscall.ECONNRESET)
}

// run performs one step on one target: the request, polling when asked, the
// walk over next links when asked, and saving the created id.
func (t *target) run(st *step) (*response, error) {
	h := map[string]string{}
	for k, v := range callers[st.as] {
		h[k] = v
	}
	for k, v := range st.header {
		h[k] = v
	}
	if st.walk {
		return t.walk(st, h)
	}
	deadline := time.Now().Add(60 * time.Second)
	for {
		r, err := t.send(st.method, st.path, h, st.body, st.chunked)
		if err != nil {
			return nil, err
		}
		if st.until != nil && !st.until(r) && time.Now().Before(deadline) {
			time.Sleep(200 * time.Millisecond)
			continue
		}
		if st.save != "" && r.status/100 == 2 {
			var doc struct{ ID string }
			if err := json.Unmarshal(r.body, &doc); err == nil && doc.ID != "" {
				t.vars[st.save] = doc.ID
				t.ids[doc.ID] = "{{" + st.save + "}}"
			}
		}
		return r, nil
	}
}

// walk follows "next" links from st.path and answers a synthetic response
// whose body is the JSON array of every page's body (status of the last).
func (t *target) walk(st *step, h map[string]string) (*response, error) {
	path := st.path
	var pages []json.RawMessage
	var last *response
	for i := 0; i < 60; i++ {
		r, err := t.send("GET", path, h, "", false)
		if err != nil {
			return nil, err
		}
		if r.status != 200 {
			if last == nil {
				return r, nil // the first request failed: compare that answer
			}
			break
		}
		last = r
		pages = append(pages, json.RawMessage(r.body))
		var doc struct{ Next string }
		json.Unmarshal(r.body, &doc)
		if doc.Next == "" {
			break
		}
		path = doc.Next
	}
	b, _ := json.Marshal(pages)
	return &response{status: last.status, header: last.header, body: b}, nil
}

// comparedHeaders are the response headers whose values must agree.
var comparedHeaders = []string{
	"Content-Type", "Location", "Content-Range", "Content-Md5", "Accept-Patch", "Allow",
	"Openstack-Image-Import-Methods", "Openstack-Image-Store-Ids", "Openstack-Image-Store-Ids",
}

var (
	uuidRE = regexp.MustCompile(`[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}`)
	timeRE = regexp.MustCompile(`\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d)?`)
)

// normText makes one server's text comparable with the other's: its own
// address becomes HOST, saved ids become their variable names, other uuids
// become <uuid-N> in order of appearance in this response, timestamps <time>.
func (t *target) normText(s string, seen map[string]string) string {
	hostport := strings.TrimPrefix(t.base, "http://")
	s = strings.ReplaceAll(s, hostport, "HOST")
	s = uuidRE.ReplaceAllStringFunc(s, func(id string) string {
		if v, ok := t.ids[id]; ok {
			return v
		}
		if v, ok := seen[id]; ok {
			return v
		}
		v := fmt.Sprintf("<uuid-%d>", len(seen)+1)
		seen[id] = v
		return v
	})
	return timeRE.ReplaceAllString(s, "<time>")
}

// normalized is a response reduced to what must agree.
type normalized struct {
	status  int
	headers map[string]string
	json    any    // body when it parses as JSON
	text    string // body otherwise
	isJSON  bool
}

func (t *target) normalize(r *response, st *step) normalized {
	seen := map[string]string{}
	n := normalized{status: r.status, headers: map[string]string{}}
	for _, h := range comparedHeaders {
		if v := r.header.Values(h); len(v) > 0 {
			n.headers[h] = t.normText(strings.Join(v, ", "), seen)
		}
	}
	body := t.normText(string(r.body), seen)
	var v any
	if len(bytes.TrimSpace(r.body)) > 0 && json.Unmarshal([]byte(body), &v) == nil {
		n.isJSON, n.json = true, canonical(v, st.ignore)
	} else {
		n.text = body
	}
	return n
}

// canonical sorts what Glance leaves in arbitrary order (tags come from a
// Python set) and drops the ignored keys.
func canonical(v any, ignore []string) any {
	switch x := v.(type) {
	case map[string]any:
		for _, k := range ignore {
			delete(x, k)
		}
		for k, e := range x {
			if k == "tags" {
				if arr, ok := e.([]any); ok {
					sort.Slice(arr, func(i, j int) bool { return fmt.Sprint(arr[i]) < fmt.Sprint(arr[j]) })
				}
			}
			x[k] = canonical(e, ignore)
		}
		return x
	case []any:
		for i := range x {
			x[i] = canonical(x[i], ignore)
		}
		return x
	}
	return v
}

// diff lists the differences between Glance's (want) and the other's (got)
// normalized responses, one per line; empty when they agree.
func diff(want, got normalized) []string {
	var out []string
	if want.status != got.status {
		out = append(out, fmt.Sprintf("status: glance %d, spyglass %d", want.status, got.status))
	}
	keys := map[string]bool{}
	for k := range want.headers {
		keys[k] = true
	}
	for k := range got.headers {
		keys[k] = true
	}
	var ks []string
	for k := range keys {
		ks = append(ks, k)
	}
	sort.Strings(ks)
	for _, k := range ks {
		w, wok := want.headers[k]
		g, gok := got.headers[k]
		if w != g || wok != gok {
			out = append(out, fmt.Sprintf("header %s: glance %s, spyglass %s", k, showHeader(w, wok), showHeader(g, gok)))
		}
	}
	switch {
	case want.isJSON && got.isJSON:
		out = append(out, jsonDiff("body", want.json, got.json)...)
	case want.isJSON != got.isJSON:
		out = append(out, fmt.Sprintf("body: glance %s, spyglass %s", showBody(want), showBody(got)))
	case want.text != got.text:
		out = append(out, fmt.Sprintf("body (text):\n  glance:   %q\n  spyglass: %q", clip(want.text, 800), clip(got.text, 800)))
	}
	return out
}

func showHeader(v string, ok bool) string {
	if !ok {
		return "(absent)"
	}
	return strconv.Quote(v)
}

func showBody(n normalized) string {
	if n.isJSON {
		b, _ := json.Marshal(n.json)
		return "JSON " + clip(string(b), 600)
	}
	return "text " + strconv.Quote(clip(n.text, 600))
}

func clip(s string, n int) string {
	if len(s) > n {
		return s[:n] + "…"
	}
	return s
}

// jsonDiff walks both documents and names each differing path.
func jsonDiff(path string, want, got any) []string {
	switch w := want.(type) {
	case map[string]any:
		g, ok := got.(map[string]any)
		if !ok {
			break
		}
		var out []string
		var ks []string
		for k := range w {
			ks = append(ks, k)
		}
		for k := range g {
			if _, ok := w[k]; !ok {
				ks = append(ks, k)
			}
		}
		sort.Strings(ks)
		for _, k := range ks {
			wv, wok := w[k]
			gv, gok := g[k]
			switch {
			case !gok:
				out = append(out, fmt.Sprintf("%s.%s: glance %s, spyglass (absent)", path, k, compact(wv)))
			case !wok:
				out = append(out, fmt.Sprintf("%s.%s: glance (absent), spyglass %s", path, k, compact(gv)))
			default:
				out = append(out, jsonDiff(path+"."+k, wv, gv)...)
			}
		}
		return out
	case []any:
		g, ok := got.([]any)
		if !ok {
			break
		}
		if len(w) != len(g) {
			return []string{fmt.Sprintf("%s: glance %d items, spyglass %d items\n    glance:   %s\n    spyglass: %s", path, len(w), len(g), clip(compact(summarize(w)), 900), clip(compact(summarize(g)), 900))}
		}
		var out []string
		for i := range w {
			out = append(out, jsonDiff(fmt.Sprintf("%s[%d]", path, i), w[i], g[i])...)
		}
		return out
	default:
		if compact(want) == compact(got) {
			return nil
		}
	}
	if compact(want) == compact(got) {
		return nil
	}
	return []string{fmt.Sprintf("%s: glance %s, spyglass %s", path, clip(compact(want), 600), clip(compact(got), 600))}
}

// summarize shortens a list of images/members to their names or ids so a
// length mismatch in a listing is readable.
func summarize(items []any) []any {
	out := make([]any, len(items))
	for i, it := range items {
		m, ok := it.(map[string]any)
		if !ok {
			out[i] = it
			continue
		}
		for _, k := range []string{"name", "id", "member_id", "images"} {
			if v, ok := m[k]; ok {
				if k == "images" {
					if arr, ok := v.([]any); ok {
						out[i] = summarize(arr)
						break
					}
				}
				out[i] = v
				break
			}
		}
		if out[i] == nil {
			out[i] = it
		}
	}
	return out
}

func compact(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}

// spyglassUnderTest starts the Spyglass the suites compare with Glance: over
// its embedded store, or (CONFORMANCE_BACKEND=glance) in front of a second
// real Glance started with the same options as the oracle.
func spyglassUnderTest(t *testing.T, mode string, opts glancetest.Options) string {
	t.Helper()
	if os.Getenv("CONFORMANCE_BACKEND") == "glance" {
		region := glancetest.StartTWith(t, opts)
		return startSpyglass(t, mode, region.URL)
	}
	return startSpyglass(t, mode, "")
}

// startSpyglass builds cmd/spyglass and serves it on a free loopback port
// in trusted mode with an empty data directory.
// startSpyglass builds and starts Spyglass in trusted mode with the given
// policy defaults ("legacy" or "current").
//
// With regionURL set, Spyglass serves no embedded store: its one region is
// the Glance at regionURL (CONFORMANCE_BACKEND=glance), so the suite checks
// Spyglass in front of a Glance against that Glance's twin.
//
// dataDir, when given, is the embedded store's directory (a test that
// loads it first); by default an empty one.
func startSpyglass(t *testing.T, defaults, regionURL string, dataDir ...string) string {
	t.Helper()
	if u := os.Getenv("CONFORMANCE_SPYGLASS"); u != "" {
		return u
	}
	gomod, err := exec.Command("go", "env", "GOMOD").Output()
	if err != nil || strings.TrimSpace(string(gomod)) == "" {
		t.Fatalf("cannot find the module root (go env GOMOD): %v", err)
	}
	root := filepath.Dir(strings.TrimSpace(string(gomod)))
	tmp := t.TempDir()
	bin := filepath.Join(tmp, "spyglass")
	build := exec.Command("go", "build", "-o", bin, "./cmd/spyglass")
	build.Dir = root
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build ./cmd/spyglass failed: %v\n%s", err, out)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	logPath := filepath.Join(tmp, "spyglass.log")
	logf, err := os.Create(logPath)
	if err != nil {
		t.Fatal(err)
	}
	conf := filepath.Join(tmp, "spyglass.yaml")
	yaml := "policy: {defaults: " + defaults + "}\n" +
		// Glance 25 has no v1: compared with v1 off.
		"api: {enable_v1: false}\n" +
		// The project's test catalog: a request without Accept-Language
		// must not notice it (the suite compares those with Glance); the
		// error steps are asked for again in its language (localized_test.go).
		"i18n: {locale_dir: \"" + i18ntest.Locale(t) + "\"}\n"
	args := []string{"serve", "--config", conf, "--listen", addr, "--admin-listen", "127.0.0.1:0", "--auth", "trusted"}
	if regionURL != "" {
		yaml += "regions: [{name: local, kind: glance, endpoint: \"" + regionURL + "\"}]\n" +
			"cache: {dir: \"" + filepath.Join(tmp, "cache") + "\"}\n"
	} else {
		dir := filepath.Join(tmp, "data")
		if len(dataDir) > 0 {
			dir = dataDir[0]
		}
		args = append(args, "--data-dir", dir)
	}
	if err := os.WriteFile(conf, []byte(yaml), 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, args...)
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		t.Fatalf("start spyglass: %v", err)
	}
	exited := make(chan struct{})
	go func() { cmd.Wait(); logf.Close(); close(exited) }()
	t.Cleanup(func() {
		syscall.Kill(-cmd.Process.Pid, syscall.SIGTERM)
		select {
		case <-exited:
		case <-time.After(5 * time.Second):
			syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
			<-exited
		}
		if t.Failed() {
			if b, _ := os.ReadFile(logPath); len(b) > 0 {
				t.Logf("spyglass log (tail):\n%s", clip(string(b[max(0, len(b)-4000):]), 4000))
			}
		}
	})
	base := "http://" + addr
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for {
		select {
		case <-exited:
			b, _ := os.ReadFile(logPath)
			t.Fatalf("spyglass exited during start-up (%v):\n%s", cmd.ProcessState, b)
		case <-ctx.Done():
			t.Fatalf("spyglass did not answer GET /versions on %s within 30s", base)
		case <-time.After(100 * time.Millisecond):
		}
		if resp, err := client.Get(base + "/versions"); err == nil {
			resp.Body.Close()
			return base
		}
	}
}
