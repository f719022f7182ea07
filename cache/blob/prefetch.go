package blob

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/spyglass-gateway/spyglass/backends"
	"github.com/spyglass-gateway/spyglass/logctx"
)

type queued struct {
	reqID  string // of the request that queued it, for the fill's log lines
	key    Key
	exp    Expect
	origin Origin
	at     time.Time
}

// Prefetch queues a fill of the image if it is neither complete nor being
// filled; the prefetcher runs the queue one image at a time through the same
// fill path reads use. ctx is only for the request id of the fill's log
// lines: the fill outlives the request. A cache whose disk cannot take a
// new entry now (read-only, gone, failing) refuses the image with the
// disk's error rather than queue what the prefetcher could only drop.
func (b *Cache) Prefetch(ctx context.Context, k Key, exp Expect, o Origin) error {
	if !b.cacheable(exp) {
		return fmt.Errorf("image %s cannot be cached: %w", k.Image, backends.ErrBadRequest)
	}
	b.mu.Lock()
	pending := b.pendingLocked(k, exp)
	b.mu.Unlock()
	if pending {
		return nil
	}
	// Glance creates the image's file in its queue directory here, and
	// answers 500 when it cannot; the probe is the same question asked of
	// this cache's directory.
	if err := b.CheckDisk(); err != nil {
		return fmt.Errorf("the image data cache cannot take image %s: %w", k.Image, err)
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.pendingLocked(k, exp) {
		return nil
	}
	b.queue = append(b.queue, queued{reqID: logctx.RequestID(ctx), key: k, exp: exp, origin: o, at: time.Now()})
	select {
	case b.kick <- struct{}{}:
	default:
	}
	return nil
}

// pendingLocked: the image is complete, being filled or queued already.
func (b *Cache) pendingLocked(k Key, exp Expect) bool {
	if e := b.entries[k]; e != nil && e.exp == exp {
		return true
	}
	for _, q := range b.queue {
		if q.key == k {
			return true
		}
	}
	return false
}

func (b *Cache) removeQueuedLocked(k Key) bool {
	for i, q := range b.queue {
		if q.key == k {
			b.queue = append(b.queue[:i], b.queue[i+1:]...)
			return true
		}
	}
	return false
}

// prefetcher runs queued prefetches one at a time, each no sooner than
// PrefetchDelay after it was queued. A prefetch keeps its queue slot while
// its fill runs: the image is listed as queued until it is cached (or the
// fill fails), never as neither.
func (b *Cache) prefetcher() {
	defer b.wg.Done()
	for range b.kick {
		for {
			b.mu.Lock()
			if b.closed {
				b.mu.Unlock()
				return
			}
			if len(b.queue) == 0 {
				b.mu.Unlock()
				break
			}
			q := b.queue[0]
			b.mu.Unlock()
			if wait := time.Until(q.at.Add(b.cfg.PrefetchDelay)); wait > 0 {
				// A kick (a new prefetch, a Close) ends the wait early:
				// the loop looks at the queue again.
				t := time.NewTimer(wait)
				select {
				case <-t.C:
				case <-b.kick:
					t.Stop()
				}
				continue
			}
			ctx := logctx.WithRequestID(context.Background(), q.reqID)
			d, _, why, err := b.openEntry(ctx, q.key, q.exp, q.origin)
			switch {
			case why == bypassDisk || err != nil:
				// The disk failed after the image was queued.
				if err == nil {
					err = errors.New("the cache cannot hold it now (its disk fails; see /ready)")
				}
				b.dequeue(q)
				b.prefetchFailed(ctx, q, err)
				continue
			case why != cached:
				// A prefetch reads nothing through: with no room it is
				// only skipped.
				b.dequeue(q)
				b.log.WarnContext(ctx, "prefetch skipped: the blob cache cannot take the image now", "region", q.key.Region,
					"image", q.key.Image, "size", q.exp.Size, "full", why == bypassFull)
				continue
			}
			// The entry is released before anything else: an entry being
			// read is never evicted, and an operator may shrink the cache
			// the moment it is complete.
			if fd, ok := d.(*fillData); ok {
				if err := fd.e.wait(context.Background()); err != nil && !fd.e.stoppedOnPurpose() {
					d.Close()
					b.dequeue(q)
					b.prefetchFailed(ctx, q, err)
					continue
				}
			}
			d.Close()
			b.dequeue(q)
		}
	}
}

// dequeue removes the prefetch q from the queue once its fill has ended;
// a slot queued again since (after a Delete or Clear) stays.
func (b *Cache) dequeue(q queued) {
	b.mu.Lock()
	defer b.mu.Unlock()
	for i, o := range b.queue {
		if o.key == q.key && o.at.Equal(q.at) {
			b.queue = append(b.queue[:i], b.queue[i+1:]...)
			return
		}
	}
}

// prefetchFailed says that a queued prefetch left nothing cached: nobody
// waits on it to hear so.
func (b *Cache) prefetchFailed(ctx context.Context, q queued, err error) {
	b.stats.prefetchesFailed.Add(1)
	b.log.ErrorContext(ctx, "prefetch failed: the image is not cached", "region", q.key.Region, "image", q.key.Image, "err", err)
}
