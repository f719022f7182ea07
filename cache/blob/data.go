package blob

import (
	"context"
	"errors"
	"io"
	"os"
	"sync"

	"github.com/spyglass-gateway/spyglass/backends"
)

// fileBlob is a complete entry opened for reading: a file of its own, so
// the gateway can send it with sendfile; eviction meanwhile unlinks the
// name, not the bytes this file reads.
type fileBlob struct {
	f    *os.File
	size int64
	once sync.Once
}

func (d *fileBlob) Size() int64                             { return d.size }
func (d *fileBlob) ReadAt(p []byte, off int64) (int, error) { return d.f.ReadAt(p, off) }

// FromCache: the bytes come from the cache's disk (metrics tell them from
// bytes streamed from the origin).
func (d *fileBlob) FromCache() bool { return true }

// File hands the open file over: closing it is the caller's, and releases
// the Data.
func (d *fileBlob) File() *os.File { return d.f }

func (d *fileBlob) Close() error {
	var err error
	d.once.Do(func() { err = d.f.Close() })
	return err
}

// Section streams from the file (for callers that do not take File).
func (d *fileBlob) Section(_ context.Context, off, n int64) (io.ReadCloser, error) {
	return io.NopCloser(io.NewSectionReader(d.f, off, n)), nil
}

// fillData is an entry being filled, opened for reading: reads wait for
// the bytes they need and never wait for the whole fill.
type fillData struct {
	e      *entry
	origin Origin
	// atOnce: Section does not wait for the fill's origin to answer (a
	// peer's, see Attach).
	atOnce bool
	once   sync.Once
}

func (d *fillData) Size() int64 { return d.e.exp.Size }

// FromCache: the bytes are read from the entry on disk as the fill writes
// them (unless the disk fails mid-way and the rest comes from the origin).
func (d *fillData) FromCache() bool { return true }

func (d *fillData) Close() error {
	d.once.Do(func() {
		b := d.e.b
		b.mu.Lock()
		d.e.refs--
		b.mu.Unlock()
		b.closeIfIdle(d.e)
	})
	return nil
}

// ReadAt fills p as io.ReaderAt must: it waits until len(p) bytes (or the
// end of the image) are there.
func (d *fillData) ReadAt(p []byte, off int64) (int, error) {
	return backends.ReadAtSection(d, d.e.exp.Size, p, off)
}

// Section streams [off, off+n) as the bytes land. It returns once the
// fill's origin has answered with its headers (or the section's first
// bytes are on disk already), not at the first byte: a download's status
// goes out then, as a proxy's does; its error is the fill failing before
// any origin answered, which the caller can still answer with a status.
// Its last byte is held back until the whole entry is verified: a reader
// never gets a clean end of data that later turns out not to be the
// image's — it gets an error.
func (d *fillData) Section(ctx context.Context, off, n int64) (io.ReadCloser, error) {
	if off < 0 || n < 0 || off+n > d.e.exp.Size {
		return nil, errors.New("cache: section out of range")
	}
	r := &sectionReader{d: d, ctx: ctx, pos: off, end: off + n}
	if !d.atOnce {
		if err := r.answered(); err != nil {
			return nil, err
		}
	}
	return r, nil
}

type sectionReader struct {
	d        *fillData
	ctx      context.Context
	pos, end int64
	direct   io.ReadCloser // the origin, after a disk failure

	// For WriteTo: a descriptor of the data file of the reader's own (its
	// offset is the reader's), nil until opened; noFile once it could not
	// be.
	own    *os.File
	noFile bool
	lr     io.LimitedReader
	buf    []byte // WriteTo's copy buffer when w takes no ReadFrom
}

func (r *sectionReader) Close() error {
	if r.own != nil {
		r.own.Close()
	}
	if r.direct != nil {
		return r.direct.Close()
	}
	return nil
}

func (r *sectionReader) Read(p []byte) (int, error) {
	if r.pos >= r.end {
		return 0, io.EOF
	}
	if r.direct == nil {
		avail, f, err := r.next()
		if err != nil {
			return 0, err
		}
		if r.direct == nil {
			n, err := f.ReadAt(p[:min(int64(len(p)), avail)], r.pos)
			if n == 0 && err != nil {
				if err := r.shortRead(err); err != nil {
					return 0, err
				}
				return r.Read(p) // dropped under this read: the rest comes from the origin
			}
			r.pos += int64(n)
			if err == io.EOF {
				err = nil
			}
			return n, err
		}
	}
	n, err := r.direct.Read(p[:min(int64(len(p)), r.end-r.pos)])
	r.pos += int64(n)
	r.d.e.b.stats.bypassBytes.Add(int64(n))
	if err == io.EOF && r.pos < r.end {
		err = io.ErrUnexpectedEOF
	}
	return n, err
}

