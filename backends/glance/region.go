// Package glance is a remote Glance v2 region behind Spyglass: metadata
// calls through gophercloud, image data through a pooled fasthttp client
// that streams. Every call carries the caller's identity (its Keystone token,
// or the trusted identity headers), so the region decides what the caller
// may see and do exactly as it would for the caller directly; a circuit
// breaker makes a dead or hanging region fail fast once it has failed
// repeatedly, and only the region's own failures count: a client's error
// (a 4xx, a client gone, a client's broken upload) never does.
package glance

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gophercloud/gophercloud/v2"
	"github.com/sony/gobreaker/v2"
	"github.com/valyala/fasthttp"

	"github.com/spyglass-gateway/spyglass/backends"
	"github.com/spyglass-gateway/spyglass/tracing"
)

// Config describes one remote region.
type Config struct {
	// Name is the region's name, the store id clients see.
	Name string
	// Endpoint is the region's Images API URL, e.g. http://127.0.0.1:9292.
	Endpoint string
	// ConnectTimeout bounds connecting (default 5s). ReadTimeout bounds
	// waiting for an answer and every stall of a stream (default 30s).
	ConnectTimeout, ReadTimeout time.Duration
	// BreakerOpen is how long the breaker stays open after the region
	// failed (see breakerTrips), before one probe may pass (default 5s).
	BreakerOpen time.Duration
	// MaxConns bounds the connections to the region (default 512).
	MaxConns int
	// Logger receives breaker state changes; nil: slog.Default().
	Logger *slog.Logger
}

// Region is a remote Glance v2 region. It satisfies the gateway's and the
// federation's contracts (Images, ImageData, Members, Tasks, Stores).
type Region struct {
	name    string
	base    string // endpoint without a trailing slash
	sc      *gophercloud.ServiceClient
	http    *http.Client
	upload  *http.Client // PUT /file and /stage (uploadConn)
	data    *fasthttp.Client
	breaker *gobreaker.CircuitBreaker[*http.Response]
	// serverErrors tells the 5xx answers one project alone gets from
	// those several projects get.
	serverErrors serverErrors
	// memberAdds serialize AddMember per image (striped by image id).
	memberAdds [64]sync.Mutex
	readTO     time.Duration
	log        *slog.Logger
	// shows and stores are what the region says of its locations
	// (locations.go).
	shows  atomic.Int32
	stores storesInfo
}

