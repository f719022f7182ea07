package local

import (
	"context"
	"crypto/md5"
	"crypto/rand"
	"crypto/sha512"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/spyglass-gateway/spyglass/backends"
)

// crashHook, when set (tests only), is called at named points of a write
// so a test can kill the process there.
var crashHook func(point string)

func hook(point string) {
	if crashHook != nil {
		crashHook(point)
	}
}

// written is what streaming data to disk produced.
type written struct {
	tmp      string
	size     int64
	checksum string
	sha512   string
}

// errCanceled tells the caller the client went away; the image goes back.
var errCanceled = errors.New("upload canceled")

// ctxReader stops a copy when ctx is done, so a cancelled request does not
// keep writing.
type ctxReader struct {
	ctx context.Context
	r   io.Reader
}

func (c ctxReader) Read(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	return c.r.Read(p)
}

// streamToTemp copies r into a new temporary file in dir while hashing it,
// enforcing capBytes and expected (-1: unknown), and fsyncs it. On error the
// file is gone.
func streamToTemp(ctx context.Context, dir, id string, r io.Reader, capBytes, expected int64) (w written, err error) {
	var rnd [8]byte
	rand.Read(rnd[:])
	f, err := os.OpenFile(filepath.Join(dir, tmpPrefix+id+"-"+hex.EncodeToString(rnd[:])), os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o640)
	if err != nil {
		return w, err
	}
	w.tmp = f.Name()
	defer func() {
		if err != nil {
			f.Close()
			os.Remove(w.tmp)
		}
	}()
	md, sh := md5.New(), sha512.New()
	hook("stream-start")
	n, err := io.Copy(io.MultiWriter(f, md, sh), io.LimitReader(ctxReader{ctx, r}, capBytes+1))
	if err != nil {
		if ctx.Err() != nil {
			return w, fmt.Errorf("%w: %w", errCanceled, ctx.Err())
		}
		return w, err
	}
	if n > capBytes {
		return w, backends.Errorf(backends.ErrTooLarge, "The provided image is too large.")
	}
	if expected >= 0 && n != expected {
		return w, backends.SizeMismatch(expected, n)
	}
	if err := f.Sync(); err != nil {
		return w, err
	}
	if err := f.Close(); err != nil {
		return w, err
	}
	w.size = n
	w.checksum = hex.EncodeToString(md.Sum(nil))
	w.sha512 = hexSum(sh)
	return w, nil
}

func hexSum(h hash.Hash) string { return hex.EncodeToString(h.Sum(nil)) }

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

func (s *Store) capFor(opts backends.UploadOptions) int64 {
	c := s.opts.SizeCap
	if opts.SizeCap > 0 && opts.SizeCap < c {
		c = opts.SizeCap
	}
	return c
}

// begin moves a queued image to status (saving or uploading), persisted so
// a crash leaves evidence that Open repairs.
func (s *Store) begin(ctx context.Context, id, status string) error {
	s.wmu.Lock()
	defer s.wmu.Unlock()
	cur, err := s.get(id)
	if err != nil {
		return err
	}
	if cur.Status != backends.StatusQueued {
		return backends.Errorf(backends.ErrConflict, fmt.Sprintf("Image status transition from %s to %s is not allowed", cur.Status, status))
	}
	if status != backends.StatusUploading {
		if err := formatsSet(cur); err != nil {
			return err
		}
	}
	img := cur.Clone()
	img.Status = status
	img.UpdatedAt = now()
	if err := s.tx(ctx, func(tx *sql.Tx) error { return writeStatus(tx, img) }); err != nil {
		return err
	}
	s.swap(img)
	return nil
}

// formatsSet is the check of Glance's Image.status setter: data may only
// be saved or imported once both formats are set.
func formatsSet(img *backends.Image) error {
	var missing []string
	if img.DiskFormat == nil || *img.DiskFormat == "" {
		missing = append(missing, "disk_format")
	}
	if img.ContainerFormat == nil || *img.ContainerFormat == "" {
		missing = append(missing, "container_format")
	}
	switch len(missing) {
	case 0:
		return nil
	case 1:
		return backends.Errorf(backends.ErrBadRequest, "Property "+missing[0]+" must be set prior to saving data.")
	}
	return backends.Errorf(backends.ErrBadRequest, "Properties "+strings.Join(missing, ", ")+" must be set prior to saving data.")
}

// revert puts an image that is still in status `from` back to `to`.
func (s *Store) revert(id, from, to string) {
	s.wmu.Lock()
	defer s.wmu.Unlock()
	cur, err := s.get(id)
	if err != nil || cur.Status != from {
		return
	}
	img := cur.Clone()
	img.Status = to
	img.UpdatedAt = now()
	if s.tx(context.Background(), func(tx *sql.Tx) error { return writeStatus(tx, img) }) == nil {
		s.swap(img)
	}
}

// UploadData streams r into the image (PUT /file): queued → saving →
// active. The data goes to a temporary file, is fsynced and renamed into
// place before one transaction marks the image active; any failure (or a
// crash, repaired by Open) leaves the image queued.
func (s *Store) UploadData(ctx context.Context, id string, r io.Reader, opts backends.UploadOptions) (*backends.Image, error) {
	if err := s.begin(ctx, id, backends.StatusSaving); err != nil {
		return nil, err
	}
	img, err := s.ingest(ctx, id, r, s.capFor(opts), opts.ExpectedSize, backends.StatusSaving)
	if err != nil {
		s.revert(id, backends.StatusSaving, backends.StatusQueued)
		return nil, err
	}
	return img, nil
}

