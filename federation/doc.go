// Package federation will provide the Catalog the gateway calls over several
// regions: fan-out listing with a k-way merge in Glance's order, a cursor
// store, a location index and routed writes (issue 5; see DESIGN.md).
//
// Today Spyglass serves one embedded region, and cmd/spyglass hands the
// gateway that region's store directly: it satisfies gateway.Catalog as is.
package federation