// answered waits until the section can stream: an origin of the entry
// answered, or the entry is complete, or the section's first bytes are on
// disk (a resumed entry's), or the section is empty. An entry failed on
// its disk (or removed) is streamed from the origin, which must answer
// first in turn.
func (r *sectionReader) answered() error {
	e := r.d.e
	if r.pos >= r.end {
		return nil
	}
	for {
		e.mu.Lock()
		if e.state == stateFailed {
			err, disk := e.err, e.diskErr
			e.mu.Unlock()
			if !disk {
				return err
			}
			rc, err := r.d.origin.Fetch(r.ctx, r.pos, r.end-r.pos)
			if err != nil {
				return err
			}
			r.direct = rc
			return nil
		}
		_, onDisk := e.ext.At(r.pos)
		if e.answered || e.state == stateComplete || onDisk {
			e.mu.Unlock()
			return nil
		}
		ch := e.changed
		e.mu.Unlock()
		select {
		case <-ch:
		case <-r.ctx.Done():
			return r.ctx.Err()
		}
	}
}

// shortRead is what a read of written bytes that got none means: the
// entry was dropped and its file truncated under it (nil: carry on, from
// the origin now), or the disk lies.
func (r *sectionReader) shortRead(err error) error {
	e := r.d.e
	e.mu.Lock()
	failed := e.state == stateFailed
	e.mu.Unlock()
	if failed {
		return nil // the next read sees the failure
	}
	if err == io.EOF || err == nil {
		err = io.ErrUnexpectedEOF // bytes written are never short, unless the disk lies
	}
	return err
}

// WriteTo sends the section to w as the bytes land. A run of written bytes
// goes in one call, from a file of the reader's own, to w's ReadFrom: over
// a TCP connection (fasthttp's writer over one included) that is
// sendfile, the bytes never copied through the gateway, and the entry's
// lock is taken once per run rather than once per buffer. With 100 readers
// on a 2-core host, the reads and copies this saves are the CPU the fill
// needs to keep up with its origin (issue 18).
func (r *sectionReader) WriteTo(w io.Writer) (int64, error) {
	var total int64
	rf, _ := w.(io.ReaderFrom)
	for r.pos < r.end {
		if rf == nil || r.direct != nil || !r.openOwn() {
			n, err := r.copyTo(w)
			return total + n, err
		}
		avail, err := r.nextFree()
		if err != nil {
			return total, err
		}
		if r.direct != nil {
			continue
		}
		if _, err := r.own.Seek(r.pos, io.SeekStart); err != nil {
			return total, err
		}
		r.lr = io.LimitedReader{R: r.own, N: avail}
		n, err := rf.ReadFrom(&r.lr)
		r.pos += n
		total += n
		if err != nil {
			return total, err
		}
		if n < avail {
			// w's ReadFrom stops short only when the file did: dropped.
			if err := r.shortRead(io.EOF); err != nil {
				return total, err
			}
		}
	}
	return total, nil
}

// nextFree is next without the entry's lock while the entry fills and
// r.pos is within the bytes written from byte 0 on, or at their end: the
// common case of a download attached to a fill, so that 100 of them do not
// contend with the fill for its lock. Anything else (a range beyond the
// fill's front, which may ask for a fetch ahead; an entry complete, failed
// or stopped) is next's.
func (r *sectionReader) nextFree() (avail int64, err error) {
	e := r.d.e
	for {
		front := e.front.Load()
		if e.ended.Load() || r.pos > front {
			avail, _, err := r.next()
			return avail, err
		}
		avail = min(front, r.end) - r.pos
		if avail > 0 && r.pos+avail == r.end {
			avail-- // the last byte waits for verification (ended is false)
		}
		if avail > 0 {
			return avail, nil
		}
		ch := *e.wake.Load()
		if e.front.Load() != front || e.ended.Load() {
			continue // published after the first look: no wait
		}
		select {
		case <-ch:
		case <-r.ctx.Done():
			return 0, r.ctx.Err()
		}
	}
}

