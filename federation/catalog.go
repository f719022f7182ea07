package federation

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/spyglass-gateway/spyglass/backends"
	"github.com/spyglass-gateway/spyglass/backends/glancedownload"
	"github.com/spyglass-gateway/spyglass/backends/outbound"
	"github.com/spyglass-gateway/spyglass/backends/transfers"
	"github.com/spyglass-gateway/spyglass/cache/blob"
	"github.com/spyglass-gateway/spyglass/cache/meta"
)

// Config is what a Catalog is built from.
type Config struct {
	// Regions behind the gateway, in order: the first holding an image is
	// its primary copy. Region and Meta are the shorthand for one.
	Regions []RegionConfig
	Region  Region
	Meta    *meta.Cache
	// Default names the region creates go to; "" is the first region.
	Default string
	// ProjectRegions maps a project id to the region its creates go to.
	ProjectRegions map[string]string
	// Blobs caches the image data of regions that can fetch ranges (a
	// remote Glance); nil means downloads stream from the region.
	Blobs *blob.Cache
	// FailListings: a listing that cannot reach a region fails (503);
	// false: it answers from the others and names the missing regions.
	FailListings bool
	// CursorTTL is how long a listing walk's region positions are kept;
	// 0 means 10 minutes.
	CursorTTL time.Duration
	// ReadAheadTTL is how long the images a listing page read from a
	// region beyond what it returned may serve the walk's next page, when
	// no write went through the catalog in between — nor, with a shared
	// tier, through another instance, as far as its invalidations have
	// arrived (cache.metadata_ttl: the staleness a cached record may have
	// anyway); 0: every page re-reads them from the regions.
	ReadAheadTTL time.Duration
	// Shared is the tier shared with other gateway instances (a Redis):
	// listing positions go there too, so a walk continues exactly on any
	// instance, and so does the location index when Shared is also
	// SharedSets (redis.Tier is); nil: each instance keeps its own.
	// (Image records and verdicts are shared by each region's Meta.)
	Shared SharedStore
	// Logger receives stale-if-error, cache and region events; nil:
	// slog.Default().
	Logger *slog.Logger
	// GlanceDownload reads the sources of glance-download imports into
	// regions that do not run them (glancedownload.go); nil:
	// glancedownload.Client().
	GlanceDownload glancedownload.Doer
	// WebDownload fetches the URIs of web-download imports into regions
	// that do not run them (download.go): give it the fetcher of the
	// gateway's import filtering, which the embedded regions use too.
	// nil: outbound.Default(), Glance's default [import_filtering_opts].
	WebDownload URLGetter
	// Transfers bounds the downloads the gateway runs into those regions
	// (web-download, glance-download) with the gateway's other outbound
	// transfers: give it the *transfers.Limiter the gateway and the
	// embedded regions share. nil: a limiter of the catalog's own with
	// transfers' defaults.
	Transfers TransferLimiter
}

// RegionConfig is one region behind the catalog.
type RegionConfig struct {
	// Name is the region's store name; "" takes Region.Stores()[0].
	Name string
	// Region is the region's store, by resource: RegionOf(store).
	Region Region
	// Meta caches the region's image records and membership verdicts; nil
	// means every call goes to the region.
	Meta *meta.Cache
	// Order is how the region's database orders listings. Every region
	// must order alike for the merge to be Glance's order.
	Order Order
	// MaxPage is the most images one listing request to the region
	// returns (Glance's api_limit_max); 0 means 1000.
	MaxPage int
}

type region struct {
	cached  *cachedRegion
	maxPage int
	// others counts the writes other gateway instances made to the
	// region's own state (OthersWriter); nil: none it knows of.
	others OthersWriter
}

