package admin

import (
	"context"
	"sync/atomic"

	"github.com/spyglass-gateway/spyglass/backends"
	"github.com/spyglass-gateway/spyglass/backends/transfers"
	"github.com/spyglass-gateway/spyglass/cache/blob"
	"github.com/spyglass-gateway/spyglass/cache/meta"
	"github.com/spyglass-gateway/spyglass/cache/redis"
	"github.com/spyglass-gateway/spyglass/cache/site"
	"github.com/spyglass-gateway/spyglass/policy"
)

// Instance is what the admin listener reports on and manages of a running
// gateway: its parts as cmd/spyglass opened them. Each part keeps its own
// counters; nothing here is on the Images API's request path.
type Instance struct {
	// Regions are the configured regions, in order.
	Regions []Region
	// DefaultRegion is default_region.
	DefaultRegion string
	// Images finds an image as the cache controls' caller (an admin) sees
	// it: the gateway's catalog.
	Images Images
	// Blobs is the image data cache; nil: none (the cache controls then
	// answer 404 and /ready and /metrics leave it out).
	Blobs *blob.Cache
	// Site coordinates Blobs' fills with the site's other instances and
	// serves them this instance's entries; nil: no shared tier (each
	// instance fills alone, and serves no peer).
	Site *site.Filler
	// Prefetch queues an image's data for caching (the catalog's half of
	// Glance's PUT /v2/cache/{id}); required with Blobs.
	Prefetch Prefetcher
	// Metas are the remote regions' metadata caches.
	Metas []*meta.Cache
	// Redis is the shared tier's circuit breaker; nil: no shared tier.
	Redis Breaker
	// Keystone validates tokens; nil: auth.mode is not keystone.
	Keystone *policy.Keystone
	// Transfers bounds the outbound transfers tenants start; nil: none
	// reported.
	Transfers TransferStats

	draining atomic.Bool
}

// Region is one configured region.
type Region struct {
	Name, Kind string
	// Breaker is the region's circuit breaker; nil for an embedded region,
	// which is always there.
	Breaker Breaker
	// Cached: the region's image data can be in Instance.Blobs (a remote
	// region's downloads, and any region's prefetched images).
	Cached bool
}

// TransferStats reports the outbound transfers running, waiting and
// refused; *transfers.Limiter is one.
type TransferStats interface{ Stats() transfers.Stats }

// Breaker reports a gobreaker's state: "closed", "half-open" or "open".
type Breaker interface{ BreakerState() string }

// Images finds an image by id.
type Images interface {
	Image(ctx context.Context, id string) (*backends.Image, error)
}

// Prefetcher queues an active image's data for caching.
type Prefetcher interface {
	QueueImage(ctx context.Context, img *backends.Image) error
}

// Drain says the instance is shutting down: /ready answers 503 from now on
// (it answers the requests in flight and should get no new ones).
func (i *Instance) Drain() { i.draining.Store(true) }

// Draining reports whether Drain was called.
func (i *Instance) Draining() bool { return i.draining.Load() }

// available: the region can be asked (an open breaker fails every call at
// once; a half-open one lets a probe through).
func (r Region) available() bool {
	return r.Breaker == nil || r.Breaker.BreakerState() != "open"
}

// cachedRegions names the regions whose data the blob cache holds.
func (i *Instance) cachedRegions() []string {
	var names []string
	for _, r := range i.Regions {
		if r.Cached {
			names = append(names, r.Name)
		}
	}
	return names
}

var (
	_ Breaker = (*redis.Tier)(nil)
	_ Breaker = (*policy.Keystone)(nil)
)
