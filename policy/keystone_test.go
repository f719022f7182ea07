package policy_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"

	"github.com/spyglass-gateway/spyglass/backends/local"
	"github.com/spyglass-gateway/spyglass/gateway"
	"github.com/spyglass-gateway/spyglass/policy"
	"github.com/spyglass-gateway/spyglass/policy/keystonetest"
)

// hdr is a request's headers as an Authenticator reads them.
type hdr map[string]string

func (h hdr) Peek(k string) []byte {
	v, ok := h[k]
	if !ok {
		return nil
	}
	return []byte(v)
}

func tokenHdr(tok string) hdr { return hdr{"X-Auth-Token": tok} }

// tokenCounter is a reverse proxy in front of the real Keystone that
// counts token validations (GET /v3/auth/tokens), so a test can tell a
// cached verdict from a Keystone call.
type tokenCounter struct {
	url        string
	validation atomic.Int64
}

func countValidations(t *testing.T, target string) *tokenCounter {
	t.Helper()
	u, err := url.Parse(target)
	if err != nil {
		t.Fatal(err)
	}
	c := &tokenCounter{}
	proxy := httputil.NewSingleHostReverseProxy(u)
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodGet && strings.HasSuffix(r.URL.Path, "/v3/auth/tokens") {
			c.validation.Add(1)
		}
		proxy.ServeHTTP(w, r)
	})}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	c.url = "http://" + ln.Addr().String()
	return c
}

// service is the gateway's service user: admin on project service, as a
// Glance's keystone_authtoken user is.
func serviceUser(t testing.TB, ks *keystonetest.Keystone) policy.KeystoneConfig {
	t.Helper()
	ctx := context.Background()
	pid, err := ks.CreateProject(ctx, "service")
	if err != nil {
		t.Fatal(err)
	}
	u, err := ks.CreateUser(ctx, "spyglass", "spyglass-pw")
	if err != nil {
		t.Fatal(err)
	}
	if err := ks.Grant(ctx, u.ID, pid, "admin"); err != nil {
		t.Fatal(err)
	}
	return policy.KeystoneConfig{
		AuthURL: ks.AuthURL(), Username: "spyglass", Password: "spyglass-pw", ProjectName: "service",
		UserDomainName: "Default", ProjectDomainName: "Default",
		// A real Keystone (uwsgi, Python) on a loaded 2-core machine can
		// take more than the 5 s default to log in or validate; the tests
		// about timeouts set their own.
		Timeout: time.Minute,
	}
}

