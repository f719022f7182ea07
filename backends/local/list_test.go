package local

import (
	"context"
	"errors"
	"fmt"
	"math/rand"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/spyglass-gateway/spyglass/backends"
)

// model is the naive in-Go evaluator the SQL listing is checked against.
type model struct {
	images  []*backends.Image
	members map[string]map[string]string // image → member → status
}

func (m *model) visible(who backends.Caller, q *backends.ListQuery, img *backends.Image) bool {
	p := who.Project
	owned := p != "" && img.Owner != nil && *img.Owner == p
	if !who.Admin {
		ok := img.Visibility == "public" || img.Visibility == "community" || owned
		if !ok && p != "" && img.Visibility == "shared" {
			st, isMember := m.members[img.ID][p]
			ms := q.MemberStatus
			if ms == "" {
				ms = "accepted"
			}
			ok = isMember && (ms == "all" || st == ms)
		}
		if !ok {
			return false
		}
	}
	switch {
	case q.Visibility == "all":
	case q.Visibility != "":
		if img.Visibility != q.Visibility {
			return false
		}
	case p == "":
		if img.Visibility == "community" {
			return false
		}
	default:
		if !owned && img.Visibility == "community" {
			return false
		}
	}
	for _, t := range q.Tags {
		if !slices.Contains(img.Tags, t) {
			return false
		}
	}
	for _, f := range q.Filters {
		var v any
		if f.Property {
			pv, ok := img.Properties[f.Key]
			if ok {
				v = pv
			}
		} else {
			v = sortValue(img, column(f.Key))
		}
		if v == nil {
			return false // SQL: comparisons with NULL are not true
		}
		match := false
		for i, raw := range f.Values {
			var want any = raw
			if _, isInt := v.(int64); isInt {
				var n int64
				fmt.Sscan(raw, &n)
				want = n
			}
			c := compare(v, want)
			switch f.Op {
			case backends.OpEq:
				match = c == 0
			case backends.OpNeq:
				match = c != 0
			case backends.OpGt:
				match = c > 0
			case backends.OpLte:
				match = c <= 0
			case backends.OpIn:
				match = match || c == 0
			}
			if f.Op != backends.OpIn || i == len(f.Values)-1 {
				break
			}
		}
		if !match {
			return false
		}
	}
	return true
}

func compare(a, b any) int {
	switch x := a.(type) {
	case string:
		return strings.Compare(x, b.(string))
	case int64:
		y := b.(int64)
		switch {
		case x < y:
			return -1
		case x > y:
			return 1
		}
	}
	return 0
}

// less orders as SQLite does: NULLs first ascending, last descending.
func less(keys []backends.SortKey, a, b *backends.Image) bool {
	for _, k := range keys {
		va, vb := sortValue(a, column(k.Key)), sortValue(b, column(k.Key))
		var c int
		switch {
		case va == nil && vb == nil:
			c = 0
		case va == nil:
			c = -1
		case vb == nil:
			c = 1
		default:
			c = compare(va, vb)
		}
		if k.Desc {
			c = -c
		}
		if c != 0 {
			return c < 0
		}
	}
	return false
}

func (m *model) list(who backends.Caller, q *backends.ListQuery) []string {
	var out []*backends.Image
	for _, img := range m.images {
		if m.visible(who, q, img) {
			out = append(out, img)
		}
	}
	slices.SortStableFunc(out, func(a, b *backends.Image) int {
		if less(q.Sort, a, b) {
			return -1
		}
		if less(q.Sort, b, a) {
			return 1
		}
		return 0
	})
	ids := make([]string, len(out))
	for i, img := range out {
		ids[i] = img.ID
	}
	return ids
}

