package main

import (
	"sync/atomic"

	"github.com/spyglass-gateway/spyglass/cache"
	"github.com/spyglass-gateway/spyglass/policy"
)

// instance is what the operator's view (metrics, readiness) reads of a
// running gateway: its parts as openCatalog and serveConfig built them.
// Each part keeps its own counters; nothing here is on the request path.
type instance struct {
	regions  []regionPart
	metas    []*cache.Metadata // one per remote region with a metadata cache
	blobs    *cache.Blobs      // nil: no image data cache
	shared   *cache.Shared     // nil: no redis.addr
	keystone *policy.Keystone  // nil: auth.mode is not keystone

	// draining is set when a signal asked the instance to stop: it answers
	// the requests in flight and should get no new ones.
	draining atomic.Bool
}

// regionPart is one configured region.
type regionPart struct {
	name, kind string
	// breaker is the region's circuit breaker; nil for an embedded region,
	// which is always there.
	breaker breakerStater
}

// breakerStater reports a gobreaker's state: "closed", "half-open" or
// "open".
type breakerStater interface{ BreakerState() string }

// available: the region can be asked (an open breaker fails every call
// at once; a half-open one lets a probe through).
func (r regionPart) available() bool {
	return r.breaker == nil || r.breaker.BreakerState() != "open"
}
