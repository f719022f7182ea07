package federation_test

import (
	"context"
	"encoding/json"
	"slices"
	"strings"
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
// is tagged, through this instance or another one (its invalidation
// published here); a tag's answer is no record, so none is cached. A show that begins after the write must answer the new
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

		tagsOf := func() <-chan string {
			ch := make(chan string, 1)
			go func() {
				img, err := cat.Image(ctx, id)
				if err != nil {
					ch <- err.Error()
					return
				}
				ch <- strings.Join(img.Tags, ",")
			}()
			return ch
		}
		held := &heldShow{answered: make(chan struct{}), release: make(chan struct{})}
		calls.hold.Store(held)
		slow := tagsOf()
		<-held.answered // the region answered no tags; the flight has not returned
		if err := cat.AddTag(ctx, id, "new"); err != nil {
			t.Fatal(err)
		}
		after := tagsOf()
		time.Sleep(100 * time.Millisecond) // let it join the slow flight, if it can
		close(held.release)
		if got := <-after; got != "new" {
			t.Errorf("a show after the write answered %q; it took the answer of a read before it", got)
		}
		<-slow // begun before the write: either answer is right
		if img, err := cat.Image(ctx, id); err != nil || !slices.Equal(img.Tags, []string{"new"}) {
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
				_, body := do(t, b.url, admin, "GET", "/v2/images/"+id, nil)
				var img struct{ Tags []string }
				json.Unmarshal(body, &img)
				ch <- strings.Join(img.Tags, ",")
			}()
			return ch
		}
		slow := show()
		<-held.answered
		others := b.metas[0].OthersWrites()
		if code, body := do(t, a.url, admin, "PUT", "/v2/images/"+id+"/tags/new", nil); code != 204 {
			t.Fatalf("tag through A: %d %s", code, body)
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