// openOwn opens the reader's own descriptor of the entry's data, once.
func (r *sectionReader) openOwn() bool {
	if r.own != nil {
		return true
	}
	if r.noFile {
		return false
	}
	f, err := os.Open(r.d.e.dataPath())
	if err != nil {
		r.noFile = true // removed meanwhile: Read knows what to do
		return false
	}
	r.own = f
	return true
}

// copyTo is WriteTo without ReadFrom: Read, through a buffer of the
// reader's own.
func (r *sectionReader) copyTo(w io.Writer) (int64, error) {
	if r.buf == nil {
		r.buf = make([]byte, chunk)
	}
	var total int64
	for {
		n, err := r.Read(r.buf)
		if n > 0 {
			m, werr := w.Write(r.buf[:n])
			total += int64(m)
			if werr != nil {
				return total, werr
			}
		}
		if err == io.EOF {
			return total, nil
		}
		if err != nil {
			return total, err
		}
	}
}

// next waits until bytes at r.pos can be read: avail > 0 of them from f
// (the entry's file), or, after a disk failure, r.direct is set to the
// origin from r.pos.
func (r *sectionReader) next() (avail int64, f *os.File, err error) {
	e := r.d.e
	askedAhead := false
	for {
		e.mu.Lock()
		if e.state == stateFailed {
			err, disk := e.err, e.diskErr
			e.mu.Unlock()
			if !disk {
				return 0, nil, err
			}
			// The disk failed us, not the origin: carry on from it.
			rc, ferr := r.d.origin.Fetch(r.ctx, r.pos, r.end-r.pos)
			if ferr != nil {
				return 0, nil, ferr
			}
			r.direct = rc
			return 0, nil, nil
		}
		avail := int64(0)
		if end, ok := e.ext.At(r.pos); ok {
			avail = min(end, r.end) - r.pos
		}
		if avail > 0 && r.pos+avail == r.end && e.state != stateComplete && !e.verified {
			avail-- // the last byte waits for verification
		}
		if avail > 0 {
			f := e.f
			e.mu.Unlock()
			if f == nil {
				return 0, nil, errors.New("cache: entry file closed")
			}
			return avail, f, nil
		}
		if !askedAhead && e.state == stateFilling && !e.stopped && r.farAheadLocked() {
			src := r.d.origin
			if site, ok := e.source.(SiteFill); ok {
				src = site // through the site's lease, not around it
			}
			e.startAheadLocked(src, r.pos, r.end-r.pos)
			askedAhead = true
		}
		ch := e.changed
		e.mu.Unlock()
		select {
		case <-ch:
		case <-r.ctx.Done():
			return 0, nil, r.ctx.Err()
		}
	}
}

// farAheadLocked: the stream heading for r.pos is more than aheadThreshold
// behind it. When no stream covers r.pos the fill is about to start or will
// take the gap next: the reader waits for it rather than fetch twice.
func (r *sectionReader) farAheadLocked() bool {
	for _, s := range r.d.e.streams {
		if s.pos <= r.pos && r.pos < s.end {
			return r.pos-s.pos > aheadThreshold
		}
	}
	return false
}

// bypassData streams an image the cache cannot hold straight from its
// origin.
type bypassData struct {
	b      *Cache
	exp    Expect
	origin Origin
}

func (d *bypassData) Size() int64  { return d.exp.Size }
func (d *bypassData) Close() error { return nil }

func (d *bypassData) Section(ctx context.Context, off, n int64) (io.ReadCloser, error) {
	rc, err := d.origin.Fetch(ctx, off, n)
	if err != nil {
		return nil, err
	}
	if _, ok := rc.(PeerStream); ok {
		return &countingReader{rc: rc, n: &d.b.stats.peerBytes}, nil
	}
	return &countingReader{rc: rc, n: &d.b.stats.bypassBytes}, nil
}

func (d *bypassData) ReadAt(p []byte, off int64) (int, error) {
	return backends.ReadAtSection(d, d.exp.Size, p, off)
}

type countingReader struct {
	rc io.ReadCloser
	n  interface{ Add(int64) int64 }
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.rc.Read(p)
	c.n.Add(int64(n))
	return n, err
}

func (c *countingReader) Close() error { return c.rc.Close() }
