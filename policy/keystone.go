package policy

import (
	"context"
	"errors"
	"fmt"
	"hash/maphash"
	"log/slog"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync/atomic"
	"time"

	"github.com/dgraph-io/ristretto/v2"
	"github.com/gophercloud/gophercloud/v2"
	"github.com/gophercloud/gophercloud/v2/openstack"
	"github.com/gophercloud/gophercloud/v2/openstack/identity/v3/tokens"
	"github.com/sony/gobreaker/v2"
	"go.opentelemetry.io/otel/attribute"
	"golang.org/x/sync/singleflight"

	"github.com/spyglass-gateway/spyglass/tracing"
)

// KeystoneConfig configures keystone mode: the gateway's own service
// credentials (used to validate callers' tokens and to read the service
// catalog) and how verdicts are cached.
type KeystoneConfig struct {
	// AuthURL is Keystone's v3 URL, e.g. http://127.0.0.1:5000/v3
	// (a versionless URL works too). Required.
	AuthURL string
	// Username and Password are the service user's; required.
	Username, Password string
	// ProjectName is the service user's project; empty means an unscoped
	// service token (Keystone's default policy lets the token's subject or
	// an admin validate tokens, so the service user needs the admin or
	// service role on this project).
	ProjectName string
	// UserDomainName and ProjectDomainName name the domains of the user
	// and the project; empty means "Default".
	UserDomainName, ProjectDomainName string
	// TokenCacheTTL bounds how long a validated token is believed without
	// asking Keystone again (a role change or a revocation is seen after at
	// most this long); a token is never believed past its expiry. 0 means
	// 5 minutes.
	TokenCacheTTL time.Duration
	// InvalidTokenTTL is how long a token Keystone rejected is rejected
	// without asking again; 0 means 5 seconds.
	InvalidTokenTTL time.Duration
	// Timeout bounds one validation (the service login included); 0 means
	// 5 seconds.
	Timeout time.Duration
	// BreakerOpen is how long, after Keystone failed, new tokens are
	// answered 503 at once before one validation may try again; 0 means
	// 5 seconds.
	BreakerOpen time.Duration
	// WWWAuthenticateURI is the URI of the 401's
	// `WWW-Authenticate: Keystone uri="..."`, where clients should get a
	// token; empty means AuthURL (what keystonemiddleware sends without
	// www_authenticate_uri).
	WWWAuthenticateURI string
	// MaxTokens bounds the number of cached verdicts; 0 means 100000.
	MaxTokens int64
	// Logger receives breaker changes and validation failures (never a
	// token); nil means slog.Default().
	Logger *slog.Logger
}

// ErrKeystoneUnavailable means a token could not be validated because
// Keystone could not be reached or failed (the gateway answers 503, as
// keystonemiddleware does).
var ErrKeystoneUnavailable = errors.New("The Keystone service is temporarily unavailable.")

// KeystoneChallenge is keystone mode's 401: the request carries no token or
// one Keystone does not accept. It is ErrUnauthenticated; the gateway adds
// the WWW-Authenticate header and keystonemiddleware's body.
type KeystoneChallenge struct {
	// WWWAuthenticate is the header's value: Keystone uri="...".
	WWWAuthenticate string
}

func (c *KeystoneChallenge) Error() string {
	return "The request you have made requires authentication."
}

// Is makes a KeystoneChallenge an ErrUnauthenticated.
func (c *KeystoneChallenge) Is(target error) bool { return target == ErrUnauthenticated }

// KeystoneUnauthorizedBody is keystonemiddleware's 401 body, sent as
// application/json whatever the request accepts.
const KeystoneUnauthorizedBody = `{"error": {"code": 401, "title": "Unauthorized", "message": "` + KeystoneUnauthorizedMessage + `"}}`

// KeystoneUnauthorizedMessage is the message of KeystoneUnauthorizedBody,
// the msgid a translation is looked up by.
const KeystoneUnauthorizedMessage = "The request you have made requires authentication."

