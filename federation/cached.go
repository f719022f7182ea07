package federation

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"sync/atomic"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/trace"
	"golang.org/x/sync/singleflight"

	"github.com/spyglass-gateway/spyglass/backends"
	"github.com/spyglass-gateway/spyglass/cache/blob"
	"github.com/spyglass-gateway/spyglass/cache/meta"
	"github.com/spyglass-gateway/spyglass/tracing"
)

// The catalog's contracts with a region, one per resource: the embedded
// store (backends/local) and a remote Glance (backends/glance) satisfy
// them all. Every ctx carries the caller (backends.CallerFrom), which a
// remote region forwards and a task records.

// Images are a region's image records, tags and status actions.
type Images interface {
	CreateImage(ctx context.Context, img *backends.Image) (*backends.Image, error)
	Image(ctx context.Context, id string) (*backends.Image, error)
	ListImages(ctx context.Context, q *backends.ListQuery) ([]*backends.Image, error)
	UpdateImage(ctx context.Context, id string, changes []backends.Change) (*backends.Image, error)
	SetImageStatus(ctx context.Context, id, status string) (*backends.Image, error)
	DeleteImage(ctx context.Context, id string) error
	AddTag(ctx context.Context, id, tag string) error
	DeleteTag(ctx context.Context, id, tag string) error
}

// ImageData is a region's image data.
type ImageData interface {
	UploadData(ctx context.Context, id string, r io.Reader, opts backends.UploadOptions) (*backends.Image, error)
	StageData(ctx context.Context, id string, r io.Reader, opts backends.UploadOptions) (*backends.Image, error)
	// OpenData opens the data of img, the record the caller resolved
	// (without looking it up again).
	OpenData(ctx context.Context, img *backends.Image) (backends.Data, error)
}

// Members are a region's image members.
type Members interface {
	Members(ctx context.Context, imageID string) ([]*backends.Member, error)
	Member(ctx context.Context, imageID, memberID string) (*backends.Member, error)
	AddMember(ctx context.Context, imageID, memberID string) (*backends.Member, error)
	UpdateMember(ctx context.Context, imageID, memberID, status string) (*backends.Member, error)
	DeleteMember(ctx context.Context, imageID, memberID string) error
}

// Tasks are a region's tasks and imports.
type Tasks interface {
	Import(ctx context.Context, id string, req backends.ImportRequest) error
	CreateTask(ctx context.Context, typ string, input json.RawMessage) (*backends.Task, error)
	Task(ctx context.Context, id string) (*backends.Task, error)
	ListTasks(ctx context.Context, q *backends.TaskQuery) ([]*backends.Task, error)
	ImageTasks(ctx context.Context, imageID string) ([]*backends.Task, error)
}

// Region is one image store behind the gateway, by resource. Every field
// is required; RegionOf fills them all from one value (a *local.Store, a
// *glance.Region), and a test replaces only the one it fakes.
//
// Optional capabilities are checked once, at New: a Data that is a
// Fetcher has its data cached (Config.Blobs); the first field that is a
// StoreNamer names the region when RegionConfig.Name is "".
type Region struct {
	Images  Images
	Data    ImageData
	Members Members
	Tasks   Tasks
}

// RegionOf returns a Region whose every field is v, where v implements
// that field's interface; the others are left nil, and New names them.
func RegionOf(v any) Region {
	var r Region
	r.Images, _ = v.(Images)
	r.Data, _ = v.(ImageData)
	r.Members, _ = v.(Members)
	r.Tasks, _ = v.(Tasks)
	return r
}

// check names the first resource the region cannot serve.
func (r *Region) check() error {
	switch {
	case r.Images == nil:
		return errors.New("Region.Images is nil (it needs a federation.Images)")
	case r.Data == nil:
		return errors.New("Region.Data is nil (it needs a federation.ImageData)")
	case r.Members == nil:
		return errors.New("Region.Members is nil (it needs a federation.Members)")
	case r.Tasks == nil:
		return errors.New("Region.Tasks is nil (it needs a federation.Tasks)")
	}
	return nil
}

// StoreNamer is a region that names its store (both backends do): the
// first name is the region's when RegionConfig.Name is "".
type StoreNamer interface {
	Stores() []string
}

