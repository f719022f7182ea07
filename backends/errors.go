package backends

import (
	"errors"
	"strconv"
)

// Sentinel errors every store returns for these conditions. The gateway maps
// them to status codes in one place (gateway/errors.go); wrap them with %w to
// add a Glance-style explanation, which the gateway shows to the client.
var (
	// ErrNotFound: no such image, member, tag or task (or one the caller
	// may not see).
	ErrNotFound = errors.New("not found")
	// ErrConflict: the request conflicts with the current state (a second
	// upload, a duplicate member, a status transition Glance refuses).
	ErrConflict = errors.New("conflict")
	// ErrForbidden: the caller may not do this to this object.
	ErrForbidden = errors.New("forbidden")
	// ErrBadRequest: the request's values are invalid.
	ErrBadRequest = errors.New("bad request")
	// ErrTooLarge: the data exceeds the configured size cap (413).
	ErrTooLarge = errors.New("request entity too large")
	// ErrQuota: a quota (members per image, tags per image, ...) would be
	// exceeded (413, as Glance).
	ErrQuota = errors.New("quota exceeded")
	// ErrMarkerNotFound: a listing's marker names no image the caller can see.
	ErrMarkerNotFound = errors.New("marker not found")
	// ErrUnavailable: the store cannot answer now (region down; 503).
	ErrUnavailable = errors.New("unavailable")
	// ErrNoData: the image has no data yet (GET /file answers 204).
	ErrNoData = errors.New("no image data")
	// ErrUnsupportedMedia: the request's Content-Type is not one this
	// endpoint takes (415).
	ErrUnsupportedMedia = errors.New("unsupported media type")
	// ErrUnauthorized: a remote region refused the caller's credentials
	// (its 401: an expired or revoked token).
	ErrUnauthorized = errors.New("unauthorized")
)

// ErrHidden is what a remote region answers about an object that exists
// but that the caller may not see (Glance's bare 404, as for a private
// namespace of another project), where the gateway words that case
// differently from a missing one. It is an ErrNotFound.
var ErrHidden error = &Error{Kind: ErrNotFound, Explanation: "The resource could not be found."}

// Error carries a client-facing explanation together with the sentinel that
// decides the status code: errors.Is(err, ErrConflict) still holds.
type Error struct {
	Kind        error  // one of the sentinels above
	Explanation string // shown to the client, as Glance words it
	// Detail marks an explanation Glance gives as the webob "detail" (an
	// exception raised with a positional message): the body then carries
	// the status's default explanation followed by this text.
	Detail bool
}

func (e *Error) Error() string { return e.Explanation }
func (e *Error) Unwrap() error { return e.Kind }

// Detailf is Errorf for an explanation Glance renders as webob's detail.
func Detailf(kind error, detail string) error {
	return &Error{Kind: kind, Explanation: detail, Detail: true}
}

// Errorf is shorthand for &Error{kind, explanation}.
func Errorf(kind error, explanation string) error {
	return &Error{Kind: kind, Explanation: explanation}
}

// SizeMismatch is the answer to an upload whose bytes do not number the
// size the client declared (x-openstack-image-size or Content-Length): a
// 400, whichever store received it.
func SizeMismatch(provided, stored int64) error {
	return Errorf(ErrBadRequest, "Provided image size must match the stored image size. (provided size: "+
		strconv.FormatInt(provided, 10)+", stored size: "+strconv.FormatInt(stored, 10)+")")
}
