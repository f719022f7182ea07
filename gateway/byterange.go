package gateway

import (
	"bytes"
	"math"
	"strconv"
)

// A download's Range and Content-Range headers, read as Glance 25 reads
// them: webob's Range.parse and ContentRange.parse (regular expressions
// matched at the start of the header, Python integers of any size), then
// Request.get_range_from_request's checks against the image's size, then
// the download serializer's arithmetic. Numbers past 2^63 never wrap: a
// number is compared as its digits, and against a size it is just larger.
//
// Both parsers return the span to send as its first byte and its length;
// the length is never negative and start+length never passes the size, so
// the Content-Length answered is the count of bytes sent.

// ParseRange interprets a download's Range header. ok is false when the
// header asks for nothing Glance would answer with a 206 (then err says
// why: several ranges are a 400; a header webob cannot parse, or a start
// at or past the end, is a 416).
//
// Where Glance answers 500 (a "bytes=-" that int(”) cannot read) this
// answers the 416 of any other header webob cannot parse.
func ParseRange(header []byte, size int64) (start, length int64, ok bool, err error) {
	if bytes.IndexByte(header, ',') >= 0 {
		return 0, 0, false, badRequest("Requests with multiple ranges are not supported in Glance. You may make multiple single-range requests instead.")
	}
	first, last, valid := rangeParse(bytes.TrimSpace(header))
	if !valid {
		return 0, 0, false, errDetail(416, "Invalid Range header.")
	}
	suffix := first.digits == nil
	if suffix && last.isZero() {
		// webob reads "-0" as start 0: "0-", the whole image.
		first, last, suffix = last, bigUint{}, false
	}
	if !suffix && first.atLeast(size) {
		return 0, 0, false, errDetail(416, "Invalid start position in Range header. Start position MUST be in the inclusive range [0, "+strconv.FormatInt(size-1, 10)+"].")
	}
	if suffix {
		// -n: the last n bytes; n at least the size is the whole image.
		// An empty image answers 206 with nothing, as Glance does
		// ("bytes 0--1/0").
		if !last.atLeast(size) {
			start = size - last.v
		}
		return start, size - start, true, nil
	}
	start = first.v
	if last.digits != nil && !last.atLeast(size-1) {
		// A stop (last+1) short of the size; webob's stop is exclusive.
		return start, last.v + 1 - start, true, nil
	}
	return start, size - start, true, nil
}

// rangeParse is webob's Range.parse: `bytes *= *(\d*) *- *(\d*)`
// (case-insensitive, matched at the start: what follows is ignored), then
// a start past the end is no range. A missing start makes a suffix (first
// has nil digits, last its length).
func rangeParse(h []byte) (first, last bigUint, ok bool) {
	if len(h) < 5 || !bytes.EqualFold(h[:5], []byte("bytes")) {
		return first, last, false
	}
	h = skipSpaces(h[5:])
	if len(h) == 0 || h[0] != '=' {
		return first, last, false
	}
	first, h = leadingDigits(skipSpaces(h[1:]))
	h = skipSpaces(h)
	if len(h) == 0 || h[0] != '-' {
		return first, last, false
	}
	last, _ = leadingDigits(skipSpaces(h[1:]))
	switch {
	case first.digits == nil && last.digits == nil:
		// int('') in webob: Glance answers 500.
		return first, last, false
	case first.digits != nil && last.digits != nil && first.cmp(last) > 0:
		// start >= end+1: webob's "no range".
		return first, last, false
	}
	return first, last, true
}

// ParseContentRange interprets a Content-Range request header, which Glance
// honours on download when there is no Range: `bytes (\d+)-(\d+)/(\d+|\*)`
// matched at the start, valid as a response's Content-Range would be.
//
// Glance checks the stop against the size only when the length is "*": with
// a length it sends Content-Length for bytes it does not have and the
// client waits for them forever. Here a stop past the end is refused
// whatever the length says; and "bytes */n", on which Glance answers 500,
// is an invalid header.
func ParseContentRange(header []byte, size int64) (start, length int64, err error) {
	h := bytes.TrimSpace(header)
	if !bytes.HasPrefix(h, []byte("bytes ")) {
		return 0, 0, errDetail(416, "Invalid Content-Range header.")
	}
	first, rest := leadingDigits(h[len("bytes "):])
	if first.digits == nil || len(rest) == 0 || rest[0] != '-' {
		return 0, 0, errDetail(416, "Invalid Content-Range header.")
	}
	last, rest := leadingDigits(rest[1:])
	if last.digits == nil || len(rest) == 0 || rest[0] != '/' {
		return 0, 0, errDetail(416, "Invalid Content-Range header.")
	}
	total, rest := leadingDigits(rest[1:])
	anyLength := total.digits == nil
	if anyLength && (len(rest) == 0 || rest[0] != '*') {
		return 0, 0, errDetail(416, "Invalid Content-Range header.")
	}
	// _is_content_range_valid(start, stop, length, response=True).
	if first.cmp(last) > 0 || (!anyLength && last.cmp(total) >= 0) {
		return 0, 0, errDetail(416, "Invalid Content-Range header.")
	}
	stopPastEnd := last.atLeast(size)
	if anyLength && stopPastEnd {
		return 0, 0, errDetail(416, "Invalid stop position in Content-Range header. The stop position MUST be in the inclusive range [0, "+strconv.FormatInt(size-1, 10)+"].")
	}
	if first.atLeast(size) {
		return 0, 0, errDetail(416, "Invalid start position in Content-Range header. Start position MUST be in the inclusive range [0, "+strconv.FormatInt(size-1, 10)+"].")
	}
	if stopPastEnd {
		return 0, 0, errDetail(416, "Invalid stop position in Content-Range header. The stop position MUST be in the inclusive range [0, "+strconv.FormatInt(size-1, 10)+"].")
	}
	return first.v, last.v + 1 - first.v, nil
}

// bigUint is a non-negative decimal integer of any size, as Python reads
// one: v is its value when it fits an int64, else math.MaxInt64 with big
// set; digits are its decimal digits (nil: no number).
type bigUint struct {
	digits []byte
	v      int64
	big    bool
}

// leadingDigits reads the ASCII digits at the start of b.
func leadingDigits(b []byte) (bigUint, []byte) {
	i := 0
	for i < len(b) && b[i] >= '0' && b[i] <= '9' {
		i++
	}
	if i == 0 {
		return bigUint{}, b
	}
	n := bigUint{digits: b[:i]}
	for _, d := range b[:i] {
		if n.big {
			break
		}
		x := int64(d - '0')
		if n.v > (math.MaxInt64-x)/10 {
			n.v, n.big = math.MaxInt64, true
			break
		}
		n.v = n.v*10 + x
	}
	return n, b[i:]
}

// atLeast: n >= x, for any int64 x.
func (n bigUint) atLeast(x int64) bool { return n.big || n.v >= x }

func (n bigUint) isZero() bool { return !n.big && n.v == 0 }

// cmp compares two numbers by their digits (leading zeros aside).
func (n bigUint) cmp(m bigUint) int {
	a, b := bytes.TrimLeft(n.digits, "0"), bytes.TrimLeft(m.digits, "0")
	if len(a) != len(b) {
		if len(a) < len(b) {
			return -1
		}
		return 1
	}
	return bytes.Compare(a, b)
}

func skipSpaces(b []byte) []byte {
	for len(b) > 0 && b[0] == ' ' {
		b = b[1:]
	}
	return b
}