func newKeystone(t testing.TB, cfg policy.KeystoneConfig) *policy.Keystone {
	t.Helper()
	k, err := policy.NewKeystone(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(k.Close)
	return k
}

func mustAuth(t *testing.T, k *policy.Keystone, tok string) policy.Identity {
	t.Helper()
	id, err := k.Authenticate(context.Background(), tokenHdr(tok))
	if err != nil {
		t.Fatalf("Authenticate: %v", err)
	}
	return id
}

func wantChallenge(t *testing.T, err error, uri string) {
	t.Helper()
	var c *policy.KeystoneChallenge
	if !errors.As(err, &c) || !errors.Is(err, policy.ErrUnauthenticated) {
		t.Fatalf("err = %v, want a 401 challenge", err)
	}
	if got, want := c.WWWAuthenticate, `Keystone uri="`+uri+`"`; got != want {
		t.Fatalf("WWW-Authenticate = %q, want %q", got, want)
	}
}

// TestKeystone runs the keystone-mode authenticator against one real
// Keystone: projects A and B, a member of each, an admin and a reader.
// The outage subtests stop Keystone and come last.
func TestKeystone(t *testing.T) {
	ks := keystonetest.StartT(t)
	ctx := context.Background()
	fx := ks.FixtureT(t)
	svc := serviceUser(t, ks)

	t.Run("project-scoped tokens", func(t *testing.T) {
		k := newKeystone(t, svc)
		for _, c := range []struct {
			name    string
			user    keystonetest.User
			project string
			roles   []string
		}{
			{"member of A", fx.MemberA, fx.ProjectA, []string{"member", "reader"}},
			{"member of B", fx.MemberB, fx.ProjectB, []string{"member", "reader"}},
			{"admin of A", fx.Admin, fx.ProjectA, []string{"admin", "member", "reader"}},
			{"reader of A", fx.Reader, fx.ProjectA, []string{"reader"}},
		} {
			t.Run(c.name, func(t *testing.T) {
				tok, err := ks.ProjectToken(ctx, c.user, c.project)
				if err != nil {
					t.Fatal(err)
				}
				id, err := k.Authenticate(ctx, hdr{"X-Auth-Token": tok.ID, "X-Openstack-Request-Id": "req-abc"})
				if err != nil {
					t.Fatal(err)
				}
				if id.UserID != c.user.ID || id.ProjectID != c.project || id.DomainID != "" {
					t.Errorf("identity user %q project %q domain %q, want %q %q and no domain", id.UserID, id.ProjectID, id.DomainID, c.user.ID, c.project)
				}
				if id.UserDomainID != "default" || id.ProjectDomainID != "default" {
					t.Errorf("user domain %q, project domain %q, want default", id.UserDomainID, id.ProjectDomainID)
				}
				roles := slices.Sorted(slices.Values(id.Roles))
				if !slices.Equal(roles, c.roles) {
					t.Errorf("roles %v, want %v", roles, c.roles)
				}
				if id.IsAdmin {
					t.Error("IsAdmin set by the authenticator; the gateway decides it from context_is_admin")
				}
				if id.Token != tok.ID {
					t.Error("Identity.Token is not the caller's token")
				}
				if string(id.RequestID) != "req-abc" {
					t.Errorf("RequestID %q", id.RequestID)
				}
			})
		}
	})

	t.Run("domain-scoped token", func(t *testing.T) {
		k := newKeystone(t, svc)
		if err := ks.GrantDomain(ctx, fx.Admin.ID, keystonetest.DefaultDomain, "admin"); err != nil {
			t.Fatal(err)
		}
		tok, err := ks.DomainToken(ctx, fx.Admin, keystonetest.DefaultDomain)
		if err != nil {
			t.Fatal(err)
		}
		id := mustAuth(t, k, tok.ID)
		if id.ProjectID != "" || id.DomainID != "default" || id.UserID != fx.Admin.ID {
			t.Errorf("domain-scoped identity: user %q project %q domain %q", id.UserID, id.ProjectID, id.DomainID)
		}
		if !id.HasRole("admin") {
			t.Errorf("roles %v, want admin", id.Roles)
		}
	})

	t.Run("missing and malformed tokens", func(t *testing.T) {
		k := newKeystone(t, svc)
		for name, h := range map[string]hdr{
			"no header":        {},
			"empty":            {"X-Auth-Token": ""},
			"garbage":          {"X-Auth-Token": "garbage"},
			"fernet-shaped":    {"X-Auth-Token": "gAAAAABh" + strings.Repeat("A", 180)},
			"control bytes":    {"X-Auth-Token": "abc\x01\x7fdef"},
			"non-ascii":        {"X-Auth-Token": "tökén"},
			"very long":        {"X-Auth-Token": strings.Repeat("x", 16<<10)},
			"storage, garbage": {"X-Storage-Token": "garbage"},
		} {
			t.Run(name, func(t *testing.T) {
				_, err := k.Authenticate(ctx, h)
				wantChallenge(t, err, svc.AuthURL)
			})
		}
		tok := ks.ProjectTokenT(t, fx.MemberA, fx.ProjectA)
		if id := mustAuthHdr(t, k, hdr{"X-Storage-Token": tok}); id.UserID != fx.MemberA.ID {
			t.Errorf("X-Storage-Token: user %q", id.UserID)
		}
		// A long request id is Glance's 431, after the token is accepted.
		_, err := k.Authenticate(ctx, hdr{"X-Auth-Token": tok, "X-Openstack-Request-Id": strings.Repeat("r", 65)})
		if !errors.Is(err, policy.ErrRequestIDTooLong) {
			t.Errorf("long request id: %v", err)
		}
	})

	t.Run("www_authenticate_uri", func(t *testing.T) {
		cfg := svc
		cfg.WWWAuthenticateURI = "https://keystone.example.com/v3"
		_, err := newKeystone(t, cfg).Authenticate(ctx, hdr{})
		wantChallenge(t, err, cfg.WWWAuthenticateURI)
	})

	t.Run("token validation spans", func(t *testing.T) {
		exp := tracetest.NewInMemoryExporter()
		tp := sdktrace.NewTracerProvider(sdktrace.WithSyncer(exp))
		reqCtx, req := tp.Tracer("test").Start(ctx, "request")
		cfg := svc
		k := newKeystone(t, cfg)
		tok := ks.ProjectTokenT(t, fx.MemberB, fx.ProjectB)
		for range 2 {
			if _, err := k.Authenticate(reqCtx, tokenHdr(tok)); err != nil {
				t.Fatal(err)
			}
		}
		// Without a span in the context: no span.
		mustAuth(t, k, tok)
		req.End()
		var hits []string
		for _, s := range exp.GetSpans() {
			if s.Name != "keystone.validate_token" {
				continue
			}
			if s.Parent.SpanID() != req.SpanContext().SpanID() {
				t.Errorf("validation span's parent %s, want the request's %s", s.Parent.SpanID(), req.SpanContext().SpanID())
			}
			for _, kv := range s.Attributes {
				if kv.Key == "spyglass.cache.hit" {
					hits = append(hits, kv.Value.Emit())
				}
			}
		}
		if got, want := strings.Join(hits, ","), "false,true"; got != want {
			t.Errorf("validation spans' spyglass.cache.hit: %q, want %q (a Keystone call, then the cached verdict)", got, want)
		}
	})

	t.Run("one validation per token", func(t *testing.T) {
		counter := countValidations(t, ks.URL)
		cfg := svc
		cfg.AuthURL = counter.url + "/v3"
		k := newKeystone(t, cfg)
		tok := ks.ProjectTokenT(t, fx.MemberB, fx.ProjectB)
		var wg sync.WaitGroup
		errs := make(chan error, 32)
		for range 32 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				_, err := k.Authenticate(ctx, tokenHdr(tok))
				errs <- err
			}()
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			if err != nil {
				t.Fatal(err)
			}
		}
		for range 100 {
			mustAuth(t, k, tok)
		}
		if got := counter.validation.Load(); got != 1 {
			t.Errorf("%d Keystone validations for 132 requests with one token, want 1", got)
		}
		// Rejections are cached too, briefly.
		for range 5 {
			_, err := k.Authenticate(ctx, tokenHdr("not-a-token"))
			wantChallenge(t, err, cfg.AuthURL)
		}
		if got := counter.validation.Load(); got != 2 {
			t.Errorf("%d Keystone validations after 5 requests with one bad token, want 2", got)
		}
		// The token cache's counters: every lookup is a hit or a miss; the
		// misses are the concurrent first calls (which waited for the one
		// validation) and the bad token's first.
		lookups := int64(32 + 100 + 5)
		if s := k.TokenCacheStats(); s.Hits+s.Misses != lookups || s.Misses < 2 || s.Misses > 33 {
			t.Errorf("TokenCacheStats() = %+v after %d lookups of two tokens", s, lookups)
		}
	})

	t.Run("revoked token", func(t *testing.T) {
		fresh := svc
		fresh.TokenCacheTTL = 500 * time.Millisecond
		kFresh := newKeystone(t, fresh)
		cached := svc
		cached.TokenCacheTTL = time.Hour
		kCached := newKeystone(t, cached)

		tok := ks.ProjectTokenT(t, fx.MemberA, fx.ProjectA)
		mustAuth(t, kFresh, tok)
		mustAuth(t, kCached, tok)
		if err := ks.RevokeToken(ctx, tok); err != nil {
			t.Fatal(err)
		}
		// A gateway that never saw it: Keystone says no.
		_, err := newKeystone(t, svc).Authenticate(ctx, tokenHdr(tok))
		wantChallenge(t, err, svc.AuthURL)
		// Within token_cache_ttl the verdict stands (keystonemiddleware's
		// cache does the same); after it, the revocation is seen.
		mustAuth(t, kCached, tok)
		time.Sleep(fresh.TokenCacheTTL + 100*time.Millisecond)
		_, err = kFresh.Authenticate(ctx, tokenHdr(tok))
		wantChallenge(t, err, svc.AuthURL)
	})

	t.Run("role changes after the cache bound", func(t *testing.T) {
		u, err := ks.CreateUser(ctx, "changer", "changer-pw")
		if err != nil {
			t.Fatal(err)
		}
		if err := ks.Grant(ctx, u.ID, fx.ProjectB, "reader"); err != nil {
			t.Fatal(err)
		}
		cfg := svc
		cfg.TokenCacheTTL = 500 * time.Millisecond
		k := newKeystone(t, cfg)
		tok := ks.ProjectTokenT(t, u, fx.ProjectB)
		if id := mustAuth(t, k, tok); !slices.Equal(id.Roles, []string{"reader"}) {
			t.Fatalf("roles %v, want [reader]", id.Roles)
		}
		if err := ks.Grant(ctx, u.ID, fx.ProjectB, "member"); err != nil {
			t.Fatal(err)
		}
		time.Sleep(cfg.TokenCacheTTL + 100*time.Millisecond)
		if id := mustAuth(t, k, tok); !id.HasRole("member") {
			t.Fatalf("after granting member: roles %v", id.Roles)
		}
		// Without any role on the project its tokens are no longer valid.
		for _, r := range []string{"member", "reader"} {
			if err := ks.Ungrant(ctx, u.ID, fx.ProjectB, r); err != nil {
				t.Fatal(err)
			}
		}
		time.Sleep(cfg.TokenCacheTTL + 100*time.Millisecond)
		_, err = k.Authenticate(ctx, tokenHdr(tok))
		wantChallenge(t, err, cfg.AuthURL)
	})

	t.Run("image endpoint from the catalog", func(t *testing.T) {
		if err := ks.RegisterEndpoint(ctx, "image", "glance", "RegionTwo", "internal", "http://127.0.0.1:19292/"); err != nil {
			t.Fatal(err)
		}
		if err := ks.RegisterEndpoint(ctx, "image", "glance", "RegionTwo", "public", "https://images.example.com"); err != nil {
			t.Fatal(err)
		}
		for _, c := range []struct{ region, iface, want string }{
			{"RegionTwo", "internal", "http://127.0.0.1:19292"},
			{"RegionTwo", "public", "https://images.example.com"},
			{"RegionTwo", "", "https://images.example.com"},
		} {
			got, err := policy.ImageEndpoint(ctx, svc, c.region, c.iface)
			if err != nil || got != c.want {
				t.Errorf("ImageEndpoint(%s, %q) = %q, %v; want %q", c.region, c.iface, got, err, c.want)
			}
		}
		for _, c := range []struct{ region, iface, want string }{
			{"RegionTwo", "admin", "no image endpoint for region \"RegionTwo\" and interface admin"},
			{"RegionOne", "public", "no image endpoint for region \"RegionOne\""},
			{"RegionTwo", "private", `interface "private"`},
		} {
			if _, err := policy.ImageEndpoint(ctx, svc, c.region, c.iface); err == nil || !strings.Contains(err.Error(), c.want) {
				t.Errorf("ImageEndpoint(%s, %s) error %v, want it to say %q", c.region, c.iface, err, c.want)
			}
		}
		bad := svc
		bad.Password = "wrong"
		if _, err := policy.ImageEndpoint(ctx, bad, "RegionTwo", "public"); err == nil || !strings.Contains(err.Error(), "service login") {
			t.Errorf("wrong password: %v", err)
		}
	})

	t.Run("wrong service password is 503, not 401", func(t *testing.T) {
		cfg := svc
		cfg.Password = "wrong"
		tok := ks.ProjectTokenT(t, fx.MemberA, fx.ProjectA)
		_, err := newKeystone(t, cfg).Authenticate(ctx, tokenHdr(tok))
		if !errors.Is(err, policy.ErrKeystoneUnavailable) {
			t.Fatalf("err = %v, want ErrKeystoneUnavailable", err)
		}
	})

	t.Run("gateway", func(t *testing.T) { testGateway(t, ks, fx, svc) })

	// Last: these stop Keystone.
	t.Run("keystone stopped", func(t *testing.T) {
		cfg := svc
		cfg.TokenCacheTTL = 300 * time.Millisecond
		cfg.BreakerOpen = time.Hour
		k := newKeystone(t, cfg)
		known := ks.ProjectTokenT(t, fx.MemberA, fx.ProjectA)
		unknown := ks.ProjectTokenT(t, fx.MemberB, fx.ProjectB)
		mustAuth(t, k, known)

		ks.Stop()
		time.Sleep(cfg.TokenCacheTTL + 100*time.Millisecond)
		// Past the cache bound, Keystone cannot be asked: the token was
		// valid and has not expired, so it keeps working.
		if id := mustAuth(t, k, known); id.UserID != fx.MemberA.ID {
			t.Fatalf("known token while Keystone is down: user %q", id.UserID)
		}
		if got := k.BreakerState(); got != "open" {
			t.Errorf("breaker %s after a refused connection, want open", got)
		}
		_, err := k.Authenticate(ctx, tokenHdr(unknown))
		if !errors.Is(err, policy.ErrKeystoneUnavailable) || errors.Is(err, policy.ErrUnauthenticated) {
			t.Fatalf("new token while Keystone is down: %v, want ErrKeystoneUnavailable", err)
		}

		// Keystone back: after the breaker's open time one validation goes
		// through and new tokens work again.
		cfg2 := svc
		cfg2.BreakerOpen = 200 * time.Millisecond
		k2 := newKeystone(t, cfg2)
		if _, err := k2.Authenticate(ctx, tokenHdr(unknown)); !errors.Is(err, policy.ErrKeystoneUnavailable) {
			t.Fatalf("new token while Keystone is down: %v", err)
		}
		if err := ks.Restart(ctx); err != nil {
			t.Fatal(err)
		}
		time.Sleep(cfg2.BreakerOpen + 100*time.Millisecond)
		if id := mustAuth(t, k2, unknown); id.UserID != fx.MemberB.ID {
			t.Fatalf("after restart: user %q", id.UserID)
		}
		if got := k2.BreakerState(); got != "closed" {
			t.Errorf("breaker %s after Keystone came back, want closed", got)
		}
	})
}

