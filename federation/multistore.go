package federation

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/spyglass-gateway/spyglass/backends"
)

// importWait bounds how long a multi-store import waits for its first
// region's import to complete before it gives the other stores up.
const importWait = 3 * time.Hour

// unimporter is a region's Images that can take an imported image back
// to queued, its data removed (local.Store): the revert of a multi-store
// import whose every store had to succeed. A Glance region cannot (no API
// takes an active image back to queued).
type unimporter interface {
	Unimport(ctx context.Context, id string) (*backends.Image, error)
}

// importMany is glance-direct, web-download or glance-download to several
// stores (stores, or all_stores): each region is one store, so the image
// is imported into one region by that region's own import (or, for a
// download into a region that does not run it, the gateway's: download.go,
// within the transfer bounds), and copied from there to the others as
// copy-image copies, in the background; one api_image_import task follows
// the whole, and the import bookkeeping is Glance's.
//
// The first region is the image's own when it is asked for; else a queued
// image (web-download) moves to the first store asked for, while a staged
// one (glance-direct), whose staged data is in its region, is refused.
//
// all_stores_must_succeed (Glance's default) and a store fails: the copies
// that landed are deleted and the image goes back to queued, without data,
// where its first region can do that (the embedded store). A Glance region
// cannot: the image stays active there, the failed store is listed and the
// task fails. Glance itself activates the image only after the last store.
func (c *Catalog) importMany(ctx context.Context, id string, req backends.ImportRequest) error {
	img, holders, err := c.place(ctx, id, primaryCopy)
	if err != nil {
		return err
	}
	names := req.Stores
	if req.AllStores {
		names = c.names
	}
	var order []int // the regions, the one importing first
	for _, name := range names {
		i, ok := c.byName[name]
		if !ok {
			return backends.Errorf(backends.ErrConflict, "Store for identifier "+name+" not found")
		}
		if !slices.Contains(order, i) {
			order = append(order, i)
		}
	}
	home := holders.primary()
	if k := slices.Index(order, home); k >= 0 {
		order = append(append([]int{home}, order[:k]...), order[k+1:]...)
	} else if img.Status != backends.StatusQueued {
		return backends.Errorf(backends.ErrConflict, fmt.Sprintf(
			"Image %s is %s in store %s, which the import's stores do not include", id, img.Status, c.regions[home].cached.name))
	}
	first := c.regions[order[0]].cached
	dst, err := c.target(ctx, id, first.name)
	if err != nil {
		return err
	}
	one := req
	one.Stores, one.AllStores, one.AllStoresMustSucceed = nil, false, true
	started := time.Now()
	// web-download and glance-download into a region that does not run
	// them (a Glance) are the gateway's (download.go): the source is read
	// and staged there in the background, before the region's own
	// glance-direct import.
	var download *backends.Image
	if gatewayRuns(dst, req.Method) {
		if download, err = c.claimQueued(ctx, dst, id, req.Method); err != nil {
			return err
		}
	} else if err := dst.Import(ctx, id, one); err != nil {
		return err
	}

	storeNames := make([]string, len(order))
	for k, i := range order {
		storeNames[k] = c.regions[i].cached.name
	}
	importReq := map[string]any{"method": req.TaskMethod(), "all_stores_must_succeed": req.AllStoresMustSucceed}
	if req.AllStores {
		importReq["all_stores"] = true
	} else {
		importReq["stores"] = req.Stores
	}
	status := backends.TaskProcessing
	if download != nil {
		status = backends.TaskPending // until the transfer has a slot
	}
	task := c.importTask(ctx, id, importReq, storeNames, status)
	if t := latestImportTask(ctx, dst, id, started); t != nil {
		c.copies.subsume(t.ID, task.ID)
	}
	c.book.begin(id, img, storeNames, first.name, req.AllStoresMustSucceed)

	bg := background(ctx)
	go func() {
		var active *backends.Image
		var err error
		if download != nil {
			active, err = c.runDownload(bg, order[0], download, one, task, started)
			c.downloading.release(id)
		} else {
			wctx, cancel := context.WithTimeout(bg, importWait)
			active, err = c.awaitImport(wctx, order[0], id, started)
			cancel()
		}
		if err != nil {
			c.log.ErrorContext(bg, "multi-store import failed in its first store", "image", id, "store", first.name, "err", err)
			var staging *stagingError
			for k, i := range order {
				switch name := c.regions[i].cached.name; {
				case overBound(err):
					// As Glance's import over its quota: no store failed.
					c.book.done(id, name)
				case k == 0, errors.As(err, &staging):
					// A download that never staged its data failed
					// every store (Glance's BaseDownload.revert).
					c.book.failedIn(id, name)
				default:
					c.book.done(id, name)
				}
			}
			msg := taskMessage(err)
			if !overBound(err) && msg != internalError {
				msg = first.name + ": " + msg // Glance's words need no store
			}
			c.copies.update(bg, task, backends.TaskFailure, msg)
			return
		}
		c.book.done(id, first.name)
		failed := c.spread(bg, active, order[0], order[1:], req.AllStoresMustSucceed)
		if len(failed) == 0 || !req.AllStoresMustSucceed {
			c.copies.update(bg, task, backends.TaskSuccess, copiedMiB(active))
			return
		}
		msg := "Import failed: " + strings.Join(failed, "; ")
		if req.AllStoresMustSucceed {
			if u, ok := first.region.Images.(unimporter); ok {
				back, err := u.Unimport(bg, id)
				first.written(bg, id, back)
				if err != nil {
					msg += "; the image stays active in store " + first.name + ": " + err.Error()
				}
			} else {
				msg += "; the image stays active in store " + first.name + ", which cannot revert it to queued"
			}
		}
		c.copies.update(bg, task, backends.TaskFailure, msg)
	}()
	return nil
}