// storeName is the name the region gives its store, or "".
func (r *Region) storeName() string {
	for _, f := range []any{r.Images, r.Data, r.Members, r.Tasks} {
		if n, ok := f.(StoreNamer); ok {
			if st := n.Stores(); len(st) > 0 {
				return st[0]
			}
		}
	}
	return ""
}

// Fetcher is the capability of a remote region the blob cache fills from:
// ranged reads of an image's data as the caller in ctx.
type Fetcher interface {
	Fetch(ctx context.Context, id string, off, n int64) (io.ReadCloser, error)
}

// cachedRegion is one region behind its caches: image records and
// membership verdicts in a meta.Cache, image data in the blob cache.
// Its methods are the region's contracts, answered from the caches where
// they can be.
type cachedRegion struct {
	region Region
	name   string // the region's store name, the blob cache's key
	meta   *meta.Cache
	blobs  *blob.Cache // nil: no image data cache
	fetch  Fetcher     // nil: the region's downloads do not read through blobs
	log    *slog.Logger
	// writes counts the writes through the catalog (shared by its
	// regions): images a listing read ahead are reused for the next page
	// only when none happened in between.
	writes *atomic.Uint64
	// records and verdicts coalesce concurrent misses (coalesce.go).
	records, verdicts singleflight.Group
}

func newCachedRegion(name string, region Region, meta *meta.Cache, blobs *blob.Cache, log *slog.Logger) *cachedRegion {
	// Every region's prefetched images are in the blob cache (and leave it
	// with the image); only a remote region's downloads read through it.
	c := &cachedRegion{region: region, name: name, meta: meta, blobs: blobs, log: log}
	if f, ok := region.Data.(Fetcher); ok && blobs != nil {
		c.fetch = f
	}
	return c
}

// Image answers from the metadata cache when the record is fresh; otherwise
// it asks the region with the caller's identity and remembers the answer,
// one call for every concurrent miss of the image (coalesce).
// A region that cannot be reached is covered by a stale record within
// stale_if_error. The gateway applies the visibility function to whatever is
// returned: a record another caller fetched is shown only to callers the
// function admits.
func (c *cachedRegion) Image(ctx context.Context, id string) (*backends.Image, error) {
	if c.meta == nil {
		return c.region.Images.Image(ctx, id)
	}
	lookup, span := tracing.Start(ctx, "cache.metadata")
	cached, fresh, _ := c.meta.Image(lookup, id)
	endLookup(span, "image", freshness[fresh])
	if fresh == meta.Fresh {
		return cached, nil
	}
	img, err := coalesce(ctx, &c.records, c.meta, id, id, noErrShared, func(ctx context.Context) (*backends.Image, meta.Ticket, error) {
		return c.askImage(ctx, id)
	})
	if err == nil {
		return img, nil
	}
	if fresh == meta.Stale && errors.Is(err, backends.ErrUnavailable) {
		c.log.WarnContext(ctx, "region unavailable; serving a stale image record", "image", id, "err", err)
		return cached, nil
	}
	return nil, err
}

// askImage is a record miss's one call to the region, for every caller
// that joined it (and, with a shared tier, for every instance of the site
// missing it at once: Lead): the cache first, in case a flight just
// filled it.
func (c *cachedRegion) askImage(ctx context.Context, id string) (*backends.Image, meta.Ticket, error) {
	before := c.meta.Ticket()
	cached, fresh, t := c.meta.Recheck(ctx, id)
	if fresh == meta.Fresh {
		return cached, before, nil
	}
	// The site's other instances may be missing it too: one asks.
	led, release := c.meta.Lead(ctx, id)
	if led != nil {
		return led, before, nil
	}
	img, err := c.region.Images.Image(ctx, id)
	if err == nil {
		c.remember(ctx, t, img)
	}
	release()
	return img, t, err
}

// noErrShared: no error of a record lookup is every caller's (a 404 is
// the asker's view).
func noErrShared(error) bool { return false }

