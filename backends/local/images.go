package local

import (
	"context"
	"database/sql"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/spyglass-gateway/spyglass/backends"
)

// Image returns the snapshot of a live image. It neither touches SQL nor
// allocates.
func (s *Store) Image(ctx context.Context, id string) (*backends.Image, error) {
	s.mu.RLock()
	img := s.images[id]
	s.mu.RUnlock()
	if img == nil {
		return nil, notFound(id)
	}
	return img, nil
}

func notFound(id string) error {
	return backends.Errorf(backends.ErrNotFound, fmt.Sprintf("No image found with ID %s", id))
}

// get is Image for writers, with Glance's message.
func (s *Store) get(id string) (*backends.Image, error) {
	s.mu.RLock()
	img := s.images[id]
	s.mu.RUnlock()
	if img == nil {
		return nil, notFound(id)
	}
	return img, nil
}

func (s *Store) swap(img *backends.Image) {
	s.setDataURL(img)
	s.mu.Lock()
	s.images[img.ID] = img
	s.mu.Unlock()
}

// tx runs fn in one write transaction on the writer connection.
func (s *Store) tx(ctx context.Context, fn func(tx *sql.Tx) error) error {
	// A write that has begun is finished even if the client goes away, so
	// that the database and the snapshots never disagree.
	tx, err := s.wdb.BeginTx(context.WithoutCancel(ctx), nil)
	if err != nil {
		return err
	}
	if err := fn(tx); err != nil {
		tx.Rollback()
		return err
	}
	// Work this write started is this process's (shared.go).
	if err := s.claim(tx); err != nil {
		tx.Rollback()
		return err
	}
	return tx.Commit()
}

func nullStr(p *string) any {
	if p == nil {
		return nil
	}
	return *p
}

func nullInt(p *int64) any {
	if p == nil {
		return nil
	}
	return *p
}

// writeImage stores the whole image: row, properties and tags.
func writeImage(tx *sql.Tx, img *backends.Image, insert bool) error {
	args := []any{nullStr(img.Name), img.Status, img.Visibility, img.Protected, img.OSHidden,
		nullStr(img.Owner), nullStr(img.Checksum), nullStr(img.OSHashAlgo), nullStr(img.OSHashValue),
		nullInt(img.Size), nullInt(img.VirtualSize), img.MinDisk, img.MinRAM,
		nullStr(img.ContainerFormat), nullStr(img.DiskFormat), micros(img.CreatedAt), micros(img.UpdatedAt),
		strings.Join(img.Stores, ","), img.ID}
	q := `UPDATE images SET name=?, status=?, visibility=?, protected=?, os_hidden=?, owner=?,
		checksum=?, os_hash_algo=?, os_hash_value=?, size=?, virtual_size=?, min_disk=?, min_ram=?,
		container_format=?, disk_format=?, created_at=?, updated_at=?, stores=? WHERE id=?`
	if insert {
		q = `INSERT INTO images (name, status, visibility, protected, os_hidden, owner, checksum,
			os_hash_algo, os_hash_value, size, virtual_size, min_disk, min_ram, container_format,
			disk_format, created_at, updated_at, stores, id) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)`
	}
	if _, err := tx.Exec(q, args...); err != nil {
		return err
	}
	return writeExtras(tx, img)
}

func writeExtras(tx *sql.Tx, img *backends.Image) error {
	if _, err := tx.Exec(`DELETE FROM image_properties WHERE image_id=?`, img.ID); err != nil {
		return err
	}
	for k, v := range img.Properties {
		if _, err := tx.Exec(`INSERT INTO image_properties (image_id, name, value) VALUES (?,?,?)`, img.ID, k, v); err != nil {
			return err
		}
	}
	if _, err := tx.Exec(`DELETE FROM image_tags WHERE image_id=?`, img.ID); err != nil {
		return err
	}
	for _, t := range img.Tags {
		if _, err := tx.Exec(`INSERT OR IGNORE INTO image_tags (image_id, value) VALUES (?,?)`, img.ID, t); err != nil {
			return err
		}
	}
	return nil
}

// writeStatus stores only what an upload changes.
func writeStatus(tx *sql.Tx, img *backends.Image) error {
	_, err := tx.Exec(`UPDATE images SET status=?, checksum=?, os_hash_algo=?, os_hash_value=?,
		size=?, virtual_size=?, updated_at=?, stores=? WHERE id=?`,
		img.Status, nullStr(img.Checksum), nullStr(img.OSHashAlgo), nullStr(img.OSHashValue),
		nullInt(img.Size), nullInt(img.VirtualSize), micros(img.UpdatedAt), strings.Join(img.Stores, ","), img.ID)
	return err
}

func (s *Store) checkQuotas(img *backends.Image) error {
	if q := s.opts.PropertyQuota; q >= 0 && len(img.Properties) > q {
		return backends.Errorf(backends.ErrQuota, fmt.Sprintf(
			"The limit has been exceeded on the number of allowed image properties. Attempted: %d, Maximum: %d",
			len(img.Properties), q))
	}
	if q := s.opts.TagQuota; q >= 0 && len(img.Tags) > q {
		return backends.Errorf(backends.ErrQuota, fmt.Sprintf(
			"The limit has been exceeded on the number of allowed image tags. Attempted: %d, Maximum: %d",
			len(img.Tags), q))
	}
	return nil
}

