package federation

import (
	"context"
	"fmt"
	"reflect"
	"testing"
	"time"

	"github.com/spyglass-gateway/spyglass/backends"
)

func TestCursorWireRoundTrip(t *testing.T) {
	name, size := "cirros", int64(42)
	anchor := &backends.Image{ID: "a1", Name: &name, Size: &size, Status: "active", Visibility: "public",
		CreatedAt: time.Date(2026, 1, 1, 0, 0, 5, 123000, time.UTC), UpdatedAt: time.Date(2026, 1, 2, 0, 0, 0, 0, time.UTC),
		Tags: []string{"dropped"}, Properties: map[string]string{"dropped": "yes"}}
	from := &backends.Filter{Key: "created_at", Op: backends.OpGte, Time: time.Date(2026, 1, 1, 0, 0, 5, 0, time.UTC)}
	cur := &cursor{starts: []start{
		{took: point{safe: "s0", anchor: anchor, since: 3}},
		{took: point{anchor: anchor, foreign: true, owner: 0, since: -1, from: from}},
		{took: point{since: 0}},
	}}
	b, err := encodeCursor(cur)
	if err != nil {
		t.Fatal(err)
	}
	got, err := decodeCursor(b)
	if err != nil {
		t.Fatal(err)
	}
	want := sortValues(anchor)
	for i, st := range got.starts {
		p := cur.starts[i].took
		if p.anchor != nil {
			p.anchor = want
		}
		if !reflect.DeepEqual(st.took, p) || !reflect.DeepEqual(st.read, p) || st.buf != nil || st.done {
			t.Errorf("point %d: got %+v, want %+v", i, st, p)
		}
	}
}

// FuzzDecodeCursor: whatever the shared tier holds (another version's
// entry, a corrupted value, someone else's key), decoding never panics.
func FuzzDecodeCursor(f *testing.F) {
	f.Add([]byte(`{"v":1,"p":[{"s":"x","n":0},{"a":{"ID":"y"},"f":true,"o":7,"n":-1}]}`))
	f.Add([]byte(`{"v":2}`))
	f.Add([]byte(`null`))
	f.Fuzz(func(t *testing.T, b []byte) {
		cur, err := decodeCursor(b)
		if err == nil && cur == nil {
			t.Fatal("nil cursor without an error")
		}
	})
}

// TestCursorsKeepTheNewestEntry: a walk's next page reads the entry its
// last page wrote, so that entry must survive whatever the store held
// before — here, finished walks' entries, each read once (which an
// admission policy ranked above a new entry, never read yet, and kept in
// its place: the walk lost its positions, and a page whose marker lived in
// a region that was down answered 503).
func TestCursorsKeepTheNewestEntry(t *testing.T) {
	const max, cost = 1 << 17, 101 // the catalog's bound; pages of 25 read ahead in 4 regions
	s, err := newCursors(max, time.Minute, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer s.close()
	ctx := context.Background()
	lost := 0
	const walks, pages = 200, 20
	for walk := range walks {
		for page := range pages {
			key := fmt.Sprintf("walk %d page %d", walk, page)
			s.put(ctx, key, &cursor{}, cost, true)
			if _, ok := s.get(ctx, key); !ok {
				lost++
			}
		}
	}
	if lost > 0 {
		t.Fatalf("%d of %d entries gone before their next page read them", lost, walks*pages)
	}
	// The bound holds: the oldest entries went.
	if _, ok := s.get(ctx, "walk 0 page 0"); ok {
		t.Errorf("the store kept %d entries of cost %d within a bound of %d", walks*pages, cost, max)
	}
}
