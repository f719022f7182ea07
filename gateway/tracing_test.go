package gateway_test

import (
	"context"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"

	"github.com/spyglass-gateway/spyglass/gateway"
	"github.com/spyglass-gateway/spyglass/policy"
)

// startTracedServer is startServer with tracing on, spans going to exp.
func startTracedServer(t testing.TB, tp trace.TracerProvider) *testServer {
	t.Helper()
	return startServerWith(t, "trusted", gateway.Config{Tracing: tp})
}

// TestServerSpans: one server span per request, named by the route
// template, continuing a well-formed client traceparent and starting a new
// trace for a malformed one.
func TestServerSpans(t *testing.T) {
	exp := tracetest.NewInMemoryExporter()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSyncer(exp))
	ts := startTracedServer(t, tp)
	img := ts.json(t, p1, "POST", "/v2/images", map[string]any{"name": "cirros", "disk_format": "qcow2", "container_format": "bare"}, 201)
	id := img["id"].(string)

	const traceID, spanID = "0af7651916cd43dd8448eb211c80319c", "b7ad6b7169203331"
	cases := []struct {
		method, path, traceparent string
		name                      string
		status                    int
		continues                 bool
	}{
		{"GET", "/v2/images/" + id, "00-" + traceID + "-" + spanID + "-01", "GET /v2/images/{image_id}", 200, true},
		{"GET", "/v2/images/" + id + "/members/p2", "", "GET /v2/images/{image_id}/members/{member_id}", 404, false},
		{"DELETE", "/v2/images/" + id + "/tags/a-tag", "00-" + traceID + "-zzzz-01", "DELETE /v2/images/{image_id}/tags/{tag_value}", 404, false},
		{"GET", "/v2.1/schemas/image", "", "GET /v2/schemas/{schema}", 200, false}, // any version prefix: the route id
		{"POST", "/v2/images/" + id + "/actions/deactivate", "", "POST /v2/images/{image_id}/actions/deactivate", 403, false},
		{"GET", "/v2/info/x/y", "", "GET", 404, false},
		{"GET", "/v2/no/such/thing", "", "GET", 404, false},
		{"GET", "/versions", "", "GET /versions", 200, false},
	}
	for _, c := range cases {
		exp.Reset()
		req, _ := http.NewRequest(c.method, ts.url+c.path, nil)
		req.Header.Set("X-Identity-Status", "Confirmed")
		req.Header.Set("X-Project-Id", "p1")
		req.Header.Set("X-Roles", "member")
		if c.traceparent != "" {
			req.Header.Set("Traceparent", c.traceparent)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != c.status {
			t.Errorf("%s %s: %d, want %d", c.method, c.path, resp.StatusCode, c.status)
		}
		spans := exp.GetSpans()
		if len(spans) != 1 {
			t.Fatalf("%s %s: %d spans, want 1", c.method, c.path, len(spans))
		}
		s := spans[0]
		if got, want := s.Name, c.name; got != want {
			t.Errorf("%s %s: span %q, want %q", c.method, c.path, got, want)
		}
		if got, want := s.SpanKind, trace.SpanKindServer; got != want {
			t.Errorf("%s %s: kind %v, want %v", c.method, c.path, got, want)
		}
		continues := s.SpanContext.TraceID().String() == traceID && s.Parent.SpanID().String() == spanID && s.Parent.IsRemote()
		if continues != c.continues {
			t.Errorf("%s %s: trace %s parent %s; continues the client's trace: %v, want %v",
				c.method, c.path, s.SpanContext.TraceID(), s.Parent.SpanID(), continues, c.continues)
		}
		attrs := map[string]string{}
		for _, kv := range s.Attributes {
			attrs[string(kv.Key)] = kv.Value.Emit()
		}
		if attrs["http.response.status_code"] != itoa(c.status) || attrs["http.request.method"] != c.method ||
			attrs["spyglass.request_id"] != resp.Header.Get("X-Openstack-Request-Id") {
			t.Errorf("%s %s: attributes %v", c.method, c.path, attrs)
		}
	}
}

func itoa(n int) string {
	var b [8]byte
	i := len(b)
	for n > 0 || i == len(b) {
		i--
		b[i] = byte('0' + n%10)
		n /= 10
	}
	return string(b[i:])
}

// BenchmarkShowTracing is BenchmarkShow with tracing off (as before tracing
// existed: the allocations per request must be the same) and on (every
// request sampled, spans batched to an exporter that drops them).
func BenchmarkShowTracing(b *testing.B) {
	for _, mode := range []string{"off", "on"} {
		b.Run(mode, func(b *testing.B) {
			var tp trace.TracerProvider
			if mode == "on" {
				p := sdktrace.NewTracerProvider(sdktrace.WithBatcher(tracetest.NewNoopExporter()))
				b.Cleanup(func() { p.Shutdown(context.Background()) })
				tp = p
			}
			ts := startTracedServer(b, tp)
			benchmarkShow(b, ts, "Traceparent: 00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01\r\n")
		})
	}
}