// Keystone authenticates callers by their X-Auth-Token, validated against
// Keystone v3 and cached (see KeystoneConfig). It is safe for concurrent
// use; Close releases the cache.
type Keystone struct {
	cfg       KeystoneConfig
	log       *slog.Logger
	challenge *KeystoneChallenge

	// verdicts maps a keyed hash of a token to what Keystone said about
	// it. The key is maphash with a per-process random seed, so nobody can
	// aim a token at another's slot; the entry holds the token itself
	// (Identity.Token needs it) and a hit is believed only when it is the
	// same token.
	verdicts *ristretto.Cache[uint64, *verdict]
	seed     maphash.Seed
	flights  singleflight.Group
	breaker  *gobreaker.CircuitBreaker[*tokenInfo]

	provider   *gophercloud.ProviderClient
	identityV3 *gophercloud.ServiceClient
	// login holds the right to log the service user in; a channel rather
	// than a mutex so waiting for it respects the validation's deadline.
	login  chan struct{}
	authed bool // guarded by login

	// lookups counts tokens looked up in the cache; misses those that had
	// to be validated with Keystone (TokenCacheStats).
	lookups, misses atomic.Int64
}

// TokenCacheStats counts token lookups: a hit was answered from the
// cache (fresh, rejected, or expired); a miss asked Keystone.
type TokenCacheStats struct{ Hits, Misses int64 }

// TokenCacheStats reports the counters.
func (k *Keystone) TokenCacheStats() TokenCacheStats {
	misses := k.misses.Load()
	return TokenCacheStats{Hits: k.lookups.Load() - misses, Misses: misses}
}

// verdict is one cached answer from Keystone.
type verdict struct {
	token   string
	invalid bool
	id      Identity  // valid only
	fresh   time.Time // believed without asking until then
	expires time.Time // the token's expiry: never believed after
}

// NewKeystone validates cfg and returns the authenticator. It does not
// contact Keystone: the service user logs in on the first validation, so
// the gateway starts even while Keystone is down.
func NewKeystone(cfg KeystoneConfig) (*Keystone, error) {
	if err := checkKeystoneURL(cfg.AuthURL); err != nil {
		return nil, fmt.Errorf("keystone: auth_url: %w", err)
	}
	if cfg.Username == "" || cfg.Password == "" {
		return nil, errors.New("keystone: the service user's username and password are required")
	}
	if cfg.UserDomainName == "" {
		cfg.UserDomainName = "Default"
	}
	if cfg.ProjectDomainName == "" {
		cfg.ProjectDomainName = "Default"
	}
	for _, d := range []struct {
		v   *time.Duration
		def time.Duration
	}{{&cfg.TokenCacheTTL, 5 * time.Minute}, {&cfg.InvalidTokenTTL, 5 * time.Second}, {&cfg.Timeout, 5 * time.Second}, {&cfg.BreakerOpen, 5 * time.Second}} {
		if *d.v < 0 {
			return nil, fmt.Errorf("keystone: negative duration %v", *d.v)
		}
		if *d.v == 0 {
			*d.v = d.def
		}
	}
	if cfg.MaxTokens <= 0 {
		cfg.MaxTokens = 100000
	}
	if cfg.WWWAuthenticateURI == "" {
		cfg.WWWAuthenticateURI = cfg.AuthURL
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}

	provider, err := openstack.NewClient(cfg.AuthURL)
	if err != nil {
		return nil, fmt.Errorf("keystone: auth_url: %w", err)
	}
	provider.HTTPClient = http.Client{Timeout: cfg.Timeout}
	identity, err := openstack.NewIdentityV3(provider, gophercloud.EndpointOpts{})
	if err != nil {
		return nil, fmt.Errorf("keystone: %w", err)
	}
	verdicts, err := ristretto.NewCache(&ristretto.Config[uint64, *verdict]{
		NumCounters: cfg.MaxTokens * 10,
		MaxCost:     cfg.MaxTokens,
		BufferItems: 64,
	})
	if err != nil {
		return nil, fmt.Errorf("keystone: token cache: %w", err)
	}
	k := &Keystone{
		cfg:        cfg,
		log:        cfg.Logger,
		challenge:  &KeystoneChallenge{WWWAuthenticate: `Keystone uri="` + cfg.WWWAuthenticateURI + `"`},
		verdicts:   verdicts,
		seed:       maphash.MakeSeed(),
		provider:   provider,
		identityV3: identity,
		login:      make(chan struct{}, 1),
	}
	k.breaker = gobreaker.NewCircuitBreaker[*tokenInfo](gobreaker.Settings{
		Name:        "keystone",
		MaxRequests: 1,
		Timeout:     cfg.BreakerOpen,
		// One failure opens it: a dead Keystone then costs new tokens a
		// fail-fast 503, not a timeout each.
		ReadyToTrip:  func(c gobreaker.Counts) bool { return c.ConsecutiveFailures >= 1 },
		IsSuccessful: func(err error) bool { return err == nil || errors.Is(err, errTokenRejected) },
		OnStateChange: func(_ string, from, to gobreaker.State) {
			k.log.Warn("keystone circuit breaker", "from", from.String(), "to", to.String())
		},
	})
	return k, nil
}

