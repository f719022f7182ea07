package gateway_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"strings"
	"sync"
	"testing"

	"github.com/spyglass-gateway/spyglass/backends"
	"github.com/spyglass-gateway/spyglass/backends/local"
	"github.com/spyglass-gateway/spyglass/gateway"
	"github.com/spyglass-gateway/spyglass/logctx"
	"github.com/spyglass-gateway/spyglass/policy"
)

// loggingStore logs from inside a catalog call, as a region or the cache
// does, with the context the gateway handed it. It stands in for the
// images only (Catalog.Images).
type loggingStore struct {
	*local.Store
	log *slog.Logger
}

func (s loggingStore) Image(ctx context.Context, id string) (*backends.Image, error) {
	s.log.WarnContext(ctx, "looking an image up", "image", id)
	return s.Store.Image(ctx, id)
}

// syncBuffer is a log destination shared by the server's goroutines.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) lines(t *testing.T) []map[string]any {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []map[string]any
	for _, l := range strings.Split(strings.TrimSpace(s.b.String()), "\n") {
		var m map[string]any
		if err := json.Unmarshal([]byte(l), &m); err != nil {
			t.Fatalf("log line %q: %v", l, err)
		}
		out = append(out, m)
	}
	return out
}

// TestLogLinesCarryRequestID: the access log line and a line logged deep in
// a catalog call both carry the id the response has — the client's own when
// it sent one, the generated one otherwise, also when authentication fails.
func TestLogLinesCarryRequestID(t *testing.T) {
	logs := &syncBuffer{}
	log := slog.New(logctx.NewHandler(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug})))
	store, err := local.Open(t.TempDir(), local.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	auth, err := policy.NewAuthenticator("trusted")
	if err != nil {
		t.Fatal(err)
	}
	cat := gateway.CatalogOf(store)
	cat.Images = loggingStore{store, log}
	srv, err := gateway.New(gateway.Config{Logger: log}, cat, auth)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go srv.Serve(ln)
	defer srv.Shutdown(t.Context())
	ts := &testServer{url: "http://" + ln.Addr().String(), srv: srv, store: store}

	const id = "0b7d4c1e-5a8f-4a44-9d0e-5c2f7b1b2a10"
	tests := []struct {
		name     string
		who      as
		clientID string // sent as X-Openstack-Request-Id
		status   int
		lookup   bool // the catalog is asked (and logs)
	}{
		{"client's id", p1, "req-client-1", 404, true},
		{"generated id", p1, "", 404, true},
		{"unauthenticated", as{}, "req-client-2", 401, false},
		{"over-long id refused", p1, "req-" + strings.Repeat("x", 70), 431, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			logs.mu.Lock()
			logs.b.Reset()
			logs.mu.Unlock()
			var hdr []string
			if tt.clientID != "" {
				hdr = []string{"X-Openstack-Request-Id", tt.clientID}
			}
			resp, _ := ts.do(t, tt.who, "GET", "/v2/images/"+id, nil, hdr...)
			if resp.StatusCode != tt.status {
				t.Fatalf("status %d, want %d", resp.StatusCode, tt.status)
			}
			rid := resp.Header.Get("X-Openstack-Request-Id")
			if tt.clientID != "" && tt.status != 431 && rid != tt.clientID {
				t.Fatalf("response id %q, want the client's %q", rid, tt.clientID)
			}
			if !strings.HasPrefix(rid, "req-") || len(rid) > 64 {
				t.Fatalf("response id %q", rid)
			}
			var access, lookup int
			for _, l := range logs.lines(t) {
				if l[logctx.Attr] != rid {
					t.Errorf("line without the response's id %q: %v", rid, l)
				}
				switch l["msg"] {
				case "request":
					access++
					if l["status"] != float64(tt.status) || l["path"] != "/v2/images/"+id {
						t.Errorf("access log line %v", l)
					}
				case "looking an image up":
					lookup++
				}
			}
			if access != 1 {
				t.Errorf("%d access log lines, want 1", access)
			}
			if got, want := lookup > 0, tt.lookup; got != want {
				t.Errorf("catalog logged: %v, want %v", got, want)
			}
		})
	}
}

// BenchmarkShowAccessLog is BenchmarkShow with the access log on (debug),
// written as JSON to nowhere: the cost of log.level debug.
func BenchmarkShowAccessLog(b *testing.B) {
	log := slog.New(logctx.NewHandler(slog.NewJSONHandler(io.Discard, &slog.HandlerOptions{Level: slog.LevelDebug})))
	benchmarkShow(b, startServerWith(b, "trusted", gateway.Config{Logger: log}), "")
}

