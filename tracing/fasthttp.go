package tracing

import (
	"context"

	"github.com/valyala/fasthttp"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"
)

// RequestHeaders carries trace context in a fasthttp request's headers: a
// client's traceparent read, or one written for a region.
type RequestHeaders struct{ H *fasthttp.RequestHeader }

// Get returns the header's value, "" when absent.
func (c RequestHeaders) Get(key string) string { return string(c.H.Peek(key)) }

// Set sets the header.
func (c RequestHeaders) Set(key, value string) { c.H.Set(key, value) }

// Keys lists the request's header names.
func (c RequestHeaders) Keys() []string {
	var keys []string
	for k := range c.H.All() {
		keys = append(keys, string(k))
	}
	return keys
}

// InjectFastHTTP writes ctx's span context into h; nothing (and no
// allocation) when ctx has no valid span context.
func InjectFastHTTP(ctx context.Context, h *fasthttp.RequestHeader) {
	if !trace.SpanContextFromContext(ctx).IsValid() {
		return
	}
	Propagator.Inject(ctx, RequestHeaders{h})
}

var _ propagation.TextMapCarrier = RequestHeaders{}
