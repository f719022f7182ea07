package federation

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/spyglass-gateway/spyglass/backends"
)

// point is where a walk stands in one region: just after anchor, reached by
// listing the region after safe. It is what the cursor store keeps per
// region for a marker, and what a stream advances as it reads.
type point struct {
	// safe is the region marker the walk reads from: an image of the region
	// at or before the anchor that Glance pages correctly after (pagesFrom),
	// or "" for the region's start.
	safe string
	// anchor is the last image passed; nil: nothing past safe yet.
	anchor *backends.Image
	// foreign: the anchor is not (known to be) one of the region's own
	// listing (a marker from another region, or the last image of a page
	// the region was missing from), so it is passed by comparison rather
	// than found by id; owner is the region that listed it, which decides
	// ties the regions' rendered values cannot (see Order.compare).
	foreign bool
	owner   int
	// since counts the images the region lists after safe up to and
	// including the anchor; -1 when unknown.
	since int
	// from narrows the region's listing to where the anchor is (a range
	// filter Glance has: created_at, updated_at, size); nil: none.
	from *backends.Filter
}

// pass returns the point just after img, the next image the region listed.
func (p point) pass(img *backends.Image, ord *ordering) point {
	if ord.pagesFrom(img) {
		return point{safe: img.ID, anchor: img, since: 0, from: p.from}
	}
	since := -1
	if p.since >= 0 && !p.foreign {
		since = p.since + 1
	}
	return point{safe: p.safe, anchor: img, since: since, from: p.from}
}

// stream reads one region's listing in order, from a point on.
type stream struct {
	i   int
	r   *cachedRegion
	q   backends.ListQuery // the caller's query; Marker and Limit are the stream's
	ord *ordering          // the order of q's sort keys
	max int                // the most images one listing request returns (api_limit_max)

	read point // just after the last image buffered
	took point // just after the last image the merge took
	buf  []listed
	dups int  // entries of buf an earlier region also lists
	done bool // the region has nothing after buf
	err  error
	// unchecked: the region failed a check (Catalog.settle) on this page:
	// the location index answers for it until the next page.
	unchecked bool
}

// listed is an image a region yielded, and the earlier regions (in the
// configured order) that list it too for the same caller and query: while
// one of them answers, this copy is passed over, so an image several
// regions hold is listed once, from its first region's copy, on every page.
type listed struct {
	img     *backends.Image
	earlier regionSet
	// pending: the earlier regions not asked yet (Catalog.settle), whose
	// bits of earlier are the location index's guess meanwhile.
	pending regionSet
}

// recount counts the buffered copies an earlier region lists.
func (s *stream) recount() {
	s.dups = 0
	for _, e := range s.buf {
		if e.earlier != 0 {
			s.dups++
		}
	}
}

// live is how many buffered images the merge will list.
func (s *stream) live() int { return len(s.buf) - s.dups }

// pop takes the first buffered image and moves the stream past it.
func (s *stream) pop() listed {
	e := s.buf[0]
	s.buf = s.buf[1:]
	if e.earlier != 0 {
		s.dups--
	}
	s.took = s.took.pass(e.img, s.ord)
	return e
}

// skipCopies passes over the buffered copies whose image an answering
// earlier region (up) lists: that region's stream lists it.
func (s *stream) skipCopies(up regionSet, loc *locations) {
	for len(s.buf) > 0 && s.buf[0].earlier&up != 0 {
		loc.listed(s.buf[0].img.ID, s.i)
		s.pop()
	}
}

