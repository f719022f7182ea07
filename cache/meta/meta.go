package meta

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"time"

	"github.com/dgraph-io/ristretto/v2"

	"github.com/spyglass-gateway/spyglass/backends"
)

// Config sizes and times the metadata cache.
type Config struct {
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
	// Shared is the second level shared with other gateway instances (a
	// redis.Tier); nil: this instance caches alone.
	Shared VersionedStore
	// Name tells this cache's records apart from other regions' in the
	// shared tier (the region's name); it must be the same on every
	// instance.
	Name string
}

// Cache caches image records and membership verdicts of remote regions
// in process (ristretto). It knows nothing of policy: it keeps what a region
// answered and when; the gateway's visibility function decides who may see
// a cached record.
//
// Invalidation is race-free against fills: a reader takes a Ticket before it
// asks the region and hands it back with the answer; an Invalidate that
// happened in between makes the Put a no-op, so a write through Spyglass is
// never undone by a slower read that started before it.
//
// With a shared tier (shared.go) the same holds across instances: a
// first-level miss asks Redis before the region, the ticket carries the
// image's version there, and an invalidation on any instance is published
// to every other one.
type Cache struct {
	cfg      Config
	images   *ristretto.Cache[string, *record]
	verdicts *ristretto.Cache[string, *verdict]

	epoch       atomic.Uint64
	cleared     atomic.Uint64 // tickets below this epoch are void (InvalidateAll)
	invalidated sync.Map      // id → invalidation, for tickets still in flight
	sweepMu     sync.Mutex
	lastSweep   time.Time

	shared *sharedLevel // nil: no shared tier

	hits, misses atomic.Int64 // Image lookups, for metrics
	// others counts invalidations from other instances (one per message,
	// one per resubscription, which may have lost some).
	others atomic.Uint64
	// onOthers is told of other instances' invalidations (OnOthersInvalidate).
	onOthers atomic.Pointer[func(id string)]
}

// OnOthersInvalidate has f called with the image id of every invalidation
// another instance published, once this instance applied it and before it
// acknowledges it: what a consumer derived from the record and keeps
// elsewhere (the catalog's location index) is dropped as the record is,
// before the other instance's write returns. A later call replaces f; nil
// removes it.
func (m *Cache) OnOthersInvalidate(f func(id string)) {
	if f == nil {
		m.onOthers.Store(nil)
		return
	}
	m.onOthers.Store(&f)
}

// Stats counts image lookups: a hit found a fresh record (in
// either level); a miss found none, or a stale one (the region is asked).
type Stats struct{ Hits, Misses int64 }

// OthersWrites counts what this cache learned of writes through other
// instances: their invalidations received, and every (re)subscription
// (messages may have been lost before it). Always 0 without a shared tier.
// State derived from region answers outside this cache — a listing's
// read-ahead images — is stale once it moved.
func (m *Cache) OthersWrites() uint64 { return m.others.Load() }

