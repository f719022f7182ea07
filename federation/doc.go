// Package federation provides the Catalog the gateway calls: one logical
// Glance over the regions behind Spyglass.
//
// A region is what the catalog calls in it, by resource (cached.go): a
// Region holds small contracts the federation owns (Images, ImageData,
// Members, Tasks), which backends/local and backends/glance satisfy;
// RegionOf fills them from one store, and a test replaces only the one it
// fakes. Optional capabilities are separate interfaces, checked once at
// New on the field they belong to: a Fetcher (ranged reads: the region's
// data goes through the blob cache), a StoreNamer (the region's default
// name); the v1 members' GrantKeeper and SharedLister (v1members.go) are
// asked of Members at each call. The catalog itself satisfies the gateway's contracts, and its
// image data cache, when it has one, is ImageCache (nil otherwise).
//
// Every region is wrapped in a cachedRegion. For a remote region (a Glance
// behind the gateway) that adds the metadata cache: a show is answered from
// meta.Cache when its record is fresh, and the gateway's visibility
// function decides who may see it; membership verdicts are remembered
// briefly; a write invalidates before it answers; when the region cannot be
// reached, a record within cache.stale_if_error is served. With a shared
// tier (Config.Shared and each region's meta.Cache over one Redis),
// records, verdicts and the location index are shared by every gateway
// instance, and a write through one invalidates them on all.
//
// Over several regions the Catalog adds:
//
//   - Merged listings (merge.go): every region is asked in parallel with the
//     caller's query and a position of its own, and the pages are k-way
//     merged with the comparator the regions' databases use (order.go:
//     Glance's sort keys, then created_at and id; NULL placement and string
//     collation from the configuration, the same in every region). An image
//     held by several regions appears once on every page, as its first
//     region listing it for the caller has it: once every region has read,
//     the ids the later regions yielded are asked of each earlier region in
//     one check, unless its own page shows them (held.go). The position each region
//     reached behind a page's next marker is remembered (cursors.go), so
//     the next page costs one request per region; a marker with nothing
//     remembered is resolved to its sort values and every region is
//     positioned from there. A region is never handed a marker whose sort
//     values contain NULL, the empty string or 0 in a nullable key: Glance's paging skips
//     or repeats images from such a marker, so the region's page is re-read
//     from the nearest safe image before it instead.
//   - Routing (catalog.go): a location index (locate.go) learned from every
//     listing and show, or on a miss an id lookup across the regions in
//     parallel, sends shows, writes, members, tags, actions and data to the
//     region(s) holding the image. One function decides where an image is
//     (Catalog.place): for a read its primary copy, for a write every copy
//     (every region is asked, as the index may not know a copy made
//     elsewhere). A download opens the record the show resolved, in the
//     region the index names. Creates go to the project's region or
//     the default; a queued image whose upload or import names another
//     region (a store, to clients) moves there under the same id.
//   - copy-image (copy.go): an image copied to other regions under the same
//     id, streamed region to region, followed as a Glance task.
//   - Imports to several stores (multistore.go): glance-direct and
//     web-download into the image's region, then copied as copy-image
//     copies; Glance's os_glance_importing_to_stores and
//     os_glance_failed_import for both are kept in process and laid over
//     the image's record (imports.go).
//   - The gateway's downloads (download.go): web-download and
//     glance-download into a region that does not run them (a Glance:
//     its own would apply its own import filtering and rules, or look in
//     its own catalog) are run by the catalog, into one store or several:
//     the source fetched through the gateway's import filtering
//     (Config.WebDownload) or read from the caller's catalog
//     (Config.GlanceDownload), within the transfer bounds the gateway's
//     other outbound transfers share (Config.Transfers), staged in the
//     region and imported there with glance-direct, followed as one
//     Glance task with Glance's bookkeeping (a failure leaves the image
//     queued and its store in os_glance_failed_import).
//
// The embedded region alone needs none of this (its store answers from
// memory), so cmd/spyglass hands the gateway that store directly.
//
//	cat, err := federation.New(federation.Config{Regions: []federation.RegionConfig{
//		{Name: "local", Region: federation.RegionOf(store)},
//		{Name: "east", Region: federation.RegionOf(remote), Meta: meta},
//	}, Blobs: blobs, WebDownload: fetcher, Transfers: limiter})
//	srv, err := gateway.New(gateway.Config{}, gateway.CatalogOf(cat), auth)
package federation
