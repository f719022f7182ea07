package federation

import (
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/spyglass-gateway/spyglass/backends"
)

// Glance's import bookkeeping properties (glance/async_/flows/
// api_image_import.py, ImportActionWrapper): the stores an import still
// has to reach and the stores it failed in, each a sorted comma-joined
// list, "" once empty; both are set from an image's first import on.
const (
	importingKey = "os_glance_importing_to_stores"
	failedKey    = "os_glance_failed_import"
)

// importBook is that bookkeeping for the imports that span regions
// (copy-image, and glance-direct or web-download to several stores): no
// single region knows them, and neither backend lets a client write
// os_glance_* properties, so the catalog keeps them and lays them over
// the image's merged record.
//
// It is kept in process, bounded (maxImportMarks images) and each image's
// marks expire a day after their last change, as the task that made them
// (Glance's task_time_to_live). Lost on restart, or on another gateway
// instance (the shared tier is not used: it would cost a round trip on
// every show of every image, for a property that matters while an import
// runs): the image then shows its primary region's own values, which
// for a completed import are Glance's ("" and "", or the region's name
// where its own import failed), but an import cut off by the restart is
// neither listed as importing nor as failed.
type importBook struct {
	n  atomic.Int32 // images with marks: reads skip the lock when none
	mu sync.Mutex
	m  map[string]*importMarks
}

// importMarks are one image's lists. src and out memoize the rendering
// of the last record laid over, so the gateway's rendering memo (keyed by
// snapshot) keeps hitting while nothing changes.
type importMarks struct {
	importing, failed []string // sorted, no duplicates
	// first is the store a glance-direct or web-download imports into
	// before the others ("" for copy-image): the image shows importing
	// while it is, as Glance's does from the task's start. hold: it shows
	// importing until no store is left, as Glance activates an import
	// whose every store must succeed only after the last (the first
	// region's copy is active before).
	first    string
	hold     bool
	expires  time.Time
	src, out *backends.Image
}

const (
	maxImportMarks = 1 << 14
	importMarksTTL = 24 * time.Hour
)

// update applies f to id's marks (created from seed's properties when the
// image has none: the region's own bookkeeping so far).
func (b *importBook) update(id string, seed *backends.Image, f func(m *importMarks)) {
	b.mu.Lock()
	defer b.mu.Unlock()
	now := time.Now()
	if b.m == nil {
		b.m = map[string]*importMarks{}
	}
	m := b.m[id]
	if m == nil {
		if len(b.m) >= maxImportMarks {
			b.evict(now)
		}
		m = &importMarks{}
		if seed != nil {
			m.importing = storeList(seed.Properties[importingKey])
			m.failed = storeList(seed.Properties[failedKey])
		}
		b.m[id] = m
		b.n.Store(int32(len(b.m)))
	}
	f(m)
	m.expires = now.Add(importMarksTTL)
	m.src, m.out = nil, nil
}

// evict drops the expired marks, and when none had, the one expiring
// first. Called with mu held.
func (b *importBook) evict(now time.Time) {
	var oldest string
	var at time.Time
	for id, m := range b.m {
		if m.expires.Before(now) {
			delete(b.m, id)
			continue
		}
		if oldest == "" || m.expires.Before(at) {
			oldest, at = id, m.expires
		}
	}
	if len(b.m) >= maxImportMarks {
		delete(b.m, oldest)
	}
}

// begin is the start of an import to stores: they are importing, and no
// longer failed (Glance's add_importing_stores, remove_failed_stores).
// first and hold: how the image's status shows the import (importMarks).
func (b *importBook) begin(id string, seed *backends.Image, stores []string, first string, hold bool) {
	b.update(id, seed, func(m *importMarks) {
		m.first, m.hold = first, hold
		for _, s := range stores {
			m.importing = addStore(m.importing, s)
			m.failed = removeStore(m.failed, s)
		}
	})
}

// done: the import is no longer importing to store (it landed there, or
// it was reverted or never tried there).
func (b *importBook) done(id, store string) {
	b.update(id, nil, func(m *importMarks) { m.importing = removeStore(m.importing, store) })
}

// failedIn: the import failed in store.
func (b *importBook) failedIn(id, store string) {
	b.update(id, nil, func(m *importMarks) {
		m.importing = removeStore(m.importing, store)
		m.failed = addStore(m.failed, store)
	})
}

// forget drops id's marks (the image was deleted).
func (b *importBook) forget(id string) {
	if b.n.Load() == 0 {
		return
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	delete(b.m, id)
	b.n.Store(int32(len(b.m)))
}

// render lays id's marks over img, as Glance shows them in the image's
// properties; an image without marks is returned as is.
func (b *importBook) render(img *backends.Image) *backends.Image {
	if img == nil || b.n.Load() == 0 {
		return img
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	m := b.m[img.ID]
	if m == nil || m.expires.Before(time.Now()) {
		return img
	}
	if m.src == img {
		return m.out
	}
	out := img.Clone()
	if out.Properties == nil {
		out.Properties = map[string]string{}
	}
	out.Properties[importingKey] = strings.Join(m.importing, ",")
	out.Properties[failedKey] = strings.Join(m.failed, ",")
	// A store still importing holds no data yet: Glance names a store in
	// stores once its location is added.
	if len(m.importing) > 0 {
		if m.first != "" && (m.hold || slices.Contains(m.importing, m.first)) {
			switch out.Status {
			case backends.StatusQueued, backends.StatusUploading, backends.StatusActive:
				out.Status = backends.StatusImporting
			}
		}
		out.Stores = slices.DeleteFunc(slices.Clone(out.Stores), func(s string) bool {
			_, in := slices.BinarySearch(m.importing, s)
			return in
		})
	}
	m.src, m.out = img, out
	return out
}

// renderAll is render over a listing's page; the page is copied, not
// changed, when an image on it has marks.
func (b *importBook) renderAll(imgs []*backends.Image) []*backends.Image {
	if b.n.Load() == 0 {
		return imgs
	}
	var out []*backends.Image
	for i, img := range imgs {
		r := b.render(img)
		if r != img && out == nil {
			out = slices.Clone(imgs)
		}
		if out != nil {
			out[i] = r
		}
	}
	if out == nil {
		return imgs
	}
	return out
}

// storeList parses a bookkeeping property (Glance splits on ",", drops
// empty names, and keeps a set).
func storeList(v string) []string {
	var out []string
	for _, s := range strings.Split(v, ",") {
		if s != "" {
			out = addStore(out, s)
		}
	}
	return out
}

func addStore(list []string, s string) []string {
	i, found := slices.BinarySearch(list, s)
	if found || s == "" {
		return list
	}
	return slices.Insert(list, i, s)
}

func removeStore(list []string, s string) []string {
	i, found := slices.BinarySearch(list, s)
	if !found {
		return list
	}
	return slices.Delete(list, i, i+1)
}
