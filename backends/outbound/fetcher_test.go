package outbound

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
)

// server is a loopback HTTP server that counts its requests.
type server struct {
	*httptest.Server
	hits atomic.Int64
	port int
}

func newServer(t *testing.T, h http.HandlerFunc) *server {
	t.Helper()
	s := &server{}
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.hits.Add(1)
		h(w, r)
	}))
	t.Cleanup(s.Close)
	u, _ := url.Parse(s.URL)
	s.port, _ = strconv.Atoi(u.Port())
	return s
}

func data(w http.ResponseWriter, r *http.Request) {
	io.WriteString(w, "image bytes; token="+r.Header.Get("X-Auth-Token"))
}

// redirectTo redirects /start to target and serves data elsewhere.
func redirectTo(target string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/start" {
			data(w, r)
			return
		}
		http.Redirect(w, r, target, http.StatusFound)
	}
}

func get(t *testing.T, f *Fetcher, uri string) (string, error) {
	t.Helper()
	resp, err := f.Get(context.Background(), uri)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return string(b), err
}

// TestRedirects: every hop is checked as the first URL; allowed_hosts is
// what lets these tests reach their own loopback servers at all.
func TestRedirects(t *testing.T) {
	target := newServer(t, data)   // an allowed host and port
	internal := newServer(t, data) // a port not allowed: stands for the admin listener
	loop := newServer(t, func(w http.ResponseWriter, r *http.Request) { http.Redirect(w, r, "/again", http.StatusFound) })
	hop := func(to string) *server { return newServer(t, redirectTo(to)) }

	tests := []struct {
		name      string
		start     *server
		refused   bool   // a refusal (ErrRefused) of a hop
		errSubstr string // else an error containing this, or "" for success
	}{
		{name: "relative redirect", start: hop("/img")},
		{name: "to an allowed host and port", start: hop(target.URL + "/img")},
		{name: "to a port not allowed", start: hop(internal.URL + "/metrics"), refused: true},
		{name: "to a host not allowed", start: hop("http://localhost:" + strconv.Itoa(target.port) + "/img"), refused: true},
		{name: "to an encoded address", start: hop("http://127.1:" + strconv.Itoa(target.port) + "/img"), refused: true},
		{name: "to a decimal address", start: hop("http://2130706433:" + strconv.Itoa(target.port) + "/img"), refused: true},
		{name: "to the metadata service", start: hop("http://169.254.169.254/latest/meta-data/"), refused: true},
		{name: "to a file", start: hop("file:///etc/passwd"), refused: true},
		{name: "to ftp", start: hop("ftp://127.0.0.1/x"), refused: true},
		{name: "a loop", start: loop, errSubstr: "stopped after 10 redirects"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			allowedPorts := []int{target.port, tt.start.port, loop.port}
			f := mustNew(t, Filter{AllowedHosts: []string{"127.0.0.1"}, AllowedPorts: allowedPorts})
			internalHits := internal.hits.Load()
			body, err := get(t, f, tt.start.URL+"/start")
			switch {
			case tt.refused:
				var r *RefusedError
				if !errors.As(err, &r) || !r.Redirect || !errors.Is(err, ErrRefused) {
					t.Fatalf("got %q, %v; want a refused redirect", body, err)
				}
				if !strings.HasPrefix(err.Error(), "Redirect to disallowed URL: ") {
					t.Errorf("message %q", err)
				}
			case tt.errSubstr != "":
				if err == nil || !strings.Contains(err.Error(), tt.errSubstr) {
					t.Fatalf("got %q, %v; want an error with %q", body, err, tt.errSubstr)
				}
			case err != nil:
				t.Fatalf("got %v; want the data", err)
			}
			if got := internal.hits.Load(); got != internalHits {
				t.Errorf("the server on a port not allowed got %d requests", got-internalHits)
			}
		})
	}
	if got, want := loop.hits.Load(), int64(11); got != want {
		t.Errorf("the loop served %d requests, want %d (the first and 10 redirects)", got, want)
	}
}

// TestRedirectDropsToken: a token header set for the first host is not
// sent to another host a redirect names, and is kept on the same host.
func TestRedirectDropsToken(t *testing.T) {
	target := newServer(t, data)
	other := newServer(t, redirectTo("http://localhost:"+strconv.Itoa(target.port)+"/img"))
	same := newServer(t, redirectTo("/img"))
	f := mustNew(t, Filter{AllowedHosts: []string{"127.0.0.1", "localhost"}, AllowedPorts: []int{target.port, other.port, same.port}})
	for _, tt := range []struct {
		start *server
		want  string
	}{{other, "image bytes; token="}, {same, "image bytes; token=secret"}} {
		req, _ := http.NewRequestWithContext(context.Background(), "GET", tt.start.URL+"/start", nil)
		req.Header.Set("X-Auth-Token", "secret")
		resp, err := f.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if got := string(b); got != tt.want {
			t.Errorf("got %q, want %q", got, tt.want)
		}
	}
}

