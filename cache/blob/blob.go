package blob

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"go.opentelemetry.io/otel/attribute"

	"github.com/spyglass-gateway/spyglass/backends"
	"github.com/spyglass-gateway/spyglass/logctx"
	"github.com/spyglass-gateway/spyglass/tracing"
)

// Origin is where a blob's bytes come from: the region's data, read with
// ranges. The consumer passes one per Open; it carries whatever identity
// the region needs.
type Origin interface {
	// Fetch streams bytes [off, off+n) of the image (n < 0: to the end) as
	// they arrive. A stream that ends early must end with an error, not a
	// clean EOF.
	Fetch(ctx context.Context, off, n int64) (io.ReadCloser, error)
}

// Key names a blob: an image of a region.
type Key struct{ Region, Image string }

// Expect is what the bytes must be: the image's size and checksums as its
// region records them. An entry counts as complete only once its bytes
// have the size and match the strongest checksum (os_hash_value when
// there is one, else checksum).
type Expect struct {
	Size      int64
	Checksum  string // MD5, hex ("checksum")
	HashAlgo  string // os_hash_algo: sha512, sha256, ...
	HashValue string // os_hash_value, hex
}

// Config sizes the blob cache.
type Config struct {
	// Dir holds the entries; created if missing.
	Dir string
	// MaxSize bounds the bytes the cache takes on disk, at every instant:
	// a fill reserves its image's whole size (in disk blocks, with its
	// record) before it writes a byte, and an image that finds no room
	// even after evicting what nobody reads streams from its origin,
	// uncached. High and Low are the watermarks (fractions of MaxSize):
	// past High, least recently used entries are evicted down to Low.
	// Defaults 0.9 and 0.8.
	MaxSize   int64
	High, Low float64
	// Retries is how many times in a row a fill may fail to make progress
	// before it gives up (default 5); each retry resumes with a Range from
	// the last byte received, after a backoff.
	Retries int
	// Checkpoint is how many bytes a fill writes between two durable
	// records of its progress (default 16 MiB): after a crash, a fill
	// resumes from its last checkpoint.
	Checkpoint int64
	// CheckpointInterval is the least time between two checkpoints
	// (default 1s): each costs an fsync.
	CheckpointInterval time.Duration
	// PrefetchDelay is how long a queued prefetch waits before the
	// prefetcher starts it; zero: at once. An image stays listed as queued
	// (List) until its fill completes, as in Glance, whose queue file goes
	// only when the cached file is committed; the delay lets whoever queued
	// an image see it queued even when its fill would take a millisecond
	// (a small image of an embedded store).
	PrefetchDelay time.Duration
	// Logger; nil: slog.Default().
	Logger *slog.Logger

	// Site, when set, makes the gateway instances of a site fill each
	// image once between them (package site): a fill reads through the
	// origin Site.Fill returns, a read the cache does not take through
	// Site.Pass's. nil: each instance fills from its origins alone.
	Site Site
}

// Cache is the image data cache on local disk. One fill per entry however
// many readers; readers stream the bytes as they land; an entry is served
// as complete only once its bytes match the image's size and checksums.
//
// On disk, an entry is dir/<region>/<image>.data with its record in
// <image>.json. The record says "complete" only after the data was verified
// and synced; a record without it lists the extents a fill had durably
// written, from which a fill resumes after a restart.
type Cache struct {
	cfg Config
	log *slog.Logger

	bounds atomic.Pointer[blobBounds] // written under mu

	mu      sync.Mutex
	entries map[Key]*entry
	used    int64           // charges of entries (indexed, or with blocks still held) and directories
	leaving int64           // the part of used of entries out of the index (complete ones still read)
	dirs    map[string]bool // region directories counted in used
	queue   []queued        // prefetches not started yet, in order
	kick    chan struct{}
	closed  bool
	wg      sync.WaitGroup

	stats struct {
		hits, misses, fills, fillsFailed, evictions atomic.Int64
		bypassUncacheable, bypassFull, bypassDisk   atomic.Int64
		originBytes, bypassBytes, peerBytes         atomic.Int64
		prefetchesFailed                            atomic.Int64
		// verifyReadBack: bytes the verifiers read back from the file
		// rather than hash as the fill wrote them (verify.go).
		verifyReadBack atomic.Int64
	}
}

