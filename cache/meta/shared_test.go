package meta

import (
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/spyglass-gateway/spyglass/backends"
	"github.com/spyglass-gateway/spyglass/cache/redis"
	"github.com/spyglass-gateway/spyglass/cache/redistest"
)

// sharedMetas returns n metadata caches (n gateway instances) sharing one
// real redis-server.
func sharedMetas(t *testing.T, addr string, n int) []*Cache {
	t.Helper()
	var out []*Cache
	for range n {
		s, err := redis.New(redis.Config{Addr: addr, Timeout: 2 * time.Second})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		// A small first level: the default (a million entries, ten
		// million ristretto counters per cache) makes each subscription's
		// InvalidateAll and each Close clear arrays that took 5-15 s under
		// -race on a loaded machine, most of eventually's 30 s.
		m, err := New(Config{TTL: time.Hour, VerdictTTL: time.Hour, MaxEntries: 1000, Shared: s, Name: "r1"})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(m.Close)
		out = append(out, m)
	}
	for _, m := range out { // subscribing drops the first level: let it happen first
		eventually(t, "subscribed", func() bool { return m.shared.subscriptions.Load() > 0 })
	}
	return out
}

var _ VersionedStore = (*redis.Tier)(nil)

func named(id, name string) *backends.Image { return &backends.Image{ID: id, Name: &name} }

func nameIn(img *backends.Image) string {
	if img == nil || img.Name == nil {
		return ""
	}
	return *img.Name
}

func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("not within 30s: %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestSharedMetadataAcrossInstances: what one instance puts, another reads
// from Redis; an invalidation on one reaches the other's first level; a
// read that began before another instance's write cannot store its answer
// in Redis nor in its own first level.
func TestSharedMetadataAcrossInstances(t *testing.T) {
	srv := redistest.StartT(t)
	ms := sharedMetas(t, srv.Addr, 3)
	a, b, c := ms[0], ms[1], ms[2]

	_, f, tk := a.Image(ctx, "img")
	if f != Missing {
		t.Fatalf("empty: %v", f)
	}
	a.PutImage(ctx, tk, named("img", "v1"))
	if got, f, _ := b.Image(ctx, "img"); f != Fresh || nameIn(got) != "v1" {
		t.Fatalf("another instance: %q %v, want v1 from Redis", nameIn(got), f)
	}

	_, _, tk = a.Member(ctx, "img", "p2")
	a.PutMember(ctx, tk, "img", "p2", &backends.Member{ImageID: "img", MemberID: "p2", Status: "accepted"})
	if got, known, _ := c.Member(ctx, "img", "p2"); !known || got == nil || got.Status != "accepted" {
		t.Fatalf("verdict on another instance: %v %v", got, known)
	}

	a.Invalidate(ctx, "img")
	eventually(t, "the invalidation reaches the other instance's first level", func() bool {
		_, f, _ := b.Image(ctx, "img")
		return f == Missing
	})
	if _, known, _ := c.Member(ctx, "img", "p2"); known {
		t.Error("a verdict survived its image's invalidation on another instance")
	}

	// A slow read on c began before a write on a.
	_, _, slow := c.Image(ctx, "img")
	wt := a.Invalidate(ctx, "img")
	a.PutImage(ctx, wt, named("img", "v2"))
	c.PutImage(ctx, slow, named("img", "v1"))
	for i, m := range ms {
		if got, _, _ := m.Image(ctx, "img"); nameIn(got) == "v1" {
			t.Errorf("instance %d serves the record a read older than the write fetched", i)
		}
	}
	if got, f, _ := c.Image(ctx, "img"); f != Fresh || nameIn(got) != "v2" {
		t.Errorf("after the write: %q %v, want the writer's v2 from Redis", nameIn(got), f)
	}
}

// TestSharedMetadataResubscribeDropsFirstLevel: with Redis down an
// instance keeps serving its first level (the bound is the TTL) and a
// write elsewhere cannot reach it; once Redis is back and the subscription
// re-established, the first level is dropped, so the write is not missed.
func TestSharedMetadataResubscribeDropsFirstLevel(t *testing.T) {
	srv := redistest.StartT(t)
	ms := sharedMetas(t, srv.Addr, 2)
	a, b := ms[0], ms[1]
	_, _, tk := b.Image(ctx, "img")
	b.PutImage(ctx, tk, named("img", "v1"))

	srv.Stop()
	a.Invalidate(ctx, "img") // lost: nobody hears it
	if got, f, _ := b.Image(ctx, "img"); f != Fresh || nameIn(got) != "v1" {
		t.Fatalf("Redis down: the first level should still serve v1 (within TTL): %q %v", nameIn(got), f)
	}
	if err := srv.Start(); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the resubscribed instance drops what it may have missed", func() bool {
		_, f, _ := b.Image(ctx, "img")
		return f == Missing
	})
}