// TestDefaultsRefuseLoopback: with Glance's defaults and the test server's
// port allowed, neither the address nor a name resolving to it reaches
// the server.
func TestDefaultsRefuseLoopback(t *testing.T) {
	srv := newServer(t, data)
	filter := GlanceDefaults()
	filter.AllowedPorts = append(filter.AllowedPorts, srv.port)
	f, err := New(Options{Filter: filter, Resolver: staticResolver{"mirror.example": {"127.0.0.1"}, "v6.example": {"::1"}}})
	if err != nil {
		t.Fatal(err)
	}
	for _, uri := range []string{
		srv.URL + "/img",
		"http://localhost:" + strconv.Itoa(srv.port) + "/img",
		"http://mirror.example:" + strconv.Itoa(srv.port) + "/img",
		"http://v6.example:" + strconv.Itoa(srv.port) + "/img",
	} {
		if _, err := get(t, f, uri); !errors.Is(err, ErrRefused) {
			t.Errorf("GET %s: %v; want ErrRefused", uri, err)
		}
	}
	if got := srv.hits.Load(); got != 0 {
		t.Errorf("the loopback server got %d requests", got)
	}
}

func TestStatusError(t *testing.T) {
	srv := newServer(t, http.NotFound)
	f := mustNew(t, Filter{AllowedHosts: []string{"127.0.0.1"}})
	_, err := get(t, f, "http://user:secret@"+strings.TrimPrefix(srv.URL, "http://")+"/missing")
	var se *StatusError
	if !errors.As(err, &se) || se.Code != 404 {
		t.Fatalf("got %v; want a 404 StatusError", err)
	}
	if strings.Contains(err.Error(), "secret") {
		t.Errorf("the password is in %q", err)
	}
}

// TestDNSRebinding: a name that resolves to a public address when it is
// checked and to loopback when it is dialled (DNS rebinding) cannot reach
// loopback: each connection resolves once and dials exactly the addresses
// it checked, and a new connection checks its own answer.
func TestDNSRebinding(t *testing.T) {
	srv := newServer(t, data)
	public := netip.MustParseAddr("203.0.113.10") // TEST-NET-3: stands for a public server
	rebind := &rebindingResolver{answers: [][]netip.Addr{
		{public},
		{netip.MustParseAddr("127.0.0.1")},
		{public, netip.MustParseAddr("169.254.169.254")},
	}}
	f, err := New(Options{Filter: Filter{AllowedPorts: []int{srv.port}}, Resolver: rebind})
	if err != nil {
		t.Fatal(err)
	}
	// The test cannot reach 203.0.113.10: what the dialler was asked for
	// is recorded, and the connection goes to the loopback server instead.
	var mu sync.Mutex
	var dialled []string
	f.dialAddr = func(ctx context.Context, _ *net.Dialer, network, addr string) (net.Conn, error) {
		mu.Lock()
		dialled = append(dialled, addr)
		mu.Unlock()
		var d net.Dialer
		return d.DialContext(ctx, network, srv.Listener.Addr().String())
	}
	uri := "http://rebind.example:" + strconv.Itoa(srv.port) + "/img"

	if _, err := get(t, f, uri); err != nil {
		t.Fatalf("first fetch (public answer): %v", err)
	}
	for i := 2; i <= 3; i++ {
		f.client.CloseIdleConnections() // a new connection, so a new lookup
		if _, err := get(t, f, uri); !errors.Is(err, ErrRefused) {
			t.Fatalf("fetch %d (an internal address in the answer): %v; want ErrRefused", i, err)
		}
	}
	want := "203.0.113.10:" + strconv.Itoa(srv.port)
	if got := strings.Join(dialled, " "); got != want {
		t.Errorf("dialled %q, want only %q", got, want)
	}
	if got, want := rebind.calls.Load(), int64(3); got != want {
		t.Errorf("%d lookups, want %d (one per connection)", got, want)
	}
}

// rebindingResolver answers each lookup with the next of its answers.
type rebindingResolver struct {
	answers [][]netip.Addr
	calls   atomic.Int64
}

func (r *rebindingResolver) LookupNetIP(ctx context.Context, network, host string) ([]netip.Addr, error) {
	n := r.calls.Add(1)
	return r.answers[min(int(n), len(r.answers))-1], nil
}

// staticResolver answers from a table.
type staticResolver map[string][]string

func (s staticResolver) LookupNetIP(ctx context.Context, network, host string) ([]netip.Addr, error) {
	var out []netip.Addr
	for _, a := range s[host] {
		out = append(out, netip.MustParseAddr(a))
	}
	if out == nil {
		return nil, &net.DNSError{Err: "no such host", Name: host, IsNotFound: true}
	}
	return out, nil
}
