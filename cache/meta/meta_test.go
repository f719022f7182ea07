package meta

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/spyglass-gateway/spyglass/backends"
)

var ctx = context.Background()

type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *fakeClock) Add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

func newMeta(t *testing.T, clk *fakeClock) *Cache {
	t.Helper()
	m, err := New(Config{TTL: 30 * time.Second, StaleIfError: time.Minute, VerdictTTL: 5 * time.Second, MaxEntries: 1000, Now: clk.Now})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(m.Close)
	return m
}

func TestMetadataFreshStaleMissing(t *testing.T) {
	clk := &fakeClock{t: time.Unix(1e9, 0)}
	m := newMeta(t, clk)
	img := &backends.Image{ID: "a"}
	if _, f, _ := m.Image(ctx, "a"); f != Missing {
		t.Fatalf("empty cache: %v", f)
	}
	m.PutImage(ctx, m.Ticket(), img)
	if got, f, _ := m.Image(ctx, "a"); f != Fresh || got != img {
		t.Fatalf("after put: %v %v", got, f)
	}
	clk.Add(31 * time.Second)
	if got, f, _ := m.Image(ctx, "a"); f != Stale || got != img {
		t.Fatalf("past TTL: %v %v", got, f)
	}
	clk.Add(time.Minute)
	if _, f, _ := m.Image(ctx, "a"); f != Missing {
		t.Fatalf("past TTL+stale: %v", f)
	}
}

// A read that took its ticket before a write must not put the old record
// back after the write invalidated it; a read that started after may.
func TestMetadataInvalidateBeatsSlowRead(t *testing.T) {
	clk := &fakeClock{t: time.Unix(1e9, 0)}
	m := newMeta(t, clk)
	old := &backends.Image{ID: "a"}
	m.PutImage(ctx, m.Ticket(), old)

	slow := m.Ticket()     // a read starts
	m.Invalidate(ctx, "a") // a write lands and invalidates
	if _, f, _ := m.Image(ctx, "a"); f != Missing {
		t.Fatalf("after invalidate: %v", f)
	}
	m.PutImage(ctx, slow, old) // the slow read answers with the old record
	if _, f, _ := m.Image(ctx, "a"); f != Missing {
		t.Fatal("a read older than the invalidation put its record back")
	}
	fresh := &backends.Image{ID: "a", Name: new(string)}
	m.PutImage(ctx, m.Ticket(), fresh)
	if got, f, _ := m.Image(ctx, "a"); f != Fresh || got != fresh {
		t.Fatalf("a read after the invalidation was refused: %v %v", got, f)
	}
}

func TestMetadataVerdicts(t *testing.T) {
	clk := &fakeClock{t: time.Unix(1e9, 0)}
	m := newMeta(t, clk)
	mem := &backends.Member{ImageID: "a", MemberID: "p2", Status: "accepted"}
	if _, known, _ := m.Member(ctx, "a", "p2"); known {
		t.Fatal("verdict known in an empty cache")
	}
	m.PutMember(ctx, m.Ticket(), "a", "p2", mem)
	m.PutMember(ctx, m.Ticket(), "a", "p3", nil)
	if got, known, _ := m.Member(ctx, "a", "p2"); !known || got != mem {
		t.Fatalf("p2: %v %v", got, known)
	}
	if got, known, _ := m.Member(ctx, "a", "p3"); !known || got != nil {
		t.Fatalf("p3 (not a member): %v %v", got, known)
	}
	m.Invalidate(ctx, "a")
	if _, known, _ := m.Member(ctx, "a", "p2"); known {
		t.Fatal("verdict survived the image's invalidation")
	}
	m.PutMember(ctx, m.Ticket(), "a", "p2", mem)
	clk.Add(6 * time.Second)
	if _, known, _ := m.Member(ctx, "a", "p2"); known {
		t.Fatal("verdict outlived VerdictTTL")
	}
}

func TestMetadataStats(t *testing.T) {
	clk := &fakeClock{t: time.Unix(1e9, 0)}
	m := newMeta(t, clk)
	ctx := context.Background()
	m.Image(ctx, "a") // miss
	m.PutImage(ctx, m.Ticket(), &backends.Image{ID: "a"})
	m.Image(ctx, "a") // hit
	m.Image(ctx, "a") // hit
	clk.Add(31 * time.Second)
	m.Image(ctx, "a") // stale: the region is asked, a miss
	if got, want := m.Stats(), (Stats{Hits: 2, Misses: 2}); got != want {
		t.Errorf("Stats() = %+v, want %+v", got, want)
	}
}
