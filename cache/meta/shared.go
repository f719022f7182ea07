package meta

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/spyglass-gateway/spyglass/backends"
)

// VersionedStore is what the metadata cache needs from the shared tier
// (redis.Tier): versioned records and the channel that carries
// invalidations between instances. Like the tier, it never
// fails: an unanswered call is a miss or a dropped write.
type VersionedStore interface {
	GetVersioned(ctx context.Context, key, versionKey string) (record []byte, version string, ok bool)
	SetIfVersion(ctx context.Context, key, versionKey, version string, val []byte, ttl time.Duration) (stored, ok bool)
	BumpVersion(ctx context.Context, key, versionKey string, versionTTL time.Duration, channel, message string) (version string, receivers int, ok bool)
	// Subscribe's channel is closed once ctx ended and no callback can
	// run any more.
	Subscribe(ctx context.Context, channel string, onMessage func(string), onSubscribed func()) (done <-chan struct{})
	Publish(ctx context.Context, channel, message string) (ok bool)
	// SwapLease sets key to new for ttl ("" deletes it) if it holds old
	// ("" means absent) and returns what it holds afterwards.
	SwapLease(ctx context.Context, key, old, new string, ttl time.Duration) (cur string, ok bool)
}

// sharedLevel is the metadata cache's second level: records and verdicts
// in Redis under the image's version, invalidations published to every
// instance. Keys share the image id as a hash tag, so each script touches
// one Redis Cluster slot.
type sharedLevel struct {
	m       *Cache
	store   VersionedStore
	name    string
	self    string // this instance, to skip its own invalidations
	channel string
	stop    context.CancelFunc
	// running are the subscriptions and the retry loop: close waits for
	// them, since their callbacks touch the first level, which Cache.Close
	// releases next (ristretto panics or races on a Del or Clear during
	// its Close).
	running  []<-chan struct{}
	versTTL  time.Duration
	pendMu   sync.Mutex
	pending  map[string]struct{} // invalidations Redis has not taken yet
	pendWake chan struct{}
	// subscriptions counts the times the subscription was established.
	subscriptions atomic.Int64
	// acks are this instance's invalidations waiting for every instance
	// to have applied them (ack.go).
	acks acks
	// leads numbers this instance's record leases (lead).
	leads atomic.Uint64
}

// maxPending bounds the invalidations kept for retry while Redis is away;
// beyond it the oldest are not retried (their records expire within TTL).
const maxPending = 100_000

func newSharedLevel(m *Cache, store VersionedStore, name string) *sharedLevel {
	var b [8]byte
	rand.Read(b[:])
	ctx, cancel := context.WithCancel(context.Background())
	s := &sharedLevel{
		m: m, store: store, name: name, self: hex.EncodeToString(b[:]),
		channel: "meta:invalidate:" + name, stop: cancel,
		// A version must outlive every record stored under it and every
		// ticket that may still carry it (see redis.Tier.BumpVersion).
		versTTL:  max(m.cfg.TTL+m.cfg.StaleIfError, m.cfg.VerdictTTL) + 2*ticketLifetime,
		pending:  map[string]struct{}{},
		pendWake: make(chan struct{}, 1),
	}
	s.acks.init()
	retried := make(chan struct{})
	go func() {
		defer close(retried)
		s.retry(ctx)
	}()
	s.running = []<-chan struct{}{
		store.Subscribe(ctx, s.ackChannel(s.self), s.acked, func() {}),
		store.Subscribe(ctx, s.channel, s.received, s.resubscribed),
		retried,
	}
	return s
}

// close ends the subscriptions and the retry loop and returns once none of
// their callbacks is running or can run.
func (s *sharedLevel) close() {
	s.stop()
	for _, done := range s.running {
		<-done
	}
}

