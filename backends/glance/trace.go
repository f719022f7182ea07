package glance

import (
	"context"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/trace"

	"github.com/spyglass-gateway/spyglass/logctx"
	"github.com/spyglass-gateway/spyglass/tracing"
)

// startSpan starts the client span of one call to the region (name
// "region.metadata", "region.upload" or "region.data") under ctx's span;
// a no-op span when ctx carries none that records (tracing off).
func (r *Region) startSpan(ctx context.Context, name, method, path string) (context.Context, trace.Span) {
	ctx, span := tracing.StartClient(ctx, name)
	if span.IsRecording() {
		span.SetAttributes(
			attribute.String("spyglass.region", r.name),
			attribute.String("http.request.method", method),
			attribute.String("url.full", logctx.Redact(r.base+path)),
		)
	}
	return ctx, span
}

// endSpan ends a region call's span with the region's status (0: none
// received) and the call's error.
func endSpan(span trace.Span, status int, err error) {
	if span.IsRecording() {
		if status > 0 {
			span.SetAttributes(attribute.Int("http.response.status_code", status))
		}
		tracing.Fail(span, err)
	}
	span.End()
}
