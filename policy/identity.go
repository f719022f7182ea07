package policy

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"

	"github.com/spyglass-gateway/spyglass/backends"
)

// Identity is the caller of one request, as Glance's RequestContext holds it.
type Identity struct {
	// UserID and ProjectID are empty when unknown (noauth, anonymous).
	UserID    string
	ProjectID string
	// Roles are lower-cased, as Glance's context middleware leaves them.
	Roles []string
	// DomainID is set for a domain-scoped caller; UserDomainID and
	// ProjectDomainID are the domains of the user and the project;
	// SystemScope is "all" for a system-scoped caller. Empty: none (None
	// in Glance's credentials). Rules may compare them; under the current
	// defaults a system- or domain-scoped caller fails every project rule.
	DomainID, UserDomainID, ProjectDomainID, SystemScope string
	// IsAdmin is Glance's context.is_admin. Authenticators set it only for
	// contexts that are admin by construction (noauth); for everyone else
	// the gateway sets it from the policy's context_is_admin rule
	// (Policy.IsAdmin; by default role:admin), as Glance's RequestContext
	// does.
	IsAdmin bool
	// ReadOnly marks Glance's anonymous context.
	ReadOnly bool
	// Token is the caller's Keystone token (keystone mode only), kept to be
	// forwarded to remote regions. Never log it.
	Token string
	// RequestID is the client's X-Openstack-Request-Id, which Glance
	// adopts as its own; empty when the client sent none.
	RequestID []byte
	// ImageEndpoints are the Images API endpoints of the token's service
	// catalog (keystone mode), where glance-download finds the region it
	// reads from, as Glance does in its request context's catalog. nil: no
	// catalog (other modes, a token validated without one).
	ImageEndpoints []Endpoint
}

// Endpoint is one endpoint of a service catalog.
type Endpoint struct {
	Region    string // the region's id (name)
	Interface string // public, internal or admin
	URL       string // as registered, without a trailing slash
}

// ImageEndpoint is the URL of the Images API of region (compared without
// case, as Glance's get_glance_endpoint) for iface in the token's catalog;
// false when there is none.
func (id *Identity) ImageEndpoint(region, iface string) (string, bool) {
	for _, e := range id.ImageEndpoints {
		if strings.EqualFold(e.Region, region) && e.Interface == iface {
			return e.URL, true
		}
	}
	return "", false
}

// Caller is the part of the identity a store needs.
func (id *Identity) Caller() backends.Caller {
	return backends.Caller{Project: id.ProjectID, User: id.UserID, Admin: id.IsAdmin, Roles: id.Roles, Token: id.Token}
}

// HasRole reports whether the identity carries role (lower case).
func (id *Identity) HasRole(role string) bool {
	for _, r := range id.Roles {
		if r == role {
			return true
		}
	}
	return false
}

// Headers is what an Authenticator reads from a request;
// *fasthttp.RequestHeader satisfies it.
type Headers interface {
	Peek(key string) []byte
}

// Authenticator builds the caller's identity from a request.
type Authenticator interface {
	// Authenticate returns ErrUnauthenticated (401) when the request carries
	// no acceptable credentials.
	Authenticate(ctx context.Context, h Headers) (Identity, error)
}

// ErrUnauthenticated means the request must be answered 401.
var ErrUnauthenticated = errors.New("unauthenticated")

// ErrRequestIDTooLong is Glance's 431 for an over-long X-Openstack-Request-Id.
var ErrRequestIDTooLong = errors.New("x-openstack-request-id is too long, max size 64")

// maxRequestIDLength is Glance's max_request_id_length default.
const maxRequestIDLength = 64

// NewAuthenticator returns the authenticator for an auth mode: "noauth",
// "trusted" or "keystone". Keystone mode is built from the one
// KeystoneConfig it needs (the service credentials; see NewKeystone); the
// other modes take none.
func NewAuthenticator(mode string, keystone ...KeystoneConfig) (Authenticator, error) {
	switch mode {
	case "noauth", "":
		return noAuth{}, nil
	case "trusted":
		return trusted{}, nil
	case "keystone":
		if len(keystone) != 1 {
			return nil, errors.New("auth mode keystone needs the service credentials (auth.keystone)")
		}
		return NewKeystone(keystone[0])
	default:
		return nil, fmt.Errorf("unknown auth mode %q; use noauth, trusted or keystone", mode)
	}
}

// noAuth is Glance's UnauthenticatedContextMiddleware: every caller is an
// admin with no user and no project. Glance leaves that context without
// roles, so its role-based rules (publicize_image, the Tasks API) refuse
// even this "admin"; Spyglass gives it the admin role too, so the embedded
// default can do everything an admin can (a deliberate difference).
type noAuth struct{}

var adminRoles = []string{"admin"}

func (noAuth) Authenticate(_ context.Context, h Headers) (Identity, error) {
	return Identity{IsAdmin: true, Roles: adminRoles, RequestID: requestID(h)}, nil
}

// trusted is Glance's ContextMiddleware without keystonemiddleware in front:
// it believes the identity headers when X-Identity-Status is Confirmed and
// answers 401 otherwise (allow_anonymous_access is false by default).
type trusted struct{}

