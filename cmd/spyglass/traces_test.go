package main

import (
	"bytes"
	"compress/gzip"
	"crypto/md5"
	"encoding/hex"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	coltracepb "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	commonpb "go.opentelemetry.io/proto/otlp/common/v1"
	tracepb "go.opentelemetry.io/proto/otlp/trace/v1"
	"google.golang.org/protobuf/proto"

	"github.com/spyglass-gateway/spyglass/backends/glance/glancetest"
)

// otlpReceiver is the collector in these tests: a real OTLP/HTTP endpoint
// on loopback that decodes what it is sent (application/x-protobuf
// ExportTraceServiceRequest) and keeps it.
type otlpReceiver struct {
	url string

	mu       sync.Mutex
	posts    int
	paths    []string
	spans    []*tracepb.Span
	services []string // service.name of each resource
	versions []string
	errs     []string
}

func startOTLPReceiver(t *testing.T) *otlpReceiver {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	r := &otlpReceiver{url: "http://" + ln.Addr().String()}
	srv := &http.Server{Handler: http.HandlerFunc(r.serve)}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	return r
}

func (r *otlpReceiver) serve(w http.ResponseWriter, req *http.Request) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.posts++
	r.paths = append(r.paths, req.Method+" "+req.URL.Path)
	var body io.Reader = req.Body
	if req.Header.Get("Content-Encoding") == "gzip" {
		zr, err := gzip.NewReader(req.Body)
		if err != nil {
			r.errs = append(r.errs, err.Error())
			http.Error(w, err.Error(), 400)
			return
		}
		body = zr
	}
	raw, err := io.ReadAll(body)
	var msg coltracepb.ExportTraceServiceRequest
	if err == nil {
		err = proto.Unmarshal(raw, &msg)
	}
	if err != nil || req.Header.Get("Content-Type") != "application/x-protobuf" {
		r.errs = append(r.errs, fmt.Sprintf("content type %q: %v", req.Header.Get("Content-Type"), err))
		http.Error(w, "bad request", 400)
		return
	}
	for _, rs := range msg.ResourceSpans {
		r.services = append(r.services, attr(rs.GetResource().GetAttributes(), "service.name"))
		r.versions = append(r.versions, attr(rs.GetResource().GetAttributes(), "service.version"))
		for _, ss := range rs.ScopeSpans {
			r.spans = append(r.spans, ss.Spans...)
		}
	}
	out, _ := proto.Marshal(&coltracepb.ExportTraceServiceResponse{})
	w.Header().Set("Content-Type", "application/x-protobuf")
	w.Write(out)
}

func attr(kvs []*commonpb.KeyValue, key string) string {
	for _, kv := range kvs {
		if kv.Key == key {
			switch v := kv.GetValue().GetValue().(type) {
			case *commonpb.AnyValue_StringValue:
				return v.StringValue
			case *commonpb.AnyValue_IntValue:
				return fmt.Sprint(v.IntValue)
			case *commonpb.AnyValue_BoolValue:
				return fmt.Sprint(v.BoolValue)
			}
			return kv.GetValue().String()
		}
	}
	return ""
}

// regionRecorder is a reverse proxy in front of the real Glance that
// records the trace context each request to the region carries.
type regionRecorder struct {
	url string

	mu       sync.Mutex
	requests []string // "METHOD path traceparent"
}

func startRegionRecorder(t *testing.T, target string) *regionRecorder {
	t.Helper()
	u, err := url.Parse(target)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	rec := &regionRecorder{url: "http://" + ln.Addr().String()}
	proxy := httputil.NewSingleHostReverseProxy(u)
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		rec.mu.Lock()
		rec.requests = append(rec.requests, req.Method+" "+req.URL.Path+" "+req.Header.Get("Traceparent"))
		rec.mu.Unlock()
		proxy.ServeHTTP(w, req)
	})}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	return rec
}

func (rec *regionRecorder) take() []string {
	rec.mu.Lock()
	defer rec.mu.Unlock()
	r := rec.requests
	rec.requests = nil
	return r
}