// New validates cfg and returns the region. It does not contact it.
func New(cfg Config) (*Region, error) {
	if cfg.Name == "" {
		return nil, errors.New("glance region: no name")
	}
	u, err := url.Parse(cfg.Endpoint)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("glance region %s: endpoint %q is not an http(s) URL", cfg.Name, cfg.Endpoint)
	}
	if cfg.ConnectTimeout <= 0 {
		cfg.ConnectTimeout = 5 * time.Second
	}
	if cfg.ReadTimeout <= 0 {
		cfg.ReadTimeout = 30 * time.Second
	}
	if cfg.BreakerOpen <= 0 {
		cfg.BreakerOpen = 5 * time.Second
	}
	if cfg.MaxConns <= 0 {
		cfg.MaxConns = 512
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	base := strings.TrimRight(cfg.Endpoint, "/")
	dial := &net.Dialer{Timeout: cfg.ConnectTimeout, KeepAlive: 30 * time.Second}
	transport := &http.Transport{
		DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			c, err := dial.DialContext(ctx, network, addr)
			if err != nil {
				return nil, err
			}
			return &stallConn{Conn: c, stall: cfg.ReadTimeout}, nil
		},
		MaxIdleConnsPerHost:   cfg.MaxConns,
		MaxConnsPerHost:       cfg.MaxConns,
		ResponseHeaderTimeout: cfg.ReadTimeout,
		IdleConnTimeout:       90 * time.Second,
	}
	// An upload's connection bounds stalls of the body's writes only: the
	// region answers once it has read the whole body, however long the
	// client takes to send it, and ResponseHeaderTimeout bounds the wait
	// for that answer. (The transport reads the connection for the answer
	// from the start: a read stall bound would end any upload slower than
	// it.)
	uploads := &http.Transport{
		DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			c, err := dial.DialContext(ctx, network, addr)
			if err != nil {
				return nil, err
			}
			return &uploadConn{Conn: c, stall: cfg.ReadTimeout}, nil
		},
		MaxIdleConnsPerHost:   cfg.MaxConns,
		MaxConnsPerHost:       cfg.MaxConns,
		ResponseHeaderTimeout: cfg.ReadTimeout,
		IdleConnTimeout:       90 * time.Second,
	}
	// Every metadata call and upload carries the caller's trace context
	// (traceparent), so the region's own spans join the trace.
	hc := &http.Client{Transport: &tracing.Transport{Base: transport}}
	provider := &gophercloud.ProviderClient{HTTPClient: *hc}
	r := &Region{
		name:   cfg.Name,
		base:   base,
		sc:     &gophercloud.ServiceClient{ProviderClient: provider, Endpoint: base + "/v2/", Type: "image"},
		http:   hc,
		upload: &http.Client{Transport: &tracing.Transport{Base: uploads}},
		readTO: cfg.ReadTimeout,
		log:    cfg.Logger.With("region", cfg.Name),
		data: &fasthttp.Client{
			Name:               "spyglass",
			MaxConnsPerHost:    cfg.MaxConns,
			StreamResponseBody: true,
			// No overall read timeout: an image streams for as long as it
			// takes; stallConn bounds each stall instead.
			Dial: func(addr string) (net.Conn, error) {
				c, err := fasthttp.DialTimeout(addr, cfg.ConnectTimeout)
				if err != nil {
					return nil, err
				}
				return &stallConn{Conn: c, stall: cfg.ReadTimeout}, nil
			},
			MaxIdleConnDuration:           90 * time.Second,
			DisableHeaderNamesNormalizing: false,
			// A pooled connection the region closed meanwhile is worth one
			// more try on a new one; a region that timed out is not:
			// fasthttp's default (5 attempts of any GET) made one call to
			// a hung region wait five timeouts.
			RetryIfErr: func(_ *fasthttp.Request, attempts int, err error) (bool, bool) {
				return false, attempts < 2 && !isTimeout(err)
			},
		},
	}
	r.breaker = gobreaker.NewCircuitBreaker[*http.Response](gobreaker.Settings{
		Name:         cfg.Name,
		MaxRequests:  1,
		Interval:     breakerWindow,
		BucketPeriod: breakerBucket,
		Timeout:      cfg.BreakerOpen,
		ReadyToTrip:  breakerTrips,
		// A failure is the region's: no connection, a timeout, a 5xx. A
		// 4xx is the region answering. What tells nothing about the region
		// either way (execute) is not counted at all.
		IsSuccessful: func(err error) bool { return err == nil || !isUnavailable(err) },
		IsExcluded:   func(err error) bool { return errors.As(err, new(*uncounted)) },
		OnStateChange: func(name string, from, to gobreaker.State) {
			r.log.Warn("region circuit breaker", "from", from.String(), "to", to.String())
		},
	})
	return r, nil
}

// Name is the region's name.
func (r *Region) Name() string { return r.name }

// Stores lists the one store this region is.
func (r *Region) Stores() []string { return []string{r.name} }

// BreakerState reports the circuit breaker's state: closed, half-open or
// open.
func (r *Region) BreakerState() string { return r.breaker.State().String() }

// stallConn bounds every read and write by the stall timeout from its
// start, so a stream may last as long as it keeps moving.
type stallConn struct {
	net.Conn
	stall time.Duration
}

func (c *stallConn) Read(p []byte) (int, error) {
	c.Conn.SetReadDeadline(time.Now().Add(c.stall))
	return c.Conn.Read(p)
}

func (c *stallConn) Write(p []byte) (int, error) {
	c.Conn.SetWriteDeadline(time.Now().Add(c.stall))
	return c.Conn.Write(p)
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.Is(err, fasthttp.ErrTimeout) || (errors.As(err, &ne) && ne.Timeout())
}

// uploadConn bounds every write by the stall timeout from its start, and
// no read: see the upload transport in New.
type uploadConn struct {
	net.Conn
	stall time.Duration
}

func (c *uploadConn) Write(p []byte) (int, error) {
	c.Conn.SetWriteDeadline(time.Now().Add(c.stall))
	return c.Conn.Write(p)
}