func (s *sharedLevel) recordKey(id string) string  { return "meta:{" + id + "}:" + s.name + ":img" }
func (s *sharedLevel) versionKey(id string) string { return "meta:{" + id + "}:" + s.name + ":ver" }
func (s *sharedLevel) leaseKey(id string) string   { return "meta:{" + id + "}:" + s.name + ":lead" }
func (s *sharedLevel) verdictKey(id, project string) string {
	return "meta:{" + id + "}:" + s.name + ":member:" + project
}

// sharedRecord is a record or verdict as Redis keeps it.
type sharedRecord struct {
	Version string           `json:"v"`
	Fetched int64            `json:"f"` // unix ns, the region's answer
	Image   *backends.Image  `json:"i,omitempty"`
	Member  *backends.Member `json:"m,omitempty"`
}

func (r *sharedRecord) fetched() time.Time { return time.Unix(0, r.Fetched) }

// image returns id's record when Redis holds one under its current
// version, and that version (ok: Redis answered).
func (s *sharedLevel) image(ctx context.Context, id string) (*sharedRecord, string, bool) {
	b, version, ok := s.store.GetVersioned(ctx, s.recordKey(id), s.versionKey(id))
	rec := s.decode(b, version)
	if rec == nil || rec.Image == nil || rec.Image.ID != id || s.m.freshness(rec.fetched()) == Missing {
		return nil, version, ok
	}
	return rec, version, ok
}

func (s *sharedLevel) member(ctx context.Context, id, project string) (*sharedRecord, string, bool) {
	b, version, ok := s.store.GetVersioned(ctx, s.verdictKey(id, project), s.versionKey(id))
	return s.decode(b, version), version, ok
}

// decode returns the record in b if it was stored under version.
func (s *sharedLevel) decode(b []byte, version string) *sharedRecord {
	if b == nil {
		return nil
	}
	var rec sharedRecord
	if json.Unmarshal(b, &rec) != nil || rec.Version != version {
		return nil
	}
	return &rec
}

// putImage stores img under version unless the version moved since (a
// write on some instance): outdated says the answer is older than that
// write, and no level may keep it.
func (s *sharedLevel) putImage(ctx context.Context, version string, img *backends.Image, fetched time.Time) (outdated bool) {
	b, err := json.Marshal(sharedRecord{Version: version, Fetched: fetched.UnixNano(), Image: img})
	if err != nil {
		return false
	}
	stored, ok := s.store.SetIfVersion(ctx, s.recordKey(img.ID), s.versionKey(img.ID), version, b, s.m.cfg.TTL+s.m.cfg.StaleIfError)
	return ok && !stored
}

func (s *sharedLevel) putMember(ctx context.Context, version, id, project string, member *backends.Member, fetched time.Time) (outdated bool) {
	b, err := json.Marshal(sharedRecord{Version: version, Fetched: fetched.UnixNano(), Member: member})
	if err != nil {
		return false
	}
	stored, ok := s.store.SetIfVersion(ctx, s.verdictKey(id, project), s.versionKey(id), version, b, s.m.cfg.VerdictTTL)
	return ok && !stored
}

// invalidate moves id's version (voiding its record and verdicts in Redis
// and every ticket carrying the old version) and tells the other
// instances, and returns once they have all applied it (or ackWait has
// passed): a client that wrote through this instance reads what it wrote
// through any other. Redis not answering: retried in the background.
func (s *sharedLevel) invalidate(ctx context.Context, id string) (string, bool) {
	seq, w := s.acks.expect()
	defer s.acks.done(seq)
	v, receivers, ok := s.store.BumpVersion(ctx, s.recordKey(id), s.versionKey(id), s.versTTL, s.channel, s.self+"/"+seq+" "+id)
	if ok {
		w.wait(receivers, ackWait)
	} else {
		s.pendMu.Lock()
		if len(s.pending) < maxPending {
			s.pending[id] = struct{}{}
		}
		s.pendMu.Unlock()
		select {
		case s.pendWake <- struct{}{}:
		default:
		}
	}
	return v, ok
}

