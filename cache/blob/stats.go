package blob

// Stats counts what the cache did, for metrics and tests.
type Stats struct {
	Hits, Misses, Fills, FillsFailed, Evictions int64
	// Bypasses counts the reads streamed straight from their origins, by
	// why the cache did not take the image.
	Bypasses Bypasses
	// OriginBytes is every byte read from origins by fills and fetches
	// ahead; BypassBytes those streamed straight through (not cached).
	OriginBytes, BypassBytes int64
	// PeerBytes is what fills (and reads the cache did not take) streamed
	// from the site's other instances (streams marked PeerStream); what
	// this instance streamed to them is site.Stats.ServedBytes.
	PeerBytes int64
	// UsedBytes is what the cache counts against MaxBytes: each entry's
	// size in whole disk blocks with its record (a fill counts its whole
	// expected size from its start; a complete entry dropped while a fill
	// reader still reads it counts until that reader is done), and the
	// directories. MaxBytes, HighBytes and LowBytes are
	// the bound and the watermarks it is evicted between.
	UsedBytes, MaxBytes, HighBytes, LowBytes int64
	// FillsInFlight is the fills running now; FillWaiters the readers
	// attached to them (waiters per fill = FillWaiters / FillsInFlight).
	FillsInFlight, FillWaiters int64
	// PrefetchesFailed counts queued prefetches that left nothing cached:
	// their fill failed, or the cache could not hold the image when its
	// turn came (each is also logged).
	PrefetchesFailed int64
}

// Bypasses counts reads streamed from their origins, uncached, by
// reason.
type Bypasses struct {
	// Uncacheable: nothing to verify the bytes against (no size, no
	// checksum, an unknown hash algorithm), larger than the low watermark,
	// or an image id that cannot name a file.
	Uncacheable int64
	// Full: the entries being read and the fills in progress left no room
	// for the image's size under MaxSize.
	Full int64
	// Disk: the cache's directory or the entry's files could not be
	// written (or the cache was closing).
	Disk int64
}

// Total is every bypass, whatever the reason.
func (n Bypasses) Total() int64 { return n.Uncacheable + n.Full + n.Disk }

// bypassReason says why the cache did not take an image (0: it did).
type bypassReason uint8

const (
	cached bypassReason = iota
	bypassUncacheable
	bypassFull
	bypassDisk
)

// Stats reports the counters.
func (b *Cache) Stats() Stats {
	var fills, waiters int64
	b.mu.Lock()
	used := b.used
	for _, e := range b.entries {
		e.mu.Lock()
		if e.filling {
			fills++
			waiters += int64(e.refs)
		}
		e.mu.Unlock()
	}
	b.mu.Unlock()
	bd := b.bounds.Load() // the bounds in force: a reload may have changed them
	return Stats{
		MaxBytes: bd.max, HighBytes: int64(float64(bd.max) * bd.high), LowBytes: int64(float64(bd.max) * bd.low),
		FillsInFlight: fills, FillWaiters: waiters,
		Hits: b.stats.hits.Load(), Misses: b.stats.misses.Load(), Fills: b.stats.fills.Load(),
		FillsFailed: b.stats.fillsFailed.Load(),
		Bypasses: Bypasses{Uncacheable: b.stats.bypassUncacheable.Load(), Full: b.stats.bypassFull.Load(),
			Disk: b.stats.bypassDisk.Load()},
		Evictions: b.stats.evictions.Load(), OriginBytes: b.stats.originBytes.Load(),
		BypassBytes: b.stats.bypassBytes.Load(), UsedBytes: used,
		PeerBytes:        b.stats.peerBytes.Load(),
		PrefetchesFailed: b.stats.prefetchesFailed.Load(),
	}
}