// populate fills s with random images: NULL names, sizes and formats,
// equal created_at, several owners, visibilities and members.
func populate(t testing.TB, s *Store, rng *rand.Rand, n int) *model {
	ctx := context.Background()
	base := time.Date(2026, 11, 23, 1, 47, 37, 0, time.UTC)
	old := clock
	clock = func() time.Time { return base.Add(time.Duration(rng.Intn(4)) * time.Second) }
	defer func() { clock = old }()
	pick := func(xs ...string) *string {
		x := xs[rng.Intn(len(xs))]
		if x == "NULL" {
			return nil
		}
		return &x
	}
	m := &model{members: map[string]map[string]string{}}
	for i := 0; i < n; i++ {
		img := &backends.Image{
			ID:              fmt.Sprintf("%08x-%d", rng.Uint32(), i),
			Name:            pick("NULL", "alpha", "beta", "Beta", "gamma", ""),
			Owner:           pick("NULL", "p1", "p2", "p3"),
			Visibility:      *pick("public", "private", "shared", "community"),
			DiskFormat:      pick("NULL", "raw", "qcow2"),
			ContainerFormat: pick("NULL", "bare"),
		}
		if rng.Intn(3) == 0 {
			img.Tags = []string{*pick("t1", "t2")}
		}
		if rng.Intn(3) == 0 {
			img.Properties = map[string]string{"os_distro": *pick("a", "b")}
		}
		if _, err := s.CreateImage(ctx, img); err != nil {
			t.Fatal(err)
		}
		if rng.Intn(2) == 0 && img.DiskFormat != nil && img.ContainerFormat != nil {
			data := strings.Repeat("x", rng.Intn(4))
			if _, err := s.UploadData(ctx, img.ID, strings.NewReader(data), backends.UploadOptions{ExpectedSize: -1}); err != nil {
				t.Fatal(err)
			}
		}
		if img.Visibility == "shared" {
			for _, p := range []string{"p1", "p2", "p3"} {
				if rng.Intn(2) == 0 {
					continue
				}
				if _, err := s.AddMember(ctx, img.ID, p); err != nil {
					t.Fatal(err)
				}
				st := *pick("pending", "accepted", "rejected")
				if _, err := s.UpdateMember(ctx, img.ID, p, st); err != nil {
					t.Fatal(err)
				}
				if m.members[img.ID] == nil {
					m.members[img.ID] = map[string]string{}
				}
				m.members[img.ID][p] = st
			}
		}
		cur, _ := s.Image(ctx, img.ID)
		m.images = append(m.images, cur)
	}
	return m
}

// randomQuery returns a random caller and query.
func randomQuery(rng *rand.Rand) (backends.Caller, *backends.ListQuery) {
	pick := func(xs ...string) string { return xs[rng.Intn(len(xs))] }
	who := backends.Caller{Project: pick("", "p1", "p2", "p3"), Admin: rng.Intn(4) == 0}
	q := &backends.ListQuery{
		Visibility:   pick("", "", "all", "public", "private", "shared", "community"),
		MemberStatus: pick("", "accepted", "pending", "rejected", "all"),
		Limit:        1 + rng.Intn(7),
	}
	filters := []backends.Filter{
		{Key: "name", Op: backends.OpEq, Values: []string{pick("alpha", "beta", "")}},
		{Key: "owner", Op: backends.OpEq, Values: []string{pick("p1", "p2")}},
		{Key: "status", Op: backends.OpIn, Values: []string{"queued", pick("active", "saving")}},
		{Key: "disk_format", Op: backends.OpNeq, Values: []string{"raw"}},
		{Key: "size", Op: backends.OpGt, Values: []string{"1"}},
		{Key: "size", Op: backends.OpLte, Values: []string{"2"}},
		{Key: "os_distro", Property: true, Op: backends.OpEq, Values: []string{pick("a", "b")}},
		{Key: "os_distro", Property: true, Op: backends.OpIn, Values: []string{"b", "c"}},
		{Key: "name", Op: backends.OpIn, Values: []string{"alpha", "Beta"}},
	}
	for _, f := range filters {
		if rng.Intn(6) == 0 {
			q.Filters = append(q.Filters, f)
		}
	}
	if rng.Intn(6) == 0 {
		q.Tags = []string{pick("t1", "t2")}
		if rng.Intn(3) == 0 {
			q.Tags = []string{"t1", "t2"} // AND: no image has both
		}
	}
	keys := []string{"name", "status", "container_format", "disk_format", "size", "id", "created_at", "updated_at"}
	desc := rng.Intn(2) == 0
	for n := rng.Intn(3); n > 0; n-- {
		q.Sort = append(q.Sort, backends.SortKey{Key: keys[rng.Intn(len(keys))], Desc: rng.Intn(2) == 0})
	}
	if len(q.Sort) > 0 {
		desc = q.Sort[0].Desc
	}
	for _, k := range []string{"created_at", "id"} {
		if !slices.ContainsFunc(q.Sort, func(s backends.SortKey) bool { return s.Key == k }) {
			q.Sort = append(q.Sort, backends.SortKey{Key: k, Desc: desc})
		}
	}
	return who, q
}

