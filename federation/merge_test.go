package federation_test

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/valyala/fasthttp"

	"github.com/spyglass-gateway/spyglass/backends"
	"github.com/spyglass-gateway/spyglass/backends/local"
	"github.com/spyglass-gateway/spyglass/federation"
	"github.com/spyglass-gateway/spyglass/gateway"
)

// A federation under test: its regions (for the oracle) and two gateways
// over two catalogs of the same regions, so a walk can hop between
// instances (the second has none of the first's cursors).
type fedUnderTest struct {
	names   []string
	regions []federation.Images
	urls    []string // each region's own API, for seeding
	spy     []string // two Spyglass gateways
	// times holds the true created_at and updated_at of images whose
	// region renders them to the second but orders them by the
	// microsecond (a Glance), for the oracle, by timesKey: copies of an
	// image in several regions have times of their own.
	times map[string][2]time.Time
	// rcs are the regions as the gateways' catalogs were built over them,
	// for a fresh catalog (no cursor, no location learned).
	rcs []federation.RegionConfig
}

// timesKey names an image's copy in a region in fedUnderTest.times.
func timesKey(region, id string) string { return region + "/" + id }

// freshGateway serves a new catalog over f's regions: nothing learned, no
// cursor, so every marker is a hand-built one.
func (f *fedUnderTest) freshGateway(t *testing.T, readAhead time.Duration) string {
	t.Helper()
	cat, err := federation.New(federation.Config{Regions: f.rcs, ReadAheadTTL: readAhead})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cat.Close)
	return serve(t, cat)
}

// seedRegion fills a region through its own API with n images that make
// merged ordering hard: colliding names in both cases, empty and missing
// names, formats and sizes absent or present, every visibility, owners
// across three projects, shared images with members in every status.
func seedRegion(t *testing.T, base string, n int, rng *rand.Rand, tag string) {
	t.Helper()
	names := []any{"cirros", "Cirros", "ubuntu", "", nil, "zeta", "alpha"}
	owners := []caller{{"p1", "member,reader"}, {"p2", "member,reader"}, {"p3", "member,reader"}}
	admin := caller{"adm", "admin,member,reader"}
	for i := 0; i < n; i++ {
		owner := owners[rng.IntN(3)]
		body := map[string]any{"tags": []string{tag}}
		if nm := names[rng.IntN(len(names))]; nm != nil {
			body["name"] = nm
		}
		if rng.IntN(3) > 0 {
			body["disk_format"] = []string{"raw", "qcow2", "iso"}[rng.IntN(3)]
			body["container_format"] = "bare"
		}
		vis := []string{"private", "shared", "community", "public"}[rng.IntN(4)]
		by := owner
		if vis == "public" {
			by = admin
			body["owner"] = owner.project
		}
		body["visibility"] = vis
		code, b := do(t, base, by, "POST", "/v2/images", body)
		if code != 201 {
			t.Fatalf("seeding %s: %d %s", base, code, b)
		}
		var img struct {
			ID         string
			DiskFormat *string `json:"disk_format"`
		}
		json.Unmarshal(b, &img)
		if img.DiskFormat != nil && rng.IntN(2) == 0 {
			data := strings.Repeat("x", rng.IntN(4)*7)
			if len(data) == 0 {
				data = "y"
			}
			resp, _ := send(t, base, by, "PUT", "/v2/images/"+img.ID+"/file", strings.NewReader(data),
				map[string]string{"Content-Type": "application/octet-stream"})
			if resp.StatusCode != 204 {
				t.Fatalf("upload: %d", resp.StatusCode)
			}
		}
		if vis == "shared" {
			for _, m := range owners {
				if m == owner || rng.IntN(2) == 0 {
					continue
				}
				do(t, base, owner, "POST", "/v2/images/"+img.ID+"/members", map[string]string{"member": m.project})
				if st := []string{"accepted", "rejected", "pending"}[rng.IntN(3)]; st != "pending" {
					do(t, base, m, "PUT", "/v2/images/"+img.ID+"/members/"+m.project, map[string]string{"status": st})
				}
			}
		}
	}
}

