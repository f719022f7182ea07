package federation

import (
	"context"
	"errors"
	"math/bits"
	"sync"
	"time"

	"github.com/spyglass-gateway/spyglass/backends"
)

// heldBatch is the most ids one existence check sends (id=in:a,b,…): 150
// UUIDs are some 5,500 bytes of request line, within eventlet's 8,192 with
// room for the query's own filters.
const heldBatch = 150

// settle decides, for every buffered image whose earlier regions are still
// pending (read since the last settle), which regions configured before its
// own list it too for the caller and query q: those regions' streams list
// their own copies, and an image is listed once, from the first region that
// lists it (the copy show serves, and the one whose sort values place it).
// The location index learns what the checks find.
//
// What the page already shows answers first, with no request: an id in an
// earlier region's own buffer, or taken from it on this page (taken: id →
// region; nil for none), is listed there. The rest is asked with one check
// per earlier region for the ids of every later stream at once (id=in:…
// with the query's filters; n−1 requests at most for n regions, in
// parallel), not one per pair of regions.
//
// The location index does not answer for a region that can: it knows that
// a region holds an image, not that it lists it for this caller and query
// (a copy private to another project, a copy renamed behind the gateway),
// and it does not know copies made behind the gateway. It stands in only
// for a region that cannot answer (failed on this page, or refusing the
// check): the best it can do, and no worse than no check; the pair stays
// pending, and the next settle with the region answering asks it.
//
// settle runs where no stream is being filled (after the parallel fills,
// after a refill, in the read-ahead after its fills).
func (c *Catalog) settle(ctx context.Context, q *backends.ListQuery, streams []*stream, taken map[string]int) {
	// What is known of each pending id: the earlier regions whose page
	// shows it, those asked, those that answered, and those listing it.
	// (The first region's entries are never pending: none is earlier.)
	type known struct{ shown, asked, answered, lists regionSet }
	var ids map[string]known // nil until the first pending id
	var down regionSet       // regions that failed on this page, or failed a check: not asked
	for k, s := range streams {
		if s.err != nil || s.unchecked {
			down |= one(s.i)
		}
		if s.err != nil || k == 0 {
			continue
		}
		for _, e := range s.buf {
			if e.pending != 0 {
				if ids == nil {
					ids = make(map[string]known, len(s.buf))
				}
				ids[e.img.ID] = known{}
			}
		}
	}
	if len(ids) == 0 {
		return
	}
	for _, s := range streams[:len(streams)-1] {
		if s.err == nil {
			for _, e := range s.buf {
				if k, ok := ids[e.img.ID]; ok {
					k.shown |= one(s.i)
					ids[e.img.ID] = k
				}
			}
		}
	}
	for id, i := range taken {
		if k, ok := ids[id]; ok {
			k.shown |= one(i)
			ids[id] = k
		}
	}
	// need: the ids to ask each earlier region, once each.
	need := make([][]string, len(streams))
	for _, s := range streams[1:] {
		if s.err != nil {
			continue
		}
		for i := range s.buf {
			e := &s.buf[i]
			if e.pending == 0 {
				continue
			}
			k := ids[e.img.ID]
			if h := k.shown & e.pending; h != 0 {
				e.earlier |= h
				e.pending &^= h
			}
			ask := e.pending &^ down &^ k.asked
			for a := ask; a != 0; a &= a - 1 {
				j := bits.TrailingZeros64(uint64(a))
				need[j] = append(need[j], e.img.ID)
			}
			if ask != 0 {
				k.asked |= ask
				ids[e.img.ID] = k
			}
		}
	}
	var failed regionSet
	var mu sync.Mutex
	var wg sync.WaitGroup
	for j, batch := range need {
		n := min(heldBatch, c.regions[j].maxPage)
		for lo := 0; lo < len(batch); lo += n {
			batch := batch[lo:min(lo+n, len(batch))]
			wg.Add(1)
			go func() {
				defer wg.Done()
				found, err := c.listedOf(ctx, j, q, batch)
				mu.Lock()
				defer mu.Unlock()
				if err != nil {
					c.log.WarnContext(ctx, "a listing could not ask an earlier region which images it lists; the location index answers for it",
						"region", c.regions[j].cached.name, "err", err)
					failed |= one(j)
					return
				}
				for _, id := range batch {
					k := ids[id]
					k.answered |= one(j)
					ids[id] = k
				}
				for _, id := range found {
					if k, ok := ids[id]; ok {
						k.lists |= one(j)
						ids[id] = k
					}
				}
			}()
		}
	}
	wg.Wait()
	for _, s := range streams {
		// Not asked again by this page (or its read-ahead): a region
		// that hangs would hold the page once per refill.
		s.unchecked = s.unchecked || failed.has(s.i)
	}
	for _, s := range streams[1:] {
		if s.err != nil {
			continue
		}
		for i := range s.buf {
			e := &s.buf[i]
			if e.pending == 0 {
				continue
			}
			k := ids[e.img.ID]
			for p := e.pending; p != 0; p &= p - 1 {
				j := bits.TrailingZeros64(uint64(p))
				in := false
				if k.answered.has(j) {
					e.pending &^= one(j)
					in = k.lists.has(j)
				} else {
					in = c.loc.known(e.img.ID, j)
				}
				if in {
					e.earlier |= one(j)
				} else {
					e.earlier &^= one(j)
				}
			}
		}
		s.recount()
	}
}

