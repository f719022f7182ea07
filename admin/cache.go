package admin

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/spyglass-gateway/spyglass/backends"
	"github.com/spyglass-gateway/spyglass/cache/blob"
	"github.com/spyglass-gateway/spyglass/logctx"
)

// The image data cache's controls, for "spyglass cache ls|prefetch|evict":
//
//	GET    /cache                 the entries (complete, filling, partial) and the queued prefetches
//	PUT    /cache/{region}/{id}   queue a prefetch (202)
//	DELETE /cache/{region}/{id}   evict (204)
//
// A prefetch goes through the same path as Glance's PUT /v2/cache/{id} on
// the Images API (Instance.Prefetch), as an admin; the listing and the
// eviction are the blob cache's own.

// CacheListing is GET /cache's answer.
type CacheListing struct {
	// Regions are the regions whose image data is cached (kind glance).
	Regions       []string     `json:"regions"`
	DefaultRegion string       `json:"default_region"`
	Images        []CacheEntry `json:"images"`
}

// CacheEntry is one image in CacheListing.
type CacheEntry struct {
	Region  string `json:"region"`
	ImageID string `json:"image_id"`
	// State is complete, filling (a fill is running), partial (a fill
	// stopped; the next read resumes it) or queued (a prefetch not
	// started yet).
	State string `json:"state"`
	// Size is the image's size and Bytes what the cache holds of it; 0
	// for a queued image.
	Size         int64      `json:"size"`
	Bytes        int64      `json:"bytes"`
	Hits         int64      `json:"hits"`
	LastAccessed *time.Time `json:"last_accessed,omitempty"`
	LastModified *time.Time `json:"last_modified,omitempty"`
}

var errNoImageCache = backends.Detailf(backends.ErrNotFound, "This instance caches no image data: cache.max_size is 0.")

func (s *Server) listCache(w http.ResponseWriter, r *http.Request) {
	b := s.inst.Blobs
	if b == nil {
		writeJSONError(w, errNoImageCache)
		return
	}
	out := CacheListing{Regions: s.inst.cachedRegions(), DefaultRegion: s.inst.DefaultRegion, Images: []CacheEntry{}}
	cached, queued := b.List()
	for _, c := range cached {
		e := CacheEntry{Region: c.Key.Region, ImageID: c.Key.Image, State: "complete", Size: c.Size, Bytes: c.Size, Hits: c.Hits}
		e.LastAccessed, e.LastModified = timeOrNil(c.LastAccessed), timeOrNil(c.LastModified)
		out.Images = append(out.Images, e)
	}
	for _, p := range b.Partial() {
		state := "partial"
		if p.Filling {
			state = "filling"
		}
		out.Images = append(out.Images, CacheEntry{Region: p.Key.Region, ImageID: p.Key.Image, State: state, Size: p.Size, Bytes: p.Have})
	}
	for _, k := range queued {
		out.Images = append(out.Images, CacheEntry{Region: k.Region, ImageID: k.Image, State: "queued"})
	}
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(out)
}

func timeOrNil(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	t = t.UTC()
	return &t
}

// prefetch queues the image's data for caching, as an admin would with
// PUT /v2/cache/{id}: the image must exist in the region and be active, and
// the cache must be able to take it now (a refusal is the answer, not a
// 202 followed by nothing).
func (s *Server) prefetch(w http.ResponseWriter, r *http.Request) {
	region, id, err := s.target(r)
	if err != nil {
		writeJSONError(w, err)
		return
	}
	ctx := adminContext(r)
	img, err := s.inst.Images.Image(ctx, id)
	if err != nil {
		if errors.Is(err, backends.ErrNotFound) {
			err = backends.Detailf(backends.ErrNotFound, "Image "+id+" not found.")
		}
		s.writeError(ctx, w, err)
		return
	}
	if len(img.Stores) > 0 && !slices.Contains(img.Stores, region) {
		writeJSONError(w, backends.Detailf(backends.ErrNotFound, fmt.Sprintf("Image %s is not in region %s; it is in %s.", id, region, strings.Join(img.Stores, ", "))))
		return
	}
	if img.Status != backends.StatusActive {
		writeJSONError(w, backends.Detailf(backends.ErrBadRequest, "Only images with status active can be targeted for queueing"))
		return
	}
	if err := s.inst.Prefetch.QueueImage(ctx, img); err != nil {
		s.writeError(ctx, w, err)
		return
	}
	w.WriteHeader(http.StatusAccepted)
}

// evict drops the image's cached data (or its queued prefetch).
func (s *Server) evict(w http.ResponseWriter, r *http.Request) {
	region, id, err := s.target(r)
	if err != nil {
		writeJSONError(w, err)
		return
	}
	if !s.inst.Blobs.Delete(blob.Key{Region: region, Image: id}) {
		writeJSONError(w, backends.Detailf(backends.ErrNotFound, fmt.Sprintf("Image %s is not cached from region %s.", id, region)))
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// target checks the path's region and image id.
func (s *Server) target(r *http.Request) (region, id string, err error) {
	if s.inst.Blobs == nil {
		return "", "", errNoImageCache
	}
	region, id = r.PathValue("region"), r.PathValue("id")
	if names := s.inst.cachedRegions(); !slices.Contains(names, region) {
		return "", "", backends.Detailf(backends.ErrNotFound, fmt.Sprintf("Region %s has no cached image data; cached regions: %s.", region, strings.Join(names, ", ")))
	}
	return region, id, nil
}

// adminContext is the request's context as an admin of the gateway, with a
// request id of its own (for the regions and the log). A Keystone token
// given with the request (X-Auth-Token) is forwarded to the regions, for
// regions that only believe tokens.
func adminContext(r *http.Request) context.Context {
	rid := r.Header.Get("X-Openstack-Request-Id")
	if rid == "" || len(rid) > 64 {
		rid = "req-" + uuid.NewString()
	}
	who := &backends.Caller{Admin: true, Roles: []string{"admin", "member", "reader"}, RequestID: rid, Token: r.Header.Get("X-Auth-Token")}
	return logctx.WithRequestID(backends.WithCaller(r.Context(), who), rid)
}
