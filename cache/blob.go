package cache

import (
	"context"
	"crypto/md5"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/json"
	"errors"
	"fmt"
	"hash"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"sort"
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
// match all of them.
type Expect struct {
	Size      int64
	Checksum  string // MD5, hex ("checksum")
	HashAlgo  string // os_hash_algo: sha512, sha256, ...
	HashValue string // os_hash_value, hex
}

// BlobsConfig sizes the blob cache.
type BlobsConfig struct {
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
	// Logger; nil: slog.Default().
	Logger *slog.Logger

	// Leases, when set, makes the gateway instances that share it fill
	// each image once between them: the instance holding an image's lease
	// reads the region, the others stream from it (see PeerRoute and
	// Advertise). nil: each instance fills from the region.
	Leases Leases
	// LeaseTTL is how long a fill lease outlives its last refresh (default
	// 5s): how long the site may wait on a filler that died.
	LeaseTTL time.Duration
	// PeerToken is sent as "Authorization: Bearer <PeerToken>" when
	// streaming from the site's other instances, whose admin listeners
	// require it (the site's admin token: every instance has the same).
	// Empty: none sent.
	PeerToken string
}

// BlobStats counts what the cache did, for metrics and tests.
type BlobStats struct {
	Hits, Misses, Fills, FillsFailed, Evictions int64
	// Bypasses counts the reads streamed straight from their origins, by
	// why the cache did not take the image.
	Bypasses BlobBypasses
	// OriginBytes is every byte read from origins by fills and fetches
	// ahead; BypassBytes those streamed straight through (not cached).
	OriginBytes, BypassBytes int64
	// PeerBytes is what fills (and reads the cache did not take) streamed
	// from the site's other instances; PeerServedBytes what this instance
	// streamed to them.
	PeerBytes, PeerServedBytes int64
	// UsedBytes is what the cache counts against MaxBytes: each entry's
	// size in whole disk blocks with its record (a fill counts its whole
	// expected size from its start; a complete entry dropped while a fill
	// reader still reads it counts until that reader is done), and the
	// directories. MaxBytes, HighBytes and LowBytes are
	// the bound and the watermarks it is evicted between.
	UsedBytes, MaxBytes, HighBytes, LowBytes int64
	// FillsInFlight is the fills running now; FillWaiters the readers
	// attached to them (waiters per fill = FillWaiters / FillsInFlight).
	FillsInFlight, FillWaiters int64
	// PrefetchesFailed counts queued prefetches that left nothing cached:
	// their fill failed, or the cache could not hold the image when its
	// turn came (each is also logged).
	PrefetchesFailed int64
}

// BlobBypasses counts reads streamed from their origins, uncached, by
// reason.
type BlobBypasses struct {
	// Uncacheable: nothing to verify the bytes against (no size, no
	// checksum, an unknown hash algorithm), larger than the low watermark,
	// or an image id that cannot name a file.
	Uncacheable int64
	// Full: the entries being read and the fills in progress left no room
	// for the image's size under MaxSize.
	Full int64
	// Disk: the cache's directory or the entry's files could not be
	// written (or the cache was closing).
	Disk int64
}

// Total is every bypass, whatever the reason.
func (n BlobBypasses) Total() int64 { return n.Uncacheable + n.Full + n.Disk }

// bypassReason says why the cache did not take an image (0: it did).
type bypassReason uint8

const (
	cached bypassReason = iota
	bypassUncacheable
	bypassFull
	bypassDisk
)

// diskBlock is the unit the bound counts in: the block size of ext4 and
// XFS. On a filesystem with larger blocks, an entry takes a little more
// than it is counted for.
const diskBlock = 4 << 10

// entryOverhead is what an entry takes besides its data: its record, the
// record's replacement while it is written, its names in the directory,
// and the data file's extent blocks.
const entryOverhead = 4 * diskBlock

// entryCharge is what an entry of an image of size bytes counts against
// MaxSize.
func entryCharge(size int64) int64 {
	return (size+diskBlock-1)/diskBlock*diskBlock + entryOverhead
}

// Blobs is the image data cache on local disk. One fill per entry however
// many readers; readers stream the bytes as they land; an entry is served
// as complete only once its bytes match the image's size and checksums.
//
// On disk, an entry is dir/<region>/<image>.data with its record in
// <image>.json. The record says "complete" only after the data was verified
// and synced; a record without it lists the extents a fill had durably
// written, from which a fill resumes after a restart.
type Blobs struct {
	cfg BlobsConfig
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

	// Site fills: instance is this process's id in leases; self is set by
	// Advertise; badPeers are lease values whose bytes failed verification
	// here (guarded by mu).
	instance string
	self     atomic.Pointer[self]
	badPeers map[string]time.Time

	stats struct {
		hits, misses, fills, fillsFailed, evictions          atomic.Int64
		bypassUncacheable, bypassFull, bypassDisk            atomic.Int64
		originBytes, bypassBytes, peerBytes, peerServedBytes atomic.Int64
		prefetchesFailed                                     atomic.Int64
	}
}

type queued struct {
	reqID  string // of the request that queued it, for the fill's log lines
	key    Key
	exp    Expect
	origin Origin
	at     time.Time
}

// OpenBlobs opens (or creates) the cache in cfg.Dir and indexes what a
// previous run left: complete entries are kept; partial ones are kept to be
// resumed by the next fill of the same image; anything else is removed.
func OpenBlobs(cfg BlobsConfig) (*Blobs, error) {
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
	if cfg.LeaseTTL <= 0 {
		cfg.LeaseTTL = defaultLeaseTTL
	}
	b := &Blobs{cfg: cfg, log: cfg.Logger, entries: map[Key]*entry{}, dirs: map[string]bool{}, kick: make(chan struct{}, 1),
		instance: newInstanceID(), badPeers: map[string]time.Time{}}
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

// blobBounds are the size bound and watermarks, replaced whole by
// SetBounds.
type blobBounds struct {
	max       int64
	high, low float64
}

func newBounds(max int64, high, low float64) (*blobBounds, error) {
	if max <= 0 {
		return nil, errors.New("cache: blob cache size must be positive")
	}
	if high == 0 {
		high = 0.9
	}
	if low == 0 {
		low = 0.8
	}
	if !(low > 0 && low < high && high <= 1) {
		return nil, fmt.Errorf("cache: need 0 < low (%v) < high (%v) <= 1", low, high)
	}
	return &blobBounds{max: max, high: high, low: low}, nil
}

// SetBounds changes the size bound and the watermarks (0: the defaults) of
// a running cache, e.g. on a configuration reload. A smaller bound evicts
// least recently used entries nobody reads at once, down to the new low
// watermark; if the fills in progress still do not fit under the new
// bound, those with the fewest bytes written stop and leave the cache
// (their readers go on from the origin without noticing), so that the
// bound holds when SetBounds returns.
func (b *Blobs) SetBounds(maxSize int64, high, low float64) error {
	nb, err := newBounds(maxSize, high, low)
	if err != nil {
		return err
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	b.bounds.Store(nb)
	b.makeRoomLocked(0)
	b.shedFillsLocked(nb.max)
	return nil
}

// shedFillsLocked drops entries being filled, fewest bytes written first,
// until what stays counts at most max. A dropped fill's blocks and charge
// go at once (removeFiles truncates it); its readers go on from the origin.
func (b *Blobs) shedFillsLocked(max int64) {
	kept := b.used - b.leaving
	if kept <= max {
		return
	}
	var fills []*entry
	for _, e := range b.entries {
		e.mu.Lock()
		if e.state == stateFilling {
			fills = append(fills, e)
		}
		e.mu.Unlock()
	}
	written := func(e *entry) int64 {
		e.mu.Lock()
		defer e.mu.Unlock()
		return e.ext.total()
	}
	sort.Slice(fills, func(i, j int) bool { return written(fills[i]) < written(fills[j]) })
	for _, e := range fills {
		if kept <= max {
			return
		}
		b.log.Warn("blob cache bound lowered under its fills; this one goes on from the origin, uncached",
			"region", e.key.Region, "image", e.key.Image, "size", e.exp.Size)
		kept -= e.charge
		b.dropLocked(e)
	}
}

// Close stops the prefetcher. Fills in progress stop at their next read.
func (b *Blobs) Close() error {
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

// Stats reports the counters.
func (b *Blobs) Stats() BlobStats {
	var fills, waiters int64
	b.mu.Lock()
	used := b.used
	for _, e := range b.entries {
		e.mu.Lock()
		if e.filling {
			fills++
			waiters += int64(e.refs)
		}
		e.mu.Unlock()
	}
	b.mu.Unlock()
	bd := b.bounds.Load() // the bounds in force: a reload may have changed them
	return BlobStats{
		MaxBytes: bd.max, HighBytes: int64(float64(bd.max) * bd.high), LowBytes: int64(float64(bd.max) * bd.low),
		FillsInFlight: fills, FillWaiters: waiters,
		Hits: b.stats.hits.Load(), Misses: b.stats.misses.Load(), Fills: b.stats.fills.Load(),
		FillsFailed: b.stats.fillsFailed.Load(),
		Bypasses: BlobBypasses{Uncacheable: b.stats.bypassUncacheable.Load(), Full: b.stats.bypassFull.Load(),
			Disk: b.stats.bypassDisk.Load()},
		Evictions: b.stats.evictions.Load(), OriginBytes: b.stats.originBytes.Load(),
		BypassBytes: b.stats.bypassBytes.Load(), UsedBytes: used,
		PeerBytes: b.stats.peerBytes.Load(), PeerServedBytes: b.stats.peerServedBytes.Load(),
		PrefetchesFailed: b.stats.prefetchesFailed.Load(),
	}
}

// Open returns the image's data: from disk when the entry is complete;
// attached to the entry's fill (started now if none runs) otherwise; or,
// when the cache cannot hold it (no checksum to verify against, larger than
// the cache, no room under MaxSize for its size, an unusable disk),
// straight from the origin (or, on a site, from the instance filling it).
func (b *Blobs) Open(ctx context.Context, k Key, exp Expect, o Origin) (_ backends.Data, err error) {
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
func (b *Blobs) openEntry(ctx context.Context, k Key, exp Expect, o Origin) (_ backends.Data, result string, why bypassReason, err error) {
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
	b.removeQueuedLocked(k)
	result = "fill"
	if !b.startFillLocked(ctx, e, o) {
		result = "attach"
	}
	b.mu.Unlock()
	return &fillData{e: e, origin: o}, result, cached, nil
}

// cacheable: the cache can verify and hold it.
func (b *Blobs) cacheable(exp Expect) bool {
	if exp.Size < 0 || (exp.Checksum == "" && exp.HashValue == "") {
		return false
	}
	if exp.HashValue != "" && newHash(exp.HashAlgo) == nil {
		return false
	}
	bd := b.bounds.Load()
	return float64(exp.Size) <= float64(bd.max)*bd.low
}

// newEntryLocked reserves the entry's charge (evicting what it must) and
// then creates its files: what is on disk never exceeds what is counted.
func (b *Blobs) newEntryLocked(k Key, exp Expect) (*entry, bypassReason, error) {
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
	if err := e.writeRecordLocked(); err != nil {
		f.Close()
		e.removeFiles()
		b.used -= charge
		return nil, bypassDisk, err
	}
	e.charge = charge
	b.entries[k] = e
	return e, cached, nil
}

// reserveLocked counts need more bytes in used, first evicting least
// recently used entries nobody reads if they must go for need to fit
// under the bound. When even evicting all of them would not make room, it
// evicts nothing and returns false.
func (b *Blobs) reserveLocked(need int64) bool {
	max := b.bounds.Load().max
	if b.used+need > max {
		var evictable int64
		for _, e := range b.entries {
			if e.evictable() {
				evictable += e.charge
			}
		}
		if b.used-evictable+need > max {
			return false
		}
	}
	b.makeRoomLocked(need)
	if b.used+need > max { // not expected: makeRoomLocked evicts down to low-need, or everything
		return false
	}
	b.used += need
	return true
}

// bypass streams an image the cache does not take: from the origin, or on
// a site from the instance filling it (sitePass).
func (b *Blobs) bypass(k Key, exp Expect, o Origin) backends.Data {
	if b.cfg.Leases != nil {
		o = newSitePass(b, k, exp, o)
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
func (b *Blobs) startFillLocked(ctx context.Context, e *entry, o Origin) (started bool) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.filling || e.state != stateFilling {
		return false
	}
	e.filling = true
	var site *siteFill
	if b.cfg.Leases != nil {
		site = newSiteFill(e, o)
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

// makeRoomLocked evicts least recently used entries nobody reads until
// need more bytes fit under the high watermark, down to the low one.
func (b *Blobs) makeRoomLocked(need int64) {
	bd := b.bounds.Load()
	high := int64(float64(bd.max) * bd.high)
	if b.used+need <= high {
		return
	}
	low := int64(float64(bd.max) * bd.low)
	b.evictLocked(low - need)
}

// evictLocked evicts least recently used entries nobody reads (complete
// ones, and partial ones no fill works on) until used <= target; it
// returns what it removed.
func (b *Blobs) evictLocked(target int64) (files int, bytes int64) {
	var victims []*entry
	for _, e := range b.entries {
		if e.evictable() {
			victims = append(victims, e)
		}
	}
	sort.Slice(victims, func(i, j int) bool { return victims[i].lru.Before(victims[j].lru) })
	for _, e := range victims {
		if b.used <= target {
			break
		}
		b.dropLocked(e)
		files++
		bytes += e.exp.Size
		b.stats.evictions.Add(1)
	}
	return files, bytes
}

// dropLocked forgets an entry and removes its files. A fill in progress
// stops and its readers go on from the origin; an incomplete entry's
// blocks and charge go at once. Readers of a complete entry keep reading
// it (the data stays until they close it, and counts until then).
func (b *Blobs) dropLocked(e *entry) {
	b.unindexLocked(e)
	e.stop()
	e.removeFiles()
	b.closeIfIdleLocked(e)
}

// unindexLocked takes e out of the index; its charge is leaving.
func (b *Blobs) unindexLocked(e *entry) {
	if b.entries[e.key] == e {
		delete(b.entries, e.key)
		b.leaving += e.charge
	}
}

// finished is called when a fill ends: failed entries leave the index.
func (b *Blobs) finished(e *entry, ok bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if !ok {
		b.stats.fillsFailed.Add(1)
		b.unindexLocked(e)
	}
	b.closeIfIdleLocked(e)
}

// CachedBlob is one complete entry, for Glance's cache-management API.
type CachedBlob struct {
	Key          Key
	Size         int64
	Hits         int64
	LastAccessed time.Time
	LastModified time.Time
}

// List returns the complete entries (by key) and the prefetches not yet
// started (in the order they were queued).
func (b *Blobs) List() (cached []CachedBlob, queued []Key) {
	b.mu.Lock()
	defer b.mu.Unlock()
	for _, e := range b.entries {
		if e.isComplete() {
			cached = append(cached, CachedBlob{Key: e.key, Size: e.exp.Size, Hits: e.hits, LastAccessed: e.lastAccess, LastModified: e.modified})
		}
	}
	sort.Slice(cached, func(i, j int) bool {
		if cached[i].Key.Image != cached[j].Key.Image {
			return cached[i].Key.Image < cached[j].Key.Image
		}
		return cached[i].Key.Region < cached[j].Key.Region
	})
	for _, q := range b.queue {
		queued = append(queued, q.key)
	}
	return cached, queued
}

// PartialBlob is an entry not complete yet: being filled (Filling), or left
// by a fill that stopped, to be resumed by the next read.
type PartialBlob struct {
	Key     Key
	Size    int64 // the image's
	Have    int64 // bytes written so far
	Filling bool
}

// Partial lists the entries that are not complete, by key.
func (b *Blobs) Partial() []PartialBlob {
	b.mu.Lock()
	defer b.mu.Unlock()
	var out []PartialBlob
	for _, e := range b.entries {
		e.mu.Lock()
		if e.state == stateFilling && !e.stopped {
			out = append(out, PartialBlob{Key: e.key, Size: e.exp.Size, Have: e.ext.total(), Filling: e.filling})
		}
		e.mu.Unlock()
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Key.Image != out[j].Key.Image {
			return out[i].Key.Image < out[j].Key.Image
		}
		return out[i].Key.Region < out[j].Key.Region
	})
	return out
}

// Prefetch queues a fill of the image if it is neither complete nor being
// filled; the prefetcher runs the queue one image at a time through the same
// fill path reads use. ctx is only for the request id of the fill's log
// lines: the fill outlives the request. A cache whose disk cannot take a
// new entry now (read-only, gone, failing) refuses the image with the
// disk's error rather than queue what the prefetcher could only drop.
func (b *Blobs) Prefetch(ctx context.Context, k Key, exp Expect, o Origin) error {
	if !b.cacheable(exp) {
		return fmt.Errorf("image %s cannot be cached: %w", k.Image, backends.ErrBadRequest)
	}
	b.mu.Lock()
	pending := b.pendingLocked(k, exp)
	b.mu.Unlock()
	if pending {
		return nil
	}
	// Glance creates the image's file in its queue directory here, and
	// answers 500 when it cannot; the probe is the same question asked of
	// this cache's directory.
	if err := b.CheckDisk(); err != nil {
		return fmt.Errorf("the image data cache cannot take image %s: %w", k.Image, err)
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.pendingLocked(k, exp) {
		return nil
	}
	b.queue = append(b.queue, queued{reqID: logctx.RequestID(ctx), key: k, exp: exp, origin: o, at: time.Now()})
	select {
	case b.kick <- struct{}{}:
	default:
	}
	return nil
}

// pendingLocked: the image is complete, being filled or queued already.
func (b *Blobs) pendingLocked(k Key, exp Expect) bool {
	if e := b.entries[k]; e != nil && e.exp == exp {
		return true
	}
	for _, q := range b.queue {
		if q.key == k {
			return true
		}
	}
	return false
}

func (b *Blobs) removeQueuedLocked(k Key) bool {
	for i, q := range b.queue {
		if q.key == k {
			b.queue = append(b.queue[:i], b.queue[i+1:]...)
			return true
		}
	}
	return false
}

// prefetcher runs queued prefetches one at a time.
func (b *Blobs) prefetcher() {
	defer b.wg.Done()
	for range b.kick {
		for {
			b.mu.Lock()
			if b.closed {
				b.mu.Unlock()
				return
			}
			if len(b.queue) == 0 {
				b.mu.Unlock()
				break
			}
			q := b.queue[0]
			b.mu.Unlock()
			ctx := logctx.WithRequestID(context.Background(), q.reqID)
			d, _, why, err := b.openEntry(ctx, q.key, q.exp, q.origin)
			b.mu.Lock()
			b.removeQueuedLocked(q.key)
			b.mu.Unlock()
			switch {
			case why == bypassDisk || err != nil:
				// The disk failed after the image was queued.
				if err == nil {
					err = errors.New("the cache cannot hold it now (its disk fails; see /ready)")
				}
				b.prefetchFailed(ctx, q, err)
				continue
			case why != cached:
				// A prefetch reads nothing through: with no room it is
				// only skipped.
				b.log.WarnContext(ctx, "prefetch skipped: the blob cache cannot take the image now", "region", q.key.Region,
					"image", q.key.Image, "size", q.exp.Size, "full", why == bypassFull)
				continue
			}
			if fd, ok := d.(*fillData); ok {
				if err := fd.e.wait(context.Background()); err != nil && !fd.e.stoppedOnPurpose() {
					b.prefetchFailed(ctx, q, err)
				}
			}
			d.Close()
		}
	}
}

// prefetchFailed says that a queued prefetch left nothing cached: nobody
// waits on it to hear so.
func (b *Blobs) prefetchFailed(ctx context.Context, q queued, err error) {
	b.stats.prefetchesFailed.Add(1)
	b.log.ErrorContext(ctx, "prefetch failed: the image is not cached", "region", q.key.Region, "image", q.key.Image, "err", err)
}

// Delete drops the image's entry and queue slot; found is false when there
// was neither.
func (b *Blobs) Delete(k Key) (found bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	found = b.removeQueuedLocked(k)
	if e := b.entries[k]; e != nil {
		b.dropLocked(e)
		found = true
	}
	return found
}

// Clear drops every complete entry (cached) and/or every queued prefetch
// (queue), and says how many of each.
func (b *Blobs) Clear(cached, queue bool) (cacheDeleted, queueDeleted int) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if queue {
		queueDeleted = len(b.queue)
		b.queue = nil
	}
	if cached {
		for _, e := range b.entries {
			if e.isComplete() {
				b.dropLocked(e)
				cacheDeleted++
			}
		}
	}
	return cacheDeleted, queueDeleted
}

// Clean removes partial entries no fill is working on (left by a crash, or
// by a fill that gave up), as Glance's cache cleaner removes invalid and
// stalled files; it returns how many it removed.
func (b *Blobs) Clean() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	n := 0
	for _, e := range b.entries {
		if e.dormant() {
			b.dropLocked(e)
			n++
		}
	}
	return n
}

// Prune evicts least recently used entries until the cache is within its
// size bound, as Glance's cache pruner; it returns what it removed.
func (b *Blobs) Prune() (files int, bytes int64) {
	b.mu.Lock()
	defer b.mu.Unlock()
	max := b.bounds.Load().max
	if b.used <= max {
		return 0, 0
	}
	return b.evictLocked(max)
}

// blobRecord is an entry's durable state, <image>.json.
type blobRecord struct {
	Region     string     `json:"region"`
	Image      string     `json:"image"`
	Expect     Expect     `json:"expect"`
	Complete   bool       `json:"complete"`
	Extents    [][2]int64 `json:"extents,omitempty"`
	Hits       int64      `json:"hits"`
	LastAccess time.Time  `json:"last_accessed"`
	Modified   time.Time  `json:"last_modified"`
}

// scan indexes the directory left by a previous run.
func (b *Blobs) scan() {
	regions, err := os.ReadDir(b.cfg.Dir)
	if err != nil {
		return
	}
	for _, rd := range regions {
		if !rd.IsDir() {
			continue
		}
		dir := filepath.Join(b.cfg.Dir, rd.Name())
		b.dirs[rd.Name()] = true
		b.used += diskBlock
		files, _ := os.ReadDir(dir)
		keep := map[string]bool{}
		for _, f := range files {
			name, ok := strings.CutSuffix(f.Name(), ".json")
			if !ok {
				continue
			}
			if e := b.load(dir, name); e != nil {
				keep[name+".json"], keep[name+".data"] = true, true
			}
		}
		for _, f := range files {
			if !keep[f.Name()] {
				os.Remove(filepath.Join(dir, f.Name()))
			}
		}
	}
}

// load indexes one entry from its record, or returns nil when the record
// and the data do not agree (the caller removes both).
func (b *Blobs) load(dir, name string) *entry {
	raw, err := os.ReadFile(filepath.Join(dir, name+".json"))
	if err != nil {
		return nil
	}
	var r blobRecord
	if json.Unmarshal(raw, &r) != nil || r.Image != name || filepath.Base(dir) != r.Region || !b.cacheable(r.Expect) {
		return nil
	}
	e := newEntry(b, Key{r.Region, r.Image}, r.Expect, filepath.Join(dir, name))
	st, err := os.Stat(e.dataPath())
	if err != nil {
		return nil
	}
	if r.Complete {
		if st.Size() != r.Expect.Size {
			return nil
		}
		e.state = stateComplete
	} else {
		f, err := os.OpenFile(e.dataPath(), os.O_RDWR, 0)
		if err != nil {
			return nil
		}
		e.f = f
		for _, x := range r.Extents {
			if x[0] < 0 || x[1] > r.Expect.Size || x[0] >= x[1] || x[1] > st.Size() {
				f.Close()
				return nil
			}
			e.ext.add(x[0], x[1])
		}
		e.durable = e.ext.clone()
	}
	e.hits, e.lastAccess, e.modified, e.lru = r.Hits, r.LastAccess, r.Modified, r.LastAccess
	e.charge = entryCharge(r.Expect.Size)
	b.entries[e.key] = e
	b.used += e.charge
	return e
}

// newHash returns the hash for a Glance os_hash_algo, or nil.
func newHash(algo string) hash.Hash {
	switch algo {
	case "sha512":
		return sha512.New()
	case "sha384":
		return sha512.New384()
	case "sha256":
		return sha256.New()
	case "sha224":
		return sha256.New224()
	case "sha1":
		return sha1.New()
	case "md5":
		return md5.New()
	}
	return nil
}
