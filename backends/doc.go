// Package backends is the vocabulary every layer shares about images: the
// records (Image, Member, Task), the questions asked of a store (ListQuery,
// Change, UploadOptions, ImportRequest, TaskQuery), the caller a request
// carries in its context (WithCaller, CallerFrom), the sentinel errors a
// store answers with (ErrNotFound, ErrConflict, …; the gateway maps them to
// Glance's status codes in one place) and the rules of a JSON patch that
// are the same wherever it is applied (CheckChange, ApplyChanges).
//
// The stores themselves live below it, one mechanism each: local is the
// embedded store (SQLite records, data on disk, Glance's whole state
// machine), glance a remote Glance v2 reached with gophercloud and
// fasthttp, outbound the one filtered HTTP client every tenant-supplied URL
// is fetched with. Nothing here imports a layer above it.
package backends