// Close releases the verdict cache.
func (k *Keystone) Close() { k.verdicts.Close() }

// BreakerState reports the circuit breaker's state: closed, half-open or
// open.
func (k *Keystone) BreakerState() string { return k.breaker.State().String() }

// Authenticate validates the request's X-Auth-Token (or X-Storage-Token, as
// keystonemiddleware). A missing or rejected token is a *KeystoneChallenge
// (401); a token that cannot be validated because Keystone is unreachable
// is ErrKeystoneUnavailable (503), unless it was validated before and has
// not expired. A cached token costs no allocation.
func (k *Keystone) Authenticate(ctx context.Context, h Headers) (id Identity, err error) {
	_, span := tracing.Start(ctx, "keystone.validate_token")
	cached := true
	defer func() {
		if span.IsRecording() {
			span.SetAttributes(attribute.Bool("spyglass.cache.hit", cached))
			tracing.Fail(span, err)
		}
		span.End()
	}()
	tok := h.Peek("X-Auth-Token")
	if len(tok) == 0 {
		tok = h.Peek("X-Storage-Token")
	}
	if len(tok) == 0 {
		return Identity{}, k.challenge
	}
	key := maphash.Bytes(k.seed, tok)
	now := time.Now()
	k.lookups.Add(1)
	v, ok := k.verdicts.Get(key)
	if ok && v.token == string(tok) {
		switch {
		case v.invalid:
			return Identity{}, k.challenge
		case !now.Before(v.expires):
			k.verdicts.Del(key)
			return Identity{}, k.challenge
		case now.Before(v.fresh):
			return k.identity(v, h)
		}
	} else {
		v = nil
	}
	cached = false
	k.misses.Add(1)
	v, err = k.revalidate(ctx, tok, key, v)
	if err != nil {
		return Identity{}, err
	}
	return k.identity(v, h)
}

// identity is the verdict's identity with this request's request id;
// Glance's context middleware (after keystonemiddleware) refuses an
// over-long one.
func (k *Keystone) identity(v *verdict, h Headers) (Identity, error) {
	rid := h.Peek("X-Openstack-Request-Id")
	if len(rid) > maxRequestIDLength {
		return Identity{}, ErrRequestIDTooLong
	}
	id := v.id
	id.RequestID = rid
	return id, nil
}

