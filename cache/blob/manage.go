package blob

import (
	"sort"
	"time"
)

// Cached is one complete entry, for Glance's cache-management API.
type Cached struct {
	Key          Key
	Size         int64
	Hits         int64
	LastAccessed time.Time
	LastModified time.Time
}

// List returns the complete entries (by key) and the prefetches not yet
// started (in the order they were queued).
func (b *Cache) List() (cached []Cached, queued []Key) {
	b.mu.Lock()
	defer b.mu.Unlock()
	for _, e := range b.entries {
		if e.isCached() {
			cached = append(cached, Cached{Key: e.key, Size: e.exp.Size, Hits: e.hits, LastAccessed: e.lastAccess, LastModified: e.modified})
		}
	}
	sort.Slice(cached, func(i, j int) bool {
		if cached[i].Key.Image != cached[j].Key.Image {
			return cached[i].Key.Image < cached[j].Key.Image
		}
		return cached[i].Key.Region < cached[j].Key.Region
	})
	for _, q := range b.queue {
		// A prefetch keeps its slot until its fill has completed and the
		// prefetcher dequeues it: from its verdict on, the image is
		// cached, and listed so only (Glance drops the queue file as it
		// commits the cached one).
		if e := b.entries[q.key]; e != nil && e.isCached() {
			continue
		}
		queued = append(queued, q.key)
	}
	return cached, queued
}

// Partial is an entry not complete yet: being filled (Filling), or left
// by a fill that stopped, to be resumed by the next read.
type Partial struct {
	Key     Key
	Size    int64 // the image's
	Have    int64 // bytes written so far
	Filling bool
}

// Partial lists the entries that are not complete, by key.
func (b *Cache) Partial() []Partial {
	b.mu.Lock()
	defer b.mu.Unlock()
	var out []Partial
	for _, e := range b.entries {
		e.mu.Lock()
		if e.state == stateFilling && !e.stopped {
			out = append(out, Partial{Key: e.key, Size: e.exp.Size, Have: e.ext.Total(), Filling: e.filling})
		}
		e.mu.Unlock()
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Key.Image != out[j].Key.Image {
			return out[i].Key.Image < out[j].Key.Image
		}
		return out[i].Key.Region < out[j].Key.Region
	})
	return out
}

// Delete drops the image's entry and queue slot; found is false when there
// was neither.
func (b *Cache) Delete(k Key) (found bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	found = b.removeQueuedLocked(k)
	if e := b.entries[k]; e != nil {
		b.dropLocked(e)
		found = true
	}
	return found
}

// Clear drops every complete entry (cached) and/or every queued prefetch
// (queue), and says how many of each.
func (b *Cache) Clear(cached, queue bool) (cacheDeleted, queueDeleted int) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if queue {
		queueDeleted = len(b.queue)
		b.queue = nil
	}
	if cached {
		for _, e := range b.entries {
			if e.isCached() {
				b.dropLocked(e)
				cacheDeleted++
			}
		}
	}
	return cacheDeleted, queueDeleted
}

// Clean removes partial entries no fill is working on (left by a crash, or
// by a fill that gave up), as Glance's cache cleaner removes invalid and
// stalled files; it returns how many it removed.
func (b *Cache) Clean() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	n := 0
	for _, e := range b.entries {
		if e.dormant() {
			b.dropLocked(e)
			n++
		}
	}
	return n
}

// Prune evicts least recently used entries until the cache is within its
// size bound, as Glance's cache pruner; it returns what it removed.
func (b *Cache) Prune() (files int, bytes int64) {
	b.mu.Lock()
	defer b.mu.Unlock()
	max := b.bounds.Load().max
	if b.used <= max {
		return 0, 0
	}
	return b.evictLocked(max)
}
