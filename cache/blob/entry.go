package blob

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"go.opentelemetry.io/otel/attribute"

	"github.com/spyglass-gateway/spyglass/cache/blob/extent"
	"github.com/spyglass-gateway/spyglass/logctx"
	"github.com/spyglass-gateway/spyglass/tracing"
)

type entryState uint8

const (
	stateFilling entryState = iota
	stateComplete
	stateFailed
)

// aheadThreshold is how far beyond a stream's position a reader's offset
// must be for the reader to fetch ahead rather than wait for the stream.
const aheadThreshold = 4 << 20

// chunk is what one read from an origin fills at most, and the unit in which
// readers are woken. 256 KiB: 1 MiB made the fill slower with 1 reader and
// with 100 (BenchmarkFillWithReaders: the fill waits on a larger read while
// its socket could be drained), 128 KiB too (twice the wake-ups).
const chunk = 256 << 10

// entry is one image's blob. Lock order: Cache.mu, then entry.mu.
type entry struct {
	b    *Cache
	key  Key
	exp  Expect
	base string // path without extension

	// Guarded by Cache.mu.
	refs       int   // open Datas that read through f
	charge     int64 // what it counts in Cache.used; 0 once released
	hits       int64
	lastAccess time.Time
	lru        time.Time
	modified   time.Time

	mu      sync.Mutex
	state   entryState
	err     error
	diskErr bool // failed because of the disk: readers fall back to the origin
	f       *os.File
	ext     extent.Set // bytes written
	durable extent.Set // bytes the record says are synced
	streams []*stream  // fetches in progress (the fill, and fetches ahead)
	filling bool
	// answered: an origin (the region, or the peer filling it) has
	// answered a fetch of this entry with its headers. Sections wait for
	// it (fillData.Section): the gateway's status goes out then, not at
	// the first byte, and a failure before it is still answered as such.
	answered bool
	source   Origin // the running fill's (the site's when instances coordinate)
	badData  bool   // the fill's bytes failed verification
	// verified: the fill's bytes are the image's; readers get their last
	// bytes (which they are held back from until then) while the file
	// may still be syncing, before the entry is complete.
	verified bool
	// failure is why the running fill failed, published as err by end.
	failure     error
	failureDisk bool
	fillID      string // request id of the request that started the fill, for its log lines
	stopped     bool
	cancel      context.CancelFunc
	changed     chan struct{} // closed and replaced on every change

	// What broadcastLocked publishes for readers that do not take mu (a
	// section's WriteTo, the gateway's path): the end of the bytes written
	// from byte 0 on, whether the entry is no longer filling (verified,
	// complete, failed or stopped: such readers then take mu), and changed.
	front atomic.Int64
	ended atomic.Bool
	wake  atomic.Pointer[chan struct{}]

	checkpointMu   sync.Mutex
	lastCheckpoint time.Time // guarded by checkpointMu

	// fileMu orders record writes with the removal of the files: a
	// checkpoint late after a drop must not bring a record back.
	fileMu  sync.Mutex
	removed bool // guarded by fileMu
}

// stream is one fetch from the origin writing into the entry: [pos, end)
// is what it still means to write.
type stream struct{ pos, end int64 }

func newEntry(b *Cache, k Key, exp Expect, base string) *entry {
	e := &entry{b: b, key: k, exp: exp, base: base, changed: make(chan struct{})}
	ch := e.changed
	e.wake.Store(&ch)
	return e
}

func (e *entry) dataPath() string   { return e.base + ".data" }
func (e *entry) recordPath() string { return e.base + ".json" }

// broadcastLocked wakes everyone waiting for a change, having published
// the change for lock-free readers first (front, ended, then the new
// channel: a reader that loaded the old one is woken by its close, one
// that loads the new one sees the new front).
func (e *entry) broadcastLocked() {
	e.publishLocked()
	old := e.changed
	ch := make(chan struct{})
	e.changed = ch
	e.wake.Store(&ch)
	close(old)
}

// publishLocked sets front and ended from the entry's state.
func (e *entry) publishLocked() {
	if end, ok := e.ext.At(0); ok {
		e.front.Store(end)
	}
	e.ended.Store(e.state != stateFilling || e.stopped || e.verified)
}

// isCached: listed as cached — complete, or verified while its file syncs
// (every byte is on disk and the image's).
func (e *entry) isCached() bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	return (e.state == stateComplete || e.state == stateFilling && e.verified) && !e.stopped
}

