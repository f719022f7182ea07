// Package cache holds Spyglass's caches: the metadata cache (Metadata:
// ristretto in process), the tier shared with the site's other gateway
// instances (Shared: Redis, bounded and behind a breaker, never failing
// its caller) and the blob cache (Blobs: image data on local disk, filled
// once and range-streamed to every waiter, verified before it counts).
//
// Blobs fills an image once per instance (singleflight on the entry);
// with BlobsConfig.Leases (a Shared) once per site: the instance that takes
// the image's lease in Redis reads the region, the others stream from it
// over the peer protocol (PeerRoute, served by PeerHandler on the admin
// listener, advertised with Advertise) into entries of their own, verified
// again; a filler that dies loses its lease within LeaseTTL and another
// instance goes on from the region with a Range. Without Redis (or while
// it does not answer) every instance fills alone.
//
//	blobs, _ := cache.OpenBlobs(cache.BlobsConfig{Dir: dir, MaxSize: 50 << 30, Leases: shared})
//	mux.Handle(cache.PeerRoute, blobs.PeerHandler())
//	blobs.Advertise("http://10.0.0.5:9293")
//	data, err := blobs.Open(ctx, cache.Key{Region: "east", Image: id}, expect, origin)
package cache
