package admin

import (
	"context"
	"net/http"

	"github.com/spyglass-gateway/spyglass/backends"
	"github.com/spyglass-gateway/spyglass/gateway"
)

// writeError answers err as the Images API would, in Glance's JSON error
// shape from the gateway's one error map. A 5xx is logged, and its answer
// carries err's own words as the detail where the Images API gives
// Glance's generic sentence: the admin listener's callers are the
// operators (they hold its token), who need the cause.
func (s *Server) writeError(ctx context.Context, w http.ResponseWriter, err error) {
	if status, _ := gateway.ErrorJSON(err); status >= 500 {
		s.log.ErrorContext(ctx, "admin request failed", "err", err)
		// Kind is err itself: the status stays err's.
		err = &backends.Error{Kind: err, Explanation: err.Error(), Detail: true}
	}
	writeJSONError(w, err)
}

// writeJSONError writes err's Glance-shaped JSON answer.
func writeJSONError(w http.ResponseWriter, err error) {
	status, body := gateway.ErrorJSON(err)
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	w.Write(body)
}
