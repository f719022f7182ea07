package federation

import (
	"context"
	"slices"

	"golang.org/x/sync/singleflight"

	"github.com/spyglass-gateway/spyglass/backends"
	"github.com/spyglass-gateway/spyglass/cache/meta"
)

// A cold boot storm — N clients asking at once for an image this instance
// has not cached — must cost the region one request for the record and one
// per membership verdict, not N. Concurrent misses for the same key share
// one call to the region (a flight), which looks in the cache again first
// (a flight that just ended may have filled it) and fills it after, under
// a ticket taken before it asked (groupcache's load).
//
// Records and verdicts are asked with the identity of the caller that
// starts the flight, so who else may have its answer is decided per kind
// of answer, never by who asked first:
//
//   - a record: to everyone. It is what the metadata cache would serve them
//     a moment later, and the gateway's visibility function decides, per
//     caller, who sees it (a record an admin fetched is still a 404 to a
//     project that may not see it).
//   - a membership verdict, member or not: to everyone, as the cache keeps
//     it (the gateway asks about a member only when the caller may know).
//   - any other error — a record the caller cannot see (its 404), a
//     refusal, a region down for that project — only to callers of the same
//     identity. Any other caller asks again, in a flight of its identity.
//   - nothing read before a write this caller follows: if the flight
//     began before this caller and the image was invalidated since (a
//     write through the gateway, here or on another instance), the caller
//     asks again. A write also forgets the image's record flight, so
//     callers that come after it do not wait for an answer they cannot use.
//
// The call to the region runs on the goroutine of the caller that starts
// the flight, detached from its cancellation (its client going away must
// not fail the others), bounded by the region's own timeouts as any call
// to it is; the others wait for it.

// answer is what a flight returns to every caller that joined it.
type answer[T any] struct {
	v   T
	err error
	t   meta.Ticket     // taken before the region (or the cache) was asked
	who backends.Caller // whose identity the region was asked with
}

// coalesce returns ask's answer for key, asked once for every concurrent
// caller of the region that may have it (see above). id is the image the
// answer is about, against whose invalidations it is checked; shareErr
// says which errors every caller may have.
func coalesce[T any](ctx context.Context, g *singleflight.Group, m *meta.Cache, key, id string,
	shareErr func(error) bool, ask func(ctx context.Context) (T, meta.Ticket, error)) (T, error) {
	who := backends.CallerOf(ctx) // anonymous when there is none
	begun := m.Ticket()
	for attempt := range 3 {
		k := key
		if attempt > 0 {
			k = key + "\x00" + identityKey(&who)
		}
		a := join(ctx, g, k, &who, ask)
		if !m.Current(a.t, begun, id) {
			continue // read before a write this caller follows: ask again
		}
		if a.err == nil || shareErr(a.err) || sameIdentity(&a.who, &who) {
			return a.v, a.err
		}
	}
	// Writes keep voiding the answers: ask alone.
	v, _, err := ask(ctx)
	return v, err
}

// join runs ask in the flight for key, or waits for the one running.
func join[T any](ctx context.Context, g *singleflight.Group, key string, who *backends.Caller,
	ask func(ctx context.Context) (T, meta.Ticket, error)) *answer[T] {
	a, _, _ := g.Do(key, func() (any, error) {
		v, t, err := ask(context.WithoutCancel(ctx))
		return &answer[T]{v: v, err: err, t: t, who: *who}, nil
	})
	return a.(*answer[T])
}

// identityKey is what a region's answer may depend on: the caller's
// identity as the region is told it (backends/glance: the token, or the
// trusted identity headers), without the request id.
func identityKey(c *backends.Caller) string {
	if c.Token != "" {
		return "t\x00" + c.Token
	}
	admin := "-"
	if c.Admin {
		admin = "a"
	}
	k := "i\x00" + admin + "\x00" + c.Project + "\x00" + c.User
	for _, r := range c.Roles {
		k += "\x00" + r
	}
	return k
}

func sameIdentity(a, b *backends.Caller) bool {
	return a.Token == b.Token && a.Project == b.Project && a.User == b.User && a.Admin == b.Admin && slices.Equal(a.Roles, b.Roles)
}
