package backends

import (
	"context"
	"encoding/json"
	"io"
)

// PatchOp is a JSON-patch operation Glance accepts on images.
type PatchOp uint8

const (
	PatchAdd PatchOp = iota + 1
	PatchRemove
	PatchReplace
)

// Change is one parsed, syntactically valid JSON-patch operation on an image.
// Path holds the decoded JSON-pointer segments ("/tags" → ["tags"],
// "/locations/0" → ["locations","0"]). Value is the raw JSON value (nil for
// remove). The gateway has already refused read-only and reserved
// attributes; ApplyChanges applies Glance's remaining semantics.
type Change struct {
	Op    PatchOp
	Path  []string
	Value json.RawMessage
	// Legacy marks a change from the deprecated
	// application/openstack-images-v2.0-json-patch media type, where "add"
	// of an existing property is a conflict rather than a replace.
	Legacy bool
	// LocationsVisible is Glance's show_multiple_locations for a change
	// of /locations: false (the default) refuses it with a 403.
	LocationsVisible bool
}

// UploadOptions describe one data upload (PUT /file or PUT /stage).
type UploadOptions struct {
	// ExpectedSize is x-openstack-image-size or Content-Length when the
	// client sent one, -1 when unknown. A mismatch with the bytes received
	// is a 400 and leaves the image as it was.
	ExpectedSize int64
	// SizeCap is the largest image accepted, in bytes; 0 means no cap.
	// More bytes than this is ErrTooLarge (413).
	SizeCap int64
	// Store names the store (region) the data goes to; "" is the default.
	Store string
}

// LocationOptions describe a location given to an image
// (ImageLocations.AddLocation).
type LocationOptions struct {
	// Size is the size the client gave (v1's x-image-meta-size); 0 means
	// none. A location whose server reports another non-zero size is
	// ErrConflict; a server that reports none leaves this one.
	Size int64
	// Checksum is the MD5 the client gave, recorded as it is (Queens did:
	// the data is never read to compute it); nil means none.
	Checksum *string
}

// Data is an image's bytes, opened for reading. Readers may read any range
// concurrently; Close releases it.
type Data interface {
	io.ReaderAt
	io.Closer
	Size() int64
}

// ImportRequest is a validated POST /v2/images/{id}/import body.
type ImportRequest struct {
	Method string // glance-direct, web-download, copy-image, glance-download
	URI    string // web-download only
	// Glance is glance-download's source; zero for other methods.
	Glance GlanceSource
	// SizeCap is the largest image web-download or glance-download
	// brings, in bytes, when the gateway reads the source itself (into a
	// remote region); 0: the region's own cap alone.
	SizeCap int64
	// Stores and AllStores choose target stores (regions).
	Stores               []string
	AllStores            bool
	AllStoresMustSucceed bool
}

// TaskMethod is the request's method object as Glance's import task
// input records it (the task's input.import_req.method).
func (req ImportRequest) TaskMethod() map[string]any {
	method := map[string]any{"name": req.Method}
	switch req.Method {
	case "web-download":
		method["uri"] = req.URI
	case "glance-download":
		method["glance_image_id"] = req.Glance.ImageID
		method["glance_region"] = req.Glance.Region
		method["glance_service_interface"] = req.Glance.Interface
	}
	return method
}

// GlanceSource is the image a glance-download import reads: ImageID in the
// Glance of Region, reached through Interface, as the request named them.
type GlanceSource struct {
	ImageID, Region, Interface string
	// Endpoint is that Glance's URL, found by the gateway in the caller's
	// service catalog; empty: the catalog has none, and the import's task
	// fails as Glance's does.
	Endpoint string
}

// TaskQuery is one parsed GET /v2/tasks.
// The caller, whose tasks are listed (an admin's: all), is in ctx
// (CallerFrom).
type TaskQuery struct {
	Status  string // "" = any
	Type    string // "" = any
	SortKey string // created_at (default), updated_at, id, type, status
	Desc    bool
	Limit   int
	Marker  string
}

// Sectioner is a Data whose bytes stream by section (a remote region, a
// blob being filled): Section streams [off, off+n) as the bytes arrive.
type Sectioner interface {
	Section(ctx context.Context, off, n int64) (io.ReadCloser, error)
}

// ReadAtSection is io.ReaderAt for a Sectioner of size bytes: it reads one
// section and waits until p is full or the data ends.
func ReadAtSection(s Sectioner, size int64, p []byte, off int64) (int, error) {
	if off >= size {
		return 0, io.EOF
	}
	want := min(int64(len(p)), size-off)
	rc, err := s.Section(context.Background(), off, want)
	if err != nil {
		return 0, err
	}
	defer rc.Close()
	n, err := io.ReadFull(rc, p[:want])
	if err == nil && want < int64(len(p)) {
		err = io.EOF
	}
	return n, err
}
