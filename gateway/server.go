package gateway

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/valyala/fasthttp"
	"go.opentelemetry.io/otel/trace"

	"github.com/spyglass-gateway/spyglass/backends/outbound"
	"github.com/spyglass-gateway/spyglass/backends/transfers"
	"github.com/spyglass-gateway/spyglass/gateway/schemas"
	"github.com/spyglass-gateway/spyglass/i18n"
	"github.com/spyglass-gateway/spyglass/logctx"
	"github.com/spyglass-gateway/spyglass/policy"
	"github.com/spyglass-gateway/spyglass/tracing"
)

// Config holds the gateway's settings. The zero value is valid.
type Config struct {
	// SizeCap is the largest image accepted on upload (Glance's
	// image_size_cap); 0 means Glance's default, 1 TiB.
	SizeCap int64
	// MaxJSONBody bounds JSON request bodies (PATCH, create, members);
	// 0 means 1 MiB.
	MaxJSONBody int
	// ImportMethods are the import methods advertised and accepted; nil
	// means glance-direct, web-download and copy-image, as Glance 25.
	ImportMethods []string
	// EnableV1 serves the Images API v1 (Glance Queens' enable_v1_api)
	// over the same catalog: /v1, /v1.0 and /v1.1 routes, and v1.1 and
	// v1.0 listed DEPRECATED in the versions document. False (the zero
	// value) means no v1: a /v1 path names an unknown version (300), as
	// in every Glance since Rocky.
	EnableV1 bool
	// ShowMultipleLocations is Glance's show_multiple_locations: image
	// bodies carry `locations` and a patch may change them; false (the
	// default, as Glance) hides them and refuses such a patch (403).
	ShowMultipleLocations bool
	// ShowImageDirectURL is Glance's show_image_direct_url: the body of
	// an image with a location carries `direct_url`; false (the default,
	// as Glance) leaves it out.
	ShowImageDirectURL bool
	// ImageCache is the image data cache /v2/cache manages; nil means this
	// gateway caches no image data and the cache API answers Glance's 404
	// "Caching via API is not supported at this site.".
	ImageCache ImageCache
	// Policy is the compiled authorization rules; nil means Glance 25's
	// legacy defaults, which is what a Glance with no policy configuration
	// enforces (config's `policy` section defaults to the current ones).
	Policy *policy.Policy
	// Logger receives the access log and errors; nil means slog.Default().
	// Its handler should be a logctx.Handler: the access log line holds
	// the request's URI as sent (userinfo, a signed query string), which
	// that handler redacts.
	Logger *slog.Logger
	// Metrics counts the requests (MetricRequestDuration,
	// MetricImageBytesSent, MetricDownloadsCut) for an OpenTelemetry
	// reader; nil means none are recorded, at no cost.
	Metrics *RequestMetrics
	// ReadTimeout bounds reading a request's headers and a JSON body, and
	// IdleTimeout keep-alive idleness; 0 means 5 minutes and 2 minutes.
	// Uploads stream and are not bounded by ReadTimeout as a whole: it
	// bounds each wait for the client's next bytes.
	ReadTimeout, IdleTimeout time.Duration
	// Tracing makes a server span per request (tracing.go); nil means no
	// tracing: no spans, and nothing allocated for them.
	Tracing trace.TracerProvider
	// ImportFilter decides at request time which web-download URIs are
	// refused with 400 (Glance's [import_filtering_opts]); the fetch checks
	// again. nil means Glance's defaults (outbound.Default()).
	ImportFilter URLChecker
	// Catalogs are the message catalogs (i18n.Load) from which a client
	// sending Accept-Language gets its messages translated; nil means every
	// message is English, whatever the header says.
	Catalogs *i18n.Catalogs
	// Transfers bounds the v1 copy-from copies (and whatever else the
	// gateway fetches for a tenant) with the regions' web-downloads: give
	// them the same *transfers.Limiter. nil means a limiter of the
	// gateway's own with transfers' defaults.
	Transfers TransferLimiter
}

// TransferLimiter runs a transfer a tenant of project started when its
// bounds allow, and returns without running it when they refuse it or ctx
// ends first; *transfers.Limiter is one.
type TransferLimiter interface {
	Do(ctx context.Context, project string, transfer func(ctx context.Context) error) error
}

// URLChecker says whether a URI a tenant gives may be fetched;
// *outbound.Fetcher is one.
type URLChecker interface {
	CheckURL(raw string) error
}

const defaultSizeCap = 1 << 40

// Server is the Images API HTTP server.
type Server struct {
	cfg     Config
	cat     Catalog
	auth    policy.Authenticator
	pol     atomic.Pointer[policy.Policy]
	log     *slog.Logger
	srv     *fasthttp.Server
	render  renderCache
	importM string          // comma-joined ImportMethods, for the header
	metrics *RequestMetrics // nil: none recorded
	tracer  trace.Tracer    // nil: tracing off

	mu        sync.Mutex
	listeners []net.Listener

	// versions is what the versions document lists and negotiation
	// accepts (servedVersions).
	versions []schemas.Version

	// catalogs are the message catalogs in force (SetCatalogs swaps
	// them); nil: English only.
	catalogs atomic.Pointer[i18n.Catalogs]

	// copies are the v1 copy-from copies running (v1source.go).
	copies v1Copies
}

