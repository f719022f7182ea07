package gateway

import (
	"context"
	"errors"
	"strconv"
	"strings"
	"time"

	"github.com/spyglass-gateway/spyglass/backends"
	"github.com/spyglass-gateway/spyglass/policy"
)

// ImageCache is the image data cache as Glance's cache-management API
// (/v2/cache) manages it, so `glance cache-list`, `cache-queue`,
// `cache-delete` and `cache-clear` work unmodified.
type ImageCache interface {
	// CacheState lists the complete entries (by image id) and the images
	// queued for prefetching (in the order they were queued).
	CacheState(ctx context.Context) (cached []backends.CachedImage, queued []string, err error)
	// QueueImage prefetches an active image the caller can see: it is
	// listed as queued until its fill starts.
	QueueImage(ctx context.Context, img *backends.Image) error
	// DeleteCachedImage drops the image's entry and queue slot; found is
	// false when there was neither.
	DeleteCachedImage(ctx context.Context, id string) (found bool, err error)
	// ClearCache drops every complete entry (cache) and/or every queued
	// image (queue), returning how many of each.
	ClearCache(ctx context.Context, cache, queue bool) (cacheDeleted, queueDeleted int, err error)
	// CleanCache removes invalid and stalled partial entries (2.18's
	// POST /v2/cache/clean) and returns how many files went.
	CleanCache(ctx context.Context) (int, error)
	// PruneCache evicts least recently used entries down to the cache's
	// size bound (POST /v2/cache/prune).
	PruneCache(ctx context.Context) (files int, bytes int64, err error)
}

// cacheAllowed is CacheController._enforce: the rule first (on the image
// when there is one, else on {}), then whether this gateway caches at all.
func (s *Server) cacheAllowed(c *call, rule policy.Rule, img *backends.Image) error {
	t := policy.EmptyTarget()
	if img != nil {
		t = policy.ImageTarget(img, &c.id)
	}
	if !c.pol.Allowed(rule, &c.id, &t) {
		return forbidden(rule)
	}
	if s.cfg.ImageCache == nil {
		return errStatus(404, "Caching via API is not supported at this site.")
	}
	return nil
}

func (s *Server) cacheState(c *call) {
	if err := s.cacheAllowed(c, policy.CacheList, nil); err != nil {
		writeError(c.ctx, err)
		return
	}
	cached, queued, err := s.cfg.ImageCache.CacheState(c)
	if err != nil {
		writeError(c.ctx, err)
		return
	}
	buf := bytebuf(c.ctx)
	b := append(*buf, `{"cached_images": [`...)
	for i, e := range cached {
		if i > 0 {
			b = append(b, ", "...)
		}
		b = append(b, `{"image_id": `...)
		b = appendJSONString(b, e.ImageID)
		b = append(b, `, "hits": `...)
		b = strconv.AppendInt(b, e.Hits, 10)
		b = append(b, `, "last_accessed": `...)
		b = appendPyTimestamp(b, e.LastAccessed)
		b = append(b, `, "last_modified": `...)
		b = appendPyTimestamp(b, e.LastModified)
		b = append(b, `, "size": `...)
		b = strconv.AppendInt(b, e.Size, 10)
		b = append(b, '}')
	}
	b = append(b, `], "queued_images": `...)
	b = appendStringList(b, queued)
	b = append(b, '}')
	*buf = b
	c.ctx.Response.Header.SetContentTypeBytes(ctJSON)
	c.ctx.Response.SetBodyRaw(b)
}

// appendPyTimestamp renders a time as Glance's cache does: a Unix time
// float, printed as Python's repr (shortest round-trip digits, ".0" on
// whole numbers).
func appendPyTimestamp(dst []byte, t time.Time) []byte {
	var f float64
	if !t.IsZero() {
		f = float64(t.UnixNano()) / 1e9
	}
	start := len(dst)
	dst = strconv.AppendFloat(dst, f, 'f', -1, 64)
	if !strings.ContainsRune(string(dst[start:]), '.') {
		dst = append(dst, ".0"...)
	}
	return dst
}