// OthersWriter is a region whose records other gateway instances change
// without going through this one's metadata cache — an embedded store
// whose directory the site's instances share (local.Store). It counts the
// times it found they did (a listing's read-ahead is stale once it
// moved), and tells f of each image they changed before their write
// answers (the location index learns whether the region holds it: a
// copy-image through another instance put it there).
type OthersWriter interface {
	OthersWrites() uint64
	OnOthersWrite(f func(id string))
}

// Catalog is the gateway's catalog over the regions: one logical Glance.
type Catalog struct {
	regions   []region
	names     []string // store names, the default first (Stores)
	byName    map[string]int
	def       int
	projects  map[string]int
	order     Order
	failFast  bool
	loc       *locations
	cursors   *cursors
	readAhead time.Duration
	writes    atomic.Uint64 // writes through the catalog (cachedRegion.written)
	blobs     *blob.Cache
	log       *slog.Logger

	copies copyTasks
	book   importBook // os_glance_importing_to_stores and os_glance_failed_import of imports across regions
	// glanceDL reads glance-download sources (Config.GlanceDownload),
	// webDL fetches web-download URIs (Config.WebDownload), within
	// transfers (Config.Transfers).
	glanceDL    glancedownload.Doer
	webDL       URLGetter
	transfers   TransferLimiter
	downloading downloading // the images the gateway's downloads work on
}

