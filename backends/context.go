package backends

import "context"

// callerKey is the context key under which a request's Caller travels to
// the stores: a remote region needs the caller's identity (token or
// identity headers) on every call, not only on the calls that record it.
type callerKey struct{}

// CallerKey is the key CallerFrom looks up. A request type that is its own
// context.Context (the gateway's) answers Value(CallerKey) with a *Caller,
// which spares WithCaller's allocation on the hot path.
var CallerKey any = callerKey{}

// WithCaller returns a context carrying c.
func WithCaller(ctx context.Context, c *Caller) context.Context {
	return context.WithValue(ctx, callerKey{}, c)
}

// CallerFrom returns the caller ctx carries, or nil.
func CallerFrom(ctx context.Context) *Caller {
	c, _ := ctx.Value(callerKey{}).(*Caller)
	return c
}

// CallerOf returns a copy of the caller ctx carries (for work that records
// it or outlives the request), or the zero Caller (anonymous, no project,
// not an admin) when it carries none.
func CallerOf(ctx context.Context) Caller {
	if c := CallerFrom(ctx); c != nil {
		return *c
	}
	return Caller{}
}

// Notes is how a catalog tells the response what it could not say in its
// return values: the regions a listing was answered without.
type Notes interface {
	MissingRegions(names []string)
}

type notesKey struct{}

// NotesKey is the key NotesFrom looks up; the gateway's request answers it.
var NotesKey any = notesKey{}

// NotesFrom returns the Notes ctx carries, or nil.
func NotesFrom(ctx context.Context) Notes {
	n, _ := ctx.Value(notesKey{}).(Notes)
	return n
}
