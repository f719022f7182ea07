package tracing_test

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/valyala/fasthttp"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"

	"github.com/spyglass-gateway/spyglass/tracing"
)

// TestOffAllocatesNothing: with no span in the context nothing is made, injected or
// allocated.
func TestOffAllocatesNothing(t *testing.T) {
	ctx := context.Background()
	var h fasthttp.RequestHeader
	if raceEnabled {
		t.Log("allocation counts are not checked under -race")
	}
	n := testing.AllocsPerRun(100, func() {
		c, span := tracing.Start(ctx, "x")
		span.End()
		c2, span2 := tracing.StartClient(c, "y")
		span2.End()
		tracing.InjectFastHTTP(c2, &h)
		_ = tracing.Detach(c2)
		if c2 != ctx {
			t.Fatal("Start without a span changed the context")
		}
	})
	if !raceEnabled && n != 0 {
		t.Errorf("tracing off: %v allocations, want 0", n)
	}
	if v := h.Peek("Traceparent"); len(v) != 0 {
		t.Errorf("tracing off: traceparent %q injected", v)
	}
}

// TestPropagation: children under a recording span, traceparent written
// by the fasthttp carrier and the net/http Transport, and read back.
func TestPropagation(t *testing.T) {
	exp := tracetest.NewInMemoryExporter()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSyncer(exp))
	ctx, root := tp.Tracer("test").Start(context.Background(), "root")
	cctx, child := tracing.StartClient(ctx, "client")
	want := child.SpanContext()

	var h fasthttp.RequestHeader
	tracing.InjectFastHTTP(cctx, &h)
	got := trace.SpanContextFromContext(tracing.Extract(context.Background(), tracing.RequestHeaders{H: &h}))
	if got.TraceID() != want.TraceID() || got.SpanID() != want.SpanID() || !got.IsRemote() {
		t.Errorf("fasthttp round trip: %v, want %v", got, want)
	}

	var seen string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { seen = r.Header.Get("Traceparent") }))
	defer srv.Close()
	hc := &http.Client{Transport: &tracing.Transport{}}
	req, _ := http.NewRequestWithContext(cctx, "GET", srv.URL, nil)
	resp, err := hc.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if !strings.Contains(seen, want.TraceID().String()+"-"+want.SpanID().String()) {
		t.Errorf("Transport sent traceparent %q, want trace %s span %s", seen, want.TraceID(), want.SpanID())
	}
	if len(req.Header) != 0 {
		t.Errorf("Transport modified the caller's request: %v", req.Header)
	}

	// A detached context keeps the span, not the cancellation.
	cancelled, cancel := context.WithCancel(cctx)
	cancel()
	d := tracing.Detach(cancelled)
	if d.Err() != nil || trace.SpanContextFromContext(d).SpanID() != want.SpanID() {
		t.Errorf("Detach: err %v, span %v", d.Err(), trace.SpanContextFromContext(d))
	}
	child.End()
	root.End()
	spans := exp.GetSpans()
	if len(spans) != 2 || spans[0].Name != "client" || spans[0].Parent.SpanID() != root.SpanContext().SpanID() ||
		spans[0].SpanKind != trace.SpanKindClient {
		t.Errorf("spans: %v", spans)
	}

	// Work the request started may begin after the request's span ended
	// (a fill's goroutine, a stream sent after the handler returned): it
	// is still the request's child.
	_, late := tracing.Start(tracing.Detach(ctx), "late")
	if !late.IsRecording() {
		t.Fatal("a span started under an ended parent does not record")
	}
	late.End()
	spans = exp.GetSpans()
	if last := spans[len(spans)-1]; last.Name != "late" || last.Parent.SpanID() != root.SpanContext().SpanID() {
		t.Errorf("late span %q under %s, want under the root %s", last.Name, last.Parent.SpanID(), root.SpanContext().SpanID())
	}
}

// TestFailRedacts: an error quoting a URL with userinfo or a signature
// leaves neither in the span's status or its exception event.
func TestFailRedacts(t *testing.T) {
	exp := tracetest.NewInMemoryExporter()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSyncer(exp))
	_, span := tp.Tracer("test").Start(context.Background(), "fetch")
	tracing.Fail(span, &url.Error{Op: "Get", URL: "http://u:pw-canary@h/x?temp_url_sig=sig-canary", Err: io.EOF})
	span.End()
	s := exp.GetSpans()[0]
	texts := []string{s.Status.Description}
	for _, e := range s.Events {
		for _, a := range e.Attributes {
			texts = append(texts, a.Value.Emit())
		}
	}
	if len(s.Events) != 1 || s.Events[0].Name != "exception" {
		t.Fatalf("events %v, want one exception", s.Events)
	}
	for _, text := range texts {
		if strings.Contains(text, "canary") {
			t.Errorf("span records %q", text)
		}
	}
	if got, want := s.Events[0].Attributes[0].Value.Emit(), "*url.Error"; got != want {
		t.Errorf("exception.type %q, want %q", got, want)
	}
}
