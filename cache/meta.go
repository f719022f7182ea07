package cache

import (
	"errors"
	"sync"
	"sync/atomic"
	"time"

	"github.com/dgraph-io/ristretto/v2"

	"github.com/spyglass-gateway/spyglass/backends"
)

// MetadataConfig sizes and times the metadata cache.
type MetadataConfig struct {
	// TTL is how long a record is served without asking its region again.
	TTL time.Duration
	// StaleIfError is how long past TTL a record is still served when its
	// region cannot be reached (backends.ErrUnavailable). 0: never.
	StaleIfError time.Duration
	// VerdictTTL is how long a membership answer (is project P a member of
	// shared image I, and with which status) is remembered. It is short:
	// it stands in for the region's own visibility decision.
	VerdictTTL time.Duration
	// MaxEntries bounds the number of records kept (default 1,000,000).
	MaxEntries int64
	// Now is the clock; nil means time.Now (tests pass their own).
	Now func() time.Time
}

// Metadata caches image records and membership verdicts of remote regions
// in process (ristretto). It knows nothing of policy: it keeps what a region
// answered and when; the gateway's visibility function decides who may see
// a cached record.
//
// Invalidation is race-free against fills: a reader takes a Ticket before it
// asks the region and hands it back with the answer; an Invalidate that
// happened in between makes the Put a no-op, so a write through Spyglass is
// never undone by a slower read that started before it.
type Metadata struct {
	cfg      MetadataConfig
	images   *ristretto.Cache[string, *record]
	verdicts *ristretto.Cache[string, *verdict]

	epoch       atomic.Uint64
	invalidated sync.Map // id → invalidation, for tickets still in flight
	sweepMu     sync.Mutex
	lastSweep   time.Time

	hits, misses atomic.Int64 // Image lookups, for metrics
}

// MetadataStats counts image lookups: a hit found a fresh record; a miss
// found none, or a stale one (the region is asked).
type MetadataStats struct{ Hits, Misses int64 }

// Stats reports the counters.
func (m *Metadata) Stats() MetadataStats {
	return MetadataStats{Hits: m.hits.Load(), Misses: m.misses.Load()}
}

type record struct {
	img     *backends.Image
	fetched time.Time
	ticket  Ticket
}

type verdict struct {
	member  *backends.Member // nil: not a member
	fetched time.Time
	ticket  Ticket
}

type invalidation struct {
	epoch uint64
	at    time.Time
}

// Ticket is taken before a region is asked; see Metadata.
type Ticket uint64

// ticketLifetime bounds how long a read may take and still be checked
// against invalidations; a Put older than this is dropped. It is far above
// any region timeout.
const ticketLifetime = 5 * time.Minute

