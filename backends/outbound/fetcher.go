package outbound

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"syscall"
	"time"
)

// Resolver looks host names up; *net.Resolver is one.
type Resolver interface {
	LookupNetIP(ctx context.Context, network, host string) ([]netip.Addr, error)
}

// Options configure a Fetcher. Every zero value means the default given.
type Options struct {
	// Filter says which URLs may be fetched. The zero Filter allows any
	// http or https URL on any port (still refusing encoded and internal
	// addresses); GlanceDefaults() is Glance's configuration default.
	Filter Filter
	// Resolver looks hosts up once per connection. nil: net.DefaultResolver.
	Resolver Resolver
	// MaxRedirects bounds the redirects followed per fetch. 0: 10 (as
	// Python's urllib, which Glance uses); negative: none are followed.
	MaxRedirects int
	// ConnectTimeout bounds one TCP connect. 0: 10s.
	ConnectTimeout time.Duration
	// ResponseHeaderTimeout bounds the wait for a response's headers once
	// the request is sent. 0: 60s.
	ResponseHeaderTimeout time.Duration
}

// Fetcher fetches tenants' URLs through the filter. It is safe for
// concurrent use.
type Fetcher struct {
	rules        *rules
	resolver     Resolver
	maxRedirects int
	connect      time.Duration
	client       *http.Client

	// dialAddr connects to one checked address; tests replace it to see
	// which addresses are dialled.
	dialAddr func(ctx context.Context, d *net.Dialer, network, addr string) (net.Conn, error)
}

// New validates o.Filter (an error names each bad entry) and returns a
// Fetcher.
func New(o Options) (*Fetcher, error) {
	r, err := compile(o.Filter)
	if err != nil {
		return nil, err
	}
	f := &Fetcher{rules: r, resolver: o.Resolver, maxRedirects: o.MaxRedirects, connect: o.ConnectTimeout}
	if f.resolver == nil {
		f.resolver = net.DefaultResolver
	}
	if f.maxRedirects == 0 {
		f.maxRedirects = 10
	}
	if f.connect == 0 {
		f.connect = 10 * time.Second
	}
	header := o.ResponseHeaderTimeout
	if header == 0 {
		header = 60 * time.Second
	}
	f.dialAddr = func(ctx context.Context, d *net.Dialer, network, addr string) (net.Conn, error) {
		return d.DialContext(ctx, network, addr)
	}
	f.client = &http.Client{
		Transport: &http.Transport{
			Proxy:                 nil, // a proxy would resolve hosts itself, past the address check
			DialContext:           f.dial,
			ForceAttemptHTTP2:     true,
			TLSHandshakeTimeout:   15 * time.Second,
			ResponseHeaderTimeout: header,
			MaxIdleConns:          16,
			IdleConnTimeout:       90 * time.Second,
		},
		CheckRedirect: f.checkRedirect,
	}
	return f, nil
}

// Default is a Fetcher with GlanceDefaults(), for callers given none.
func Default() *Fetcher {
	f, err := New(Options{Filter: GlanceDefaults()})
	if err != nil {
		panic(err) // GlanceDefaults is valid
	}
	return f
}

// CheckURL checks a URL as a tenant gave it, without DNS: what can be
// refused at request time. The error is a *RefusedError.
func (f *Fetcher) CheckURL(raw string) error {
	_, err := f.rules.checkRaw(raw)
	return err
}

// Get fetches raw: CheckURL, then a GET whose every connection and
// redirect is checked. A status other than 2xx is a *StatusError; a
// refusal matches ErrRefused. The caller closes the body.
func (f *Fetcher) Get(ctx context.Context, raw string) (*http.Response, error) {
	u, err := f.rules.checkRaw(raw)
	if err != nil {
		return nil, err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return nil, refused(u.Redacted(), "not a URL")
	}
	return f.Do(req)
}

// Do sends req (its URL checked first, like every redirect hop), for
// callers that set headers of their own (glance-download's X-Auth-Token,
// which is not sent on to another host). A status other than 2xx is a
// *StatusError.
func (f *Fetcher) Do(req *http.Request) (*http.Response, error) {
	if err := f.rules.check(req.URL); err != nil {
		return nil, err
	}
	resp, err := f.client.Do(req)
	if err != nil {
		return nil, unwrapRefusal(err)
	}
	if resp.StatusCode/100 != 2 {
		resp.Body.Close()
		return nil, statusError(resp.Request.URL.Redacted(), resp.StatusCode, resp.Status)
	}
	return resp, nil
}

// unwrapRefusal returns the refusal inside err (net/http wraps it in a
// *url.Error that repeats the URL), or err.
func unwrapRefusal(err error) error {
	var r *RefusedError
	if errors.As(err, &r) {
		return r
	}
	return err
}

func (f *Fetcher) checkRedirect(req *http.Request, via []*http.Request) error {
	if len(via) > f.maxRedirects || f.maxRedirects < 0 {
		return fmt.Errorf("stopped after %d redirects", len(via)-1)
	}
	if err := f.rules.check(req.URL); err != nil {
		err.(*RefusedError).Redirect = true
		return err
	}
	if req.URL.Host != via[0].URL.Host {
		req.Header.Del("X-Auth-Token")
	}
	return nil
}

// dial is the transport's DialContext: resolve once, check every address,
// connect only to checked ones.
func (f *Fetcher) dial(ctx context.Context, network, addr string) (net.Conn, error) {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, err
	}
	var addrs []netip.Addr
	if a, err := netip.ParseAddr(host); err == nil {
		addrs = []netip.Addr{a}
	} else {
		if addrs, err = f.resolver.LookupNetIP(ctx, "ip", host); err != nil {
			return nil, err
		}
	}
	if len(addrs) == 0 {
		return nil, &net.DNSError{Err: "no addresses", Name: host, IsNotFound: true}
	}
	for _, a := range addrs {
		if err := f.rules.checkAddr(host, a); err != nil {
			return nil, err
		}
	}
	var firstErr error
	for _, a := range addrs {
		a = a.Unmap()
		d := &net.Dialer{Timeout: f.connect, Control: connectsTo(a)}
		conn, err := f.dialAddr(ctx, d, network, net.JoinHostPort(a.String(), port))
		if err == nil {
			return conn, nil
		}
		if firstErr == nil {
			firstErr = err
		}
		if ctx.Err() != nil {
			break
		}
	}
	return nil, firstErr
}

// connectsTo is the last gate before connect(2): the socket goes to the
// address that was checked and to no other.
func connectsTo(want netip.Addr) func(network, address string, c syscall.RawConn) error {
	return func(network, address string, _ syscall.RawConn) error {
		ap, err := netip.ParseAddrPort(address)
		if err != nil || ap.Addr().Unmap() != want {
			return &RefusedError{URL: address, Reason: "not the checked address " + want.String()}
		}
		return nil
	}
}

var _ Resolver = (*net.Resolver)(nil)
