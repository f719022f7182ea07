package federation_test

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/spyglass-gateway/spyglass/backends"
	"github.com/spyglass-gateway/spyglass/cache/redis"
	"github.com/spyglass-gateway/spyglass/cache/redistest"
	"github.com/spyglass-gateway/spyglass/federation"
)

// lookupCounter counts the image lookups a catalog makes in its region:
// resolving a marker nobody remembered costs them, a shared cursor not.
type lookupCounter struct {
	federation.Images
	lookups atomic.Int64
}

func (r *lookupCounter) Image(ctx context.Context, id string) (*backends.Image, error) {
	r.lookups.Add(1)
	return r.Images.Image(ctx, id)
}

// ListImages counts a marker's lookup by listing (id=<marker>, which
// resolving a hand-built marker asks every region; the walk's own listings
// and its id=in: checks are not lookups).
func (r *lookupCounter) ListImages(ctx context.Context, q *backends.ListQuery) ([]*backends.Image, error) {
	if slices.ContainsFunc(q.Filters, func(f backends.Filter) bool { return f.Key == "id" && f.Op == backends.OpEq }) {
		r.lookups.Add(1)
	}
	return r.Images.ListImages(ctx, q)
}

// TestWalkAcrossInstancesSharesCursorsThroughRedis: two gateway instances
// over the same three regions and one real redis-server. A walk that hops
// from instance to instance page by page is exact and never resolves a
// marker (the other instance's positions come from Redis); with Redis
// killed mid-walk it is still exact (markers resolved), and after Redis
// comes back positions are shared again.
func TestWalkAcrossInstancesSharesCursorsThroughRedis(t *testing.T) {
	admin := caller{"adm", "admin,member,reader"}
	srv := redistest.StartT(t)
	spy, lookups := instancesSharing(t, redis.Config{Addr: srv.Addr, Timeout: 200 * time.Millisecond})
	const qs = "sort=name:asc&limit=4"
	want := walk(t, spy[:1], admin, qs, false)
	if len(want) != 60 {
		t.Fatalf("one instance walked %d images, want 60", len(want))
	}

	if n := hopWalk(t, spy, lookups, qs, want, "Redis up"); n != 0 {
		t.Errorf("a walk hopping instances looked up %d marker images; with shared positions it needs none", n)
	}

	srv.Stop()
	if n := hopWalk(t, spy, lookups, qs, want, "Redis down"); n == 0 {
		t.Errorf("with Redis down the instances cannot share positions, yet no marker was resolved")
	}

	if err := srv.Start(); err != nil {
		t.Fatal(err)
	}
	time.Sleep(2500 * time.Millisecond) // the breaker's open window
	walk(t, spy, admin, qs, true)       // half-open → closed
	if n := hopWalk(t, spy, lookups, qs, want, "Redis back"); n != 0 {
		t.Errorf("Redis is back, yet a walk hopping instances looked up %d marker images", n)
	}
}

// hopWalk walks qs as an admin hopping between the instances at every
// page, fails unless it lists want, and returns how many marker images the
// walk looked up in the regions (none when positions are shared).
func hopWalk(t *testing.T, spy []string, lookups func() int64, qs string, want []string, when string) int64 {
	t.Helper()
	before := lookups()
	if got := walk(t, spy, caller{"adm", "admin,member,reader"}, qs, true); !slices.Equal(got, want) {
		t.Fatalf("walk hopping instances (%s): %s", when, firstDiff(got, want))
	}
	return lookups() - before
}

// instancesSharing starts two gateway instances over the same three local
// regions (20 images each, some with NULL names), each with its own
// redis.Tier built from cfg; it returns their URLs and a count of the
// image lookups (marker resolutions) made in the regions so far.
func instancesSharing(t *testing.T, cfg redis.Config) (spy []string, lookups func() int64) {
	t.Helper()
	admin := caller{"adm", "admin,member,reader"}
	var regions []*lookupCounter
	var rcs []federation.RegionConfig
	for i := range 3 {
		store, u := localRegion(t, i)
		for j := range 20 {
			body := map[string]any{"name": fmt.Sprintf("img-%02d", (j*7+i)%13)}
			if j%4 == 0 {
				delete(body, "name") // NULL names: markers no region may be handed
			}
			if code, b := do(t, u, admin, "POST", "/v2/images", body); code != 201 {
				t.Fatalf("create: %d %s", code, b)
			}
		}
		r := &lookupCounter{Images: store}
		regions = append(regions, r)
		rg := federation.RegionOf(store)
		rg.Images = r
		rcs = append(rcs, federation.RegionConfig{Region: rg})
	}
	for range 2 {
		shared, err := redis.New(cfg)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { shared.Close() })
		cat, err := federation.New(federation.Config{Regions: rcs, Shared: shared, ReadAheadTTL: time.Minute})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(cat.Close)
		spy = append(spy, serve(t, cat))
	}
	return spy, func() int64 {
		var n int64
		for _, r := range regions {
			n += r.lookups.Load()
		}
		return n
	}
}