// TestRouteIDsAgree walks the route table over a server with tracing and
// metrics on: each row's request is named by its template in its span
// (name and http.route) and counted under the same template in the
// request metric, the route resolved once for both.
func TestRouteIDsAgree(t *testing.T) {
	exp := tracetest.NewInMemoryExporter()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSyncer(exp))
	metrics := gateway.NewRequestMetrics()
	reader := sdkmetric.NewManualReader(sdkmetric.WithProducer(metrics))
	provider := sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader))
	t.Cleanup(func() { provider.Shutdown(context.Background()) })
	ts := startServerWith(t, "trusted", gateway.Config{Tracing: tp, Metrics: metrics, EnableV1: true})
	statuses := map[gateway.RouteRow]int{}
	for _, row := range gateway.RouteRows() {
		path := strings.NewReplacer("{image_id}", "00000000-0000-4000-8000-000000000000", "{tag_value}", "t",
			"{member_id}", "p2", "{task_id}", "t1", "{schema}", "image", "{info}", "import").Replace(row.Path)
		exp.Reset()
		resp, _ := ts.do(t, admin, row.Method, path, nil)
		statuses[row] = resp.StatusCode
		// The router's own answers; a task's DELETE is Glance's 405 by
		// its handler (Allow: GET), and GET of one v1 member Queens' bare
		// 405 (no Allow; the router's always has one).
		if allow := resp.Header.Get("Allow"); resp.StatusCode == 300 || resp.StatusCode == 405 && allow != "GET" && allow != "" {
			t.Errorf("%s %s: %d", row.Method, path, resp.StatusCode)
		}
		spans := exp.GetSpans()
		if len(spans) != 1 {
			t.Fatalf("%s %s: %d spans", row.Method, path, len(spans))
		}
		if got, want := spans[0].Name, row.Method+" "+row.Path; got != want {
			t.Errorf("%s %s: span %q, want %q", row.Method, path, got, want)
		}
		for _, kv := range spans[0].Attributes {
			if kv.Key == "http.route" && kv.Value.AsString() != row.Path {
				t.Errorf("%s %s: span's http.route %q, want %q", row.Method, path, kv.Value.AsString(), row.Path)
			}
		}
	}
	var rm metricdata.ResourceMetrics
	if err := reader.Collect(context.Background(), &rm); err != nil {
		t.Fatal(err)
	}
	for row, status := range statuses {
		if got := requestCount(t, &rm, row.Path, row.Method, status); got != 1 {
			t.Errorf("%s %s → %d: counted %d under %q, want 1", row.Method, row.Path, status, got, row.Path)
		}
	}
}

// TestRouteRules: each row's policy rule is the one its handler enforces:
// with that rule alone refused ("!"), an admin's well-formed request to
// the row is refused (403, or the 404 Glance answers for an image the
// caller may not get), and with the rules restored the same request is
// not.
func TestRouteRules(t *testing.T) {
	ts := startServerWith(t, "trusted", gateway.Config{EnableV1: true})
	legacy := policy.MustNew(policy.Options{Defaults: policy.Legacy})
	for _, row := range gateway.RouteRows() {
		if row.Rule == "" {
			continue
		}
		t.Run(row.Method+" "+row.Path, func(t *testing.T) {
			ts.srv.SetPolicy(legacy)
			vis := "public"
			if strings.Contains(row.Path, "/members") {
				vis = "shared" // only shared images have members
			}
			img := ts.json(t, admin, "POST", "/v2/images", map[string]any{"name": "x", "disk_format": "raw", "container_format": "bare", "visibility": vis}, 201)
			id := img["id"].(string)
			if !strings.HasSuffix(row.Path, "/file") && !strings.HasSuffix(row.Path, "/stage") && !strings.HasSuffix(row.Path, "/import") {
				if resp, body := ts.do(t, admin, "PUT", "/v2/images/"+id+"/file", strings.NewReader("data"), "Content-Type", "application/octet-stream"); resp.StatusCode != 204 {
					t.Fatalf("upload: %d %s", resp.StatusCode, body)
				}
			}
			ts.do(t, admin, "POST", "/v2/images/"+id+"/members", strings.NewReader(`{"member": "p2"}`), "Content-Type", "application/json")
			path := strings.NewReplacer("{image_id}", id, "{tag_value}", "t", "{member_id}", "p2", "{task_id}", "t1").Replace(row.Path)
			body, ctype := "", ""
			switch row.Method + " " + row.Path {
			case "POST /v2/images":
				body, ctype = `{"name": "y"}`, "application/json"
			case "PATCH /v2/images/{image_id}":
				body, ctype = `[{"op": "replace", "path": "/name", "value": "z"}]`, "application/openstack-images-v2.1-json-patch"
			case "PUT /v2/images/{image_id}/file", "PUT /v2/images/{image_id}/stage":
				body, ctype = "data", "application/octet-stream"
			case "POST /v2/images/{image_id}/import":
				body, ctype = `{"method": {"name": "glance-direct"}}`, "application/json"
			case "POST /v2/images/{image_id}/members":
				body, ctype = `{"member": "p3"}`, "application/json"
			case "PUT /v2/images/{image_id}/members/{member_id}":
				body, ctype = `{"status": "accepted"}`, "application/json"
			case "POST /v2/tasks":
				body, ctype = `{"type": "import", "input": {}}`, "application/json"
			}
			f := filepath.Join(t.TempDir(), "policy.yaml")
			if err := os.WriteFile(f, []byte(`"`+row.Rule+`": "!"`+"\n"), 0o644); err != nil {
				t.Fatal(err)
			}
			ts.srv.SetPolicy(policy.MustNew(policy.Options{Defaults: policy.Legacy, File: f}))
			resp, got := ts.do(t, admin, row.Method, path, strings.NewReader(body), "Content-Type", ctype)
			if resp.StatusCode != 403 && resp.StatusCode != 404 {
				t.Errorf("%s refused: %s %s answered %d %s", row.Rule, row.Method, path, resp.StatusCode, got)
			}
			ts.srv.SetPolicy(legacy)
			resp, got = ts.do(t, admin, row.Method, path, strings.NewReader(body), "Content-Type", ctype)
			if resp.StatusCode == 403 {
				t.Errorf("%s allowed: %s %s answered %d %s", row.Rule, row.Method, path, resp.StatusCode, got)
			}
		})
	}
}
