// Package federation provides the Catalog the gateway calls, over the
// regions behind Spyglass.
//
// Today it fronts one region. For a remote region (a Glance behind the
// gateway) it adds the metadata cache: a show is answered from cache.Metadata
// when its record is fresh, and the gateway's visibility function decides
// who may see it; membership verdicts are remembered briefly; a write
// invalidates before it answers; when the region cannot be reached, a
// record within cache.stale_if_error is served. Several regions — fan-out
// listing with a k-way merge in Glance's order, a cursor store, a location
// index and routed writes — are issue 5 (see DESIGN.md).
//
// The embedded region needs none of this (its store answers from memory),
// so cmd/spyglass hands the gateway that store directly when it is alone.
package federation