// revalidate asks Keystone about tok, one flight per token however many
// requests carry it. stale is the expired-fresh verdict of a token
// validated before, served while Keystone cannot be reached. ctx is the
// request's, for its log lines only: the flight is shared and bounded by
// auth.keystone.timeout alone.
func (k *Keystone) revalidate(ctx context.Context, tok []byte, key uint64, stale *verdict) (*verdict, error) {
	if !plausibleToken(tok) {
		return nil, k.challenge
	}
	token := string(tok)
	res, err, _ := k.flights.Do(token, func() (any, error) {
		// Another flight may have answered while this one was queued.
		if v, ok := k.verdicts.Get(key); ok && v.token == token && (v.invalid || time.Now().Before(v.fresh)) {
			return v, nil
		}
		fctx, cancel := context.WithTimeout(context.Background(), k.cfg.Timeout)
		defer cancel()
		info, err := k.breaker.Execute(func() (*tokenInfo, error) { return k.fetch(fctx, token) })
		now := time.Now()
		switch {
		case err == nil && now.Before(info.expires):
			return k.keepValid(key, token, info, now), nil
		case err == nil || errors.Is(err, errTokenRejected):
			v := &verdict{token: token, invalid: true}
			k.verdicts.SetWithTTL(key, v, 1, k.cfg.InvalidTokenTTL)
			k.verdicts.Wait()
			return v, nil
		}
		return nil, err
	})
	if err != nil {
		if stale != nil && time.Now().Before(stale.expires) {
			k.log.DebugContext(ctx, "keystone unreachable: serving a token validated before", "user", stale.id.UserID, "err", err)
			return stale, nil
		}
		if !errors.Is(err, gobreaker.ErrOpenState) && !errors.Is(err, gobreaker.ErrTooManyRequests) {
			k.log.ErrorContext(ctx, "keystone: cannot validate a token", "err", err)
		}
		return nil, ErrKeystoneUnavailable
	}
	v := res.(*verdict)
	if v.invalid {
		return nil, k.challenge
	}
	return v, nil
}

// keepValid caches Keystone's verdict that token (whose key is key) is
// valid, as of now, and returns it.
func (k *Keystone) keepValid(key uint64, token string, info *tokenInfo, now time.Time) *verdict {
	v := &verdict{token: token, id: info.identity(token), expires: info.expires, fresh: now.Add(k.cfg.TokenCacheTTL)}
	if v.fresh.After(v.expires) {
		v.fresh = v.expires
	}
	k.verdicts.SetWithTTL(key, v, 1, v.expires.Sub(now))
	k.verdicts.Wait()
	return v
}

// errTokenRejected is Keystone's answer for a token that is not (or no
// longer) valid: malformed, expired, revoked or unknown.
var errTokenRejected = errors.New("keystone rejected the token")

// fetch validates token with GET /v3/auth/tokens, logging the service user
// in first if needed.
func (k *Keystone) fetch(ctx context.Context, token string) (*tokenInfo, error) {
	if err := k.serviceLogin(ctx); err != nil {
		return nil, err
	}
	r := tokens.Get(ctx, k.identityV3, token)
	if r.Err != nil {
		var code gophercloud.ErrUnexpectedResponseCode
		if errors.As(r.Err, &code) {
			switch {
			case code.Actual == http.StatusUnauthorized || code.Actual == http.StatusForbidden:
				// The service credentials themselves were refused (after
				// gophercloud logged in again): a configuration problem.
				return nil, fmt.Errorf("keystone refused the service user %q: %d; check auth.keystone", k.cfg.Username, code.Actual)
			case code.Actual >= 400 && code.Actual < 500:
				return nil, errTokenRejected
			}
			return nil, fmt.Errorf("keystone answered %d", code.Actual)
		}
		return nil, r.Err
	}
	return decodeToken(r)
}

// serviceLogin logs the service user in once; gophercloud logs in again by
// itself when the service token expires.
func (k *Keystone) serviceLogin(ctx context.Context) error {
	select {
	case k.login <- struct{}{}:
	case <-ctx.Done():
		return ctx.Err()
	}
	defer func() { <-k.login }()
	if k.authed {
		return nil
	}
	opts := &tokens.AuthOptions{
		Username:    k.cfg.Username,
		Password:    k.cfg.Password,
		DomainName:  k.cfg.UserDomainName,
		AllowReauth: true,
	}
	if k.cfg.ProjectName != "" {
		opts.Scope = tokens.Scope{ProjectName: k.cfg.ProjectName, DomainName: k.cfg.ProjectDomainName}
	}
	if err := openstack.AuthenticateV3(ctx, k.provider, opts, gophercloud.EndpointOpts{}); err != nil {
		var code gophercloud.ErrUnexpectedResponseCode
		if errors.As(err, &code) && code.Actual == http.StatusUnauthorized {
			return fmt.Errorf("keystone refused the service user %q's password; check auth.keystone", k.cfg.Username)
		}
		return fmt.Errorf("keystone: service login: %w", err)
	}
	k.authed = true
	return nil
}

