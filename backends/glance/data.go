package glance

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/valyala/fasthttp"

	"github.com/spyglass-gateway/spyglass/backends"
	"github.com/spyglass-gateway/spyglass/tracing"
)

// UploadData streams r to the region's PUT /file: the body is never held in
// memory, and the region computes size and checksums.
func (r *Region) UploadData(ctx context.Context, id string, body io.Reader, opts backends.UploadOptions) (*backends.Image, error) {
	if err := r.put(ctx, imagePath(id)+"/file", body, opts); err != nil {
		return nil, err
	}
	return r.Image(ctx, id)
}

// StageData streams r to the region's PUT /stage.
func (r *Region) StageData(ctx context.Context, id string, body io.Reader, opts backends.UploadOptions) (*backends.Image, error) {
	if err := r.put(ctx, imagePath(id)+"/stage", body, opts); err != nil {
		return nil, err
	}
	return r.Image(ctx, id)
}

// clientBody is an upload's body on its way to the region. It remembers
// the client's failure — its body ended with an error (the client went
// away, its stream was cut) or did not hold the size it declared — so that
// the upload is never counted as the region failing. With a declared size
// it hands the region the last byte only once the body is known to end
// there: a body of the wrong size never reaches the region as a complete
// request, the upstream request is aborted instead.
type clientBody struct {
	r    io.Reader
	want int64        // the declared size; -1: none
	n    atomic.Int64 // bytes read from the client
	// failure is the client's failure; nil while there is none. Atomic:
	// the http.Client may still be reading on its own goroutine when put
	// looks (a region that answered before reading the whole body).
	failure atomic.Pointer[clientFailure]
}

type clientFailure struct {
	err error
	// mismatch: the body did not hold want bytes.
	mismatch bool
}

// err is the client's failure, nil while there is none.
func (b *clientBody) err() error {
	if f := b.failure.Load(); f != nil {
		return f.err
	}
	return nil
}

func (b *clientBody) Read(p []byte) (int, error) {
	if err := b.err(); err != nil {
		return 0, err
	}
	if b.want >= 0 && int64(len(p)) > b.want-b.n.Load()+1 {
		p = p[:b.want-b.n.Load()+1] // one byte past the declared size, to see one
	}
	n, err := b.r.Read(p)
	total := b.n.Add(int64(n))
	switch {
	case b.want >= 0 && total > b.want:
		return 0, b.failSize()
	case err == io.EOF:
		if b.want >= 0 && total < b.want {
			return 0, b.failSize()
		}
		return n, io.EOF
	case err != nil:
		return 0, b.fail(err)
	case b.want >= 0 && total == b.want:
		if err := b.atEnd(); err != nil {
			return 0, err
		}
		return n, io.EOF
	}
	return n, nil
}

// atEnd makes sure the client's body has no byte left.
func (b *clientBody) atEnd() error {
	var one [1]byte
	for range 100 {
		n, err := b.r.Read(one[:])
		switch {
		case n > 0:
			b.n.Add(int64(n))
			return b.failSize()
		case err == io.EOF:
			return nil
		case err != nil:
			return b.fail(err)
		}
	}
	return b.fail(io.ErrNoProgress)
}

func (b *clientBody) fail(err error) error {
	f := &clientFailure{err: fmt.Errorf("reading the upload: %v: %w", err, backends.ErrBadRequest)}
	b.failure.CompareAndSwap(nil, f)
	return b.err()
}

func (b *clientBody) failSize() error {
	f := &clientFailure{err: backends.SizeMismatch(b.want, b.n.Load()), mismatch: true}
	b.failure.CompareAndSwap(nil, f)
	return b.err()
}

// answer is the client's error once the upstream request is over. A body
// longer than declared is read to its end (at most capBytes more, when
// capBytes > 0), so the answer names its size as the embedded store's does.
func (b *clientBody) answer(capBytes int64) error {
	f := b.failure.Load()
	if f == nil {
		return nil
	}
	if n := b.n.Load(); f.mismatch && n > b.want {
		r := b.r
		if capBytes > 0 {
			r = io.LimitReader(r, max(0, capBytes+1-n))
		}
		more, _ := io.Copy(io.Discard, r)
		n += more
		if capBytes > 0 && n > capBytes {
			return backends.Errorf(backends.ErrTooLarge, "The provided image is too large.")
		}
		return backends.SizeMismatch(b.want, n)
	}
	return f.err
}