func mustAuthHdr(t *testing.T, k *policy.Keystone, h hdr) policy.Identity {
	t.Helper()
	id, err := k.Authenticate(context.Background(), h)
	if err != nil {
		t.Fatalf("Authenticate: %v", err)
	}
	return id
}

// A Keystone that accepts connections and never answers costs one timeout:
// the breaker opens and the next new tokens are refused (503) without
// another connection.
func TestKeystoneHangingCostsOneTimeout(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var conns atomic.Int64
	var held []net.Conn
	var mu sync.Mutex
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			conns.Add(1)
			mu.Lock()
			held = append(held, c)
			mu.Unlock()
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		mu.Lock()
		for _, c := range held {
			c.Close()
		}
		mu.Unlock()
	})
	k := newKeystone(t, policy.KeystoneConfig{
		AuthURL: "http://" + ln.Addr().String() + "/v3", Username: "u", Password: "p", ProjectName: "service",
		Timeout: 300 * time.Millisecond, BreakerOpen: time.Hour,
	})
	for i := range 5 {
		_, err := k.Authenticate(context.Background(), tokenHdr("token-"+string(rune('a'+i))))
		if !errors.Is(err, policy.ErrKeystoneUnavailable) {
			t.Fatalf("token %d: %v, want ErrKeystoneUnavailable", i, err)
		}
	}
	if got := conns.Load(); got != 1 {
		t.Errorf("%d connections to the hanging Keystone for 5 new tokens, want 1", got)
	}
	if got := k.BreakerState(); got != "open" {
		t.Errorf("breaker %s, want open", got)
	}
}

