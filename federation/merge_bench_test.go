package federation_test

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/spyglass-gateway/spyglass/backends"
	"github.com/spyglass-gateway/spyglass/backends/glance"
	"github.com/spyglass-gateway/spyglass/federation"
)

// listCounter counts the listing requests a catalog sends its region.
type listCounter struct {
	federation.Images
	lists *atomic.Int64
}

func (r listCounter) ListImages(ctx context.Context, q *backends.ListQuery) ([]*backends.Image, error) {
	r.lists.Add(1)
	return r.Images.ListImages(ctx, q)
}

// BenchmarkMergedWalk: a whole default-sorted walk (limit 25, following
// markers) over three regions of 90 images each, in process (embedded
// stores) and over loopback HTTP (a Glance client in front of each embedded
// store's API), with every id distinct and with a third of them held by all
// three regions, each page re-reading the regions or taking what the last
// one read ahead (ReadAheadTTL, cache.metadata_ttl in production). It
// reports the listing requests the regions got per page: the cost of
// telling one image's copies apart is the difference.
func BenchmarkMergedWalk(b *testing.B) {
	for _, transport := range []string{"embedded", "http"} {
		for _, layout := range []string{"distinct", "copies"} {
			for _, ahead := range []time.Duration{0, time.Minute} {
				benchmarkMergedWalk(b, transport, layout, ahead)
			}
		}
	}
}

func benchmarkMergedWalk(b *testing.B, transport, layout string, ahead time.Duration) {
	b.Run(fmt.Sprintf("%s/%s/readahead=%v", transport, layout, ahead), func(b *testing.B) {
		var lists atomic.Int64
		var rcs []federation.RegionConfig
		for i := range 3 {
			store, u := localRegion(b, i)
			for j := range 90 {
				id := fmt.Sprintf("00000000-0000-4000-8000-%012d", i*1000+j)
				if layout == "copies" && j < 30 {
					id = fmt.Sprintf("00000000-0000-4000-9000-%012d", j)
				}
				name := fmt.Sprintf("img-%d-%d", i, j)
				if _, err := store.CreateImage(b.Context(), &backends.Image{ID: id, Name: &name, Visibility: "public"}); err != nil {
					b.Fatal(err)
				}
			}
			rg := federation.RegionOf(store)
			if transport == "http" {
				r, err := glance.New(glance.Config{Name: fmt.Sprintf("r%d", i), Endpoint: u})
				if err != nil {
					b.Fatal(err)
				}
				rg = federation.RegionOf(r)
			}
			rg.Images = listCounter{Images: rg.Images, lists: &lists}
			rcs = append(rcs, federation.RegionConfig{Name: fmt.Sprintf("r%d", i), Region: rg})
		}
		cat, err := federation.New(federation.Config{Regions: rcs, ReadAheadTTL: ahead})
		if err != nil {
			b.Fatal(err)
		}
		defer cat.Close()
		ctx := backends.WithCaller(context.Background(), &backends.Caller{Project: "adm", Admin: true, Roles: []string{"admin"}})
		want := 270
		if layout == "copies" {
			want = 210
		}
		pages := 0
		b.ReportAllocs()
		b.ResetTimer()
		lists.Store(0)
		for range b.N {
			q := backends.ListQuery{Sort: []backends.SortKey{{Key: "created_at", Desc: true}, {Key: "id", Desc: true}}, Limit: 25}
			n := 0
			for {
				imgs, err := cat.ListImages(ctx, &q)
				if err != nil {
					b.Fatal(err)
				}
				pages++
				n += len(imgs)
				if len(imgs) < q.Limit {
					break
				}
				q.Marker = imgs[len(imgs)-1].ID
			}
			if n != want {
				b.Fatalf("walked %d images, want %d", n, want)
			}
		}
		b.ReportMetric(float64(lists.Load())/float64(pages), "lists/page")
	})
}