const (
	clientTrace = "4bf92f3577b34da6a3ce929d0e0e4736"
	clientSpan  = "00f067aa0ba902b7"
)

// TestTraces runs the binary in front of a real Glance (through a
// recording proxy) with traces exported to a real OTLP/HTTP receiver: a
// show and a download, each continuing a client's trace, must yield server
// spans under the client's span with the region calls and the fill below
// them, and every region request must carry the trace on. With no
// traces_endpoint nothing is exported, even with the OTEL_* environment
// pointing at the receiver, and the regions see no traceparent.
func TestTraces(t *testing.T) {
	bin := buildBinary(t)
	g := glancetest.SharedT(t)
	data := bytes.Repeat([]byte("spyglass traces "), 64<<10) // 1 MiB
	sum := md5.Sum(data)
	id := putImageToGlance(t, g, "traced", data)
	rec := startRegionRecorder(t, g.URL)

	// run starts Spyglass with traces (or not), makes the two traced
	// requests, stops it with SIGTERM (the drain flushes the spans) and
	// returns the region requests made meanwhile.
	run := func(t *testing.T, otlp *otlpReceiver, tracesEndpoint string, env ...string) []string {
		cfgPath := glanceRegionConfig(t, "trusted", rec.url, fmt.Sprintf("telemetry: {traces_endpoint: %q}\n", tracesEndpoint))
		for _, kv := range env {
			k, v, _ := strings.Cut(kv, "=")
			t.Setenv(k, v)
		}
		p := startWithConfig(t, bin, cfgPath)
		rec.take()
		base := "http://" + p.addr + "/v2/images/" + id
		for i, path := range []string{base, base + "/file"} {
			req := adminReq(t, "GET", path, nil)
			req.Header.Set("Traceparent", fmt.Sprintf("00-%s-%s-01", clientTrace, clientSpan))
			req.Header.Set("X-Openstack-Request-Id", fmt.Sprintf("req-traced-%d", i))
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			body, err := io.ReadAll(resp.Body)
			resp.Body.Close()
			if err != nil || resp.StatusCode != 200 {
				t.Fatalf("GET %s: %d %v", path, resp.StatusCode, err)
			}
			if i == 1 && md5.Sum(body) != sum {
				t.Fatalf("download: %d bytes, not the image's", len(body))
			}
		}
		p.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case err := <-p.done:
			p.done <- err
			if err != nil {
				t.Fatalf("spyglass exited with %v after SIGTERM", err)
			}
		case <-time.After(60 * time.Second):
			t.Fatal("spyglass did not exit within 60s of SIGTERM")
		}
		return rec.take()
	}

	t.Run("on", func(t *testing.T) {
		otlp := startOTLPReceiver(t)
		regionReqs := run(t, otlp, otlp.url)
		otlp.mu.Lock()
		defer otlp.mu.Unlock()
		if len(otlp.errs) > 0 {
			t.Fatalf("the receiver could not decode exports: %v", otlp.errs)
		}
		for _, p := range otlp.paths {
			if p != "POST /v1/traces" {
				t.Errorf("export to %q, want POST /v1/traces (the default path under an endpoint without one)", p)
			}
		}
		for i, s := range otlp.services {
			if s != "spyglass" || otlp.versions[i] == "" {
				t.Errorf("resource service.name %q version %q, want spyglass and a version", s, otlp.versions[i])
			}
		}
		byID := map[string]*tracepb.Span{}
		for _, s := range otlp.spans {
			byID[hex.EncodeToString(s.SpanId)] = s
		}
		// under reports whether s descends from ancestor.
		under := func(s, ancestor *tracepb.Span) bool {
			for s != nil && len(s.ParentSpanId) > 0 {
				if bytes.Equal(s.ParentSpanId, ancestor.SpanId) {
					return true
				}
				s = byID[hex.EncodeToString(s.ParentSpanId)]
			}
			return false
		}
		find := func(name string, parent *tracepb.Span) *tracepb.Span {
			t.Helper()
			for _, s := range otlp.spans {
				if s.Name == name && (parent == nil || under(s, parent)) {
					return s
				}
			}
			var names []string
			for _, s := range otlp.spans {
				names = append(names, s.Name)
			}
			t.Fatalf("no span %q under %v among %q", name, parent.GetName(), names)
			return nil
		}
		for i, route := range []string{"/v2/images/{image_id}", "/v2/images/{image_id}/file"} {
			srv := find("GET "+route, nil)
			if got := hex.EncodeToString(srv.TraceId); got != clientTrace {
				t.Errorf("%s: trace id %s, want the client's %s", srv.Name, got, clientTrace)
			}
			if got := hex.EncodeToString(srv.ParentSpanId); got != clientSpan {
				t.Errorf("%s: parent span %s, want the client's span %s", srv.Name, got, clientSpan)
			}
			if srv.Kind != tracepb.Span_SPAN_KIND_SERVER {
				t.Errorf("%s: kind %v, want server", srv.Name, srv.Kind)
			}
			for k, want := range map[string]string{
				"http.request.method": "GET", "http.route": route, "http.response.status_code": "200",
				"spyglass.request_id": fmt.Sprintf("req-traced-%d", i),
			} {
				if got := attr(srv.Attributes, k); got != want {
					t.Errorf("%s: %s = %q, want %q", srv.Name, k, got, want)
				}
			}
			if strings.Contains(srv.Name, id) {
				t.Errorf("span name %q carries the image id", srv.Name)
			}
			if i == 0 {
				region := find("region.metadata", srv)
				if region.Kind != tracepb.Span_SPAN_KIND_CLIENT || attr(region.Attributes, "spyglass.region") != "origin" ||
					attr(region.Attributes, "http.response.status_code") != "200" {
					t.Errorf("region.metadata span: kind %v, attributes %v", region.Kind, region.Attributes)
				}
				if got := attr(find("cache.metadata", srv).Attributes, "spyglass.cache.result"); got != "miss" {
					t.Errorf("first show: metadata cache %q, want miss", got)
				}
				continue
			}
			if got := attr(find("cache.blobs", srv).Attributes, "spyglass.cache.result"); got != "fill" {
				t.Errorf("first download: blob cache %q, want fill", got)
			}
			fill := find("cache.blobs.fill", srv)
			if attr(fill.Attributes, "spyglass.fill.complete") != "true" {
				t.Errorf("fill span: %v", fill.Attributes)
			}
			find("region.data", fill)
		}

		// The region saw the client's trace on every call, each naming as
		// its parent one of Spyglass's region spans.
		if len(regionReqs) == 0 {
			t.Fatal("no request reached the region")
		}
		for _, r := range regionReqs {
			f := strings.Fields(r)
			if len(f) != 3 {
				t.Errorf("region request without traceparent: %q", r)
				continue
			}
			parts := strings.Split(f[2], "-")
			if len(parts) != 4 || parts[1] != clientTrace {
				t.Errorf("region request %q: traceparent not in the client's trace %s", r, clientTrace)
				continue
			}
			if s := byID[parts[2]]; s == nil || !strings.HasPrefix(s.Name, "region.") {
				t.Errorf("region request %q: its parent span %s is not an exported region span", r, parts[2])
			}
		}
	})

	t.Run("off", func(t *testing.T) {
		otlp := startOTLPReceiver(t)
		// Were a tracer provider installed, the exporter would read these.
		regionReqs := run(t, otlp, "", "OTEL_EXPORTER_OTLP_ENDPOINT="+otlp.url, "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT="+otlp.url+"/v1/traces")
		otlp.mu.Lock()
		defer otlp.mu.Unlock()
		if otlp.posts != 0 {
			t.Errorf("tracing off: %d exports reached the receiver", otlp.posts)
		}
		if len(regionReqs) == 0 {
			t.Fatal("no request reached the region")
		}
		for _, r := range regionReqs {
			if len(strings.Fields(r)) != 2 {
				t.Errorf("tracing off: region request carries a traceparent: %q", r)
			}
		}
	})
}
