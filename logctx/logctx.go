package logctx

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
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

// Handler adds the request id of the record's context to every record,
// and keeps credentials out of it: the message and every attribute value
// (strings, errors, anything formatted; groups and WithAttrs included) go
// through Redact and lose the secrets the handler was given; an attribute
// whose key names a credential (SensitiveKey: "password", "X-Auth-Token")
// is masked whole. A record with nothing to redact is passed on as it is.
// The zero value is not usable; use NewHandler.
type Handler struct {
	next    slog.Handler
	secrets []string
}

// MinSecretLen is the length under which a secret given to NewHandler is
// not searched for: a shorter one would be found inside ordinary words.
const MinSecretLen = 6

// NewHandler wraps next. secrets are values never to be written whatever
// the text around them (the service user's password, the Redis password):
// each is replaced by Mask wherever it appears. Empty ones, and ones
// shorter than MinSecretLen, are ignored.
func NewHandler(next slog.Handler, secrets ...string) *Handler {
	h := &Handler{next: next}
	for _, s := range secrets {
		if len(s) >= MinSecretLen {
			h.secrets = append(h.secrets, s)
		}
	}
	return h
}

// Enabled is next's: a disabled level costs no context lookup.
func (h *Handler) Enabled(ctx context.Context, l slog.Level) bool { return h.next.Enabled(ctx, l) }

// Handle adds request_id when ctx has one, and redacts.
func (h *Handler) Handle(ctx context.Context, r slog.Record) error {
	id := RequestID(ctx)
	if h.clean(r) {
		if id != "" {
			r = r.Clone()
			r.AddAttrs(slog.String(Attr, id))
		}
		return h.next.Handle(ctx, r)
	}
	out := slog.NewRecord(r.Time, r.Level, h.redact(r.Message), r.PC)
	r.Attrs(func(a slog.Attr) bool {
		out.AddAttrs(h.redactAttr(a))
		return true
	})
	if id != "" {
		out.AddAttrs(slog.String(Attr, h.redact(id)))
	}
	return h.next.Handle(ctx, out)
}

func (h *Handler) WithAttrs(as []slog.Attr) slog.Handler {
	red := make([]slog.Attr, len(as))
	for i, a := range as {
		red[i] = h.redactAttr(a)
	}
	return &Handler{next: h.next.WithAttrs(red), secrets: h.secrets}
}

func (h *Handler) WithGroup(name string) slog.Handler {
	return &Handler{next: h.next.WithGroup(name), secrets: h.secrets}
}

// clean reports whether r has nothing to redact. It allocates only for
// attributes of kind Any (formatted to be searched), which the hot paths
// do not log.
func (h *Handler) clean(r slog.Record) bool {
	if h.redact(r.Message) != r.Message {
		return false
	}
	clean := true
	r.Attrs(func(a slog.Attr) bool {
		clean = h.cleanAttr(a)
		return clean
	})
	return clean
}

func (h *Handler) cleanAttr(a slog.Attr) bool {
	v := a.Value.Resolve()
	if SensitiveKey(a.Key) && !isEmpty(v) {
		return false
	}
	switch v.Kind() {
	case slog.KindString:
		s := v.String()
		return h.redact(s) == s
	case slog.KindGroup:
		for _, g := range v.Group() {
			if !h.cleanAttr(g) {
				return false
			}
		}
	case slog.KindAny:
		s, ok := formatted(v.Any())
		return !ok || h.redact(s) == s
	}
	return true
}

// redactAttr is a with its credentials masked; a itself when it has none.
func (h *Handler) redactAttr(a slog.Attr) slog.Attr {
	v := a.Value.Resolve()
	if SensitiveKey(a.Key) && !isEmpty(v) {
		return slog.String(a.Key, Mask)
	}
	switch v.Kind() {
	case slog.KindString:
		if s := v.String(); h.redact(s) != s {
			return slog.String(a.Key, h.redact(s))
		}
	case slog.KindGroup:
		g := v.Group()
		red := make([]any, len(g))
		for i, ga := range g {
			red[i] = h.redactAttr(ga)
		}
		return slog.Group(a.Key, red...)
	case slog.KindAny:
		if s, ok := formatted(v.Any()); ok && h.redact(s) != s {
			return slog.String(a.Key, h.redact(s))
		}
	}
	return slog.Attr{Key: a.Key, Value: v}
}

// redact is Redact, then the handler's secrets masked.
func (h *Handler) redact(s string) string {
	s = Redact(s)
	for _, secret := range h.secrets {
		if strings.Contains(s, secret) {
			s = strings.ReplaceAll(s, secret, Mask)
		}
	}
	return s
}

// formatted is how a handler would write v as text, for the values that
// may carry text (errors, Stringers, anything else fmt formats); false for
// nil.
func formatted(v any) (string, bool) {
	switch x := v.(type) {
	case nil:
		return "", false
	case error:
		return x.Error(), true
	case fmt.Stringer:
		return x.String(), true
	case []byte:
		return string(x), true
	}
	return fmt.Sprint(v), true
}

func isEmpty(v slog.Value) bool {
	return v.Kind() == slog.KindString && v.String() == "" || v.Kind() == slog.KindAny && v.Any() == nil
}

var _ slog.Handler = (*Handler)(nil)
