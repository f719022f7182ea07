package gateway

import (
	"bytes"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/valyala/fasthttp"

	"github.com/spyglass-gateway/spyglass/backends"
	"github.com/spyglass-gateway/spyglass/logctx"
	"github.com/spyglass-gateway/spyglass/policy"
)

// call is one authenticated request on its way through a handler. It is
// the context.Context the handlers hand the catalog: the request's
// deadline and cancellation, plus the caller (backends.CallerFrom), which a
// remote region needs on every call. Being its own context spares a
// context.WithValue allocation per request.
type call struct {
	ctx *fasthttp.RequestCtx
	id  policy.Identity
	pol *policy.Policy // the rules when the request came in (SetPolicy swaps them)

	// rid is the request id, copied once it is final: log lines may be
	// written from the catalog's goroutines while the handler sets headers.
	rid    [maxRequestIDLength + 4]byte
	ridLen uint8

	who    backends.Caller
	hasWho bool

	// trace carries the request's span (tracing.go); nil when tracing is
	// off. A pointer, not the context itself: call stays in its
	// allocation size class, so tracing off costs no byte.
	trace *requestTrace
}

func (c *call) Deadline() (time.Time, bool) { return c.ctx.Deadline() }
func (c *call) Done() <-chan struct{}       { return c.ctx.Done() }
func (c *call) Err() error                  { return c.ctx.Err() }

// Value answers backends.CallerKey with the caller, built on first use
// (handlers run on one goroutine; a catalog that asks regions from several
// goroutines looks the caller up once before it starts them, and work that
// outlives the request takes a copy).
func (c *call) Value(key any) any {
	if key == backends.CallerKey {
		if !c.hasWho {
			c.who, c.hasWho = c.caller(), true
		}
		return &c.who
	}
	if key == backends.NotesKey || key == logctx.Key {
		return c
	}
	// Nothing else: fasthttp's Value reads the request's user values,
	// which the handler writes while a region call's transport may be
	// asking this context for its cancel parent from another goroutine.
	// The request's span lives in an immutable context of its own.
	if c.trace != nil {
		return c.trace.ctx.Value(key)
	}
	return nil
}

// MissingRegions names, in the response, the regions a listing was
// answered without (federation.on_region_failure: answer).
func (c *call) MissingRegions(names []string) {
	c.ctx.Response.Header.Set("X-Spyglass-Missing-Regions", strings.Join(names, ","))
}

// RequestID is the request's id for log lines (logctx.IDer), asked only
// when a line is written.
func (c *call) RequestID() string {
	return string(c.rid[:c.ridLen])
}

// caller is the identity as the catalog sees it, with the request id that
// tasks record.
func (c *call) caller() backends.Caller {
	cl := c.id.Caller()
	cl.RequestID = string(c.ctx.Response.Header.Peek("X-Openstack-Request-Id"))
	return cl
}

const maxSegments = 8

// segments splits a path into at most maxSegments non-empty segments
// without allocating; ok is false when there are more.
func segments(path []byte, out *[maxSegments][]byte) (n int, ok bool) {
	for len(path) > 0 {
		if path[0] == '/' {
			path = path[1:]
			continue
		}
		end := bytes.IndexByte(path, '/')
		if end < 0 {
			end = len(path)
		}
		if n == maxSegments {
			return n, false
		}
		out[n] = path[:end]
		n++
		path = path[end:]
	}
	return n, true
}

const vndPrefix = "application/vnd.openstack.images-"

// maxRequestLine is eventlet.wsgi's MAX_REQUEST_LINE, the url_length_limit
// Glance's server runs with: a request line of this many bytes or more,
// CRLF included, is answered 414 before anything else. Spyglass answers
// the same requests the same way on every topology, and a listing it
// forwards never has to be longer than the one it was sent by much (see
// backends/glance: encodeListQuery).
const maxRequestLine = 8192

// requestLineTooLong reports whether the request line ("METHOD URI
// PROTOCOL" and CRLF) reaches maxRequestLine.
func requestLineTooLong(ctx *fasthttp.RequestCtx) bool {
	h := &ctx.Request.Header
	return len(h.Method())+1+len(h.RequestURI())+1+len(h.Protocol())+2 >= maxRequestLine
}

// requestPath is the request's path as Glance's WSGI server hands it to its
// routes: percent-decoded, and nothing else. fasthttp's Path also removes
// dot-segments ("/v2/schemas/../images" is /v2/images to it); Glance
// routes "." and ".." as the names they are, so "/v2/schemas/../images"
// matches no route (404) and "/./v2/images" names no version (300). Only a
// path holding a dot, plain or encoded, can differ, so the common case
// costs two byte searches and no allocation.
func requestPath(ctx *fasthttp.RequestCtx) []byte {
	orig := ctx.URI().PathOriginal()
	if bytes.IndexByte(orig, '.') < 0 && !hasEncodedDot(orig) {
		return ctx.Path()
	}
	out := make([]byte, 0, len(orig))
	for i := 0; i < len(orig); i++ {
		if c := orig[i]; c == '%' && i+2 < len(orig) && isHex(orig[i+1]) && isHex(orig[i+2]) {
			out = append(out, unhex(orig[i+1])<<4|unhex(orig[i+2]))
			i += 2
			continue
		}
		out = append(out, orig[i])
	}
	if len(out) == 0 || out[0] != '/' {
		out = append([]byte{'/'}, out...)
	}
	return out
}

