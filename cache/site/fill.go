package site

import (
	"context"
	"errors"
	"io"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/spyglass-gateway/spyglass/cache/blob"
)

// leaseKey names an image's fill lease: the expectations are part of it, so
// instances that disagree about an image's bytes never wait on each other.
func leaseKey(k blob.Key, exp blob.Expect) string {
	sum := exp.HashValue
	if sum == "" {
		sum = exp.Checksum
	}
	return "fill:" + k.Region + "/" + k.Image + ":" + strconv.FormatInt(exp.Size, 10) + ":" + strings.ToLower(sum)
}

// siteFill is the origin of a fill when instances coordinate: the region
// while this instance holds the image's lease, the holder's peer stream
// while another does. One per fill; the fill and its fetches ahead call
// Fetch concurrently.
type siteFill struct {
	peerSource
	origin blob.Origin

	mu       sync.Mutex
	mine     string        // the lease value this instance holds, "" if none
	ended    bool          // the fill is over: a late fetch ahead takes no lease
	refresh  chan struct{} // closed to stop the refresher
	peerUsed map[string]bool
	failed   map[string]bool // holders whose stream broke during this fill
	// leased are the region streams open under the lease: when another
	// instance takes the lease over, they end, and the fill goes on from
	// that instance instead of reading the region a second time.
	leased map[*leasedStream]struct{}
}

func newSiteFill(f *Filler, k blob.Key, exp blob.Expect, o blob.Origin) *siteFill {
	return &siteFill{peerSource: newPeerSource(f, k, exp), origin: o,
		peerUsed: map[string]bool{}, failed: map[string]bool{}, leased: map[*leasedStream]struct{}{}}
}

// peerSource streams an image from the site's instance that holds its
// lease: what a fill and a pass-through share.
type peerSource struct {
	f   *Filler
	k   blob.Key
	exp blob.Expect
	key string // the lease's
}

func newPeerSource(f *Filler, k blob.Key, exp blob.Expect) peerSource {
	return peerSource{f: f, k: k, exp: exp, key: leaseKey(k, exp)}
}

// sitePass is the origin of an image this instance does not cache (no
// room for it, say) when it is one of a site's instances: the stream of
// the instance filling it (or holding it whole), so that the site still
// reads the region once; the region when nobody holds the lease, or its
// holder cannot be streamed from. It takes no lease: it keeps nothing it
// could serve to the others.
type sitePass struct {
	peerSource
	origin blob.Origin
}

func newSitePass(f *Filler, k blob.Key, exp blob.Expect, o blob.Origin) *sitePass {
	return &sitePass{peerSource: newPeerSource(f, k, exp), origin: o}
}

func (p *sitePass) Fetch(ctx context.Context, off, n int64) (io.ReadCloser, error) {
	cur, ok := p.f.cfg.Leases.SwapLease(ctx, p.key, "", "", 0)
	l, valid := parseLease(cur)
	me := p.f.self.Load()
	if !ok || !valid || me != nil && l.instance == me.instance || p.f.distrusted(cur) {
		return p.origin.Fetch(ctx, off, n)
	}
	rc, err := p.fromPeer(ctx, l, cur, off, n)
	if err != nil {
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		p.f.log.Debug("cannot stream an uncached image from the instance that holds its lease; reading the region",
			"region", p.k.Region, "image", p.k.Image, "peer", l.url, "err", err)
		return p.origin.Fetch(ctx, off, n)
	}
	return rc, nil
}

// leasedStream is a region stream opened while this instance held the
// lease; cancel ends it (at its next read) when the lease goes to another
// instance.
type leasedStream struct {
	io.ReadCloser
	s      *siteFill
	cancel context.CancelFunc
}

func (l *leasedStream) Close() error {
	l.s.mu.Lock()
	delete(l.s.leased, l)
	l.s.mu.Unlock()
	l.cancel()
	return l.ReadCloser.Close()
}

// fromRegion opens [off, off+n) at the region; while this instance holds
// the lease, the stream is one that losing the lease ends.
func (s *siteFill) fromRegion(ctx context.Context, off, n int64) (io.ReadCloser, error) {
	s.mu.Lock()
	mine := s.mine
	leased := mine != "" && !s.ended
	s.mu.Unlock()
	if !leased {
		return s.origin.Fetch(ctx, off, n)
	}
	ctx, cancel := context.WithCancel(ctx)
	rc, err := s.origin.Fetch(ctx, off, n)
	if err != nil {
		cancel()
		return nil, err
	}
	l := &leasedStream{ReadCloser: rc, s: s, cancel: cancel}
	s.mu.Lock()
	if s.mine == mine {
		s.leased[l] = struct{}{}
	} else {
		cancel() // the lease went while the region answered
	}
	s.mu.Unlock()
	return l, nil
}

