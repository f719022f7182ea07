package gateway

import (
	"bytes"
	"context"
	"time"

	"github.com/valyala/fasthttp"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"

	"github.com/spyglass-gateway/spyglass/tracing"
)

// serveTraced is the request handler when tracing is on: a server span
// named by the route template ("GET /v2/images/{image_id}"), never the raw
// path, continuing the client's trace when it sent a traceparent. The
// handlers reach the span through call.Value.
func (s *Server) serveTraced(ctx *fasthttp.RequestCtx) {
	parent := tracing.Extract(context.Background(), tracing.RequestHeaders{H: &ctx.Request.Header})
	method := string(ctx.Method())
	route := routeTemplate(ctx)
	name := method
	if route != "" {
		name += " " + route
	}
	tctx, span := s.tracer.Start(parent, name, trace.WithSpanKind(trace.SpanKindServer))
	s.serve(ctx, &requestTrace{tctx})
	status := ctx.Response.StatusCode()
	if span.IsRecording() {
		attrs := []attribute.KeyValue{
			attribute.String("http.request.method", method),
			attribute.Int("http.response.status_code", status),
			attribute.String("spyglass.request_id", string(ctx.Response.Header.PeekBytes(hdrRequestID))),
		}
		if route != "" {
			attrs = append(attrs, attribute.String("http.route", route))
		}
		span.SetAttributes(attrs...)
		if status >= 500 {
			span.SetStatus(codes.Error, "")
		}
	}
	span.End()
}

// requestTrace is the context carrying a request's server span: immutable,
// so region calls on other goroutines may read it.
type requestTrace struct{ ctx context.Context }

// authContext is the request's context for the authenticator when tracing
// is on: the request's deadline and cancellation, and its span (a Keystone
// validation is the request's child).
type authContext struct {
	*fasthttp.RequestCtx
	trace context.Context
}

func (a authContext) Deadline() (time.Time, bool) { return a.RequestCtx.Deadline() }
func (a authContext) Done() <-chan struct{}       { return a.RequestCtx.Done() }
func (a authContext) Err() error                  { return a.RequestCtx.Err() }
func (a authContext) Value(key any) any           { return a.trace.Value(key) }

// routeTemplate names the route the request takes as a template, its ids
// replaced by placeholders, so spans group by route and carry no image id
// in their name: "/v2/images/{image_id}/file". "" when no route matches.
// It mirrors route and routeImages, shape only (the method is not
// checked: a 405 still names its route).
func routeTemplate(ctx *fasthttp.RequestCtx) string {
	path := requestPath(ctx) // the path routed, dot-segments kept
	if bytes.Equal(path, []byte("/healthcheck")) {
		return "/healthcheck"
	}
	var segs [maxSegments][]byte
	n, ok := segments(path, &segs)
	if !ok {
		return ""
	}
	if n == 0 {
		return "/"
	}
	if bytes.Equal(segs[0], []byte("versions")) {
		return "/versions"
	}
	rest := segs[:n]
	prefix := ""
	if accept := ctx.Request.Header.Peek("Accept"); bytes.HasPrefix(accept, []byte(vndPrefix)) {
		if !knownVersion(accept[len(vndPrefix):]) {
			return ""
		}
	} else {
		if !knownVersion(segs[0]) {
			return ""
		}
		prefix, rest = "/"+string(segs[0]), segs[1:n]
	}
	if len(rest) == 0 {
		return prefix + "/"
	}
	t := v2Template(rest)
	if t == "" {
		return ""
	}
	return prefix + t
}

// v2Template is the template of a /v2 path, version removed.
func v2Template(seg [][]byte) string {
	is := func(i int, s string) bool { return len(seg) > i && string(seg[i]) == s }
	switch string(seg[0]) {
	case "images":
		switch len(seg) {
		case 1:
			return "/images"
		case 2:
			return "/images/{image_id}"
		case 3:
			switch string(seg[2]) {
			case "file", "stage", "import", "tasks", "members":
				return "/images/{image_id}/" + string(seg[2])
			}
		case 4:
			switch {
			case is(2, "actions") && (is(3, "deactivate") || is(3, "reactivate")):
				return "/images/{image_id}/actions/" + string(seg[3])
			case is(2, "tags"):
				return "/images/{image_id}/tags/{tag_value}"
			case is(2, "members"):
				return "/images/{image_id}/members/{member_id}"
			}
		}
	case "schemas":
		if len(seg) >= 2 {
			return "/schemas/{schema}"
		}
	case "tasks":
		switch len(seg) {
		case 1:
			return "/tasks"
		case 2:
			return "/tasks/{task_id}"
		}
	case "cache":
		switch {
		case len(seg) == 1:
			return "/cache"
		case len(seg) == 2 && (is(1, "clean") || is(1, "prune")):
			return "/cache/" + string(seg[1])
		case len(seg) == 2:
			return "/cache/{image_id}"
		}
	case "info":
		switch {
		case len(seg) == 2 && (is(1, "import") || is(1, "stores") || is(1, "usage")):
			return "/info/" + string(seg[1])
		case len(seg) == 3 && is(1, "stores") && is(2, "detail"):
			return "/info/stores/detail"
		}
	}
	return ""
}
