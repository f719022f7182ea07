package federation_test

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/spyglass-gateway/spyglass/backends"
	"github.com/spyglass-gateway/spyglass/backends/local"
	"github.com/spyglass-gateway/spyglass/federation"
)

// orderedRegion answers a show only after another region has (after), and
// says when it has (done).
type orderedRegion struct {
	federation.Images
	after <-chan struct{}
	done  chan struct{}
}

func (r *orderedRegion) Image(ctx context.Context, id string) (*backends.Image, error) {
	if r.after != nil {
		<-r.after
	}
	img, err := r.Images.Image(ctx, id)
	if r.done != nil {
		close(r.done)
	}
	return img, err
}

// heldRegion holds every show until released, and hands out its context.
type heldRegion struct {
	federation.Images
	ctxs    chan context.Context
	release chan struct{}
}

func (r *heldRegion) Image(ctx context.Context, id string) (*backends.Image, error) {
	r.ctxs <- ctx
	<-r.release
	return nil, backends.ErrNotFound
}

// An id looked up across the regions: one region says not found, the next
// has it, a third is slow. The show answers at once, and once the slow
// region has answered too, the lookup is over: its context is released,
// nothing is left waiting (a goroutine and a timer per show were left
// behind for good when the not-found came before the find).
func TestLocateReleasesItsLookups(t *testing.T) {
	r0, _ := localRegion(t, 0)
	r1, _ := localRegion(t, 1)
	r2, _ := localRegion(t, 2)
	ctx := backends.WithCaller(context.Background(), &backends.Caller{Project: "p1", Roles: []string{"member", "reader"}})
	name := "here"
	img, err := r1.CreateImage(ctx, &backends.Image{ID: "8f4b1c0e-0000-4000-8000-000000000001", Name: &name, Visibility: "private", Owner: &[]string{"p1"}[0]})
	if err != nil {
		t.Fatal(err)
	}
	notFound := &orderedRegion{Images: r0, done: make(chan struct{})}
	found := &orderedRegion{Images: r1, after: notFound.done}
	slow := &heldRegion{Images: r2, ctxs: make(chan context.Context, 1), release: make(chan struct{})}
	var rcs []federation.RegionConfig
	for i, images := range []federation.Images{notFound, found, slow} {
		rg := federation.RegionOf([]*local.Store{r0, r1, r2}[i])
		rg.Images = images
		rcs = append(rcs, federation.RegionConfig{Region: rg})
	}
	cat, err := federation.New(federation.Config{Regions: rcs})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cat.Close)

	got, err := cat.Image(ctx, img.ID)
	if err != nil || got.ID != img.ID {
		t.Fatalf("show: %v, %v", got, err)
	}
	lookup := <-slow.ctxs
	close(slow.release)
	select {
	case <-lookup.Done():
	case <-time.After(30 * time.Second): // generous: it is released at once
		t.Fatal("the lookup was never released after every region answered")
	}
}

// A download looks its image up once: the gateway's lookup resolves the
// record and teaches the location index, and the data is opened from that
// record in the region the index names, without asking the region again.
func TestDownloadLooksTheImageUpOnce(t *testing.T) {
	owner := caller{"p1", "member,reader"}
	r0, u0 := localRegion(t, 0)
	r1, _ := localRegion(t, 1)
	code, b := do(t, u0, owner, "POST", "/v2/images", map[string]any{"name": "one", "disk_format": "raw", "container_format": "bare"})
	if code != 201 {
		t.Fatalf("create: %d %s", code, b)
	}
	var img struct{ ID string }
	json.Unmarshal(b, &img)
	if resp, b := send(t, u0, owner, "PUT", "/v2/images/"+img.ID+"/file", strings.NewReader("data"), map[string]string{"Content-Type": "application/octet-stream"}); resp.StatusCode != 204 {
		t.Fatalf("upload: %d %s", resp.StatusCode, b)
	}
	counted := &lookupCounter{Images: r0}
	rg := federation.RegionOf(r0)
	rg.Images = counted
	cat, err := federation.New(federation.Config{Regions: []federation.RegionConfig{{Region: rg}, {Region: federation.RegionOf(r1)}}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cat.Close)
	u := serve(t, cat)
	if code, b := do(t, u, owner, "GET", "/v2/images/"+img.ID+"/file", nil); code != 200 || string(b) != "data" {
		t.Fatalf("download: %d %q", code, b)
	}
	if got, want := counted.lookups.Load(), int64(1); got != want {
		t.Errorf("a download looked the image up %d times in its region, want %d", got, want)
	}
}
