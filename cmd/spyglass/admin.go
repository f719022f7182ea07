package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"syscall"
	"time"

	"github.com/spyglass-gateway/spyglass/config"
)

// adminServer is the operators' listener (admin.listen): net/http, not
// fasthttp, because nothing on it is a hot path and what it serves
// (Prometheus' handler, the peer fill stream) is written for net/http.
// Each feature registers its routes on mux before start.
type adminServer struct {
	mux *http.ServeMux
	srv *http.Server
	ln  net.Listener
}

func newAdmin() *adminServer {
	a := &adminServer{mux: http.NewServeMux()}
	a.mux.HandleFunc("GET /healthcheck", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain")
		w.Write([]byte("OK"))
	})
	return a
}

// listen binds addr; the returned address is what a port 0 became.
func (a *adminServer) listen(addr string) (string, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		if errors.Is(err, syscall.EADDRINUSE) {
			return "", fmt.Errorf("admin.listen: %w; another Spyglass is there: give this one its own admin port with --admin-listen or %s (off: none)", err, config.EnvAdmin)
		}
		return "", fmt.Errorf("admin.listen: %w", err)
	}
	a.ln = ln
	a.srv = &http.Server{
		Handler:           a.mux,
		ReadHeaderTimeout: 10 * time.Second,
		ErrorLog:          slog.NewLogLogger(slog.Default().Handler(), slog.LevelWarn),
	}
	return ln.Addr().String(), nil
}

// serve runs until shutdown; its error (never http.ErrServerClosed) is sent
// on the returned channel.
func (a *adminServer) serve() <-chan error {
	done := make(chan error, 1)
	go func() {
		err := a.srv.Serve(a.ln)
		if errors.Is(err, http.ErrServerClosed) {
			err = nil
		}
		done <- err
	}()
	return done
}

func (a *adminServer) shutdown(ctx context.Context) error {
	if a == nil || a.srv == nil {
		return nil
	}
	return a.srv.Shutdown(ctx)
}