func (e *entry) isComplete() bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.state == stateComplete && !e.stopped
}

// evictable: nobody reads through the entry's own file, and it is complete
// (its readers have files of their own, which survive the unlink) or
// partial with no fill working on it (left by a restart or a Close, its
// reservation is worth more to a fill that runs).
func (e *entry) evictable() bool {
	if e.refs > 0 {
		return false
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	return !e.stopped && (e.state == stateComplete || e.state == stateFilling && !e.filling)
}

// dormant: partial, with no fill working on it.
func (e *entry) dormant() bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.state == stateFilling && !e.filling && e.refs == 0
}

// stop makes the fill and fetches ahead end at their next read, and wakes
// readers (who then see the entry failed, unless it was complete).
func (e *entry) stop() {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.stopped {
		return
	}
	e.stopped = true
	if e.cancel != nil {
		e.cancel()
	}
	if e.state == stateFilling {
		e.state, e.err = stateFailed, errors.New("cache entry removed")
		e.diskErr = true // readers can still get the bytes from the origin
	}
	e.broadcastLocked()
}

// stoppedOnPurpose: the entry was stopped on purpose (evicted, deleted, the cache
// closed), not failed.
func (e *entry) stoppedOnPurpose() bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.stopped
}

// removeFiles unlinks the entry's files. An incomplete entry's data is
// truncated first: its blocks leave the disk at once, however many
// descriptors of it are still open (its fill's, its readers', which go to
// the origin now); a complete one's stay for the readers that hold it.
func (e *entry) removeFiles() {
	e.mu.Lock()
	complete := e.state == stateComplete
	e.mu.Unlock()
	e.fileMu.Lock()
	defer e.fileMu.Unlock()
	e.removed = true
	if !complete {
		os.Truncate(e.dataPath(), 0)
	}
	os.Remove(e.dataPath())
	os.Remove(e.recordPath())
	os.Remove(e.recordPath() + ".tmp")
}

var errRemoved = errors.New("cache entry removed")

// truncateIfRemoved truncates f if the entry's files were removed (a
// write that raced with removeFiles must not leave blocks the cache no
// longer counts) and says whether they were. A cache that closes keeps
// its files: their bytes are resumed after a restart.
func (e *entry) truncateIfRemoved(f *os.File) bool {
	e.fileMu.Lock()
	defer e.fileMu.Unlock()
	if e.removed {
		f.Truncate(0)
	}
	return e.removed
}

// writeRecord stores the entry's durable state (tmp + fsync + rename). It
// takes Cache.mu for the counters: callers must not hold it (see
// writeFirstRecordLocked).
func (e *entry) writeRecord() error {
	e.b.mu.Lock()
	hits, last, mod := e.hits, e.lastAccess, e.modified
	e.b.mu.Unlock()
	return e.storeRecord(hits, last, mod, true)
}

// writeFirstRecordLocked is a new entry's first record, written by a
// caller holding Cache.mu, without an fsync: it holds no durable byte, so
// a crash that loses it loses nothing (scan removes a data file without
// a record), while an fsync here would hold every other open of the cache
// behind the journal's commit of whatever else the host is writing.
func (e *entry) writeFirstRecordLocked() error {
	return e.storeRecord(e.hits, e.lastAccess, e.modified, false)
}

func (e *entry) storeRecord(hits int64, last, mod time.Time, sync bool) error {
	e.mu.Lock()
	r := blobRecord{Region: e.key.Region, Image: e.key.Image, Expect: e.exp, Complete: e.state == stateComplete,
		Extents: e.durable.Pairs(), Hits: hits, LastAccess: last, Modified: mod}
	e.mu.Unlock()
	raw, _ := json.Marshal(r)
	e.fileMu.Lock()
	defer e.fileMu.Unlock()
	if e.removed {
		return errRemoved
	}
	tmp := e.recordPath() + ".tmp"
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o640)
	if err != nil {
		return err
	}
	if _, err := f.Write(raw); err != nil {
		f.Close()
		return err
	}
	if sync {
		if err := f.Sync(); err != nil {
			f.Close()
			return err
		}
	}
	if err := f.Close(); err != nil {
		return err
	}
	return os.Rename(tmp, e.recordPath())
}