// oracle is the listing one Glance holding every region's images would
// give: each region's matching images (read in a sort order Glance pages
// correctly), the union ordered by a comparator written independently of
// the federation's, SQLite's rules (NULLs first, binary strings). An image
// several regions list is listed once, as the first region lists it (its
// sort values, its place).
func (f *fedUnderTest) oracle(t *testing.T, who caller, rawQuery string) []string {
	t.Helper()
	args := fasthttp.AcquireArgs()
	defer fasthttp.ReleaseArgs(args)
	args.Parse(rawQuery)
	args.Del("marker")
	args.Del("limit")
	q, err := gateway.ParseListQuery(args)
	cl := whoAsCaller(who)
	if err != nil {
		t.Fatalf("oracle: %s: %v", rawQuery, err)
	}
	order := q.Sort
	q.Sort = []backends.SortKey{{Key: "created_at", Desc: true}, {Key: "id", Desc: true}}
	q.Limit = 0
	seen := map[string]bool{}
	var all []*backends.Image
	region := map[*backends.Image]int{}
	for i, r := range f.regions {
		ctx := backends.WithCaller(context.Background(), &cl)
		imgs, err := r.ListImages(ctx, q)
		if err != nil {
			t.Fatalf("oracle: listing a region: %v", err)
		}
		for _, img := range imgs {
			if !seen[img.ID] {
				seen[img.ID] = true
				if tm, ok := f.times[timesKey(f.names[i], img.ID)]; ok {
					img = img.Clone()
					img.CreatedAt, img.UpdatedAt = tm[0], tm[1]
				}
				all = append(all, img)
				region[img] = i
			}
		}
	}
	slices.SortFunc(all, func(a, b *backends.Image) int {
		return oracleOrder(order, a, region[a], b, region[b])
	})
	ids := make([]string, len(all))
	for i, img := range all {
		ids[i] = img.ID
	}
	return ids
}

// oracleOrder is the order one Glance holding every image could give, as
// far as a client can tell: the sort keys with times as rendered (whole
// seconds); images of two regions in the same second of a time key by
// region (the microseconds that order them are not shown, so any order is
// one they could give); two of one region by what that region keeps (its
// microseconds, then the remaining keys).
func oracleOrder(order []backends.SortKey, a *backends.Image, ra int, b *backends.Image, rb int) int {
	dir := func(k backends.SortKey, c int) int {
		if k.Desc {
			return -c
		}
		return c
	}
	for i, k := range order {
		if c := dir(k, oracleCompare(a, b, k.Key, time.Second)); c != 0 {
			return c
		}
		if k.Key != "created_at" && k.Key != "updated_at" {
			continue
		}
		if ra != rb {
			return cmp.Compare(ra, rb)
		}
		for _, k := range order[i:] {
			if c := dir(k, oracleCompare(a, b, k.Key, 0)); c != 0 {
				return c
			}
		}
		return 0
	}
	return 0
}

// oracleCompare compares one key ascending, times truncated to prec.
func oracleCompare(a, b *backends.Image, key string, prec time.Duration) int {
	nullsFirst := func(an, bn bool, then func() int) int {
		switch {
		case an && bn:
			return 0
		case an:
			return -1
		case bn:
			return 1
		}
		return then()
	}
	switch key {
	case "name":
		return nullsFirst(a.Name == nil, b.Name == nil, func() int { return strings.Compare(*a.Name, *b.Name) })
	case "disk_format":
		return nullsFirst(a.DiskFormat == nil, b.DiskFormat == nil, func() int { return strings.Compare(*a.DiskFormat, *b.DiskFormat) })
	case "container_format":
		return nullsFirst(a.ContainerFormat == nil, b.ContainerFormat == nil, func() int { return strings.Compare(*a.ContainerFormat, *b.ContainerFormat) })
	case "size":
		return nullsFirst(a.Size == nil, b.Size == nil, func() int { return cmp.Compare(*a.Size, *b.Size) })
	case "status":
		return strings.Compare(a.Status, b.Status)
	case "id":
		return strings.Compare(a.ID, b.ID)
	case "created_at":
		return a.CreatedAt.Truncate(prec).Compare(b.CreatedAt.Truncate(prec))
	case "updated_at":
		return a.UpdatedAt.Truncate(prec).Compare(b.UpdatedAt.Truncate(prec))
	}
	panic("oracle: sort key " + key)
}