// CreateImage stores a new image as the gateway built it, queued, with
// both timestamps now. An id in use, or once used by a deleted image, is
// ErrConflict.
func (s *Store) CreateImage(ctx context.Context, in *backends.Image) (*backends.Image, error) {
	img := in.Clone()
	img.Status = backends.StatusQueued
	img.CreatedAt = now()
	img.UpdatedAt = img.CreatedAt
	img.Stores = nil
	img.Tags = dedupe(img.Tags)
	if img.Visibility == "" {
		img.Visibility = backends.VisibilityShared
	}
	if err := s.checkQuotas(img); err != nil {
		return nil, err
	}
	if err := backends.CheckImageText(img, nil); err != nil {
		return nil, err
	}
	s.wmu.Lock()
	defer s.wmu.Unlock()
	dup := backends.Errorf(backends.ErrConflict, fmt.Sprintf("Image ID %s already exists!", img.ID))
	if _, err := s.get(img.ID); err == nil {
		return nil, dup
	}
	err := s.tx(ctx, func(tx *sql.Tx) error {
		var n int
		if err := tx.QueryRow(`SELECT COUNT(*) FROM deleted_images WHERE id=?`, img.ID).Scan(&n); err != nil {
			return err
		}
		if n > 0 {
			return dup
		}
		return writeImage(tx, img, true)
	})
	if err != nil {
		return nil, err
	}
	s.swap(img)
	return img, nil
}

func dedupe(tags []string) []string {
	if len(tags) < 2 {
		return tags
	}
	out := tags[:0:0]
	seen := make(map[string]bool, len(tags))
	for _, t := range tags {
		if !seen[t] {
			seen[t] = true
			out = append(out, t)
		}
	}
	return out
}

// UpdateImage applies a JSON patch (Glance's semantics, see
// backends.ApplyChanges) atomically and enforces the quotas.
//
// Changes of /locations (shown: Change.LocationsVisible) have their URLs
// sized by a HEAD each before the write lock is taken (sizeLocations), so
// a slow location server delays no other write; the image's status and
// data fields change only through them.
func (s *Store) UpdateImage(ctx context.Context, id string, changes []backends.Change) (*backends.Image, error) {
	sizes := s.sizeLocations(ctx, changes)
	s.wmu.Lock()
	defer s.wmu.Unlock()
	cur, err := s.get(id)
	if err != nil {
		return nil, err
	}
	img, err := backends.ApplyChangesWith(cur, changes, sizes, s.opts.StoreName)
	if err != nil {
		return nil, err
	}
	if img == cur {
		img = cur.Clone()
	}
	img.ID, img.CreatedAt = cur.ID, cur.CreatedAt
	locs := sizes != nil
	if !locs {
		img.Status = cur.Status
	}
	img.Tags = dedupe(img.Tags)
	if err := s.checkQuotas(img); err != nil {
		return nil, err
	}
	if err := backends.CheckImageText(img, cur); err != nil {
		return nil, err
	}
	img.UpdatedAt = now()
	if err := s.tx(ctx, func(tx *sql.Tx) error {
		if err := writeImage(tx, img, false); err != nil {
			return err
		}
		if locs {
			return writeLocations(tx, img)
		}
		return nil
	}); err != nil {
		return nil, err
	}
	s.swap(img)
	return img, nil
}

// SetImageStatus deactivates or reactivates an image as Glance's domain
// model allows.
func (s *Store) SetImageStatus(ctx context.Context, id, status string) (*backends.Image, error) {
	s.wmu.Lock()
	defer s.wmu.Unlock()
	cur, err := s.get(id)
	if err != nil {
		return nil, err
	}
	switch status {
	case backends.StatusDeactivated:
		switch cur.Status {
		case backends.StatusDeactivated:
			return cur, nil
		case backends.StatusActive:
		default:
			return nil, backends.Errorf(backends.ErrForbidden, fmt.Sprintf("Not allowed to deactivate image in status '%s'", cur.Status))
		}
	case backends.StatusActive:
		switch cur.Status {
		case backends.StatusActive:
			return cur, nil
		case backends.StatusDeactivated:
		default:
			return nil, backends.Errorf(backends.ErrForbidden, fmt.Sprintf("Not allowed to reactivate image in status '%s'", cur.Status))
		}
	case backends.StatusKilled:
		// v1 copy-from's safe_kill: an image whose data never came. No
		// v2 action asks for it.
		switch cur.Status {
		case backends.StatusKilled:
			return cur, nil
		case backends.StatusQueued, backends.StatusSaving:
		default:
			return nil, backends.Errorf(backends.ErrConflict, fmt.Sprintf("Image status transition from %s to %s is not allowed", cur.Status, status))
		}
	default:
		return nil, backends.Errorf(backends.ErrBadRequest, fmt.Sprintf("Image status transition from %s to %s is not allowed", cur.Status, status))
	}
	img := cur.Clone()
	img.Status = status
	img.UpdatedAt = now()
	if err := s.tx(ctx, func(tx *sql.Tx) error { return writeStatus(tx, img) }); err != nil {
		return nil, err
	}
	s.swap(img)
	return img, nil
}