// TestSharedInvalidationAppliedWhenWriteReturns: once an instance's
// Invalidate returns, no other instance serves the record it voided —
// not "eventually", right away, as two workers of one Glance read one
// database; and a subscriber that never acknowledges (an instance that
// stopped reading its subscription) delays a write by ackWait at most.
func TestSharedInvalidationAppliedWhenWriteReturns(t *testing.T) {
	srv := redistest.StartT(t)
	ms := sharedMetas(t, srv.Addr, 3)
	for _, m := range ms { // the acknowledgements' channels too
		eventually(t, "acknowledgements subscribed", func() bool {
			start := time.Now()
			m.Invalidate(ctx, "warm")
			return time.Since(start) < ackWait/2
		})
	}
	for i := range 60 {
		name := fmt.Sprint("v", i)
		_, _, tk := ms[0].Image(ctx, "img")
		ms[0].PutImage(ctx, tk, named("img", name))
		for j, m := range ms { // every instance holds it in its first level
			if got, f, _ := m.Image(ctx, "img"); f != Fresh || nameIn(got) != name {
				t.Fatalf("round %d: instance %d: %q %v, want %s", i, j, nameIn(got), f, name)
			}
		}
		w := i % len(ms)
		ms[w].Invalidate(ctx, "img")
		for j, m := range ms {
			if got, f, _ := m.Image(ctx, "img"); f != Missing {
				t.Fatalf("round %d: right after instance %d's write, instance %d serves %q (%v)", i, w, j, nameIn(got), f)
			}
		}
	}

	deaf := goredis.NewClient(&goredis.Options{Addr: srv.Addr})
	defer deaf.Close()
	ps := deaf.Subscribe(ctx, "spyglass:"+ms[0].shared.channel) // redis.Config.Prefix's default
	defer ps.Close()
	if _, err := ps.Receive(ctx); err != nil { // subscribed
		t.Fatal(err)
	}
	start := time.Now()
	ms[1].Invalidate(ctx, "img")
	if took := time.Since(start); took < ackWait || took > ackWait+2*time.Second {
		t.Errorf("with a subscriber that never acknowledges, a write took %v, want about %v", took, ackWait)
	}
}

// TestCloseWaitsForTheSubscription: an invalidation from another instance
// being applied when Close is called is finished before Close releases
// the first level (a Del on a closed ristretto cache panics; CI caught the
// race of one with Close in federation's tests).
func TestCloseWaitsForTheSubscription(t *testing.T) {
	srv := redistest.StartT(t)
	ms := sharedMetas(t, srv.Addr, 2)
	writer, closing := ms[0], ms[1]

	applying, release := make(chan struct{}), make(chan struct{})
	var returned atomic.Bool
	closing.OnOthersInvalidate(func(string) {
		close(applying)
		<-release
		time.Sleep(20 * time.Millisecond) // Close, if it did not wait, would be done by now
		returned.Store(true)
	})
	go writer.Invalidate(ctx, "img") // waits for the acknowledgement it will not get
	<-applying

	closed := make(chan struct{})
	go func() {
		closing.Close()
		close(closed)
	}()
	select {
	case <-closed:
		t.Fatal("Close returned while an invalidation was being applied")
	case <-time.After(100 * time.Millisecond):
	}
	close(release)
	<-closed
	if !returned.Load() {
		t.Fatal("Close returned before the invalidation being applied was")
	}
}

// TestLeadOneInstanceAsks: of two instances missing a record at once, one
// leads (asks the region); the other waits and gets the leader's answer
// from Redis, or — when the leader lets go without one — asks itself.
func TestLeadOneInstanceAsks(t *testing.T) {
	srv := redistest.StartT(t)
	ms := sharedMetas(t, srv.Addr, 2)
	leader, waiter := ms[0], ms[1]
	got := make(chan *backends.Image, 1)
	wait := func(id string) {
		img, release := waiter.Lead(ctx, id)
		release()
		got <- img
	}
	notYet := func(what string) {
		t.Helper()
		select {
		case img := <-got:
			t.Fatalf("%s: the waiter went on (%q) while the leader held the lease", what, nameIn(img))
		case <-time.After(100 * time.Millisecond):
		}
	}

	_, _, tk := leader.Image(ctx, "img")
	img, release := leader.Lead(ctx, "img")
	if img != nil {
		t.Fatalf("the first to miss was handed %q instead of leading", nameIn(img))
	}
	go wait("img")
	notYet("an answer on its way")
	leader.PutImage(ctx, tk, named("img", "v1"))
	release()
	if img := <-got; nameIn(img) != "v1" {
		t.Fatalf("the waiter got %q, want the leader's answer v1", nameIn(img))
	}

	lead, releaseLead := leader.Lead(ctx, "gone")
	if lead != nil {
		t.Fatal("a record nobody has was handed out")
	}
	go wait("gone")
	notYet("no answer yet")
	releaseLead() // an error, say: nothing remembered
	if img := <-got; img != nil {
		t.Fatalf("the waiter got %q from a leader that remembered nothing", nameIn(img))
	}
}