// New validates cfg and returns the Catalog.
func New(cfg Config) (*Catalog, error) {
	if cfg.Region != (Region{}) {
		cfg.Regions = append([]RegionConfig{{Region: cfg.Region, Meta: cfg.Meta}}, cfg.Regions...)
	}
	if len(cfg.Regions) == 0 {
		return nil, errors.New("federation: no region")
	}
	if len(cfg.Regions) > 64 {
		return nil, fmt.Errorf("federation: %d regions; at most 64", len(cfg.Regions))
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.CursorTTL <= 0 {
		cfg.CursorTTL = 10 * time.Minute
	}
	c := &Catalog{byName: map[string]int{}, projects: map[string]int{}, failFast: cfg.FailListings,
		loc: newLocations(1 << 20), blobs: cfg.Blobs, log: cfg.Logger, readAhead: cfg.ReadAheadTTL}
	if c.glanceDL = cfg.GlanceDownload; c.glanceDL == nil {
		c.glanceDL = glancedownload.Client()
	}
	if c.webDL = cfg.WebDownload; c.webDL == nil {
		c.webDL = outbound.Default()
	}
	if c.transfers = cfg.Transfers; c.transfers == nil {
		l, err := transfers.New(transfers.Options{})
		if err != nil {
			return nil, err
		}
		c.transfers = l
	}
	for i, rc := range cfg.Regions {
		if err := rc.Region.check(); err != nil {
			return nil, fmt.Errorf("federation: regions[%d]: %w; fill it with federation.RegionOf(store)", i, err)
		}
		name := rc.Name
		if name == "" {
			name = rc.Region.storeName()
		}
		if _, dup := c.byName[name]; dup {
			return nil, fmt.Errorf("federation: two regions named %q", name)
		}
		if err := rc.Order.Validate(); err != nil {
			return nil, fmt.Errorf("federation: region %s: %w", name, err)
		}
		if i == 0 {
			c.order = rc.Order
		} else if normal(rc.Order) != normal(c.order) {
			return nil, fmt.Errorf("federation: region %s orders listings unlike region %s (%+v vs %+v): a merged listing needs one order",
				name, c.regions[0].cached.name, rc.Order, c.order)
		}
		if rc.MaxPage <= 0 {
			rc.MaxPage = 1000
		}
		c.byName[name] = i
		if rc.Meta != nil {
			// Another instance's write to an image (a copy-image, a
			// move) may have changed where it is: this instance's
			// index must not keep answering what it knew before.
			rc.Meta.OnOthersInvalidate(c.loc.forget)
		}
		cr := newCachedRegion(name, rc.Region, rc.Meta, cfg.Blobs, cfg.Logger)
		cr.writes = &c.writes
		others, _ := rc.Region.Images.(OthersWriter)
		if others != nil {
			// The region's store knows, from memory, whether it holds
			// the image now: the index keeps what it knows of the other
			// regions (forgetting it would have the next show ask Redis,
			// which the writer may not have told yet).
			i, images := len(c.regions), rc.Region.Images
			others.OnOthersWrite(func(id string) {
				_, err := images.Image(context.Background(), id)
				c.loc.changed(context.Background(), id, i, err == nil)
			})
		}
		c.regions = append(c.regions, region{cached: cr, maxPage: rc.MaxPage, others: others})
	}
	if cfg.Default != "" {
		i, ok := c.byName[cfg.Default]
		if !ok {
			return nil, fmt.Errorf("federation: default region %q is not a region", cfg.Default)
		}
		c.def = i
	}
	for p, name := range cfg.ProjectRegions {
		i, ok := c.byName[name]
		if !ok {
			return nil, fmt.Errorf("federation: project %s: region %q is not a region", p, name)
		}
		c.projects[p] = i
	}
	c.names = append(c.names, c.regions[c.def].cached.name)
	for i, r := range c.regions {
		if i != c.def {
			c.names = append(c.names, r.cached.name)
		}
	}
	if cfg.Shared != nil {
		c.copies.shared = cfg.Shared
		c.copies.sets, _ = cfg.Shared.(SharedSets)
		if sets, ok := cfg.Shared.(SharedSets); ok && len(c.regions) > 1 {
			names := make([]string, len(c.regions))
			for i, r := range c.regions {
				names[i] = r.cached.name
			}
			c.loc.share(sets, names)
		}
	}
	if len(c.regions) > 1 {
		cur, err := newCursors(1<<17, cfg.CursorTTL, cfg.Shared)
		if err != nil {
			return nil, err
		}
		c.cursors = cur
	}
	return c, nil
}

func normal(o Order) Order {
	if o.Collation == "" {
		o.Collation = "binary"
	}
	return o
}

// Close releases the catalog's in-process caches.
func (c *Catalog) Close() {
	c.loc.close()
	if c.cursors != nil {
		c.cursors.close()
	}
}

func (c *Catalog) single() bool { return len(c.regions) == 1 }

// Stores lists the regions as Glance lists its stores: the default first.
func (c *Catalog) Stores() []string { return c.names }

// withStores gives an image held by several regions a stores field naming
// every one of them.
func (c *Catalog) withStores(img *backends.Image, holders regionSet) *backends.Image {
	if holders.count() < 2 || len(img.Stores) == 0 {
		return img
	}
	out := img.Clone()
	out.Stores = out.Stores[:0]
	for i, r := range c.regions {
		if holders.has(i) {
			out.Stores = append(out.Stores, r.cached.name)
		}
	}
	return out
}

// locate returns the regions holding id: from the location index, or by
// asking every region at once; the first that has it answers, the others
// teach the index in the background.
func (c *Catalog) locate(ctx context.Context, id string) (regionSet, *backends.Image, error) {
	if s := c.loc.get(ctx, id); s != 0 {
		return s, nil, nil
	}
	if c.single() {
		return one(0), nil, nil
	}
	type answer struct {
		i   int
		img *backends.Image
		err error
	}
	l := lookupEach(ctx, len(c.regions), func(lctx context.Context, i int) answer {
		img, err := c.regions[i].cached.Image(lctx, id)
		if err == nil {
			c.loc.add(lctx, id, i)
		}
		return answer{i, img, err}
	})
	defer l.release() // the rest finish teaching the index
	var firstErr error
	for range c.regions {
		a, err := l.next(ctx)
		if err != nil {
			return 0, nil, err
		}
		if a.err == nil {
			return c.loc.get(ctx, id) | one(a.i), a.img, nil
		}
		if !errors.Is(a.err, backends.ErrNotFound) && (firstErr == nil || errors.Is(firstErr, backends.ErrNotFound)) {
			firstErr = a.err
		} else if firstErr == nil {
			firstErr = a.err
		}
	}
	return 0, nil, firstErr
}

// reach is how far place looks for an image's copies.
type reach bool

const (
	primaryCopy reach = false // a read: the copy that serves it
	everyCopy   reach = true  // a write: it must reach them all
)

// place is the one decision of where an image is: the regions holding it
// (holders.primary(), the first configured one, serves its reads and
// stands for it in listings) and, for a read, the primary copy's record
// with stores naming every holder.
//
// A read trusts the location index (locate: the index, else a lookup
// across the regions that teaches it) and reads the record from the
// primary copy; an index naming a region that no longer holds the image
// (deleted behind our back, or the caller cannot see that copy) is
// corrected and asked once more.
//
// A write must reach every copy, including copies this instance never saw
// made (another instance's copy-image, a copy made behind the gateway),
// which the index may not know yet: every region is asked at once
// (askEvery) and the record is not returned. Nobody holding it (or no
// region answering): the read's answer, and its error in Glance's words.
//
// With one region, it holds every image: nothing is looked up and the
// record is nil (Image asks the region itself).
func (c *Catalog) place(ctx context.Context, id string, r reach) (*backends.Image, regionSet, error) {
	if c.single() {
		return nil, one(0), nil
	}
	if r == everyCopy {
		if s := c.askEvery(ctx, id); s != 0 {
			return nil, s, nil
		}
	}
	for attempt := 0; ; attempt++ {
		holders, img, err := c.locate(ctx, id)
		if err != nil {
			return nil, 0, err
		}
		p := holders.primary()
		if img == nil {
			img, err = c.regions[p].cached.Image(ctx, id)
		}
		if err == nil {
			return c.book.render(c.withStores(img, holders)), holders, nil
		}
		if errors.Is(err, backends.ErrNotFound) && attempt < len(c.regions) {
			// The index named a region that no longer holds it (or
			// not for this caller): the next holder, or a lookup.
			c.loc.remove(ctx, id, p)
			continue
		}
		return nil, 0, err
	}
}

// askEvery asks every region at once whether it holds id, and corrects the
// location index with the answers. Regions that cannot answer are left
// out.
func (c *Catalog) askEvery(ctx context.Context, id string) regionSet {
	backends.CallerFrom(ctx) // built now, not by the goroutines below at once
	errs := make([]error, len(c.regions))
	var wg sync.WaitGroup
	for i, r := range c.regions {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, errs[i] = r.cached.Image(ctx, id)
		}()
	}
	wg.Wait()
	var s regionSet
	for i, err := range errs {
		switch {
		case err == nil:
			s |= one(i)
			c.loc.add(ctx, id, i)
		case errors.Is(err, backends.ErrNotFound):
			c.loc.remove(ctx, id, i)
		}
	}
	return s
}

