package gateway_test

import (
	"bytes"
	"context"
	"regexp"
	"testing"

	"go.opentelemetry.io/otel/attribute"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"

	"github.com/spyglass-gateway/spyglass/gateway"
)

// startMetered runs the gateway over a real embedded store with request
// metrics and returns the SDK reader that collects them; with on false,
// without metrics (and a nil reader).
func startMetered(t testing.TB, on bool) (*testServer, *sdkmetric.ManualReader) {
	t.Helper()
	var cfg gateway.Config
	var reader *sdkmetric.ManualReader
	if on {
		cfg.Metrics = gateway.NewRequestMetrics()
		reader = sdkmetric.NewManualReader(sdkmetric.WithProducer(cfg.Metrics))
		provider := sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader))
		t.Cleanup(func() { provider.Shutdown(context.Background()) })
	}
	return startServerWith(t, "trusted", cfg), reader
}

// rawPathSegment is what no template holds: an image id (a template's
// literals are words, hyphenated in /v1/shared-images).
var rawPathSegment = regexp.MustCompile(`[0-9a-f]{8}-[0-9a-f]{4}-`)

// requestCount is how many requests the histogram counted with exactly
// these route, method and status.
func requestCount(t *testing.T, rm *metricdata.ResourceMetrics, route, method string, status int) uint64 {
	t.Helper()
	want := attribute.NewSet(
		attribute.String("http.route", route),
		attribute.String("http.request.method", method),
		attribute.Int("http.response.status_code", status),
	)
	var n uint64
	for _, sm := range rm.ScopeMetrics {
		for _, m := range sm.Metrics {
			if m.Name != gateway.MetricRequestDuration {
				continue
			}
			h, ok := m.Data.(metricdata.Histogram[float64])
			if !ok {
				t.Fatalf("%s is %T, want a float64 histogram", m.Name, m.Data)
			}
			for _, dp := range h.DataPoints {
				if dp.Attributes.Equals(&want) {
					n += dp.Count
				}
				if v, ok := dp.Attributes.Value("http.route"); ok && rawPathSegment.MatchString(v.AsString()) {
					t.Errorf("route label %q holds a raw path", v.AsString())
				}
			}
		}
	}
	return n
}

func bytesSent(rm *metricdata.ResourceMetrics, source string) int64 {
	want := attribute.NewSet(attribute.String("source", source))
	for _, sm := range rm.ScopeMetrics {
		for _, m := range sm.Metrics {
			if m.Name != gateway.MetricImageBytesSent {
				continue
			}
			for _, dp := range m.Data.(metricdata.Sum[int64]).DataPoints {
				if dp.Attributes.Equals(&want) {
					return dp.Value
				}
			}
		}
	}
	return 0
}

func TestRequestMetrics(t *testing.T) {
	ts, reader := startMetered(t, true)
	img := ts.json(t, p1, "POST", "/v2/images", map[string]any{"name": "cirros", "disk_format": "qcow2", "container_format": "bare"}, 201)
	id := img["id"].(string)
	ts.json(t, p1, "GET", "/v2/images/"+id, nil, 200)
	ts.json(t, p1, "GET", "/v2/images/"+id, nil, 200)
	data := bytes.Repeat([]byte("spyglass"), 1000)
	resp, body := ts.do(t, p1, "PUT", "/v2/images/"+id+"/file", bytes.NewReader(data), "Content-Type", "application/octet-stream")
	if resp.StatusCode != 204 {
		t.Fatalf("upload: %d %s", resp.StatusCode, body)
	}
	resp, body = ts.do(t, p1, "GET", "/v2/images/"+id+"/file", nil)
	if resp.StatusCode != 200 || !bytes.Equal(body, data) {
		t.Fatalf("download: %d, %d bytes", resp.StatusCode, len(body))
	}
	resp, _ = ts.do(t, p1, "GET", "/v2/images/"+id+"/file", nil, "Range", "bytes=0-99")
	if resp.StatusCode != 206 {
		t.Fatalf("ranged download: %d", resp.StatusCode)
	}
	ts.do(t, p1, "GET", "/v2/images/00000000-0000-4000-8000-000000000000", nil)
	ts.do(t, p1, "GET", "/no/such/path", nil)
	ts.do(t, p1, "PUT", "/v2/images", nil)
	ts.do(t, as{}, "GET", "/v2/images", nil) // no identity: 401
	if resp, body := ts.do(t, p1, "POST", "/v2/images/"+id+"/actions/deactivate", nil); resp.StatusCode != 204 {
		t.Fatalf("deactivate: %d %s", resp.StatusCode, body)
	}
	ts.do(t, p1, "GET", "/v2/info/x/y", nil)
	ts.do(t, p1, "GET", "/v2.1/schemas/image", nil)

	var rm metricdata.ResourceMetrics
	if err := reader.Collect(context.Background(), &rm); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		route, method string
		status        int
		want          uint64
	}{
		{"/v2/images", "POST", 201, 1},
		{"/v2/images/{image_id}", "GET", 200, 2},
		{"/v2/images/{image_id}/file", "PUT", 204, 1},
		{"/v2/images/{image_id}/file", "GET", 200, 1},
		{"/v2/images/{image_id}/file", "GET", 206, 1},
		{"/v2/images/{image_id}", "GET", 404, 1},
		{"other", "GET", 300, 1},
		{"/v2/images", "PUT", 405, 1},
		{"/v2/images", "GET", 401, 1},
		{"/v2/images", "GET", 200, 0},
		{"/v2/images/{image_id}/actions/deactivate", "POST", 204, 1}, // the span's name too
		{"other", "GET", 404, 1},                                     // /v2/info/x/y: no route
		{"/v2/schemas/{schema}", "GET", 200, 1},
	} {
		if got := requestCount(t, &rm, c.route, c.method, c.status); got != c.want {
			t.Errorf("%s %s → %d: counted %d, want %d", c.method, c.route, c.status, got, c.want)
		}
	}
	if got, want := bytesSent(&rm, "origin"), int64(len(data)+100); got != want {
		t.Errorf("image bytes sent from the origin: %d, want %d", got, want)
	}
	if got := bytesSent(&rm, "cache"); got != 0 {
		t.Errorf("image bytes sent from the cache: %d, want 0 (an embedded store has no cache)", got)
	}
}

// BenchmarkShowMetrics compares the show path with request metrics off and
// on (read by an SDK reader, as serve builds it).
func BenchmarkShowMetrics(b *testing.B) {
	for _, on := range []bool{false, true} {
		name := "off"
		if on {
			name = "on"
		}
		b.Run(name, func(b *testing.B) {
			ts, _ := startMetered(b, on)
			benchmarkShow(b, ts, "")
		})
	}
}
