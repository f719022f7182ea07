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

// clientReader remembers an error of the client's body, so that a client
// that hangs up mid-upload is not counted as the region failing. The
// http.Client reads it on a goroutine of its own, which may go on reading
// after Do returned (a region that answered before reading the body).
type clientReader struct {
	r   io.Reader
	err atomic.Pointer[error]
}

func (c *clientReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	if err != nil && err != io.EOF {
		c.err.CompareAndSwap(nil, &err)
	}
	return n, err
}

// failed is the body's error, nil if none.
func (c *clientReader) failed() error {
	if p := c.err.Load(); p != nil {
		return *p
	}
	return nil
}

func (r *Region) put(ctx context.Context, path string, body io.Reader, opts backends.UploadOptions) error {
	if opts.Store != "" && opts.Store != r.name {
		return backends.Errorf(backends.ErrBadRequest, "Store for identifier "+opts.Store+" not found")
	}
	ctx, span := r.startSpan(ctx, "region.upload", "PUT", path)
	status := 0
	cr := &clientReader{r: body}
	// clientErr is the client's body failing, which aborts the request to
	// the region (the http.Client closes its connection mid-body, so the
	// region sees a broken upload, never a short complete one).
	var clientErr error
	_, err := r.breaker.Execute(func() (*http.Response, error) {
		req, err := http.NewRequestWithContext(ctx, "PUT", r.base+path, cr)
		if err != nil {
			return nil, err
		}
		req.ContentLength = -1
		if opts.ExpectedSize >= 0 {
			req.ContentLength = opts.ExpectedSize
			if opts.ExpectedSize == 0 {
				req.Body = http.NoBody
			}
		}
		for k, v := range identity(ctx) {
			req.Header.Set(k, v)
		}
		req.Header.Set("Content-Type", "application/octet-stream")
		resp, err := r.upload.Do(req)
		if err != nil {
			// Do returned after the body's error, if any: the error was
			// recorded before.
			if clientErr = cr.failed(); clientErr != nil { // the client's fault, not the region's
				return nil, nil
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
	if clientErr != nil {
		err = fmt.Errorf("reading the upload: %w: %w", clientErr, backends.ErrBadRequest)
		endSpan(span, status, err)
		return err
	}
	err = r.breakerErr(err)
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
	_, err := r.breaker.Execute(func() (*http.Response, error) {
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
		failure = r.breakerErr(err)
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

// OpenData opens the image's data in the region: reads and sections are
// ranged requests. Its size comes from the image record, as the caller may
// see it.
func (r *Region) OpenData(ctx context.Context, id string) (backends.Data, error) {
	img, err := r.Image(ctx, id)
	if err != nil {
		return nil, err
	}
	if img.Size == nil || (img.Status != backends.StatusActive && img.Status != backends.StatusDeactivated) {
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

// Section streams [off, off+n) as it arrives from the region.
func (d *remoteData) Section(ctx context.Context, off, n int64) (io.ReadCloser, error) {
	if n == 0 {
		return io.NopCloser(strings.NewReader("")), nil
	}
	return d.r.Fetch(backends.WithCaller(ctx, &d.caller), d.id, off, n)
}

func (d *remoteData) ReadAt(p []byte, off int64) (int, error) {
	return backends.ReadAtSection(d, d.size, p, off)
}