// Image answers a show from the image's primary region (through its
// metadata cache).
func (c *Catalog) Image(ctx context.Context, id string) (*backends.Image, error) {
	if c.single() {
		// The gateway's downloads keep import bookkeeping here too.
		img, err := c.regions[0].cached.Image(ctx, id)
		return c.book.render(img), err
	}
	img, _, err := c.place(ctx, id, primaryCopy)
	return img, err
}

// ListImages merges the regions' listings; one region is asked directly.
func (c *Catalog) ListImages(ctx context.Context, q *backends.ListQuery) ([]*backends.Image, error) {
	if c.single() {
		imgs, err := c.regions[0].cached.ListImages(ctx, q)
		return c.book.renderAll(imgs), err
	}
	return c.listMerged(ctx, q)
}

// home is the region a create goes to: the caller's project's, else the
// default.
func (c *Catalog) home(ctx context.Context) int {
	if who := backends.CallerFrom(ctx); who != nil {
		if i, ok := c.projects[who.Project]; ok {
			return i
		}
	}
	return c.def
}

func (c *Catalog) CreateImage(ctx context.Context, img *backends.Image) (*backends.Image, error) {
	i := c.home(ctx)
	created, err := c.regions[i].cached.CreateImage(ctx, img)
	if err == nil {
		c.loc.add(ctx, created.ID, i)
	}
	return created, err
}

