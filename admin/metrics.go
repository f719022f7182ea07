package admin

import (
	"context"
	"net/http"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"go.opentelemetry.io/otel/attribute"
	otelprom "go.opentelemetry.io/otel/exporters/prometheus"
	"go.opentelemetry.io/otel/metric"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/resource"
)

// metricsHandler builds the OpenTelemetry meter provider whose reader is a
// Prometheus exporter, the handler of GET /metrics, and registers the
// instruments that read the instance's counters when scraped; requests come
// from the gateway's counters, a metric.Producer. stop shuts the provider
// down.
func (s *Server) metricsHandler(requests sdkmetric.Producer, version string) (_ http.Handler, stop func(), _ error) {
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	exporter, err := otelprom.New(otelprom.WithRegisterer(reg), otelprom.WithoutScopeInfo(), otelprom.WithProducer(requests))
	if err != nil {
		return nil, nil, err
	}
	provider := sdkmetric.NewMeterProvider(
		sdkmetric.WithReader(exporter),
		sdkmetric.WithResource(resource.NewSchemaless(attribute.String("service.name", "spyglass"), attribute.String("service.version", version))),
	)
	if err := observeInstance(provider.Meter("github.com/spyglass-gateway/spyglass"), s.inst); err != nil {
		provider.Shutdown(context.Background())
		return nil, nil, err
	}
	return promhttp.HandlerFor(reg, promhttp.HandlerOpts{}), func() { provider.Shutdown(context.Background()) }, nil
}

// Breaker states as the spyglass.breaker.state gauge reports them.
var breakerValues = map[string]int64{"closed": 0, "half-open": 1, "open": 2}

