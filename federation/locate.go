package federation

import (
	"math/bits"
	"sync"
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

// locations is the location index: which regions hold an image id, learned
// from every listing, show, create and copy. It is a bounded map rather
// than a cache with admission policies because a miss costs a lookup across
// every region: whatever was learned is kept until the bound, then an
// arbitrary tenth is dropped.
type locations struct {
	mu  sync.RWMutex
	ids map[string]regionSet
	max int
}

func newLocations(max int) *locations {
	return &locations{ids: make(map[string]regionSet), max: max}
}

func (l *locations) get(id string) regionSet {
	l.mu.RLock()
	s := l.ids[id]
	l.mu.RUnlock()
	return s
}

// add records that region i holds id.
func (l *locations) add(id string, i int) {
	l.mu.RLock()
	s, ok := l.ids[id]
	l.mu.RUnlock()
	if ok && s.has(i) {
		return
	}
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
	l.ids[id] |= one(i)
	l.mu.Unlock()
}

// remove records that region i no longer holds id.
func (l *locations) remove(id string, i int) {
	l.mu.Lock()
	if s := l.ids[id] &^ one(i); s == 0 {
		delete(l.ids, id)
	} else {
		l.ids[id] = s
	}
	l.mu.Unlock()
}