// An expired token is refused even while its verdict is cached, and by a
// gateway that never saw it. The Keystone here issues tokens that live a
// few seconds ([token] expiration).
func TestKeystoneExpiredToken(t *testing.T) {
	ks := keystonetest.StartTWith(t, keystonetest.Options{TokenExpiration: 15 * time.Second})
	ctx := context.Background()
	fx := ks.FixtureT(t)
	svc := serviceUser(t, ks)
	svc.TokenCacheTTL = time.Hour // the expiry, not the bound, ends the verdict
	k := newKeystone(t, svc)

	// On a loaded machine a token has expired before its first check
	// (the service login and the validation took longer than its life):
	// then take a new one.
	var tok keystonetest.Token
	for attempt := 1; ; attempt++ {
		var err error
		if tok, err = ks.ProjectToken(ctx, fx.MemberA, fx.ProjectA); err != nil {
			t.Fatal(err)
		}
		_, err = k.Authenticate(ctx, tokenHdr(tok.ID))
		if err == nil {
			break
		}
		if time.Now().Before(tok.ExpiresAt) || attempt == 5 {
			t.Fatalf("fresh token: %v (it expires at %v)", err, tok.ExpiresAt)
		}
		t.Logf("token expired before its first check (%v); another", tok.ExpiresAt)
	}
	time.Sleep(time.Until(tok.ExpiresAt) + 200*time.Millisecond)
	_, err := k.Authenticate(ctx, tokenHdr(tok.ID))
	wantChallenge(t, err, svc.AuthURL)
	// The service user's own token expired too: gophercloud logs in again.
	_, err = newKeystone(t, svc).Authenticate(ctx, tokenHdr(tok.ID))
	wantChallenge(t, err, svc.AuthURL)
	tok2 := ks.ProjectTokenT(t, fx.MemberB, fx.ProjectB)
	if id := mustAuth(t, k, tok2); id.ProjectID != fx.ProjectB {
		t.Errorf("new token after the service token expired: project %q", id.ProjectID)
	}
}