func TestListMatchesModel(t *testing.T) {
	seeds, images, queries := 3, 150, 400
	if testing.Short() || raceEnabled {
		seeds, images, queries = 1, 60, 100
	}
	for seed := range seeds {
		t.Run(fmt.Sprint("seed", seed), func(t *testing.T) { checkListAgainstModel(t, int64(seed), images, queries) })
	}
}

func checkListAgainstModel(t *testing.T, seed int64, images, queries int) {
	ctx := context.Background()
	s, _ := open(t, Options{})
	rng := rand.New(rand.NewSource(seed))
	m := populate(t, s, rng, images)
	for i := 0; i < queries; i++ {
		who, q := randomQuery(rng)
		want := m.list(who, q)
		var got []string
		for pages := 0; ; pages++ {
			page, err := s.ListImages(backends.WithCaller(ctx, &who), q)
			if err != nil {
				t.Fatalf("query %d as %+v %+v: %v", i, who, q, err)
			}
			for _, img := range page {
				got = append(got, img.ID)
			}
			if len(page) < q.Limit || pages > len(m.images) {
				break
			}
			q.Marker = page[len(page)-1].ID
		}
		if !slices.Equal(got, want) {
			q.Marker = ""
			t.Fatalf("query %d as %+v %+v\n got %v\nwant %v", i, who, q, got, want)
		}
	}
}

func TestListMarker(t *testing.T) {
	ctx := context.Background()
	s, _ := open(t, Options{})
	create(t, s, "mine", "p1", "private")
	tests := []struct {
		name   string
		caller backends.Caller
		marker string
		kind   error
		msg    string
	}{
		{"unknown", backends.Caller{Project: "p1"}, "nope", backends.ErrMarkerNotFound, "No image found with ID nope"},
		{"not visible", backends.Caller{Project: "p2"}, "mine", backends.ErrForbidden, "Forbidding request, image mine not visible"},
		{"admin", backends.Caller{Project: "p2", Admin: true}, "mine", nil, ""},
		{"owner", backends.Caller{Project: "p1"}, "mine", nil, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := s.ListImages(backends.WithCaller(ctx, &tt.caller), &backends.ListQuery{Marker: tt.marker,
				Sort: []backends.SortKey{{Key: "created_at", Desc: true}, {Key: "id", Desc: true}}})
			if tt.kind == nil {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			if !errors.Is(err, tt.kind) || err.Error() != tt.msg {
				t.Fatalf("err = %v, want %v %q", err, tt.kind, tt.msg)
			}
		})
	}
}

func TestListBadInput(t *testing.T) {
	s, _ := open(t, Options{})
	for _, q := range []*backends.ListQuery{
		{Sort: []backends.SortKey{{Key: "bogus"}}},
		{Filters: []backends.Filter{{Key: "bogus", Values: []string{"x"}}}},
		{Filters: []backends.Filter{{Key: "size", Op: backends.OpGt, Values: []string{"x"}}}},
		{Filters: []backends.Filter{{Key: "protected", Values: []string{"maybe"}}}},
	} {
		if _, err := s.ListImages(context.Background(), q); !errors.Is(err, backends.ErrBadRequest) {
			t.Errorf("%+v: err = %v, want bad request", q, err)
		}
	}
}