func whoAsCaller(who caller) backends.Caller {
	roles := strings.Split(who.roles, ",")
	return backends.Caller{Project: who.project, User: "u-" + who.project, Roles: roles, Admin: slices.Contains(roles, "admin")}
}

// walk pages through a listing from Spyglass, following next links; hop
// alternates the gateway instance page by page. It returns the ids in
// order and the pages' sizes.
func walk(t *testing.T, spy []string, who caller, rawQuery string, hop bool) []string {
	t.Helper()
	var ids []string
	path := "/v2/images?" + rawQuery
	for page := 0; ; page++ {
		base := spy[0]
		if hop {
			base = spy[page%len(spy)]
		}
		resp, b := send(t, base, who, "GET", path, nil, nil)
		if resp.StatusCode != 200 {
			t.Fatalf("walk %s page %d: %d %s", rawQuery, page, resp.StatusCode, b)
		}
		// A walk's images are only comparable when every region answered:
		// a region that timed out (a loaded machine, a region ReadTimeout
		// too short for a page of api_limit_max images) is named here, not
		// left to show as images missing from the walk.
		if m := resp.Header.Get("X-Spyglass-Missing-Regions"); m != "" {
			t.Fatalf("walk %s page %d: answered without region(s) %s (see the region failure logged above)", rawQuery, page, m)
		}
		var body struct {
			Images []struct{ ID string }
			Next   string
		}
		if err := json.Unmarshal(b, &body); err != nil {
			t.Fatal(err)
		}
		for _, img := range body.Images {
			ids = append(ids, img.ID)
		}
		if body.Next == "" {
			return ids
		}
		if page > 10000 {
			t.Fatalf("walk %s: no end", rawQuery)
		}
		path = body.Next
	}
}

// randomQuery builds a listing query as clients send them.
func randomQuery(rng *rand.Rand) string {
	v := url.Values{}
	keys := []string{"name", "status", "container_format", "disk_format", "size", "id", "created_at", "updated_at"}
	switch rng.IntN(4) {
	case 0: // default order
	case 1:
		v.Set("sort_key", keys[rng.IntN(len(keys))])
		v.Set("sort_dir", []string{"asc", "desc"}[rng.IntN(2)])
	default:
		n := 1 + rng.IntN(3)
		var parts []string
		for _, k := range rng.Perm(len(keys))[:n] {
			parts = append(parts, keys[k]+":"+[]string{"asc", "desc"}[rng.IntN(2)])
		}
		v.Set("sort", strings.Join(parts, ","))
	}
	switch rng.IntN(8) {
	case 0:
		v.Set("visibility", []string{"public", "private", "shared", "community", "all"}[rng.IntN(5)])
	case 1:
		v.Set("member_status", []string{"all", "pending", "rejected"}[rng.IntN(3)])
	case 2:
		v.Set("name", []string{"cirros", "Cirros", "zeta"}[rng.IntN(3)])
	case 3:
		v.Set("disk_format", "in:raw,iso")
	case 4:
		v.Set("status", []string{"active", "queued"}[rng.IntN(2)])
	case 5:
		v.Set("size_min", "7")
	}
	v.Set("limit", fmt.Sprint([]int{1, 2, 3, 7, 20, 50, 200}[rng.IntN(7)]))
	return v.Encode()
}

