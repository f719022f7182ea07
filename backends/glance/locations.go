package glance

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/spyglass-gateway/spyglass/backends"
)

// Image locations on a Glance region. Glance 25 holds an http(s) location
// (v2's PATCH of /locations, Queens' x-image-meta-location) only when its
// operator turned on show_multiple_locations ([DEFAULT], deprecated, off
// by default) and enabled glance_store's http store (enabled_backends =
// ..., name:http). Neither is in the Images API as such, so the region is
// asked what it does, never configured twice:
//
//   - show_multiple_locations: Glance renders `locations` on every image
//     document with it, on none without it; every document the region
//     sends says so (sawLocations), and the answer follows the region's
//     configuration as it changes.
//   - the http store: GET /v2/info/stores lists it read-only (Glance
//     marks exactly the http stores so). The answer is kept for
//     storesTTL. A single-store Glance (no enabled_backends) answers 404
//     there: its [glance_store] stores cannot be seen, and it is taken as
//     holding no locations.
//
// A location image's data is then the region's like any other image's:
// the gateway reads it from the region (whose http store reads the URL),
// through the blob cache when the image has a checksum to verify; the
// gateway does not fetch a Glance region's location URLs itself, since a
// location set at the region directly never passed the gateway's
// import_filtering.

// storesTTL is how long a region's store list is believed.
const storesTTL = 5 * time.Minute

// storesInfo is the region's http store, as GET /v2/info/stores last said.
type storesInfo struct {
	mu   sync.Mutex
	at   time.Time // zero: never asked successfully
	http bool
}

const (
	showsUnknown int32 = iota
	showsLocations
	hidesLocations
)

// sawLocations records whether an image document carried locations.
func (r *Region) sawLocations(shown bool) {
	v := hidesLocations
	if shown {
		v = showsLocations
	}
	if r.shows.Load() != v {
		r.shows.Store(v)
	}
}

// HoldsLocations reports whether the region takes http(s) locations
// (show_multiple_locations and an http store, see above). It asks the
// region, as the caller, what it does not know yet: one image listed when
// no image document came from it so far, its stores every storesTTL. A
// region that cannot answer holds none (this time).
func (r *Region) HoldsLocations(ctx context.Context) bool {
	if r.shows.Load() == showsUnknown {
		if _, err := r.ListImages(ctx, &backends.ListQuery{Limit: 1}); err != nil {
			return false
		}
	}
	if r.shows.Load() != showsLocations {
		return false
	}
	return r.httpStore(ctx)
}

func (r *Region) httpStore(ctx context.Context) bool {
	r.stores.mu.Lock()
	defer r.stores.mu.Unlock()
	if !r.stores.at.IsZero() && time.Since(r.stores.at) < storesTTL {
		return r.stores.http
	}
	body, _, err := r.call(lookupCtx(ctx), "GET", "/v2/info/stores", nil, "", 200)
	switch {
	case errors.Is(err, backends.ErrNotFound): // single store: cannot tell
		r.stores.at, r.stores.http = time.Now(), false
	case err != nil:
		return false
	default:
		var doc struct {
			Stores []struct {
				ReadOnly string `json:"read-only"`
			} `json:"stores"`
		}
		if json.Unmarshal(body, &doc) != nil {
			return false
		}
		r.stores.at, r.stores.http = time.Now(), false
		for _, s := range doc.Stores {
			if s.ReadOnly == "true" {
				r.stores.http = true
			}
		}
	}
	return r.stores.http
}

// AddLocation gives the queued image id its data at loc in the region:
// one JSON patch adding the location, after which Glance has the image
// active with the size its http store found (a HEAD), as Queens' v1
// create with x-image-meta-location did. An image that is not queued is
// ErrConflict (the embedded store's words); the region's own refusals
// (an unreachable URL: "Invalid location") are its answer. opts.Size,
// when given, must be the size the region found (ErrConflict, Queens'
// words; the image is then active at the location all the same).
// opts.Checksum is not kept: v2 sets a checksum only with an sha512
// (validation_data), which a v1 client does not give.
func (r *Region) AddLocation(ctx context.Context, id string, loc backends.Location, opts backends.LocationOptions) (*backends.Image, error) {
	cur, err := r.Image(ctx, id)
	if err != nil {
		return nil, err
	}
	if cur.Status != backends.StatusQueued {
		return nil, backends.Errorf(backends.ErrConflict, fmt.Sprintf("Image status transition from %s to %s is not allowed", cur.Status, backends.StatusActive))
	}
	md := loc.Metadata
	if md == nil {
		md = map[string]string{}
	}
	patch, err := json.Marshal([]map[string]any{{
		"op": "add", "path": "/locations/-", "value": map[string]any{"url": loc.URL, "metadata": md},
	}})
	if err != nil {
		return nil, err
	}
	body, _, err := r.call(ctx, "PATCH", imagePath(id), patch, "application/openstack-images-v2.1-json-patch", 200)
	if err != nil {
		return nil, err
	}
	img, err := r.image(body)
	if err != nil {
		return nil, err
	}
	if opts.Size > 0 && img.Size != nil && *img.Size != 0 && *img.Size != opts.Size {
		return img, backends.Errorf(backends.ErrConflict, fmt.Sprintf(
			"Provided image size must match the stored image size. (provided size: %d, stored size: %d)", opts.Size, *img.Size))
	}
	return img, nil
}

// hiddenLocations refuses a change of /locations the gateway does not
// show (its api.show_multiple_locations off), with the words Glance uses
// when its own are hidden: a region that shows them would otherwise take
// a change the gateway's clients are told cannot be made.
func hiddenLocations(changes []backends.Change) error {
	for i := range changes {
		c := &changes[i]
		if len(c.Path) == 0 || c.Path[0] != "locations" || c.LocationsVisible {
			continue
		}
		verb := "add"
		switch c.Op {
		case backends.PatchRemove:
			verb = "remove"
		case backends.PatchReplace:
			verb = "update"
		}
		return backends.Errorf(backends.ErrForbidden, "It's not allowed to "+verb+" locations if locations are invisible.")
	}
	return nil
}
