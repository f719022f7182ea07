// Package gateway is Spyglass's HTTP front: the Images API v2 (and its
// version documents) served with fasthttp, exactly as Glance serves it,
// and with Config.EnableV1 the removed v1, as Glance Queens served it over
// the same images (v1images.go, v1query.go; writes: v1write.go,
// v1headers.go).
//
// Every route is a row of one declarative table (routes.go: method, path
// template, policy rule, handler); the template is the route's id. Each
// request's route is resolved once, from its method, path and Accept
// header, and that one answer dispatches it, names its span and labels
// its metric.
//
// It parses and validates every request itself (listquery.go, patchparse.go,
// imagebody.go, bodies.go, byterange.go), asks policy who is calling and what
// they may do, calls the catalog for the records and data, and renders
// Glance-shaped JSON, headers and errors (render.go, errors.go). Errors from
// every layer are mapped to status codes and webob-shaped bodies in one
// place: errors.go, whose ErrorJSON renders them for the admin listener
// too (package admin keeps no table of its own). With Config.Catalogs set,
// the messages of a request that sends Accept-Language are translated
// there, by their msgid (i18n.go, package i18n); a request without the
// header allocates nothing more. With Config.Metrics set, every request is counted by
// route id, method and status (metrics.go: atomic counters, no
// allocation, read by the OpenTelemetry SDK as a metric.Producer). With
// Config.Tracing set, each request is a server span named by its method
// and route id (tracing.go), continuing the client's W3C traceparent; with it
// nil the request path is unchanged.
//
// Request bodies are read in one place, requestbody.go, which fails a body
// that ends before HTTP says it ends rather than let an upload take it for
// a whole one; conn.go keeps the connection facts that needs, and closes a
// connection whose request body was not all read without resetting it.
// Image data is sent by data.go: the status and headers go out as soon as
// the data's source has answered (a region's headers, the fill's origin's),
// before any byte, as a proxy's do; a source that fails before it answered
// is answered as Glance answers an unreachable store (503), one that fails
// after it is a stream cut short, counted (MetricDownloadsCut).
//
// The catalog is a set of small contracts the handlers own, one per
// resource (catalog.go): Images (records, tags, actions), ImageData
// (upload, stage, open), Members, V1Members (v1's can_share, list
// replacement and shared-images; needed with EnableV1), Tasks (tasks and
// imports), Stores and Metadefs (the metadata definitions, metadefs.go;
// metadefitems.go holds the routes objects, properties and tags share:
// the default region's, which serve's composition picks; nil answers
// 501). A Catalog holds one of each; CatalogOf fills them from one value
// that serves them all (the embedded store, a federation.Catalog), and a
// test replaces only the one it fakes. The caller travels in ctx
// (backends.CallerFrom), never as an argument. The image data cache that
// /v2/cache manages is an optional capability of its own
// (Config.ImageCache).
//
//	srv, err := gateway.New(gateway.Config{}, gateway.CatalogOf(store), auth)
//	go srv.Serve(ln)
//	defer srv.Shutdown(ctx)
package gateway
