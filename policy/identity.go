package policy

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strings"

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
	if !bytes.Equal(h.Peek("X-Identity-Status"), []byte("Confirmed")) {
		return Identity{}, ErrUnauthenticated
	}
	rid := h.Peek("X-Openstack-Request-Id")
	if len(rid) > maxRequestIDLength {
		return Identity{}, ErrRequestIDTooLong
	}
	id := Identity{
		UserID:    firstHeader(h, "X-User-Id", "X-User"),
		ProjectID: firstHeader(h, "X-Project-Id", "X-Tenant-Id", "X-Tenant"),
		RequestID: rid,
		// oslo.context's from_environ headers.
		DomainID:        firstHeader(h, "X-Domain-Id"),
		UserDomainID:    firstHeader(h, "X-User-Domain-Id"),
		ProjectDomainID: firstHeader(h, "X-Project-Domain-Id"),
		SystemScope:     firstHeader(h, "Openstack-System-Scope"),
	}
	if roles := h.Peek("X-Roles"); len(roles) > 0 {
		for _, r := range strings.Split(string(roles), ",") {
			if r = strings.ToLower(strings.TrimSpace(r)); r != "" {
				id.Roles = append(id.Roles, r)
			}
		}
	}
	return id, nil
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