// checkWalks runs randomized walks (from the start, from hand-built
// markers, hopping between gateway instances) against the oracle.
func checkWalks(t *testing.T, f *fedUnderTest, rng *rand.Rand, n int) {
	t.Helper()
	callers := []caller{{"p1", "member,reader"}, {"p2", "member,reader"}, {"adm", "admin,member,reader"}}
	total, marked := 0, 0
	defer func() { t.Logf("%d walks, %d images listed, %d from hand-built markers", n, total, marked) }()
	for i := 0; i < n; i++ {
		who := callers[rng.IntN(len(callers))]
		qs := randomQuery(rng)
		want := f.oracle(t, who, qs)
		// At most ~100 pages a walk: small limits on big listings cost
		// time, not coverage.
		if v, _ := url.ParseQuery(qs); len(want) > 0 {
			if l, _ := strconv.Atoi(v.Get("limit")); len(want)/l > 100 {
				v.Set("limit", strconv.Itoa(len(want)/100+1))
				qs = v.Encode()
			}
		}
		hop := rng.IntN(3) == 0
		start := 0
		if len(want) > 0 && rng.IntN(3) == 0 {
			// A hand-built marker: no cursor anywhere.
			start = rng.IntN(len(want))
			qs += "&marker=" + want[start]
			start++
			marked++
		}
		got := walk(t, f.spy, who, qs, hop)
		total += len(got)
		if !slices.Equal(got, want[start:]) {
			t.Fatalf("walk %d as %s: %s (hop %v): got %d images, want %d\n%s",
				i, who.project, qs, hop, len(got), len(want)-start, firstDiff(got, want[start:]))
		}
	}
}

func firstDiff(got, want []string) string {
	for i := range min(len(got), len(want)) {
		if got[i] != want[i] {
			return fmt.Sprintf("first difference at %d: got %s, want %s", i, got[i], want[i])
		}
	}
	return fmt.Sprintf("one is a prefix of the other (got %d, want %d)", len(got), len(want))
}