// fill runs the entry's fill to completion or failure; site, when
// instances coordinate, learns the outcome. trace carries the span of the
// request that started it, if any: the fill is one span, its child, with
// the origin fetches (and their resumptions) as its children; it also
// carries that request's id for the fill's log lines.
func (e *entry) fill(trace context.Context, o Origin, site SiteFill) {
	trace, span := tracing.Start(trace, "cache.blobs.fill")
	if span.IsRecording() {
		span.SetAttributes(attribute.String("spyglass.region", e.key.Region),
			attribute.String("spyglass.image_id", e.key.Image), attribute.Int64("spyglass.image_size", e.exp.Size))
	}
	ok := e.run(trace, o)
	e.mu.Lock()
	bad := e.badData
	e.mu.Unlock()
	if site != nil {
		site.Done(ok, bad)
	}
	err := e.end(ok)
	if span.IsRecording() {
		span.SetAttributes(attribute.Bool("spyglass.fill.complete", ok))
		tracing.Fail(span, err)
	}
	span.End()
	e.b.finished(e, ok)
}

func (e *entry) run(trace context.Context, o Origin) bool {
	ctx, cancel := context.WithCancel(trace)
	defer cancel()
	e.mu.Lock()
	if e.stopped {
		e.mu.Unlock()
		return false
	}
	e.cancel = cancel
	e.mu.Unlock()

	v := e.startVerifiers(ctx)
	buf := make([]byte, chunk)
	failures := 0
	for {
		e.mu.Lock()
		if e.stopped {
			e.mu.Unlock()
			return false
		}
		off, end, ok := e.nextGapLocked()
		if !ok {
			if e.ext.Covers(0, e.exp.Size) {
				e.mu.Unlock()
				break
			}
			// What is missing is being fetched ahead: wait for it.
			ch := e.changed
			e.mu.Unlock()
			select {
			case <-ch:
			case <-ctx.Done():
				return false
			}
			continue
		}
		s := &stream{pos: off, end: end}
		e.streams = append(e.streams, s)
		e.mu.Unlock()

		progressed, err := e.copyStream(ctx, o, s, buf, v)
		if err == nil {
			failures = 0
			continue
		}
		if errors.Is(err, errDisk) {
			e.fail(ctx, err, true)
			return false
		}
		if ctx.Err() != nil {
			return false
		}
		if progressed {
			failures = 0
		}
		failures++
		if failures > e.b.cfg.Retries {
			e.fail(ctx, fmt.Errorf("origin: %w", err), false)
			return false
		}
		e.b.log.WarnContext(ctx, "blob fill interrupted; resuming with a range", "region", e.key.Region, "image", e.key.Image,
			"from", s.pos, "attempt", failures, "err", err)
		backoff := time.Duration(50<<min(failures, 6)) * time.Millisecond
		select {
		case <-time.After(backoff):
		case <-ctx.Done():
			return false
		}
	}

	// Every byte is written. The verifiers decide while the file syncs, and
	// a good verdict gives the readers their last bytes at once, and lists
	// the image as cached (as Glance's cache does once its file is
	// committed, which it never syncs): what readers wait for is bytes known
	// to be the image's, not bytes on the platter (the fsync of a fill's last
	// dirty pages took 64 ms at N=20, issue 18). The entry is complete, and
	// recorded so, once the file is synced: a crash before then loses the
	// entry, not a byte anyone was served.
	v.finish()
	f := e.f
	synced := make(chan error, 1)
	go func() { synced <- syncData(f) }()
	verdict := v.verdict()
	if verdict == nil {
		e.b.mu.Lock()
		e.modified = time.Now()
		e.mu.Lock()
		e.verified = true
		e.broadcastLocked()
		e.mu.Unlock()
		e.b.mu.Unlock()
	}
	if err := <-synced; err != nil {
		e.fail(ctx, fmt.Errorf("%w: %v", errDisk, err), true)
		return false
	}
	if err := verdict; err != nil {
		if errors.Is(err, errDisk) {
			e.fail(ctx, err, true)
			return false
		}
		e.b.log.ErrorContext(ctx, "blob fill discarded: the bytes are not the image's", "region", e.key.Region, "image", e.key.Image, "err", err)
		e.mu.Lock()
		e.badData = true
		e.mu.Unlock()
		e.fail(ctx, fmt.Errorf("image data from the origin failed verification: %v", err), false)
		return false
	}
	e.mu.Lock()
	if e.stopped {
		e.mu.Unlock()
		return false
	}
	e.state = stateComplete
	e.durable = e.ext.Clone()
	e.mu.Unlock()
	e.b.mu.Lock()
	// Complete now, no longer queued: Glance drops the queue file when it
	// commits the cached one.
	e.b.removeQueuedLocked(e.key)
	e.b.mu.Unlock()
	if err := e.writeRecord(); err != nil {
		// Complete in memory; after a restart it will be filled again.
		e.b.log.WarnContext(ctx, "blob cache: recording a complete entry failed", "image", e.key.Image, "err", err)
	}
	e.mu.Lock()
	e.broadcastLocked()
	e.mu.Unlock()
	e.b.closeIfIdle(e)
	return true
}

