package federation

import (
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
