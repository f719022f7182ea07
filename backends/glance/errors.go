package glance

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/spyglass-gateway/spyglass/backends"
)

// remoteError turns a Glance error response into the sentinel error its
// status stands for, keeping Glance's own words: the gateway re-renders
// them, so a client sees the message it would get from Glance directly.
// 5xx answers become ErrUnavailable: the region is failing, not the
// request.
func remoteError(region string, status int, body []byte) error {
	explanation, detail := parseErrorBody(body)
	kind := backends.ErrUnavailable
	switch status {
	case 400:
		kind = backends.ErrBadRequest
	case 401:
		kind = backends.ErrUnauthorized
	case 403:
		kind = backends.ErrForbidden
	case 404:
		kind = backends.ErrNotFound
	case 409:
		kind = backends.ErrConflict
	case 413:
		kind = backends.ErrTooLarge
	case 415:
		kind = backends.ErrUnsupportedMedia
	default:
		if status < 500 {
			kind = backends.ErrBadRequest
		}
	}
	if kind == backends.ErrUnavailable {
		return serverError{fmt.Errorf("region %s answered %d (%s): %w", region, status, strings.TrimSpace(explanation+" "+detail), errUnavailable)}
	}
	if detail != "" {
		return backends.Detailf(kind, detail)
	}
	if explanation == "" {
		explanation = fmt.Sprintf("region %s answered %d", region, status)
	}
	return backends.Errorf(kind, explanation)
}

// errUnavailable wraps backends.ErrUnavailable with a message fit for a
// client; the region's own words go to the log, not to clients.
var errUnavailable = &backends.Error{Kind: backends.ErrUnavailable,
	Explanation: "The server is currently unavailable. Please try again at a later time."}

// parseErrorBody reads webob's JSON error document (Spyglass asks for JSON):
// {"message": "<explanation><br /><br />\n<detail>\n<comment>", ...}. The
// explanation comes back without the template's trailing newline; detail is
// empty when Glance raised the error with an explanation only.
func parseErrorBody(body []byte) (explanation, detail string) {
	var doc struct {
		Message string `json:"message"`
	}
	if err := json.Unmarshal(body, &doc); err != nil || doc.Message == "" {
		return strings.TrimSpace(string(body)), ""
	}
	expl, det, _ := strings.Cut(doc.Message, "<br /><br />")
	return strings.TrimRight(expl, "\n"), strings.TrimSpace(det)
}

func isUnavailable(err error) bool { return errors.Is(err, backends.ErrUnavailable) }