// localRegion opens embedded region r<i> for the test and serves its own
// API (for seeding and for looking at it directly).
func localRegion(t testing.TB, i int) (*local.Store, string) {
	t.Helper()
	store, err := local.Open(t.TempDir(), local.Options{StoreName: fmt.Sprintf("r%d", i)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	return store, serve(t, store)
}

// newLocalFederation builds n embedded regions and two catalogs over them.
func newLocalFederation(t *testing.T, n int) *fedUnderTest {
	t.Helper()
	f := &fedUnderTest{}
	var rcs []federation.RegionConfig
	for i := 0; i < n; i++ {
		store, u := localRegion(t, i)
		f.names = append(f.names, store.Stores()[0])
		f.regions = append(f.regions, store)
		f.urls = append(f.urls, u)
		rcs = append(rcs, federation.RegionConfig{Region: federation.RegionOf(store)})
	}
	f.rcs = rcs
	// The first instance serves a walk's next page from the images its
	// last page read ahead; the second re-reads every page from the regions.
	for _, ahead := range []time.Duration{time.Minute, 0} {
		cat, err := federation.New(federation.Config{Regions: rcs, ReadAheadTTL: ahead})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(cat.Close)
		f.spy = append(f.spy, serve(t, cat))
	}
	return f
}

// TestMergedListingOverEmbeddedRegions: three embedded regions, some
// images copied under the same id into others (issue 19); every randomized
// walk through Spyglass is the oracle's listing, no image repeated or
// skipped, exact order.
func TestMergedListingOverEmbeddedRegions(t *testing.T) {
	seed := uint64(time.Now().UnixNano())
	t.Logf("seed %d", seed)
	rng := rand.New(rand.NewPCG(seed, 7))
	f := newLocalFederation(t, 3)
	for i, u := range f.urls {
		seedRegion(t, u, 60+20*i, rng, f.names[i])
	}
	time.Sleep(1100 * time.Millisecond) // copies made later: a created_at of their own
	n := seedCopies(t, f, rng, func([]bool) bool { return true })
	t.Logf("%d copies under the same id", n)
	// 150 walks; under -race a quarter (storm): make bench-quick runs all.
	checkWalks(t, f, rng, storm(150))
}

// countingRegion counts the images a catalog asks its region to list.
type countingRegion struct {
	federation.Images
	asked atomic.Int64
}

func (r *countingRegion) ListImages(ctx context.Context, q *backends.ListQuery) ([]*backends.Image, error) {
	// The checks of which images an earlier region lists too (id=in:…,
	// which this test's walks never filter by) are not images read.
	if !slices.ContainsFunc(q.Filters, func(f backends.Filter) bool { return f.Key == "id" }) {
		r.asked.Add(int64(q.Limit))
	}
	return r.Images.ListImages(ctx, q)
}

// TestReadAheadServesTheNextPageUntilAWrite: a walk's next page takes the
// images the previous page read beyond its end instead of asking the
// regions for them again — but not after a write through the catalog, and
// not after ReadAheadTTL.
func TestReadAheadServesTheNextPageUntilAWrite(t *testing.T) {
	admin := caller{"adm", "admin,member,reader"}
	var regions []*countingRegion
	var rcs []federation.RegionConfig
	for i := range 2 {
		store, u := localRegion(t, i)
		for j := range 10 {
			if code, b := do(t, u, admin, "POST", "/v2/images", map[string]any{"name": fmt.Sprintf("r%d-%02d", i, j)}); code != 201 {
				t.Fatalf("create: %d %s", code, b)
			}
		}
		r := &countingRegion{Images: store}
		regions = append(regions, r)
		rg := federation.RegionOf(store)
		rg.Images = r
		rcs = append(rcs, federation.RegionConfig{Region: rg})
	}
	asked := func() int64 { return regions[0].asked.Load() + regions[1].asked.Load() }
	cat, err := federation.New(federation.Config{Regions: rcs, ReadAheadTTL: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cat.Close)
	spy := serve(t, cat)
	all := walk(t, []string{spy}, admin, "sort=name:asc&limit=20", false)
	if len(all) != 20 {
		t.Fatalf("%d images, want 20", len(all))
	}
	page := func(path string) (ids []string, next string) {
		t.Helper()
		code, b := do(t, spy, admin, "GET", path, nil)
		if code != 200 {
			t.Fatalf("GET %s: %d %s", path, code, b)
		}
		var body struct {
			Images []struct{ ID string }
			Next   string
		}
		json.Unmarshal(b, &body)
		for _, img := range body.Images {
			ids = append(ids, img.ID)
		}
		return ids, body.Next
	}

	// Sorted by name, the first page takes r0's ten: r1's five read ahead
	// wait for the next page, which asks r0 for nothing it has not got.
	p1, next := page("/v2/images?sort=name:asc&limit=10")
	if !slices.Equal(p1, all[:10]) {
		t.Fatalf("page 1 = %v, want %v", p1, all[:10])
	}
	before := asked()
	p2, next := page(next)
	if !slices.Equal(p2, all[10:]) {
		t.Fatalf("page 2 = %v, want %v", p2, all[10:])
	}
	// Page 2 had a marker: the walk goes on, so page 3 is read in the
	// background. Page 3 waits for that read.
	if p3, _ := page(next); len(p3) != 0 {
		t.Fatalf("page 3 = %v, want none", p3)
	}
	// Page 2 asks r0 for what follows its ten (nothing: r0 is done); r1's
	// ten were read ahead. The background read asks r1 for ten more
	// (nothing: done). Page 3 asks no one. Without read-ahead: 20 + 20.
	if got := asked() - before; got != 20 {
		t.Errorf("pages 2 and 3 asked the regions for %d images, want 20", got)
	}

	// Again, with a write between the pages: the read-ahead images are
	// not used, the deleted image is not listed.
	p1, next = page("/v2/images?sort=name:asc&limit=10")
	if code, b := do(t, spy, admin, "DELETE", "/v2/images/"+all[10], nil); code != 204 {
		t.Fatalf("delete: %d %s", code, b)
	}
	before = asked()
	p2, _ = page(next)
	if !slices.Equal(p2, all[11:]) {
		t.Fatalf("page 2 after a delete = %v, want %v", p2, all[11:])
	}
	if got := asked() - before; got != 20 {
		t.Errorf("page 2 after a write asked the regions for %d images, want 20", got)
	}
}