// testGateway serves the embedded store with keystone auth: 401 with
// WWW-Authenticate and keystonemiddleware's body without a token, and an
// authenticated create, show and list with one.
func testGateway(t *testing.T, ks *keystonetest.Keystone, fx *keystonetest.Fixture, svc policy.KeystoneConfig) {
	store, err := local.Open(t.TempDir(), local.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	auth, err := policy.NewAuthenticator("keystone", svc)
	if err != nil {
		t.Fatal(err)
	}
	defer auth.(*policy.Keystone).Close()
	srv, err := gateway.New(gateway.Config{Policy: policy.MustNew(policy.Options{})}, gateway.CatalogOf(store), auth)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go srv.Serve(ln)
	defer srv.Shutdown(context.Background())
	base := "http://" + ln.Addr().String()
	do := func(method, path, token string, body string) (*http.Response, []byte) {
		t.Helper()
		var rd io.Reader
		if body != "" {
			rd = strings.NewReader(body)
		}
		req, _ := http.NewRequest(method, base+path, rd)
		if token != "" {
			req.Header.Set("X-Auth-Token", token)
		}
		if body != "" {
			req.Header.Set("Content-Type", "application/json")
		}
		req.Header.Set("Accept", "text/html")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		return resp, b
	}

	for _, tok := range []string{"", "garbage"} {
		resp, body := do("GET", "/v2/images", tok, "")
		if resp.StatusCode != 401 {
			t.Fatalf("token %q: %d %s", tok, resp.StatusCode, body)
		}
		if got, want := resp.Header.Get("WWW-Authenticate"), `Keystone uri="`+svc.AuthURL+`"`; got != want {
			t.Errorf("WWW-Authenticate %q, want %q", got, want)
		}
		if got := resp.Header.Get("Content-Type"); got != "application/json" {
			t.Errorf("401 Content-Type %q", got)
		}
		if string(body) != policy.KeystoneUnauthorizedBody {
			t.Errorf("401 body %s", body)
		}
	}
	// Discovery needs no token, as in Glance (version negotiation comes
	// before authtoken).
	if resp, _ := do("GET", "/versions", "", ""); resp.StatusCode != 200 {
		t.Errorf("GET /versions without a token: %d", resp.StatusCode)
	}

	tokA := ks.ProjectTokenT(t, fx.MemberA, fx.ProjectA)
	tokB := ks.ProjectTokenT(t, fx.MemberB, fx.ProjectB)
	resp, body := do("POST", "/v2/images", tokA, `{"name": "from-a", "disk_format": "raw", "container_format": "bare"}`)
	if resp.StatusCode != 201 {
		t.Fatalf("create as member of A: %d %s", resp.StatusCode, body)
	}
	var img struct{ ID, Owner string }
	if err := json.Unmarshal(body, &img); err != nil {
		t.Fatal(err)
	}
	if img.Owner != fx.ProjectA {
		t.Errorf("owner %q, want project A %q", img.Owner, fx.ProjectA)
	}
	if resp, body := do("GET", "/v2/images/"+img.ID, tokA, ""); resp.StatusCode != 200 {
		t.Errorf("show as A: %d %s", resp.StatusCode, body)
	}
	if resp, _ := do("GET", "/v2/images/"+img.ID, tokB, ""); resp.StatusCode != 404 {
		t.Errorf("show A's private image as B: %d, want 404", resp.StatusCode)
	}
	if _, body := do("GET", "/v2/images", tokA, ""); !bytes.Contains(body, []byte(img.ID)) {
		t.Errorf("A's list lacks its image: %s", body)
	}
	if _, body := do("GET", "/v2/images", tokB, ""); bytes.Contains(body, []byte(img.ID)) {
		t.Errorf("B's list shows A's private image: %s", body)
	}
}

// With Keystone unreachable a new token gets keystonemiddleware's 503
// (webob's page with its detail), not a 500 and not a 401.
func TestKeystoneUnreachableGateway503(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close() // connection refused from now on
	k := newKeystone(t, policy.KeystoneConfig{AuthURL: "http://" + addr + "/v3", Username: "u", Password: "p", ProjectName: "service"})
	store, err := local.Open(t.TempDir(), local.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	srv, err := gateway.New(gateway.Config{Policy: policy.MustNew(policy.Options{})}, gateway.CatalogOf(store), k)
	if err != nil {
		t.Fatal(err)
	}
	gl, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go srv.Serve(gl)
	defer srv.Shutdown(context.Background())
	req, _ := http.NewRequest("GET", "http://"+gl.Addr().String()+"/v2/images", nil)
	req.Header.Set("X-Auth-Token", "gAAAAABsometoken")
	req.Header.Set("Accept", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	// What keystonemiddleware (Debian's, in front of any WSGI app) answers.
	want := `{"message": "The server is currently unavailable. Please try again at a later time.<br /><br />\nThe Keystone service is temporarily unavailable.\n\n", "code": "503 Service Unavailable", "title": "Service Unavailable"}`
	if resp.StatusCode != 503 || string(body) != want {
		t.Fatalf("%d %s\nwant 503 %s", resp.StatusCode, body, want)
	}
}
