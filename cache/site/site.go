package site

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/spyglass-gateway/spyglass/cache/blob"
)

// Config is what a Filler is built from.
type Config struct {
	// Leases is the store the site's instances coordinate fills through
	// (a redis.Tier); required.
	Leases Leases
	// LeaseTTL is how long a fill lease outlives its last refresh (default
	// 5s): how long the site may wait on a filler that died.
	LeaseTTL time.Duration
	// PeerToken is sent as "Authorization: Bearer <PeerToken>" when
	// streaming from the site's other instances, whose admin listeners
	// require it (the site's admin token: every instance has the same).
	// Empty: none sent.
	PeerToken string
	// Logger; nil: slog.Default().
	Logger *slog.Logger
}

// Filler makes this gateway instance one of a site's: the blob cache's
// fills go through it (it is the cache's blob.Site), so that the site
// reads each image from its region once, and its PeerHandler serves this
// instance's entries to the others.
type Filler struct {
	cfg Config
	log *slog.Logger
	// instance is this process's id in leases; self is set by Advertise.
	instance string
	self     atomic.Pointer[self]

	mu       sync.Mutex
	badPeers map[string]time.Time // lease values whose bytes failed verification here

	wg     sync.WaitGroup // lease refreshers and peer stream watchdogs
	served atomic.Int64
}

// New returns the Filler for cfg; it takes no lease until Advertise.
func New(cfg Config) (*Filler, error) {
	if cfg.Leases == nil {
		return nil, errors.New("site: no lease store")
	}
	if cfg.LeaseTTL <= 0 {
		cfg.LeaseTTL = defaultLeaseTTL
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	return &Filler{cfg: cfg, log: cfg.Logger, instance: newInstanceID(), badPeers: map[string]time.Time{}}, nil
}

// Fill is blob.Site.Fill: the origin of a fill of k that takes the image's
// lease and reads o, or streams from the instance holding the lease.
func (f *Filler) Fill(k blob.Key, exp blob.Expect, o blob.Origin) blob.SiteFill {
	return newSiteFill(f, k, exp, o)
}

// Pass is blob.Site.Pass: the origin of an image the cache does not take.
func (f *Filler) Pass(k blob.Key, exp blob.Expect, o blob.Origin) blob.Origin {
	return newSitePass(f, k, exp, o)
}

// Stats counts what this instance did for the site.
type Stats struct {
	// ServedBytes is what this instance streamed to the site's other
	// instances over the peer protocol. (What it received from them is
	// blob.Stats.PeerBytes.)
	ServedBytes int64
}

// Stats reports the counters.
func (f *Filler) Stats() Stats { return Stats{ServedBytes: f.served.Load()} }

// Close waits for the lease refreshers and peer stream watchdogs: call it
// after the blob cache's Close, which ends the fills they serve.
func (f *Filler) Close() error {
	f.wg.Wait()
	return nil
}

// self is how this instance appears in leases: nil until Advertise.
type self struct{ instance, url string }

// Advertise makes this instance serve its fills to the site's other
// instances at peerURL (the base URL of its admin listener, e.g.
// http://10.0.0.5:9293, where PeerHandler is mounted at PeerRoute) and take
// fill leases. Until it is called (or with ""), the instance takes no lease
// and serves no peer, but still streams from the instance that fills.
func (f *Filler) Advertise(peerURL string) {
	if peerURL == "" {
		f.self.Store(nil)
		return
	}
	f.self.Store(&self{instance: f.instance, url: strings.TrimRight(peerURL, "/")})
}

func newInstanceID() string {
	var r [8]byte
	rand.Read(r[:])
	return hex.EncodeToString(r[:])
}

// distrust remembers a lease value whose bytes failed verification: fills
// do not stream from it again until it changes (or an hour passes).
func (f *Filler) distrust(leaseValue string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	now := time.Now()
	for k, t := range f.badPeers {
		if now.Sub(t) > time.Hour {
			delete(f.badPeers, k)
		}
	}
	f.badPeers[leaseValue] = now
}

func (f *Filler) distrusted(leaseValue string) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	t, ok := f.badPeers[leaseValue]
	return ok && time.Since(t) <= time.Hour
}
