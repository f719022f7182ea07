package httpstore

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"

	"github.com/spyglass-gateway/spyglass/backends"
	"github.com/spyglass-gateway/spyglass/backends/outbound"
)

// Doer sends requests to tenants' URLs through the import filter;
// *outbound.Fetcher is one. CheckURL is applied to the URL as given
// (encoded addresses are refused there), Do to every hop.
type Doer interface {
	CheckURL(raw string) error
	Do(req *http.Request) (*http.Response, error)
}

// Store reads http(s) locations. It is safe for concurrent use.
type Store struct {
	f Doer
}

// New returns a Store that sends every request through f.
func New(f Doer) *Store { return &Store{f: f} }

// Errors, worded as glance_store's http driver words them.
const (
	msgNotFound    = "HTTP datastore could not find image at URI."
	msgUnavailable = "Remote server where the image is present is unavailable."
)

// Size is glance_store's get_size: a HEAD, redirects followed (each hop
// checked), the Content-Length, or 0 without one. A 404 is ErrNotFound;
// another error status, a refused URL or an unreachable server is
// ErrBadRequest ("The HTTP URL is invalid").
func (s *Store) Size(ctx context.Context, raw string) (int64, error) {
	resp, err := s.send(ctx, http.MethodHead, raw, "")
	if err != nil {
		var st *outbound.StatusError
		if errors.As(err, &st) {
			return 0, statusErr(raw, st.Code)
		}
		return 0, backends.Errorf(backends.ErrBadRequest, "The HTTP URL is invalid: "+err.Error())
	}
	resp.Body.Close()
	if resp.ContentLength < 0 {
		return 0, nil
	}
	return resp.ContentLength, nil
}

// statusErr is _check_store_uri's error for a status of 400 and above.
func statusErr(raw string, code int) error {
	if code == http.StatusNotFound {
		return backends.Errorf(backends.ErrNotFound, msgNotFound)
	}
	return backends.Errorf(backends.ErrBadRequest, fmt.Sprintf("HTTP URL %s returned a %d status code.", urlPath(raw), code))
}

// urlPath is the path glance_store names in its messages (loc.path): no
// host, no credentials, no query.
func urlPath(raw string) string {
	if i := strings.Index(raw, "://"); i >= 0 {
		raw = raw[i+3:]
	}
	if i := strings.IndexByte(raw, '/'); i >= 0 {
		raw = raw[i:]
	} else {
		raw = "/"
	}
	if i := strings.IndexAny(raw, "?#"); i >= 0 {
		raw = raw[:i]
	}
	return raw
}

func (s *Store) send(ctx context.Context, method, raw, rangeHdr string) (*http.Response, error) {
	if err := s.f.CheckURL(raw); err != nil {
		return nil, err
	}
	req, err := http.NewRequestWithContext(ctx, method, raw, nil)
	if err != nil {
		return nil, err
	}
	if rangeHdr != "" {
		req.Header.Set("Range", rangeHdr)
	}
	return s.f.Do(req)
}

// Open returns the data at raw, of size bytes (what Size said when the
// location was recorded). Nothing is fetched until it is read.
func (s *Store) Open(raw string, size int64) backends.Data {
	return &data{s: s, url: raw, size: size}
}

// data is one location's bytes.
type data struct {
	s    *Store
	url  string
	size int64
}

func (d *data) Size() int64  { return d.size }
func (d *data) Close() error { return nil }

func (d *data) ReadAt(p []byte, off int64) (int, error) {
	return backends.ReadAtSection(d, d.size, p, off)
}

