package gateway

import (
	"context"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/valyala/fasthttp"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/sdk/instrumentation"
	"go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
)

// RequestMetrics counts every request by route template, method and status
// with its duration, and the image bytes sent, and hands them to the
// OpenTelemetry SDK as a metric.Producer (give it to the reader:
// sdkmetric.WithProducer, or the Prometheus exporter's WithProducer).
//
// The request path pays a few atomic adds and no allocation: each (route,
// method, status) series is created once, on first use, with its attribute
// set, and kept in a table. (The SDK's own synchronous histogram costs
// several times more per request: it re-normalizes the attribute set and
// takes a lock on every Record.)
type RequestMetrics struct {
	start  time.Time
	series [numRoutes][numMethods][len(knownStatuses)]atomic.Pointer[requestSeries]

	mu    sync.Mutex // guards other
	other map[seriesKey]*requestSeries

	sentCache, sentOrigin atomic.Int64
	cutCache, cutOrigin   atomic.Int64
	cacheAttrs            attribute.Set
	originAttrs           attribute.Set
}

type seriesKey struct {
	rt     routeID
	mt     httpMethod
	status int
}

// requestSeries is one (route, method, status): a cumulative histogram.
type requestSeries struct {
	attrs    attribute.Set
	sumNanos atomic.Int64
	buckets  [len(requestBuckets) + 1]atomic.Uint64 // the last: above every bound
}

// Metric names (the Prometheus exporter turns the dots into underscores and
// adds the unit and _total suffixes).
const (
	MetricRequestDuration = "http.server.request.duration"
	MetricImageBytesSent  = "spyglass.image.sent"
	MetricDownloadsCut    = "spyglass.image.downloads.cut"
)

// requestBuckets are the histogram's bounds in seconds: a cached show
// answers in well under a millisecond, a cold one in a region's time.
var requestBuckets = [...]float64{0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10}

// statusSlot maps a status code to its index in knownStatuses + 1; 0: not
// a known one.
var statusSlot = func() (t [600]uint8) {
	for i, code := range knownStatuses {
		t[code] = uint8(i + 1)
	}
	return t
}()

// NewRequestMetrics returns empty counters.
func NewRequestMetrics() *RequestMetrics {
	return &RequestMetrics{
		start:       time.Now(),
		other:       map[seriesKey]*requestSeries{},
		cacheAttrs:  attribute.NewSet(attribute.String("source", "cache")),
		originAttrs: attribute.NewSet(attribute.String("source", "origin")),
	}
}

// observe records one finished request (its handler returned) of route
// rt, resolved once for the handler, its span and this.
func (rm *RequestMetrics) observe(ctx *fasthttp.RequestCtx, rt routeID, start time.Time) {
	elapsed := time.Since(start)
	s := rm.seriesFor(rt, methodOf(ctx.Method()), ctx.Response.StatusCode())
	s.sumNanos.Add(int64(elapsed))
	// Bucket i holds (bounds[i-1], bounds[i]], as OpenTelemetry's explicit
	// bucket histogram; the last one everything above.
	s.buckets[sort.SearchFloat64s(requestBuckets[:], elapsed.Seconds())].Add(1)
}

// seriesFor returns the series of (route, method, status), created once.
func (rm *RequestMetrics) seriesFor(rt routeID, mt httpMethod, status int) *requestSeries {
	slot := 0
	if status > 0 && status < len(statusSlot) {
		slot = int(statusSlot[status])
	}
	if slot == 0 {
		rm.mu.Lock()
		defer rm.mu.Unlock()
		k := seriesKey{rt, mt, status}
		s := rm.other[k]
		if s == nil {
			s = &requestSeries{attrs: requestAttributes(rt, mt, status)}
			rm.other[k] = s
		}
		return s
	}
	p := &rm.series[rt][mt][slot-1]
	if s := p.Load(); s != nil {
		return s
	}
	p.CompareAndSwap(nil, &requestSeries{attrs: requestAttributes(rt, mt, status)})
	return p.Load()
}

func requestAttributes(rt routeID, mt httpMethod, status int) attribute.Set {
	return attribute.NewSet(
		attribute.String("http.route", routeIDs[rt]),
		attribute.String("http.request.method", methodNames[mt]),
		attribute.Int("http.response.status_code", status),
	)
}

// dataSent counts the n bytes of image data a download answers, by where
// they come from: the cache says so of its Data (FromCache).
func (rm *RequestMetrics) dataSent(data any, n int64) {
	if rm == nil || n <= 0 {
		return
	}
	if fromCache(data) {
		rm.sentCache.Add(n)
		return
	}
	rm.sentOrigin.Add(n)
}

