// Package cache will hold Spyglass's caches: the metadata cache (ristretto in
// process, Redis as the shared tier between gateway instances) and the blob
// cache (image data on local disk, filled once and range-streamed to every
// waiter).
//
// Nothing lives here yet: with only the embedded region (issue 2) the store
// itself answers from memory, and the gateway memoizes renderings. The caches
// arrive with the remote Glance region (issue 4); see DESIGN.md.
package cache
