package federation_test

import (
	"context"
	"encoding/json"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/spyglass-gateway/spyglass/backends"
	"github.com/spyglass-gateway/spyglass/cache/meta"
	"github.com/spyglass-gateway/spyglass/cache/redis"
	"github.com/spyglass-gateway/spyglass/cache/redistest"
	"github.com/spyglass-gateway/spyglass/federation"
)

// regionCalls counts what a catalog asks its region for: shows, membership
// questions, listings. hold, when set, parks a show after the region
// answered it (a slow read), until released.
type regionCalls struct {
	federation.Images
	shows, memberQs, lists atomic.Int64
	hold                   atomic.Pointer[heldShow]
}

type heldShow struct {
	answered chan struct{} // closed once the region has answered
	release  chan struct{}
}

func (r *regionCalls) Image(ctx context.Context, id string) (*backends.Image, error) {
	r.shows.Add(1)
	img, err := r.Images.Image(ctx, id)
	if h := r.hold.Swap(nil); h != nil {
		close(h.answered)
		<-h.release
	}
	return img, err
}

// memberCalls counts the membership questions into its regionCalls.
type memberCalls struct {
	regionMembers // embedded under another name: its Members method is promoted
	r             *regionCalls
}

type regionMembers = federation.Members

func (m memberCalls) Member(ctx context.Context, imageID, memberID string) (*backends.Member, error) {
	m.r.memberQs.Add(1)
	return m.regionMembers.Member(ctx, imageID, memberID)
}

func (r *regionCalls) ListImages(ctx context.Context, q *backends.ListQuery) ([]*backends.Image, error) {
	r.lists.Add(1)
	return r.Images.ListImages(ctx, q)
}

// instance is one gateway instance of a site: its own metadata caches
// (first level) over the site's regions, Redis as the second.
type instance struct {
	url    string
	calls  []*regionCalls
	metas  []*meta.Cache
	shared *redis.Tier
}

func (in *instance) shows() (n int64) {
	for _, c := range in.calls {
		n += c.shows.Load()
	}
	return n
}

// site builds n instances over the same regions and one Redis.
func site(t *testing.T, n int, regions []federation.Region, redisAddr string) []*instance {
	t.Helper()
	return siteReadingAhead(t, n, regions, redisAddr, 0)
}

// siteReadingAhead is site with listing read-ahead (ReadAheadTTL).
func siteReadingAhead(t *testing.T, n int, regions []federation.Region, redisAddr string, readAhead time.Duration) []*instance {
	t.Helper()
	var out []*instance
	for range n {
		// A Redis call that times out puts an instance in degraded mode
		// (no version check: a slow read may fill its first level after
		// another's write, as documented), which these tests are not
		// about; on a loaded 2-core machine 2 s was not enough (each
		// failure of TestSlowReadOnOneInstanceCannotUndoAWriteOnAnother
		// followed a GetVersioned timeout). A stopped Redis still fails
		// fast: its port refuses.
		shared, err := redis.New(redis.Config{Addr: redisAddr, Timeout: time.Minute})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { shared.Close() })
		in := &instance{shared: shared}
		var rcs []federation.RegionConfig
		for i, r := range regions {
			calls := &regionCalls{Images: r.Images}
			rg := r
			rg.Images, rg.Members = calls, memberCalls{r.Members, calls}
			meta, err := meta.New(meta.Config{
				TTL: time.Hour, VerdictTTL: time.Hour, Shared: shared, Name: fmt.Sprintf("r%d", i),
			})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(meta.Close)
			in.calls, in.metas = append(in.calls, calls), append(in.metas, meta)
			rcs = append(rcs, federation.RegionConfig{Name: fmt.Sprintf("r%d", i), Region: rg, Meta: meta})
		}
		cat, err := federation.New(federation.Config{Regions: rcs, Shared: shared, ReadAheadTTL: readAhead})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(cat.Close)
		in.url = serve(t, cat)
		out = append(out, in)
	}
	return out
}

func embeddedRegions(t *testing.T, n int) ([]federation.Region, []string) {
	var regions []federation.Region
	var urls []string
	for i := range n {
		store, u := localRegion(t, i)
		regions, urls = append(regions, federation.RegionOf(store)), append(urls, u)
	}
	return regions, urls
}

func createIn(t *testing.T, regionURL string, who caller, body map[string]any) string {
	t.Helper()
	code, b := do(t, regionURL, who, "POST", "/v2/images", body)
	if code != 201 {
		t.Fatalf("create: %d %s", code, b)
	}
	var img struct{ ID string }
	json.Unmarshal(b, &img)
	return img.ID
}

func nameOf(t *testing.T, base string, who caller, id string) (int, string) {
	t.Helper()
	code, b := do(t, base, who, "GET", "/v2/images/"+id, nil)
	var img struct{ Name string }
	json.Unmarshal(b, &img)
	return code, img.Name
}