// eachHolder applies a write to every copy of the image, the primary
// first; the primary's answer is the answer.
func eachHolder[T any](c *Catalog, ctx context.Context, id string, write func(r *cachedRegion) (T, error)) (T, error) {
	var zero T
	_, s, err := c.place(ctx, id, everyCopy)
	if err != nil {
		return zero, err
	}
	var out T
	first := true
	for i, r := range c.regions {
		if !s.has(i) {
			continue
		}
		v, err := write(r.cached)
		if first {
			if err != nil {
				return zero, err
			}
			out, first = v, false
		} else if err != nil {
			c.log.WarnContext(ctx, "a write reached the image's primary copy but not a copy", "image", id, "region", r.cached.name, "err", err)
		}
	}
	return out, nil
}

func (c *Catalog) UpdateImage(ctx context.Context, id string, changes []backends.Change) (*backends.Image, error) {
	return eachHolder(c, ctx, id, func(r *cachedRegion) (*backends.Image, error) { return r.UpdateImage(ctx, id, changes) })
}

func (c *Catalog) SetImageStatus(ctx context.Context, id, status string) (*backends.Image, error) {
	return eachHolder(c, ctx, id, func(r *cachedRegion) (*backends.Image, error) { return r.SetImageStatus(ctx, id, status) })
}

func (c *Catalog) DeleteImage(ctx context.Context, id string) error {
	_, err := eachHolder(c, ctx, id, func(r *cachedRegion) (struct{}, error) {
		err := r.DeleteImage(ctx, id)
		if err == nil {
			c.loc.remove(ctx, id, c.byName[r.name])
		}
		return struct{}{}, err
	})
	if err == nil {
		c.book.forget(id)
	}
	return err
}

func (c *Catalog) AddTag(ctx context.Context, id, tag string) error {
	_, err := eachHolder(c, ctx, id, func(r *cachedRegion) (struct{}, error) { return struct{}{}, r.AddTag(ctx, id, tag) })
	return err
}

func (c *Catalog) DeleteTag(ctx context.Context, id, tag string) error {
	_, err := eachHolder(c, ctx, id, func(r *cachedRegion) (struct{}, error) { return struct{}{}, r.DeleteTag(ctx, id, tag) })
	return err
}

func (c *Catalog) AddMember(ctx context.Context, imageID, memberID string) (*backends.Member, error) {
	return eachHolder(c, ctx, imageID, func(r *cachedRegion) (*backends.Member, error) { return r.AddMember(ctx, imageID, memberID) })
}

func (c *Catalog) UpdateMember(ctx context.Context, imageID, memberID, status string) (*backends.Member, error) {
	return eachHolder(c, ctx, imageID, func(r *cachedRegion) (*backends.Member, error) {
		return r.UpdateMember(ctx, imageID, memberID, status)
	})
}

func (c *Catalog) DeleteMember(ctx context.Context, imageID, memberID string) error {
	_, err := eachHolder(c, ctx, imageID, func(r *cachedRegion) (struct{}, error) {
		return struct{}{}, r.DeleteMember(ctx, imageID, memberID)
	})
	return err
}

// reader is the region serving the image's reads: its primary copy's.
func (c *Catalog) reader(ctx context.Context, id string) (*cachedRegion, error) {
	_, s, err := c.place(ctx, id, primaryCopy)
	if err != nil {
		return nil, err
	}
	return c.regions[s.primary()].cached, nil
}

func (c *Catalog) Members(ctx context.Context, imageID string) ([]*backends.Member, error) {
	r, err := c.reader(ctx, imageID)
	if err != nil {
		return nil, err
	}
	return r.Members(ctx, imageID)
}