// retry hands Redis the invalidations it missed, once it answers again:
// until then other instances may serve the old record (within
// cache.metadata_ttl), and a Redis that kept its data would keep it.
func (s *sharedLevel) retry(ctx context.Context) {
	tick := time.NewTicker(500 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-s.pendWake:
		}
		for {
			s.pendMu.Lock()
			ids := make([]string, 0, len(s.pending))
			for id := range s.pending {
				ids = append(ids, id)
			}
			s.pendMu.Unlock()
			if len(ids) == 0 {
				break
			}
			for _, id := range ids {
				if ctx.Err() != nil {
					return // closing: not one more Redis call to wait for
				}
				if _, _, ok := s.store.BumpVersion(ctx, s.recordKey(id), s.versionKey(id), s.versTTL, s.channel, s.self+" "+id); !ok {
					break
				}
				s.pendMu.Lock()
				delete(s.pending, id)
				s.pendMu.Unlock()
			}
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
			}
		}
	}
}

// received is an invalidation published by an instance: "<instance> <id>",
// or "<instance>/<seq> <id>" when the instance waits for it to be
// acknowledged (its own included: the count it waits for is every
// subscriber Redis handed it to).
func (s *sharedLevel) received(msg string) {
	from, id, ok := strings.Cut(msg, " ")
	if !ok {
		return
	}
	from, seq, wantsAck := strings.Cut(from, "/")
	if from != s.self {
		s.m.invalidateLocal(id)
		s.m.others.Add(1)
		if f := s.m.onOthers.Load(); f != nil {
			(*f)(id)
		}
	}
	if wantsAck {
		s.store.Publish(context.Background(), s.ackChannel(from), seq)
	}
}

// resubscribed: invalidations published while the subscription was down
// are lost, so nothing the first level holds can be believed any more.
func (s *sharedLevel) resubscribed() {
	s.m.InvalidateAll()
	s.m.others.Add(1)
	s.subscriptions.Add(1)
}

// recordLease bounds how long the other instances of a site wait for the
// one asking the region for a record: past it (an instance that died
// asking, a region slower than this) they ask themselves.
const recordLease = 2 * time.Second

// leasePoll is how often a waiting instance looks in Redis for the
// leader's answer.
const leasePoll = 2 * time.Millisecond

func noRelease() {}

// lead makes one instance of the site ask the region for id's record when
// several miss it at once (each instance already coalesces its own
// misses): the first takes a lease in Redis and asks; the others wait for
// its answer in Redis and return it (Fresh), or, when the leader let go
// without one (an error, a record not kept, its lease run out), ask
// themselves. release lets the lease go; call it once the answer is
// remembered. Redis not answering: everyone asks, as without it.
func (s *sharedLevel) lead(ctx context.Context, id string) (*backends.Image, func()) {
	key := s.leaseKey(id)
	token := s.self + "/" + strconv.FormatUint(s.leads.Add(1), 36)
	cur, ok := s.store.SwapLease(ctx, key, "", token, recordLease)
	if !ok {
		return nil, noRelease
	}
	if cur == token {
		return nil, func() { s.store.SwapLease(context.WithoutCancel(ctx), key, token, "", 0) }
	}
	deadline := time.Now().Add(recordLease)
	tick := time.NewTicker(leasePoll)
	defer tick.Stop()
	for time.Now().Before(deadline) {
		select {
		case <-ctx.Done():
			return nil, noRelease
		case <-tick.C:
		}
		if img, f, _ := s.m.Recheck(ctx, id); f == Fresh {
			return img, noRelease
		}
		if cur, ok := s.store.SwapLease(ctx, key, "", "", 0); !ok || cur == "" {
			// Let go without an answer this instance can use
			// (errors are the asker's own): ask.
			return nil, noRelease
		}
	}
	return nil, noRelease
}
