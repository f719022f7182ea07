package gateway

import (
	"unicode/utf8"

	"github.com/valyala/fasthttp"

	"github.com/spyglass-gateway/spyglass/backends"
)

// The text a client sends — the path, a listing's query, a JSON body — must
// be Unicode that Glance can decode and store. Glance 25 answers 500 to
// text that is not (a path segment with %ff crashes its healthcheck filter
// before routing; a JSON string with a lone surrogate escape such as
// "\udcff" is decoded by Python and crashes the database layer; a body
// nested deeper than Python's recursion limit crashes the decoder), and a
// 500 from a region counts against the region's circuit breaker: one
// tenant could take the region away from every other. These checks run in
// the gateway, so the embedded store and a Glance region refuse the same
// input with the same 4xx: the answers Glance gives to the undecodable
// input it does catch.

// errUndecodable is Glance's answer to a URL or body it cannot decode
// (glance.common.wsgi.Resource: UnicodeDecodeError).
var errUndecodable = backends.Errorf(backends.ErrBadRequest,
	"Error decoding your request. Either the URL or the request body contained characters that could not be decoded by Glance")

// errMalformedJSON is Glance's answer to a body its JSON deserializer
// refuses, invalid UTF-8 included.
var errMalformedJSON = backends.Errorf(backends.ErrBadRequest, "Malformed JSON in request body.")

// validQuery reports whether every key and value of a query string decodes
// to UTF-8, as webob's request.params requires.
func validQuery(args *fasthttp.Args) bool {
	ok := true
	args.VisitAll(func(k, v []byte) {
		ok = ok && utf8.Valid(k) && utf8.Valid(v)
	})
	return ok
}

// maxJSONDepth bounds how deeply a request body may nest arrays and
// objects. Glance's decoder and schema validator recurse and fail with a
// 500 somewhere between 250 and 900 levels, depending on the route; no
// Images API document needs more than a handful.
const maxJSONDepth = 128

// validJSONText reports whether body is text Glance can decode and store:
// UTF-8, every \u escape a Unicode scalar value (a surrogate only as the
// high half of a pair followed by its low half), and nested at most
// maxJSONDepth deep. It does not check the JSON syntax: the decoder does,
// and answers malformed JSON with the same message.
func validJSONText(body []byte) bool {
	if !utf8.Valid(body) {
		return false
	}
	depth := 0
	for i := 0; i < len(body); i++ {
		switch body[i] {
		case '[', '{':
			if depth++; depth > maxJSONDepth {
				return false
			}
		case ']', '}':
			depth--
		case '"':
			for i++; i < len(body) && body[i] != '"'; i++ {
				if body[i] != '\\' {
					continue
				}
				if i++; i >= len(body) || body[i] != 'u' {
					continue
				}
				r, ok := hex4(body, i+1)
				if !ok {
					return false
				}
				i += 4
				switch {
				case r >= 0xDC00 && r <= 0xDFFF: // a low half alone
					return false
				case r >= 0xD800 && r <= 0xDBFF: // a high half: its low half must follow
					if i+2 >= len(body) || body[i+1] != '\\' || body[i+2] != 'u' {
						return false
					}
					lo, ok := hex4(body, i+3)
					if !ok || lo < 0xDC00 || lo > 0xDFFF {
						return false
					}
					i += 6
				}
			}
		}
	}
	return true
}

// hex4 decodes the four hex digits at b[i:].
func hex4(b []byte, i int) (rune, bool) {
	if i+4 > len(b) {
		return 0, false
	}
	var r rune
	for _, c := range b[i : i+4] {
		switch {
		case c >= '0' && c <= '9':
			c -= '0'
		case c >= 'a' && c <= 'f':
			c -= 'a' - 10
		case c >= 'A' && c <= 'F':
			c -= 'A' - 10
		default:
			return 0, false
		}
		r = r<<4 | rune(c)
	}
	return r, true
}