func (c *Catalog) Member(ctx context.Context, imageID, memberID string) (*backends.Member, error) {
	r, err := c.reader(ctx, imageID)
	if err != nil {
		return nil, err
	}
	return r.Member(ctx, imageID, memberID)
}

// OpenData opens img's data in its primary region. img is the record the
// gateway resolved (Image: place), which taught the location index where
// the image is: the region is found there (locate), without reading the
// record again.
func (c *Catalog) OpenData(ctx context.Context, img *backends.Image) (backends.Data, error) {
	holders, _, err := c.locate(ctx, img.ID)
	if err != nil {
		return nil, err
	}
	return c.regions[holders.primary()].cached.OpenData(ctx, img)
}

// target is the region data goes to: the store the client named, or the
// image's own. A queued image whose data is sent to another region moves
// there first, keeping its id.
func (c *Catalog) target(ctx context.Context, id, store string) (*cachedRegion, error) {
	_, s, err := c.place(ctx, id, primaryCopy)
	if err != nil {
		return nil, err
	}
	if store == "" {
		return c.regions[s.primary()].cached, nil
	}
	i, ok := c.byName[store]
	if !ok {
		return nil, backends.Errorf(backends.ErrBadRequest, "Store for identifier "+store+" not found")
	}
	if s.has(i) {
		return c.regions[i].cached, nil
	}
	if err := c.move(ctx, id, s.primary(), i); err != nil {
		return nil, err
	}
	return c.regions[i].cached, nil
}

// move re-creates a queued image in another region under the same id (its
// attributes, tags and members) and deletes it from where it was.
func (c *Catalog) move(ctx context.Context, id string, from, to int) error {
	src, dst := c.regions[from].cached, c.regions[to].cached
	img, err := src.Image(ctx, id)
	if err != nil {
		return err
	}
	if img.Status != backends.StatusQueued {
		return backends.Errorf(backends.ErrConflict, fmt.Sprintf(
			"Image %s is in store %s with status %s; only a queued image can move to store %s", id, src.name, img.Status, dst.name))
	}
	members, err := src.Members(ctx, id)
	if err != nil && !errors.Is(err, backends.ErrForbidden) && !errors.Is(err, backends.ErrNotFound) {
		return err
	}
	if _, err := dst.CreateImage(ctx, img); err != nil {
		return err
	}
	c.loc.add(ctx, id, to)
	for _, m := range members {
		if _, err := dst.AddMember(ctx, id, m.MemberID); err != nil {
			c.log.WarnContext(ctx, "moving an image: a member was not added", "image", id, "member", m.MemberID, "err", err)
		} else if m.CanShare {
			// v1's grant goes with it where the region keeps one.
			if _, err := dst.ShareMember(ctx, id, m.MemberID, &m.CanShare); err != nil {
				c.log.WarnContext(ctx, "moving an image: a member's can_share was not kept", "image", id, "member", m.MemberID, "err", err)
			}
		}
	}
	if err := src.DeleteImage(ctx, id); err != nil {
		c.log.WarnContext(ctx, "moving an image: the old copy was not deleted", "image", id, "region", src.name, "err", err)
		return nil
	}
	c.loc.remove(ctx, id, from)
	// The image lives on elsewhere: where the region allows it (the
	// embedded store), free its id there for a copy-image back. A Glance
	// keeps deleted ids, so a copy back to it fails ("already exists").
	if f, ok := src.region.Images.(idForgetter); ok {
		if err := f.ForgetDeleted(ctx, id); err != nil {
			c.log.WarnContext(ctx, "moving an image: its id stays taken in the old region", "image", id, "region", src.name, "err", err)
		}
	}
	return nil
}

// idForgetter is a region's Images that can let a deleted image's id be created
// again (local.Store).
type idForgetter interface {
	ForgetDeleted(ctx context.Context, id string) error
}

