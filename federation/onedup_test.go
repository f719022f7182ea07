package federation_test

import (
	"database/sql"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/spyglass-gateway/spyglass/backends/glance"
	"github.com/spyglass-gateway/spyglass/backends/glance/glancetest"
	"github.com/spyglass-gateway/spyglass/federation"
)

// newGlanceFederation starts n real Glance regions (g0…) and two catalogs
// over them, as newLocalFederation does with embedded ones; it returns the
// Glances too, for their databases.
func newGlanceFederation(t *testing.T, n int) (*fedUnderTest, []*glancetest.Glance) {
	t.Helper()
	gs := make([]*glancetest.Glance, n)
	var wg sync.WaitGroup
	for i := range gs {
		wg.Add(1)
		go func() { defer wg.Done(); gs[i] = glancetest.StartT(t) }()
	}
	wg.Wait()
	if t.Failed() {
		t.FailNow()
	}
	f := &fedUnderTest{times: map[string][2]time.Time{}}
	for i, g := range gs {
		name := fmt.Sprintf("g%d", i)
		r, err := glance.New(glance.Config{Name: name, Endpoint: g.URL, ReadTimeout: 15 * time.Second})
		if err != nil {
			t.Fatal(err)
		}
		f.names = append(f.names, name)
		f.urls = append(f.urls, g.URL)
		f.regions = append(f.regions, r)
		f.rcs = append(f.rcs, federation.RegionConfig{Region: federation.RegionOf(r)})
	}
	for _, ahead := range []time.Duration{time.Minute, 0} {
		cat, err := federation.New(federation.Config{Regions: f.rcs, ReadAheadTTL: ahead})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(cat.Close)
		f.spy = append(f.spy, serve(t, cat))
	}
	return f, gs
}