// observeInstance registers the observable instruments: one callback per
// scrape reads every part's Stats, so the caches and backends need no
// metrics dependency and pay nothing between scrapes.
func observeInstance(m metric.Meter, inst *Instance) error {
	set := func(kv ...attribute.KeyValue) metric.ObserveOption {
		return metric.WithAttributeSet(attribute.NewSet(kv...))
	}
	var (
		errs []error
		ctr  = func(name, unit, desc string) metric.Int64ObservableCounter {
			c, err := m.Int64ObservableCounter(name, metric.WithUnit(unit), metric.WithDescription(desc))
			errs = append(errs, err)
			return c
		}
		gauge = func(name, unit, desc string) metric.Int64ObservableGauge {
			g, err := m.Int64ObservableGauge(name, metric.WithUnit(unit), metric.WithDescription(desc))
			errs = append(errs, err)
			return g
		}
		hits             = ctr("spyglass.cache.hits", "{lookup}", "Cache lookups answered from the cache, by cache: metadata (remote image records), image_data (the image data cache on disk), token (Keystone token verdicts).")
		misses           = ctr("spyglass.cache.misses", "{lookup}", "Cache lookups that had to ask the origin (a region, or Keystone), by cache; hit ratio = hits / (hits + misses).")
		fills            = ctr("spyglass.image_cache.fills", "{fill}", "Image data fills started from a region.")
		fillsFailed      = ctr("spyglass.image_cache.fills_failed", "{fill}", "Image data fills that failed (the region, a checksum mismatch, the disk).")
		prefetchesFailed = ctr("spyglass.image_cache.prefetches_failed", "{prefetch}", "Queued prefetches (spyglass cache prefetch, PUT /v2/cache/{id}) that left nothing cached: their fill failed, or the cache could not hold the image when its turn came.")
		evictions        = ctr("spyglass.image_cache.evictions", "{entry}", "Image data cache entries evicted to stay under the watermarks.")
		bypasses         = ctr("spyglass.image_cache.bypasses", "{read}", "Image data reads streamed from the region uncached (or, on a site, from the instance filling the image), by reason: uncacheable (nothing to verify it against, or larger than the low watermark), full (no room under cache.max_size: the entries being read and the fills in progress hold it), disk (the cache's directory cannot be written).")
		originRead       = ctr("spyglass.image_cache.origin_read", "By", "Image data bytes read from regions: for fills (kind=fill, each byte once however many readers) or streamed straight through, uncached (kind=bypass).")
		peer             = ctr("spyglass.image_cache.peer", "By", "Image data bytes streamed between the site's instances for fills (one fill per site, with a shared tier): received from the filling instance, or served to the others.")
		inFlight         = gauge("spyglass.image_cache.fills_in_flight", "{fill}", "Image data fills running now.")
		waiters          = gauge("spyglass.image_cache.fill_waiters", "{reader}", "Readers attached to the fills running now (waiters per fill = fill_waiters / fills_in_flight).")
		used             = gauge("spyglass.image_cache.used", "By", "Bytes the image data cache counts against cache.max_size: its entries in whole disk blocks with their records (a fill counts its whole image from its start), and its directories.")
		limit            = gauge("spyglass.image_cache.limit", "By", "The image data cache's bounds: max (cache.max_size), high_watermark (eviction starts past it), low_watermark (eviction goes down to it).")
		breaker          = gauge("spyglass.breaker.state", "", "Circuit breaker state: 0 closed, 1 half-open (probing), 2 open (calls fail fast); component=region (name=the region), keystone or redis.")
		transfersActive  = gauge("spyglass.transfers.active", "{transfer}", "Outbound transfers tenants started (v1 copy-from, web-download, import tasks of embedded regions) running now; at most transfers.max_active.")
		transfersQueued  = gauge("spyglass.transfers.queued", "{transfer}", "Outbound transfers waiting for a slot; at most transfers.max_queued.")
		transfersRefused = ctr("spyglass.transfers.refused", "{transfer}", "Outbound transfers refused (failed without starting), by reason: project (the project had transfers.per_project running or waiting), queue (transfers.max_queued were waiting).")
		draining         = gauge("spyglass.draining", "", "1 while the instance drains after SIGTERM/SIGINT (GET /ready answers 503), else 0.")
		metaAttrs        = set(attribute.String("cache", "metadata"))
		dataAttrs        = set(attribute.String("cache", "image_data"))
		tokenAttrs       = set(attribute.String("cache", "token"))
		fillAttrs        = set(attribute.String("kind", "fill"))
		bypassAttrs      = set(attribute.String("kind", "bypass"))
		receivedAttrs    = set(attribute.String("direction", "received"))
		servedAttrs      = set(attribute.String("direction", "served"))
		maxAttrs         = set(attribute.String("limit", "max"))
		uncacheable      = set(attribute.String("reason", "uncacheable"))
		full             = set(attribute.String("reason", "full"))
		diskFailed       = set(attribute.String("reason", "disk"))
		projectReason    = set(attribute.String("reason", "project"))
		queueReason      = set(attribute.String("reason", "queue"))
		highAttrs        = set(attribute.String("limit", "high_watermark"))
		lowAttrs         = set(attribute.String("limit", "low_watermark"))
		keystoneAttrs    = set(attribute.String("component", "keystone"), attribute.String("name", "keystone"))
		redisAttrs       = set(attribute.String("component", "redis"), attribute.String("name", "redis"))
		regionAttrs      []metric.ObserveOption
	)
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	for _, r := range inst.Regions {
		regionAttrs = append(regionAttrs, set(attribute.String("component", "region"), attribute.String("name", r.Name)))
	}
	instruments := []metric.Observable{hits, misses, breaker, draining}
	if inst.Transfers != nil {
		instruments = append(instruments, transfersActive, transfersQueued, transfersRefused)
	}
	if inst.Blobs != nil {
		instruments = append(instruments, fills, fillsFailed, prefetchesFailed, evictions, bypasses, originRead, peer, inFlight, waiters, used, limit)
	}
	_, err := m.RegisterCallback(func(_ context.Context, o metric.Observer) error {
		if len(inst.Metas) > 0 {
			var h, mi int64
			for _, meta := range inst.Metas {
				s := meta.Stats()
				h, mi = h+s.Hits, mi+s.Misses
			}
			o.ObserveInt64(hits, h, metaAttrs)
			o.ObserveInt64(misses, mi, metaAttrs)
		}
		if inst.Keystone != nil {
			s := inst.Keystone.TokenCacheStats()
			o.ObserveInt64(hits, s.Hits, tokenAttrs)
			o.ObserveInt64(misses, s.Misses, tokenAttrs)
			o.ObserveInt64(breaker, breakerValues[inst.Keystone.BreakerState()], keystoneAttrs)
		}
		if inst.Redis != nil {
			o.ObserveInt64(breaker, breakerValues[inst.Redis.BreakerState()], redisAttrs)
		}
		for i, r := range inst.Regions {
			if r.Breaker != nil {
				o.ObserveInt64(breaker, breakerValues[r.Breaker.BreakerState()], regionAttrs[i])
			}
		}
		d := int64(0)
		if inst.Draining() {
			d = 1
		}
		o.ObserveInt64(draining, d)
		if inst.Transfers != nil {
			s := inst.Transfers.Stats()
			o.ObserveInt64(transfersActive, s.Active)
			o.ObserveInt64(transfersQueued, s.Queued)
			o.ObserveInt64(transfersRefused, s.RefusedProject, projectReason)
			o.ObserveInt64(transfersRefused, s.RefusedQueue, queueReason)
		}
		if inst.Blobs == nil {
			return nil
		}
		s := inst.Blobs.Stats()
		o.ObserveInt64(hits, s.Hits, dataAttrs)
		o.ObserveInt64(misses, s.Misses, dataAttrs)
		o.ObserveInt64(fills, s.Fills)
		o.ObserveInt64(fillsFailed, s.FillsFailed)
		o.ObserveInt64(prefetchesFailed, s.PrefetchesFailed)
		o.ObserveInt64(evictions, s.Evictions)
		o.ObserveInt64(bypasses, s.Bypasses.Uncacheable, uncacheable)
		o.ObserveInt64(bypasses, s.Bypasses.Full, full)
		o.ObserveInt64(bypasses, s.Bypasses.Disk, diskFailed)
		o.ObserveInt64(originRead, s.OriginBytes, fillAttrs)
		o.ObserveInt64(originRead, s.BypassBytes, bypassAttrs)
		o.ObserveInt64(peer, s.PeerBytes, receivedAttrs)
		var served int64 // 0 without a site: no peer is served
		if inst.Site != nil {
			served = inst.Site.Stats().ServedBytes
		}
		o.ObserveInt64(peer, served, servedAttrs)
		o.ObserveInt64(inFlight, s.FillsInFlight)
		o.ObserveInt64(waiters, s.FillWaiters)
		o.ObserveInt64(used, s.UsedBytes)
		o.ObserveInt64(limit, s.MaxBytes, maxAttrs)
		o.ObserveInt64(limit, s.HighBytes, highAttrs)
		o.ObserveInt64(limit, s.LowBytes, lowAttrs)
		return nil
	}, instruments...)
	return err
}