// ListImages asks the region and remembers every record it returns, so the
// shows that follow a listing (Nova, the CLI) are local.
func (c *cachedRegion) ListImages(ctx context.Context, q *backends.ListQuery) ([]*backends.Image, error) {
	if c.meta == nil {
		return c.region.Images.ListImages(ctx, q)
	}
	t := c.meta.Ticket()
	imgs, err := c.region.Images.ListImages(ctx, q)
	if err != nil {
		return nil, err
	}
	for _, img := range imgs {
		c.remember(ctx, t, img)
	}
	return imgs, nil
}

// Member answers the gateway's membership questions (is the caller a member
// of this shared image; GET .../members/{id}) from remembered verdicts, or
// asks the region with the caller's identity (one call for every
// concurrent miss of the verdict: coalesce) and remembers the verdict for
// cache.verdict_ttl. The gateway has already decided that the caller may
// ask about this member, so a verdict does not depend on who asked.
func (c *cachedRegion) Member(ctx context.Context, imageID, memberID string) (*backends.Member, error) {
	if c.meta == nil {
		return c.region.Members.Member(ctx, imageID, memberID)
	}
	lookup, span := tracing.Start(ctx, "cache.metadata")
	m, known, _ := c.meta.Member(lookup, imageID, memberID)
	result := "miss"
	if known {
		result = "fresh"
	}
	endLookup(span, "member", result)
	if known {
		if m == nil {
			return nil, notMember(imageID, memberID)
		}
		return m, nil
	}
	return coalesce(ctx, &c.verdicts, c.meta, imageID+"\x00"+memberID, imageID, isNotFound,
		func(ctx context.Context) (*backends.Member, meta.Ticket, error) {
			return c.askMember(ctx, imageID, memberID)
		})
}

// askMember is a verdict miss's one call to the region, for every caller
// that joined it.
func (c *cachedRegion) askMember(ctx context.Context, imageID, memberID string) (*backends.Member, meta.Ticket, error) {
	before := c.meta.Ticket()
	m, known, t := c.meta.Member(ctx, imageID, memberID)
	if known {
		if m == nil {
			return nil, before, notMember(imageID, memberID)
		}
		return m, before, nil
	}
	m, err := c.region.Members.Member(ctx, imageID, memberID)
	switch {
	case err == nil:
		c.meta.PutMember(ctx, t, imageID, memberID, m)
	case errors.Is(err, backends.ErrNotFound):
		c.meta.PutMember(ctx, t, imageID, memberID, nil)
	}
	return m, t, err
}

func notMember(imageID, memberID string) error {
	return backends.Errorf(backends.ErrNotFound, memberID+" not found in the member list of the image "+imageID+".")
}

// isNotFound: "not a member" is every caller's verdict, as the cache
// keeps it.
func isNotFound(err error) bool { return errors.Is(err, backends.ErrNotFound) }

// written is the end of every write to an image: forget what was cached
// about it (whatever the outcome: a failed write may have half-happened
// remotely), then remember the region's answer if it gave the new record.
// With a shared tier this invalidates the record on every instance too.
func (c *cachedRegion) written(ctx context.Context, id string, img *backends.Image) {
	if c.writes != nil {
		c.writes.Add(1)
	}
	if c.meta == nil {
		return
	}
	t := c.meta.Invalidate(ctx, id)
	// Callers from now on must not wait for a record read before the
	// write (they could not use it: coalesce).
	c.records.Forget(id)
	if img != nil {
		c.remember(ctx, t, img)
	}
}

// remember caches a record unless its status is one the region changes by
// itself in the background (saving, importing, uploading, pending_delete):
// a client polling an import must see it end when it ends, not a TTL later.
func (c *cachedRegion) remember(ctx context.Context, t meta.Ticket, img *backends.Image) {
	if !changesByItself(img.Status) {
		c.meta.PutImage(ctx, t, img)
	}
}

// changesByItself reports whether an image in this status is one its region
// moves on in the background, without a write through the gateway.
func changesByItself(status string) bool {
	switch status {
	case backends.StatusSaving, backends.StatusImporting, backends.StatusUploading, "pending_delete":
		return true
	}
	return false
}

func (c *cachedRegion) CreateImage(ctx context.Context, img *backends.Image) (*backends.Image, error) {
	created, err := c.region.Images.CreateImage(ctx, img)
	if err == nil {
		c.written(ctx, created.ID, created)
	}
	return created, err
}

