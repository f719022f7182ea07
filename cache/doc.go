// Package cache holds Spyglass's caches: the metadata cache (meta.go:
// ristretto in process, per region), the shared tier between gateway
// instances (shared.go: Redis through go-redis) and the blob cache (image
// data on local disk, filled once and range-streamed to every waiter,
// verified before it counts).
//
// The shared tier is one Redis server, a Redis Cluster or a master found
// through Redis Sentinel, whichever SharedConfig names (exactly one); the
// client is a go-redis UniversalClient, so the rest of the package does not
// care which. Every call is bounded by SharedConfig.Timeout and goes
// through a circuit breaker; Shared never fails its caller (a slow or dead
// Redis is a miss):
//
//	shared, err := cache.NewShared(cache.SharedConfig{
//		Cluster: []string{"10.0.0.1:6379", "10.0.0.2:6379"}, // or Addr, or SentinelMaster+SentinelAddrs
//		Timeout: 100 * time.Millisecond,
//	})
//	if err != nil { ... } // only a configuration error
//	shared.Set(ctx, "cursor:abc", b, 10*time.Minute)
//	b, ok := shared.Get(ctx, "cursor:abc")
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
//	meta, _ := cache.NewMetadata(cache.MetadataConfig{TTL: 30 * time.Second, Shared: shared, Name: "west"})
//	img, fresh, t := meta.Image(ctx, id)
//	if fresh != cache.Fresh {
//		img, err = region.Image(ctx, id)
//		meta.PutImage(ctx, t, img)
//	}
//	// after a write: meta.Invalidate(ctx, id)
//
// Blobs never takes more than BlobsConfig.MaxSize on disk, fills in
// progress included: a fill reserves its image's whole size (in disk
// blocks, with its record) before it writes a byte, evicting least recently
// used entries nobody reads to make room; a read that finds no room even
// so streams from its origin, uncached, and is counted
// (BlobStats.Bypasses.Full). Lowering the bound (SetBounds) stops the fills
// that no longer fit; their readers go on from the origin.
//
// Blobs fills an image once per instance (singleflight on the entry);
// with BlobsConfig.Leases (a Shared) once per site: the instance that takes
// the image's lease in Redis reads the region, the others stream from it
// over the peer protocol (PeerRoute, served by PeerHandler on the admin
// listener behind the site's admin token, which fills send as
// BlobsConfig.PeerToken; advertised with Advertise) into entries of their own, verified
// again; a filler that dies loses its lease within LeaseTTL and another
// instance goes on from the region with a Range (a filler that only looked
// dead takes its expired lease back if it is still free, or goes on from
// the instance that took it). Without Redis (or while it does not answer)
// every instance fills alone.
//
//	blobs, _ := cache.OpenBlobs(cache.BlobsConfig{Dir: dir, MaxSize: 50 << 30, Leases: shared, PeerToken: token})
//	mux.Handle(cache.PeerRoute, blobs.PeerHandler())
//	blobs.Advertise("http://10.0.0.5:9293")
//	data, err := blobs.Open(ctx, cache.Key{Region: "east", Image: id}, expect, origin)
//
// Tests run against real servers: cache/redistest starts a redis-server
// (StartT), a 3-master Redis Cluster (StartClusterT) or a Sentinel watching
// a master (StartSentinelT) on free loopback ports.
package cache
