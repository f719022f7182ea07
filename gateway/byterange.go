package gateway

import (
	"bytes"
	"strconv"

	"github.com/spyglass-gateway/spyglass/backends"
)

// ParseRange interprets a download's Range header as Glance does
// (Request.get_range_from_request with webob's Range.parse, then the
// download serializer): one range "bytes=a-b", "bytes=a-" or "bytes=-n".
// It returns the inclusive byte span to send. Several ranges are a 400;
// a header webob cannot parse, or a start at or past the end, is a 416.
// ok is false when the whole image is to be sent.
func ParseRange(header []byte, size int64) (start, end int64, ok bool, err error) {
	if bytes.IndexByte(header, ',') >= 0 {
		return 0, 0, false, badRequest("Requests with multiple ranges are not supported in Glance. You may make multiple single-range requests instead.")
	}
	first, last, valid := rangeParse(header)
	if !valid {
		return 0, 0, false, errDetail(416, "Invalid Range header.")
	}
	if first >= size {
		return 0, 0, false, errDetail(416, "Invalid start position in Range header. Start position MUST be in the inclusive range [0, "+strconv.FormatInt(size-1, 10)+"].")
	}
	// last is webob's exclusive stop, or -1 for "to the end"; a negative
	// first is a suffix length.
	if first < 0 {
		if -first < size {
			start = size + first
		}
	} else {
		start = first
	}
	end = size - 1
	if last >= 0 && last < size {
		end = last - 1
	}
	if end < start {
		return 0, 0, false, errDetail(416, "Invalid Range header.")
	}
	return start, end, true, nil
}

// rangeParse is webob.byterange.Range.parse for one range: it returns the
// start (negative for a suffix) and the exclusive stop (-1 for none).
func rangeParse(h []byte) (start, stop int64, ok bool) {
	h = bytes.TrimSpace(h)
	unit, spec, found := bytes.Cut(h, []byte("="))
	if !found || !bytes.Equal(bytes.ToLower(bytes.TrimSpace(unit)), []byte("bytes")) {
		return 0, 0, false
	}
	spec = bytes.TrimSpace(spec)
	a, b, found := bytes.Cut(spec, []byte("-"))
	if !found {
		return 0, 0, false
	}
	a, b = bytes.TrimSpace(a), bytes.TrimSpace(b)
	if len(a) == 0 {
		n, err := strconv.ParseInt(string(b), 10, 64)
		if err != nil || n < 0 || len(b) == 0 || b[0] == '+' || b[0] == '-' {
			return 0, 0, false
		}
		// webob reads "-0" as start 0: the whole image, as a 206.
		return -n, -1, true
	}
	s, err := strconv.ParseInt(string(a), 10, 64)
	if err != nil || s < 0 || a[0] == '+' {
		return 0, 0, false
	}
	if len(b) == 0 {
		return s, -1, true
	}
	e, err := strconv.ParseInt(string(b), 10, 64)
	if err != nil || e < s || b[0] == '+' {
		return 0, 0, false
	}
	return s, e + 1, true
}

// ParseContentRange interprets a Content-Range request header, which Glance
// honours on download when there is no Range: "bytes a-b/len" or
// "bytes a-b/*".
func ParseContentRange(header []byte, size int64) (start, end int64, err error) {
	h := bytes.TrimSpace(header)
	if !bytes.HasPrefix(h, []byte("bytes ")) {
		return 0, 0, errDetail(416, "Invalid Content-Range header.")
	}
	span, length, found := bytes.Cut(bytes.TrimSpace(h[6:]), []byte("/"))
	if !found {
		return 0, 0, errDetail(416, "Invalid Content-Range header.")
	}
	a, b, found := bytes.Cut(span, []byte("-"))
	s, err1 := strconv.ParseInt(string(a), 10, 64)
	e, err2 := strconv.ParseInt(string(b), 10, 64)
	if !found || err1 != nil || err2 != nil || s < 0 || e < s {
		return 0, 0, errDetail(416, "Invalid Content-Range header.")
	}
	stop := e + 1
	if string(length) == "*" {
		if stop > size {
			return 0, 0, errDetail(416, "Invalid stop position in Content-Range header. The stop position MUST be in the inclusive range [0, "+strconv.FormatInt(size-1, 10)+"].")
		}
	} else if n, err := strconv.ParseInt(string(length), 10, 64); err != nil || stop > n {
		return 0, 0, errDetail(416, "Invalid Content-Range header.")
	}
	if s >= size || stop > size {
		return 0, 0, errDetail(416, "Invalid start position in Content-Range header. Start position MUST be in the inclusive range [0, "+strconv.FormatInt(size-1, 10)+"].")
	}
	return s, stop - 1, nil
}

var _ = backends.ErrBadRequest