func (r *Region) put(ctx context.Context, path string, body io.Reader, opts backends.UploadOptions) error {
	if opts.Store != "" && opts.Store != r.name {
		return backends.Errorf(backends.ErrBadRequest, "Store for identifier "+opts.Store+" not found")
	}
	ctx, span := r.startSpan(ctx, "region.upload", "PUT", path)
	status := 0
	cb := &clientBody{r: body, want: opts.ExpectedSize}
	if cb.want < 0 {
		cb.want = -1
	}
	if cb.want == 0 {
		// An empty upload is sent as one (http.NoBody); the client's body
		// must be empty too.
		if err := cb.atEnd(); err != nil {
			err = cb.answer(opts.SizeCap)
			endSpan(span, status, err)
			return err
		}
	}
	_, err := r.execute(ctx, func() (*http.Response, error) {
		var reqBody io.Reader = cb
		if cb.want == 0 {
			reqBody = http.NoBody
		}
		req, err := http.NewRequestWithContext(ctx, "PUT", r.base+path, reqBody)
		if err != nil {
			return nil, err
		}
		req.ContentLength = cb.want
		for k, v := range identity(ctx) {
			req.Header.Set(k, v)
		}
		req.Header.Set("Content-Type", "application/octet-stream")
		resp, err := r.upload.Do(req)
		if cerr := cb.err(); cerr != nil {
			// The client's doing, whatever the region answered to the
			// stream it saw cut.
			if resp != nil {
				resp.Body.Close()
			}
			return nil, &uncounted{cerr}
		}
		if err != nil {
			if cb.n.Load() > 0 {
				// The transport failed while the client's body was
				// streaming: a client that trickles its bytes until the
				// region gives up on it looks just like a region that
				// died; neither is told by this call.
				return nil, &uncounted{r.mapErr(err)}
			}
			return nil, r.mapErr(err)
		}
		defer resp.Body.Close()
		status = resp.StatusCode
		// The answer's body has no read bound on its connection.
		stalled := time.AfterFunc(r.readTO, func() { resp.Body.Close() })
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
		stalled.Stop()
		if resp.StatusCode != 204 && resp.StatusCode != 201 && resp.StatusCode != 200 {
			return nil, remoteError(r.name, resp.StatusCode, b)
		}
		return resp, nil
	})
	if cb.err() != nil {
		err = cb.answer(opts.SizeCap)
	}
	endSpan(span, status, err)
	return err
}

// Fetch streams bytes [off, off+n) of the image's data (n < 0: to the
// end) as they arrive, with a Range request. An origin that ignores Range
// and answers 200 is read from its start and the first off bytes are
// skipped. The reader returns io.ErrUnexpectedEOF, never a clean EOF, when
// the stream ends before the range does. The caller must Close it.
func (r *Region) Fetch(ctx context.Context, id string, off, n int64) (io.ReadCloser, error) {
	if off < 0 || n == 0 {
		return nil, fmt.Errorf("glance: fetch [%d, +%d): bad range", off, n)
	}
	path := imagePath(id) + "/file"
	ctx, span := r.startSpan(ctx, "region.data", "GET", path)
	req := fasthttp.AcquireRequest()
	req.SetRequestURI(r.base + path)
	for k, v := range identity(ctx) {
		req.Header.Set(k, v)
	}
	tracing.InjectFastHTTP(ctx, &req.Header)
	if off > 0 || n > 0 {
		rng := "bytes=" + strconv.FormatInt(off, 10) + "-"
		if n > 0 {
			rng += strconv.FormatInt(off+n-1, 10)
		}
		req.Header.Set("Range", rng)
	}
	resp := fasthttp.AcquireResponse()
	// The span lasts until the stream is closed: the transfer is the call.
	var failure error
	status := 0
	release := func() {
		endSpan(span, status, failure)
		resp.CloseBodyStream()
		fasthttp.ReleaseResponse(resp)
	}
	_, err := r.execute(ctx, func() (*http.Response, error) {
		if err := r.data.Do(req, resp); err != nil {
			return nil, fmt.Errorf("region %s: GET image data: %v: %w", r.name, err, errUnavailable)
		}
		status = resp.StatusCode()
		if st := resp.StatusCode(); st != 200 && st != 206 {
			body, _ := io.ReadAll(io.LimitReader(resp.BodyStream(), 1<<20))
			if st == 204 {
				return nil, backends.ErrNoData
			}
			return nil, remoteError(r.name, st, body)
		}
		return nil, nil
	})
	fasthttp.ReleaseRequest(req)
	if err != nil {
		failure = err
		release()
		return nil, failure
	}
	body := resp.BodyStream()
	total := int64(resp.Header.ContentLength()) // -1 when chunked
	if resp.StatusCode() == 206 {
		start, err := contentRangeStart(resp.Header.Peek("Content-Range"))
		if err != nil || start != off {
			failure = fmt.Errorf("region %s: asked for bytes from %d, got Content-Range %q: %w", r.name, off, resp.Header.Peek("Content-Range"), errUnavailable)
			release()
			return nil, failure
		}
	} else if off > 0 {
		// The origin ignored Range: skip to off.
		if _, err := io.CopyN(io.Discard, body, off); err != nil {
			failure = fmt.Errorf("region %s: skipping to %d of a response that ignored Range: %v: %w", r.name, off, err, errUnavailable)
			release()
			return nil, failure
		}
		if total >= 0 {
			total -= off
		}
	}
	want := n
	if want < 0 {
		want = total // may be -1: read to the end
	}
	return &stream{body: body, left: want, release: release, region: r.name, ctx: ctx}, nil
}