// identity is the caller's identity as the region must see it.
func identity(ctx context.Context) map[string]string {
	h := map[string]string{"Accept": "application/json"}
	if extra, ok := ctx.Value(extraHeaderKey{}).([2]string); ok {
		h[extra[0]] = extra[1]
	}
	c := backends.CallerFrom(ctx)
	if c == nil {
		return h
	}
	if c.RequestID != "" {
		h["X-Openstack-Request-Id"] = c.RequestID
	}
	if c.Token != "" {
		h["X-Auth-Token"] = c.Token
		return h
	}
	h["X-Identity-Status"] = "Confirmed"
	if c.User != "" {
		h["X-User-Id"] = c.User
	}
	if c.Project != "" {
		h["X-Project-Id"] = c.Project
		h["X-Tenant-Id"] = c.Project
	}
	roles := c.Roles
	if c.Admin && !contains(roles, "admin") {
		roles = append(append([]string(nil), roles...), "admin")
	}
	if len(roles) > 0 {
		h["X-Roles"] = strings.Join(roles, ",")
	}
	return h
}

// lookupCtx is the context for the reads the gateway makes before it
// decides anything itself (an image or a membership looked up for a
// download, a patch, a visibility check): the region must filter by
// visibility only, as Glance's own handlers do with their repository get,
// not apply its get_image or get_member rule — the gateway applies those
// (a caller with only the member role may still download an image its
// project owns, though it may not show it). In trusted mode the region is
// therefore told the caller also holds the reader role; a Keystone token is
// forwarded as it is (Keystone's implied roles already give members reader).
func lookupCtx(ctx context.Context) context.Context {
	c := backends.CallerFrom(ctx)
	if c == nil || c.Token != "" || contains(c.Roles, "reader") {
		return ctx
	}
	cc := *c
	cc.Roles = append(append(make([]string, 0, len(c.Roles)+1), c.Roles...), "reader")
	return backends.WithCaller(ctx, &cc)
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

// call is one metadata request through the breaker. ok are the statuses
// that mean success; any other status is mapped by remoteError. The
// response body has been read into body.
func (r *Region) call(ctx context.Context, method, path string, reqBody any, contentType string, ok ...int) (body []byte, resp *http.Response, err error) {
	ctx, span := r.startSpan(ctx, "region.metadata", method, path)
	defer func() {
		status := 0
		if resp != nil {
			status = resp.StatusCode
		}
		endSpan(span, status, err)
	}()
	opts := &gophercloud.RequestOpts{MoreHeaders: identity(ctx), OkCodes: ok, KeepResponseBody: true}
	switch b := reqBody.(type) {
	case nil:
	case []byte:
		opts.RawBody = bytes.NewReader(b)
		opts.MoreHeaders["Content-Type"] = contentType
	default:
		opts.JSONBody = b
	}
	resp, err = r.execute(ctx, func() (*http.Response, error) {
		resp, err := r.sc.Request(ctx, method, r.base+path, opts)
		return resp, r.mapErr(err)
	})
	if err != nil {
		return nil, nil, err
	}
	defer resp.Body.Close()
	body, err = io.ReadAll(resp.Body)
	if err != nil {
		return nil, nil, fmt.Errorf("region %s: reading the answer to %s %s: %v: %w", r.name, method, path, err, errUnavailable)
	}
	return body, resp, nil
}

// mapErr maps a transport or status error from gophercloud.
func (r *Region) mapErr(err error) error {
	if err == nil {
		return nil
	}
	var code gophercloud.ErrUnexpectedResponseCode
	if errors.As(err, &code) {
		return remoteError(r.name, code.Actual, code.Body)
	}
	if errors.Is(err, context.Canceled) {
		return err
	}
	return fmt.Errorf("region %s: %v: %w", r.name, err, errUnavailable)
}

// breakerErr turns the breaker's own refusals into 503s.
func (r *Region) breakerErr(err error) error {
	if errors.Is(err, gobreaker.ErrOpenState) || errors.Is(err, gobreaker.ErrTooManyRequests) {
		return fmt.Errorf("region %s: circuit open: %w", r.name, errUnavailable)
	}
	return err
}

func decodeOne[T any](body []byte) (*T, error) {
	var v T
	if err := json.Unmarshal(body, &v); err != nil {
		return nil, err
	}
	return &v, nil
}
