package federation

import (
	"context"

	"github.com/spyglass-gateway/spyglass/backends"
)

// ImageLocations is the optional capability of a region whose images can
// have their data at a location outside it (an http URL): the embedded
// store (which reads it through backends/httpstore), and a remote Glance
// 25 (whose http store reads it), which holds locations only when its
// operator turned on show_multiple_locations and an http store: such a
// region says whether it does (LocationHolder).
type ImageLocations interface {
	AddLocation(ctx context.Context, id string, loc backends.Location, opts backends.LocationOptions) (*backends.Image, error)
}

// LocationHolder is the optional capability of an ImageLocations region
// that may refuse locations: HoldsLocations reports whether it takes them
// now (a remote Glance asks the region, and remembers). A region without
// it always holds them.
type LocationHolder interface {
	HoldsLocations(ctx context.Context) bool
}

// holdsLocations reports whether region r takes a location now.
func (c *Catalog) holdsLocations(ctx context.Context, r int) bool {
	d := c.regions[r].cached.region.Data
	if _, ok := d.(ImageLocations); !ok {
		return false
	}
	h, ok := d.(LocationHolder)
	return !ok || h.HoldsLocations(ctx)
}

// AddLocation gives the queued image id its data at loc in its region,
// or, when that region holds no locations (a Glance region without
// show_multiple_locations and an http store), in the first region that
// does, where the image moves first (as an upload to another store moves
// it). With no such region it is ErrBadRequest.
func (c *Catalog) AddLocation(ctx context.Context, id string, loc backends.Location, opts backends.LocationOptions) (*backends.Image, error) {
	_, s, err := c.place(ctx, id, primaryCopy)
	if err != nil {
		return nil, err
	}
	dst := s.primary()
	if !c.holdsLocations(ctx, dst) {
		dst = -1
		for i := range c.regions {
			if i != s.primary() && c.holdsLocations(ctx, i) {
				dst = i
				break
			}
		}
		if dst < 0 {
			return nil, backends.Errorf(backends.ErrBadRequest, "No store of this Images API serves image locations: upload the data instead.")
		}
		if err := c.move(ctx, id, s.primary(), dst); err != nil {
			return nil, err
		}
	}
	return c.regions[dst].cached.AddLocation(ctx, id, loc, opts)
}

// AddLocation is the region's, its cached record then invalidated.
func (c *cachedRegion) AddLocation(ctx context.Context, id string, loc backends.Location, opts backends.LocationOptions) (*backends.Image, error) {
	img, err := c.region.Data.(ImageLocations).AddLocation(ctx, id, loc, opts)
	c.written(ctx, id, img)
	return img, err
}