// fromCache: the Data's bytes come from the image data cache (it says so).
func fromCache(data any) bool {
	c, ok := data.(interface{ FromCache() bool })
	return ok && c.FromCache()
}

// downloadCut counts a download whose status was sent and whose source
// then failed: cutting the stream short is all that is left
// to tell the client.
func (rm *RequestMetrics) downloadCut(fromCache bool) {
	if rm == nil {
		return
	}
	if fromCache {
		rm.cutCache.Add(1)
		return
	}
	rm.cutOrigin.Add(1)
}

// Produce is metric.Producer's: the counters as they are now.
func (rm *RequestMetrics) Produce(context.Context) ([]metricdata.ScopeMetrics, error) {
	now := time.Now()
	var points []metricdata.HistogramDataPoint[float64]
	add := func(s *requestSeries) {
		counts := make([]uint64, len(s.buckets))
		var count uint64
		for i := range s.buckets {
			counts[i] = s.buckets[i].Load()
			count += counts[i]
		}
		points = append(points, metricdata.HistogramDataPoint[float64]{
			Attributes: s.attrs, StartTime: rm.start, Time: now,
			Count: count, Bounds: requestBuckets[:], BucketCounts: counts,
			Sum: time.Duration(s.sumNanos.Load()).Seconds(),
		})
	}
	for rt := range rm.series {
		for mt := range rm.series[rt] {
			for i := range rm.series[rt][mt] {
				if s := rm.series[rt][mt][i].Load(); s != nil {
					add(s)
				}
			}
		}
	}
	rm.mu.Lock()
	for _, s := range rm.other {
		add(s)
	}
	rm.mu.Unlock()
	sent := func(attrs attribute.Set, v int64) metricdata.DataPoint[int64] {
		return metricdata.DataPoint[int64]{Attributes: attrs, StartTime: rm.start, Time: now, Value: v}
	}
	return []metricdata.ScopeMetrics{{
		Scope: instrumentation.Scope{Name: "github.com/spyglass-gateway/spyglass/gateway"},
		Metrics: []metricdata.Metrics{
			{
				Name:        MetricRequestDuration,
				Description: "Images API requests by route template, method and status: time until the response's headers are ready (an image body streams after).",
				Unit:        "s",
				Data:        metricdata.Histogram[float64]{Temporality: metricdata.CumulativeTemporality, DataPoints: points},
			},
			{
				Name:        MetricImageBytesSent,
				Description: "Image data bytes answered to clients (the lengths of the responses), by source: cache (the image data cache on disk) or origin (a region: the embedded store, or a remote region streamed straight through).",
				Unit:        "By",
				Data: metricdata.Sum[int64]{Temporality: metricdata.CumulativeTemporality, IsMonotonic: true, DataPoints: []metricdata.DataPoint[int64]{
					sent(rm.cacheAttrs, rm.sentCache.Load()), sent(rm.originAttrs, rm.sentOrigin.Load()),
				}},
			},
			{
				Name:        MetricDownloadsCut,
				Description: "Image downloads cut short after their status was sent, because their source failed (a region's stream broke, a fill failed): the client got fewer bytes than the Content-Length, the only signal left. By source: cache or origin.",
				Unit:        "{download}",
				Data: metricdata.Sum[int64]{Temporality: metricdata.CumulativeTemporality, IsMonotonic: true, DataPoints: []metricdata.DataPoint[int64]{
					sent(rm.cacheAttrs, rm.cutCache.Load()), sent(rm.originAttrs, rm.cutOrigin.Load()),
				}},
			},
		},
	}}, nil
}

var _ metric.Producer = (*RequestMetrics)(nil)

// knownStatuses are the statuses the gateway answers; each gets its
// attribute sets built once.
var knownStatuses = [...]int{200, 201, 202, 204, 206, 300, 302, 304, 400, 401, 403, 404, 405, 406, 409, 410, 411, 412, 413, 415, 416, 500, 501, 502, 503, 504}

type httpMethod uint8

const (
	methodGet httpMethod = iota
	methodHead
	methodPost
	methodPut
	methodPatch
	methodDelete
	methodOptions
	methodOther
	numMethods
)

var methodNames = [numMethods]string{"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "_OTHER"}

func methodOf(m []byte) httpMethod {
	for i, name := range methodNames[:methodOther] {
		if string(m) == name {
			return httpMethod(i)
		}
	}
	return methodOther
}
