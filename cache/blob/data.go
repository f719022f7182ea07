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

// Section streams [off, off+n) as the bytes land. Its last byte is held
// back until the whole entry is verified: a reader never gets a clean end
// of data that later turns out not to be the image's — it gets an error.
func (d *fillData) Section(ctx context.Context, off, n int64) (io.ReadCloser, error) {
	if off < 0 || n < 0 || off+n > d.e.exp.Size {
		return nil, errors.New("cache: section out of range")
	}
	return &sectionReader{d: d, ctx: ctx, pos: off, end: off + n}, nil
}

type sectionReader struct {
	d        *fillData
	ctx      context.Context
	pos, end int64
	direct   io.ReadCloser // the origin, after a disk failure
}

func (r *sectionReader) Close() error {
	if r.direct != nil {
		return r.direct.Close()
	}
	return nil
}

func (r *sectionReader) Read(p []byte) (int, error) {
	if r.pos >= r.end {
		return 0, io.EOF
	}
	if r.direct != nil {
		n, err := r.direct.Read(p[:min(int64(len(p)), r.end-r.pos)])
		r.pos += int64(n)
		r.d.e.b.stats.bypassBytes.Add(int64(n))
		if err == io.EOF && r.pos < r.end {
			err = io.ErrUnexpectedEOF
		}
		return n, err
	}
	e := r.d.e
	askedAhead := false
	for {
		e.mu.Lock()
		if e.state == stateFailed {
			err, disk := e.err, e.diskErr
			e.mu.Unlock()
			if !disk {
				return 0, err
			}
			// The disk failed us, not the origin: carry on from it.
			rc, ferr := r.d.origin.Fetch(r.ctx, r.pos, r.end-r.pos)
			if ferr != nil {
				return 0, ferr
			}
			r.direct = rc
			return r.Read(p)
		}
		avail := int64(0)
		if end, ok := e.ext.At(r.pos); ok {
			avail = min(end, r.end) - r.pos
		}
		if avail > 0 && r.pos+avail == r.end && e.state != stateComplete {
			avail-- // the last byte waits for verification
		}
		if avail > 0 {
			f := e.f
			if f == nil {
				e.mu.Unlock()
				return 0, errors.New("cache: entry file closed")
			}
			e.mu.Unlock()
			n, err := f.ReadAt(p[:min(int64(len(p)), avail)], r.pos)
			if n == 0 && err != nil {
				e.mu.Lock()
				failed := e.state == stateFailed
				e.mu.Unlock()
				if failed {
					continue // dropped and truncated under this read: the rest comes from the origin
				}
				if err == io.EOF {
					err = io.ErrUnexpectedEOF // bytes written are never short, unless the disk lies
				}
				return 0, err
			}
			r.pos += int64(n)
			if err == io.EOF {
				err = nil
			}
			return n, err
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
			return 0, r.ctx.Err()
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