func (c *Catalog) UploadData(ctx context.Context, id string, r io.Reader, opts backends.UploadOptions) (*backends.Image, error) {
	dst, err := c.target(ctx, id, opts.Store)
	if err != nil {
		return nil, err
	}
	opts.Store = "" // the region has one store, itself
	return dst.UploadData(ctx, id, r, opts)
}

func (c *Catalog) StageData(ctx context.Context, id string, r io.Reader, opts backends.UploadOptions) (*backends.Image, error) {
	dst, err := c.target(ctx, id, opts.Store)
	if err != nil {
		return nil, err
	}
	opts.Store = ""
	return dst.StageData(ctx, id, r, opts)
}

// Import runs glance-direct and web-download in the region chosen by
// stores (moving a queued image there), and copy-image across regions.
// An import to several stores imports into the image's own region and
// copies from there (importMany). web-download and glance-download into a
// region that does not run them (a Glance) are the gateway's (download).
func (c *Catalog) Import(ctx context.Context, id string, req backends.ImportRequest) error {
	if c.downloading.busy(id) {
		return busyError(req.Method)
	}
	if !c.single() && req.Method == "copy-image" {
		return c.copyImage(ctx, id, req)
	}
	if !c.single() && (len(req.Stores) > 1 || req.AllStores) {
		return c.importMany(ctx, id, req)
	}
	store := ""
	if len(req.Stores) == 1 {
		store = req.Stores[0]
	}
	dst, err := c.target(ctx, id, store)
	if err != nil {
		return err
	}
	req.Stores, req.AllStores = nil, false
	if gatewayRuns(dst, req.Method) {
		return c.download(ctx, dst, id, req)
	}
	return dst.Import(ctx, id, req)
}

// CreateTask creates a task (the v2 tasks API) in the caller's home region.
func (c *Catalog) CreateTask(ctx context.Context, typ string, input json.RawMessage) (*backends.Task, error) {
	return c.regions[c.home(ctx)].cached.CreateTask(ctx, typ, input)
}

// Task finds a task in whichever region (or copy job) has it.
func (c *Catalog) Task(ctx context.Context, id string) (*backends.Task, error) {
	if t, ok := c.copies.get(ctx, id); ok {
		return t, nil
	}
	var firstErr error
	for _, r := range c.regions {
		t, err := r.cached.Task(ctx, id)
		if err == nil {
			return t, nil
		}
		if firstErr == nil || errors.Is(firstErr, backends.ErrNotFound) {
			firstErr = err
		}
	}
	return nil, firstErr
}

// ListTasks lists the tasks of every region and the gateway's own (its
// copy-image jobs and the imports it ran: ourTasks), newest first as
// Glance's default; filters, sort and markers are the default region's
// when there is one region and the gateway has no task to show.
func (c *Catalog) ListTasks(ctx context.Context, q *backends.TaskQuery) ([]*backends.Task, error) {
	ours := c.ourTasks(ctx, q)
	if c.single() && len(ours) == 0 {
		return c.regions[0].cached.ListTasks(ctx, q)
	}
	backends.CallerFrom(ctx) // built now, not by the goroutines below at once
	var all []*backends.Task
	var mu sync.Mutex
	var wg sync.WaitGroup
	var firstErr error
	for _, r := range c.regions {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ts, err := r.cached.ListTasks(ctx, q)
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				if firstErr == nil {
					firstErr = err
				}
				return
			}
			for _, t := range ts {
				if !c.copies.hidden(t.ID) {
					all = append(all, t)
				}
			}
		}()
	}
	wg.Wait()
	if firstErr != nil && len(all) == 0 {
		return nil, firstErr
	}
	// The regions' tasks keep their region's order (Glance renders times
	// to the second; its database orders by the microsecond), and the
	// gateway's go where the second they were made puts them.
	n := len(all)
	all = append(all, ours...)
	isOurs := func(i int) bool { return i >= n }
	idx := make([]int, len(all))
	for i := range idx {
		idx[i] = i
	}
	sort.SliceStable(idx, func(a, b int) bool {
		return taskBefore(q, all[idx[a]], all[idx[b]], isOurs(idx[a]), isOurs(idx[b]))
	})
	sorted := make([]*backends.Task, len(all))
	for i, j := range idx {
		sorted[i] = all[j]
	}
	all = sorted
	if q.Limit > 0 && len(all) > q.Limit {
		all = all[:q.Limit]
	}
	return all, nil
}