func (c *cachedRegion) UpdateImage(ctx context.Context, id string, changes []backends.Change) (*backends.Image, error) {
	img, err := c.region.Images.UpdateImage(ctx, id, changes)
	c.written(ctx, id, img)
	if err == nil && c.blobs != nil && dropsLocation(changes) {
		// The bytes cached were read from a location that may be gone
		// (remove), or whose metadata changed (replace): the next read
		// fills from the locations the image has now.
		c.blobs.Delete(blob.Key{Region: c.name, Image: id})
	}
	return img, err
}

// dropsLocation reports whether a patch replaces or removes an image's
// locations.
func dropsLocation(changes []backends.Change) bool {
	for i := range changes {
		ch := &changes[i]
		if len(ch.Path) > 0 && ch.Path[0] == "locations" && ch.Op != backends.PatchAdd {
			return true
		}
	}
	return false
}

func (c *cachedRegion) SetImageStatus(ctx context.Context, id, status string) (*backends.Image, error) {
	img, err := c.region.Images.SetImageStatus(ctx, id, status)
	c.written(ctx, id, img)
	return img, err
}

func (c *cachedRegion) DeleteImage(ctx context.Context, id string) error {
	err := c.region.Images.DeleteImage(ctx, id)
	c.written(ctx, id, nil)
	if err == nil && c.blobs != nil { // a remote image's data, or an http location's
		c.blobs.Delete(blob.Key{Region: c.name, Image: id})
	}
	return err
}

func (c *cachedRegion) AddTag(ctx context.Context, id, tag string) error {
	err := c.region.Images.AddTag(ctx, id, tag)
	c.written(ctx, id, nil)
	return err
}

func (c *cachedRegion) DeleteTag(ctx context.Context, id, tag string) error {
	err := c.region.Images.DeleteTag(ctx, id, tag)
	c.written(ctx, id, nil)
	return err
}

func (c *cachedRegion) UploadData(ctx context.Context, id string, r io.Reader, opts backends.UploadOptions) (*backends.Image, error) {
	img, err := c.region.Data.UploadData(ctx, id, r, opts)
	c.written(ctx, id, img)
	return img, err
}

func (c *cachedRegion) StageData(ctx context.Context, id string, r io.Reader, opts backends.UploadOptions) (*backends.Image, error) {
	img, err := c.region.Data.StageData(ctx, id, r, opts)
	c.written(ctx, id, img)
	return img, err
}

func (c *cachedRegion) Import(ctx context.Context, id string, req backends.ImportRequest) error {
	err := c.region.Tasks.Import(ctx, id, req)
	c.written(ctx, id, nil)
	return err
}

// OpenData serves a remote region's image data through the blob cache:
// from disk when complete, else attached to the one fill from the region.
// The cache verifies the data against img, the record the gateway resolved
// (through this region's metadata cache); images it cannot verify (no size
// or checksums yet) stream from the region.
func (c *cachedRegion) OpenData(ctx context.Context, img *backends.Image) (backends.Data, error) {
	// A remote region's location images are its own (its http store
	// reads the URL): they fill the blob cache from the region as any
	// image does. The embedded store's are read from the location.
	if img.HTTPLocation() != "" && c.fetch == nil {
		return c.openLocation(ctx, img)
	}
	if c.fetch == nil {
		return c.region.Data.OpenData(ctx, img)
	}
	exp, ok := expect(img)
	if !ok {
		return c.region.Data.OpenData(ctx, img)
	}
	o := c.origin(ctx, img.ID)
	o.size = *img.Size
	return c.blobs.Open(ctx, blob.Key{Region: c.name, Image: img.ID}, exp, o)
}

// openLocation opens the data of an image whose bytes are at an http
// location (the region reads them from there): through the blob cache,
// when there is one and the image has a checksum to verify the bytes
// against, like any region's data, else straight from the location.
func (c *cachedRegion) openLocation(ctx context.Context, img *backends.Image) (backends.Data, error) {
	data, err := c.region.Data.OpenData(ctx, img)
	if err != nil || c.blobs == nil {
		return data, err
	}
	sec, ok := data.(backends.Sectioner)
	exp, verifiable := expect(img)
	if !ok || !verifiable {
		return data, nil
	}
	return c.blobs.Open(ctx, blob.Key{Region: c.name, Image: img.ID}, exp, locationOrigin{sec, data.Size()})
}

