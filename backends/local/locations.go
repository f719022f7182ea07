package local

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"net/url"
	"path/filepath"

	"github.com/spyglass-gateway/spyglass/backends"
)

// An image's locations: the image_locations rows, in order, loaded into
// the snapshots at Open and written with the image (writeImage). Today a
// location is an http(s) URL whose data httpstore reads (OpenData), set
// by v1's x-image-meta-location (AddLocation) or by a v2 patch of
// /locations (UpdateImage, sizeLocations).

func (s *Store) loadLocations() error {
	rows, err := s.rdb.Query(`SELECT image_id, value, meta_data, status FROM image_locations ORDER BY seq`)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		var id, meta string
		var l backends.Location
		if err := rows.Scan(&id, &l.URL, &meta, &l.Status); err != nil {
			return err
		}
		if meta != "" && meta != "{}" {
			if err := json.Unmarshal([]byte(meta), &l.Metadata); err != nil {
				return fmt.Errorf("image %s: location metadata: %w", id, err)
			}
		}
		if img := s.images[id]; img != nil {
			img.Locations = append(img.Locations, l)
		}
	}
	if err := rows.Err(); err != nil {
		return err
	}
	for _, img := range s.images {
		s.setDataURL(img)
	}
	return nil
}

// setDataURL sets img.DataURL, the file:// URL of its data file, when
// the image's data is this store's own: active or deactivated, with no
// location. Glance's file store records the same URL as the image's
// location (file:///var/lib/glance/images/<id>).
func (s *Store) setDataURL(img *backends.Image) {
	img.DataURL = ""
	if len(img.Locations) > 0 || (img.Status != backends.StatusActive && img.Status != backends.StatusDeactivated) {
		return
	}
	path := s.dataPath(img.ID)
	if abs, err := filepath.Abs(path); err == nil {
		path = abs
	}
	img.DataURL = (&url.URL{Scheme: "file", Path: filepath.ToSlash(path)}).String()
}

// writeLocations replaces the image's location rows with img.Locations.
func writeLocations(tx *sql.Tx, img *backends.Image) error {
	if _, err := tx.Exec(`DELETE FROM image_locations WHERE image_id=?`, img.ID); err != nil {
		return err
	}
	for _, l := range img.Locations {
		meta := "{}"
		if len(l.Metadata) > 0 {
			b, err := json.Marshal(l.Metadata)
			if err != nil {
				return err
			}
			meta = string(b)
		}
		status := l.Status
		if status == "" {
			status = "active"
		}
		if _, err := tx.Exec(`INSERT INTO image_locations (image_id, value, meta_data, status) VALUES (?,?,?,?)`,
			img.ID, l.URL, meta, status); err != nil {
			return err
		}
	}
	return nil
}

// AddLocation gives the queued image id its data at an http(s) location:
// the image becomes active, its size the one the location's server
// reports (a HEAD), its checksum opts.Checksum or none — the data is read
// from the location when it is downloaded, never copied here. As Queens'
// v1 create with x-image-meta-location (_handle_source), and Glance v2's
// first location added to a queued image.
//
// A URL the import filter refuses or that is not http(s) is ErrBadRequest;
// a location whose server answers 404 is ErrNotFound (glance_store's
// NotFound); an opts.Size that is not the location's is ErrConflict. An
// image that is not queued is ErrConflict; one without its formats
// ErrBadRequest.
func (s *Store) AddLocation(ctx context.Context, id string, loc backends.Location, opts backends.LocationOptions) (*backends.Image, error) {
	if (&backends.Image{Locations: []backends.Location{loc}}).HTTPLocation() == "" {
		return nil, backends.Errorf(backends.ErrBadRequest, "Invalid location "+loc.URL)
	}
	cur, err := s.get(id)
	if err != nil {
		return nil, err
	}
	if err := locationTarget(cur); err != nil {
		return nil, err
	}
	// The HEAD is made outside the write lock: a slow server delays no
	// other write. The image is checked again under it.
	size, err := s.http.Size(ctx, loc.URL)
	if err != nil {
		return nil, err
	}
	if opts.Size > 0 {
		// Queens: a store size of 0 usually means the driver could not
		// tell; the size given is then taken as it is.
		if size != 0 && size != opts.Size {
			return nil, backends.Errorf(backends.ErrConflict, fmt.Sprintf(
				"Provided image size must match the stored image size. (provided size: %d, stored size: %d)", opts.Size, size))
		}
		size = opts.Size
	}
	s.wmu.Lock()
	defer s.wmu.Unlock()
	if cur, err = s.get(id); err != nil {
		return nil, err
	}
	if err := locationTarget(cur); err != nil {
		return nil, err
	}
	img := cur.Clone()
	loc.Status = "active"
	img.Locations = append(img.Locations, loc)
	img.Status = backends.StatusActive
	img.Size = &size
	img.Checksum = opts.Checksum
	img.OSHashAlgo, img.OSHashValue = nil, nil
	img.Stores = []string{s.opts.StoreName}
	img.UpdatedAt = now()
	if err := s.tx(ctx, func(tx *sql.Tx) error {
		if err := writeStatus(tx, img); err != nil {
			return err
		}
		return writeLocations(tx, img)
	}); err != nil {
		return nil, err
	}
	s.swap(img)
	return img, nil
}

// locationTarget is what an image must be to take its first location.
func locationTarget(img *backends.Image) error {
	if img.Status != backends.StatusQueued {
		return backends.Errorf(backends.ErrConflict, fmt.Sprintf("Image status transition from %s to %s is not allowed", img.Status, backends.StatusActive))
	}
	return formatsSet(img)
}

// sizeLocations sizes the location URLs the changes add or set, for
// backends.ApplyChangesWith: nil when no change touches a shown
// /locations (the patch then changes no location). A URL that is not
// http(s), that the import filter refuses, or whose server does not
// answer a size is left out: an invalid location, as glance.location's
// _check_location_uri says of any store error.
func (s *Store) sizeLocations(ctx context.Context, changes []backends.Change) backends.LocationSizes {
	touched := false
	for i := range changes {
		if len(changes[i].Path) > 0 && changes[i].Path[0] == "locations" && changes[i].LocationsVisible {
			touched = true
		}
	}
	if !touched {
		return nil
	}
	sizes := backends.LocationSizes{}
	for _, u := range backends.LocationURLs(changes) {
		if _, done := sizes[u]; done {
			continue
		}
		if (&backends.Image{Locations: []backends.Location{{URL: u}}}).HTTPLocation() == "" || s.http == nil {
			sizes[u] = 0
			continue
		}
		n, err := s.http.Size(ctx, u)
		if err != nil {
			n = 0
		}
		sizes[u] = n
	}
	return sizes
}
