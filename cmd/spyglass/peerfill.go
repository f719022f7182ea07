package main

import (
	"log/slog"
	"net"

	"github.com/spyglass-gateway/spyglass/cache"
	"github.com/spyglass-gateway/spyglass/config"
	"github.com/spyglass-gateway/spyglass/gateway"
)

// fillLeases is what the blob cache coordinates fills through: the shared
// Redis, or nothing (each instance fills from the regions alone).
func fillLeases(shared *cache.Shared) cache.Leases {
	if shared == nil {
		return nil
	}
	return shared
}

// servePeerFills mounts the peer fill stream on the admin listener and
// advertises it, so this instance can be the one that fills an image for
// the site (cache.PeerRoute). Without an admin listener, or with one bound
// to every address and no admin.advertise, the instance serves no peers
// (it still streams from the instance that fills); it says so once.
func servePeerFills(cat gateway.Catalog, admin *adminServer, cfg config.Admin, bound string, log *slog.Logger) {
	c, ok := cat.(interface{ Blobs() *cache.Blobs })
	if !ok || c.Blobs() == nil {
		return // no remote region: no blob cache to share
	}
	blobs := c.Blobs()
	if admin == nil {
		log.Info("admin.listen is off: this instance serves no image fills to the other instances (it still streams fills from them)")
		return
	}
	addr := cfg.Advertise
	if addr == "" {
		if host, _, err := net.SplitHostPort(bound); err == nil {
			if ip := net.ParseIP(host); ip != nil && ip.IsUnspecified() {
				log.Warn("admin.listen binds every address: set admin.advertise to the address the other instances reach this one at; until then it serves them no image fills", "admin", bound)
				return
			}
		}
		addr = bound
	}
	admin.mux.Handle(cache.PeerRoute, blobs.PeerHandler())
	blobs.Advertise("http://" + addr)
	log.Info("serving image fills to the site's other instances", "peer", "http://"+addr)
}
