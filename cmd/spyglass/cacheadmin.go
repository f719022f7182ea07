package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/spyglass-gateway/spyglass/backends"
	"github.com/spyglass-gateway/spyglass/cache"
	"github.com/spyglass-gateway/spyglass/config"
	"github.com/spyglass-gateway/spyglass/gateway"
	"github.com/spyglass-gateway/spyglass/logctx"
)

// cacheAdmin is the image data cache's controls on the admin listener, for
// "spyglass cache ls|prefetch|evict":
//
//	GET    /cache                 the entries (complete, filling, partial) and the queued prefetches
//	PUT    /cache/{region}/{id}   queue a prefetch (202)
//	DELETE /cache/{region}/{id}   evict (204)
//
// A prefetch goes through the same path as Glance's PUT /v2/cache/{id} on
// the Images API (the catalog's ImageCache), as an admin; the listing and
// the eviction are the blob cache's own. Errors are Glance-shaped JSON.
type cacheAdmin struct {
	cat     gateway.Catalog
	ic      gateway.ImageCache // nil: no image data cache
	blobs   *cache.Blobs       // nil: no image data cache
	regions []config.Region
	def     string
	log     *slog.Logger
}

// cacheListing is GET /cache's answer.
type cacheListing struct {
	// Regions are the regions whose image data is cached (kind glance).
	Regions       []string     `json:"regions"`
	DefaultRegion string       `json:"default_region"`
	Images        []cacheEntry `json:"images"`
}

type cacheEntry struct {
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

const noImageCache = "This instance caches no image data: its regions are all embedded (kind local), whose data is on disk already, or cache.max_size is 0."

func (a *cacheAdmin) register(mux *http.ServeMux) {
	mux.HandleFunc("GET /cache", a.list)
	mux.HandleFunc("PUT /cache/{region}/{id}", a.prefetch)
	mux.HandleFunc("DELETE /cache/{region}/{id}", a.evict)
}

func (a *cacheAdmin) list(w http.ResponseWriter, r *http.Request) {
	if a.blobs == nil {
		writeGlanceError(w, 404, noImageCache)
		return
	}
	out := cacheListing{Regions: a.cachedRegions(), DefaultRegion: a.def, Images: []cacheEntry{}}
	cached, queued := a.blobs.List()
	for _, c := range cached {
		e := cacheEntry{Region: c.Key.Region, ImageID: c.Key.Image, State: "complete", Size: c.Size, Bytes: c.Size, Hits: c.Hits}
		e.LastAccessed, e.LastModified = timeOrNil(c.LastAccessed), timeOrNil(c.LastModified)
		out.Images = append(out.Images, e)
	}
	for _, p := range a.blobs.Partial() {
		state := "partial"
		if p.Filling {
			state = "filling"
		}
		out.Images = append(out.Images, cacheEntry{Region: p.Key.Region, ImageID: p.Key.Image, State: state, Size: p.Size, Bytes: p.Have})
	}
	for _, k := range queued {
		out.Images = append(out.Images, cacheEntry{Region: k.Region, ImageID: k.Image, State: "queued"})
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
// PUT /v2/cache/{id}: the image must exist in the region and be active.
func (a *cacheAdmin) prefetch(w http.ResponseWriter, r *http.Request) {
	region, id, ok := a.target(w, r)
	if !ok {
		return
	}
	ctx := a.adminContext(r)
	img, err := a.cat.Image(ctx, id)
	if err != nil {
		if errors.Is(err, backends.ErrNotFound) {
			writeGlanceError(w, 404, "Image "+id+" not found.")
			return
		}
		a.writeError(ctx, w, err)
		return
	}
	if len(img.Stores) > 0 && !slices.Contains(img.Stores, region) {
		writeGlanceError(w, 404, fmt.Sprintf("Image %s is not in region %s; it is in %s.", id, region, strings.Join(img.Stores, ", ")))
		return
	}
	if img.Status != backends.StatusActive {
		writeGlanceError(w, 400, "Only images with status active can be targeted for queueing")
		return
	}
	if err := a.ic.QueueImage(ctx, img); err != nil {
		a.writeError(ctx, w, err)
		return
	}
	w.WriteHeader(http.StatusAccepted)
}

// evict drops the image's cached data (or its queued prefetch).
func (a *cacheAdmin) evict(w http.ResponseWriter, r *http.Request) {
	region, id, ok := a.target(w, r)
	if !ok {
		return
	}
	if !a.blobs.Delete(cache.Key{Region: region, Image: id}) {
		writeGlanceError(w, 404, fmt.Sprintf("Image %s is not cached from region %s.", id, region))
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// target checks the path's region and image id.
func (a *cacheAdmin) target(w http.ResponseWriter, r *http.Request) (region, id string, ok bool) {
	if a.blobs == nil {
		writeGlanceError(w, 404, noImageCache)
		return "", "", false
	}
	region, id = r.PathValue("region"), r.PathValue("id")
	if !slices.Contains(a.cachedRegions(), region) {
		writeGlanceError(w, 404, fmt.Sprintf("Region %s has no cached image data; cached regions: %s.", region, strings.Join(a.cachedRegions(), ", ")))
		return "", "", false
	}
	return region, id, true
}

func (a *cacheAdmin) cachedRegions() []string {
	var names []string
	for _, r := range a.regions {
		if r.Kind == config.KindGlance {
			names = append(names, r.Name)
		}
	}
	return names
}

// adminContext is the request's context as an admin of the gateway, with a
// request id of its own (for the regions and the log). A Keystone token
// given with the request (X-Auth-Token) is forwarded to the regions, for
// regions that only believe tokens.
func (a *cacheAdmin) adminContext(r *http.Request) context.Context {
	rid := r.Header.Get("X-Openstack-Request-Id")
	if rid == "" || len(rid) > 64 {
		rid = "req-" + uuid.NewString()
	}
	who := &backends.Caller{Admin: true, Roles: []string{"admin", "member", "reader"}, RequestID: rid, Token: r.Header.Get("X-Auth-Token")}
	return logctx.WithRequestID(backends.WithCaller(r.Context(), who), rid)
}

func (a *cacheAdmin) writeError(ctx context.Context, w http.ResponseWriter, err error) {
	status, msg := gateway.ErrorStatus(err)
	if status >= 500 {
		a.log.ErrorContext(ctx, "admin cache request failed", "err", err)
	}
	if msg == "" {
		msg = err.Error()
	}
	writeGlanceError(w, status, msg)
}

// writeGlanceError answers as Glance's API does with JSON (webob's shape).
func writeGlanceError(w http.ResponseWriter, status int, detail string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	title := http.StatusText(status)
	json.NewEncoder(w).Encode(map[string]string{
		"message": glanceExplanation(status) + "<br /><br />\n" + detail + "\n\n",
		"code":    fmt.Sprintf("%d %s", status, title),
		"title":   title,
	})
}

func glanceExplanation(status int) string {
	switch status {
	case 400:
		return "The server could not comply with the request since it is either malformed or otherwise incorrect."
	case 404:
		return "The resource could not be found."
	case 503:
		return "The server is currently unavailable. Please try again at a later time."
	}
	return http.StatusText(status)
}
