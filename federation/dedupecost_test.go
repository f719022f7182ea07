package federation_test

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/spyglass-gateway/spyglass/backends"
	"github.com/spyglass-gateway/spyglass/federation"
)

// checkCounter counts the checks (listings by id) a catalog sends its
// region.
type checkCounter struct {
	federation.Images
	checks *atomic.Int64
}

func (r checkCounter) ListImages(ctx context.Context, q *backends.ListQuery) ([]*backends.Image, error) {
	if slices.ContainsFunc(q.Filters, func(f backends.Filter) bool { return !f.Property && f.Key == "id" }) {
		r.checks.Add(1)
	}
	return r.Images.ListImages(ctx, q)
}

// TestOneCheckPerEarlierRegion: a page whose three regions all yield
// images asks each earlier region once at most which of the later regions'
// images it lists too (not once per pair of regions), and not at all when
// the earlier region's own page already shows them — but a copy the
// earlier region does not list for this caller (private to another
// project) is asked about, and does not hide the later region's copy.
func TestOneCheckPerEarlierRegion(t *testing.T) {
	p1 := backends.WithCaller(context.Background(), &backends.Caller{Project: "p1", Roles: []string{"member", "reader"}})
	cases := []struct {
		name string
		// id is the id region i gives its j-th image; private: whether
		// that copy is private to another project.
		id      func(i, j int) string
		private func(i, j int) bool
		want    int     // distinct images listed
		checks  []int64 // checks each region gets
	}{
		{"distinct ids",
			func(i, j int) string { return fmt.Sprintf("00000000-0000-4000-8000-%012d", i*100+j) },
			func(i, j int) bool { return false },
			30, []int64{1, 1, 0}},
		{"the same ids everywhere",
			func(i, j int) string { return fmt.Sprintf("00000000-0000-4000-9000-%012d", j) },
			func(i, j int) bool { return false },
			10, []int64{0, 0, 0}},
		{"the first region's copies private to another project",
			func(i, j int) string { return fmt.Sprintf("00000000-0000-4000-9000-%012d", j) },
			func(i, j int) bool { return i == 0 },
			10, []int64{1, 0, 0}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			checks := make([]atomic.Int64, 3)
			var rcs []federation.RegionConfig
			for i := range 3 {
				store, _ := localRegion(t, i)
				for j := range 10 {
					name, owner, vis := fmt.Sprintf("img-%d-%d", i, j), "p1", "public"
					if tc.private(i, j) {
						owner, vis = "p2", "private"
					}
					img := &backends.Image{ID: tc.id(i, j), Name: &name, Owner: &owner, Visibility: vis}
					if _, err := store.CreateImage(t.Context(), img); err != nil {
						t.Fatal(err)
					}
				}
				rg := federation.RegionOf(store)
				rg.Images = checkCounter{Images: rg.Images, checks: &checks[i]}
				rcs = append(rcs, federation.RegionConfig{Region: rg})
			}
			cat, err := federation.New(federation.Config{Regions: rcs})
			if err != nil {
				t.Fatal(err)
			}
			defer cat.Close()
			imgs, err := cat.ListImages(p1, &backends.ListQuery{Limit: 50})
			if err != nil {
				t.Fatal(err)
			}
			ids := make([]string, len(imgs))
			for k, img := range imgs {
				ids[k] = img.ID
				if tc.private(0, 0) && !strings.HasPrefix(*img.Name, "img-1-") {
					t.Errorf("%s listed as %s, want r1's copy (r0's is not p1's to see)", img.ID, *img.Name)
				}
			}
			slices.Sort(ids)
			if got := len(slices.Compact(ids)); got != len(imgs) || got != tc.want {
				t.Errorf("listed %d images, %d distinct; want %d once each", len(imgs), got, tc.want)
			}
			for i := range checks {
				if got, want := checks[i].Load(), tc.checks[i]; got != want {
					t.Errorf("region r%d was asked %d checks, want %d", i, got, want)
				}
			}
		})
	}
}

// failFirstCheck refuses the first check (listing by id) its region gets,
// as a region does that is briefly down.
type failFirstCheck struct {
	federation.Images
	failed *atomic.Bool
}

func (r failFirstCheck) ListImages(ctx context.Context, q *backends.ListQuery) ([]*backends.Image, error) {
	if slices.ContainsFunc(q.Filters, func(f backends.Filter) bool { return !f.Property && f.Key == "id" }) && !r.failed.Swap(true) {
		return nil, fmt.Errorf("region briefly down: %w", backends.ErrUnavailable)
	}
	return r.Images.ListImages(ctx, q)
}

// TestACheckThatFailedIsAskedAgain: an image read ahead whose earlier
// region could not be asked (the location index, which knew nothing,
// answered "not there") is asked about again on the next page, not
// listed from its later copy and then again from the earlier one.
func TestACheckThatFailedIsAskedAgain(t *testing.T) {
	const x = "33333333-0000-4000-8000-000000000001"
	// Sorted by name: a1 a2 b1 c(x in r1) x(x in r0). x is listed once,
	// from r0's copy, after b1.
	seed := [][][2]string{
		{{"33333333-0000-4000-8000-0000000000a1", "a1"}, {"33333333-0000-4000-8000-0000000000a2", "a2"}, {x, "x"}},
		{{"33333333-0000-4000-8000-0000000000b1", "b1"}, {x, "c"}},
	}
	var failed atomic.Bool
	var rcs []federation.RegionConfig
	for i, imgs := range seed {
		store, _ := localRegion(t, i)
		for _, im := range imgs {
			name := im[1]
			if _, err := store.CreateImage(t.Context(), &backends.Image{ID: im[0], Name: &name, Visibility: "public"}); err != nil {
				t.Fatal(err)
			}
		}
		rg := federation.RegionOf(store)
		if i == 0 {
			rg.Images = failFirstCheck{Images: rg.Images, failed: &failed}
		}
		rcs = append(rcs, federation.RegionConfig{Region: rg})
	}
	cat, err := federation.New(federation.Config{Regions: rcs, ReadAheadTTL: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	defer cat.Close()
	ctx := backends.WithCaller(context.Background(), &backends.Caller{Project: "adm", Admin: true, Roles: []string{"admin"}})
	var names []string
	q := backends.ListQuery{Sort: []backends.SortKey{{Key: "name"}}, Limit: 2}
	for range 5 {
		imgs, err := cat.ListImages(ctx, &q)
		if err != nil {
			t.Fatal(err)
		}
		for _, img := range imgs {
			names = append(names, *img.Name)
		}
		if len(imgs) < q.Limit {
			break
		}
		q.Marker = imgs[len(imgs)-1].ID
	}
	if !failed.Load() {
		t.Fatal("no check was refused: the test did not test")
	}
	if want := []string{"a1", "a2", "b1", "x"}; !slices.Equal(names, want) {
		t.Errorf("walk = %v, want %v", names, want)
	}
}
