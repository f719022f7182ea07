package federation

import (
	"context"
	"math/bits"
	"sync"
	"time"

	"github.com/spyglass-gateway/spyglass/cache/redis"
)

// regionSet is a set of regions by their index in the catalog (at most 64
// regions, which Config.validate enforces).
type regionSet uint64

func (s regionSet) has(i int) bool { return s&(1<<uint(i)) != 0 }

// primary is the region whose copy of an image stands for it in listings
// and serves it: the first configured one holding it.
func (s regionSet) primary() int { return bits.TrailingZeros64(uint64(s)) }

func (s regionSet) count() int { return bits.OnesCount64(uint64(s)) }

func one(i int) regionSet { return 1 << uint(i) }

// SharedSets is what the location index needs from the shared tier
// (redis.Tier): a set of region names per image. Like SharedStore it
// never fails, only misses.
type SharedSets interface {
	SetAdd(ctx context.Context, key, member string, ttl time.Duration)
	SetRemove(ctx context.Context, key, member string)
	SetMembers(ctx context.Context, key string) ([]string, bool)
}

// locations is the location index: which regions hold an image id, learned
// from every listing, show, create and copy. It is a bounded map rather
// than a cache with admission policies because a miss costs a lookup across
// every region: whatever was learned is kept until the bound, then an
// arbitrary tenth is dropped.
//
// With a shared tier the map is the first level and Redis the second: a
// miss asks Redis before the regions, and what an instance learns is added
// there in the background (a listing learns hundreds of ids at once). Redis
// knows regions by name, so instances must name their regions alike. An
// entry that is wrong (a copy deleted behind the gateway, a learning that
// raced a delete) costs what it costs today: the region answers not found,
// the entry is dropped and the image looked up again.
type locations struct {
	mu  sync.RWMutex
	ids map[string]regionSet
	max int

	shared  SharedSets // nil: none
	names   []string   // region index → name, for the shared tier
	learned chan learnedLocation
	stop    context.CancelFunc
}

type learnedLocation struct {
	id     string
	region int
}

// locationTTL is how long Redis keeps an image's locations without anyone
// learning them again.
const locationTTL = 24 * time.Hour

func newLocations(max int) *locations {
	return &locations{ids: make(map[string]regionSet), max: max}
}

// share makes Redis the index's second level.
func (l *locations) share(shared SharedSets, names []string) {
	ctx, cancel := context.WithCancel(context.Background())
	l.shared, l.names, l.stop = shared, names, cancel
	l.learned = make(chan learnedLocation, 4096)
	go func() {
		for {
			select {
			case <-ctx.Done():
				return
			case a := <-l.learned:
				l.shared.SetAdd(ctx, locationKey(a.id), l.names[a.region], locationTTL)
			}
		}
	}()
}

func (l *locations) close() {
	if l.stop != nil {
		l.stop()
	}
}

func locationKey(id string) string { return "loc:{" + id + "}" }

func (l *locations) get(ctx context.Context, id string) regionSet {
	l.mu.RLock()
	s := l.ids[id]
	l.mu.RUnlock()
	if s != 0 || l.shared == nil {
		return s
	}
	names, _ := l.shared.SetMembers(ctx, locationKey(id))
	for _, name := range names {
		for i, n := range l.names {
			if n == name {
				s |= one(i)
				l.set(id, one(i))
			}
		}
	}
	return s
}

// add records that region i holds id (in Redis too, before it returns:
// a show or write learned it, and the next instance asked should know).
func (l *locations) add(ctx context.Context, id string, i int) {
	if l.known(id, i) {
		return
	}
	l.set(id, one(i))
	if l.shared != nil {
		l.shared.SetAdd(ctx, locationKey(id), l.names[i], locationTTL)
	}
}

// listed records that a listing found id in region i; Redis learns it in
// the background (a page teaches hundreds of ids at once).
func (l *locations) listed(id string, i int) {
	if l.known(id, i) {
		return
	}
	l.set(id, one(i))
	if l.shared != nil {
		select {
		case l.learned <- learnedLocation{id, i}:
		default: // Redis is behind: a show will teach it
		}
	}
}

func (l *locations) known(id string, i int) bool {
	l.mu.RLock()
	s, ok := l.ids[id]
	l.mu.RUnlock()
	return ok && s.has(i)
}

func (l *locations) set(id string, add regionSet) {
	l.mu.Lock()
	if len(l.ids) >= l.max {
		drop := l.max / 10
		for k := range l.ids {
			if drop <= 0 {
				break
			}
			delete(l.ids, k)
			drop--
		}
	}
	l.ids[id] |= add
	l.mu.Unlock()
}

// forget drops what this instance knows of id's regions (not Redis's): it
// asks Redis, or the regions, next time. Another instance wrote to the
// image, and may have copied or moved it.
func (l *locations) forget(id string) {
	l.mu.Lock()
	delete(l.ids, id)
	l.mu.Unlock()
}

// changed records what region i itself says of id after another
// instance wrote to it there: whether it holds id. An image this index
// knows nothing of stays unknown (the regions are asked when it is next
// looked up).
func (l *locations) changed(ctx context.Context, id string, i int, holds bool) {
	if !holds {
		l.remove(ctx, id, i)
		return
	}
	l.mu.Lock()
	s, ok := l.ids[id]
	if ok {
		l.ids[id] = s | one(i)
	}
	l.mu.Unlock()
	if ok && l.shared != nil {
		l.shared.SetAdd(ctx, locationKey(id), l.names[i], locationTTL)
	}
}

// remove records that region i no longer holds id.
func (l *locations) remove(ctx context.Context, id string, i int) {
	l.mu.Lock()
	if s := l.ids[id] &^ one(i); s == 0 {
		delete(l.ids, id)
	} else {
		l.ids[id] = s
	}
	l.mu.Unlock()
	if l.shared != nil {
		l.shared.SetRemove(ctx, locationKey(id), l.names[i])
	}
}

var _ SharedSets = (*redis.Tier)(nil)
