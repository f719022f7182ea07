package local

import (
	"context"
	"os"
	"strings"
	"testing"

	"github.com/spyglass-gateway/spyglass/backends"
)

// TestUnimport: an active image goes back to queued without data (its
// file removed, size and checksums cleared), survives a reopen as such,
// and takes data again; an image that is not active is refused.
func TestUnimport(t *testing.T) {
	ctx := context.Background()
	s, dir := open(t, Options{})
	create(t, s, "u1", "p1", "private")
	create(t, s, "u2", "p1", "private")
	if _, err := s.UploadData(ctx, "u1", strings.NewReader("data"), backends.UploadOptions{ExpectedSize: -1}); err != nil {
		t.Fatal(err)
	}
	_, err := s.Unimport(ctx, "u2")
	wantErr(t, err, backends.ErrConflict, "Image status transition from queued to queued is not allowed")

	img, err := s.Unimport(ctx, "u1")
	if err != nil {
		t.Fatal(err)
	}
	if img.Status != backends.StatusQueued || img.Size != nil || img.Checksum != nil || img.OSHashValue != nil || len(img.Stores) != 0 {
		t.Fatalf("after Unimport: %+v", img)
	}
	if _, err := os.Stat(s.dataPath("u1")); !os.IsNotExist(err) {
		t.Fatalf("the data file is still there: %v", err)
	}
	s.Close()
	s2, err := Open(dir, Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s2.Close() })
	got, err := s2.Image(ctx, "u1")
	if err != nil {
		t.Fatal(err)
	}
	if got.Status != backends.StatusQueued || got.Size != nil {
		t.Fatalf("reopened: status %s size %v", got.Status, got.Size)
	}
	if _, err := s2.UploadData(ctx, "u1", strings.NewReader("again"), backends.UploadOptions{ExpectedSize: -1}); err != nil {
		t.Fatalf("upload after Unimport: %v", err)
	}
}