// hasEncodedDot reports whether p holds "%2e" or "%2E".
func hasEncodedDot(p []byte) bool {
	for i := bytes.IndexByte(p, '%'); i >= 0 && i+2 < len(p); {
		if p[i+1] == '2' && (p[i+2] == 'e' || p[i+2] == 'E') {
			return true
		}
		j := bytes.IndexByte(p[i+1:], '%')
		if j < 0 {
			return false
		}
		i += 1 + j
	}
	return false
}

func isHex(c byte) bool {
	return '0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F'
}

func unhex(c byte) byte {
	switch {
	case c <= '9':
		return c - '0'
	case c <= 'F':
		return c - 'A' + 10
	}
	return c - 'a' + 10
}

func (s *Server) serveHTTP(ctx *fasthttp.RequestCtx) {
	var rv resolved
	s.resolve(ctx, &rv)
	s.serve(ctx, &rv, nil)
}

// serve answers the request by its route, resolved once (resolve); trace
// is the context carrying its span, nil when tracing is off.
func (s *Server) serve(ctx *fasthttp.RequestCtx, rv *resolved, trace *requestTrace) {
	if s.metrics != nil {
		// First deferred, so it runs last: after a panic's 500 is written.
		defer s.metrics.observe(ctx, rv.id, time.Now())
	}
	defer func() {
		if r := recover(); r != nil {
			s.log.Error("panic in handler", "method", string(ctx.Method()), "path", string(ctx.Path()), "panic", fmt.Sprint(r),
				logctx.Attr, string(ctx.Response.Header.PeekBytes(hdrRequestID)))
			writeError(ctx, errStatus(500, defaultExplanations[500]))
		}
		s.logInternalError(ctx)
		s.logAccess(ctx)
	}()
	if ctx.Request.IsBodyStream() {
		noteStreamedBody(ctx)
	}
	if requestLineTooLong(ctx) {
		// eventlet's answer, before Glance sees the request: no body, no
		// request id, and the connection closed.
		ctx.SetStatusCode(fasthttp.StatusRequestURITooLong)
		ctx.SetConnectionClose()
		return
	}
	// The id is final before anything can log: the client's own when it
	// sent one (every authenticator takes it from this header), else a new
	// one.
	setRequestID(ctx, clientRequestID(&ctx.Request.Header))
	s.noteCatalogs(ctx)
	if rv.out == outHealthcheck {
		ctx.SetContentType("text/plain; charset=UTF-8")
		ctx.SetBodyString("OK")
		return
	}
	if !utf8.Valid(rv.path) {
		// Glance's first filter fails on a path that is not UTF-8 once
		// decoded (a 500); it is the client's error, and a region must
		// never see it (text.go).
		writeError(ctx, errUndecodable)
		return
	}
	switch rv.out {
	case outVersions:
		s.writeVersions(ctx, fasthttp.StatusOK)
		return
	case outChoices:
		s.writeVersions(ctx, fasthttp.StatusMultipleChoices)
		return
	}

	auth := s.auth.Authenticate
	c := &call{ctx: ctx, pol: s.pol.Load(), trace: trace}
	c.ridLen = uint8(copy(c.rid[:], ctx.Response.Header.PeekBytes(hdrRequestID)))
	var err error
	c.id, err = auth(c, &ctx.Request.Header)
	if err != nil {
		writeError(ctx, err)
		return
	}
	if !c.id.IsAdmin {
		// glance.context.RequestContext: is_admin from context_is_admin.
		c.id.IsAdmin = c.pol.IsAdmin(&c.id)
	}
	switch rv.out {
	case outRoute:
		rv.route.handle(s, c, rv.args)
	case outNotAllowed:
		notAllowed(c, rv.route.allow)
	case outBareVersion:
		if rv.first != nil {
			// Routes' redirect of the bare version prefix.
			ctx.Response.Header.Set("Location", hostURL(ctx)+"/"+string(rv.first)+"/")
			ctx.Response.Header.SetContentType("text/plain; charset=utf8")
			ctx.SetStatusCode(302)
			return
		}
		s.notFound(c)
	default:
		s.notFound(c)
	}
}

func notAllowed(c *call, allow string) {
	ctx := c.ctx
	ctx.Response.Header.Set("Allow", allow)
	// webob's HTTPMethodNotAllowed has its own body template.
	writeErrorBody(ctx, 405, "The method "+string(ctx.Method())+" is not allowed for this resource. ", "", tplMethod)
}

func (s *Server) notFound(c *call) {
	writeError(c.ctx, errStatus(404, defaultExplanations[404]))
}
