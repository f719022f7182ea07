// Package blob caches image data on local disk: each image is filled once
// from its origin, streamed to every reader as it lands, and served as
// complete only once its bytes match the image's size and its strongest
// checksum (Expect).
//
// A Cache never takes more than Config.MaxSize on disk, fills in progress
// included: a fill reserves its image's whole size (in disk blocks, with
// its record) before it writes a byte, evicting least recently used
// entries nobody reads to make room (evict.go); a read that finds no room
// even so streams from its origin, uncached, and is counted
// (Stats.Bypasses.Full). Lowering the bound (SetBounds) stops the fills
// that no longer fit; their readers go on from the origin.
//
// A Cache fills an image once per instance (one fill per entry, however
// many readers; entry.go, which keeps the bytes written as an extent.Set,
// a leaf package); readers far ahead of the fill fetch their range
// ahead (data.go). Prefetch queues fills (prefetch.go); List, Partial,
// Delete, Clear, Clean and Prune are Glance's cache-management operations
// (manage.go); Open indexes what a previous run left and resumes partial
// entries from their last checkpoint (scan.go).
//
// With Config.Site (package site), a site's instances fill each image once
// between them: the cache reads through the origins Site hands it and
// knows nothing of leases or peers (site.go owns that seam).
//
//	blobs, _ := blob.Open(blob.Config{Dir: dir, MaxSize: 50 << 30, Site: filler})
//	data, err := blobs.Open(ctx, blob.Key{Region: "east", Image: id}, expect, origin)
package blob
