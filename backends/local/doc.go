// Package local is the embedded, authoritative image store: metadata in
// SQLite (modernc.org/sqlite, pure Go, WAL), image data as files, with
// Glance's semantics for visibility, listing order and markers, status
// transitions, quotas, members, tags, uploads, imports and tasks.
//
// Every live image is also held in memory as an immutable snapshot, so
// showing an image never touches SQL; listings run one indexed SQL query
// for ids and answer with the snapshots.
//
// The metadata definitions (metadefs.go; metadefitems.go holds what
// objects, properties and tags share) live in tables of their own,
// shaped as Glance's and read with SQL each time (they are small, rarely
// read, and another process may load them: "spyglass metadefs load");
// a database made before them gains the tables when it is opened.
//
// Usage:
//
//	s, err := local.Open("./data", local.Options{})
//	if err != nil { ... }
//	defer s.Close()
//	img, err := s.CreateImage(ctx, &backends.Image{ID: id, Visibility: "shared"})
//
// An image may instead have its data at an http location (AddLocation,
// the image_locations table): it is active with no file here, and its
// bytes are read from the URL through backends/httpstore and the import
// filter.
//
// Layout under the directory: glance.db (+ WAL files), images/<id> (data of
// active images), staging/<id> (data staged with PUT /stage). Temporary
// files start with ".tmp-" and are removed when the store opens.
package local