// readTimes records the true created_at and updated_at of every image in a
// Glance's database (it renders them to the second but orders by the
// microsecond), for the oracle.
func readTimes(t *testing.T, dir, region string, into map[string][2]time.Time) {
	t.Helper()
	db, err := sql.Open("sqlite", filepath.Join(dir, "glance.sqlite"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	rows, err := db.Query("SELECT id, created_at, updated_at FROM images")
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	parse := func(v any) time.Time {
		switch v := v.(type) {
		case time.Time:
			return v.UTC()
		case string:
			for _, layout := range []string{time.RFC3339Nano, "2006-01-02 15:04:05.999999"} {
				if tm, err := time.Parse(layout, v); err == nil {
					return tm
				}
			}
		}
		t.Fatalf("a time in %s's database: %#v", region, v)
		return time.Time{}
	}
	for rows.Next() {
		var id string
		var c, u any
		if err := rows.Scan(&id, &c, &u); err != nil {
			t.Fatal(err)
		}
		ct, ut := parse(c), parse(c)
		if u != nil {
			ut = parse(u)
		}
		into[timesKey(region, id)] = [2]time.Time{ct, ut}
	}
}

// seedSameIDs writes, region by region and a second apart (every copy has
// a created_at of its own, the later regions' newer, as when copies are
// made one after the other), the same three image ids into every region,
// and two images of each region's own. The third shared image is, in the
// first region, private to p2: p1 sees it first in the second region.
func seedSameIDs(t *testing.T, f *fedUnderTest) []string {
	t.Helper()
	admin := caller{"adm", "admin,member,reader"}
	shared := []string{
		"11111111-0000-4000-8000-000000000001",
		"11111111-0000-4000-8000-000000000002",
		"11111111-0000-4000-8000-000000000003",
	}
	for i, u := range f.urls {
		if i > 0 {
			time.Sleep(1100 * time.Millisecond)
		}
		for k, id := range shared {
			body := map[string]any{"id": id, "name": "dup-" + string(rune('a'+k)), "disk_format": "raw",
				"container_format": "bare", "visibility": "public", "owner": "p1"}
			if k == 2 && i == 0 {
				body["visibility"], body["owner"] = "private", "p2"
			}
			if code, b := do(t, u, admin, "POST", "/v2/images", body); code != 201 {
				t.Fatalf("seeding %s in %s: %d %s", id, f.names[i], code, b)
			}
		}
		for k := range 2 {
			body := map[string]any{"name": fmt.Sprintf("own-%s-%d", f.names[i], k), "visibility": "public", "owner": "p1"}
			if code, b := do(t, u, admin, "POST", "/v2/images", body); code != 201 {
				t.Fatalf("seeding %s: %d %s", f.names[i], code, b)
			}
		}
	}
	return shared
}

// duplicates counts the ids listed more than once.
func duplicates(ids []string) int {
	seen := map[string]bool{}
	n := 0
	for _, id := range ids {
		if seen[id] {
			n++
		}
		seen[id] = true
	}
	return n
}

// checkOneEntry walks every query at every limit (hopping between the two
// instances, so pages come from cursors, read-ahead and re-reads) and from
// a hand-built marker at every position, against the oracle.
func checkOneEntry(t *testing.T, f *fedUnderTest, queries []string, limits []int) {
	t.Helper()
	callers := []caller{{"adm", "admin,member,reader"}, {"p1", "member,reader"}}
	walks := 0
	// Under -race (make test) each (caller, query) walks a third of the
	// page sizes and of the markers, a different third each, so every
	// size and marker position is still walked; make bench-quick walks
	// them all.
	c := 0
	take := func(i int) bool { return !thinned() || (i+c)%3 == 0 }
	for _, who := range callers {
		for _, qs := range queries {
			c++
			want := f.oracle(t, who, qs)
			if duplicates(want) != 0 {
				t.Fatalf("oracle lists an image twice: %v", want)
			}
			for j, limit := range limits {
				if !take(j) {
					continue
				}
				lq := "limit=" + strconv.Itoa(limit)
				if qs != "" {
					lq = qs + "&" + lq
				}
				got := walk(t, f.spy, who, lq, limit%2 == 0)
				walks++
				if !slices.Equal(got, want) {
					t.Errorf("%s as %s: got %d images (%d duplicates), want %d: %s",
						lq, who.project, len(got), duplicates(got), len(want), firstDiff(got, want))
				}
			}
			// Hand-built markers on a gateway that never saw the walk,
			// the last position first: no marker was a page's end
			// before, so none has a cursor.
			fresh := []string{f.freshGateway(t, 0)}
			for k := len(want) - 1; k >= 0; k-- {
				if !take(k) {
					continue
				}
				lq := "limit=3&marker=" + want[k]
				if qs != "" {
					lq = qs + "&" + lq
				}
				got := walk(t, fresh, who, lq, false)
				walks++
				if !slices.Equal(got, want[k+1:]) {
					t.Errorf("%s as %s: got %d images (%d duplicates), want %d: %s",
						lq, who.project, len(got), duplicates(got), len(want)-k-1, firstDiff(got, want[k+1:]))
				}
			}
		}
	}
	t.Logf("%d walks", walks)
}

// oneEntryQueries: the default order, every direction, several keys, time
// keys where the copies differ.
var oneEntryQueries = []string{
	"",
	"sort_key=created_at&sort_dir=asc",
	"sort=created_at:desc",
	"sort=name:asc",
	"sort=name:desc",
	"sort=name:asc,created_at:asc",
	"sort=updated_at:desc",
	"sort=id:asc",
	"sort_key=status&sort_dir=desc",
}

// TestOneImageOneEntryAcrossPages is issue 19's reproduction: three
// regions each holding the same three image ids, created separately (so
// their created_at differ); every walk, at every page size, in both
// directions and by several keys, from the start or a hand-built marker,
// lists each image once, in the oracle's order — the order of each image's
// first region's copy.
func TestOneImageOneEntryAcrossPages(t *testing.T) {
	limits := []int{1, 2, 3, 4, 5, 6, 7, 8, 25}
	t.Run("embedded", func(t *testing.T) {
		f := newLocalFederation(t, 3)
		seedSameIDs(t, f)
		checkOneEntry(t, f, oneEntryQueries, limits)
	})
	t.Run("glance", func(t *testing.T) {
		if err := glancetest.Available(); err != nil {
			t.Skip(err)
		}
		f, gs := newGlanceFederation(t, 3)
		seedSameIDs(t, f)
		for i, g := range gs {
			readTimes(t, g.Dir, f.names[i], f.times)
		}
		checkOneEntry(t, f, oneEntryQueries, limits)
	})
}

// TestOneEntryAfterAWriteInOneRegion: an image copied to every region
// (copy-image through the gateway), then renamed through the gateway (every
// copy gets its own updated_at), then renamed again in its first region
// alone behind the gateway (the copies now disagree): every walk lists it
// once — under the name its first region gives it, or, filtered by the old
// name, from the copy that still has it.
func TestOneEntryAfterAWriteInOneRegion(t *testing.T) {
	f := newLocalFederation(t, 3)
	admin := caller{"adm", "admin,member,reader"}
	for i, u := range f.urls {
		for k := range 2 {
			if code, b := do(t, u, admin, "POST", "/v2/images", map[string]any{"name": fmt.Sprintf("%s-%d", f.names[i], k), "visibility": "public"}); code != 201 {
				t.Fatalf("create: %d %s", code, b)
			}
		}
	}
	// Created in the last region: creates go to the default region.
	cat, err := federation.New(federation.Config{Regions: f.rcs, Default: f.names[2]})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cat.Close)
	gw := serve(t, cat)
	code, b := do(t, gw, admin, "POST", "/v2/images", map[string]any{"name": "copied", "disk_format": "raw", "container_format": "bare", "visibility": "public"})
	if code != 201 {
		t.Fatalf("create: %d %s", code, b)
	}
	var img struct{ ID string }
	json.Unmarshal(b, &img)
	if resp, _ := send(t, gw, admin, "PUT", "/v2/images/"+img.ID+"/file", strings.NewReader("copied data"),
		map[string]string{"Content-Type": "application/octet-stream"}); resp.StatusCode != 204 {
		t.Fatalf("upload: %d", resp.StatusCode)
	}
	code, b = do(t, gw, admin, "POST", "/v2/images/"+img.ID+"/import",
		map[string]any{"method": map[string]string{"name": "copy-image"}, "stores": []string{f.names[0], f.names[1]}})
	if code != 202 {
		t.Fatalf("copy-image: %d %s", code, b)
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		_, b := do(t, gw, admin, "GET", "/v2/images/"+img.ID, nil)
		var shown struct{ Stores string }
		json.Unmarshal(b, &shown)
		if shown.Stores == f.names[0]+","+f.names[1]+","+f.names[2] {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("copy-image did not finish: %s", b)
		}
		time.Sleep(50 * time.Millisecond)
	}

	queries := []string{"", "sort=updated_at:asc", "sort=updated_at:desc", "sort=name:asc", "sort=name:desc",
		"sort=created_at:asc", "name=renamed", "name=changed", "name=in:renamed,changed&sort=updated_at:desc"}
	limits := []int{1, 2, 3, 4}
	steps := []struct {
		name  string
		write func(t *testing.T)
	}{
		{"renamed through the gateway", func(t *testing.T) {
			time.Sleep(1100 * time.Millisecond)
			if code, b := do(t, gw, admin, "PATCH", "/v2/images/"+img.ID,
				`[{"op": "replace", "path": "/name", "value": "renamed"}]`); code != 200 {
				t.Fatalf("rename: %d %s", code, b)
			}
		}},
		{"renamed in its first region alone", func(t *testing.T) {
			time.Sleep(1100 * time.Millisecond)
			if code, b := do(t, f.urls[0], admin, "PATCH", "/v2/images/"+img.ID,
				`[{"op": "replace", "path": "/name", "value": "changed"}]`); code != 200 {
				t.Fatalf("rename in %s: %d %s", f.names[0], code, b)
			}
		}},
	}
	for _, step := range steps {
		t.Run(step.name, func(t *testing.T) {
			step.write(t)
			// Gateways that never walked these queries: a cursor kept
			// from before the write would place a walk by the old name
			// (cursors outlive writes to their anchors: not this test's
			// subject).
			spies := [][]string{{f.freshGateway(t, time.Minute)}, {f.freshGateway(t, time.Minute), f.freshGateway(t, 0)}}
			for _, qs := range queries {
				want := f.oracle(t, admin, qs)
				for _, limit := range limits {
					lq := qs + "&limit=" + strconv.Itoa(limit)
					for _, spy := range spies {
						got := walk(t, spy, admin, lq, true)
						if !slices.Equal(got, want) {
							t.Errorf("%s: got %d images (%d duplicates), want %d: %s", lq, len(got), duplicates(got), len(want), firstDiff(got, want))
						}
					}
				}
			}
		})
	}
}

// seedCopies copies about one image in five of the regions' listing (as an
// admin sees them) into other regions under the same id, as copy-image or
// an operator does; most copies keep the name, some get another (a write
// that reached one copy), and copies are made later (their own created_at).
// allowed says whether an image may be held by a set of regions.
func seedCopies(t *testing.T, f *fedUnderTest, rng *rand.Rand, allowed func(holders []bool) bool) int {
	t.Helper()
	admin := caller{"adm", "admin,member,reader"}
	type source struct {
		region int
		img    map[string]any
	}
	var all []source
	for i, u := range f.urls {
		path := "/v2/images?visibility=all&member_status=all&limit=1000"
		for path != "" {
			code, b := do(t, u, admin, "GET", path, nil)
			if code != 200 {
				t.Fatalf("listing %s: %d %s", f.names[i], code, b)
			}
			var page struct {
				Images []map[string]any
				Next   string
			}
			json.Unmarshal(b, &page)
			for _, img := range page.Images {
				all = append(all, source{i, img})
			}
			path = page.Next
		}
	}
	copied := 0
	for _, s := range all {
		if rng.IntN(5) != 0 {
			continue
		}
		holders := make([]bool, len(f.urls))
		holders[s.region] = true
		var to []int
		for _, j := range rng.Perm(len(f.urls)) {
			if j != s.region && rng.IntN(2) == 0 {
				holders[j] = true
				to = append(to, j)
			}
		}
		if len(to) == 0 || !allowed(holders) {
			continue
		}
		for _, j := range to {
			body := map[string]any{"id": s.img["id"], "visibility": s.img["visibility"], "owner": s.img["owner"], "tags": s.img["tags"]}
			for _, k := range []string{"name", "disk_format", "container_format"} {
				if v, ok := s.img[k]; ok && v != nil {
					body[k] = v
				}
			}
			if rng.IntN(4) == 0 {
				body["name"] = []string{"cirros", "zeta", "copy"}[rng.IntN(3)]
			}
			if code, b := do(t, f.urls[j], admin, "POST", "/v2/images", body); code != 201 {
				t.Fatalf("copying %v to %s: %d %s", s.img["id"], f.names[j], code, b)
			}
			copied++
		}
	}
	return copied
}

// TestShowRetriesTheNextHolder: an image the location index knows in three
// regions, deleted behind the gateway from the first two: a show tries each
// holder the index names in turn and serves the one left.
func TestShowRetriesTheNextHolder(t *testing.T) {
	f := newLocalFederation(t, 3)
	admin := caller{"adm", "admin,member,reader"}
	const id = "22222222-0000-4000-8000-000000000001"
	for i, u := range f.urls {
		if code, b := do(t, u, admin, "POST", "/v2/images", map[string]any{"id": id, "name": "everywhere", "visibility": "public"}); code != 201 {
			t.Fatalf("create in %s: %d %s", f.names[i], code, b)
		}
	}
	// A listing teaches the index every copy (the first listed, the
	// others passed over).
	if got := walk(t, f.spy[:1], admin, "limit=25", false); !slices.Equal(got, []string{id}) {
		t.Fatalf("listing: %v", got)
	}
	for _, u := range f.urls[:2] {
		if code, b := do(t, u, admin, "DELETE", "/v2/images/"+id, nil); code != 204 {
			t.Fatalf("delete behind the gateway: %d %s", code, b)
		}
	}
	if code, b := do(t, f.spy[0], admin, "GET", "/v2/images/"+id, nil); code != 200 {
		t.Fatalf("show after two copies went: %d %s", code, b)
	}
}
