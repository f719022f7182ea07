package tracing

import (
	"context"
	"reflect"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"

	"github.com/spyglass-gateway/spyglass/logctx"
)

// Scope is the instrumentation scope of every span Spyglass makes.
const Scope = "github.com/spyglass-gateway/spyglass"

// Start starts an internal span named name under ctx's span. When ctx
// carries no sampled span (tracing off, or a client's trace not sampled)
// it returns ctx and ctx's span unchanged: ending that is a no-op.
func Start(ctx context.Context, name string) (context.Context, trace.Span) {
	parent, ok := sampledParent(ctx)
	if !ok {
		return ctx, parent
	}
	return parent.TracerProvider().Tracer(Scope).Start(ctx, name)
}

// StartClient is Start for a span around a call to another service (a
// region, Keystone): kind client.
func StartClient(ctx context.Context, name string) (context.Context, trace.Span) {
	parent, ok := sampledParent(ctx)
	if !ok {
		return ctx, parent
	}
	return parent.TracerProvider().Tracer(Scope).Start(ctx, name, trace.WithSpanKind(trace.SpanKindClient))
}

// sampledParent is ctx's span and whether children are to be made under
// it: it is sampled. Not whether it still records: work the request
// started (a fill, a stream fasthttp sends after the handler returned) may
// begin its span after the request's span has ended, and is still part of
// the request's trace.
func sampledParent(ctx context.Context) (trace.Span, bool) {
	parent := trace.SpanFromContext(ctx)
	sc := parent.SpanContext()
	return parent, sc.IsValid() && sc.IsSampled()
}

// Detach is the context for work that outlives the request that starts it
// (an image fill serving many waiters): context.Background, carrying ctx's
// span when it is sampled, so the work's own span is that request's child
// without inheriting its cancellation.
func Detach(ctx context.Context) context.Context {
	span, ok := sampledParent(ctx)
	if !ok {
		return context.Background()
	}
	return trace.ContextWithSpan(context.Background(), span)
}

// Fail marks span as failed with err, its text redacted (logctx.Redact:
// an error may quote a URL with its userinfo or signature). A nil err, or
// a span that does not record, is left alone.
func Fail(span trace.Span, err error) {
	if err == nil || !span.IsRecording() {
		return
	}
	msg := logctx.Redact(err.Error())
	// What span.RecordError(err) records, with the redacted text.
	span.AddEvent("exception", trace.WithAttributes(
		attribute.String("exception.type", errorType(err)),
		attribute.String("exception.message", msg)))
	span.SetStatus(codes.Error, msg)
}

// errorType names err's type as the SDK's RecordError does.
func errorType(err error) string {
	t := reflect.TypeOf(err)
	if t.PkgPath() == "" && t.Name() == "" {
		return t.String() // a pointer
	}
	return t.PkgPath() + "." + t.Name()
}

// Propagator is W3C Trace Context: traceparent and tracestate.
var Propagator propagation.TextMapPropagator = propagation.TraceContext{}

// Extract returns ctx carrying the remote span context the carrier's
// traceparent/tracestate name, or ctx as it is when they name none (or
// are malformed: a bad traceparent starts a new trace, as the spec asks).
func Extract(ctx context.Context, carrier propagation.TextMapCarrier) context.Context {
	return Propagator.Extract(ctx, carrier)
}

// Inject writes ctx's span context into carrier as traceparent and
// tracestate; nothing when ctx has no valid span context.
func Inject(ctx context.Context, carrier propagation.TextMapCarrier) {
	if !trace.SpanContextFromContext(ctx).IsValid() {
		return
	}
	Propagator.Inject(ctx, carrier)
}

func spanContextValid(ctx context.Context) bool {
	return trace.SpanContextFromContext(ctx).IsValid()
}
