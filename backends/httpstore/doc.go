// Package httpstore reads image data that lives at an http(s) URL, as
// glance_store's http driver does: read-only, the size learned from a HEAD
// (Content-Length; none is 0, as glance_store), the bytes streamed with GET
// and a Range forwarded as a Range request. Every request goes through the
// outbound fetcher, so the operator's import filtering and its safe
// redirects apply to locations as they do to web-download.
//
// It is the mechanism behind an image's http location (backends.Location):
// a store that records one opens its data here instead of from its own
// files.
//
// Usage:
//
//	hs := httpstore.New(fetcher) // *outbound.Fetcher
//	size, err := hs.Size(ctx, url) // Glance's get_size: errors as glance_store's
//	data := hs.Open(url, size)     // a backends.Data: Section streams a range
//	rc, err := data.(backends.Sectioner).Section(ctx, off, n)
package httpstore
