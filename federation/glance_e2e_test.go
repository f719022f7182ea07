package federation_test

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	_ "modernc.org/sqlite"

	"github.com/spyglass-gateway/spyglass/backends"
	"github.com/spyglass-gateway/spyglass/backends/glance"
	"github.com/spyglass-gateway/spyglass/backends/glance/glancetest"
	"github.com/spyglass-gateway/spyglass/backends/local"
	"github.com/spyglass-gateway/spyglass/federation"
)

// faultProxy stands in front of a real Glance: a real region cannot be
// made to hang or fail on demand, so this small loopback proxy does it.
type faultProxy struct {
	mode atomic.Int32 // 0 pass, 1 answer 500, 2 hang
	url  string
}

const (
	pass = iota
	fail500
	hang
)

func newFaultProxy(t *testing.T, target string) *faultProxy {
	t.Helper()
	u, _ := url.Parse(target)
	rp := httputil.NewSingleHostReverseProxy(u)
	p := &faultProxy{}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch p.mode.Load() {
		case fail500:
			http.Error(w, "500 Internal Server Error", 500)
		case hang:
			select {
			case <-r.Context().Done():
			case <-time.After(30 * time.Second):
			}
		default:
			rp.ServeHTTP(w, r)
		}
	})}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	p.url = "http://" + ln.Addr().String()
	return p
}

