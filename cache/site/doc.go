// Package site makes a site's gateway instances fill each image once
// between them: the instance that takes the image's fill lease reads the
// region, and the others stream from it over the peer protocol.
//
// A Filler is the blob cache's blob.Site: it wraps the origin of each fill
// (fill.go) and of each read the cache does not take. The lease lives in
// a shared store (Config.Leases, a redis.Tier; lease.go). The others
// stream from the holder over the peer protocol (peer.go: PeerRoute,
// served by PeerHandler on the admin listener behind the site's admin
// token, which fills send as Config.PeerToken; advertised with
// Advertise) into entries of their own, verified again. A filler that
// dies loses its lease within LeaseTTL and another instance goes on from
// the region with a Range (a filler that only looked dead takes its
// expired lease back if it is still free, or goes on from the instance
// that took it). Without Redis (or while it does not answer) every
// instance fills alone.
//
//	filler, _ := site.New(site.Config{Leases: tier, PeerToken: token})
//	blobs, _ := blob.Open(blob.Config{Dir: dir, MaxSize: 50 << 30, Site: filler})
//	mux.Handle(site.PeerRoute, filler.PeerHandler(blobs))
//	filler.Advertise("http://10.0.0.5:9293")
//	// on shutdown: blobs.Close(), then filler.Close()
package site