// fill reads until want images are buffered or the region has no more.
func (s *stream) fill(ctx context.Context, want int) error {
	for s.live() < want && !s.done {
		p := s.read
		q := s.q
		q.Marker = p.safe
		if p.from != nil {
			q.Filters = append(q.Filters[:len(q.Filters):len(q.Filters)], *p.from)
		}
		ask := s.max
		if p.since >= 0 {
			ask = min(s.max, p.since+want-s.live())
		}
		q.Limit = ask
		imgs, err := s.r.ListImages(ctx, &q)
		if err != nil {
			return err
		}
		short := len(imgs) < ask
		start, found := s.past(imgs, p, short)
		// What lies at or before the anchor was read on an earlier page
		// (or belongs before a hand-built marker): skip it, but read on
		// from the last safe image in it.
		np := p
		for j := start - 1; j >= 0; j-- {
			if s.ord.pagesFrom(imgs[j]) {
				np.safe = imgs[j].ID
				np.since = -1
				if found {
					np.since = start - 1 - j
				}
				break
			}
		}
		// Which earlier regions list them too is settled once every
		// stream has read (Catalog.settle): one check per region for
		// all of them.
		for _, img := range imgs[start:] {
			s.buf = append(s.buf, listed{img: img, pending: one(s.i) - 1})
			np = np.pass(img, s.ord)
		}
		s.done = short
		if start == len(imgs) && !short && np.safe == p.safe {
			// A whole page of images at or before the anchor and not one
			// Glance can page after: no marker gets past them.
			return fmt.Errorf("region %s: more than %d images in a row with an empty or NULL sort value: %w",
				s.r.name, s.max, backends.ErrUnavailable)
		}
		s.read = np
	}
	return nil
}

// past returns the index of the first image in imgs that lies after p's
// anchor, and whether the anchor itself was found there.
func (s *stream) past(imgs []*backends.Image, p point, short bool) (int, bool) {
	if p.anchor == nil || p.anchor.ID == p.safe {
		return 0, false
	}
	if !p.foreign {
		for j, img := range imgs {
			if img.ID == p.anchor.ID {
				return j + 1, true
			}
		}
		if !short {
			return len(imgs), false // the anchor is further on
		}
		// Not there at all: deleted since. Place it by comparison.
	}
	owner := s.i
	if p.foreign {
		owner = p.owner
	}
	for j, img := range imgs {
		if s.ord.compare(img, s.i, p.anchor, owner) > 0 {
			return j, false
		}
	}
	return len(imgs), false
}

// cursor is what the cursor store keeps for a marker: where every region's
// stream stands after the page, and the images it had read ahead.
type cursor struct {
	starts []start
	at     time.Time // when the page was read
	writes uint64    // Catalog.writesSeen before it was read
	// ahead, when not nil, is closed once a background read has topped up
	// the regions' read-ahead images for the next page; starts is not to be
	// read before.
	ahead chan struct{}
}

// start is where a region's stream begins a page: after took, with buf
// (images after took the region listed earlier, in order) already read up to
// read, and done when the region listed nothing after them.
type start struct {
	took, read point
	buf        []listed
	done       bool
}

// fresh reports whether a cursor's read-ahead images may serve this page:
// read recently enough and no write known since.
func (c *Catalog) fresh(cur *cursor) bool {
	return c.readAhead > 0 && time.Since(cur.at) < c.readAhead && c.writesSeen() == cur.writes
}

// writesSeen counts the writes this instance knows of: through this
// catalog, and, with a shared tier, through other instances (the
// invalidations its regions' metadata caches received from them, and
// what shared embedded stores found of theirs).
func (c *Catalog) writesSeen() uint64 {
	n := c.writes.Load()
	for _, r := range c.regions {
		if r.cached.meta != nil {
			n += r.cached.meta.OthersWrites()
		}
		if r.others != nil {
			n += r.others.OthersWrites()
		}
	}
	return n
}

// keep is what a stream leaves for the next page: its read-ahead images,
// cut at the first one whose status the region changes by itself (an import
// finishing must show on the next page) or that could not be carried.
func (s *stream) keep() start {
	j := slices.IndexFunc(s.buf, func(e listed) bool { return changesByItself(e.img.Status) })
	if j < 0 {
		return start{took: s.took, read: s.read, buf: slices.Clip(s.buf), done: s.done}
	}
	buf := s.buf[:j:j]
	read := s.took
	for _, e := range buf {
		read = read.pass(e.img, s.ord)
	}
	return start{took: s.took, read: read, buf: buf}
}

