package blob_test

import (
	"bytes"
	"context"
	"testing"
	"time"

	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"

	"github.com/spyglass-gateway/spyglass/backends"
	"github.com/spyglass-gateway/spyglass/cache/blob/blobtest"
)

// TestBlobFillSpan: a fill is one span, the child of the request that
// started it, with its origin fetches below it; a request that attaches to
// the running fill says so in its lookup span and gets no fill of its own.
func TestBlobFillSpan(t *testing.T) {
	exp := tracetest.NewInMemoryExporter()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSyncer(exp))
	tracer := tp.Tracer("test")
	o := blobtest.NewOrigin(t, 4<<20)
	o.BytesPerS.Store(1 << 20) // a 4 s fill: the second request finds it running
	b := openBlobs(t, t.TempDir(), 1<<30)
	src := o.Region(t, 10*time.Second)

	ctx1, req1 := tracer.Start(context.Background(), "request-1")
	first, err := b.Open(ctx1, key, o.Expect(), src)
	if err != nil {
		t.Fatal(err)
	}
	<-o.FirstByte
	ctx2, req2 := tracer.Start(context.Background(), "request-2")
	second, err := b.Open(ctx2, key, o.Expect(), src)
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range []backends.Data{first, second} {
		got, err := readAll(t, d)
		if err != nil || !bytes.Equal(got, o.Data) {
			t.Fatalf("read: %v", err)
		}
		d.Close()
	}
	req1.End()
	req2.End()
	b.Close() // waits for the fill to end

	results := map[string]string{} // parent request → lookup result
	var fills, fetches int
	names := map[string]string{req1.SpanContext().SpanID().String(): "request-1", req2.SpanContext().SpanID().String(): "request-2"}
	for _, s := range exp.GetSpans() {
		names[s.SpanContext.SpanID().String()] = s.Name
	}
	for _, s := range exp.GetSpans() {
		parent := names[s.Parent.SpanID().String()]
		switch s.Name {
		case "cache.blobs":
			for _, kv := range s.Attributes {
				if kv.Key == "spyglass.cache.result" {
					results[parent] = kv.Value.AsString()
				}
			}
		case "cache.blobs.fill":
			fills++
			if parent != "request-1" || s.SpanContext.TraceID() != req1.SpanContext().TraceID() {
				t.Errorf("fill span's parent is %q, want request-1, the request that started it", parent)
			}
		case "region.data":
			fetches++
			if parent != "cache.blobs.fill" {
				t.Errorf("origin fetch span's parent is %q, want the fill", parent)
			}
		}
	}
	if got, want := results["request-1"]+","+results["request-2"], "fill,attach"; got != want {
		t.Errorf("lookup results %q, want %q", got, want)
	}
	if fills != 1 || fetches == 0 {
		t.Errorf("%d fill spans and %d origin fetch spans, want 1 and at least 1", fills, fetches)
	}
}
