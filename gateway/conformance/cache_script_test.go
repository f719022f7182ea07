package conformance

import (
	"encoding/json"
	"strings"
)

// cacheSteps are Tempest's test_image_caching_cycle
// (tempest/api/image/v2/admin/test_image_caching.py) as scripted
// requests: both servers serve the cache-management API, Glance with
// image_cache_dir, Spyglass over whichever store it fronts.
func cacheSteps() []step {
	// The cache's times are when each server cached the image.
	times := []string{"last_accessed", "last_modified"}
	cache := func(as, method, path string, kv ...string) step {
		s := step{as: as, method: method, path: path, ignore: times}
		return withHeader(s, kv...)
	}
	// No queue of an image queued or cached already: Glance 25 answers
	// 202 and submits another fetch to its worker anyway, which caches the
	// image again after a delete that follows.
	return []step{
		named("cache: member lists", cache("p1", "GET", "/v2/cache")),
		// In front of a region Spyglass has cached the images the script
		// downloaded, as a Glance with its cache middleware would; the
		// oracle runs without that middleware. Start from an empty cache.
		named("cache: clear first", cache("admin", "DELETE", "/v2/cache")),
		named("cache: empty", cache("admin", "GET", "/v2/cache")),
		named("cache: queue unknown", cache("admin", "PUT", "/v2/cache/non-existing-image-id")),
		saving("c_cache_q", post("admin", "/v2/images", `{"name":"cache-queued","disk_format":"raw","container_format":"bare","visibility":"private"}`)),
		named("cache: queue a queued image", cache("admin", "PUT", "/v2/cache/{{c_cache_q}}")),
		saving("c_cache", post("admin", "/v2/images", `{"name":"cache-first","disk_format":"raw","container_format":"bare","visibility":"private"}`)),
		named("cache: upload", step{as: "admin", method: "PUT", path: "/v2/images/{{c_cache}}/file", body: strings.Repeat("c", 1024), header: map[string]string{"Content-Type": ctOctet}}),
		named("cache: member queues", cache("p1", "PUT", "/v2/cache/{{c_cache}}")),
		named("cache: queue", cache("admin", "PUT", "/v2/cache/{{c_cache}}")),
		named("cache: queued right after", cache("admin", "GET", "/v2/cache")),
		named("cache: until cached", withUntil(cache("admin", "GET", "/v2/cache"), cachedOne)),
		named("cache: cached, not queued", cache("admin", "GET", "/v2/cache")),
		named("cache: delete entry", cache("admin", "DELETE", "/v2/cache/{{c_cache}}")),
		named("cache: after the entry's delete", cache("admin", "GET", "/v2/cache")),
		named("cache: delete entry not cached", cache("admin", "DELETE", "/v2/cache/{{c_cache}}")),
		named("cache: delete unknown entry", cache("admin", "DELETE", "/v2/cache/ffffffff-ffff-4fff-bfff-fffffffffff0")),
		named("cache: queue for the clear", cache("admin", "PUT", "/v2/cache/{{c_cache}}")),
		named("cache: until cached for the clear", withUntil(cache("admin", "GET", "/v2/cache"), cachedOne)),
		named("cache: clear target invalid", cache("admin", "DELETE", "/v2/cache", "x-image-cache-clear-target", "invalid")),
		named("cache: clear target queue", cache("admin", "DELETE", "/v2/cache", "x-image-cache-clear-target", "queue")),
		named("cache: still cached", cache("admin", "GET", "/v2/cache")),
		named("cache: member clears", cache("p1", "DELETE", "/v2/cache")),
		named("cache: clear", cache("admin", "DELETE", "/v2/cache")),
		named("cache: empty after the clear", cache("admin", "GET", "/v2/cache")),
	}
}

func withUntil(s step, until func(*response) bool) step { s.until = until; return s }

// cachedOne: GET /v2/cache lists one cached image and nothing queued.
func cachedOne(r *response) bool {
	var doc struct {
		Cached []json.RawMessage `json:"cached_images"`
		Queued []string          `json:"queued_images"`
	}
	return json.Unmarshal(r.body, &doc) == nil && len(doc.Cached) == 1 && len(doc.Queued) == 0
}

func init() {
	// Kept here, with the steps, rather than in knownDifferences' literal.
	knownDifferences["cache: queued right after"] = "Glance 25's cache worker starts at once and may have cached a small image before the next request (then it is listed cached, not queued, and Tempest's assertion fails); Spyglass's prefetcher waits 1 s, so the image is always still queued"
	for _, name := range []string{"create c_cache_q", "create c_cache"} {
		knownDifferences[name] = "as for create c_data: Glance's OpenStack-image-store-ids lists its reserved stores once a data upload has registered them"
	}
}
