package blob

import (
	"errors"
	"time"

	"github.com/spyglass-gateway/spyglass/backends"
)

// Site makes the gateway instances of a site fill each image once between
// them (package site implements it over a shared lease). The cache owns
// this seam so that it knows nothing of leases or peers: it only reads
// through the origins Site hands it.
type Site interface {
	// Fill returns the origin a fill of k reads through in place of o:
	// the region while this instance holds the image's lease, the
	// holder's stream while another does. The cache calls its Done once,
	// when the fill ends; fetches ahead for the fill's readers go through
	// it too.
	Fill(k Key, exp Expect, o Origin) SiteFill
	// Pass returns the origin of a read the cache does not take (no room
	// for it, say): the stream of the instance filling the image, so that
	// the site still reads the region once, or o.
	Pass(k Key, exp Expect, o Origin) Origin
}

// SiteFill is the origin of one fill on a site.
type SiteFill interface {
	Origin
	// Done ends the fill: complete says its entry is whole and verified,
	// badBytes that bytes it read failed verification.
	Done(complete, badBytes bool)
}

// PeerStream marks a stream an Origin opened at another instance of the
// site rather than at a region: its bytes count as Stats.PeerBytes, not
// as OriginBytes or BypassBytes.
type PeerStream interface{ FromPeer() }

// Data is an entry opened for another instance: Section streams its bytes
// as they land (the last one only once the entry is verified).
type Data interface {
	backends.Data
	backends.Sectioner
}

// Attach opens the image's entry for another instance of the site (the
// peer protocol, package site): an entry with exactly these expectations
// that is complete, or with a fill running here. It never starts a fill.
func (b *Cache) Attach(k Key, exp Expect) (Data, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	e := b.entries[k]
	if e == nil || e.exp != exp {
		return nil, errors.New("no entry for this image with these expectations")
	}
	if e.isComplete() {
		e.lastAccess = time.Now()
		e.lru = time.Now()
		return e.completeData()
	}
	e.mu.Lock()
	filling, src := e.filling && e.state == stateFilling && !e.stopped, e.source
	e.mu.Unlock()
	if !filling {
		return nil, errors.New("no fill of this image runs here")
	}
	e.refs++
	// The peer's headers go out at once: its requester waits for them a
	// bounded time (and would take the lease over after), while this
	// fill may still be retrying its origin.
	return &fillData{e: e, origin: src, atOnce: true}, nil
}
