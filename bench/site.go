package main

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync/atomic"
	"time"
)

// startSite starts the boot storm's site variant: n Spyglass instances in
// front of the same link to Glance, sharing a redis-server (one origin fill
// per site), behind a round-robin front — a load balancer's view of a
// compute site. Its URL is se.SiteURL.
func (se *StormEnv) startSite(ctx context.Context, n int) error {
	redisAddr, err := se.env.startRedis()
	if err != nil {
		return err
	}
	bin, _, err := buildSpyglass(ctx, se.Dir)
	if err != nil {
		return err
	}
	var backends []*url.URL
	for i := range n {
		port, err := freePort()
		if err != nil {
			return err
		}
		addr := "127.0.0.1:" + strconv.Itoa(port)
		cfg := fmt.Sprintf("listen: %s\nauth: {mode: trusted}\nregions:\n  - {name: origin, kind: glance, endpoint: \"http://%s\"}\ncache: {dir: %q, max_size: 40GiB}\nredis: {addr: %q}\n",
			addr, se.Link.Addr(), filepath.Join(se.Dir, fmt.Sprintf("site-cache-%d", i)), redisAddr)
		if err := se.env.serveSpyglass(bin, fmt.Sprintf("site-%d", i), addr, cfg); err != nil {
			return err
		}
		backends = append(backends, &url.URL{Scheme: "http", Host: addr})
	}
	var next atomic.Uint64
	front := &httputil.ReverseProxy{
		Rewrite: func(r *httputil.ProxyRequest) {
			r.SetURL(backends[next.Add(1)%uint64(len(backends))])
			r.Out.Host = r.In.Host
		},
		FlushInterval: -1,
		Transport:     &http.Transport{MaxIdleConnsPerHost: 1024},
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	srv := &http.Server{Handler: front}
	go srv.Serve(ln)
	se.siteFront = srv
	se.SiteURL = "http://" + ln.Addr().String()
	return nil
}

// startRedis starts a redis-server on a free loopback port, without
// persistence, its files under e.Dir/redis, and returns its address.
func (e *Env) startRedis() (string, error) {
	if _, err := exec.LookPath("redis-server"); err != nil {
		return "", fmt.Errorf("redis-server not found: run `make deps-bench`")
	}
	port, err := freePort()
	if err != nil {
		return "", err
	}
	addr := "127.0.0.1:" + strconv.Itoa(port)
	dir := filepath.Join(e.Dir, "redis")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", err
	}
	cmd := exec.Command("redis-server", "--port", strconv.Itoa(port), "--bind", "127.0.0.1",
		"--save", "", "--appendonly", "no", "--dir", dir)
	if err := e.start("redis", cmd); err != nil {
		return "", err
	}
	if err := waitTCP(cmd, addr, 10*time.Second); err != nil {
		return "", fmt.Errorf("redis-server: %w", err)
	}
	return addr, nil
}

// serveSpyglass writes cfg (which listens on addr) to name.yaml under e.Dir,
// starts bin serve with it and an admin listener of its own, and waits
// until it answers.
func (e *Env) serveSpyglass(bin, name, addr, cfg string) error {
	path := filepath.Join(e.Dir, name+".yaml")
	if err := os.WriteFile(path, []byte(cfg), 0o644); err != nil {
		return err
	}
	cmd := exec.Command(bin, "serve", "--config", path, "--admin-listen", "127.0.0.1:0")
	if err := e.start(name, cmd); err != nil {
		return err
	}
	return waitHTTP(cmd, "http://"+addr+"/versions", 20*time.Second)
}
