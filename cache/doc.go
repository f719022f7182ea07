// Package cache holds Spyglass's caches: the metadata cache (meta.go:
// ristretto in process), the shared tier between gateway instances
// (shared.go: a Redis, every call bounded by a timeout and behind a circuit
// breaker, never failing its caller) and the blob cache (image data on
// local disk, filled once and range-streamed to every waiter).
//
// With a shared tier, the metadata cache is two levels (metashared.go):
// a first-level miss asks Redis before the region, and what a region
// answered is stored there under the image's version
// (sharedversioned.go), which every invalidation bumps — so a read that
// began before a write on any instance can put its answer neither in Redis
// nor in its own memory. Invalidations are published; every instance drops
// the image from its first level on receipt, and drops its whole first
// level whenever its subscription is (re-)established, since it may have
// missed some.
//
//	shared, _ := cache.NewShared(cache.SharedConfig{Addr: "127.0.0.1:6379"})
//	meta, _ := cache.NewMetadata(cache.MetadataConfig{TTL: 30 * time.Second, Shared: shared, Name: "west"})
//	img, fresh, t := meta.Image(ctx, id)
//	if fresh != cache.Fresh {
//		img, err = region.Image(ctx, id)
//		meta.PutImage(ctx, t, img)
//	}
//	// after a write: meta.Invalidate(ctx, id)
package cache
