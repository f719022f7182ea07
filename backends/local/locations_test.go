package local

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/spyglass-gateway/spyglass/backends"
)

// locationServer serves image at /image.img (HEAD and Range) on loopback;
// other paths are 404.
func locationServer(t *testing.T, image []byte) *httptest.Server {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/image.img" {
			http.NotFound(w, r)
			return
		}
		http.ServeContent(w, r, "image.img", time.Time{}, bytes.NewReader(image))
	}))
	t.Cleanup(srv.Close)
	return srv
}

// TestAddLocation: a queued image takes its data at an http location,
// keeps it across a restart, streams it from there, and forgets it when
// deleted; what Glance refuses is refused.
func TestAddLocation(t *testing.T) {
	ctx := context.Background()
	image := bytes.Repeat([]byte("location"), 1000)
	srv := locationServer(t, image)
	dir := t.TempDir()
	s, err := Open(dir, Options{Fetcher: loopbackFetcher(t, srv)})
	if err != nil {
		t.Fatal(err)
	}
	create(t, s, "l1", "p1", "private")
	sum := "0123456789abcdef0123456789abcdef"
	img, err := s.AddLocation(ctx, "l1", backends.Location{URL: srv.URL + "/image.img"}, backends.LocationOptions{Checksum: &sum})
	if err != nil {
		t.Fatal(err)
	}
	if img.Status != backends.StatusActive || img.Size == nil || *img.Size != int64(len(image)) || img.Checksum == nil || *img.Checksum != sum {
		t.Fatalf("after AddLocation: %+v", img)
	}
	for _, tc := range []struct {
		name string
		id   string
		url  string
		opts backends.LocationOptions
		kind error
		msg  string
	}{
		{"not queued", "l1", srv.URL + "/image.img", backends.LocationOptions{}, backends.ErrConflict, "Image status transition from active to active is not allowed"},
		{"not http", "l2", "file:///etc/passwd", backends.LocationOptions{}, backends.ErrBadRequest, "Invalid location file:///etc/passwd"},
		{"404", "l2", srv.URL + "/gone", backends.LocationOptions{}, backends.ErrNotFound, "HTTP datastore could not find image at URI."},
		{"size given differs", "l2", srv.URL + "/image.img", backends.LocationOptions{Size: 3}, backends.ErrConflict,
			"Provided image size must match the stored image size. (provided size: 3, stored size: 8000)"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if tc.id == "l2" {
				if _, err := s.Image(ctx, "l2"); err != nil {
					create(t, s, "l2", "p1", "private")
				}
			}
			_, err := s.AddLocation(ctx, tc.id, backends.Location{URL: tc.url}, tc.opts)
			wantErr(t, err, tc.kind, tc.msg)
		})
	}
	if got := cur(t, s, "l2").Status; got != backends.StatusQueued {
		t.Fatalf("a refused location left l2 %s", got)
	}

	// Across a restart.
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s, err = Open(dir, Options{Fetcher: loopbackFetcher(t, srv)})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	img = cur(t, s, "l1")
	if got, want := img.HTTPLocation(), srv.URL+"/image.img"; got != want {
		t.Fatalf("after a restart the location is %q, want %q", got, want)
	}
	data, err := s.OpenData(ctx, img)
	if err != nil {
		t.Fatal(err)
	}
	got, err := io.ReadAll(io.NewSectionReader(data, 0, data.Size()))
	data.Close()
	if err != nil || !bytes.Equal(got, image) {
		t.Fatalf("data: %d bytes, %v", len(got), err)
	}
	// An update keeps the location.
	if _, err := s.UpdateImage(ctx, "l1", []backends.Change{{Op: backends.PatchReplace, Path: []string{"name"}, Value: []byte(`"renamed"`)}}); err != nil {
		t.Fatal(err)
	}
	if cur(t, s, "l1").HTTPLocation() == "" {
		t.Fatal("an update lost the location")
	}
	if err := s.DeleteImage(ctx, "l1"); err != nil {
		t.Fatal(err)
	}
	var n int
	if err := s.rdb.QueryRow(`SELECT count(*) FROM image_locations WHERE image_id='l1'`).Scan(&n); err != nil || n != 0 {
		t.Fatalf("%d location rows after the delete (%v)", n, err)
	}
}

// TestKilled: v1 copy-from's failure kills a queued image; nothing else
// can be killed.
func TestKilled(t *testing.T) {
	ctx := context.Background()
	s, _ := open(t, Options{})
	create(t, s, "k1", "p1", "private")
	if img, err := s.SetImageStatus(ctx, "k1", backends.StatusKilled); err != nil || img.Status != backends.StatusKilled {
		t.Fatalf("kill a queued image: %v", err)
	}
	create(t, s, "k2", "p1", "private")
	if _, err := s.UploadData(ctx, "k2", bytes.NewReader([]byte("x")), backends.UploadOptions{ExpectedSize: -1}); err != nil {
		t.Fatal(err)
	}
	_, err := s.SetImageStatus(ctx, "k2", backends.StatusKilled)
	wantErr(t, err, backends.ErrConflict, "Image status transition from active to killed is not allowed")
}
