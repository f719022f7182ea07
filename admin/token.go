package admin

import (
	"crypto/sha256"
	"crypto/subtle"
	"log/slog"
	"net/http"
	"strings"

	"github.com/spyglass-gateway/spyglass/backends"
	"github.com/spyglass-gateway/spyglass/policy"
)

// The token travels as "Authorization: Bearer <token>" (RFC 6750): the
// header every HTTP client and proxy treats as a credential (kept out of
// caches and access logs), which Prometheus sends from a file
// (authorization: {credentials_file: ...}) and curl with -H or --oauth2-bearer.
// X-Auth-Token is taken: on this listener it carries the Keystone token the
// cache controls forward to the regions.

// gate lets a request through when it carries the token, or when its route
// is open.
type gate struct {
	// sum is the token's SHA-256; nil: no token, every request passes.
	// Comparing digests keeps the comparison's time independent of the
	// token's length as well as its bytes.
	sum  *[sha256.Size]byte
	open map[string]bool // route patterns served without the token
	log  *slog.Logger
}

func newGate(token string, log *slog.Logger) gate {
	g := gate{open: map[string]bool{}, log: log}
	if token != "" {
		sum := sha256.Sum256([]byte(token))
		g.sum = &sum
	}
	return g
}

// protected: the listener has a token.
func (g gate) protected() bool { return g.sum != nil }

// let reports whether the request carries the token; if not it answers 401
// (Glance-shaped, with a Bearer challenge).
func (g gate) let(w http.ResponseWriter, r *http.Request) bool {
	if g.sum == nil {
		return true
	}
	given, ok := bearer(r.Header.Get("Authorization"))
	sum := sha256.Sum256([]byte(given))
	if ok && subtle.ConstantTimeCompare(sum[:], g.sum[:]) == 1 {
		return true
	}
	why := "The admin token is missing: send it as Authorization: Bearer <token> (admin.token_file, or SPYGLASS_ADMIN_TOKEN, of the instance)."
	if ok {
		why = "The admin token is wrong: send the instance's (admin.token_file, or SPYGLASS_ADMIN_TOKEN) as Authorization: Bearer <token>."
	}
	g.log.WarnContext(r.Context(), "admin request refused: no admin token, or the wrong one", "method", r.Method, "path", r.URL.Path, "remote", r.RemoteAddr)
	w.Header().Set("WWW-Authenticate", `Bearer realm="spyglass admin"`)
	writeJSONError(w, backends.Detailf(policy.ErrUnauthenticated, why))
	return false
}

// bearer is the credential of an "Authorization: Bearer <token>" header
// (the scheme is case-insensitive); ok is false for anything else.
func bearer(h string) (token string, ok bool) {
	scheme, cred, found := strings.Cut(h, " ")
	if !found || !strings.EqualFold(scheme, "Bearer") {
		return "", false
	}
	cred = strings.TrimSpace(cred)
	return cred, cred != ""
}