// cursorKey names a walk: the caller and the query without marker and limit
// (a walk may change its page size), hashed; the marker appended.
func cursorKey(ctx context.Context, q *backends.ListQuery, marker string) string {
	h := sha256.New()
	w := func(s string) {
		var n [4]byte
		binary.LittleEndian.PutUint32(n[:], uint32(len(s)))
		h.Write(n[:])
		h.Write([]byte(s))
	}
	c := backends.CallerOf(ctx)
	w(c.Project)
	w(strconv.FormatBool(c.Admin))
	for _, r := range c.Roles {
		w(r)
	}
	w("|")
	w(q.Visibility)
	w(q.MemberStatus)
	for _, t := range q.Tags {
		w(t)
	}
	w("|")
	for _, f := range q.Filters {
		w(f.Key)
		w(strconv.FormatBool(f.Property))
		w(strconv.Itoa(int(f.Op)))
		for _, v := range f.Values {
			w(v)
		}
		w(f.Time.UTC().Format(time.RFC3339Nano))
	}
	w("|")
	for _, k := range q.Sort {
		w(k.Key)
		w(strconv.FormatBool(k.Desc))
	}
	return string(h.Sum(nil)) + marker
}

// listMerged answers a listing over several regions: each region is read
// from its point in parallel, the streams are merged in the regions' order,
// an image several regions hold appears once, and the points after the
// page's last image are remembered for the next page.
func (c *Catalog) listMerged(ctx context.Context, q *backends.ListQuery) ([]*backends.Image, error) {
	// The gateway builds the caller on first use: do it here, before the
	// regions are asked from goroutines of their own.
	backends.CallerFrom(ctx)
	writes, at := c.writesSeen(), time.Now()
	starts, err := c.starts(ctx, q)
	if err != nil {
		return nil, err
	}
	base := *q
	base.Marker, base.Limit = "", 0
	ord := c.order.over(q.Sort)
	streams := make([]*stream, len(c.regions))
	for i, r := range c.regions {
		st := starts[i]
		buf := st.buf
		if slices.ContainsFunc(buf, func(e listed) bool { return e.pending != 0 }) {
			// settle writes them: not in the cursor's copy, which a
			// retry of this page may be reading.
			buf = slices.Clone(buf)
		}
		streams[i] = &stream{i: i, r: r.cached, q: base, ord: ord, max: r.maxPage,
			read: st.read, took: st.took, buf: buf, done: st.done}
		streams[i].recount()
	}

	// Every region's first read in parallel: a page costs the slowest
	// region's latency, not the sum.
	var wg sync.WaitGroup
	for _, s := range streams {
		wg.Add(1)
		go func() {
			defer wg.Done()
			s.err = s.fill(ctx, q.Limit)
		}()
	}
	wg.Wait()
	var missing []string
	var up regionSet // the regions answering: their streams list their images
	for _, s := range streams {
		if s.err != nil {
			if err := c.regionFailed(ctx, s); err != nil {
				return nil, err
			}
			missing = append(missing, s.r.name)
			continue
		}
		up |= one(s.i)
	}
	c.settle(ctx, &base, streams, nil)

	out := make([]*backends.Image, 0, q.Limit)
	seen := make(map[string]int, q.Limit) // the page's ids, and the region each was taken from
	lastRegion := 0                       // the region that listed the last image taken
	for len(out) < q.Limit {
		var next *stream
		for _, s := range streams {
			if s.err != nil {
				continue
			}
			for s.skipCopies(up, c.loc); len(s.buf) == 0 && !s.done; s.skipCopies(up, c.loc) {
				// Only copies passed over run a stream dry before the
				// page is full.
				if s.err = s.fill(ctx, q.Limit-len(out)); s.err != nil {
					if err := c.regionFailed(ctx, s); err != nil {
						return nil, err
					}
					missing = append(missing, s.r.name)
					up &^= one(s.i)
					break
				}
				c.settle(ctx, &base, streams, seen)
			}
			if s.err != nil || len(s.buf) == 0 {
				continue
			}
			if next == nil || ord.compare(s.buf[0].img, s.i, next.buf[0].img, next.i) < 0 {
				next = s
			}
		}
		if next == nil {
			break
		}
		img := next.pop().img
		lastRegion = next.i
		c.loc.listed(img.ID, next.i)
		if _, dup := seen[img.ID]; dup {
			// Two copies on one page whose earlier region could not
			// be asked (settle's fallback missed it).
			continue
		}
		seen[img.ID] = next.i
		out = append(out, c.book.render(c.withStores(img, c.loc.get(ctx, img.ID))))
	}

	if len(missing) > 0 {
		if n := backends.NotesFrom(ctx); n != nil {
			n.MissingRegions(missing)
		}
	}
	if len(out) == q.Limit {
		last := out[len(out)-1]
		cur := &cursor{starts: make([]start, len(streams)), at: at, writes: writes}
		ahead := 0
		for i, s := range streams {
			if s.err != nil {
				// Keep the region's place for when it comes back: after
				// this page's last image, whatever it missed on the way.
				p := s.took
				p = point{safe: p.safe, anchor: last, foreign: true, owner: lastRegion, since: -1, from: p.from}
				cur.starts[i] = start{took: p, read: p}
				continue
			}
			cur.starts[i] = s.keep()
			ahead += len(cur.starts[i].buf)
		}
		if q.Marker != "" && c.readAhead > 0 {
			// A walk past its first page (a client reading them all, not
			// a single page shown) gets its next page read while it
			// handles this one: the regions work while the gateway
			// renders and the client parses.
			if who := backends.CallerFrom(ctx); who != nil {
				cur.ahead = make(chan struct{})
				ahead = len(streams) * q.Limit
				// Stored (and shared) before the read starts changing it.
				c.cursors.put(ctx, cursorKey(ctx, q, last.ID), cur, 1+int64(ahead), true)
				go c.readNext(cur, streams, *who, q.Limit)
				return out, nil
			}
		}
		c.cursors.put(ctx, cursorKey(ctx, q, last.ID), cur, 1+int64(ahead), true)
	}
	return out, nil
}