// normalizeTimes rewrites every image's created_at and updated_at in a
// Glance's database to one of 30 seconds, so images of every region
// collide within a second: half at a whole second (equal values, which the
// tie-break on id orders), half with random microseconds, which Glance
// orders by but does not render. It returns the times written, which the
// oracle needs to know each region's own order within a second.
func normalizeTimes(t *testing.T, dir, region string, rng *rand.Rand, into map[string][2]time.Time) {
	t.Helper()
	db, err := sql.Open("sqlite", filepath.Join(dir, "glance.sqlite"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	rows, err := db.Query("SELECT id FROM images")
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for rows.Next() {
		var id string
		rows.Scan(&id)
		ids = append(ids, id)
	}
	rows.Close()
	at := func(day int) time.Time {
		tm := time.Date(2026, 1, day, 0, 0, rng.IntN(30), 0, time.UTC)
		if rng.IntN(2) == 0 {
			tm = tm.Add(time.Duration(rng.IntN(1000000)) * time.Microsecond)
		}
		return tm
	}
	const layout = "2006-01-02 15:04:05.000000"
	for _, id := range ids {
		c, u := at(1), at(2)
		if _, err := db.Exec("UPDATE images SET created_at = ?, updated_at = ? WHERE id = ?", c.Format(layout), u.Format(layout), id); err != nil {
			t.Fatal(err)
		}
		into[timesKey(region, id)] = [2]time.Time{c, u}
	}
}

// thinned: a test repeating what it checks runs a part of its
// repetitions (make test, under -race, where they cost several times what
// they cost without); make bench-quick (SPYGLASS_BENCH=1, without -race)
// runs them all.
func thinned() bool { return raceEnabled && os.Getenv("SPYGLASS_BENCH") == "" }

// outagePage is the outage subtest's page size: the largest up to 50 at
// which a walk of want has a page past the first ending on an image of
// region with two pages after it, so that the region goes down for two
// pages whatever the seed (with 300 images a region and pages of 50
// always, once no page did).
func outagePage(want []string, regionOf map[string]string, region string) int {
	for limit := 50; limit >= 5; limit-- {
		for end := 2*limit - 1; end+2*limit < len(want); end += limit {
			if regionOf[want[end]] == region {
				return limit
			}
		}
	}
	return 50
}

// storm is how many times a test repeats what it does n times in full:
// n, or thinned a quarter of n, at least one.
func storm(n int) int {
	if thinned() {
		return max(1, n/4)
	}
	return n
}

func envInt(name string, def int) int {
	if v, err := strconv.Atoi(os.Getenv(name)); err == nil && v > 0 {
		return v
	}
	return def
}

// TestFederationOverGlanceRegions is the end-to-end check of issue 5:
// three real Glance regions (one behind a fault proxy) plus an embedded
// one, seeded with colliding names, equal created_at, NULL and empty sort
// values, every visibility and membership across three projects. Every
// randomized walk (filters × sort keys × directions × limits, from the
// start and from hand-built markers, hopping between two gateway
// instances) must be the oracle's listing: no duplicate, no gap, exact
// order — including sorts where Glance itself pages wrongly after a NULL
// marker. Then a region fails mid-walk (500s, then a hang) and comes back;
// then copy-image copies an image between regions.
func TestFederationOverGlanceRegions(t *testing.T) {
	// Full size: 600 images a region, 60 randomized walks. Under -race
	// that took over 20 minutes on a loaded 2-core machine, most of it in
	// the walks (20 walks took 203 s of this package's 628 s, the longest
	// of make test, at stop 28), so make test runs 6 walks over 300 images
	// a region, for the race detector to watch a walk's code paths (with
	// 600 they took 270 s alone, the longest test of make test: 64 s of
	// seeding, 82 s of walks, 92 s of outage, 45 of them waiting out
	// timeouts), and make bench-quick (which CI runs) all 60 over 600
	// without -race, for the coverage of random sorts, filters and page
	// sizes. The outage subtest's pages hold up to 50 images whatever the
	// regions' size (at 200 a region with pages of 16, once, no page of
	// the hang mode missed the region).
	perRegion, walks := 600, 60
	if thinned() {
		perRegion, walks = 300, 6
		t.Logf("under -race: %d walks over %d images a region; all %d over 600: make bench-quick, or SPYGLASS_BENCH=1 go test -run '^TestFederationOverGlanceRegions$' ./federation/", walks, perRegion, 60)
	}
	perRegion = envInt("FEDERATION_IMAGES", perRegion)
	walks = envInt("FEDERATION_WALKS", walks)
	seed := uint64(time.Now().UnixNano())
	if s, err := strconv.ParseUint(os.Getenv("FEDERATION_SEED"), 10, 64); err == nil {
		seed = s
	}
	t.Logf("FEDERATION_SEED=%d, %d images per Glance region", seed, perRegion)
	rng := rand.New(rand.NewPCG(seed, 11))

	gs := make([]*glancetest.Glance, 3)
	var wg sync.WaitGroup
	for i := range gs {
		wg.Add(1)
		go func() { defer wg.Done(); gs[i] = glancetest.StartT(t) }()
	}
	wg.Wait()
	if t.Failed() {
		t.FailNow()
	}

	f := &fedUnderTest{}
	proxy := newFaultProxy(t, gs[2].URL)
	readTimeout := max(5*time.Second, time.Duration(perRegion)*time.Second/40)
	var rcs []federation.RegionConfig
	var direct []federation.Images
	for i, g := range gs {
		name := fmt.Sprintf("g%d", i)
		endpoint := g.URL
		if i == 2 {
			endpoint = proxy.url
		}
		// ReadTimeout: a walk with a hand-built marker and no range filter
		// for its sort key reads each region from its start, the whole
		// region in one request (up to 1,000 images), which takes Glance
		// 1–2 s a thousand here and more under -race on a loaded machine;
		// a timeout would drop the region from pages. 15 s at 600 images a
		// region, 7.5 at 300: the hang outage waits it out three times.
		r, err := glance.New(glance.Config{Name: name, Endpoint: endpoint, ReadTimeout: readTimeout, BreakerOpen: 500 * time.Millisecond})
		if err != nil {
			t.Fatal(err)
		}
		d, err := glance.New(glance.Config{Name: name, Endpoint: g.URL})
		if err != nil {
			t.Fatal(err)
		}
		f.names = append(f.names, name)
		f.urls = append(f.urls, g.URL)
		direct = append(direct, d)
		rcs = append(rcs, federation.RegionConfig{Region: federation.RegionOf(r)})
	}
	store, err := local.Open(t.TempDir(), local.Options{StoreName: "local"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	f.names = append(f.names, "local")
	f.urls = append(f.urls, serve(t, store))
	direct = append(direct, store)
	rcs = append(rcs, federation.RegionConfig{Region: federation.RegionOf(store)})
	f.regions = direct

	// Seed every region at once; each with its own generator.
	start := time.Now()
	for i, u := range f.urls {
		n := perRegion
		if i == 3 {
			n = perRegion / 2
		}
		r := rand.New(rand.NewPCG(seed, uint64(100+i)))
		wg.Add(1)
		go func() { defer wg.Done(); seedRegion(t, u, n, r, f.names[i]) }()
	}
	wg.Wait()
	if t.Failed() {
		t.FailNow()
	}
	// Copies under the same id (issue 19). Not of an image whose first
	// region would be g2 while local holds it too: while g2 is out (the
	// outage below) local's copy would stand in for it at local's place,
	// which checkOutageWalk does not expect.
	copies := seedCopies(t, f, rng, func(h []bool) bool { return !(h[2] && h[3] && !h[0] && !h[1]) })
	t.Logf("%d copies under the same id", copies)
	f.times = map[string][2]time.Time{}
	for i, g := range gs {
		normalizeTimes(t, g.Dir, f.names[i], rng, f.times)
	}
	t.Logf("seeded %d images in %v", perRegion*3+perRegion/2, time.Since(start).Round(time.Millisecond))

	// Two instances: the first reuses what a page read ahead for the
	// walk's next page, the second re-reads every page.
	cats := make([]*federation.Catalog, 2)
	for i := range cats {
		cat, err := federation.New(federation.Config{Regions: rcs, Default: "local", ReadAheadTTL: time.Duration(1-i) * time.Minute})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(cat.Close)
		cats[i] = cat
		f.spy = append(f.spy, serve(t, cat))
	}

	t.Run("glance pages wrongly after a NULL marker; spyglass does not", func(t *testing.T) {
		who := caller{"adm", "admin,member,reader"}
		qs := "sort=size:asc&limit=20"
		want := f.oracle(t, who, qs)
		got := walk(t, f.spy, who, qs, false)
		if !slices.Equal(got, want) {
			t.Fatalf("size:asc walk: got %d, want %d: %s", len(got), len(want), firstDiff(got, want))
		}
		// The trap is real: the same walk straight against one region
		// loses images there.
		one := f.oracleRegion(t, 0, who, qs)
		if n := len(walk(t, []string{f.urls[0]}, who, qs, false)); n >= len(one) {
			t.Logf("note: Glance walked %d of %d images with sort=size:asc (its NULL-marker bug did not show)", n, len(one))
		} else {
			t.Logf("Glance alone walks %d of its %d images with sort=size:asc&limit=20; Spyglass walks all %d of the union", n, len(one), len(got))
		}
	})

	t.Run("randomized walks", func(t *testing.T) {
		checkWalks(t, f, rng, walks)
	})

	t.Run("region outage mid-walk and recovery", func(t *testing.T) {
		who := caller{"adm", "admin,member,reader"}
		regionOf := f.regionOf(t, who)
		for _, mode := range []int32{fail500, hang} {
			want := f.oracle(t, who, "sort=name:asc,size:desc")
			limit := outagePage(want, regionOf, "g2")
			qs := "sort=name:asc,size:desc&limit=" + strconv.Itoa(limit)
			var got []string
			path := "/v2/images?" + qs
			missingSeen := false
			// The region fails for two pages, from the first page (past
			// the second) whose marker is one of its images: the page a
			// cold instance cannot place (503) until cursors are shared
			// (issue 6). One instance, which remembers where its walk
			// stands after every page however many walks came before
			// (the randomized ones above filled its cursor store; a store
			// that refused the newest entry answered 503 here, issue 20).
			down := -1
			for page := 0; path != ""; page++ {
				marker := ""
				if len(got) > 0 {
					marker = got[len(got)-1]
				}
				switch {
				case down < 0 && page >= 2 && regionOf[marker] == "g2":
					down = page
					proxy.mode.Store(mode)
				case down >= 0 && page == down+2:
					proxy.mode.Store(pass)
					time.Sleep(600 * time.Millisecond) // the breaker's open time
				}
				resp, b := send(t, f.spy[0], who, "GET", path, nil, nil)
				var body struct {
					Images []struct{ ID string }
					Next   string
				}
				json.Unmarshal(b, &body)
				if resp.StatusCode != 200 {
					t.Fatalf("mode %d page %d (region down from page %d; marker %s of region %s): %d %s",
						mode, page, down, marker, regionOf[marker], resp.StatusCode, b)
				}
				if m := resp.Header.Get("X-Spyglass-Missing-Regions"); m != "" {
					if m != "g2" || down < 0 || page < down || page >= down+2 {
						t.Fatalf("mode %d page %d (region down from page %d): missing regions %q", mode, page, down, m)
					}
					missingSeen = true
				}
				for _, img := range body.Images {
					got = append(got, img.ID)
				}
				path = body.Next
			}
			proxy.mode.Store(pass)
			time.Sleep(600 * time.Millisecond)
			if down < 0 {
				t.Fatalf("mode %d: no page past the second ended on an image of g2; the outage did not happen", mode)
			}
			if !missingSeen {
				t.Fatalf("mode %d: no page named the missing region", mode)
			}
			t.Logf("mode %d: pages of %d, g2 down for pages %d and %d", mode, limit, down, down+1)
			checkOutageWalk(t, got, want, regionOf)
		}
	})

	t.Run("on_region_failure fail", func(t *testing.T) {
		cat, err := federation.New(federation.Config{Regions: rcs, FailListings: true})
		if err != nil {
			t.Fatal(err)
		}
		defer cat.Close()
		base := serve(t, cat)
		proxy.mode.Store(fail500)
		code, b := do(t, base, caller{"p1", "member,reader"}, "GET", "/v2/images?limit=5", nil)
		proxy.mode.Store(pass)
		if code != 503 {
			t.Fatalf("listing with a failed region and on_region_failure fail: %d %s", code, b)
		}
		time.Sleep(600 * time.Millisecond)
	})

	t.Run("stores, routing and copy-image", func(t *testing.T) {
		admin := caller{"adm", "admin,member,reader"}
		code, b := do(t, f.spy[0], admin, "GET", "/v2/info/stores", nil)
		if code != 200 {
			t.Fatalf("info/stores: %d %s", code, b)
		}
		var stores struct {
			Stores []struct {
				ID      string
				Default string `json:"default"`
			}
		}
		json.Unmarshal(b, &stores)
		if len(stores.Stores) != 4 || stores.Stores[0].ID != "local" || stores.Stores[0].Default != "true" {
			t.Fatalf("info/stores: %s", b)
		}
		// Create goes to the default region; an upload naming a store
		// moves the queued image there, same id.
		code, b = do(t, f.spy[0], admin, "POST", "/v2/images",
			map[string]any{"name": "routed", "disk_format": "raw", "container_format": "bare", "visibility": "public"})
		if code != 201 {
			t.Fatalf("create: %d %s", code, b)
		}
		var img struct{ ID string }
		json.Unmarshal(b, &img)
		if _, err := store.Image(context.Background(), img.ID); err != nil {
			t.Fatalf("created image not in the default region: %v", err)
		}
		resp, _ := send(t, f.spy[0], admin, "PUT", "/v2/images/"+img.ID+"/file", strings.NewReader("routed data"),
			map[string]string{"Content-Type": "application/octet-stream", "X-Image-Meta-Store": "g1"})
		if resp.StatusCode != 204 {
			t.Fatalf("upload to store g1: %d", resp.StatusCode)
		}
		if _, err := store.Image(context.Background(), img.ID); err == nil {
			t.Fatalf("the moved image is still in the default region")
		}
		code, b = do(t, f.spy[0], admin, "GET", "/v2/images/"+img.ID, nil)
		var shown struct {
			Status string
			Stores string
		}
		json.Unmarshal(b, &shown)
		if code != 200 || shown.Status != "active" || shown.Stores != "g1" {
			t.Fatalf("after upload to g1: %d %s", code, b)
		}

		// copy-image to g0 and g2 (not back to local: a region refuses an
		// id it has deleted, as Glance does): a task, then the image in three
		// regions, listed once with every store.
		code, b = do(t, f.spy[0], admin, "POST", "/v2/images/"+img.ID+"/import",
			map[string]any{"method": map[string]string{"name": "copy-image"}, "stores": []string{"g0", "g2"}})
		if code != 202 {
			t.Fatalf("copy-image: %d %s", code, b)
		}
		deadline := time.Now().Add(30 * time.Second)
		for {
			code, b = do(t, f.spy[0], admin, "GET", "/v2/images/"+img.ID+"/tasks", nil)
			var tasks struct {
				Tasks []struct{ Status, Message, Type string }
			}
			json.Unmarshal(b, &tasks)
			done := false
			for _, tk := range tasks.Tasks {
				if tk.Status == "failure" {
					t.Fatalf("copy task failed: %s", tk.Message)
				}
				done = done || tk.Status == "success"
			}
			if done {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("copy task did not end: %s", b)
			}
			time.Sleep(100 * time.Millisecond)
		}
		code, b = do(t, f.spy[0], admin, "GET", "/v2/images/"+img.ID, nil)
		json.Unmarshal(b, &shown)
		if shown.Stores != "g0,g1,g2" {
			t.Fatalf("after copy-image: stores %q: %s", shown.Stores, b)
		}
		for _, i := range []int{0, 2} {
			cp, err := direct[i].Image(backendsWithAdmin(), img.ID)
			if err != nil || cp.Checksum == nil || cp.Status != "active" {
				t.Fatalf("copy in %v: %+v %v", f.names[i], cp, err)
			}
		}
		ids := walk(t, f.spy[:1], admin, "name=routed&limit=1", false)
		if len(ids) != 1 || ids[0] != img.ID {
			t.Fatalf("listing of the copied image: %v", ids)
		}
		code, data := do(t, f.spy[0], admin, "GET", "/v2/images/"+img.ID+"/file", nil)
		if code != 200 || string(data) != "routed data" {
			t.Fatalf("download: %d %q", code, data)
		}
		// Delete reaches every copy.
		if code, b := do(t, f.spy[0], admin, "DELETE", "/v2/images/"+img.ID, nil); code != 204 {
			t.Fatalf("delete: %d %s", code, b)
		}
		for i, r := range direct[:3] {
			if _, err := r.Image(backendsWithAdmin(), img.ID); err == nil {
				t.Fatalf("copy in %v survived the delete", f.names[i])
			}
		}
	})
}

// checkOutageWalk: a walk during which one region was missing for some
// pages has no duplicate, keeps the oracle's order, and lacks only images
// of the missing region.
func checkOutageWalk(t *testing.T, got, want []string, regionOf map[string]string) {
	t.Helper()
	pos := make(map[string]int, len(want))
	for i, id := range want {
		pos[id] = i
	}
	seen := map[string]bool{}
	last := -1
	for _, id := range got {
		if seen[id] {
			t.Fatalf("outage walk: %s listed twice", id)
		}
		seen[id] = true
		p, ok := pos[id]
		if !ok {
			t.Fatalf("outage walk: %s is not in the listing", id)
		}
		if p < last {
			t.Fatalf("outage walk: %s out of order", id)
		}
		last = p
	}
	lost := 0
	for _, id := range want {
		if !seen[id] {
			lost++
			if regionOf[id] != "g2" {
				t.Fatalf("outage walk: lost %s of region %s, which never failed", id, regionOf[id])
			}
		}
	}
	if lost == 0 {
		t.Fatalf("outage walk: nothing of the failed region was missed; the outage did not happen")
	}
	t.Logf("outage walk: %d listed, %d of the failed region missed while it was down", len(got), lost)
}

func backendsWithAdmin() context.Context {
	return backends.WithCaller(context.Background(), &backends.Caller{Project: "adm", Admin: true, Roles: []string{"admin", "member", "reader"}})
}

// oracleRegion is the oracle over region i alone.
func (f *fedUnderTest) oracleRegion(t *testing.T, i int, who caller, rawQuery string) []string {
	one := &fedUnderTest{names: f.names[i : i+1], regions: f.regions[i : i+1], times: f.times}
	return one.oracle(t, who, rawQuery)
}

// regionOf maps every image the caller can list to the first region
// holding it.
func (f *fedUnderTest) regionOf(t *testing.T, who caller) map[string]string {
	out := map[string]string{}
	for i := len(f.regions) - 1; i >= 0; i-- {
		for _, id := range f.oracleRegion(t, i, who, "visibility=all&member_status=all") {
			out[id] = f.names[i]
		}
	}
	return out
}