// eventually polls cond until it holds, failing after a generous deadline.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("not within 30s: %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestSharedTierServesWhatAnotherInstanceLearned: three instances over two
// embedded regions and one redis-server. A record, a membership verdict and
// an image's location learned by the first instance are served by the
// other two without asking any region.
func TestSharedTierServesWhatAnotherInstanceLearned(t *testing.T) {
	admin := caller{"adm", "admin,member,reader"}
	regions, urls := embeddedRegions(t, 2)
	redis := redistest.StartT(t)
	ins := site(t, 3, regions, redis.Addr)

	id := createIn(t, urls[1], caller{"p1", "member,reader"}, map[string]any{"name": "shared-one", "visibility": "shared"})
	if code, b := do(t, urls[1], caller{"p1", "member,reader"}, "POST", "/v2/images/"+id+"/members", map[string]any{"member": "p2"}); code != 200 {
		t.Fatalf("add member: %d %s", code, b)
	}

	if code, name := nameOf(t, ins[0].url, admin, id); code != 200 || name != "shared-one" {
		t.Fatalf("instance 0 show: %d %q", code, name)
	}
	if code, b := do(t, ins[0].url, caller{"p2", "member,reader"}, "GET", "/v2/images/"+id+"/members/p2", nil); code != 200 {
		t.Fatalf("instance 0 member show: %d %s", code, b)
	}
	if ins[0].shows() == 0 || ins[0].calls[1].memberQs.Load() == 0 {
		t.Fatalf("instance 0 learned without asking its regions (%d shows, %d member questions)", ins[0].shows(), ins[0].calls[1].memberQs.Load())
	}
	for _, in := range ins[1:] {
		if code, name := nameOf(t, in.url, admin, id); code != 200 || name != "shared-one" {
			t.Fatalf("other instance show: %d %q", code, name)
		}
		if code, b := do(t, in.url, caller{"p2", "member,reader"}, "GET", "/v2/images/"+id+"/members/p2", nil); code != 200 {
			t.Fatalf("other instance member show: %d %s", code, b)
		}
		if got := in.shows(); got != 0 {
			t.Errorf("an instance asked its regions %d times (r0 %d, r1 %d) for an image another instance had learned (location and record are in Redis)", got, in.calls[0].shows.Load(), in.calls[1].shows.Load())
		}
		if got := in.calls[1].memberQs.Load(); got != 0 {
			t.Errorf("an instance asked the region %d times for a verdict another instance had learned", got)
		}
	}
}

// TestSharedTierInvalidatesAcrossInstances: three instances hold an image's
// record; an update through one is served by the others (from Redis: the
// writer put the region's answer there), a member added through one changes
// every instance's verdict, and a delete through one is a 404 everywhere.
func TestSharedTierInvalidatesAcrossInstances(t *testing.T) {
	admin := caller{"adm", "admin,member,reader"}
	owner := caller{"p1", "member,reader"}
	regions, urls := embeddedRegions(t, 2)
	redis := redistest.StartT(t)
	ins := site(t, 3, regions, redis.Addr)
	id := createIn(t, urls[0], owner, map[string]any{"name": "before", "visibility": "shared"})
	for _, in := range ins {
		if code, name := nameOf(t, in.url, admin, id); code != 200 || name != "before" {
			t.Fatalf("warm: %d %q", code, name)
		}
		if code, _ := do(t, in.url, caller{"p2", "member,reader"}, "GET", "/v2/images/"+id+"/members/p2", nil); code != 404 {
			t.Fatalf("p2 is not a member yet: %d", code)
		}
	}

	patch := `[{"op": "replace", "path": "/name", "value": "after"}]`
	if code, b := do(t, ins[0].url, owner, "PATCH", "/v2/images/"+id, patch); code != 200 {
		t.Fatalf("update: %d %s", code, b)
	}
	for i, in := range ins[1:] {
		before := in.shows()
		eventually(t, fmt.Sprintf("instance %d serves the update", i+1), func() bool {
			_, name := nameOf(t, in.url, admin, id)
			return name == "after"
		})
		if got := in.shows() - before; got != 0 {
			t.Errorf("instance %d asked its regions %d times for the updated record; the writer left it in Redis", i+1, got)
		}
	}

	if code, b := do(t, ins[1].url, owner, "POST", "/v2/images/"+id+"/members", map[string]any{"member": "p2"}); code != 200 {
		t.Fatalf("add member: %d %s", code, b)
	}
	for i, in := range ins {
		eventually(t, fmt.Sprintf("instance %d knows p2 is a member", i), func() bool {
			code, _ := do(t, in.url, caller{"p2", "member,reader"}, "GET", "/v2/images/"+id+"/members/p2", nil)
			return code == 200
		})
	}

	if code, b := do(t, ins[2].url, owner, "DELETE", "/v2/images/"+id, nil); code != 204 {
		t.Fatalf("delete: %d %s", code, b)
	}
	for i, in := range ins {
		eventually(t, fmt.Sprintf("instance %d no longer shows the deleted image", i), func() bool {
			code, _ := nameOf(t, in.url, admin, id)
			return code == 404
		})
	}
}

