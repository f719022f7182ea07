package local

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"reflect"
	"strings"
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

// TestPatchLocations: a v2 patch of /locations on the embedded store
// sizes its URLs with a HEAD (an unreachable one is an invalid location),
// activates a queued image, and its locations (order, metadata, the store
// named) survive a restart; a patch of them refused changes nothing.
func TestPatchLocations(t *testing.T) {
	ctx := context.Background()
	image := bytes.Repeat([]byte("location"), 1000)
	srv := locationServer(t, image)
	dir := t.TempDir()
	s, err := Open(dir, Options{Fetcher: loopbackFetcher(t, srv), StoreName: "edge"})
	if err != nil {
		t.Fatal(err)
	}
	create(t, s, "l1", "p1", "private")
	change := func(op backends.PatchOp, path []string, value string) backends.Change {
		return backends.Change{Op: op, Path: path, Value: []byte(value), LocationsVisible: true}
	}
	if _, err := s.UpdateImage(ctx, "l1", []backends.Change{change(backends.PatchAdd, []string{"locations", "-"}, `{"url":"`+srv.URL+`/missing.img","metadata":{}}`)}); !errors.Is(err, backends.ErrBadRequest) {
		t.Fatalf("a location answering 404: %v, want a 400", err)
	}
	if img, _ := s.Image(ctx, "l1"); img.Status != backends.StatusQueued || len(img.Locations) != 0 {
		t.Fatalf("a refused patch changed the image: %+v", img)
	}
	img, err := s.UpdateImage(ctx, "l1", []backends.Change{
		change(backends.PatchAdd, []string{"locations", "-"}, `{"url":"`+srv.URL+`/image.img","metadata":{}}`),
		change(backends.PatchAdd, []string{"locations", "0"}, `{"url":"`+srv.URL+`/image.img?2","metadata":{"k":"v"}}`),
	})
	if err != nil {
		t.Fatal(err)
	}
	if img.Status != backends.StatusActive || img.Size == nil || *img.Size != int64(len(image)) || len(img.Locations) != 2 {
		t.Fatalf("after the patch: %+v", img)
	}
	s.Close()
	if s, err = Open(dir, Options{Fetcher: loopbackFetcher(t, srv), StoreName: "edge"}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	img, err = s.Image(ctx, "l1")
	if err != nil {
		t.Fatal(err)
	}
	want := []backends.Location{
		{URL: srv.URL + "/image.img?2", Metadata: map[string]string{"k": "v", "store": "edge"}, Status: "active"},
		{URL: srv.URL + "/image.img", Metadata: map[string]string{"store": "edge"}, Status: "active"},
	}
	if !reflect.DeepEqual(img.Locations, want) || img.Status != backends.StatusActive || len(img.Stores) != 1 || img.Stores[0] != "edge" {
		t.Fatalf("after a restart: %+v, want locations %+v", img, want)
	}
	d, err := s.OpenData(ctx, img)
	if err != nil {
		t.Fatal(err)
	}
	got, _ := io.ReadAll(io.NewSectionReader(d, 0, d.Size()))
	d.Close()
	if !bytes.Equal(got, image) {
		t.Errorf("data: %d bytes, want the location's %d", len(got), len(image))
	}
	if img, err = s.UpdateImage(ctx, "l1", []backends.Change{change(backends.PatchRemove, []string{"locations", "0"}, "")}); err != nil || len(img.Locations) != 1 || img.Locations[0].URL != srv.URL+"/image.img" {
		t.Fatalf("remove: %v %+v", err, img)
	}
}

// TestDataURL: an image whose data the store holds carries its file's
// URL (shown as its location, as Glance's file store), from the upload
// on and after a reopen; a queued image and a location image carry none.
func TestDataURL(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	s, err := Open(dir, Options{})
	if err != nil {
		t.Fatal(err)
	}
	create(t, s, "u", "p", "private")
	if got := cur(t, s, "u").DataURL; got != "" {
		t.Fatalf("queued image's DataURL %q", got)
	}
	if _, err := s.UploadData(ctx, "u", strings.NewReader("0123456789"), backends.UploadOptions{ExpectedSize: -1}); err != nil {
		t.Fatal(err)
	}
	want := "file://" + filepath.ToSlash(filepath.Join(dir, "images", "u"))
	if got := cur(t, s, "u").DataURL; got != want {
		t.Fatalf("DataURL %q, want %q", got, want)
	}
	if b, err := os.ReadFile(strings.TrimPrefix(want, "file://")); err != nil || string(b) != "0123456789" {
		t.Fatalf("the URL's file: %q %v", b, err)
	}
	s.Close()
	if s, err = Open(dir, Options{}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	if got := cur(t, s, "u").DataURL; got != want {
		t.Fatalf("DataURL after reopen %q, want %q", got, want)
	}
}
