package federation_test

import (
	"context"
	"testing"
	"time"

	"github.com/spyglass-gateway/spyglass/backends"
	"github.com/spyglass-gateway/spyglass/backends/local"
	"github.com/spyglass-gateway/spyglass/cache/meta"
	"github.com/spyglass-gateway/spyglass/cache/redistest"
	"github.com/spyglass-gateway/spyglass/federation"
)

// TestCoalescedReadServesNoRecordReadBeforeAWrite: a show's call to the
// region has read the old record and is slow to return; meanwhile the image
// is updated, through this instance or another one (its invalidation
// published here). A show that begins after the write must answer the new
// record, though the slow read for the same image is still in flight: it
// cannot join it (the write forgot it), or it may not take its answer
// (read before the write), and asks again.
func TestCoalescedReadServesNoRecordReadBeforeAWrite(t *testing.T) {
	t.Run("write through this instance", func(t *testing.T) {
		store, err := local.Open(t.TempDir(), local.Options{StoreName: "r0"})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { store.Close() })
		calls := &regionCalls{Images: store}
		region := federation.RegionOf(store)
		region.Images = calls
		mc, err := meta.New(meta.Config{TTL: time.Hour, MaxEntries: 1000})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(mc.Close)
		cat, err := federation.New(federation.Config{Region: region, Meta: mc})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(cat.Close)
		ctx := backends.WithCaller(context.Background(), &backends.Caller{Project: "p1", Roles: []string{"member", "reader"}})
		name := "old"
		img, err := cat.CreateImage(ctx, &backends.Image{Name: &name, Visibility: "private"})
		if err != nil {
			t.Fatal(err)
		}
		id := img.ID
		mc.InvalidateAll() // cold

		nameOf := func() <-chan string {
			ch := make(chan string, 1)
			go func() {
				img, err := cat.Image(ctx, id)
				if err != nil {
					ch <- err.Error()
					return
				}
				ch <- *img.Name
			}()
			return ch
		}
		held := &heldShow{answered: make(chan struct{}), release: make(chan struct{})}
		calls.hold.Store(held)
		slow := nameOf()
		<-held.answered // the region answered "old"; the flight has not returned
		if _, err := cat.UpdateImage(ctx, id, []backends.Change{{Op: backends.PatchReplace, Path: []string{"name"}, Value: []byte(`"new"`)}}); err != nil {
			t.Fatal(err)
		}
		after := nameOf()
		time.Sleep(100 * time.Millisecond) // let it join the slow flight, if it can
		close(held.release)
		if got := <-after; got != "new" {
			t.Errorf("a show after the write answered %q; it took the answer of a read before it", got)
		}
		<-slow // begun before the write: either answer is right
		if img, err := cat.Image(ctx, id); err != nil || *img.Name != "new" {
			t.Errorf("the next show: %v %v; the slow read was cached", img, err)
		}
	})

	t.Run("write through another instance", func(t *testing.T) {
		admin := caller{"adm", "admin,member,reader"}
		regions, urls := embeddedRegions(t, 1)
		rd := redistest.StartT(t)
		ins := site(t, 2, regions, rd.Addr)
		a, b := ins[0], ins[1]
		id := createIn(t, urls[0], admin, map[string]any{"name": "old"})

		held := &heldShow{answered: make(chan struct{}), release: make(chan struct{})}
		b.calls[0].hold.Store(held)
		show := func() <-chan string {
			ch := make(chan string, 1)
			go func() {
				_, name := nameOf(t, b.url, admin, id)
				ch <- name
			}()
			return ch
		}
		slow := show()
		<-held.answered
		others := b.metas[0].OthersWrites()
		patch := `[{"op": "replace", "path": "/name", "value": "new"}]`
		if code, body := do(t, a.url, admin, "PATCH", "/v2/images/"+id, patch); code != 200 {
			t.Fatalf("update through A: %d %s", code, body)
		}
		eventually(t, "B learns of A's write", func() bool { return b.metas[0].OthersWrites() > others })
		after := show()
		time.Sleep(100 * time.Millisecond) // it joins B's slow flight: nothing forgot it
		close(held.release)
		if got := <-after; got != "new" {
			t.Errorf("a show on B after A's write answered %q; it took the answer of a read before it", got)
		}
		<-slow
	})
}
