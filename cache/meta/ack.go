package meta

import (
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

// Acknowledged invalidations. Redis delivers an invalidation to the other
// instances asynchronously: without more, a client whose write through one
// instance was answered could read the old record through another for as
// long as the message takes to arrive and be applied (tens of
// milliseconds under load), which two workers of one Glance, sharing its
// database, never show. So every instance that applies an invalidation
// acknowledges it on the writer's own channel, and the writer answers its
// client once as many acknowledgements came as Redis counted receivers
// for the message — or after ackWait, so that an instance that stopped
// reading its subscription slows writes by that much at most, never stops
// them. On a Redis Cluster the count is the receivers on one node: the
// wait is shorter, the guarantee weaker.

// ackWait bounds how long a write waits for the other instances to have
// applied its invalidation.
const ackWait = 250 * time.Millisecond

func (s *sharedLevel) ackChannel(instance string) string {
	return "meta:ack:" + s.name + ":" + instance
}

// acks are the invalidations of this instance waiting for
// acknowledgements, by sequence number.
type acks struct {
	seq     atomic.Uint64
	mu      sync.Mutex
	waiting map[string]*ackWaiter
}

type ackWaiter struct {
	got  atomic.Int64
	wake chan struct{} // a token per acknowledgement, at most one pending
}

func (a *acks) init() { a.waiting = map[string]*ackWaiter{} }

// expect registers a waiter for a new invalidation before it is published
// (an acknowledgement may come back before the publisher hears how many to
// expect).
func (a *acks) expect() (string, *ackWaiter) {
	seq := strconv.FormatUint(a.seq.Add(1), 36)
	w := &ackWaiter{wake: make(chan struct{}, 1)}
	a.mu.Lock()
	a.waiting[seq] = w
	a.mu.Unlock()
	return seq, w
}

func (a *acks) done(seq string) {
	a.mu.Lock()
	delete(a.waiting, seq)
	a.mu.Unlock()
}

// acked is an acknowledgement of this instance's invalidation seq.
func (s *sharedLevel) acked(seq string) {
	s.acks.mu.Lock()
	w := s.acks.waiting[seq]
	s.acks.mu.Unlock()
	if w == nil {
		return // it waited long enough already
	}
	w.got.Add(1)
	select {
	case w.wake <- struct{}{}:
	default:
	}
}

// wait returns once n acknowledgements came, or after limit.
func (w *ackWaiter) wait(n int, limit time.Duration) {
	if int(w.got.Load()) >= n {
		return
	}
	timer := time.NewTimer(limit)
	defer timer.Stop()
	for int(w.got.Load()) < n {
		select {
		case <-w.wake:
		case <-timer.C:
			return
		}
	}
}