var errDisk = errors.New("blob cache disk")

// syncData is the fill's last fsync of its data (a test makes it slow, or
// fail).
var syncData = (*os.File).Sync

// fail records why the fill failed; end, once the fill is over, makes the
// failure what readers see (err, or for a disk failure a fall back to the
// origin) and removes the entry.
func (e *entry) fail(ctx context.Context, err error, disk bool) {
	e.mu.Lock()
	if e.failure == nil {
		e.failure, e.failureDisk = err, disk
	}
	e.mu.Unlock()
	if disk {
		e.b.log.ErrorContext(ctx, "blob cache disk failure; serving from the origin", "image", e.key.Image, "err", err)
	}
}

// end closes the fill: a failed entry leaves the index and loses its files
// BEFORE its readers hear of the failure (and, with a site, after the site
// learned of it: site.Done), all under Cache.mu. A reader that gets the
// failure and asks again then starts a fresh fill, which trusts no peer
// that sent wrong bytes; told first, it could attach to the failed entry
// still in the index and get its error again, or have a new entry's files
// removed under it. It returns the entry's error, if any.
func (e *entry) end(ok bool) error {
	e.b.mu.Lock()
	defer e.b.mu.Unlock()
	e.mu.Lock()
	failed := e.failure != nil && e.state == stateFilling // not already dropped
	e.mu.Unlock()
	if !ok {
		e.b.unindexLocked(e)
	}
	if failed {
		e.removeFiles()
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	if failed && e.state == stateFilling {
		e.state, e.err, e.diskErr = stateFailed, e.failure, e.failureDisk
	}
	e.filling = false
	e.broadcastLocked()
	return e.err
}

// nextGapLocked finds the first bytes neither written nor being fetched:
// [off, end) up to the next written or fetched byte.
func (e *entry) nextGapLocked() (off, end int64, ok bool) {
	x := int64(0)
	for x < e.exp.Size {
		if y, in := e.ext.At(x); in {
			x = y
			continue
		}
		moved := false
		for _, s := range e.streams {
			if s.pos <= x && x < s.end {
				x, moved = s.end, true
			}
		}
		if moved {
			continue
		}
		end := e.exp.Size
		if y, ok := e.ext.NextStart(x); ok && y < end {
			end = y
		}
		for _, s := range e.streams {
			if s.pos > x && s.pos < end {
				end = s.pos
			}
		}
		return x, end, true
	}
	return 0, 0, false
}

// copyStream fetches s from the origin into the file, chunk by chunk,
// waking readers after each; it stops early (without error) when the bytes
// ahead are already written or claimed by another stream. The fill's own
// stream (v non-nil) reads into the verifiers' buffers, waiting for one to
// be free (verification.wait), and hands each chunk to them once written:
// they hash it from memory.
func (e *entry) copyStream(ctx context.Context, o Origin, s *stream, buf []byte, v *verification) (progressed bool, err error) {
	defer func() {
		e.mu.Lock()
		for i, x := range e.streams {
			if x == s {
				e.streams = append(e.streams[:i], e.streams[i+1:]...)
				break
			}
		}
		e.broadcastLocked()
		e.mu.Unlock()
	}()
	e.mu.Lock()
	start, end := s.pos, s.end
	e.mu.Unlock()
	rc, err := o.Fetch(ctx, start, end-start)
	if err != nil {
		return false, err
	}
	defer rc.Close()
	e.mu.Lock()
	if !e.answered {
		e.answered = true
		e.broadcastLocked()
	}
	e.mu.Unlock()
	counter := &e.b.stats.originBytes
	if _, ok := rc.(PeerStream); ok {
		counter = &e.b.stats.peerBytes
	}
	// One lock per chunk: it publishes the chunk and reads what may have
	// changed meanwhile (a fetch ahead shortening this stream, a stop).
	// The file stays open while a fill or fetch runs (closeIfIdle).
	e.mu.Lock()
	pos, end, stopped, f := s.pos, s.end, e.stopped, e.f
	e.mu.Unlock()
	for {
		if stopped || f == nil {
			return progressed, context.Canceled // dropped meanwhile
		}
		if pos >= end {
			return progressed, nil
		}
		b, p := buf, v.wait(ctx)
		if p != nil {
			b = p.b
		}
		n, rerr := io.ReadFull(rc, b[:min(int64(len(b)), end-pos)])
		if n > 0 {
			counter.Add(int64(n))
			if _, werr := f.WriteAt(b[:n], pos); werr != nil {
				v.unused(p)
				return progressed, fmt.Errorf("%w: %v", errDisk, werr)
			}
			if p != nil {
				v.written(p, pos, n)
				p = nil
			}
			progressed = true
			e.mu.Lock()
			e.ext.Add(pos, pos+int64(n))
			s.pos = pos + int64(n)
			e.broadcastLocked()
			pos, end, stopped, f = s.pos, s.end, e.stopped, e.f
			e.mu.Unlock()
			if e.truncateIfRemoved(f) {
				return progressed, context.Canceled
			}
			e.maybeCheckpoint()
		}
		v.unused(p)
		if rerr != nil {
			if pos >= end {
				return progressed, nil
			}
			if rerr == io.EOF || rerr == io.ErrUnexpectedEOF {
				rerr = fmt.Errorf("stream ended at byte %d of [%d, %d): %w", pos, start, end, io.ErrUnexpectedEOF)
			}
			return progressed, rerr
		}
	}
}

// maybeCheckpoint makes the written extents durable every Checkpoint bytes,
// so that a restart resumes from there.
func (e *entry) maybeCheckpoint() {
	if !e.checkpointMu.TryLock() {
		return
	}
	defer e.checkpointMu.Unlock()
	if time.Since(e.lastCheckpoint) < e.b.cfg.CheckpointInterval {
		return // without taking mu, which readers want
	}
	e.mu.Lock()
	written, durable := e.ext.Total(), e.durable.Total()
	snap := e.ext.Clone()
	e.mu.Unlock()
	// A checkpoint costs an fsync: take one every Checkpoint bytes, but not
	// more often than CheckpointInterval.
	if written-durable < e.b.cfg.Checkpoint || time.Since(e.lastCheckpoint) < e.b.cfg.CheckpointInterval {
		return
	}
	e.lastCheckpoint = time.Now()
	if e.f.Sync() != nil {
		return
	}
	e.mu.Lock()
	e.durable = snap
	e.mu.Unlock()
	e.writeRecord()
}

// startAheadLocked fetches [off, ...) for a reader far beyond every stream:
// up to the next written or fetched byte, at most want bytes. The stream
// already heading there stops where this one starts.
func (e *entry) startAheadLocked(o Origin, off, want int64) {
	end := min(off+want, e.exp.Size)
	if y, ok := e.ext.NextStart(off); ok && y < end {
		end = y
	}
	for _, s := range e.streams {
		if s.pos > off && s.pos < end {
			end = s.pos
		}
	}
	for _, s := range e.streams {
		if s.pos <= off && off < s.end {
			s.end = off // it stops here; the gap after this fetch is refilled
		}
	}
	s := &stream{pos: off, end: end}
	e.streams = append(e.streams, s)
	e.b.wg.Add(1)
	fillID := e.fillID
	go func() {
		defer e.b.wg.Done()
		ctx, cancel := context.WithCancel(logctx.WithRequestID(context.Background(), fillID))
		defer cancel()
		e.mu.Lock()
		stopped := e.stopped
		e.mu.Unlock()
		if stopped {
			return
		}
		if _, err := e.copyStream(ctx, o, s, make([]byte, chunk), nil); err != nil {
			// The fill covers what a failed fetch ahead left.
			e.b.log.DebugContext(ctx, "blob fetch ahead failed", "image", e.key.Image, "from", off, "err", err)
		}
	}()
}

// wait blocks until the entry is complete or failed.
func (e *entry) wait(ctx context.Context) error {
	for {
		e.mu.Lock()
		st, err, ch := e.state, e.err, e.changed
		e.mu.Unlock()
		switch st {
		case stateComplete:
			return nil
		case stateFailed:
			return err
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// completeData opens a complete entry for reading, with a file of its own.
func (e *entry) completeData() (*fileBlob, error) {
	f, err := os.Open(e.dataPath())
	if err != nil {
		return nil, err
	}
	return &fileBlob{f: f, size: e.exp.Size}, nil
}