// plausibleToken reports whether tok could be a token Keystone issued:
// fernet and JWS tokens are printable ASCII without spaces. Anything else
// is refused without asking Keystone (and could not be sent as a header).
func plausibleToken(tok []byte) bool {
	for _, c := range tok {
		if c <= ' ' || c >= 0x7f {
			return false
		}
	}
	return true
}

func checkKeystoneURL(s string) error {
	u, err := url.Parse(s)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return fmt.Errorf("%q is not an http:// or https:// URL", s)
	}
	return nil
}

// tokenInfo is what a validation says about a token.
type tokenInfo struct {
	userID, userDomainID       string
	projectID, projectDomainID string
	domainID, systemScope      string
	roles                      []string
	expires                    time.Time
	images                     []Endpoint
}

func (ti *tokenInfo) identity(token string) Identity {
	return Identity{
		UserID:          ti.userID,
		ProjectID:       ti.projectID,
		Roles:           ti.roles,
		DomainID:        ti.domainID,
		UserDomainID:    ti.userDomainID,
		ProjectDomainID: ti.projectDomainID,
		SystemScope:     ti.systemScope,
		Token:           token,
		ImageEndpoints:  ti.images,
	}
}

// tokenDoc is the part of Keystone's token document ("token") the gateway
// uses.
type tokenDoc struct {
	ExpiresAt string `json:"expires_at"`
	User      struct {
		ID     string `json:"id"`
		Domain struct {
			ID string `json:"id"`
		} `json:"domain"`
	} `json:"user"`
	Project *struct {
		ID     string `json:"id"`
		Domain struct {
			ID string `json:"id"`
		} `json:"domain"`
	} `json:"project"`
	Domain *struct {
		ID string `json:"id"`
	} `json:"domain"`
	System map[string]any `json:"system"`
	Roles  []struct {
		Name string `json:"name"`
	} `json:"roles"`
	Catalog []struct {
		Type      string `json:"type"`
		Endpoints []struct {
			Region    string `json:"region"`
			RegionID  string `json:"region_id"`
			Interface string `json:"interface"`
			URL       string `json:"url"`
		} `json:"endpoints"`
	} `json:"catalog"`
}

func decodeToken(r tokens.GetResult) (*tokenInfo, error) {
	var t tokenDoc
	if err := r.ExtractInto(&t); err != nil {
		return nil, fmt.Errorf("keystone: token document: %w", err)
	}
	return t.info()
}

// info checks the document and turns it into a tokenInfo. A document
// without a user or an expiry is Keystone misbehaving, not a bad token.
func (t *tokenDoc) info() (*tokenInfo, error) {
	if t.User.ID == "" {
		return nil, errors.New("keystone: token document without a user id")
	}
	exp, err := time.Parse(time.RFC3339Nano, t.ExpiresAt)
	if err != nil {
		return nil, fmt.Errorf("keystone: token expires_at %q: %w", t.ExpiresAt, err)
	}
	ti := &tokenInfo{userID: t.User.ID, userDomainID: t.User.Domain.ID, expires: exp}
	switch {
	case t.Project != nil:
		ti.projectID, ti.projectDomainID = t.Project.ID, t.Project.Domain.ID
	case t.Domain != nil:
		ti.domainID = t.Domain.ID
	case t.System["all"] == true:
		ti.systemScope = "all"
	}
	for _, r := range t.Roles {
		if name := strings.ToLower(r.Name); name != "" && !slices.Contains(ti.roles, name) {
			ti.roles = append(ti.roles, name)
		}
	}
	// Identities share this slice: an append must not write into it.
	ti.roles = slices.Clip(ti.roles)
	// Only the image endpoints are kept (glance-download looks there): a
	// cached verdict stays small.
	for _, svc := range t.Catalog {
		if svc.Type != "image" {
			continue
		}
		for _, e := range svc.Endpoints {
			region := e.RegionID
			if region == "" {
				region = e.Region
			}
			ti.images = append(ti.images, Endpoint{Region: region, Interface: e.Interface, URL: strings.TrimSuffix(e.URL, "/")})
		}
	}
	ti.images = slices.Clip(ti.images)
	return ti, nil
}

var _ Authenticator = (*Keystone)(nil)