// DeleteImage deletes an image, its data, members, tags and properties;
// its id stays taken. Protected images are ErrForbidden.
// ForgetDeleted lets a deleted image's id be created again, which Glance
// never allows (it keeps deleted rows until they are purged). A federation
// uses it when an image it moved to another region leaves this one: the
// image has not ended, and may be copied back under its id.
func (s *Store) ForgetDeleted(ctx context.Context, id string) error {
	s.wmu.Lock()
	defer s.wmu.Unlock()
	return s.tx(ctx, func(tx *sql.Tx) error {
		_, err := tx.Exec(`DELETE FROM deleted_images WHERE id=?`, id)
		return err
	})
}

func (s *Store) DeleteImage(ctx context.Context, id string) error {
	s.wmu.Lock()
	defer s.wmu.Unlock()
	cur, err := s.get(id)
	if err != nil {
		return err
	}
	if cur.Protected {
		return backends.Errorf(backends.ErrForbidden, fmt.Sprintf("Image %s is protected and cannot be deleted.", id))
	}
	err = s.tx(ctx, func(tx *sql.Tx) error {
		for _, q := range []string{
			`DELETE FROM images WHERE id=?`,
			`DELETE FROM image_properties WHERE image_id=?`,
			`DELETE FROM image_tags WHERE image_id=?`,
			`DELETE FROM image_members WHERE image_id=?`,
			`DELETE FROM image_locations WHERE image_id=?`,
		} {
			if _, err := tx.Exec(q, id); err != nil {
				return err
			}
		}
		_, err := tx.Exec(`INSERT OR REPLACE INTO deleted_images (id, deleted_at) VALUES (?,?)`, id, micros(time.Now()))
		return err
	})
	if err != nil {
		return err
	}
	s.mu.Lock()
	delete(s.images, id)
	delete(s.members, id)
	s.mu.Unlock()
	// After the commit: a crash before these leaves orphans that Open
	// removes.
	os.Remove(s.dataPath(id))
	os.Remove(s.stagingPath(id))
	return nil
}

// AddTag adds a tag; adding one the image has is a no-op.
func (s *Store) AddTag(ctx context.Context, id, tag string) error {
	if len(tag) > 255 {
		return backends.Errorf(backends.ErrBadRequest, fmt.Sprintf("Provided object does not match schema 'image': '%[1]s' is too long\n\n"+
			"Failed validating 'maxLength' in schema['properties']['tags']['items']:\n    {'maxLength': 255, 'type': 'string'}\n\n"+
			"On instance['tags'][0]:\n    '%[1]s'", tag))
	}
	s.wmu.Lock()
	defer s.wmu.Unlock()
	cur, err := s.get(id)
	if err != nil {
		return err
	}
	for _, t := range cur.Tags {
		if t == tag {
			return nil
		}
	}
	img := cur.Clone()
	img.Tags = append(img.Tags, tag)
	if q := s.opts.TagQuota; q >= 0 && len(img.Tags) > q {
		return backends.Errorf(backends.ErrQuota, fmt.Sprintf(
			"Image tag limit exceeded for image %s: The limit has been exceeded on the number of allowed image tags. Attempted: %d, Maximum: %d:",
			id, len(img.Tags), q))
	}
	img.UpdatedAt = now()
	err = s.tx(ctx, func(tx *sql.Tx) error {
		if _, err := tx.Exec(`INSERT OR IGNORE INTO image_tags (image_id, value) VALUES (?,?)`, id, tag); err != nil {
			return err
		}
		_, err := tx.Exec(`UPDATE images SET updated_at=? WHERE id=?`, micros(img.UpdatedAt), id)
		return err
	})
	if err != nil {
		return err
	}
	s.swap(img)
	return nil
}

// DeleteTag removes a tag; a tag the image lacks is ErrNotFound.
func (s *Store) DeleteTag(ctx context.Context, id, tag string) error {
	s.wmu.Lock()
	defer s.wmu.Unlock()
	cur, err := s.get(id)
	if err != nil {
		return err
	}
	img := cur.Clone()
	img.Tags = img.Tags[:0]
	for _, t := range cur.Tags {
		if t != tag {
			img.Tags = append(img.Tags, t)
		}
	}
	if len(img.Tags) == len(cur.Tags) {
		return backends.ErrNotFound // Glance: webob's default explanation
	}
	img.UpdatedAt = now()
	err = s.tx(ctx, func(tx *sql.Tx) error {
		if _, err := tx.Exec(`DELETE FROM image_tags WHERE image_id=? AND value=?`, id, tag); err != nil {
			return err
		}
		_, err := tx.Exec(`UPDATE images SET updated_at=? WHERE id=?`, micros(img.UpdatedAt), id)
		return err
	})
	if err != nil {
		return err
	}
	s.swap(img)
	return nil
}
