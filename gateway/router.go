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

func (s *Server) serveHTTP(ctx *fasthttp.RequestCtx) { s.serve(ctx, nil) }

// serve answers the request; trace is the context carrying its span, nil
// when tracing is off.
func (s *Server) serve(ctx *fasthttp.RequestCtx, trace *requestTrace) {
	if s.metrics != nil {
		// First deferred, so it runs last: after a panic's 500 is written.
		defer s.metrics.observe(ctx, time.Now())
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
	path := requestPath(ctx)
	if bytes.Equal(path, []byte("/healthcheck")) {
		ctx.SetContentType("text/plain; charset=UTF-8")
		ctx.SetBodyString("OK")
		return
	}
	if !utf8.Valid(path) {
		// Glance's first filter fails on a path that is not UTF-8 once
		// decoded (a 500); it is the client's error, and a region must
		// never see it (text.go).
		writeError(ctx, errUndecodable)
		return
	}

	// Version negotiation, as Glance's VersionNegotiationFilter: "versions"
	// answers the version list; otherwise the version comes from a
	// vnd.openstack.images-vX Accept header or the first path segment, and
	// an unknown one answers 300 with the choices.
	var segs [maxSegments][]byte
	n, ok := segments(path, &segs)
	if n > 0 && bytes.Equal(segs[0], []byte("versions")) {
		s.writeVersions(ctx, fasthttp.StatusOK)
		return
	}
	rest := segs[:n]
	var version []byte
	if accept := ctx.Request.Header.Peek("Accept"); bytes.HasPrefix(accept, []byte(vndPrefix)) {
		version = accept[len(vndPrefix):]
	} else if n > 0 {
		version, rest = segs[0], segs[1:n]
	}
	if !s.servesVersion(version) {
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
	if len(rest) == 0 && n == 1 && path[len(path)-1] != '/' {
		// Routes' redirect of the bare version prefix.
		ctx.Response.Header.Set("Location", hostURL(ctx)+"/"+string(segs[0])+"/")
		ctx.Response.Header.SetContentType("text/plain; charset=utf8")
		ctx.SetStatusCode(302)
		return
	}
	if len(rest) > 0 && path[len(path)-1] == '/' {
		// Glance's routes are strict about trailing slashes.
		ok = false
	}
	if !ok {
		writeError(ctx, errStatus(404, defaultExplanations[404]))
		return
	}
	s.route(c, rest)
}

// route dispatches a /v2 request by its segments (version removed).
func (s *Server) route(c *call, seg [][]byte) {
	m := c.ctx.Method()
	if len(seg) == 0 {
		s.notFound(c)
		return
	}
	switch string(seg[0]) {
	case "images":
		s.routeImages(c, m, seg[1:])
	case "schemas":
		if len(seg) < 2 {
			s.notFound(c)
			return
		}
		if !method(c, m, "GET") {
			return
		}
		s.getSchema(c, seg[1:])
	case "tasks":
		switch len(seg) {
		case 1:
			switch string(m) {
			case "GET":
				s.listTasks(c)
			case "POST":
				s.createTask(c)
			default:
				notAllowed(c, "GET, POST")
			}
		case 2:
			switch string(m) {
			case "GET":
				s.getTask(c, string(seg[1]))
			case "DELETE":
				s.deleteTask(c)
			default:
				notAllowed(c, "GET, DELETE")
			}
		default:
			s.notFound(c)
		}
	case "cache":
		s.routeCache(c, m, seg)
	case "info":
		if len(seg) == 2 || (len(seg) == 3 && string(seg[1]) == "stores" && string(seg[2]) == "detail") {
			if !method(c, m, "GET") {
				return
			}
			s.getInfo(c, seg[1:])
			return
		}
		s.notFound(c)
	default:
		s.notFound(c)
	}
}

func (s *Server) routeImages(c *call, m []byte, seg [][]byte) {
	switch len(seg) {
	case 0:
		switch string(m) {
		case "GET":
			s.listImages(c)
		case "POST":
			s.createImage(c)
		default:
			notAllowed(c, "GET, POST")
		}
		return
	case 1:
		switch string(m) {
		case "GET":
			s.showImage(c, seg[0])
		case "PATCH":
			s.updateImage(c, string(seg[0]))
		case "DELETE":
			s.deleteImage(c, string(seg[0]))
		default:
			notAllowed(c, "GET, PATCH, DELETE")
		}
		return
	}
	id := string(seg[0])
	switch string(seg[1]) {
	case "file":
		if len(seg) != 2 {
			break
		}
		switch string(m) {
		case "GET":
			s.download(c, id)
		case "PUT":
			s.upload(c, id)
		default:
			notAllowed(c, "GET, PUT")
		}
		return
	case "stage":
		if len(seg) != 2 {
			break
		}
		if method(c, m, "PUT") {
			s.stage(c, id)
		}
		return
	case "import":
		if len(seg) != 2 {
			break
		}
		if method(c, m, "POST") {
			s.importImage(c, id)
		}
		return
	case "tasks":
		if len(seg) != 2 {
			break
		}
		if method(c, m, "GET") {
			s.imageTasks(c, id)
		}
		return
	case "actions":
		if len(seg) != 3 {
			break
		}
		switch string(seg[2]) {
		case "deactivate", "reactivate":
			if method(c, m, "POST") {
				s.imageAction(c, id, string(seg[2]))
			}
			return
		}
	case "tags":
		if len(seg) != 3 {
			break
		}
		switch string(m) {
		case "PUT":
			s.addTag(c, id, string(seg[2]))
		case "DELETE":
			s.deleteTag(c, id, string(seg[2]))
		default:
			notAllowed(c, "PUT, DELETE")
		}
		return
	case "members":
		switch len(seg) {
		case 2:
			switch string(m) {
			case "GET":
				s.listMembers(c, id)
			case "POST":
				s.addMember(c, id)
			default:
				notAllowed(c, "GET, POST")
			}
			return
		case 3:
			switch string(m) {
			case "GET":
				s.getMember(c, id, string(seg[2]))
			case "PUT":
				s.updateMember(c, id, string(seg[2]))
			case "DELETE":
				s.deleteMember(c, id, string(seg[2]))
			default:
				notAllowed(c, "GET, PUT, DELETE")
			}
			return
		}
	}
	s.notFound(c)
}

// method answers 405 unless the request's method is want.
func method(c *call, m []byte, want string) bool {
	if string(m) == want {
		return true
	}
	notAllowed(c, want)
	return false
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
