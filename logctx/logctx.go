package logctx

import (
	"context"
	"log/slog"
)

// Key is the context key of the request id. Its value is a string, or, for
// a context that keeps the id elsewhere (the gateway's request context keeps
// it in the response header), an IDer, asked only when a line is written.
var Key key

type key struct{}

// IDer yields a request id on demand.
type IDer interface{ RequestID() string }

// Attr is the attribute name of the request id in log lines.
const Attr = "request_id"

// WithRequestID returns a context carrying id, for work that outlives the
// request (a fill, a copy) or that starts outside one.
func WithRequestID(ctx context.Context, id string) context.Context {
	if id == "" {
		return ctx
	}
	return context.WithValue(ctx, Key, id)
}

// RequestID returns the request id ctx carries, or "".
func RequestID(ctx context.Context) string {
	if ctx == nil {
		return ""
	}
	switch v := ctx.Value(Key).(type) {
	case string:
		return v
	case IDer:
		return v.RequestID()
	}
	return ""
}

// Handler adds the request id of the record's context to every record. The
// zero value is not usable; use NewHandler.
type Handler struct{ next slog.Handler }

// NewHandler wraps next.
func NewHandler(next slog.Handler) *Handler { return &Handler{next: next} }

// Enabled is next's: a disabled level costs no context lookup.
func (h *Handler) Enabled(ctx context.Context, l slog.Level) bool { return h.next.Enabled(ctx, l) }

// Handle adds request_id when ctx has one.
func (h *Handler) Handle(ctx context.Context, r slog.Record) error {
	if id := RequestID(ctx); id != "" {
		r = r.Clone()
		r.AddAttrs(slog.String(Attr, id))
	}
	return h.next.Handle(ctx, r)
}

func (h *Handler) WithAttrs(as []slog.Attr) slog.Handler { return &Handler{next: h.next.WithAttrs(as)} }
func (h *Handler) WithGroup(name string) slog.Handler    { return &Handler{next: h.next.WithGroup(name)} }

var _ slog.Handler = (*Handler)(nil)
