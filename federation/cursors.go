package federation

import (
	"container/list"
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"sync"
	"time"

	"github.com/spyglass-gateway/spyglass/backends"
)

// SharedStore is the tier gateway instances share (redis.Tier):
// a miss or a dropped write is never an error, only slower.
type SharedStore interface {
	Get(ctx context.Context, key string) ([]byte, bool)
	Set(ctx context.Context, key string, val []byte, ttl time.Duration)
}

// cursors is the cursor store: for a listing walk and the marker of its
// last page, where each region stands. The first level is in process (with
// the images read ahead); the shared tier, when there is one, holds the
// positions alone, so a walk continues on another gateway instance without
// re-resolving its marker. Losing an entry costs the next page a
// positioning from the marker's sort values, never a wrong page — but that
// positioning needs the region holding the marker, so a walk whose entry
// is lost while that region is down gets a 503 where it would have paged on.
//
// The first level is least recently used first out, bounded by cost, not a
// cache with an admission policy (ristretto's TinyLFU): an entry is read
// once, right after it is written, by the walk's next page, so the entry
// just written is the one most worth keeping, and it has never been read.
// An admission policy compares that zero with the reads of the entries it
// would evict: once the store was full (every finished walk leaves its
// pages' entries, read once each), it refused a new entry whenever every
// entry it sampled for eviction had been read, and the walk that wrote it
// lost its positions.
type cursors struct {
	mu      sync.Mutex
	entries map[string]*list.Element // of *cursorEntry
	recent  list.List                // most recently put or got first
	cost    int64
	max     int64

	ttl    time.Duration
	shared SharedStore // nil: none
}

type cursorEntry struct {
	key     string
	cur     *cursor
	cost    int64
	expires time.Time
}

func newCursors(max int64, ttl time.Duration, shared SharedStore) (*cursors, error) {
	if max <= 0 {
		return nil, errors.New("federation: a cursor store of no size")
	}
	return &cursors{entries: make(map[string]*list.Element), max: max, ttl: ttl, shared: shared}, nil
}

func (s *cursors) get(ctx context.Context, key string) (*cursor, bool) {
	if cur, ok := s.local(key); ok {
		return cur, true
	}
	if s.shared == nil {
		return nil, false
	}
	b, ok := s.shared.Get(ctx, sharedKey(key))
	if !ok {
		return nil, false
	}
	cur, err := decodeCursor(b)
	if err != nil {
		return nil, false // another version's entry: resolve the marker
	}
	return cur, true
}

func (s *cursors) local(key string) (*cursor, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	el, ok := s.entries[key]
	if !ok {
		return nil, false
	}
	e := el.Value.(*cursorEntry)
	if time.Now().After(e.expires) {
		s.remove(el)
		return nil, false
	}
	s.recent.MoveToFront(el)
	return e.cur, true
}

// put remembers cur under key; cost is 1 plus the images it holds read
// ahead, so the first level bounds the images kept read ahead, not just
// the walks. The anchor each position keeps counts too: an entry of
// positions alone is not free.
// share: also write its positions to the shared tier (once per page, not
// again when a page's read-ahead is taken).
func (s *cursors) put(ctx context.Context, key string, cur *cursor, cost int64, share bool) {
	if share && s.shared != nil {
		if b, err := encodeCursor(cur); err == nil {
			s.shared.Set(ctx, sharedKey(key), b, s.ttl)
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if el, ok := s.entries[key]; ok {
		s.remove(el)
	}
	cost += int64(len(cur.starts))
	if cost > s.max {
		return // more images than the store holds: positions from the marker
	}
	e := &cursorEntry{key: key, cur: cur, cost: cost, expires: time.Now().Add(s.ttl)}
	s.entries[key] = s.recent.PushFront(e)
	s.cost += cost
	for s.cost > s.max {
		s.remove(s.recent.Back())
	}
}

func (s *cursors) remove(el *list.Element) {
	e := s.recent.Remove(el).(*cursorEntry)
	delete(s.entries, e.key)
	s.cost -= e.cost
}

func (s *cursors) close() {
	s.mu.Lock()
	defer s.mu.Unlock()
	clear(s.entries)
	s.recent.Init()
	s.cost = 0
}

// sharedKey is a cursor's key in the shared tier: the walk's hash in hex,
// then the marker.
func sharedKey(key string) string {
	const n = 32 // sha256
	if len(key) < n {
		return "cursor:" + hex.EncodeToString([]byte(key))
	}
	return "cursor:" + hex.EncodeToString([]byte(key[:n])) + ":" + key[n:]
}

// wirePoint is a point as the shared tier keeps it. The anchor keeps only
// what ordering and paging read: its id and sort values.
type wirePoint struct {
	Safe    string           `json:"s,omitempty"`
	Anchor  *backends.Image  `json:"a,omitempty"`
	Foreign bool             `json:"f,omitempty"`
	Owner   int              `json:"o,omitempty"`
	Since   int              `json:"n"`
	From    *backends.Filter `json:"r,omitempty"`
}

// wireVersion changes whenever wirePoint's meaning does: an instance never
// reads another version's entry (it resolves the marker instead).
const wireVersion = 1

func encodeCursor(cur *cursor) ([]byte, error) {
	w := struct {
		V      int         `json:"v"`
		Points []wirePoint `json:"p"`
	}{V: wireVersion, Points: make([]wirePoint, len(cur.starts))}
	for i, st := range cur.starts {
		p := st.took
		w.Points[i] = wirePoint{Safe: p.safe, Anchor: sortValues(p.anchor), Foreign: p.foreign, Owner: p.owner, Since: p.since, From: p.from}
	}
	return json.Marshal(w)
}

func decodeCursor(b []byte) (*cursor, error) {
	var w struct {
		V      int         `json:"v"`
		Points []wirePoint `json:"p"`
	}
	if err := json.Unmarshal(b, &w); err != nil {
		return nil, err
	}
	if w.V != wireVersion {
		return nil, errWireVersion
	}
	cur := &cursor{starts: make([]start, len(w.Points))}
	for i, wp := range w.Points {
		p := point{safe: wp.Safe, anchor: wp.Anchor, foreign: wp.Foreign, owner: wp.Owner, since: wp.Since, from: wp.From}
		cur.starts[i] = start{took: p, read: p}
	}
	return cur, nil
}

var errWireVersion = errors.New("federation: a cursor of another version")

// sortValues is the part of an image a position needs.
func sortValues(img *backends.Image) *backends.Image {
	if img == nil {
		return nil
	}
	return &backends.Image{
		ID: img.ID, Name: img.Name, Status: img.Status, Visibility: img.Visibility,
		ContainerFormat: img.ContainerFormat, DiskFormat: img.DiskFormat,
		Size: img.Size, VirtualSize: img.VirtualSize, MinDisk: img.MinDisk, MinRAM: img.MinRAM,
		CreatedAt: img.CreatedAt, UpdatedAt: img.UpdatedAt,
	}
}