// readNext tops up, in the background, every answering region's read-ahead
// images to a page's worth, then releases cur to the next page. The caller
// is copied: the request that started it is gone by then. A region that
// fails here is left as it was; the next page asks it again.
func (c *Catalog) readNext(cur *cursor, streams []*stream, who backends.Caller, limit int) {
	defer close(cur.ahead)
	ctx, cancel := context.WithTimeout(backends.WithCaller(context.Background(), &who), time.Minute)
	defer cancel()
	var wg sync.WaitGroup
	grew := make([]bool, len(streams))
	for i, s := range streams {
		if s.err != nil || s.done || s.live() >= limit || cur.starts[i].done != s.done || len(cur.starts[i].buf) != len(s.buf) {
			// Failed, finished, full, or its read-ahead was cut (an image
			// that changes by itself): nothing to add.
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			err := s.fill(ctx, limit)
			grew[i] = err == nil || len(s.buf) > len(cur.starts[i].buf)
		}()
	}
	wg.Wait()
	// What the regions read is settled in one round for all of them.
	c.settle(ctx, &streams[0].q, streams, nil)
	for i, s := range streams {
		if grew[i] {
			cur.starts[i] = s.keep()
		}
	}
}

// regionFailed decides what a region that could not be listed means for
// the listing: an error (federation.on_region_failure: fail) or nil (the
// listing answers from the others).
func (c *Catalog) regionFailed(ctx context.Context, s *stream) error {
	if !errors.Is(s.err, backends.ErrUnavailable) {
		// A 4xx from a region (a filter it refuses) is an answer to the
		// client's request, not an outage, in either mode: the client
		// gets it, and the region is neither dropped nor reported.
		return s.err
	}
	c.log.WarnContext(ctx, "region failed during a listing", "region", s.r.name, "err", s.err)
	if c.failFast {
		return s.err
	}
	return nil
}

