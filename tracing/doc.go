// Package tracing is how Spyglass's packages make OpenTelemetry spans
// without paying for them when tracing is off.
//
// A span is made only under a sampled parent: the gateway starts a
// server span per request when it was given a TracerProvider, and every
// other package starts children from the context it was handed. With no
// provider there is no parent, Start returns the context as it is and a
// no-op span, and nothing is allocated. Callers set attributes only when
// span.IsRecording(), for the same reason.
//
// Propagation is W3C Trace Context (traceparent, tracestate), in both
// directions: Extract for what a client sent, Inject (net/http, through
// Transport) and InjectFastHTTP for what a region receives.
//
//	ctx, span := tracing.StartClient(ctx, "region.metadata")
//	defer span.End()
//	if span.IsRecording() {
//		span.SetAttributes(attribute.String("spyglass.region", name))
//	}
package tracing