// locationOrigin fills the blob cache from a location's data.
type locationOrigin struct {
	s    backends.Sectioner
	size int64
}

func (o locationOrigin) Fetch(ctx context.Context, off, n int64) (io.ReadCloser, error) {
	if n < 0 || off+n > o.size {
		n = o.size - off
	}
	return o.s.Section(ctx, off, n)
}

// expect is what the cache verifies an image's data against.
func expect(img *backends.Image) (blob.Expect, bool) {
	if !img.HasData() {
		return blob.Expect{}, false
	}
	exp := blob.Expect{Size: *img.Size}
	if img.Checksum != nil {
		exp.Checksum = *img.Checksum
	}
	if img.OSHashAlgo != nil && img.OSHashValue != nil {
		exp.HashAlgo, exp.HashValue = *img.OSHashAlgo, *img.OSHashValue
	}
	return exp, exp.Checksum != "" || exp.HashValue != ""
}

// origin is the region's data as the cache fills it: as the caller who
// started the fill (a copy: the fill outlives the request).
func (c *cachedRegion) origin(ctx context.Context, id string) *regionOrigin {
	o := &regionOrigin{f: c.fetch, id: id}
	if who := backends.CallerFrom(ctx); who != nil {
		o.caller = *who
	}
	return o
}

type regionOrigin struct {
	f      Fetcher
	id     string
	caller backends.Caller
	size   int64 // the image's size; 0: unknown
}

// Fetch asks for the whole image without a range (n < 0) when that is
// the range: a Glance region's location images are read by its http
// store, which refuses any Range, even one of every byte.
func (o *regionOrigin) Fetch(ctx context.Context, off, n int64) (io.ReadCloser, error) {
	if off == 0 && n > 0 && n == o.size {
		n = -1
	}
	return o.f.Fetch(backends.WithCaller(ctx, &o.caller), o.id, off, n)
}

func (c *cachedRegion) Members(ctx context.Context, imageID string) ([]*backends.Member, error) {
	return c.region.Members.Members(ctx, imageID)
}

func (c *cachedRegion) AddMember(ctx context.Context, imageID, memberID string) (*backends.Member, error) {
	m, err := c.region.Members.AddMember(ctx, imageID, memberID)
	c.written(ctx, imageID, nil)
	return m, err
}

func (c *cachedRegion) UpdateMember(ctx context.Context, imageID, memberID, status string) (*backends.Member, error) {
	m, err := c.region.Members.UpdateMember(ctx, imageID, memberID, status)
	c.written(ctx, imageID, nil)
	return m, err
}

func (c *cachedRegion) DeleteMember(ctx context.Context, imageID, memberID string) error {
	err := c.region.Members.DeleteMember(ctx, imageID, memberID)
	c.written(ctx, imageID, nil)
	return err
}

func (c *cachedRegion) CreateTask(ctx context.Context, typ string, input json.RawMessage) (*backends.Task, error) {
	return c.region.Tasks.CreateTask(ctx, typ, input)
}

func (c *cachedRegion) Task(ctx context.Context, id string) (*backends.Task, error) {
	return c.region.Tasks.Task(ctx, id)
}

func (c *cachedRegion) ListTasks(ctx context.Context, q *backends.TaskQuery) ([]*backends.Task, error) {
	return c.region.Tasks.ListTasks(ctx, q)
}

func (c *cachedRegion) ImageTasks(ctx context.Context, imageID string) ([]*backends.Task, error) {
	return c.region.Tasks.ImageTasks(ctx, imageID)
}

// freshness names meta.Freshness values for spans.
var freshness = [...]string{meta.Missing: "miss", meta.Fresh: "fresh", meta.Stale: "stale"}

// endLookup ends a metadata cache lookup's span: what was looked up
// (image, member) and what the cache had (fresh, stale, miss).
func endLookup(span trace.Span, kind, result string) {
	if span.IsRecording() {
		span.SetAttributes(attribute.String("spyglass.cache.kind", kind), attribute.String("spyglass.cache.result", result))
	}
	span.End()
}
