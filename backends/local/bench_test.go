package local

import (
	"context"
	"database/sql"
	"fmt"
	"math/rand"
	"testing"
	"time"

	"github.com/spyglass-gateway/spyglass/backends"
)

// bulkStore makes a store with n images written in one transaction (fast),
// then reopened so it loads them as it would after a restart.
func bulkStore(b *testing.B, n int) (*Store, []string) {
	b.Helper()
	dir := b.TempDir()
	s, err := Open(dir, Options{})
	if err != nil {
		b.Fatal(err)
	}
	rng := rand.New(rand.NewSource(1))
	base := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	ids := make([]string, n)
	err = s.tx(context.Background(), func(tx *sql.Tx) error {
		for i := range n {
			name := fmt.Sprintf("image-%06d", rng.Intn(n))
			owner := fmt.Sprintf("p%d", rng.Intn(50))
			img := &backends.Image{
				ID: fmt.Sprintf("%08x-%06d", rng.Uint32(), i), Name: &name, Owner: &owner,
				Status: "active", Visibility: []string{"public", "private", "shared", "community"}[rng.Intn(4)],
				CreatedAt: base.Add(time.Duration(i/3) * time.Second),
			}
			if rng.Intn(10) == 0 {
				img.Name = nil
			}
			img.UpdatedAt = img.CreatedAt
			ids[i] = img.ID
			if err := writeImage(tx, img, true); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		b.Fatal(err)
	}
	s.Close()
	s, err = Open(dir, Options{})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { s.Close() })
	return s, ids
}

func BenchmarkList100k(b *testing.B) {
	s, ids := bulkStore(b, 100_000)
	caller := backends.Caller{Project: "p7"}
	ctx := backends.WithCaller(context.Background(), &caller)
	b.Run("default-sort", func(b *testing.B) {
		q := &backends.ListQuery{Limit: 25,
			Sort: []backends.SortKey{{Key: "created_at", Desc: true}, {Key: "id", Desc: true}}}
		b.ReportAllocs()
		for b.Loop() {
			if imgs, err := s.ListImages(ctx, q); err != nil || len(imgs) != 25 {
				b.Fatal(len(imgs), err)
			}
		}
	})
	b.Run("name-marker-middle", func(b *testing.B) {
		// A public image as the marker, so any caller may use it.
		var marker string
		for _, id := range ids[len(ids)/2:] {
			if img, _ := s.Image(ctx, id); img.Visibility == "public" && img.Name != nil {
				marker = id
				break
			}
		}
		q := &backends.ListQuery{Limit: 25, Marker: marker,
			Sort: []backends.SortKey{{Key: "name"}, {Key: "created_at"}, {Key: "id"}}}
		b.ReportAllocs()
		for b.Loop() {
			if imgs, err := s.ListImages(ctx, q); err != nil || len(imgs) != 25 {
				b.Fatal(len(imgs), err)
			}
		}
	})
	b.Run("show", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			s.Image(ctx, ids[12345])
		}
	})
}
