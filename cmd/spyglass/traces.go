package main

import (
	"context"
	"fmt"
	"log/slog"
	"net/url"
	"time"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"

	"github.com/spyglass-gateway/spyglass/config"
)

// startTracing builds the tracer provider telemetry.traces_endpoint asks
// for: OTLP/HTTP (protobuf) to the endpoint through a batch span
// processor, service.name spyglass with its version. With no endpoint it
// returns nil: no provider, no spans, no cost. shutdown flushes the spans
// still queued and stops the exporter; it is bounded by its ctx.
func startTracing(t config.Telemetry, log *slog.Logger) (tp *sdktrace.TracerProvider, shutdown func(context.Context), err error) {
	if t.TracesEndpoint == "" {
		return nil, func(context.Context) {}, nil
	}
	exp, err := otlptracehttp.New(context.Background(), otlptracehttp.WithEndpointURL(tracesURL(t.TracesEndpoint)))
	if err != nil {
		return nil, nil, fmt.Errorf("telemetry.traces_endpoint: %w", err)
	}
	// The exporter reports failed exports here (a collector down costs a
	// warning per batch, never a request).
	otel.SetErrorHandler(otel.ErrorHandlerFunc(func(err error) { log.Warn("trace export", "err", err) }))
	res := resource.NewSchemaless(
		attribute.String("service.name", "spyglass"),
		attribute.String("service.version", version),
	)
	tp = sdktrace.NewTracerProvider(sdktrace.WithBatcher(exp), sdktrace.WithResource(res))
	return tp, func(ctx context.Context) {
		if err := tp.Shutdown(ctx); err != nil {
			log.Warn("flushing traces", "err", err)
		}
	}, nil
}

// tracesURL is the URL spans are posted to: the endpoint as given, or,
// when it names no path (http://collector:4318), OTLP's default traces
// path /v1/traces under it, as OTEL_EXPORTER_OTLP_ENDPOINT is read.
func tracesURL(endpoint string) string {
	u, err := url.Parse(endpoint)
	if err != nil { // Validate rules this out
		return endpoint
	}
	if u.Path == "" || u.Path == "/" {
		u.Path = "/v1/traces"
	}
	return u.String()
}

// traceFlushTimeout bounds flushing traces at exit, after the drain.
const traceFlushTimeout = 5 * time.Second