// TestNoCredentialInLog: requests carrying a token, a password or a
// signature where the log could take them — a malformed header after
// X-Auth-Token (fasthttp's parse error quoted the whole header buffer), a
// malformed token, a request line with userinfo or a signed query — answer
// as they do and leave no trace of the credential in any log line, at
// debug level (the access log on).
func TestNoCredentialInLog(t *testing.T) {
	const canary = "gAAAAABcanaryT0KEN"
	logs := &syncBuffer{}
	log := slog.New(logctx.NewHandler(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug})))
	ts := startServerWith(t, "trusted", gateway.Config{Logger: log})
	addr := strings.TrimPrefix(ts.url, "http://")
	tests := []struct {
		name   string
		raw    string
		status int
	}{
		{"malformed header after the token", "GET /v2/images HTTP/1.1\r\nHost: x\r\nX-Auth-Token: " + canary + "\r\nBad Header\r\n\r\n", 400},
		{"control byte in the token", "GET /v2/images HTTP/1.1\r\nHost: x\r\nX-Auth-Token: " + canary + "\x01\r\n\r\n", 400},
		{"space before the colon", "GET /v2/images HTTP/1.1\r\nHost: x\r\nX-Auth-Token : " + canary + "\r\n\r\n", 400},
		{"bad request line with a signature", "GET /v2/images?sig=" + canary + " HTTP/1.1 x\r\nHost: x\r\n\r\n", 400},
		{"userinfo in an absolute URI", "GET http://u:" + canary + "@x/v2/images HTTP/1.1\r\nHost: x\r\n\r\n", 401},
		{"signed query", "GET /v2/images?temp_url_sig=" + canary + "&X-Amz-Signature=" + canary + " HTTP/1.1\r\nHost: x\r\n\r\n", 401},
		{"token in a chunk extension", "PUT /v2/images/x/file HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n5;" + canary + "\x01\r\nhello\r\n0\r\n\r\n", 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			logs.mu.Lock()
			logs.b.Reset()
			logs.mu.Unlock()
			c, err := net.Dial("tcp", addr)
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			if _, err := io.WriteString(c, tt.raw); err != nil {
				t.Fatal(err)
			}
			c.(*net.TCPConn).CloseWrite()
			answer, _ := io.ReadAll(c)
			if tt.status != 0 && !strings.HasPrefix(string(answer), fmt.Sprintf("HTTP/1.1 %d ", tt.status)) {
				t.Errorf("answer %q, want status %d", answer, tt.status)
			}
			// The server logs a connection's error before it closes it:
			// the log is complete once the answer has ended.
			logs.mu.Lock()
			defer logs.mu.Unlock()
			for _, line := range strings.Split(logs.b.String(), "\n") {
				if strings.Contains(line, canary) {
					t.Errorf("the credential is in a log line: %s", line)
				}
			}
		})
	}
}

// failingStore fails every image lookup with an error of its own: a 500.
// It stands in for the images only (Catalog.Images).
type failingStore struct{ *local.Store }

func (failingStore) Image(context.Context, string) (*backends.Image, error) {
	return nil, errors.New("the disk is on fire")
}

// TestInternalErrorLogged: the cause of a 500 goes to the server's logger
// (Config.Logger, not the process's default), with the request's id.
func TestInternalErrorLogged(t *testing.T) {
	logs := &syncBuffer{}
	log := slog.New(logctx.NewHandler(slog.NewJSONHandler(logs, nil)))
	store, err := local.Open(t.TempDir(), local.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	auth, _ := policy.NewAuthenticator("noauth")
	cat := gateway.CatalogOf(store)
	cat.Images = failingStore{store}
	srv, err := gateway.New(gateway.Config{Logger: log}, cat, auth)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go srv.Serve(ln)
	defer srv.Shutdown(t.Context())
	ts := &testServer{url: "http://" + ln.Addr().String(), srv: srv, store: store}
	resp, _ := ts.do(t, as{}, "GET", "/v2/images/0b7d4c1e-5a8f-4a44-9d0e-5c2f7b1b2a10", nil)
	if resp.StatusCode != 500 {
		t.Fatalf("status %d, want 500", resp.StatusCode)
	}
	lines := logs.lines(t)
	if len(lines) != 1 || lines[0]["msg"] != "internal error" || lines[0]["err"] != "the disk is on fire" ||
		lines[0][logctx.Attr] != resp.Header.Get("X-Openstack-Request-Id") {
		t.Errorf("log %v, want one internal error line with the cause and the request id", lines)
	}
}
