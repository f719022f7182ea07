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
// Several processes may open one directory with Options.Shared, as Glance
// API workers share one database and one file store (shared.go): each
// keeps its snapshots up with the others' writes through a change log in
// the database, writes take turns under a lock on the directory, and
// recovery at open touches only the work of processes that ended. A
// process without Shared keeps the directory to itself.
//
// Layout under the directory: glance.db (+ WAL files), images/<id> (data of
// active images), staging/<id> (data staged with PUT /stage), locks/ (the
// flocks: dir, open, write, worker-<id>). Temporary files start with
// ".tmp-<id>-" and are removed when the store opens, unless a live
// process is writing them.
package local
