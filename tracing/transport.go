package tracing

import (
	"net/http"

	"go.opentelemetry.io/otel/propagation"
)

// Transport injects the request context's span context into every
// outgoing request's headers (traceparent, tracestate) before Base sends
// it. With no span in the context it adds nothing.
type Transport struct {
	// Base sends the requests; nil means http.DefaultTransport.
	Base http.RoundTripper
}

// RoundTrip implements http.RoundTripper. It clones the request only when
// it has headers to add, as a RoundTripper must not modify its request.
func (t *Transport) RoundTrip(req *http.Request) (*http.Response, error) {
	base := t.Base
	if base == nil {
		base = http.DefaultTransport
	}
	ctx := req.Context()
	if !spanContextValid(ctx) {
		return base.RoundTrip(req)
	}
	req = req.Clone(ctx)
	Propagator.Inject(ctx, propagation.HeaderCarrier(req.Header))
	return base.RoundTrip(req)
}

// CloseIdleConnections closes Base's idle connections when it can.
func (t *Transport) CloseIdleConnections() {
	type closeIdler interface{ CloseIdleConnections() }
	if c, ok := t.Base.(closeIdler); ok {
		c.CloseIdleConnections()
	}
}

var _ http.RoundTripper = (*Transport)(nil)