// ingest writes r as the data of image id, which is in status from, and
// makes the image active.
func (s *Store) ingest(ctx context.Context, id string, r io.Reader, capBytes, expected int64, from string) (*backends.Image, error) {
	dir := filepath.Join(s.dir, "images")
	w, err := streamToTemp(ctx, dir, id, r, capBytes, expected)
	if err != nil {
		return nil, err
	}
	final := s.dataPath(id)
	if err := os.Rename(w.tmp, final); err != nil {
		os.Remove(w.tmp)
		return nil, err
	}
	if err := syncDir(dir); err != nil {
		os.Remove(final)
		return nil, err
	}
	hook("renamed")
	s.wmu.Lock()
	defer s.wmu.Unlock()
	cur, err := s.get(id)
	if err != nil || cur.Status != from {
		// Deleted (or changed) while the data was streaming.
		os.Remove(final)
		if err == nil {
			err = backends.Errorf(backends.ErrConflict, fmt.Sprintf("Image status transition from %s to active is not allowed", cur.Status))
		}
		return nil, err
	}
	img := cur.Clone()
	img.Status = backends.StatusActive
	size, algo := w.size, "sha512"
	img.Size, img.Checksum, img.OSHashAlgo, img.OSHashValue = &size, &w.checksum, &algo, &w.sha512
	img.Stores = []string{s.opts.StoreName}
	// Glance's format inspector gives raw data its own size as the virtual
	// size (and leaves an empty image's unset).
	if img.DiskFormat != nil && *img.DiskFormat == "raw" && size > 0 && img.VirtualSize == nil {
		vs := size
		img.VirtualSize = &vs
	}
	img.UpdatedAt = now()
	if err := s.tx(ctx, func(tx *sql.Tx) error { return writeStatus(tx, img) }); err != nil {
		os.Remove(final)
		return nil, err
	}
	s.swap(img)
	return img, nil
}

// StageData streams r into the staging area (PUT /stage): queued →
// uploading. The staged file is renamed into place before the status is
// committed; a cut-off stage leaves the image queued.
func (s *Store) StageData(ctx context.Context, id string, r io.Reader, opts backends.UploadOptions) (*backends.Image, error) {
	if err := s.begin(ctx, id, backends.StatusUploading); err != nil {
		return nil, err
	}
	fail := func(err error) (*backends.Image, error) {
		s.revert(id, backends.StatusUploading, backends.StatusQueued)
		return nil, err
	}
	dir := filepath.Join(s.dir, "staging")
	w, err := streamToTemp(ctx, dir, id, r, s.capFor(opts), opts.ExpectedSize)
	if err != nil {
		return fail(err)
	}
	if err := os.Rename(w.tmp, s.stagingPath(id)); err != nil {
		os.Remove(w.tmp)
		return fail(err)
	}
	if err := syncDir(dir); err != nil {
		return fail(err)
	}
	// Glance records the staged size on the image.
	s.wmu.Lock()
	defer s.wmu.Unlock()
	cur, err := s.get(id)
	if err != nil {
		os.Remove(s.stagingPath(id))
		return nil, err
	}
	img := cur.Clone()
	size := w.size
	img.Size = &size
	img.UpdatedAt = now()
	if err := s.tx(ctx, func(tx *sql.Tx) error { return writeStatus(tx, img) }); err != nil {
		return nil, err
	}
	s.swap(img)
	return img, nil
}

// fileData is an image's data file, opened.
type fileData struct {
	f    *os.File
	size int64
}

func (d *fileData) ReadAt(p []byte, off int64) (int, error) { return d.f.ReadAt(p, off) }
func (d *fileData) Close() error                            { return d.f.Close() }
func (d *fileData) Size() int64                             { return d.size }

// File exposes the open file, which is this Data's own: the gateway hands it
// to fasthttp, which sends it with sendfile and closes it (closing the file
// is closing the Data).
func (d *fileData) File() *os.File { return d.f }

// OpenData opens the data of img, a record of this store the caller
// resolved. An image without data (queued, saving, uploading, importing) is
// backends.ErrNoData, which the gateway answers with 204 as Glance does.
// An active image's data never changes, so the record's size is the file's.
func (s *Store) OpenData(ctx context.Context, img *backends.Image) (backends.Data, error) {
	if !img.HasData() {
		return nil, backends.ErrNoData
	}
	if u := img.HTTPLocation(); u != "" {
		// Read-only, where it lives (httpstore): never a file here.
		return s.http.Open(u, *img.Size), nil
	}
	id := img.ID
	f, err := os.Open(s.dataPath(id))
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			// Deleted meanwhile.
			return nil, notFound(id)
		}
		return nil, err
	}
	return &fileData{f: f, size: *img.Size}, nil
}

// Unimport takes an active image back to queued with no data: Glance's
// revert of an import that had to reach every store and did not (the
// image back to queued, its location removed). The data file is removed
// after the record no longer names it.
func (s *Store) Unimport(ctx context.Context, id string) (*backends.Image, error) {
	s.wmu.Lock()
	defer s.wmu.Unlock()
	cur, err := s.get(id)
	if err != nil {
		return nil, err
	}
	if cur.Status != backends.StatusActive {
		return nil, backends.Errorf(backends.ErrConflict, fmt.Sprintf("Image status transition from %s to queued is not allowed", cur.Status))
	}
	img := cur.Clone()
	img.Status = backends.StatusQueued
	img.Size, img.VirtualSize, img.Checksum, img.OSHashAlgo, img.OSHashValue = nil, nil, nil, nil, nil
	img.Stores = nil
	img.UpdatedAt = now()
	if err := s.tx(ctx, func(tx *sql.Tx) error { return writeStatus(tx, img) }); err != nil {
		return nil, err
	}
	s.swap(img)
	os.Remove(s.dataPath(id))
	return img, nil
}
