package gateway

import (
	"context"
	"sync/atomic"
	"time"

	"github.com/valyala/fasthttp"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
)

// requestMetrics records every request's route, method, status and
// duration, and the image bytes sent, on OpenTelemetry instruments. The
// request path pays no allocation for it: each (route, method, status)
// gets its attribute set built once, on first use, and kept in a table.
type requestMetrics struct {
	duration metric.Float64Histogram
	sent     metric.Int64Counter

	sets           [numRoutes][numMethods][len(knownStatuses)]atomic.Pointer[[]metric.RecordOption]
	fromCache      []metric.AddOption
	fromOrigin     []metric.AddOption
	statusSlotByID [600]uint8 // status code → index in knownStatuses + 1; 0: not known
}

// Metric names (the Prometheus exporter turns the dots into underscores and
// adds the unit and _total suffixes).
const (
	MetricRequestDuration = "http.server.request.duration"
	MetricImageBytesSent  = "spyglass.image.sent"
)

// requestBuckets are the histogram's bounds in seconds: a cached show
// answers in well under a millisecond, a cold one in a region's time.
var requestBuckets = []float64{0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10}

func newRequestMetrics(m metric.Meter) (*requestMetrics, error) {
	duration, err := m.Float64Histogram(MetricRequestDuration,
		metric.WithUnit("s"),
		metric.WithDescription("Images API requests by route template, method and status: time until the response's headers are ready (an image body streams after)."),
		metric.WithExplicitBucketBoundaries(requestBuckets...))
	if err != nil {
		return nil, err
	}
	sent, err := m.Int64Counter(MetricImageBytesSent,
		metric.WithUnit("By"),
		metric.WithDescription("Image data bytes answered to clients (the lengths of the responses), by source: cache (the image data cache on disk) or origin (a region: the embedded store, or a remote region streamed straight through)."))
	if err != nil {
		return nil, err
	}
	rm := &requestMetrics{duration: duration, sent: sent}
	rm.fromCache = []metric.AddOption{metric.WithAttributeSet(attribute.NewSet(attribute.String("source", "cache")))}
	rm.fromOrigin = []metric.AddOption{metric.WithAttributeSet(attribute.NewSet(attribute.String("source", "origin")))}
	for i, code := range knownStatuses {
		rm.statusSlotByID[code] = uint8(i + 1)
	}
	return rm, nil
}

// observe records one finished request (its handler returned).
func (rm *requestMetrics) observe(ctx *fasthttp.RequestCtx, start time.Time) {
	elapsed := time.Since(start).Seconds()
	rt := routeOf(ctx.Path(), ctx.Request.Header.Peek("Accept"))
	mt := methodOf(ctx.Method())
	status := ctx.Response.StatusCode()
	rm.duration.Record(context.Background(), elapsed, rm.options(rt, mt, status)...)
}

// options returns the attribute set of (route, method, status), built
// once. A status outside knownStatuses gets a set built for the request.
func (rm *requestMetrics) options(rt route, mt httpMethod, status int) []metric.RecordOption {
	slot := 0
	if status > 0 && status < len(rm.statusSlotByID) {
		slot = int(rm.statusSlotByID[status])
	}
	if slot == 0 {
		return []metric.RecordOption{metric.WithAttributeSet(requestAttributes(rt, mt, status))}
	}
	p := &rm.sets[rt][mt][slot-1]
	if opts := p.Load(); opts != nil {
		return *opts
	}
	opts := []metric.RecordOption{metric.WithAttributeSet(requestAttributes(rt, mt, status))}
	p.CompareAndSwap(nil, &opts)
	return *p.Load()
}

func requestAttributes(rt route, mt httpMethod, status int) attribute.Set {
	return attribute.NewSet(
		attribute.String("http.route", routeNames[rt]),
		attribute.String("http.request.method", methodNames[mt]),
		attribute.Int("http.response.status_code", status),
	)
}

// dataSent counts the n bytes of image data a download answers, by where
// they come from: the cache says so of its Data (FromCache).
func (rm *requestMetrics) dataSent(data any, n int64) {
	if rm == nil || n <= 0 {
		return
	}
	if c, ok := data.(interface{ FromCache() bool }); ok && c.FromCache() {
		rm.sent.Add(context.Background(), n, rm.fromCache...)
		return
	}
	rm.sent.Add(context.Background(), n, rm.fromOrigin...)
}

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

// route is a route template: a metric label of bounded cardinality,
// never the raw path.
type route uint8