func contentRangeStart(cr []byte) (int64, error) {
	s := string(cr)
	if !strings.HasPrefix(s, "bytes ") {
		return 0, errors.New("not a bytes range")
	}
	s = s[len("bytes "):]
	dash := strings.IndexByte(s, '-')
	if dash < 0 {
		return 0, errors.New("no dash")
	}
	return strconv.ParseInt(s[:dash], 10, 64)
}

// stream is one data response being read.
type stream struct {
	body    io.Reader
	left    int64 // bytes still due; -1: unknown (read to EOF)
	release func()
	once    sync.Once
	region  string
	ctx     context.Context
}

func (s *stream) Read(p []byte) (int, error) {
	if s.left == 0 {
		return 0, io.EOF
	}
	if err := s.ctx.Err(); err != nil {
		return 0, err
	}
	if s.left > 0 && int64(len(p)) > s.left {
		p = p[:s.left]
	}
	n, err := s.body.Read(p)
	if s.left > 0 {
		s.left -= int64(n)
	}
	if err == io.EOF {
		if s.left > 0 {
			return n, fmt.Errorf("region %s: data stream ended %d bytes early: %w", s.region, s.left, io.ErrUnexpectedEOF)
		}
		if s.left == 0 && n > 0 {
			return n, nil
		}
	} else if err != nil {
		return n, fmt.Errorf("region %s: data stream: %v: %w", s.region, err, io.ErrUnexpectedEOF)
	}
	return n, err
}

func (s *stream) Close() error {
	s.once.Do(s.release)
	return nil
}

// OpenData opens the data of img, a record of this region the caller
// resolved, as the caller may see it: reads and sections are ranged
// requests, its size is the record's.
func (r *Region) OpenData(ctx context.Context, img *backends.Image) (backends.Data, error) {
	id := img.ID
	if !img.HasData() {
		return nil, backends.ErrNoData
	}
	var caller backends.Caller
	if c := backends.CallerFrom(ctx); c != nil {
		caller = *c
	}
	return &remoteData{r: r, id: id, size: *img.Size, caller: caller}, nil
}

// remoteData is an image's data in a remote region, read with ranged
// requests as the caller who opened it.
type remoteData struct {
	r      *Region
	id     string
	size   int64
	caller backends.Caller
}

func (d *remoteData) Size() int64  { return d.size }
func (d *remoteData) Close() error { return nil }

// Section streams [off, off+n) as it arrives from the region. The whole
// image is asked for without a Range: Glance's http store refuses any
// Range (StoreRandomGetNotSupported, a 400), even one of every byte.
func (d *remoteData) Section(ctx context.Context, off, n int64) (io.ReadCloser, error) {
	if n == 0 {
		return io.NopCloser(strings.NewReader("")), nil
	}
	if off == 0 && n == d.size {
		n = -1
	}
	return d.r.Fetch(backends.WithCaller(ctx, &d.caller), d.id, off, n)
}

func (d *remoteData) ReadAt(p []byte, off int64) (int, error) {
	return backends.ReadAtSection(d, d.size, p, off)
}