// Section streams [off, off+n) from the URL: the whole resource with a
// plain GET, a part of it with a Range request. A server that ignores the
// Range (200) is read from the start and the bytes before off dropped; a
// 206 for another range than asked is refused. A stream that ends before
// n bytes is io.ErrUnexpectedEOF. A server that cannot be reached is
// ErrUnavailable (Glance's RemoteServiceUnavailable, 503), a 404
// ErrNotFound.
func (d *data) Section(ctx context.Context, off, n int64) (io.ReadCloser, error) {
	if off < 0 || n < 0 || off+n > d.size {
		return nil, fmt.Errorf("httpstore: section [%d, +%d) outside %d bytes", off, n, d.size)
	}
	if n == 0 {
		return io.NopCloser(strings.NewReader("")), nil
	}
	var rangeHdr string
	if off != 0 || n != d.size {
		rangeHdr = "bytes=" + strconv.FormatInt(off, 10) + "-" + strconv.FormatInt(off+n-1, 10)
	}
	resp, err := d.s.send(ctx, http.MethodGet, d.url, rangeHdr)
	if err != nil {
		var st *outbound.StatusError
		if errors.As(err, &st) && st.Code == http.StatusNotFound {
			return nil, backends.Errorf(backends.ErrNotFound, msgNotFound)
		}
		return nil, fmt.Errorf("%w: %s: %w", backends.ErrUnavailable, msgUnavailable, err)
	}
	switch {
	case resp.StatusCode == http.StatusPartialContent:
		start, _, total, ok := ParseContentRange(resp.Header.Get("Content-Range"))
		if !ok || start != off || (total >= 0 && total != d.size) {
			resp.Body.Close()
			return nil, fmt.Errorf("%w: %s answered the range %d-%d with %q", backends.ErrUnavailable, urlPath(d.url), off, off+n-1, resp.Header.Get("Content-Range"))
		}
	case off > 0:
		// The whole resource: skip to off.
		if _, err := io.CopyN(io.Discard, resp.Body, off); err != nil {
			resp.Body.Close()
			return nil, fmt.Errorf("%w: %s: %w", backends.ErrUnavailable, msgUnavailable, io.ErrUnexpectedEOF)
		}
	}
	return &body{rc: resp.Body, left: n}, nil
}

// body is a response body cut to the bytes asked for; ending early is an
// error, not EOF.
type body struct {
	rc   io.ReadCloser
	left int64
}

func (b *body) Read(p []byte) (int, error) {
	if b.left <= 0 {
		return 0, io.EOF
	}
	if int64(len(p)) > b.left {
		p = p[:b.left]
	}
	n, err := b.rc.Read(p)
	b.left -= int64(n)
	if err == io.EOF {
		if b.left > 0 {
			return n, io.ErrUnexpectedEOF
		}
		return n, nil
	}
	if err == nil && b.left == 0 {
		return n, io.EOF
	}
	return n, err
}

func (b *body) Close() error { return b.rc.Close() }

// ParseContentRange parses a response's Content-Range, "bytes
// first-last/total" or "bytes first-last/*" (total -1). ok is false for
// anything else, a last before first, or a last past the total.
func ParseContentRange(v string) (first, last, total int64, ok bool) {
	rest, found := strings.CutPrefix(v, "bytes ")
	if !found {
		return 0, 0, 0, false
	}
	span, tot, found := strings.Cut(rest, "/")
	if !found {
		return 0, 0, 0, false
	}
	a, b, found := strings.Cut(span, "-")
	if !found {
		return 0, 0, 0, false
	}
	first, ok1 := digits(a)
	last, ok2 := digits(b)
	if !ok1 || !ok2 || last < first {
		return 0, 0, 0, false
	}
	total = -1
	if tot != "*" {
		t, ok3 := digits(tot)
		if !ok3 || last >= t {
			return 0, 0, 0, false
		}
		total = t
	}
	return first, last, total, true
}

// digits parses a non-negative decimal of at most 18 digits (no sign, no
// overflow).
func digits(s string) (int64, bool) {
	if s == "" || len(s) > 18 {
		return 0, false
	}
	var n int64
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + int64(c-'0')
	}
	return n, true
}

var (
	_ backends.Data      = (*data)(nil)
	_ backends.Sectioner = (*data)(nil)
	_ Doer               = (*outbound.Fetcher)(nil)
)
