package local

import (
	"bytes"
	"context"
	"crypto/md5"
	"crypto/sha512"
	"encoding/hex"
	"errors"
	"io"
	"strings"
	"testing"

	"github.com/spyglass-gateway/spyglass/backends"
)

func open(t testing.TB, opts Options) (*Store, string) {
	t.Helper()
	dir := t.TempDir()
	s, err := Open(dir, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s, dir
}

func sp(s string) *string { return &s }

func create(t testing.TB, s *Store, id, owner, vis string) *backends.Image {
	t.Helper()
	img, err := s.CreateImage(context.Background(), &backends.Image{ID: id, Owner: sp(owner), Visibility: vis,
		DiskFormat: sp("raw"), ContainerFormat: sp("bare")})
	if err != nil {
		t.Fatal(err)
	}
	return img
}

func wantErr(t *testing.T, err, kind error, msg string) {
	t.Helper()
	if !errors.Is(err, kind) {
		t.Fatalf("err = %v, want %v", err, kind)
	}
	if msg != "" && err.Error() != msg {
		t.Fatalf("message = %q, want %q", err.Error(), msg)
	}
}

func TestCreateShowDelete(t *testing.T) {
	ctx := context.Background()
	s, dir := open(t, Options{})
	img := create(t, s, "a1", "p1", "private")
	if got, want := img.Status, "queued"; got != want {
		t.Fatalf("status = %q, want %q", got, want)
	}
	if !img.CreatedAt.Equal(img.UpdatedAt) || img.CreatedAt.IsZero() {
		t.Fatalf("timestamps %v %v", img.CreatedAt, img.UpdatedAt)
	}
	_, err := s.CreateImage(ctx, &backends.Image{ID: "a1"})
	wantErr(t, err, backends.ErrConflict, "Image ID a1 already exists!")

	got, err := s.Image(ctx, "a1")
	if err != nil || got != img {
		t.Fatalf("Image = %v, %v; want the snapshot", got, err)
	}
	if n := testing.AllocsPerRun(100, func() { s.Image(ctx, "a1") }); n != 0 {
		t.Fatalf("Image allocates %v times", n)
	}

	// Protected images stay.
	p := true
	_ = p
	up, err := s.UpdateImage(ctx, "a1", []backends.Change{{Op: backends.PatchReplace, Path: []string{"protected"}, Value: []byte("true")}})
	if err != nil || !up.Protected {
		t.Fatalf("update: %v %v", up, err)
	}
	wantErr(t, s.DeleteImage(ctx, "a1"), backends.ErrForbidden, "Image a1 is protected and cannot be deleted.")
	if _, err := s.UpdateImage(ctx, "a1", []backends.Change{{Op: backends.PatchReplace, Path: []string{"protected"}, Value: []byte("false")}}); err != nil {
		t.Fatal(err)
	}
	if err := s.DeleteImage(ctx, "a1"); err != nil {
		t.Fatal(err)
	}
	_, err = s.Image(ctx, "a1")
	wantErr(t, err, backends.ErrNotFound, "")
	wantErr(t, s.DeleteImage(ctx, "a1"), backends.ErrNotFound, "")
	_, err = s.CreateImage(ctx, &backends.Image{ID: "a1"})
	wantErr(t, err, backends.ErrConflict, "Image ID a1 already exists!")

	// Everything survives a reopen.
	create(t, s, "b1", "p1", "shared")
	if err := s.AddTag(ctx, "b1", "x"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.AddMember(ctx, "b1", "p2"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.UpdateImage(ctx, "b1", []backends.Change{{Op: backends.PatchAdd, Path: []string{"k"}, Value: []byte(`"v"`)}}); err != nil {
		t.Fatal(err)
	}
	s.Close()
	s2, err := Open(dir, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s2.Close()
	b, err := s2.Image(ctx, "b1")
	if err != nil {
		t.Fatal(err)
	}
	if got, want := strings.Join(b.Tags, ","), "x"; got != want {
		t.Fatalf("tags %q want %q", got, want)
	}
	if got, want := b.Properties["k"], "v"; got != want {
		t.Fatalf("property %q want %q", got, want)
	}
	if m, err := s2.Member(ctx, "b1", "p2"); err != nil || m.Status != "pending" {
		t.Fatalf("member %v %v", m, err)
	}
	_, err = s2.CreateImage(ctx, &backends.Image{ID: "a1"})
	wantErr(t, err, backends.ErrConflict, "")
}

func TestStatusTransitions(t *testing.T) {
	ctx := context.Background()
	s, _ := open(t, Options{})
	create(t, s, "q", "p", "private")
	_, err := s.SetImageStatus(ctx, "q", "deactivated")
	wantErr(t, err, backends.ErrForbidden, "Not allowed to deactivate image in status 'queued'")
	_, err = s.SetImageStatus(ctx, "q", "active")
	wantErr(t, err, backends.ErrForbidden, "Not allowed to reactivate image in status 'queued'")
	if _, err := s.UploadData(ctx, "q", strings.NewReader("abc"), backends.UploadOptions{ExpectedSize: -1}); err != nil {
		t.Fatal(err)
	}
	for _, step := range []struct{ to, want string }{
		{"deactivated", "deactivated"}, {"deactivated", "deactivated"}, {"active", "active"}, {"active", "active"},
	} {
		img, err := s.SetImageStatus(ctx, "q", step.to)
		if err != nil {
			t.Fatal(err)
		}
		if got := img.Status; got != step.want {
			t.Fatalf("status %q want %q", got, step.want)
		}
	}
}

func TestTagsAndQuotas(t *testing.T) {
	ctx := context.Background()
	s, _ := open(t, Options{TagQuota: 2, PropertyQuota: 1, MemberQuota: 1})
	create(t, s, "i", "p", "shared")
	for _, tag := range []string{"a", "b", "a"} {
		if err := s.AddTag(ctx, "i", tag); err != nil {
			t.Fatal(err)
		}
	}
	wantErr(t, s.AddTag(ctx, "i", "c"), backends.ErrQuota, "")
	wantErr(t, s.AddTag(ctx, "i", strings.Repeat("x", 256)), backends.ErrBadRequest, "")
	wantErr(t, s.DeleteTag(ctx, "i", "zz"), backends.ErrNotFound, "")
	if err := s.DeleteTag(ctx, "i", "a"); err != nil {
		t.Fatal(err)
	}
	img, _ := s.Image(ctx, "i")
	if got, want := strings.Join(img.Tags, ","), "b"; got != want {
		t.Fatalf("tags %q want %q", got, want)
	}
	add := func(k string) error {
		_, err := s.UpdateImage(ctx, "i", []backends.Change{{Op: backends.PatchAdd, Path: []string{k}, Value: []byte(`"v"`)}})
		return err
	}
	if err := add("k1"); err != nil {
		t.Fatal(err)
	}
	wantErr(t, add("k2"), backends.ErrQuota, "The limit has been exceeded on the number of allowed image properties. Attempted: 2, Maximum: 1")

	if _, err := s.AddMember(ctx, "i", "m1"); err != nil {
		t.Fatal(err)
	}
	_, err := s.AddMember(ctx, "i", "m1")
	wantErr(t, err, backends.ErrConflict, "Member m1 is duplicated for image i")
	_, err = s.AddMember(ctx, "i", "m2")
	wantErr(t, err, backends.ErrQuota, "")
}

func TestMembers(t *testing.T) {
	ctx := context.Background()
	s, _ := open(t, Options{})
	create(t, s, "priv", "p", "private")
	_, err := s.AddMember(ctx, "priv", "m")
	wantErr(t, err, backends.ErrForbidden, "Only shared images have members.")
	create(t, s, "sh", "p", "shared")
	m, err := s.AddMember(ctx, "sh", "m")
	if err != nil || m.Status != "pending" {
		t.Fatalf("%v %v", m, err)
	}
	_, err = s.UpdateMember(ctx, "sh", "m", "bogus")
	wantErr(t, err, backends.ErrBadRequest, "")
	if m, err = s.UpdateMember(ctx, "sh", "m", "accepted"); err != nil || m.Status != "accepted" {
		t.Fatalf("%v %v", m, err)
	}
	ms, err := s.Members(ctx, "sh")
	if err != nil || len(ms) != 1 {
		t.Fatalf("%v %v", ms, err)
	}
	if err := s.DeleteMember(ctx, "sh", "m"); err != nil {
		t.Fatal(err)
	}
	_, err = s.Member(ctx, "sh", "m")
	wantErr(t, err, backends.ErrNotFound, "")
	wantErr(t, s.DeleteMember(ctx, "sh", "m"), backends.ErrNotFound, "")
}

func TestUpload(t *testing.T) {
	ctx := context.Background()
	s, _ := open(t, Options{SizeCap: 10})
	payload := []byte("0123456789")
	tests := []struct {
		name     string
		data     []byte
		expected int64
		kind     error
	}{
		{"too large", []byte("0123456789A"), -1, backends.ErrTooLarge},
		{"size mismatch", payload, 9, backends.ErrBadRequest},
		{"ok", payload, 10, nil},
	}
	create(t, s, "u", "p", "private")
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			img, err := s.UploadData(ctx, "u", bytes.NewReader(tt.data), backends.UploadOptions{ExpectedSize: tt.expected})
			if tt.kind != nil {
				wantErr(t, err, tt.kind, "")
				if got, want := cur(t, s, "u").Status, "queued"; got != want {
					t.Fatalf("status after failure %q want %q", got, want)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			md := md5.Sum(tt.data)
			sh := sha512.Sum512(tt.data)
			if img.Status != "active" || *img.Size != 10 || *img.Checksum != hex.EncodeToString(md[:]) ||
				*img.OSHashAlgo != "sha512" || *img.OSHashValue != hex.EncodeToString(sh[:]) ||
				strings.Join(img.Stores, ",") != "local" {
				t.Fatalf("image after upload: %+v", img)
			}
		})
	}
	_, err := s.UploadData(ctx, "u", bytes.NewReader(payload), backends.UploadOptions{ExpectedSize: -1})
	wantErr(t, err, backends.ErrConflict, "")
	d, err := s.OpenData(ctx, cur(t, s, "u"))
	if err != nil {
		t.Fatal(err)
	}
	got, _ := io.ReadAll(io.NewSectionReader(d, 0, d.Size()))
	d.Close()
	if !bytes.Equal(got, payload) {
		t.Fatalf("data %q", got)
	}

	if got, want := *cur(t, s, "u").VirtualSize, int64(10); got != want {
		t.Fatalf("virtual_size %d, want %d (raw)", got, want)
	}
	noFormats, err := s.CreateImage(ctx, &backends.Image{ID: "nf", DiskFormat: sp("raw")})
	if err != nil {
		t.Fatal(err)
	}
	_, err = s.UploadData(ctx, noFormats.ID, strings.NewReader("x"), backends.UploadOptions{ExpectedSize: -1})
	wantErr(t, err, backends.ErrBadRequest, "Property container_format must be set prior to saving data.")

	create(t, s, "empty", "p", "private")
	_, err = s.OpenData(ctx, cur(t, s, "empty"))
	wantErr(t, err, backends.ErrNoData, "")

	// A cancelled upload leaves the image queued.
	cctx, cancel := context.WithCancel(ctx)
	pr, pw := io.Pipe()
	go func() { pw.Write([]byte("abc")); cancel(); pw.Write([]byte("d")); pw.Close() }()
	_, err = s.UploadData(cctx, "empty", pr, backends.UploadOptions{ExpectedSize: -1})
	if err == nil {
		t.Fatal("cancelled upload succeeded")
	}
	if got, want := cur(t, s, "empty").Status, "queued"; got != want {
		t.Fatalf("status %q want %q", got, want)
	}
}

func cur(t testing.TB, s *Store, id string) *backends.Image {
	t.Helper()
	img, err := s.Image(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	return img
}
