// Package meta caches what remote regions answered about images — their
// records and membership verdicts — so that the gateway asks a region again
// only once a record is older than its TTL.
//
// The first level is ristretto, in process, one Cache per region. A
// reader takes a Ticket before it asks the region and hands it back with
// the answer; an invalidation in between makes the Put a no-op, so a write
// through Spyglass is never undone by a slower read that began before it.
//
// With a shared tier (Config.Shared, a VersionedStore: redis.Tier
// satisfies it), the cache is two levels (shared.go): a first-level miss
// asks Redis before the region, and what a region answered is stored there
// under the image's version, which every invalidation bumps — so a read
// that began before a write on any instance can put its answer neither in
// Redis nor in its own memory. Invalidations are published; every instance
// drops the image from its first level on receipt, and drops its whole
// first level whenever its subscription is (re-)established, since it may
// have missed some.
//
//	m, _ := meta.New(meta.Config{TTL: 30 * time.Second, Shared: tier, Name: "west"})
//	img, fresh, t := m.Image(ctx, id)
//	if fresh != meta.Fresh {
//		img, err = region.Image(ctx, id)
//		m.PutImage(ctx, t, img)
//	}
//	// after a write: m.Invalidate(ctx, id)
package meta