// ourTasks are the gateway's tasks a listing q shows the caller (an
// admin: all; else the project's), those of this instance: on the first
// page only (a marker is a region's position).
func (c *Catalog) ourTasks(ctx context.Context, q *backends.TaskQuery) []*backends.Task {
	if q.Marker != "" {
		return nil
	}
	who := backends.CallerOf(ctx)
	ours := c.copies.matching(func(t *backends.Task) bool {
		return (who.Admin || t.Owner == who.Project) &&
			(q.Status == "" || t.Status == q.Status) && (q.Type == "" || t.Type == q.Type)
	})
	// In the order they were made, for the listing's stable sort.
	desc := q.Desc || q.SortKey == ""
	sort.Slice(ours, func(a, b int) bool {
		if desc {
			return ours[a].CreatedAt.After(ours[b].CreatedAt)
		}
		return ours[a].CreatedAt.Before(ours[b].CreatedAt)
	})
	return ours
}

// taskBefore is the order of a task listing: q's sort key and direction
// (created_at, newest first, by default), then created_at, as the regions
// show them: to the second. Between a region's task and one of the
// gateway's (ourA, ourB) made in the same second, the gateway's counts as
// the older: it was made at the request, before the work that followed.
// Otherwise equal tasks keep the order they come in (a region's own).
func taskBefore(q *backends.TaskQuery, a, b *backends.Task, ourA, ourB bool) bool {
	desc := q.Desc || q.SortKey == ""
	sec := func(t time.Time) int64 { return t.Unix() }
	cmp := 0
	switch q.SortKey {
	case "id":
		cmp = strings.Compare(a.ID, b.ID)
	case "type":
		cmp = strings.Compare(a.Type, b.Type)
	case "status":
		cmp = strings.Compare(a.Status, b.Status)
	case "updated_at":
		cmp = ints(sec(a.UpdatedAt), sec(b.UpdatedAt))
	}
	if cmp == 0 {
		cmp = ints(sec(a.CreatedAt), sec(b.CreatedAt))
	}
	if cmp == 0 && ourA != ourB {
		if ourA {
			cmp = -1
		} else {
			cmp = 1
		}
	}
	if desc {
		return cmp > 0
	}
	return cmp < 0
}

// ImageTasks lists an image's tasks: its primary region's and the copy
// jobs Spyglass ran for it.
func (c *Catalog) ImageTasks(ctx context.Context, imageID string) ([]*backends.Task, error) {
	r, err := c.reader(ctx, imageID)
	if err != nil {
		return nil, err
	}
	ts, err := r.ImageTasks(ctx, imageID)
	if err != nil {
		return nil, err
	}
	ours := c.copies.forImage(ctx, imageID)
	if len(ours) == 0 {
		return ts, nil
	}
	// While a download of the gateway runs, the region's import in flight
	// is its glance-direct (no other import is let in), subsumed as soon
	// as it is known.
	busy := c.downloading.busy(imageID)
	out := make([]*backends.Task, 0, len(ts)+len(ours))
	for _, t := range ts {
		inFlight := t.Status == backends.TaskPending || t.Status == backends.TaskProcessing
		if !c.copies.hidden(t.ID) && !(busy && t.Type == "api_image_import" && inFlight) {
			out = append(out, t)
		}
	}
	return append(out, ours...), nil
}
