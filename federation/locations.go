package federation

import (
	"context"

	"github.com/spyglass-gateway/spyglass/backends"
)

// ImageLocations is the optional capability of a region whose images can
// have their data at a location outside it (an http URL it reads
// through backends/httpstore): the embedded store. A remote Glance 25 has
// not got it here: it takes locations only with show_multiple_locations,
// which is off by default and deprecated, and it would then serve the
// bytes itself; Spyglass keeps such images in an embedded region instead.
type ImageLocations interface {
	AddLocation(ctx context.Context, id string, loc backends.Location, opts backends.LocationOptions) (*backends.Image, error)
}

// AddLocation gives the queued image id its data at loc in its region,
// or, when that region serves no locations (a remote Glance), in the
// first region that does, where the image moves first (as an upload to
// another store moves it). With no such region it is ErrBadRequest.
func (c *Catalog) AddLocation(ctx context.Context, id string, loc backends.Location, opts backends.LocationOptions) (*backends.Image, error) {
	_, s, err := c.place(ctx, id, primaryCopy)
	if err != nil {
		return nil, err
	}
	dst := s.primary()
	if _, ok := c.regions[dst].cached.region.Data.(ImageLocations); !ok {
		dst = -1
		for i, r := range c.regions {
			if _, ok := r.cached.region.Data.(ImageLocations); ok {
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
