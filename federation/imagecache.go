package federation

import (
	"context"

	"github.com/spyglass-gateway/spyglass/backends"
	"github.com/spyglass-gateway/spyglass/cache/blob"
)

// ImageCache is the catalog's image data cache as Glance's cache-management
// API (/v2/cache) and the admin listener manage it: it satisfies
// gateway.ImageCache and admin.Prefetcher.
type ImageCache struct{ c *Catalog }

// ImageCache returns the catalog's image data cache, or nil when it caches
// no image data (no Config.Blobs): then there is nothing for /v2/cache to
// manage, and the gateway answers it as a Glance without a cache does.
func (c *Catalog) ImageCache() *ImageCache {
	if c.blobs == nil {
		return nil
	}
	return &ImageCache{c}
}

// Blobs is the image data cache; nil when there is none. For the peer
// protocol and the operator's controls on it (its bounds, changed on a
// reload).
func (c *Catalog) Blobs() *blob.Cache { return c.blobs }

// CacheState lists the complete entries and the queued prefetches.
func (ic *ImageCache) CacheState(context.Context) ([]backends.CachedImage, []string, error) {
	cached, queued := ic.c.blobs.List()
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
func (ic *ImageCache) QueueImage(ctx context.Context, img *backends.Image) error {
	c := ic.c
	exp, ok := expect(img)
	if !ok {
		return backends.Errorf(backends.ErrBadRequest, "Only images with status active can be targeted for queueing")
	}
	r, err := c.reader(ctx, img.ID)
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
func (ic *ImageCache) DeleteCachedImage(_ context.Context, id string) (bool, error) {
	c := ic.c
	deleted := false
	for _, r := range c.regions {
		// Every region: an embedded one's http-location images are
		// cached too (openLocation).
		if c.blobs.Delete(blob.Key{Region: r.cached.name, Image: id}) {
			deleted = true
		}
	}
	return deleted, nil
}

func (ic *ImageCache) ClearCache(_ context.Context, cached, queue bool) (int, int, error) {
	a, b := ic.c.blobs.Clear(cached, queue)
	return a, b, nil
}

func (ic *ImageCache) CleanCache(context.Context) (int, error) { return ic.c.blobs.Clean(), nil }

func (ic *ImageCache) PruneCache(context.Context) (int, int64, error) {
	n, b := ic.c.blobs.Prune()
	return n, b, nil
}
