package blob

import (
	"errors"
	"fmt"
	"sort"
)

// diskBlock is the unit the bound counts in: the block size of ext4 and
// XFS. On a filesystem with larger blocks, an entry takes a little more
// than it is counted for.
const diskBlock = 4 << 10

// entryOverhead is what an entry takes besides its data: its record, the
// record's replacement while it is written, its names in the directory,
// and the data file's extent blocks.
const entryOverhead = 4 * diskBlock

// entryCharge is what an entry of an image of size bytes counts against
// MaxSize.
func entryCharge(size int64) int64 {
	return (size+diskBlock-1)/diskBlock*diskBlock + entryOverhead
}

// blobBounds are the size bound and watermarks, replaced whole by
// SetBounds.
type blobBounds struct {
	max       int64
	high, low float64
}

func newBounds(max int64, high, low float64) (*blobBounds, error) {
	if max <= 0 {
		return nil, errors.New("cache: blob cache size must be positive")
	}
	if high == 0 {
		high = 0.9
	}
	if low == 0 {
		low = 0.8
	}
	if !(low > 0 && low < high && high <= 1) {
		return nil, fmt.Errorf("cache: need 0 < low (%v) < high (%v) <= 1", low, high)
	}
	return &blobBounds{max: max, high: high, low: low}, nil
}

// SetBounds changes the size bound and the watermarks (0: the defaults) of
// a running cache, e.g. on a configuration reload. A smaller bound evicts
// least recently used entries nobody reads at once, down to the new low
// watermark; if the fills in progress still do not fit under the new
// bound, those with the fewest bytes written stop and leave the cache
// (their readers go on from the origin without noticing), so that the
// bound holds when SetBounds returns.
func (b *Cache) SetBounds(maxSize int64, high, low float64) error {
	nb, err := newBounds(maxSize, high, low)
	if err != nil {
		return err
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	b.bounds.Store(nb)
	b.makeRoomLocked(0)
	b.shedFillsLocked(nb.max)
	return nil
}

// shedFillsLocked drops entries being filled, fewest bytes written first,
// until what stays counts at most max. A dropped fill's blocks and charge
// go at once (removeFiles truncates it); its readers go on from the origin.
func (b *Cache) shedFillsLocked(max int64) {
	kept := b.used - b.leaving
	if kept <= max {
		return
	}
	var fills []*entry
	for _, e := range b.entries {
		e.mu.Lock()
		if e.state == stateFilling {
			fills = append(fills, e)
		}
		e.mu.Unlock()
	}
	written := func(e *entry) int64 {
		e.mu.Lock()
		defer e.mu.Unlock()
		return e.ext.Total()
	}
	sort.Slice(fills, func(i, j int) bool { return written(fills[i]) < written(fills[j]) })
	for _, e := range fills {
		if kept <= max {
			return
		}
		b.log.Warn("blob cache bound lowered under its fills; this one goes on from the origin, uncached",
			"region", e.key.Region, "image", e.key.Image, "size", e.exp.Size)
		kept -= e.charge
		b.dropLocked(e)
	}
}

// reserveLocked counts need more bytes in used, first evicting least
// recently used entries nobody reads if they must go for need to fit
// under the bound. When even evicting all of them would not make room, it
// evicts nothing and returns false.
func (b *Cache) reserveLocked(need int64) bool {
	max := b.bounds.Load().max
	if b.used+need > max {
		var evictable int64
		for _, e := range b.entries {
			if e.evictable() {
				evictable += e.charge
			}
		}
		if b.used-evictable+need > max {
			return false
		}
	}
	b.makeRoomLocked(need)
	if b.used+need > max { // not expected: makeRoomLocked evicts down to low-need, or everything
		return false
	}
	b.used += need
	return true
}

// makeRoomLocked evicts least recently used entries nobody reads until
// need more bytes fit under the high watermark, down to the low one.
func (b *Cache) makeRoomLocked(need int64) {
	bd := b.bounds.Load()
	high := int64(float64(bd.max) * bd.high)
	if b.used+need <= high {
		return
	}
	low := int64(float64(bd.max) * bd.low)
	b.evictLocked(low - need)
}

// evictLocked evicts least recently used entries nobody reads (complete
// ones, and partial ones no fill works on) until used <= target; it
// returns what it removed.
func (b *Cache) evictLocked(target int64) (files int, bytes int64) {
	var victims []*entry
	for _, e := range b.entries {
		if e.evictable() {
			victims = append(victims, e)
		}
	}
	sort.Slice(victims, func(i, j int) bool { return victims[i].lru.Before(victims[j].lru) })
	for _, e := range victims {
		if b.used <= target {
			break
		}
		b.dropLocked(e)
		files++
		bytes += e.exp.Size
		b.stats.evictions.Add(1)
	}
	return files, bytes
}

// dropLocked forgets an entry and removes its files. A fill in progress
// stops and its readers go on from the origin; an incomplete entry's
// blocks and charge go at once. Readers of a complete entry keep reading
// it (the data stays until they close it, and counts until then).
func (b *Cache) dropLocked(e *entry) {
	b.unindexLocked(e)
	e.stop()
	e.removeFiles()
	b.closeIfIdleLocked(e)
}

// unindexLocked takes e out of the index; its charge is leaving.
func (b *Cache) unindexLocked(e *entry) {
	if b.entries[e.key] == e {
		delete(b.entries, e.key)
		b.leaving += e.charge
	}
}

// closeIfIdle closes the fill's file once the fill is over and no fill
// reader uses it. An entry out of the index gives its charge back once its
// blocks are gone: at once when it was incomplete (removeFiles truncated
// it), when its file is closed when complete.
func (b *Cache) closeIfIdle(e *entry) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.closeIfIdleLocked(e)
}

func (b *Cache) closeIfIdleLocked(e *entry) {
	e.mu.Lock()
	if e.refs == 0 && !e.filling && e.state != stateFilling && e.f != nil {
		e.f.Close()
		e.f = nil
	}
	gone := e.f == nil || e.state != stateComplete
	e.mu.Unlock()
	if gone && e.charge > 0 && b.entries[e.key] != e {
		b.used -= e.charge
		b.leaving -= e.charge
		e.charge = 0
	}
}