func (trusted) Authenticate(_ context.Context, h Headers) (Identity, error) {
	var th trustedHeaders
	if r, ok := h.(interface{ RawHeaders() []byte }); ok && th.scan(r.RawHeaders()) {
		// one pass over the request's header block
	} else {
		th.peek(h)
	}
	if !bytes.Equal(th.v[hStatus], []byte("Confirmed")) {
		return Identity{}, ErrUnauthenticated
	}
	rid := th.v[hRequestID]
	if len(rid) > maxRequestIDLength {
		return Identity{}, ErrRequestIDTooLong
	}
	// The first of the alternatives that is not empty.
	user := th.v[hUserID]
	if len(user) == 0 {
		user = th.v[hUser]
	}
	project := th.v[hProjectID]
	if len(project) == 0 {
		project = th.v[hTenantID]
	}
	if len(project) == 0 {
		project = th.v[hTenant]
	}
	return Identity{
		UserID:    interned(user),
		ProjectID: interned(project),
		RequestID: rid,
		Roles:     parsedRoles(th.v[hRoles]),
		// oslo.context's from_environ headers.
		DomainID:        interned(th.v[hDomainID]),
		UserDomainID:    interned(th.v[hUserDomainID]),
		ProjectDomainID: interned(th.v[hProjectDomainID]),
		SystemScope:     interned(th.v[hSystemScope]),
	}, nil
}

// The headers Glance's context middleware (oslo.context's from_environ)
// reads, in trustedNames' order.
const (
	hStatus = iota
	hRequestID
	hUserID
	hUser
	hProjectID
	hTenantID
	hTenant
	hRoles
	hDomainID
	hUserDomainID
	hProjectDomainID
	hSystemScope
	hCount
)

var trustedNames = [hCount]string{
	"X-Identity-Status", "X-Openstack-Request-Id", "X-User-Id", "X-User", "X-Project-Id",
	"X-Tenant-Id", "X-Tenant", "X-Roles", "X-Domain-Id", "X-User-Domain-Id",
	"X-Project-Domain-Id", "Openstack-System-Scope",
}

// trustedHeaders holds the values of trustedNames (nil: absent).
type trustedHeaders struct{ v [hCount][]byte }

// peek reads each header by name.
func (t *trustedHeaders) peek(h Headers) {
	for i, n := range trustedNames {
		t.v[i] = h.Peek(n)
	}
}

// scan reads them all in one pass over a raw header block (the request
// line first), as HTTP compares names: ignoring case, first occurrence
// wins, value trimmed. Each Peek would scan and normalize the whole block
// again; this is the show hot path. It returns false when there is no raw
// block (headers set in code), for peek to do it.
func (t *trustedHeaders) scan(raw []byte) bool {
	if len(raw) == 0 {
		return false
	}
	var found [hCount]bool
	*t = trustedHeaders{}
	for len(raw) > 0 {
		line := raw
		if i := bytes.IndexByte(raw, '\n'); i >= 0 {
			line, raw = raw[:i], raw[i+1:]
		} else {
			raw = nil
		}
		if len(line) > 0 && (line[0] == ' ' || line[0] == '\t') {
			return false // a folded header: leave the unfolding to fasthttp
		}
		colon := bytes.IndexByte(line, ':')
		if colon <= 0 {
			continue
		}
		key := line[:colon]
		for i, n := range trustedNames {
			if len(key) == len(n) && !found[i] && bytes.EqualFold(key, []byte(n)) {
				// As Peek: the first occurrence (empty or not).
				found[i] = true
				t.v[i] = bytes.TrimSpace(line[colon+1:])
				break
			}
		}
	}
	return true
}

func firstHeaderBytes(h Headers, names ...string) []byte {
	for _, n := range names {
		if v := h.Peek(n); v != nil {
			return v
		}
	}
	return nil
}

// The identity strings of trusted headers repeat from request to request
// (a site has few projects and role sets): they are parsed once and shared,
// so the show hot path does not allocate for them. The tables are bounded:
// when full they start again.
const internMax = 4096

var (
	internMu    sync.RWMutex
	internStrs  = map[string]string{}
	internRoles = map[string][]string{}
)

// interned returns b as a shared string.
func interned(b []byte) string {
	if len(b) == 0 {
		return ""
	}
	internMu.RLock()
	s, ok := internStrs[string(b)]
	internMu.RUnlock()
	if ok {
		return s
	}
	s = string(b)
	internMu.Lock()
	if len(internStrs) >= internMax {
		internStrs = map[string]string{}
	}
	internStrs[s] = s
	internMu.Unlock()
	return s
}

// parsedRoles is X-Roles as Glance's context middleware reads it: split on
// commas, trimmed, lower-cased. The slice is shared: callers must not
// modify it.
func parsedRoles(b []byte) []string {
	if len(b) == 0 {
		return nil
	}
	internMu.RLock()
	r, ok := internRoles[string(b)]
	internMu.RUnlock()
	if ok {
		return r
	}
	for _, x := range strings.Split(string(b), ",") {
		if x = strings.ToLower(strings.TrimSpace(x)); x != "" {
			r = append(r, x)
		}
	}
	internMu.Lock()
	if len(internRoles) >= internMax {
		internRoles = map[string][]string{}
	}
	internRoles[string(b)] = r
	internMu.Unlock()
	return r
}

func requestID(h Headers) []byte {
	rid := h.Peek("X-Openstack-Request-Id")
	if len(rid) > maxRequestIDLength {
		return nil
	}
	return rid
}

// firstHeader returns the first of the named headers that is present, as
// oslo.context's from_environ does.
func firstHeader(h Headers, names ...string) string {
	for _, n := range names {
		if v := h.Peek(n); v != nil {
			return string(v)
		}
	}
	return ""
}
