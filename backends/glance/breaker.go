package glance

import (
	"context"
	"errors"
	"net/http"
	"sync"
	"time"

	"github.com/sony/gobreaker/v2"

	"github.com/spyglass-gateway/spyglass/backends"
)

// The breaker opens on a region that is failing, not on a request that
// failed: a tenant who makes the region answer its own requests badly must
// not take the region away from every other tenant. Within a rolling
// window of breakerWindow (in steps of breakerBucket) it opens after
// breakerConsecutive failures in a row, or once breakerMinCalls calls
// ended and at least half of them failed. A dead or hanging region
// therefore costs breakerConsecutive failures (each a refused connection
// or a timeout), then fails fast for Config.BreakerOpen, after which one
// probe decides.
//
// A failure is a call the region did not answer (no connection, a reset, a
// timeout) or answered with a 5xx that is not one project's alone (see
// serverErrors). A 4xx is the region answering. Calls that tell nothing
// about the region are not counted at all (uncounted): the caller went
// away; the client's upload broke, or did not hold the size it declared,
// or the transport failed while the client's body was still streaming.
const (
	breakerWindow      = 10 * time.Second
	breakerBucket      = time.Second
	breakerConsecutive = 5
	breakerMinCalls    = 20
)

// breakerTrips counts the calls that ended in the window: neither calls
// still in flight nor uncounted ones weigh on the rate.
func breakerTrips(c gobreaker.Counts) bool {
	ended := c.TotalSuccesses + c.TotalFailures
	return c.ConsecutiveFailures >= breakerConsecutive ||
		(ended >= breakerMinCalls && 2*c.TotalFailures >= ended)
}

// uncounted is a call that says nothing about the region's health; the
// breaker counts it neither as a success nor as a failure, and the caller
// gets err.
type uncounted struct{ err error }

func (e *uncounted) Error() string { return e.err.Error() }
func (e *uncounted) Unwrap() error { return e.err }

// serverError is a 5xx answer (remoteError): the region answered, and
// failed.
type serverError struct{ error }

func (e serverError) Unwrap() error { return e.error }

// serverErrors tells a region's 5xx answers that one project alone gets —
// Glance fails on some requests that are well formed, such as deleting an
// image whose members a burst of concurrent adds duplicated, and a tenant
// can repeat those at will — from the region failing, which other projects
// see too. A 5xx counts as a failure when a project other than the
// caller's got one within breakerWindow before it; callers without a
// project (noauth) are not told apart. Transport failures and timeouts
// always count: a dead region fails fast whoever calls it.
type serverErrors struct {
	mu sync.Mutex
	// The latest 5xx, and the latest before it of another project.
	last, other struct {
		project string
		at      time.Time
	}
}

// regionWide records a 5xx answer to project at now and reports whether
// it counts against the region.
func (s *serverErrors) regionWide(project string, now time.Time) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if project != s.last.project {
		s.other = s.last
	}
	s.last.project, s.last.at = project, now
	return project == "" || (!s.other.at.IsZero() && now.Sub(s.other.at) <= breakerWindow)
}

// execute runs one call to the region through the breaker and decides
// whether it counts (see above). The error returned is the call's own, or
// a 503 for the breaker's refusals.
func (r *Region) execute(ctx context.Context, do func() (*http.Response, error)) (*http.Response, error) {
	resp, err := r.breaker.Execute(func() (*http.Response, error) {
		resp, err := do()
		switch {
		case err == nil, errors.As(err, new(*uncounted)):
		case ctx.Err() != nil:
			err = &uncounted{err} // the caller ended it
		case errors.As(err, new(serverError)) && !r.serverErrors.regionWide(projectOf(ctx), time.Now()):
			err = &uncounted{err}
		}
		return resp, err
	})
	var u *uncounted
	if errors.As(err, &u) {
		return resp, u.err
	}
	return resp, r.breakerErr(err)
}

func projectOf(ctx context.Context) string {
	if c := backends.CallerFrom(ctx); c != nil {
		return c.Project
	}
	return ""
}
