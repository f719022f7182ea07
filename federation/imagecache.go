package federation

import (
	"context"
	"errors"
	"io"

	"github.com/spyglass-gateway/spyglass/backends"
	"github.com/spyglass-gateway/spyglass/cache/blob"
)

// ImageCache is the image data cache as Glance's cache-management API
// (/v2/cache) and the admin listener manage it: it satisfies
// gateway.ImageCache and admin.Prefetcher.
//
// What it caches is what a Glance's image cache holds: copies of images'
// data, filled by a prefetch (PUT /v2/cache/{id}) or, for a remote
// region, by the downloads that go through the cache. An embedded region's
// images are prefetched into it too, read from the store's files and
// verified against their checksums, so that `glance cache-queue` and
// Tempest's caching test behave on `spyglass serve` as on a Glance with
// image_cache_dir; downloads of an embedded image are served from the
// store's own file, which is on local disk already, so they count no
// hits.
type ImageCache struct {
	blobs *blob.Cache
	// locate is where the cache fills an image from: its entry's key and
	// the origin of its bytes.
	locate func(ctx context.Context, img *backends.Image) (blob.Key, blob.Origin, error)
	// stores are the regions whose entries of an image DeleteCachedImage
	// drops.
	stores []string
}

// ImageCache returns the catalog's image data cache, or nil when it caches
// no image data (no Config.Blobs): then there is nothing for /v2/cache to
// manage, and the gateway answers it as a Glance without a cache does.
func (c *Catalog) ImageCache() *ImageCache {
	if c.blobs == nil {
		return nil
	}
	ic := &ImageCache{blobs: c.blobs, locate: func(ctx context.Context, img *backends.Image) (blob.Key, blob.Origin, error) {
		r, err := c.reader(ctx, img.ID)
		if err != nil {
			return blob.Key{}, nil, err
		}
		k := blob.Key{Region: r.name, Image: img.ID}
		if r.fetch != nil {
			return k, r.origin(ctx, img.ID), nil
		}
		return k, dataOrigin(r.region.Data, img), nil
	}}
	for _, r := range c.regions {
		ic.stores = append(ic.stores, r.cached.name)
	}
	return ic
}

// StoreImageCache is the image data cache of a gateway whose one region
// is the embedded store data, named store: what a Glance with
// image_cache_dir in front of its file store caches (see ImageCache).
func StoreImageCache(blobs *blob.Cache, store string, data ImageData) *ImageCache {
	return &ImageCache{blobs: blobs, stores: []string{store}, locate: func(_ context.Context, img *backends.Image) (blob.Key, blob.Origin, error) {
		return blob.Key{Region: store, Image: img.ID}, dataOrigin(data, img), nil
	}}
}

// Images wraps a single store's images so that deleting an image drops
// its cached data, as Glance's delete does and as a Catalog's regions do.
func (ic *ImageCache) Images(images Images) Images { return forgetting{images, ic} }

type forgetting struct {
	Images
	ic *ImageCache
}

func (f forgetting) DeleteImage(ctx context.Context, id string) error {
	err := f.Images.DeleteImage(ctx, id)
	if err == nil {
		f.ic.DeleteCachedImage(ctx, id)
	}
	return err
}

// dataOrigin reads an image of a region that serves its data itself (an
// embedded store) for the cache to fill from: ranged reads of the file.
func dataOrigin(data ImageData, img *backends.Image) blob.Origin {
	return &storeOrigin{data: data, img: img.Clone()}
}

type storeOrigin struct {
	data ImageData
	img  *backends.Image
}

func (o *storeOrigin) Fetch(ctx context.Context, off, n int64) (io.ReadCloser, error) {
	d, err := o.data.OpenData(ctx, o.img)
	if err != nil {
		return nil, err
	}
	size := d.Size() - off
	if n >= 0 && n < size {
		size = n
	}
	if size < 0 {
		d.Close()
		return nil, errors.New("range past the end of the image's data")
	}
	return struct {
		io.Reader
		io.Closer
	}{io.NewSectionReader(d, off, size), d}, nil
}

// Blobs is the image data cache; nil when there is none. For the peer
// protocol and the operator's controls on it (its bounds, changed on a
// reload).
func (c *Catalog) Blobs() *blob.Cache { return c.blobs }

// CacheState lists the complete entries and the queued prefetches.
func (ic *ImageCache) CacheState(context.Context) ([]backends.CachedImage, []string, error) {
	cached, queued := ic.blobs.List()
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
	exp, ok := expect(img)
	if !ok {
		return backends.Errorf(backends.ErrBadRequest, "Only images with status active can be targeted for queueing")
	}
	k, o, err := ic.locate(ctx, img)
	if err != nil {
		return err
	}
	return ic.blobs.Prefetch(ctx, k, exp, o)
}

// DeleteCachedImage drops the image's data from the cache, whichever
// regions it was cached from.
func (ic *ImageCache) DeleteCachedImage(_ context.Context, id string) (bool, error) {
	deleted := false
	// Every store: an embedded region's http-location images are cached
	// too (openLocation).
	for _, s := range ic.stores {
		if ic.blobs.Delete(blob.Key{Region: s, Image: id}) {
			deleted = true
		}
	}
	return deleted, nil
}

func (ic *ImageCache) ClearCache(_ context.Context, cached, queue bool) (int, int, error) {
	a, b := ic.blobs.Clear(cached, queue)
	return a, b, nil
}

func (ic *ImageCache) CleanCache(context.Context) (int, error) { return ic.blobs.Clean(), nil }

func (ic *ImageCache) PruneCache(context.Context) (int, int64, error) {
	n, b := ic.blobs.Prune()
	return n, b, nil
}