// TestWalkAcrossInstancesSharesCursorsThroughARedisCluster: the same walk,
// hopping between two instances page by page, with positions shared
// through a real 3-master Redis Cluster: exact, and no marker resolved.
func TestWalkAcrossInstancesSharesCursorsThroughARedisCluster(t *testing.T) {
	admin := caller{"adm", "admin,member,reader"}
	cluster := redistest.StartClusterT(t, 3)
	spy, lookups := instancesSharing(t, redis.Config{Cluster: cluster.Addrs, Timeout: 2 * time.Second})
	const qs = "sort=name:asc&limit=4"
	want := walk(t, spy[:1], admin, qs, false)
	if len(want) != 60 {
		t.Fatalf("one instance walked %d images, want 60", len(want))
	}
	if n := hopWalk(t, spy, lookups, qs, want, "Redis Cluster"); n != 0 {
		t.Errorf("a walk hopping instances looked up %d marker images; with positions shared through the cluster it needs none", n)
	}
}

// TestWritesReachCopiesTheIndexNeverSaw: an image the catalog created (its
// index says: region 0) gets a copy in region 1 behind the catalog's back
// (another gateway instance's copy-image, an operator). An update and a
// delete through the catalog reach that copy too: it never resurfaces.
func TestWritesReachCopiesTheIndexNeverSaw(t *testing.T) {
	admin := caller{"adm", "admin,member,reader"}
	var rcs []federation.RegionConfig
	var urls []string
	for i := range 2 {
		store, u := localRegion(t, i)
		urls = append(urls, u)
		rcs = append(rcs, federation.RegionConfig{Region: federation.RegionOf(store)})
	}
	cat, err := federation.New(federation.Config{Regions: rcs})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cat.Close)
	spy := serve(t, cat)

	code, b := do(t, spy, admin, "POST", "/v2/images", map[string]any{"name": "twin"})
	if code != 201 {
		t.Fatalf("create: %d %s", code, b)
	}
	var img struct{ ID string }
	json.Unmarshal(b, &img)
	if code, b := do(t, spy, admin, "GET", "/v2/images/"+img.ID, nil); code != 200 {
		t.Fatalf("show: %d %s", code, b)
	}
	if code, b := do(t, urls[1], admin, "POST", "/v2/images", map[string]any{"id": img.ID, "name": "twin"}); code != 201 {
		t.Fatalf("the copy behind the catalog's back: %d %s", code, b)
	}

	if code, b := do(t, spy, admin, "PATCH", "/v2/images/"+img.ID, `[{"op": "replace", "path": "/name", "value": "renamed"}]`); code != 200 {
		t.Fatalf("update: %d %s", code, b)
	}
	if code, b := do(t, urls[1], admin, "GET", "/v2/images/"+img.ID, nil); code != 200 || !strings.Contains(string(b), `"name": "renamed"`) {
		t.Fatalf("the copy missed the update: %d %s", code, b)
	}
	if code, b := do(t, spy, admin, "DELETE", "/v2/images/"+img.ID, nil); code != 204 {
		t.Fatalf("delete: %d %s", code, b)
	}
	for i, u := range urls {
		if code, _ := do(t, u, admin, "GET", "/v2/images/"+img.ID, nil); code != 404 {
			t.Errorf("region r%d still holds the deleted image (%d)", i, code)
		}
	}
	if code, _ := do(t, spy, admin, "GET", "/v2/images/"+img.ID, nil); code != 404 {
		t.Errorf("the deleted image resurfaced through the catalog (%d)", code)
	}
}