// Stats reports the counters.
func (m *Cache) Stats() Stats {
	return Stats{Hits: m.hits.Load(), Misses: m.misses.Load()}
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

// Ticket is taken before a region is asked; see Cache. The zero Ticket
// is void.
type Ticket struct {
	epoch uint64
	// version is the image's version in the shared tier when the ticket
	// was taken; shared says it is known, so the answer may be written
	// there (only if the version has not moved).
	version string
	shared  bool
	taken   time.Time
}

// ticketLifetime bounds how long a read may take and still be checked
// against invalidations; a Put older than this is dropped. It is far above
// any region timeout.
const ticketLifetime = 5 * time.Minute

// New returns an empty metadata cache.
func New(cfg Config) (*Cache, error) {
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
	m := &Cache{cfg: cfg, images: images, verdicts: verdicts}
	m.epoch.Store(1)
	if cfg.Shared != nil {
		m.shared = newSharedLevel(m, cfg.Shared, cfg.Name)
	}
	return m, nil
}

// Close releases the cache's goroutines (and its subscription). It returns
// once no invalidation from another instance is being applied, nor can be:
// the first level it then closes is not touched after.
func (m *Cache) Close() {
	if m.shared != nil {
		m.shared.close()
	}
	m.images.Close()
	m.verdicts.Close()
}

// Ticket returns the ticket to pass to PutImage for answers asked for now
// that were not looked up first (a listing's records): they fill the first
// level only.
func (m *Cache) Ticket() Ticket { return Ticket{epoch: m.epoch.Load(), taken: m.cfg.Now()} }

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

// Image returns the cached record for id and how fresh it is: from the
// first level, else from the shared tier. Unless it is Fresh, it also
// returns the ticket to hand to PutImage with the region's answer.
func (m *Cache) Image(ctx context.Context, id string) (*backends.Image, Freshness, Ticket) {
	img, f, t := m.image(ctx, id)
	if f == Fresh {
		m.hits.Add(1)
	} else {
		m.misses.Add(1)
	}
	return img, f, t
}

// Lead is for a record miss about to ask its region, after Recheck: with
// a shared tier, one instance of the site asks while the others wait for
// its answer. img is that answer (Fresh) when another instance brought it
// meanwhile; otherwise the caller asks the region, remembers the answer
// (PutImage), then calls release.
func (m *Cache) Lead(ctx context.Context, id string) (img *backends.Image, release func()) {
	if m.shared == nil {
		return nil, noRelease
	}
	return m.shared.lead(ctx, id)
}

// Recheck is Image for a lookup already counted: a coalesced miss looks
// again before it asks the region (a flight that just ended may have
// filled the cache), as groupcache's load does.
func (m *Cache) Recheck(ctx context.Context, id string) (*backends.Image, Freshness, Ticket) {
	return m.image(ctx, id)
}

func (m *Cache) image(ctx context.Context, id string) (*backends.Image, Freshness, Ticket) {
	img, f := m.localImage(id)
	if f == Fresh || m.shared == nil {
		if f != Fresh {
			return img, f, m.Ticket()
		}
		return img, f, Ticket{}
	}
	t := m.Ticket() // before Redis: an invalidation received meanwhile voids it
	rec, version, ok := m.shared.image(ctx, id)
	t.version, t.shared = version, ok
	if rec != nil {
		m.putLocal(t, rec.Image, rec.fetched())
		if sf := m.freshness(rec.fetched()); sf == Fresh || f == Missing {
			return rec.Image, sf, t
		}
	}
	return img, f, t
}

func (m *Cache) localImage(id string) (*backends.Image, Freshness) {
	r, ok := m.images.Get(id)
	if !ok || !m.valid(r.ticket, id) {
		return nil, Missing
	}
	return r.img, m.freshness(r.fetched)
}

func (m *Cache) freshness(fetched time.Time) Freshness {
	age := m.cfg.Now().Sub(fetched)
	switch {
	case age < m.cfg.TTL:
		return Fresh
	case age < m.cfg.TTL+m.cfg.StaleIfError:
		return Stale
	}
	return Missing
}

// PutImage remembers img as its region answered it for a request that took
// ticket t before asking; it is dropped if id was invalidated since (here
// or, for the shared tier, on any instance).
func (m *Cache) PutImage(ctx context.Context, t Ticket, img *backends.Image) {
	if img == nil {
		return
	}
	now := m.cfg.Now()
	if !m.valid(t, img.ID) {
		return
	}
	if m.shared != nil && t.shared && now.Sub(t.taken) < ticketLifetime {
		if m.shared.putImage(ctx, t.version, img, now) {
			return // a write on another instance came after this read began
		}
	}
	m.putLocal(t, img, now)
}

// putLocal fills the first level with a record fetched at fetched; false:
// the ticket is void.
func (m *Cache) putLocal(t Ticket, img *backends.Image, fetched time.Time) bool {
	if !m.valid(t, img.ID) {
		return false
	}
	ttl := m.cfg.TTL + m.cfg.StaleIfError - m.cfg.Now().Sub(fetched)
	if ttl <= 0 {
		return true
	}
	m.images.SetWithTTL(img.ID, &record{img: img, fetched: fetched, ticket: t}, 1, ttl)
	m.images.Wait()
	return true
}

// Member returns a remembered membership verdict for (image, project):
// known is false when there is none; member is nil when the project is
// known not to be a member. When it is not known, the ticket is the one to
// hand to PutMember with the region's answer.
func (m *Cache) Member(ctx context.Context, imageID, project string) (member *backends.Member, known bool, t Ticket) {
	v, ok := m.verdicts.Get(verdictKey(imageID, project))
	if ok && m.cfg.Now().Sub(v.fetched) < m.cfg.VerdictTTL && m.valid(v.ticket, imageID) {
		return v.member, true, Ticket{}
	}
	t = m.Ticket()
	if m.shared == nil {
		return nil, false, t
	}
	sv, version, ok := m.shared.member(ctx, imageID, project)
	t.version, t.shared = version, ok
	if sv != nil && m.cfg.Now().Sub(sv.fetched()) < m.cfg.VerdictTTL {
		m.putLocalMember(t, imageID, project, sv.Member, sv.fetched())
		return sv.Member, true, t
	}
	return nil, false, t
}

// PutMember remembers a membership verdict (member nil: not a member).
func (m *Cache) PutMember(ctx context.Context, t Ticket, imageID, project string, member *backends.Member) {
	now := m.cfg.Now()
	if !m.valid(t, imageID) {
		return
	}
	if m.shared != nil && t.shared && now.Sub(t.taken) < ticketLifetime {
		if m.shared.putMember(ctx, t.version, imageID, project, member, now) {
			return
		}
	}
	m.putLocalMember(t, imageID, project, member, now)
}

func (m *Cache) putLocalMember(t Ticket, imageID, project string, member *backends.Member, fetched time.Time) bool {
	if !m.valid(t, imageID) {
		return false
	}
	ttl := m.cfg.VerdictTTL - m.cfg.Now().Sub(fetched)
	if ttl <= 0 {
		return true
	}
	m.verdicts.SetWithTTL(verdictKey(imageID, project), &verdict{member: member, fetched: fetched, ticket: t}, 1, ttl)
	m.verdicts.Wait()
	return true
}

// Invalidate forgets everything cached about image id — its record and its
// membership verdicts — and voids tickets taken before now for it, so a read
// that started before the write cannot put the old record back (ristretto's
// sets are asynchronous: a record's own ticket is checked on every Get for
// the same reason). Call it after a write to the image returns, whatever
// its outcome, before answering the client.
//
// With a shared tier it also moves the image's version there (so no
// instance believes or writes back an older record) and publishes the
// invalidation to every instance; when Redis cannot be reached that is
// retried in the background until it can. It returns the ticket for the
// record the write answered with.
func (m *Cache) Invalidate(ctx context.Context, id string) Ticket {
	m.invalidateLocal(id)
	t := m.Ticket()
	if m.shared != nil {
		t.version, t.shared = m.shared.invalidate(ctx, id)
	}
	return t
}

func (m *Cache) invalidateLocal(id string) {
	e := m.epoch.Add(1)
	now := m.cfg.Now()
	m.invalidated.Store(id, invalidation{epoch: e, at: now})
	m.images.Del(id)
	m.sweep(now)
}

// InvalidateAll forgets everything in the first level and voids every
// ticket taken before now: what it held may have missed invalidations (the
// subscription to them was lost).
func (m *Cache) InvalidateAll() {
	m.cleared.Store(m.epoch.Add(1))
	m.images.Clear()
	m.verdicts.Clear()
}

// sweep drops invalidations no ticket in flight can predate any more; a
// record older than that has expired anyway (TTL+stale is far below
// ticketLifetime in any sane configuration, and Put refuses older tickets).
func (m *Cache) sweep(now time.Time) {
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

// Current reports whether an answer about id read under ticket read may
// be given to a caller that took ticket begun when it began: the read
// began after it, or no invalidation of id (a write through this
// instance, or one another instance published) happened since the read
// began. A coalesced answer is handed to a caller only if it is: a caller
// that came after a write must not get what was read before it.
func (m *Cache) Current(read, begun Ticket, id string) bool {
	return read.epoch >= begun.epoch || m.valid(read, id)
}

// valid reports whether something fetched under ticket t is still good for
// id: no invalidation of id happened after t was taken.
func (m *Cache) valid(t Ticket, id string) bool {
	if t.epoch < m.cleared.Load() {
		return false
	}
	v, ok := m.invalidated.Load(id)
	return !ok || t.epoch >= v.(invalidation).epoch
}

func verdictKey(imageID, project string) string { return imageID + "\x00" + project }