const (
	routeOther route = iota // no route: the 404s (and 300s) of unknown paths
	routeRoot
	routeVersions
	routeHealthcheck
	routeVersion
	routeImages
	routeImage
	routeImageFile
	routeImageStage
	routeImageImport
	routeImageTasks
	routeImageAction
	routeImageTag
	routeImageMembers
	routeImageMember
	routeSchemas
	routeTasks
	routeTask
	routeCache
	routeCacheImage
	routeCacheClean
	routeCachePrune
	routeInfo
	numRoutes
)

var routeNames = [numRoutes]string{
	routeOther:        "other",
	routeRoot:         "/",
	routeVersions:     "/versions",
	routeHealthcheck:  "/healthcheck",
	routeVersion:      "/v2",
	routeImages:       "/v2/images",
	routeImage:        "/v2/images/{image_id}",
	routeImageFile:    "/v2/images/{image_id}/file",
	routeImageStage:   "/v2/images/{image_id}/stage",
	routeImageImport:  "/v2/images/{image_id}/import",
	routeImageTasks:   "/v2/images/{image_id}/tasks",
	routeImageAction:  "/v2/images/{image_id}/actions/{action}",
	routeImageTag:     "/v2/images/{image_id}/tags/{tag_value}",
	routeImageMembers: "/v2/images/{image_id}/members",
	routeImageMember:  "/v2/images/{image_id}/members/{member_id}",
	routeSchemas:      "/v2/schemas/{schema}",
	routeTasks:        "/v2/tasks",
	routeTask:         "/v2/tasks/{task_id}",
	routeCache:        "/v2/cache",
	routeCacheImage:   "/v2/cache/{image_id}",
	routeCacheClean:   "/v2/cache/clean",
	routeCachePrune:   "/v2/cache/prune",
	routeInfo:         "/v2/info/{info}",
}

// routeOf names the route template a request's path matches, by the same
// shapes serveHTTP and route dispatch on (version prefix or Accept
// version, then the segments); any API version is reported as /v2.
func routeOf(path, accept []byte) route {
	if string(path) == "/healthcheck" {
		return routeHealthcheck
	}
	var segs [maxSegments][]byte
	n, ok := segments(path, &segs)
	if !ok {
		return routeOther
	}
	if n > 0 && string(segs[0]) == "versions" {
		return routeVersions
	}
	rest := segs[:n]
	var version []byte
	if len(accept) > len(vndPrefix) && string(accept[:len(vndPrefix)]) == vndPrefix {
		version = accept[len(vndPrefix):]
	} else if n > 0 {
		version, rest = segs[0], segs[1:n]
	}
	if !knownVersion(version) {
		if n == 0 {
			return routeRoot
		}
		return routeOther
	}
	if len(rest) == 0 {
		return routeVersion
	}
	if path[len(path)-1] == '/' {
		return routeOther // Glance's routes are strict about trailing slashes
	}
	switch string(rest[0]) {
	case "images":
		return imageRoute(rest[1:])
	case "schemas":
		if len(rest) >= 2 {
			return routeSchemas
		}
	case "tasks":
		switch len(rest) {
		case 1:
			return routeTasks
		case 2:
			return routeTask
		}
	case "cache":
		switch {
		case len(rest) == 1:
			return routeCache
		case len(rest) == 2 && string(rest[1]) == "clean":
			return routeCacheClean
		case len(rest) == 2 && string(rest[1]) == "prune":
			return routeCachePrune
		case len(rest) == 2:
			return routeCacheImage
		}
	case "info":
		if len(rest) == 2 || len(rest) == 3 {
			return routeInfo
		}
	}
	return routeOther
}

// imageRoute names the routes under /v2/images (seg without "images").
func imageRoute(seg [][]byte) route {
	switch len(seg) {
	case 0:
		return routeImages
	case 1:
		return routeImage
	}
	switch string(seg[1]) {
	case "file":
		if len(seg) == 2 {
			return routeImageFile
		}
	case "stage":
		if len(seg) == 2 {
			return routeImageStage
		}
	case "import":
		if len(seg) == 2 {
			return routeImageImport
		}
	case "tasks":
		if len(seg) == 2 {
			return routeImageTasks
		}
	case "actions":
		if len(seg) == 3 && (string(seg[2]) == "deactivate" || string(seg[2]) == "reactivate") {
			return routeImageAction
		}
	case "tags":
		if len(seg) == 3 {
			return routeImageTag
		}
	case "members":
		switch len(seg) {
		case 2:
			return routeImageMembers
		case 3:
			return routeImageMember
		}
	}
	return routeOther
}