// Fetch is Origin.Fetch for the site: take the lease and read the region,
// or stream from the instance that holds it. A holder that cannot be
// streamed from (dead, unreachable, without the entry) is waited for until
// its lease changes (a dead one expires within LeaseTTL); then this
// instance takes the lease and reads the region from off.
func (s *siteFill) Fetch(ctx context.Context, off, n int64) (io.ReadCloser, error) {
	ttl := s.f.cfg.LeaseTTL
	var giveUp time.Time
	for {
		s.mu.Lock()
		mine, ended := s.mine, s.ended
		s.mu.Unlock()
		if mine != "" || ended {
			return s.fromRegion(ctx, off, n)
		}
		me := s.f.self.Load()
		want := ""
		if me != nil {
			want = lease{instance: me.instance, url: me.url}.String()
		}
		cur, ok := s.f.cfg.Leases.SwapLease(ctx, s.key, "", want, ttl)
		if !ok {
			// Redis did not answer: every instance fills alone.
			return s.origin.Fetch(ctx, off, n)
		}
		if cur == "" {
			return s.origin.Fetch(ctx, off, n) // nobody fills, and this instance serves no peers
		}
		if cur == want {
			s.took(want)
			continue
		}
		l, valid := parseLease(cur)
		switch {
		case !valid:
			s.f.log.Warn("unreadable fill lease; filling from the origin", "key", s.key, "lease", cur)
			return s.origin.Fetch(ctx, off, n)
		case me != nil && l.instance == me.instance:
			// This instance had it whole once (and lost it since): fill again.
			if s.steal(ctx, cur, want) {
				continue
			}
			return s.origin.Fetch(ctx, off, n)
		}
		if !s.distrusted(cur) {
			rc, err := s.fromPeer(ctx, l, cur, off, n)
			if err == nil {
				s.mu.Lock()
				s.peerUsed[cur] = true
				s.mu.Unlock()
				return rc, nil
			}
			if ctx.Err() != nil {
				return nil, ctx.Err()
			}
			if errors.Is(err, errPeerToken) {
				// Tokens that differ are a configuration error no wait
				// mends; taking the lease over would point the rest of
				// the site at an instance that refuses them in turn.
				s.f.log.Error("cannot stream a fill from the instance that holds its lease; filling from the origin", "region", s.k.Region,
					"image", s.k.Image, "peer", l.url, "err", err)
				return s.origin.Fetch(ctx, off, n)
			}
			s.f.log.Warn("cannot stream a fill from the instance that holds its lease", "region", s.k.Region,
				"image", s.k.Image, "peer", l.url, "err", err)
			s.mu.Lock()
			s.failed[cur] = true
			s.mu.Unlock()
		}
		if me == nil {
			return s.origin.Fetch(ctx, off, n)
		}
		now := time.Now()
		if giveUp.IsZero() {
			giveUp = now.Add(ttl + ttl/2)
		}
		if l.have || now.After(giveUp) {
			// A finished filler that lost the entry, or a live filler this
			// instance cannot reach: this instance fills for the site now.
			if s.steal(ctx, cur, want) {
				continue
			}
			if now.After(giveUp) {
				return s.origin.Fetch(ctx, off, n)
			}
		}
		select {
		case <-time.After(ttl / 5):
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
}

// distrusted: the holder's stream broke during this fill, or its bytes once
// failed verification here.
func (s *siteFill) distrusted(cur string) bool {
	s.mu.Lock()
	failed := s.failed[cur]
	s.mu.Unlock()
	return failed || s.f.distrusted(cur)
}

// steal replaces the lease value cur by want; true when this instance holds
// the lease now.
func (s *siteFill) steal(ctx context.Context, cur, want string) bool {
	got, ok := s.f.cfg.Leases.SwapLease(ctx, s.key, cur, want, s.f.cfg.LeaseTTL)
	if ok && got == want {
		s.f.log.Info("took over a fill lease", "region", s.k.Region, "image", s.k.Image, "from", cur)
		s.took(want)
		return true
	}
	return false
}

// took records that this instance holds the lease and keeps it alive until
// the fill ends.
func (s *siteFill) took(val string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.mine != "" || s.ended {
		return // an unrefreshed lease taken after the end expires by itself
	}
	s.mine = val
	s.refresh = make(chan struct{})
	stop := s.refresh
	ttl := s.f.cfg.LeaseTTL
	s.f.wg.Add(1)
	go func() {
		defer s.f.wg.Done()
		t := time.NewTicker(ttl / 3)
		defer t.Stop()
		for {
			select {
			case <-stop:
				return
			case <-t.C:
			}
			cur, ok := s.f.cfg.Leases.SwapLease(context.Background(), s.key, val, val, ttl)
			if !ok || cur == val {
				continue
			}
			if cur == "" {
				// It expired (this process was too slow to refresh it in
				// time) and nobody took it: this fill still runs, so it
				// takes it back rather than leave the site without a
				// filler, where the next instance would read the region
				// again.
				cur, ok = s.f.cfg.Leases.SwapLease(context.Background(), s.key, "", val, ttl)
				if !ok || cur == val {
					continue
				}
			}
			// Another instance took it (this one looked dead): it reads
			// the region now, and this fill goes on from it.
			s.f.log.Warn("lost a fill lease; going on from its new holder", "region", s.k.Region,
				"image", s.k.Image, "holder", cur)
			s.lost(val)
			return
		}
	}()
}

// lost gives up the lease value val: the region streams opened under it
// end, and the fill resumes through Fetch, which finds the new holder.
func (s *siteFill) lost(val string) {
	s.mu.Lock()
	if s.mine != val {
		s.mu.Unlock()
		return
	}
	s.mine, s.refresh = "", nil
	open := make([]*leasedStream, 0, len(s.leased))
	for l := range s.leased {
		open = append(open, l)
	}
	s.mu.Unlock()
	for _, l := range open {
		l.cancel()
	}
}

// Done ends the fill: a complete entry is advertised to the site (the
// others stream it from here rather than the region), a failed one frees
// the lease. Bytes a peer sent that failed verification make that peer
// distrusted by later fills.
func (s *siteFill) Done(complete, badBytes bool) {
	s.mu.Lock()
	mine := s.mine
	s.ended = true
	if s.refresh != nil {
		close(s.refresh)
		s.refresh = nil
	}
	used := make([]string, 0, len(s.peerUsed))
	for p := range s.peerUsed {
		used = append(used, p)
	}
	s.mu.Unlock()
	if badBytes {
		for _, p := range used {
			s.f.distrust(p)
		}
	}
	if mine == "" {
		return
	}
	ctx := context.Background()
	if complete {
		l, _ := parseLease(mine)
		l.have = true
		s.f.cfg.Leases.SwapLease(ctx, s.key, mine, l.String(), haveTTL)
		return
	}
	s.f.cfg.Leases.SwapLease(ctx, s.key, mine, "", 0)
}

// peerStream is a fill's stream from the instance holding the lease. A
// watchdog ends it when it stalls while the holder no longer holds the
// lease (a filler that hangs or died): a live filler refreshes its lease,
// however slow its region.
type peerStream struct {
	body   io.ReadCloser
	read   atomic.Int64
	closed chan struct{}
	once   sync.Once
}

// FromPeer marks the stream's bytes as a peer's (blob.PeerStream).
func (p *peerStream) FromPeer() {}

func (p *peerStream) Read(b []byte) (int, error) {
	n, err := p.body.Read(b)
	p.read.Add(int64(n))
	return n, err
}

func (p *peerStream) Close() error {
	p.once.Do(func() { close(p.closed) })
	return p.body.Close()
}

func (s *peerSource) watch(p *peerStream, holder string) {
	ttl := s.f.cfg.LeaseTTL
	s.f.wg.Add(1)
	go func() {
		defer s.f.wg.Done()
		t := time.NewTicker(ttl / 2)
		defer t.Stop()
		last, lastTick := int64(-1), time.Now()
		for {
			select {
			case <-p.closed:
				return
			case <-t.C:
				now := time.Now()
				late := now.Sub(lastTick) > ttl
				lastTick = now
				if late {
					// This process did not run for a while (a pause, a
					// starved CPU): the stream's stall may be its own, and
					// a holder that could not refresh meanwhile takes its
					// lease back. Judge from the next tick.
					last = p.read.Load()
					continue
				}
			}
			n := p.read.Load()
			if n != last {
				last = n
				continue
			}
			if cur, ok := s.f.cfg.Leases.SwapLease(context.Background(), s.key, "", "", ttl); !ok || !sameHolder(cur, holder) {
				s.f.log.Warn("peer fill stream stalled and its lease is gone; leaving it", "region", s.k.Region,
					"image", s.k.Image, "holder", holder)
				p.body.Close()
				return
			}
		}
	}()
}

// sameHolder: the lease values name the same instance at the same address,
// filling or done ("fill X" becomes "have X" as its last byte is sent).
func sameHolder(a, b string) bool {
	la, oka := parseLease(a)
	lb, okb := parseLease(b)
	return oka && okb && la.instance == lb.instance && la.url == lb.url
}

var (
	_ blob.SiteFill   = (*siteFill)(nil)
	_ blob.Origin     = (*sitePass)(nil)
	_ blob.PeerStream = (*peerStream)(nil)
)
