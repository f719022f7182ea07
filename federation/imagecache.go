package federation

import (
	"context"

	"github.com/spyglass-gateway/spyglass/backends"
	"github.com/spyglass-gateway/spyglass/cache/blob"
)

// The Catalog is the gateway's ImageCache (Glance's /v2/cache) when it has
// a blob cache: HasImageCache says whether it does.

// HasImageCache reports whether this catalog caches image data.
func (c *Catalog) HasImageCache() bool { return c.blobs != nil }

// Blobs is the image data cache; nil when there is none. For the peer
// protocol and the operator's controls on it (its bounds, changed on a
// reload).
func (c *Catalog) Blobs() *blob.Cache { return c.blobs }

// CacheState lists the complete entries and the queued prefetches.
func (c *Catalog) CacheState(context.Context) ([]backends.CachedImage, []string, error) {
	cached, queued := c.blobs.List()
	out := make([]backends.CachedImage, 0, len(cached))
	for _, e := range cached {
		out = append(out, backends.CachedImage{ImageID: e.Key.Image, Hits: e.Hits,
			LastAccessed: e.LastAccessed, LastModified: e.LastModified, Size: e.Size})
	}
	ids := make([]string, 0, len(queued))
	for _, k := range queued {
		ids = append(ids, k.Image)
	}
	return out, ids, nil
}

// QueueImage prefetches an image through the same fill path downloads use,
// as the admin who asked.
func (c *Catalog) QueueImage(ctx context.Context, img *backends.Image) error {
	exp, ok := expect(img)
	if !ok {
		return backends.Errorf(backends.ErrBadRequest, "Only images with status active can be targeted for queueing")
	}
	r, err := c.primary(ctx, img.ID)
	if err != nil {
		return err
	}
	if r.fetch == nil {
		return backends.Errorf(backends.ErrBadRequest, "Image "+img.ID+" is in store "+r.name+", whose data is local: there is nothing to cache")
	}
	return c.blobs.Prefetch(ctx, blob.Key{Region: r.name, Image: img.ID}, exp, r.origin(ctx, img.ID))
}

// DeleteCachedImage drops the image's data from the cache, whichever
// regions it was cached from.
func (c *Catalog) DeleteCachedImage(_ context.Context, id string) (bool, error) {
	deleted := false
	for _, r := range c.regions {
		if r.cached.fetch != nil && c.blobs.Delete(blob.Key{Region: r.cached.name, Image: id}) {
			deleted = true
		}
	}
	return deleted, nil
}

func (c *Catalog) ClearCache(_ context.Context, cached, queue bool) (int, int, error) {
	a, b := c.blobs.Clear(cached, queue)
	return a, b, nil
}

func (c *Catalog) CleanCache(context.Context) (int, error) { return c.blobs.Clean(), nil }

func (c *Catalog) PruneCache(context.Context) (int, int64, error) {
	n, b := c.blobs.Prune()
	return n, b, nil
}
