package gateway

import (
	"context"
	"time"

	"github.com/valyala/fasthttp"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"

	"github.com/spyglass-gateway/spyglass/tracing"
)

// serveTraced is the request handler when tracing is on: a server span
// named by the method and the route's id, its template ("GET
// /v2/images/{image_id}", the method alone when no route matches), never
// the raw path, continuing the client's trace when it sent a traceparent.
// The handlers reach the span through call.Value.
func (s *Server) serveTraced(ctx *fasthttp.RequestCtx) {
	var rv resolved
	s.resolve(ctx, &rv)
	parent := tracing.Extract(context.Background(), tracing.RequestHeaders{H: &ctx.Request.Header})
	method := string(ctx.Method())
	route := ""
	if rv.id != routeOther {
		route = routeIDs[rv.id]
	}
	name := method
	if route != "" {
		name += " " + route
	}
	tctx, span := s.tracer.Start(parent, name, trace.WithSpanKind(trace.SpanKindServer))
	s.serve(ctx, &rv, &requestTrace{tctx})
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