// New validates cfg and returns a server for cat (gateway.CatalogOf(store)
// for a store that serves every resource).
func New(cfg Config, cat Catalog, auth policy.Authenticator) (*Server, error) {
	if err := cat.check(); err != nil {
		return nil, err
	}
	if cfg.EnableV1 && cat.V1Members == nil {
		return nil, errors.New("gateway: EnableV1 needs the v1 members: Catalog.V1Members is nil (it needs a gateway.V1Members)")
	}
	if auth == nil {
		return nil, errors.New("gateway: nil Authenticator")
	}
	if cfg.SizeCap < 0 {
		return nil, fmt.Errorf("gateway: SizeCap %d: must be >= 0 (0 means 1 TiB)", cfg.SizeCap)
	}
	if cfg.SizeCap == 0 {
		cfg.SizeCap = defaultSizeCap
	}
	if cfg.MaxJSONBody <= 0 {
		cfg.MaxJSONBody = 1 << 20
	}
	if cfg.ImportMethods == nil {
		cfg.ImportMethods = []string{"glance-direct", "web-download", "copy-image"}
	}
	if cfg.Policy == nil {
		cfg.Policy = legacyPolicy
	}
	if cfg.ImportFilter == nil {
		cfg.ImportFilter = outbound.Default()
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.Transfers == nil {
		l, err := transfers.New(transfers.Options{})
		if err != nil {
			return nil, err
		}
		cfg.Transfers = l
	}
	if cfg.ReadTimeout == 0 {
		cfg.ReadTimeout = 5 * time.Minute
	}
	if cfg.IdleTimeout == 0 {
		cfg.IdleTimeout = 2 * time.Minute
	}
	s := &Server{cfg: cfg, cat: cat, auth: auth, log: cfg.Logger, metrics: cfg.Metrics}
	s.pol.Store(cfg.Policy)
	s.catalogs.Store(cfg.Catalogs)
	s.versions = servedVersions(&cfg)
	for i, m := range cfg.ImportMethods {
		if i > 0 {
			s.importM += ","
		}
		s.importM += m
	}
	s.render.init()
	s.render.view = locationView{multiple: cfg.ShowMultipleLocations, direct: cfg.ShowImageDirectURL}
	handler := s.serveHTTP
	if cfg.Tracing != nil {
		s.tracer = cfg.Tracing.Tracer(tracing.Scope)
		handler = s.serveTraced
	}
	s.srv = &fasthttp.Server{
		Handler:                       handler,
		Name:                          "",
		NoDefaultServerHeader:         true,
		NoDefaultContentType:          true,
		NoDefaultDate:                 false,
		DisablePreParseMultipartForm:  true,
		StreamRequestBody:             true,
		MaxRequestBodySize:            cfg.MaxJSONBody,
		ReadTimeout:                   cfg.ReadTimeout,
		IdleTimeout:                   cfg.IdleTimeout,
		DisableHeaderNamesNormalizing: false,
		CloseOnShutdown:               true,
		ReadBufferSize:                16 << 10,
		// fasthttp's parse errors would hold the whole header buffer.
		SecureErrorLogMessage: true,
		Logger:                fasthttpLogger{cfg.Logger},
	}
	return s, nil
}

var legacyPolicy = policy.MustNew(policy.Options{Defaults: policy.Legacy})

// Serve accepts connections on ln until Shutdown; it returns nil after a
// Shutdown. On a TCP listener each connection is a clientConn: answers
// given before a request's body was read reach the client, and a chunked
// upload cut off is told from a complete one.
func (s *Server) Serve(ln net.Listener) error {
	err := s.srv.Serve(clientListener{ln})
	if err != nil && isClosed(err) {
		return nil
	}
	return err
}

// Shutdown stops accepting connections and waits for in-flight requests,
// uploads included, to finish, or for ctx to end; then it stops the v1
// copy-from copies still running (their images end killed) and waits for
// them, or for ctx to end.
func (s *Server) Shutdown(ctx context.Context) error {
	err := s.srv.ShutdownWithContext(ctx)
	s.copies.stop(ctx) // after the requests, which may start copies
	return err
}

// SetPolicy replaces the authorization rules (a policy file reloaded on
// SIGHUP): requests that start after it use p; those in flight finish
// under the rules they started with. nil is ignored.
func (s *Server) SetPolicy(p *policy.Policy) {
	if p != nil {
		s.pol.Store(p)
	}
}

// Handler exposes the request handler, for tests and benchmarks that drive
// the server in memory.
func (s *Server) Handler() fasthttp.RequestHandler { return s.srv.Handler }

func isClosed(err error) bool {
	return errors.Is(err, net.ErrClosed)
}

// fasthttpLogger writes fasthttp's own messages: a connection it could
// not serve, mostly a request it could not parse. Those quote the bytes it
// choked on (the header line, the request line), where a token can be
// anything, malformed included: every quoted string of an error or string
// argument is replaced by its length (logctx.RedactQuoted). Addresses are
// net.Addr arguments and stay.
type fasthttpLogger struct{ l *slog.Logger }

func (f fasthttpLogger) Printf(format string, args ...any) {
	safe := make([]any, len(args))
	for i, a := range args {
		switch v := a.(type) {
		case error:
			safe[i] = logctx.RedactQuoted(v.Error())
		case string:
			safe[i] = logctx.RedactQuoted(v)
		case []byte:
			safe[i] = logctx.RedactQuoted(string(v))
		default:
			safe[i] = a
		}
	}
	f.l.Warn(fmt.Sprintf(format, safe...), "component", "fasthttp")
}

// logInternal keeps err, the cause of a 500, for serve to log with the
// server's logger (Config.Logger) once the handler returns: errors are
// written where no *Server is at hand.
func logInternal(ctx *fasthttp.RequestCtx, err error) {
	ctx.SetUserValue(internalErrorKey, err)
}

var internalErrorKey = struct{ name string }{"gateway.internal_error"}

// logInternalError logs the cause of the request's 500, if any.
func (s *Server) logInternalError(ctx *fasthttp.RequestCtx) {
	if err, ok := ctx.UserValue(internalErrorKey).(error); ok {
		s.log.Error("internal error", "method", string(ctx.Method()), "path", string(ctx.Path()),
			logctx.Attr, string(ctx.Response.Header.PeekBytes(hdrRequestID)), "err", err)
	}
}

// logAccess writes the access log line, at debug level: one line per
// request is an operator's choice (log.level: debug), and when it is off
// this costs one level check. The duration is to the response's start: a
// streamed body is still being sent.
func (s *Server) logAccess(ctx *fasthttp.RequestCtx) {
	if !s.log.Enabled(context.Background(), slog.LevelDebug) {
		return
	}
	s.log.LogAttrs(context.Background(), slog.LevelDebug, "request",
		slog.String("method", string(ctx.Method())),
		slog.String("path", string(ctx.RequestURI())),
		slog.Int("status", ctx.Response.StatusCode()),
		slog.Int("bytes", bodySize(&ctx.Response)),
		slog.Duration("duration", time.Since(ctx.Time())),
		slog.String("remote", ctx.RemoteIP().String()),
		slog.String(logctx.Attr, string(ctx.Response.Header.PeekBytes(hdrRequestID))))
}

// bodySize is the response body's length: a streamed body's declared
// Content-Length (-1: chunked).
func bodySize(r *fasthttp.Response) int {
	if r.IsBodyStream() {
		return r.Header.ContentLength()
	}
	return len(r.Body())
}

// clientRequestID is the client's X-Openstack-Request-Id when Glance would
// take it (not over max_request_id_length; a longer one gets a 431 from the
// authenticator), else nil.
func clientRequestID(h *fasthttp.RequestHeader) []byte {
	id := h.PeekBytes(hdrRequestID)
	if len(id) > maxRequestIDLength {
		return nil
	}
	return id
}

// maxRequestIDLength is Glance's max_request_id_length default.
const maxRequestIDLength = 64

// setRequestID gives the response Glance's request id: the client's own
// X-Openstack-Request-Id when it sent one, else req-<uuid4>.
func setRequestID(ctx *fasthttp.RequestCtx, clientID []byte) {
	if len(clientID) > 0 {
		ctx.Response.Header.SetCanonical(hdrRequestID, clientID)
		return
	}
	var buf [40]byte
	copy(buf[:4], "req-")
	randomUUID((*[36]byte)(buf[4:]))
	ctx.Response.Header.SetCanonical(hdrRequestID, buf[:])
}

// randomUUID writes a random version-4 UUID (math/rand/v2's generator: ids
// need to be unique, not secret).
func randomUUID(dst *[36]byte) {
	a, b := rand.Uint64(), rand.Uint64()
	var u [16]byte
	for i := 0; i < 8; i++ {
		u[i] = byte(a >> (8 * i))
		u[8+i] = byte(b >> (8 * i))
	}
	u[6] = u[6]&0x0f | 0x40
	u[8] = u[8]&0x3f | 0x80
	encodeUUID(dst[:], &u)
}

func encodeUUID(dst []byte, u *[16]byte) {
	j := 0
	for i, c := range u {
		if i == 4 || i == 6 || i == 8 || i == 10 {
			dst[j] = '-'
			j++
		}
		dst[j] = hexDigits[c>>4]
		dst[j+1] = hexDigits[c&0xf]
		j += 2
	}
}

// newUUID returns a random version-4 UUID string (image ids).
func newUUID() string {
	var buf [36]byte
	randomUUID(&buf)
	return string(buf[:])
}

var (
	hdrRequestID = []byte("X-Openstack-Request-Id")
)