func (s *Server) clearCache(c *call) {
	if err := s.cacheAllowed(c, policy.CacheDelete, nil); err != nil {
		writeError(c.ctx, err)
		return
	}
	var cache, queue bool
	switch strings.ToLower(string(c.ctx.Request.Header.Peek("x-image-cache-clear-target"))) {
	case "":
		cache, queue = true, true
	case "cache":
		cache = true
	case "queue":
		queue = true
	default:
		writeError(c.ctx, errStatus(400, "If provided 'x-image-cache-clear-target' must be 'cache', 'queue' or empty string."))
		return
	}
	if _, _, err := s.cfg.ImageCache.ClearCache(c, cache, queue); err != nil {
		writeError(c.ctx, err)
		return
	}
	// Glance returns the counts, but its serializer answers a DELETE with
	// 204 and no body.
	c.ctx.Response.Header.SetContentType("text/html; charset=UTF-8")
	c.ctx.SetStatusCode(204)
}

// queueImage is queue_image_from_api: the image must exist for the caller
// (404), the rule allow it (403), caching be enabled (404), and the image be
// active (400).
func (s *Server) queueImage(c *call, id string) {
	img, err := s.lookup(c, id)
	if err != nil {
		if errors.Is(err, backends.ErrNotFound) {
			err = errStatus(404, "Image "+id+" not found.")
		}
		writeError(c.ctx, err)
		return
	}
	if err := s.cacheAllowed(c, policy.CacheImage, img); err != nil {
		writeError(c.ctx, err)
		return
	}
	if img.Status != backends.StatusActive {
		writeError(c.ctx, errStatus(400, "Only images with status active can be targeted for queueing"))
		return
	}
	if err := s.cfg.ImageCache.QueueImage(c, img); err != nil {
		writeError(c.ctx, err)
		return
	}
	c.ctx.Response.Header.SetContentType("text/html; charset=UTF-8")
	c.ctx.SetStatusCode(202)
}

// deleteCachedImage is delete_cache_entry: an image the caller cannot see
// (or that is gone) may still be dropped from the cache if it is there.
func (s *Server) deleteCachedImage(c *call, id string) {
	img, lerr := s.lookup(c, id)
	if lerr != nil && !errors.Is(lerr, backends.ErrNotFound) {
		writeError(c.ctx, lerr)
		return
	}
	if err := s.cacheAllowed(c, policy.CacheDelete, img); err != nil {
		if lerr != nil && s.cfg.ImageCache == nil {
			err = errStatus(404, "Image "+id+" not found.")
		}
		writeError(c.ctx, err)
		return
	}
	found, err := s.cfg.ImageCache.DeleteCachedImage(c, id)
	if err != nil {
		writeError(c.ctx, err)
		return
	}
	if lerr != nil && !found {
		writeError(c.ctx, errStatus(404, "Image "+id+" not found."))
		return
	}
	c.ctx.Response.Header.SetContentType("text/html; charset=UTF-8")
	c.ctx.SetStatusCode(204)
}

// cleanOrPrune is 2.18's POST /v2/cache/clean and /v2/cache/prune.
func (s *Server) cleanOrPrune(c *call, what string) {
	// 2.18's clean and prune have no rule of their own in Glance 25's
	// policies: manage_image_cache decides, the refusal names the action.
	if !s.allowed(c, policy.ManageImageCache) {
		writeError(c.ctx, errStatus(403, "You are not authorized to complete cache_"+what+" action."))
		return
	}
	if err := s.cacheAllowed(c, policy.ManageImageCache, nil); err != nil {
		writeError(c.ctx, err)
		return
	}
	buf := bytebuf(c.ctx)
	b := *buf
	if what == "clean" {
		n, err := s.cfg.ImageCache.CleanCache(c)
		if err != nil {
			writeError(c.ctx, err)
			return
		}
		b = append(b, `{"total_files_cleaned": `...)
		b = strconv.AppendInt(b, int64(n), 10)
	} else {
		n, bytes, err := s.cfg.ImageCache.PruneCache(c)
		if err != nil {
			writeError(c.ctx, err)
			return
		}
		b = append(b, `{"total_files_pruned": `...)
		b = strconv.AppendInt(b, int64(n), 10)
		b = append(b, `, "total_bytes_pruned": `...)
		b = strconv.AppendInt(b, bytes, 10)
	}
	b = append(b, '}')
	*buf = b
	c.ctx.Response.Header.SetContentTypeBytes(ctJSON)
	c.ctx.Response.SetBodyRaw(b)
}