// TestInstancesMissingARecordAtOnceAskTheRegionOnce: a boot storm spread
// over a site's instances misses the image's record on each of them at
// once; one asks the region, the others wait for its answer in Redis.
// Instance A asks and is held after the region answered; B and C look
// it up meanwhile; once A lets go, all three answer, and the region was
// asked once (without the lease: twice or three times, as whichever of B
// and C asks first puts its answer in Redis for the other).
func TestInstancesMissingARecordAtOnceAskTheRegionOnce(t *testing.T) {
	admin := caller{"adm", "admin,member,reader"}
	regions, urls := embeddedRegions(t, 1)
	redis := redistest.StartT(t)
	ins := site(t, 3, regions, redis.Addr)
	id := createIn(t, urls[0], admin, map[string]any{"name": "storm"})

	held := &heldShow{answered: make(chan struct{}), release: make(chan struct{})}
	ins[0].calls[0].hold.Store(held)
	names := make(chan string, len(ins))
	for i, in := range ins {
		if i == 1 {
			<-held.answered // A holds the region's answer (and the lease)
		}
		go func() {
			_, name := nameOf(t, in.url, admin, id)
			names <- name
		}()
	}
	for _, in := range ins[1:] {
		eventually(t, "B and C looked the record up", func() bool {
			st := in.metas[0].Stats()
			return st.Hits+st.Misses > 0
		})
	}
	time.Sleep(50 * time.Millisecond) // from a miss to the lease: a Redis call or two
	close(held.release)
	for range ins {
		if name := <-names; name != "storm" {
			t.Errorf("a show answered %q", name)
		}
	}
	var shows int64
	for _, in := range ins {
		shows += in.shows()
	}
	if shows != 1 {
		t.Errorf("three instances missing the record at once asked the region %d times, want 1", shows)
	}
}

// TestSlowReadOnOneInstanceCannotUndoAWriteOnAnother: a show on instance B
// reads the old record from the region, then stalls; meanwhile instance A
// updates the image. When B's read completes, neither Redis nor B's first
// level keeps the old record: B's next show, and a show on C (which only
// has Redis), are the update.
func TestSlowReadOnOneInstanceCannotUndoAWriteOnAnother(t *testing.T) {
	admin := caller{"adm", "admin,member,reader"}
	regions, urls := embeddedRegions(t, 1)
	redis := redistest.StartT(t)
	ins := site(t, 3, regions, redis.Addr)
	id := createIn(t, urls[0], admin, map[string]any{"name": "old"})

	held := &heldShow{answered: make(chan struct{}), release: make(chan struct{})}
	ins[1].calls[0].hold.Store(held)
	slow := make(chan string)
	go func() {
		_, name := nameOf(t, ins[1].url, admin, id)
		slow <- name
	}()
	<-held.answered // B holds the old record, not yet cached anywhere

	patch := `[{"op": "replace", "path": "/name", "value": "new"}]`
	if code, b := do(t, ins[0].url, admin, "PATCH", "/v2/images/"+id, patch); code != 200 {
		t.Fatalf("update through A: %d %s", code, b)
	}
	close(held.release)
	if got := <-slow; got != "old" {
		t.Fatalf("the slow read answered %q; it read before the write", got)
	}
	if _, name := nameOf(t, ins[1].url, admin, id); name != "new" {
		t.Errorf("B's next show: %q; its slow read put the old record back", name)
	}
	if _, name := nameOf(t, ins[2].url, admin, id); name != "new" {
		t.Errorf("C's show: %q; the slow read put the old record in Redis", name)
	}
}