// NewMetadata returns an empty metadata cache.
func NewMetadata(cfg MetadataConfig) (*Metadata, error) {
	if cfg.TTL <= 0 {
		return nil, errors.New("cache: metadata TTL must be positive")
	}
	if cfg.MaxEntries <= 0 {
		cfg.MaxEntries = 1_000_000
	}
	if cfg.VerdictTTL <= 0 {
		cfg.VerdictTTL = cfg.TTL
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	images, err := ristretto.NewCache(&ristretto.Config[string, *record]{
		NumCounters: cfg.MaxEntries * 10, MaxCost: cfg.MaxEntries, BufferItems: 64,
	})
	if err != nil {
		return nil, err
	}
	verdicts, err := ristretto.NewCache(&ristretto.Config[string, *verdict]{
		NumCounters: cfg.MaxEntries * 10, MaxCost: cfg.MaxEntries, BufferItems: 64,
	})
	if err != nil {
		images.Close()
		return nil, err
	}
	m := &Metadata{cfg: cfg, images: images, verdicts: verdicts}
	m.epoch.Store(1)
	return m, nil
}

// Close releases the cache's goroutines.
func (m *Metadata) Close() {
	m.images.Close()
	m.verdicts.Close()
}

// Ticket returns the ticket to pass to Put* for an answer asked for now.
func (m *Metadata) Ticket() Ticket { return Ticket(m.epoch.Load()) }

// Freshness says how a cached record may be used.
type Freshness uint8

const (
	// Missing: nothing usable is cached.
	Missing Freshness = iota
	// Fresh: within TTL; serve it.
	Fresh
	// Stale: past TTL but within StaleIfError; serve it only if the region
	// cannot be reached.
	Stale
)

// Image returns the cached record for id and how fresh it is.
func (m *Metadata) Image(id string) (*backends.Image, Freshness) {
	img, f := m.image(id)
	if f == Fresh {
		m.hits.Add(1)
	} else {
		m.misses.Add(1)
	}
	return img, f
}

func (m *Metadata) image(id string) (*backends.Image, Freshness) {
	r, ok := m.images.Get(id)
	if !ok || !m.valid(r.ticket, id) {
		return nil, Missing
	}
	age := m.cfg.Now().Sub(r.fetched)
	switch {
	case age < m.cfg.TTL:
		return r.img, Fresh
	case age < m.cfg.TTL+m.cfg.StaleIfError:
		return r.img, Stale
	}
	return nil, Missing
}

// PutImage remembers img as its region answered it for a request that took
// ticket t before asking; it is dropped if id was invalidated since.
func (m *Metadata) PutImage(t Ticket, img *backends.Image) {
	if img == nil || !m.valid(t, img.ID) {
		return
	}
	m.images.SetWithTTL(img.ID, &record{img: img, fetched: m.cfg.Now(), ticket: t}, 1, m.cfg.TTL+m.cfg.StaleIfError)
	m.images.Wait()
}

// Member returns a remembered membership verdict for (image, project):
// known is false when there is none; member is nil when the project is
// known not to be a member.
func (m *Metadata) Member(imageID, project string) (member *backends.Member, known bool) {
	v, ok := m.verdicts.Get(verdictKey(imageID, project))
	if !ok || m.cfg.Now().Sub(v.fetched) >= m.cfg.VerdictTTL || !m.valid(v.ticket, imageID) {
		return nil, false
	}
	return v.member, true
}

// PutMember remembers a membership verdict (member nil: not a member).
func (m *Metadata) PutMember(t Ticket, imageID, project string, member *backends.Member) {
	if !m.valid(t, imageID) {
		return
	}
	m.verdicts.SetWithTTL(verdictKey(imageID, project), &verdict{member: member, fetched: m.cfg.Now(), ticket: t}, 1, m.cfg.VerdictTTL)
	m.verdicts.Wait()
}

// Invalidate forgets everything cached about image id — its record and its
// membership verdicts — and voids tickets taken before now for it, so a read
// that started before the write cannot put the old record back (ristretto's
// sets are asynchronous: a record's own ticket is checked on every Get for
// the same reason). Call it after a write to the image returns, whatever
// its outcome, before answering the client.
func (m *Metadata) Invalidate(id string) {
	e := m.epoch.Add(1)
	now := m.cfg.Now()
	m.invalidated.Store(id, invalidation{epoch: e, at: now})
	m.images.Del(id)
	m.sweep(now)
}

// sweep drops invalidations no ticket in flight can predate any more; a
// record older than that has expired anyway (TTL+stale is far below
// ticketLifetime in any sane configuration, and Put refuses older tickets).
func (m *Metadata) sweep(now time.Time) {
	m.sweepMu.Lock()
	defer m.sweepMu.Unlock()
	if now.Sub(m.lastSweep) < ticketLifetime {
		return
	}
	m.lastSweep = now
	m.invalidated.Range(func(k, v any) bool {
		if now.Sub(v.(invalidation).at) > ticketLifetime+m.cfg.TTL+m.cfg.StaleIfError {
			m.invalidated.Delete(k)
		}
		return true
	})
}

// valid reports whether something fetched under ticket t is still good for
// id: no invalidation of id happened after t was taken.
func (m *Metadata) valid(t Ticket, id string) bool {
	v, ok := m.invalidated.Load(id)
	return !ok || uint64(t) >= v.(invalidation).epoch
}

func verdictKey(imageID, project string) string { return imageID + "\x00" + project }
