package federation

import (
	"context"
	"errors"
	"sync"
	"time"

	"github.com/spyglass-gateway/spyglass/backends"
)

// heldBatch is the most ids one existence check sends (id=in:a,b,…): 150
// UUIDs are some 5,500 bytes of request line, within eventlet's 8,192 with
// room for the query's own filters.
const heldBatch = 150

// heldBefore answers, for images region i yielded for the listing q, which
// regions configured before i list them too for the same caller and query:
// those regions' streams list their own copies, and an image is listed once,
// from the first region that lists it (the copy show serves, and the one
// whose sort values place it). One request per earlier region per batch of
// ids, all at once, with the query's filters and id=in:…; the location
// index learns what they find.
//
// A region that cannot answer (down, or refusing the request) is answered
// for by the location index: a walk without that region's answer is the
// best the index can do, and no worse than without the check.
func (c *Catalog) heldBefore(ctx context.Context, i int, q *backends.ListQuery, imgs []*backends.Image) []regionSet {
	out := make([]regionSet, len(imgs))
	if i == 0 || len(imgs) == 0 {
		return out
	}
	pos := make(map[string]int, len(imgs))
	for j, img := range imgs {
		pos[img.ID] = j
	}
	n := heldBatch
	for _, r := range c.regions[:i] {
		n = min(n, r.maxPage)
	}
	var mu sync.Mutex
	var wg sync.WaitGroup
	for j := range i {
		for lo := 0; lo < len(imgs); lo += n {
			batch := imgs[lo:min(lo+n, len(imgs))]
			wg.Add(1)
			go func() {
				defer wg.Done()
				found := c.listsOf(ctx, j, q, batch)
				mu.Lock()
				defer mu.Unlock()
				for _, k := range found {
					out[pos[batch[k].ID]] |= one(j)
				}
			}()
		}
	}
	wg.Wait()
	return out
}

// listsOf returns the indexes in batch of the images region j lists for q.
// A region that cannot answer is answered for by the location index.
func (c *Catalog) listsOf(ctx context.Context, j int, q *backends.ListQuery, batch []*backends.Image) []int {
	found, err := c.listsOfIn(ctx, j, q, batch)
	if err == nil {
		return found
	}
	c.log.WarnContext(ctx, "a listing could not ask an earlier region which images it holds; the location index answers",
		"region", c.regions[j].cached.name, "err", err)
	var known []int
	for k, img := range batch {
		if c.loc.known(img.ID, j) {
			known = append(known, k)
		}
	}
	return known
}

func (c *Catalog) listsOfIn(ctx context.Context, j int, q *backends.ListQuery, batch []*backends.Image) ([]int, error) {
	ids := make([]string, len(batch))
	for k, img := range batch {
		ids[k] = img.ID
	}
	imgs, err := c.listIDs(ctx, j, q, backends.OpIn, ids...)
	if errors.Is(err, backends.ErrBadRequest) && len(batch) > 1 {
		// The query's filters and the ids make too long a request line
		// for the region: half as many ids a request. A query it refuses
		// whatever the ids fails the first half down to one id, and the
		// second half is not asked.
		h := len(batch) / 2
		lo, err := c.listsOfIn(ctx, j, q, batch[:h])
		if err != nil {
			return nil, err
		}
		hi, err := c.listsOfIn(ctx, j, q, batch[h:])
		if err != nil {
			return nil, err
		}
		for _, k := range hi {
			lo = append(lo, h+k)
		}
		return lo, nil
	}
	if err != nil {
		return nil, err
	}
	in := make(map[string]struct{}, len(imgs))
	for _, img := range imgs {
		in[img.ID] = struct{}{}
	}
	found := make([]int, 0, len(imgs))
	for k, img := range batch {
		if _, ok := in[img.ID]; ok {
			found = append(found, k)
		}
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
	// The lookups outlive this request when a later region is slow: they
	// take a copy of the caller, not the request.
	var who backends.Caller
	if p := backends.CallerFrom(ctx); p != nil {
		who = *p
	}
	lctx, cancel := context.WithTimeout(backends.WithCaller(context.Background(), &who), time.Minute)
	answers := make(chan answer, len(c.regions))
	for j := range c.regions {
		go func() {
			a := answer{j: j}
			var found []*backends.Image
			found, a.err = c.listIDs(lctx, j, q, backends.OpEq, id)
			for _, f := range found {
				if f.ID == id {
					a.img = f
				}
			}
			answers <- a
		}()
	}
	got := make([]*answer, len(c.regions))
	received := 0
	defer func() {
		rest := len(c.regions) - received
		go func() { // let the rest finish (and teach the index)
			for range rest {
				<-answers
			}
			cancel()
		}()
	}()
	for received < len(c.regions) {
		select {
		case a := <-answers:
			got[a.j] = &a
			received++
		case <-ctx.Done():
			return nil, 0, false, ctx.Err()
		}
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
