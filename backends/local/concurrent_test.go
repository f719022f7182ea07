package local

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/spyglass-gateway/spyglass/backends"
)

// TestConcurrent runs writers, uploads, listings and shows at once: under
// -race it checks the snapshot swapping; after it, every image is in a state
// Glance allows and listings agree with the snapshots.
func TestConcurrent(t *testing.T) {
	ctx := context.Background()
	s, _ := open(t, Options{})
	const workers, each = 4, 10
	var wg sync.WaitGroup
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range each {
				id := fmt.Sprintf("w%d-%d", w, i)
				create(t, s, id, "p", "public")
				s.AddTag(ctx, id, "t")
				if _, err := s.UploadData(ctx, id, strings.NewReader(id), backends.UploadOptions{ExpectedSize: -1}); err != nil {
					t.Error(err)
				}
				// A racing second upload must be refused, not corrupt the first.
				if _, err := s.UploadData(ctx, id, strings.NewReader("x"), backends.UploadOptions{ExpectedSize: -1}); !errors.Is(err, backends.ErrConflict) {
					t.Errorf("second upload: %v", err)
				}
				if i%3 == 0 {
					s.DeleteImage(ctx, id)
				}
			}
		}()
	}
	wg.Add(1)
	go func() {
		defer wg.Done()
		for range 50 {
			imgs, err := s.ListImages(backends.WithCaller(ctx, &backends.Caller{Project: "p"}), &backends.ListQuery{Limit: 5,
				Sort: []backends.SortKey{{Key: "created_at", Desc: true}, {Key: "id", Desc: true}}})
			if err != nil {
				t.Error(err)
				return
			}
			for _, img := range imgs {
				s.Image(ctx, img.ID)
			}
		}
	}()
	wg.Wait()
	imgs, err := s.ListImages(backends.WithCaller(ctx, &backends.Caller{Admin: true}), &backends.ListQuery{})
	if err != nil {
		t.Fatal(err)
	}
	if got, want := len(imgs), workers*(each-4); got != want {
		t.Fatalf("%d images, want %d", got, want)
	}
	for _, img := range imgs {
		d, err := s.OpenData(ctx, img)
		if err != nil {
			t.Fatal(err)
		}
		buf := make([]byte, d.Size())
		d.ReadAt(buf, 0)
		d.Close()
		if got, want := string(buf), img.ID; img.Status != "active" || got != want {
			t.Fatalf("%s: status %s data %q", img.ID, img.Status, got)
		}
	}
}

// TestDeleteDuringUpload: an image deleted while its data streams stays
// deleted, and the data does not outlive it.
func TestDeleteDuringUpload(t *testing.T) {
	ctx := context.Background()
	s, dir := open(t, Options{})
	create(t, s, "d", "p", "private")
	pr, pw := io.Pipe()
	done := make(chan error, 1)
	go func() {
		_, err := s.UploadData(ctx, "d", pr, backends.UploadOptions{ExpectedSize: -1})
		done <- err
	}()
	pw.Write([]byte("part"))
	if err := s.DeleteImage(ctx, "d"); err != nil {
		t.Fatal(err)
	}
	pw.Write([]byte("rest"))
	pw.Close()
	if err := <-done; !errors.Is(err, backends.ErrNotFound) {
		t.Fatalf("upload after delete: %v", err)
	}
	if _, err := s.Image(ctx, "d"); !errors.Is(err, backends.ErrNotFound) {
		t.Fatalf("image came back: %v", err)
	}
	if ents, _ := os.ReadDir(filepath.Join(dir, "images")); len(ents) != 0 {
		t.Fatalf("data left behind: %v", ents)
	}
}

func TestMemberDoesNotAllocate(t *testing.T) {
	ctx := context.Background()
	s, _ := open(t, Options{})
	create(t, s, "sh", "p", "shared")
	if _, err := s.AddMember(ctx, "sh", "m"); err != nil {
		t.Fatal(err)
	}
	if n := testing.AllocsPerRun(100, func() { s.Member(ctx, "sh", "m") }); n != 0 {
		t.Fatalf("Member allocates %v times", n)
	}
}