// starts is where each region is read from for this page: the remembered
// cursor of the marker (with the images read ahead, while fresh), or, with
// none (an expired entry, a link from another gateway, a hand-built
// marker), a position computed from the marker image's sort values.
func (c *Catalog) starts(ctx context.Context, q *backends.ListQuery) ([]start, error) {
	starts := make([]start, len(c.regions))
	if q.Marker != "" {
		key := cursorKey(ctx, q, q.Marker)
		if cur, ok := c.cursors.get(ctx, key); ok && len(cur.starts) == len(starts) {
			if cur.ahead != nil {
				select {
				case <-cur.ahead:
				case <-ctx.Done():
					return nil, ctx.Err()
				}
			}
			copy(starts, cur.starts)
			positions := &cursor{starts: make([]start, len(starts))}
			for i, st := range starts {
				positions.starts[i] = start{took: st.took, read: st.took}
			}
			if !c.fresh(cur) {
				copy(starts, positions.starts)
			} else if cur.ahead != nil || slices.ContainsFunc(starts, func(st start) bool { return len(st.buf) > 0 }) {
				// The read-ahead images are this page's now: the entry
				// keeps only the positions (for a retry of this page), so
				// a walk holds the images of one page ahead, not of every
				// page it took.
				c.cursors.put(ctx, key, positions, 1, false)
			}
			return starts, nil
		}
	}
	points, err := c.startPoints(ctx, q)
	if err != nil {
		return nil, err
	}
	for i, p := range points {
		starts[i] = start{took: p, read: p}
	}
	return starts, nil
}

// startPoints positions every region for a page without a remembered
// cursor: from its start, or from the marker image's sort values.
func (c *Catalog) startPoints(ctx context.Context, q *backends.ListQuery) ([]point, error) {
	points := make([]point, len(c.regions))
	if q.Marker == "" {
		for i := range points {
			points[i].since = 0
		}
		return points, nil
	}
	// The marker's place is its primary copy's, the one the walk listed:
	// the first region's that lists it for this query. A copy elsewhere
	// may sit at another place in its region's order (its own
	// created_at), so other regions place it by comparison.
	base := *q
	base.Marker, base.Limit = "", 0
	m, owner, held, err := c.markerCopy(ctx, &base, q.Marker)
	if !held {
		// Not in the listing: the copy a show serves, every region
		// asked so the index knows them all. A region that could not
		// say: the copy the index names.
		if err == nil {
			c.askEvery(ctx, q.Marker)
		} else if ctx.Err() != nil {
			return nil, err
		}
		var holders regionSet
		m, holders, err = c.place(ctx, q.Marker, primaryCopy)
		if err != nil {
			if errors.Is(err, backends.ErrNotFound) {
				return nil, backends.Errorf(backends.ErrMarkerNotFound, "No image found with ID "+q.Marker)
			}
			return nil, err
		}
		owner = holders.primary()
	}
	from := c.rangeFrom(q, m)
	for i := range points {
		switch {
		case i == owner && c.order.over(q.Sort).pagesFrom(m):
			points[i] = point{safe: m.ID, anchor: m, since: 0}
		case i == owner:
			points[i] = point{anchor: m, since: -1}
		default:
			points[i] = point{anchor: m, foreign: true, owner: owner, since: -1, from: from}
		}
	}
	return points, nil
}

// rangeFrom narrows a region's listing to the images from the marker's
// position on, with the range filters Glance has, when the leading sort key
// has one and the query does not filter that key already; nil otherwise
// (the region is then read from its start, a page at a time).
func (c *Catalog) rangeFrom(q *backends.ListQuery, m *backends.Image) *backends.Filter {
	if len(q.Sort) == 0 {
		return nil
	}
	k := q.Sort[0]
	if slices.ContainsFunc(q.Filters, func(f backends.Filter) bool { return !f.Property && f.Key == k.Key }) {
		return nil
	}
	var t time.Time
	switch k.Key {
	case "created_at":
		t = m.CreatedAt
	case "updated_at":
		t = m.UpdatedAt
	case "size":
		// NULL sizes sort before every size ascending (NULLs first) and
		// are excluded by size_min, as they should be; descending they
		// come after the marker and size_max would lose them.
		if m.Size == nil || k.Desc || c.order.NullsLast {
			return nil
		}
		return &backends.Filter{Key: "size", Op: backends.OpGte, Values: []string{strconv.FormatInt(*m.Size, 10)}}
	default:
		return nil
	}
	// A record's times may be rounded to the second (Glance renders them
	// so) while the region orders by its own precision: widen by a second.
	t = t.UTC().Truncate(time.Second)
	if k.Desc {
		return &backends.Filter{Key: k.Key, Op: backends.OpLte, Time: t.Add(time.Second)}
	}
	return &backends.Filter{Key: k.Key, Op: backends.OpGte, Time: t}
}