// TestRedisRestartUnderLoad: two instances serve shows continuously while
// Redis is killed and restarted. Every request succeeds; a write made while
// Redis is down is seen by the other instance once the subscription is
// back (it drops what it may have missed); then sharing resumes.
func TestRedisRestartUnderLoad(t *testing.T) {
	admin := caller{"adm", "admin,member,reader"}
	regions, urls := embeddedRegions(t, 2)
	redis := redistest.StartT(t)
	ins := site(t, 2, regions, redis.Addr)
	var ids []string
	for i := range 6 {
		ids = append(ids, createIn(t, urls[i%2], admin, map[string]any{"name": fmt.Sprintf("load-%d", i)}))
	}

	stop := make(chan struct{})
	var wg sync.WaitGroup
	var served, failed atomic.Int64
	for w := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for k := 0; ; k++ {
				select {
				case <-stop:
					return
				default:
				}
				code, _ := nameOf(t, ins[(w+k)%2].url, admin, ids[k%len(ids)])
				if code == 200 {
					served.Add(1)
				} else {
					failed.Add(1)
				}
			}
		}()
	}
	eventually(t, "load is running", func() bool { return served.Load() > 50 })

	redis.Stop()
	patch := `[{"op": "replace", "path": "/name", "value": "written-while-redis-was-down"}]`
	if code, b := do(t, ins[0].url, admin, "PATCH", "/v2/images/"+ids[0], patch); code != 200 {
		t.Fatalf("update with Redis down: %d %s", code, b)
	}
	mark := served.Load()
	eventually(t, "load continues with Redis down", func() bool { return served.Load() > mark+50 })

	if err := redis.Start(); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the other instance serves the write made while Redis was down", func() bool {
		_, name := nameOf(t, ins[1].url, admin, ids[0])
		return name == "written-while-redis-was-down"
	})
	close(stop)
	wg.Wait()
	if n := failed.Load(); n != 0 {
		t.Errorf("%d of %d shows failed while Redis went away and came back", n, n+served.Load())
	}

	// Sharing resumes: an image one instance learns is served by the
	// other without asking a region (once the breaker has closed again).
	k := 0
	eventually(t, "an image learned by one instance is served by the other from Redis", func() bool {
		k++
		id := createIn(t, urls[k%2], admin, map[string]any{"name": fmt.Sprintf("after-%d", k)})
		if code, _ := nameOf(t, ins[0].url, admin, id); code != 200 {
			return false
		}
		before := ins[1].shows()
		code, _ := nameOf(t, ins[1].url, admin, id)
		return code == 200 && ins[1].shows() == before
	})
}

// listsDone counts a region's listings once answered.
type listsDone struct {
	federation.Images
	n atomic.Int64
}

func (r *listsDone) ListImages(ctx context.Context, q *backends.ListQuery) ([]*backends.Image, error) {
	imgs, err := r.Images.ListImages(ctx, q)
	r.n.Add(1)
	return imgs, err
}

// TestReadAheadIsDroppedAfterAWriteOnAnotherInstance: instance A has read
// a walk's next page ahead (in the background, after page 2); then an image
// of that page is renamed through instance B. Once A has the invalidation
// (its show says the new name), A's next page must not be the images it
// read before the write.
func TestReadAheadIsDroppedAfterAWriteOnAnotherInstance(t *testing.T) {
	admin := caller{"adm", "admin,member,reader"}
	store, u := localRegion(t, 0)
	other, _ := localRegion(t, 1) // two regions: listings are merged (one is passed through)
	lists := &listsDone{Images: store}
	region := federation.RegionOf(store)
	region.Images = lists
	redis := redistest.StartT(t)
	ins := siteReadingAhead(t, 2, []federation.Region{region, federation.RegionOf(other)}, redis.Addr, time.Hour)
	a, b := ins[0], ins[1]
	ids := make([]string, 6)
	for i := range ids {
		ids[i] = createIn(t, u, admin, map[string]any{"name": fmt.Sprintf("img-%d", i)})
	}

	page := func(path string) (names []string, next string) {
		t.Helper()
		code, body := do(t, a.url, admin, "GET", path, nil)
		if code != 200 {
			t.Fatalf("%s: %d %s", path, code, body)
		}
		var p struct {
			Images []struct{ ID, Name string }
			Next   string
		}
		json.Unmarshal(body, &p)
		for _, img := range p.Images {
			names = append(names, img.Name)
		}
		return names, p.Next
	}
	_, next := page("/v2/images?sort=name:asc&limit=2")
	listed := lists.n.Load()
	names, next := page(next)
	if fmt.Sprint(names) != "[img-2 img-3]" {
		t.Fatalf("page 2: %v", names)
	}
	// Past its first page, a walk's next page is read in the background
	// once this one is answered: page 2's listing, then that one. The
	// rename must come after it, or there is nothing stale to serve.
	eventually(t, "A reads page 3 ahead (a second listing of the region after page 2's)", func() bool {
		return lists.n.Load() >= listed+2
	})

	patch := `[{"op": "replace", "path": "/name", "value": "img-4-renamed"}]`
	if code, body := do(t, b.url, admin, "PATCH", "/v2/images/"+ids[4], patch); code != 200 {
		t.Fatalf("rename through B: %d %s", code, body)
	}
	eventually(t, "A has B's invalidation", func() bool {
		_, name := nameOf(t, a.url, admin, ids[4])
		return name == "img-4-renamed"
	})
	if names, _ := page(next); fmt.Sprint(names) != "[img-4-renamed img-5]" {
		t.Fatalf("page 3 on A after a rename through B: %v, want [img-4-renamed img-5] (read-ahead from before the write)", names)
	}
}
