package outbound

import (
	"errors"
	"strconv"
	"strings"
)

// ErrRefused is what every refusal of the filter matches (errors.Is): a
// URL, a redirect hop or an address the filter does not allow.
var ErrRefused = errors.New("refused by import filtering")

// RefusedError says what the filter refused and why.
type RefusedError struct {
	// URL is the URL (credentials redacted) or the host refused.
	URL string
	// Reason says why, for logs and task messages: "host 127.1 is an
	// encoded IP address", "it resolves to 127.0.0.1, a loopback address".
	Reason string
	// Redirect is set when the URL was a redirect's target.
	Redirect bool
}

func (e *RefusedError) Error() string {
	if e.Redirect {
		// Glance's SafeRedirectHandler's words.
		return "Redirect to disallowed URL: " + e.URL + " (" + e.Reason + ")"
	}
	if !strings.Contains(e.URL, "://") { // a connection's host, not a URL
		return "Host " + e.URL + " does not pass filtering (" + e.Reason + ")"
	}
	return "URI " + e.URL + " does not pass filtering (" + e.Reason + ")"
}

// Is makes errors.Is(err, ErrRefused) hold.
func (e *RefusedError) Is(target error) bool { return target == ErrRefused }

func refused(url, reason string) error { return &RefusedError{URL: url, Reason: reason} }

// StatusError is a fetch answered with a status other than 2xx (after
// redirects).
type StatusError struct {
	URL    string // credentials redacted
	Status string // "404 Not Found"
	Code   int
}

func (e *StatusError) Error() string { return "fetching " + e.URL + ": " + e.Status }

func statusError(url string, code int, status string) error {
	if status == "" {
		status = strconv.Itoa(code)
	}
	return &StatusError{URL: url, Status: status, Code: code}
}