// Open opens (or creates) the cache in cfg.Dir and indexes what a
// previous run left: complete entries are kept; partial ones are kept to be
// resumed by the next fill of the same image; anything else is removed.
func Open(cfg Config) (*Cache, error) {
	if cfg.Dir == "" {
		return nil, errors.New("cache: no blob directory")
	}
	bounds, err := newBounds(cfg.MaxSize, cfg.High, cfg.Low)
	if err != nil {
		return nil, err
	}
	if cfg.Retries <= 0 {
		cfg.Retries = 5
	}
	if cfg.Checkpoint <= 0 {
		cfg.Checkpoint = 16 << 20
	}
	if cfg.CheckpointInterval <= 0 {
		cfg.CheckpointInterval = time.Second
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	b := &Cache{cfg: cfg, log: cfg.Logger, entries: map[Key]*entry{}, dirs: map[string]bool{}, kick: make(chan struct{}, 1)}
	b.bounds.Store(bounds)
	if err := os.MkdirAll(cfg.Dir, 0o750); err != nil {
		// An unusable directory is not fatal: every read is then served
		// straight from its origin (and says so).
		b.log.Error("blob cache directory unusable; serving image data from the origins", "dir", cfg.Dir, "err", err)
	} else {
		b.used = diskBlock // the directory itself
		b.scan()
		// A previous run may have had a larger bound: what it left is
		// evicted down to this one's before anything is filled.
		b.mu.Lock()
		b.makeRoomLocked(0)
		b.mu.Unlock()
	}
	b.wg.Add(1)
	go b.prefetcher()
	return b, nil
}

// Close stops the prefetcher. Fills in progress stop at their next read.
func (b *Cache) Close() error {
	b.mu.Lock()
	b.closed = true
	entries := make([]*entry, 0, len(b.entries))
	for _, e := range b.entries {
		entries = append(entries, e)
	}
	b.mu.Unlock()
	for _, e := range entries {
		e.stop()
	}
	select {
	case b.kick <- struct{}{}:
	default:
	}
	b.wg.Wait()
	return nil
}

// Open returns the image's data: from disk when the entry is complete;
// attached to the entry's fill (started now if none runs) otherwise; or,
// when the cache cannot hold it (no checksum to verify against, larger than
// the cache, no room under MaxSize for its size, an unusable disk),
// straight from the origin (or, on a site, from the instance filling it).
func (b *Cache) Open(ctx context.Context, k Key, exp Expect, o Origin) (_ backends.Data, err error) {
	_, span := tracing.Start(ctx, "cache.blobs")
	result := "fill"
	defer func() {
		if span.IsRecording() {
			span.SetAttributes(attribute.String("spyglass.cache.result", result))
			tracing.Fail(span, err)
		}
		span.End()
	}()
	d, result, why, err := b.openEntry(ctx, k, exp, o)
	if why == cached {
		return d, err
	}
	switch why {
	case bypassUncacheable:
		b.stats.bypassUncacheable.Add(1)
	case bypassFull:
		b.stats.bypassFull.Add(1)
		b.log.DebugContext(ctx, "blob cache full of entries being read and fills; serving an image uncached",
			"region", k.Region, "image", k.Image, "size", exp.Size)
	case bypassDisk:
		b.stats.bypassDisk.Add(1)
		b.log.WarnContext(ctx, "blob cache cannot hold an image; serving it from the origin", "region", k.Region, "image", k.Image, "err", err)
	}
	return b.bypass(k, exp, o), nil
}

// openEntry is Open without its bypass: the entry's data, or why the
// cache does not take the image (and the disk's error, if that is why).
// result names what happened for the span: hit, fill or attach.
func (b *Cache) openEntry(ctx context.Context, k Key, exp Expect, o Origin) (_ backends.Data, result string, why bypassReason, err error) {
	if !b.cacheable(exp) {
		return nil, "bypass", bypassUncacheable, nil
	}
	b.mu.Lock()
	e := b.entries[k]
	if e != nil && e.exp != exp {
		// The region's image changed under the same id (or the record was
		// from another image): the entry is not this image's.
		b.dropLocked(e)
		e = nil
	}
	if e != nil && e.isComplete() {
		e.hits++
		e.lastAccess = time.Now()
		e.lru = time.Now()
		b.mu.Unlock()
		b.stats.hits.Add(1)
		d, err := e.completeData()
		return d, "hit", cached, err
	}
	b.stats.misses.Add(1)
	if e == nil {
		e, why, err = b.newEntryLocked(k, exp)
		if why != cached {
			b.mu.Unlock()
			return nil, "bypass", why, err
		}
	}
	e.refs++
	e.lastAccess = time.Now()
	e.lru = time.Now()
	// A queued image stays queued until its fill completes (complete
	// removes it), whoever started the fill.
	result = "fill"
	if !b.startFillLocked(ctx, e, o) {
		result = "attach"
	}
	b.mu.Unlock()
	return &fillData{e: e, origin: o}, result, cached, nil
}

// cacheable: the cache can verify and hold it.
func (b *Cache) cacheable(exp Expect) bool {
	if exp.Size < 0 || (exp.Checksum == "" && exp.HashValue == "") {
		return false
	}
	if exp.HashValue != "" && NewHash(exp.HashAlgo) == nil {
		return false
	}
	bd := b.bounds.Load()
	return float64(exp.Size) <= float64(bd.max)*bd.low
}

// newEntryLocked reserves the entry's charge (evicting what it must) and
// then creates its files: what is on disk never exceeds what is counted.
func (b *Cache) newEntryLocked(k Key, exp Expect) (*entry, bypassReason, error) {
	if b.closed {
		return nil, bypassDisk, errors.New("cache closed")
	}
	if !validName(k.Region) || !validName(k.Image) {
		return nil, bypassUncacheable, fmt.Errorf("unusable key %q/%q", k.Region, k.Image)
	}
	charge, newDir := entryCharge(exp.Size), !b.dirs[k.Region]
	need := charge
	if newDir {
		need += diskBlock
	}
	if !b.reserveLocked(need) {
		return nil, bypassFull, nil
	}
	dir := filepath.Join(b.cfg.Dir, k.Region)
	if err := os.MkdirAll(dir, 0o750); err != nil {
		b.used -= need
		return nil, bypassDisk, err
	}
	if newDir {
		b.dirs[k.Region] = true // it stays, and stays counted
	}
	e := newEntry(b, k, exp, filepath.Join(dir, k.Image))
	f, err := os.OpenFile(e.dataPath(), os.O_RDWR|os.O_CREATE|os.O_TRUNC, 0o640)
	if err != nil {
		b.used -= charge
		return nil, bypassDisk, err
	}
	e.f = f
	if err := e.writeFirstRecordLocked(); err != nil {
		f.Close()
		e.removeFiles()
		b.used -= charge
		return nil, bypassDisk, err
	}
	e.charge = charge
	b.entries[k] = e
	return e, cached, nil
}

// bypass streams an image the cache does not take: from the origin, or on
// a site from the instance filling it (Site.Pass).
func (b *Cache) bypass(k Key, exp Expect, o Origin) backends.Data {
	if b.cfg.Site != nil {
		o = b.cfg.Site.Pass(k, exp, o)
	}
	return &bypassData{b: b, exp: exp, origin: o}
}

// validName keeps keys inside the cache directory.
func validName(s string) bool {
	return s != "" && s != "." && s != ".." && !strings.ContainsAny(s, "/\\\x00")
}

// startFillLocked starts the entry's fill unless one runs or it is done.
// The fill's log lines carry the request id ctx has, and its span is the
// child of ctx's (tracing.Detach), however many others wait on it.
func (b *Cache) startFillLocked(ctx context.Context, e *entry, o Origin) (started bool) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.filling || e.state != stateFilling {
		return false
	}
	e.filling = true
	var site SiteFill
	if b.cfg.Site != nil {
		site = b.cfg.Site.Fill(e.key, e.exp, o)
		o = site
	}
	e.source = o
	e.fillID = logctx.RequestID(ctx)
	trace := logctx.WithRequestID(tracing.Detach(ctx), e.fillID)
	b.stats.fills.Add(1)
	b.wg.Add(1)
	go func() {
		defer b.wg.Done()
		e.fill(trace, o, site)
	}()
	return true
}

// finished is called when a fill ends: failed entries leave the index.
func (b *Cache) finished(e *entry, ok bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if !ok {
		b.stats.fillsFailed.Add(1)
		b.unindexLocked(e)
	}
	b.closeIfIdleLocked(e)
}