// awaitImport waits for region i's import of id to complete, reading the
// record from the region itself (not its cache), and refreshes the cache
// with the outcome. It fails when the import does: the image back to
// queued or uploading once it was importing, or the region's import task
// (created after started) failed, or gone, or ctx's deadline.
func (c *Catalog) awaitImport(ctx context.Context, i int, id string, started time.Time) (*backends.Image, error) {
	r := c.regions[i].cached
	seen := false // importing seen: a status back to queued is the import's revert
	wait := 50 * time.Millisecond
	for {
		img, err := r.region.Images.Image(ctx, id)
		switch {
		case errors.Is(err, backends.ErrNotFound):
			r.written(ctx, id, nil)
			return nil, errors.New("the image was deleted")
		case err != nil:
			// A region not answering for a while is waited for, up to
			// ctx's deadline.
			c.log.WarnContext(ctx, "multi-store import: the region did not answer", "image", id, "region", r.name, "err", err)
		case img.Status == backends.StatusActive:
			r.written(ctx, id, img)
			return img, nil
		case img.Status == backends.StatusImporting, img.Status == backends.StatusSaving:
			seen = true
		case img.Status == backends.StatusQueued, img.Status == backends.StatusUploading:
			if seen {
				r.written(ctx, id, img)
				return nil, c.importFailure(ctx, r, id, started)
			}
			// Glance marks the image importing in the background: it may
			// not have yet, or it may have failed already.
			if t := latestImportTask(ctx, r, id, started); t != nil && t.Status == backends.TaskFailure {
				r.written(ctx, id, img)
				return nil, errors.New(t.Message)
			}
		default:
			r.written(ctx, id, img)
			return nil, fmt.Errorf("the image is %s", img.Status)
		}
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("no import completed in %s", importWait)
		case <-time.After(wait):
		}
		wait = min(wait*2, 2*time.Second)
	}
}

// importFailure is the region's reason an import failed: its task's
// message, when it has one.
func (c *Catalog) importFailure(ctx context.Context, r *cachedRegion, id string, started time.Time) error {
	if t := latestImportTask(ctx, r, id, started); t != nil && t.Message != "" {
		return errors.New(t.Message)
	}
	return errors.New("the import failed")
}

// latestImportTask is the newest api_image_import task of id in region r
// created since started (a second's slack for clocks), or nil.
func latestImportTask(ctx context.Context, r *cachedRegion, id string, started time.Time) *backends.Task {
	ts, err := r.ImageTasks(ctx, id)
	if err != nil {
		return nil
	}
	var latest *backends.Task
	for _, t := range ts {
		if t.Type == "api_image_import" && t.CreatedAt.After(started.Add(-time.Second)) &&
			(latest == nil || t.CreatedAt.After(latest.CreatedAt)) {
			latest = t
		}
	}
	return latest
}