// listedOf returns which of ids region j lists for q.
func (c *Catalog) listedOf(ctx context.Context, j int, q *backends.ListQuery, ids []string) ([]string, error) {
	imgs, err := c.listIDs(ctx, j, q, backends.OpIn, ids...)
	if errors.Is(err, backends.ErrBadRequest) && len(ids) > 1 {
		// The query's filters and the ids make too long a request line
		// for the region: half as many ids a request. A query it refuses
		// whatever the ids fails the first half down to one id, and the
		// second half is not asked.
		h := len(ids) / 2
		lo, err := c.listedOf(ctx, j, q, ids[:h])
		if err != nil {
			return nil, err
		}
		hi, err := c.listedOf(ctx, j, q, ids[h:])
		if err != nil {
			return nil, err
		}
		return append(lo, hi...), nil
	}
	if err != nil {
		return nil, err
	}
	found := make([]string, len(imgs))
	for k, img := range imgs {
		found[k] = img.ID
	}
	return found, nil
}

// listIDs lists, of ids, the images region j lists for q (its filters,
// visibility, membership and tags; not its marker or limit), and teaches
// the location index.
//
// op is OpIn, or OpEq for one id (a marker: id=<id>, as a client asks).
func (c *Catalog) listIDs(ctx context.Context, j int, q *backends.ListQuery, op backends.FilterOp, ids ...string) ([]*backends.Image, error) {
	check := *q
	check.Marker, check.Limit = "", len(ids)
	// The images were listed under the query's own id filter, if any:
	// ours narrows it to them.
	check.Filters = make([]backends.Filter, 0, len(q.Filters)+1)
	for _, f := range q.Filters {
		if f.Property || f.Key != "id" {
			check.Filters = append(check.Filters, f)
		}
	}
	check.Filters = append(check.Filters, backends.Filter{Key: "id", Op: op, Values: ids})
	imgs, err := c.regions[j].cached.ListImages(ctx, &check)
	if err != nil {
		return nil, err
	}
	for _, img := range imgs {
		c.loc.listed(img.ID, j)
	}
	return imgs, nil
}

// markerCopy finds the copy of a hand-built marker that places it: the
// first region's that lists it for q (every region asked at once), as the
// walk that led to it listed that copy. It answers as soon as the regions
// before that one have answered. held is false when no region lists it (the
// marker does not match the query: Glance still pages after it); err is a
// region before the first listing it that could not answer.
func (c *Catalog) markerCopy(ctx context.Context, q *backends.ListQuery, id string) (img *backends.Image, owner int, held bool, err error) {
	type answer struct {
		j   int
		img *backends.Image
		err error
	}
	l := lookupEach(ctx, len(c.regions), func(lctx context.Context, j int) answer {
		a := answer{j: j}
		var found []*backends.Image
		found, a.err = c.listIDs(lctx, j, q, backends.OpEq, id)
		for _, f := range found {
			if f.ID == id {
				a.img = f
			}
		}
		return a
	})
	defer l.release()
	got := make([]*answer, len(c.regions))
	for range c.regions {
		a, err := l.next(ctx)
		if err != nil {
			return nil, 0, false, err
		}
		got[a.j] = &a
		// Decided once every region before the first listing it said no.
		for j := 0; j < len(got) && got[j] != nil; j++ {
			if a := got[j]; a.err != nil {
				return nil, 0, false, a.err
			} else if a.img != nil {
				return a.img, j, true, nil
			}
		}
	}
	return nil, 0, false, nil
}

// lookups are one lookup per region, all at once, in a context detached
// from the request: a lookup outlives the request when its region is slow
// (and still teaches the location index), so it runs as a copy of the
// caller, not the request, for a minute at most.
type lookups[T any] struct {
	answers chan T
	left    int
	cancel  context.CancelFunc
}

// lookupEach starts lookup for regions 0…n-1.
func lookupEach[T any](ctx context.Context, n int, lookup func(ctx context.Context, i int) T) *lookups[T] {
	var who backends.Caller
	if p := backends.CallerFrom(ctx); p != nil {
		who = *p
	}
	lctx, cancel := context.WithTimeout(backends.WithCaller(context.Background(), &who), time.Minute)
	l := &lookups[T]{answers: make(chan T, n), left: n, cancel: cancel}
	for i := range n {
		go func() { l.answers <- lookup(lctx, i) }()
	}
	return l
}

// next returns the next answer to arrive, or ctx's error when the request
// ends first. The caller asks no more than n.
func (l *lookups[T]) next(ctx context.Context) (T, error) {
	select {
	case a := <-l.answers:
		l.left--
		return a, nil
	case <-ctx.Done():
		var zero T
		return zero, ctx.Err()
	}
}

// release lets the lookups not received finish in the background, then
// ends their context.
func (l *lookups[T]) release() {
	left := l.left
	go func() {
		for range left {
			<-l.answers
		}
		l.cancel()
	}()
}
