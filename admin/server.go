package admin

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"time"

	sdkmetric "go.opentelemetry.io/otel/sdk/metric"

	"github.com/spyglass-gateway/spyglass/cache/site"
)

// Config is what the admin listener serves and how it is protected.
type Config struct {
	// Token is the credential every route but /healthcheck and /ready (and
	// /metrics with MetricsWithoutToken) requires, as "Authorization:
	// Bearer <Token>". Empty: none, and Listen then binds only loopback
	// addresses.
	Token string
	// MetricsWithoutToken serves /metrics to callers without the token
	// (a scraper that cannot send one).
	MetricsWithoutToken bool
	// Instance is the running gateway the listener reports on and
	// manages. Required.
	Instance *Instance
	// Requests, when set, serves GET /metrics: the Images API's request
	// metrics (gateway.NewRequestMetrics) with the instance's own. nil: no
	// /metrics.
	Requests sdkmetric.Producer
	// Version is the service.version of the metrics' resource.
	Version string
	// Peers serves the peer route (site.PeerRoute) once Listen knows the
	// listener's address, and advertises it to the site (Site.Advertise),
	// so this instance can fill images for the others (with a shared
	// tier). Nothing without Instance.Blobs and Instance.Site.
	Peers bool
	// Advertise is the host:port the site's other instances reach this
	// listener at (admin.advertise). Empty: the bound address, unless it
	// is every address (0.0.0.0, [::]): then no peer is served.
	Advertise string
	// Logger; nil: slog.Default().
	Logger *slog.Logger
}

// Server is the admin listener.
type Server struct {
	cfg  Config
	inst *Instance
	log  *slog.Logger
	mux  *http.ServeMux
	gate gate
	srv  *http.Server
	ln   net.Listener
	// stopMetrics shuts the meter provider down; nil without /metrics.
	stopMetrics func()
}

// Patterns of the routes served without the token.
const (
	routeHealthcheck = "GET /healthcheck"
	routeReady       = "GET /ready"
	routeMetrics     = "GET /metrics"
)

// New builds the listener's routes; Listen binds it.
func New(cfg Config) (*Server, error) {
	if i := cfg.Instance; i == nil || i.Images == nil || (i.Blobs != nil && i.Prefetch == nil) {
		return nil, errors.New("admin: an Instance with Images (and Prefetch with Blobs) is required")
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	s := &Server{cfg: cfg, inst: cfg.Instance, log: cfg.Logger, mux: http.NewServeMux()}
	s.gate = newGate(cfg.Token, s.log)
	s.gate.open[routeHealthcheck] = true
	s.gate.open[routeReady] = true
	s.gate.open[routeMetrics] = cfg.MetricsWithoutToken

	s.mux.HandleFunc(routeHealthcheck, func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain")
		w.Write([]byte("OK"))
	})
	s.mux.HandleFunc(routeReady, s.ready)
	if cfg.Requests != nil {
		h, stop, err := s.metricsHandler(cfg.Requests, cfg.Version)
		if err != nil {
			return nil, fmt.Errorf("metrics: %w", err)
		}
		s.mux.Handle(routeMetrics, h)
		s.stopMetrics = stop
	}
	s.mux.HandleFunc("GET /cache", s.listCache)
	s.mux.HandleFunc("PUT /cache/{region}/{id}", s.prefetch)
	s.mux.HandleFunc("DELETE /cache/{region}/{id}", s.evict)
	return s, nil
}

// ServeHTTP asks for the token on every route but the open ones, then
// serves the route. An unknown path needs the token too: it answers 404
// only to whoever may know what exists.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if _, pattern := s.mux.Handler(r); !s.gate.open[pattern] && !s.gate.let(w, r) {
		return
	}
	s.mux.ServeHTTP(w, r)
}

// Listen binds addr; the returned address is what a port 0 became. Without
// a token it refuses an address that is not loopback: the listener would
// hand the cache's image ids and image data to the network. With
// Config.Peers it then serves and advertises the peer route.
func (s *Server) Listen(addr string) (string, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return "", err
	}
	bound := ln.Addr().String()
	if tcp, ok := ln.Addr().(*net.TCPAddr); ok && !tcp.IP.IsLoopback() && !s.gate.protected() {
		ln.Close()
		return "", fmt.Errorf("%s is not a loopback address and the admin listener has no token: give it one, or bind it to 127.0.0.1", bound)
	}
	s.ln = ln
	s.srv = &http.Server{
		Handler:           s,
		ReadHeaderTimeout: 10 * time.Second,
		ErrorLog:          slog.NewLogLogger(s.log.Handler(), slog.LevelWarn),
	}
	if s.cfg.Peers && s.inst.Blobs != nil && s.inst.Site != nil {
		s.servePeers(bound)
	}
	return bound, nil
}

// servePeers mounts the peer route and advertises it, unless the listener
// binds every address and no address to advertise was given (it says so
// once).
func (s *Server) servePeers(bound string) {
	addr := s.cfg.Advertise
	if addr == "" {
		if host, _, err := net.SplitHostPort(bound); err == nil {
			if ip := net.ParseIP(host); ip != nil && ip.IsUnspecified() {
				s.log.Warn("admin.listen binds every address: set admin.advertise to the address the other instances reach this one at; until then it serves them no image fills", "admin", bound)
				return
			}
		}
		addr = bound
	}
	s.mux.Handle(site.PeerRoute, s.inst.Site.PeerHandler(s.inst.Blobs))
	s.inst.Site.Advertise("http://" + addr)
	s.log.Info("serving image fills to the site's other instances", "peer", "http://"+addr)
}

// Serve runs until Shutdown; its error (never http.ErrServerClosed) is
// sent on the returned channel.
func (s *Server) Serve() <-chan error {
	done := make(chan error, 1)
	go func() {
		err := s.srv.Serve(s.ln)
		if errors.Is(err, http.ErrServerClosed) {
			err = nil
		}
		done <- err
	}()
	return done
}

// Shutdown stops the listener, letting requests in flight finish until ctx
// ends, and the metrics with it. It is safe on a nil Server and on one that
// never listened.
func (s *Server) Shutdown(ctx context.Context) error {
	if s == nil {
		return nil
	}
	if s.stopMetrics != nil {
		defer s.stopMetrics()
	}
	if s.srv == nil {
		return nil
	}
	return s.srv.Shutdown(ctx)
}

var _ http.Handler = (*Server)(nil)
