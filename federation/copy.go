package federation

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/google/uuid"

	"github.com/spyglass-gateway/spyglass/backends"
	"github.com/spyglass-gateway/spyglass/logctx"
)

// copyTasks are the copy-image jobs this gateway ran, as Glance's
// api_image_import tasks: GET /v2/images/{id}/tasks and /v2/tasks/{id}
// follow them. Kept in process for a day, as Glance's task_time_to_live;
// with a shared tier in Redis too, so that every instance follows a job
// any of them runs, as every Glance worker reads the tasks of one
// database.
type copyTasks struct {
	mu    sync.Mutex
	tasks map[string]*backends.Task
	// subsumed maps a region's import task to the multi-store import task
	// that stands for it: Glance shows one task for an import to several
	// stores, so the region's own is not listed beside it.
	subsumed map[string]string
	// shared and sets are the shared tier; nil: this instance's jobs only.
	shared SharedStore
	sets   SharedSets
}

// subsume hides the region task regionTask behind the task ours.
func (t *copyTasks) subsume(regionTask, ours string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.subsumed == nil {
		t.subsumed = map[string]string{}
	}
	t.subsumed[regionTask] = ours
}

// hidden reports whether a region's task is subsumed by a task of ours.
func (t *copyTasks) hidden(regionTask string) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	_, ok := t.subsumed[regionTask]
	return ok
}

// copyTaskTTL is how long Redis keeps a job's record: its day after it
// ended, and the copy before.
const copyTaskTTL = 25 * time.Hour

func copyTaskKey(id string) string            { return "copytask:{" + id + "}" }
func copyTasksOfImageKey(image string) string { return "copytasks:{" + image + "}" }

func (t *copyTasks) put(ctx context.Context, task *backends.Task) {
	t.mu.Lock()
	if t.tasks == nil {
		t.tasks = map[string]*backends.Task{}
	}
	now := time.Now()
	for id, old := range t.tasks {
		if old.ExpiresAt != nil && old.ExpiresAt.Before(now) {
			delete(t.tasks, id)
		}
	}
	for region, ours := range t.subsumed {
		if _, ok := t.tasks[ours]; !ok {
			delete(t.subsumed, region)
		}
	}
	t.mu.Unlock()
	// Redis first: once this instance answers a job's new status, every
	// instance does.
	if t.shared != nil {
		if b, err := json.Marshal(task); err == nil {
			t.shared.Set(ctx, copyTaskKey(task.ID), b, copyTaskTTL)
		}
		if t.sets != nil {
			t.sets.SetAdd(ctx, copyTasksOfImageKey(task.ImageID), task.ID, copyTaskTTL)
		}
	}
	t.mu.Lock()
	t.tasks[task.ID] = task
	t.mu.Unlock()
}

func (t *copyTasks) get(ctx context.Context, id string) (*backends.Task, bool) {
	t.mu.Lock()
	task, ok := t.tasks[id]
	t.mu.Unlock()
	if ok || t.shared == nil {
		return task, ok
	}
	return t.sharedTask(ctx, id)
}

// sharedTask is a job another instance runs (or ran), as it last put it.
func (t *copyTasks) sharedTask(ctx context.Context, id string) (*backends.Task, bool) {
	b, ok := t.shared.Get(ctx, copyTaskKey(id))
	if !ok {
		return nil, false
	}
	var task backends.Task
	if json.Unmarshal(b, &task) != nil || task.ID != id || (task.ExpiresAt != nil && task.ExpiresAt.Before(time.Now())) {
		return nil, false
	}
	return &task, true
}

func (t *copyTasks) forImage(ctx context.Context, imageID string) []*backends.Task {
	t.mu.Lock()
	var out []*backends.Task
	for _, task := range t.tasks {
		if task.ImageID == imageID {
			out = append(out, task)
		}
	}
	t.mu.Unlock()
	if t.sets == nil {
		return out
	}
	ids, _ := t.sets.SetMembers(ctx, copyTasksOfImageKey(imageID))
	for _, id := range ids {
		if slices.ContainsFunc(out, func(task *backends.Task) bool { return task.ID == id }) {
			continue
		}
		if task, ok := t.sharedTask(ctx, id); ok && task.ImageID == imageID {
			out = append(out, task)
		}
	}
	return out
}

// matching are this instance's tasks that keep says to, not expired.
func (t *copyTasks) matching(keep func(*backends.Task) bool) []*backends.Task {
	t.mu.Lock()
	defer t.mu.Unlock()
	now := time.Now()
	var out []*backends.Task
	for _, task := range t.tasks {
		if (task.ExpiresAt == nil || task.ExpiresAt.After(now)) && keep(task) {
			out = append(out, task)
		}
	}
	return out
}

// update replaces the task's record with a new snapshot (records handed
// out are never modified).
func (t *copyTasks) update(ctx context.Context, task *backends.Task, status, message string) *backends.Task {
	n := *task
	n.Status, n.Message, n.UpdatedAt = status, message, time.Now().UTC()
	if status == backends.TaskSuccess || status == backends.TaskFailure {
		exp := n.UpdatedAt.Add(24 * time.Hour)
		n.ExpiresAt = &exp
	}
	t.put(ctx, &n)
	return &n
}

// copyImage is the copy-image import: the active image is created under
// the same id in each target region and its data streamed there from the
// region serving it (through the blob cache when that region is remote),
// never held in memory. It runs as a task and returns at once.
func (c *Catalog) copyImage(ctx context.Context, id string, req backends.ImportRequest) error {
	caller := backends.CallerOf(ctx)
	img, holders, err := c.place(ctx, id, primaryCopy)
	if err != nil {
		return err
	}
	if img.Status != backends.StatusActive {
		return backends.Errorf(backends.ErrConflict, "Only images with status active can be targeted for copying")
	}
	var targets []int
	if req.AllStores {
		for i := range c.regions {
			if !holders.has(i) {
				targets = append(targets, i)
			}
		}
		if len(targets) == 0 {
			return nil // Glance: "available in all configured stores", 202
		}
	} else {
		if len(req.Stores) == 0 {
			return backends.Errorf(backends.ErrBadRequest, "Image "+id+" is already present in all the available stores.")
		}
		for _, name := range req.Stores {
			i, ok := c.byName[name]
			if !ok {
				return backends.Errorf(backends.ErrBadRequest, "Store for identifier "+name+" not found")
			}
			if holders.has(i) {
				return backends.Errorf(backends.ErrBadRequest, "Image is already present at store '"+name+"'")
			}
			targets = append(targets, i)
		}
	}
	names := make([]string, len(targets))
	for k, i := range targets {
		names[k] = c.regions[i].cached.name
	}
	input, _ := json.Marshal(map[string]any{
		"image_id": id,
		"import_req": map[string]any{
			"method": map[string]any{"name": "copy-image"}, "stores": names,
			"all_stores_must_succeed": req.AllStoresMustSucceed,
		},
		"backend": names,
	})
	now := time.Now().UTC()
	task := &backends.Task{
		ID: uuid.NewString(), Type: "api_image_import", Status: backends.TaskProcessing,
		Owner: caller.Project, UserID: caller.User, RequestID: caller.RequestID, ImageID: id,
		Input: input, CreatedAt: now, UpdatedAt: now,
	}
	c.copies.put(ctx, task)
	c.book.begin(id, img, names, "", false)

	// The copy outlives the request: it runs as the admin who asked, with
	// a context of its own.
	who := caller
	bg := logctx.WithRequestID(backends.WithCaller(context.Background(), &who), caller.RequestID)
	go func() {
		failed := c.spread(bg, img, holders.primary(), targets, req.AllStoresMustSucceed)
		// Without all_stores_must_succeed Glance's task succeeds whatever
		// failed (the failures are in os_glance_failed_import).
		if len(failed) > 0 && req.AllStoresMustSucceed {
			c.copies.update(bg, task, backends.TaskFailure, "Copy failed: "+strings.Join(failed, "; "))
			return
		}
		c.copies.update(bg, task, backends.TaskSuccess, copiedMiB(img))
	}()
	return nil
}

// spread copies img from region src to the targets in turn, keeping the
// import bookkeeping: each target leaves the importing list as its copy
// lands, or goes to the failed list. must (all_stores_must_succeed): the
// first failure stops it and, as Glance's revert removes the locations
// the import added, the copies that landed are deleted (they are not
// listed as failed; the targets not tried leave the importing list).
// It returns the failures, "store: error".
func (c *Catalog) spread(ctx context.Context, img *backends.Image, src int, targets []int, must bool) (failed []string) {
	from := c.regions[src].cached
	var landed []int
	for k, i := range targets {
		dst := c.regions[i].cached
		if err := c.copyTo(ctx, from, dst, i, img); err != nil {
			c.log.ErrorContext(ctx, "copy-image failed", "image", img.ID, "from", from.name, "to", dst.name, "err", err)
			c.book.failedIn(img.ID, dst.name)
			failed = append(failed, dst.name+": "+err.Error())
			if must {
				for _, j := range targets[k+1:] {
					c.book.done(img.ID, c.regions[j].cached.name)
				}
				for _, j := range landed {
					c.abandon(ctx, c.regions[j].cached, j, img.ID, nil)
				}
				return failed
			}
			continue
		}
		landed = append(landed, i)
		c.book.done(img.ID, dst.name)
		c.log.InfoContext(ctx, "copy-image done", "image", img.ID, "from", from.name, "to", dst.name)
	}
	return failed
}

// copyTo creates img in dst (same id, owner, attributes, tags) and streams
// its data from src.
func (c *Catalog) copyTo(ctx context.Context, src, dst *cachedRegion, i int, img *backends.Image) error {
	n := img.Clone()
	n.Stores = nil
	for k := range n.Properties {
		if strings.HasPrefix(k, "os_glance") {
			delete(n.Properties, k)
		}
	}
	// Protected only once complete: an incomplete copy must be deletable.
	// Listings show the image once, from its primary copy, as soon as the
	// location index knows of the copy.
	n.Protected = false
	if _, err := dst.CreateImage(ctx, n); err != nil {
		return fmt.Errorf("creating the copy: %w", err)
	}
	c.loc.add(ctx, img.ID, i)
	data, err := src.OpenData(ctx, img)
	if err != nil {
		return c.abandon(ctx, dst, i, img.ID, fmt.Errorf("reading the image: %w", err))
	}
	defer data.Close()
	// One stream from the source region, not a request per read.
	var r io.Reader = io.NewSectionReader(data, 0, data.Size())
	if sec, ok := data.(backends.Sectioner); ok {
		rc, err := sec.Section(ctx, 0, data.Size())
		if err != nil {
			return c.abandon(ctx, dst, i, img.ID, fmt.Errorf("reading the image: %w", err))
		}
		defer rc.Close()
		r = rc
	}
	copied, err := dst.UploadData(ctx, img.ID, r, backends.UploadOptions{ExpectedSize: data.Size()})
	if err != nil {
		return c.abandon(ctx, dst, i, img.ID, fmt.Errorf("writing the copy: %w", err))
	}
	if !sameData(img, copied) {
		return c.abandon(ctx, dst, i, img.ID, fmt.Errorf("the copy's size and checksums (%s) differ from the image's (%s)", dataString(copied), dataString(img)))
	}
	if img.Protected {
		ch := backends.Change{Op: backends.PatchReplace, Path: []string{"protected"}, Value: json.RawMessage("true")}
		if _, err := dst.UpdateImage(ctx, img.ID, []backends.Change{ch}); err != nil {
			c.log.WarnContext(ctx, "copy-image: the copy is not protected", "image", img.ID, "region", dst.name, "err", err)
		}
	}
	return nil
}

// sameData reports whether a copy's size and checksums are the image's.
func sameData(a, b *backends.Image) bool {
	eq := func(x, y *string) bool { return x == nil || y == nil || *x == *y }
	return b != nil && a.Size != nil && b.Size != nil && *a.Size == *b.Size &&
		eq(a.Checksum, b.Checksum) && eq(a.OSHashValue, b.OSHashValue)
}

// abandon deletes a copy that did not complete (or that a failed import
// to several stores reverts), and where the region allows it frees its id
// there, so that a later copy to that region can make it again.
func (c *Catalog) abandon(ctx context.Context, dst *cachedRegion, i int, id string, cause error) error {
	if err := dst.DeleteImage(ctx, id); err != nil {
		c.log.WarnContext(ctx, "copy-image: the incomplete copy was not deleted", "image", id, "region", dst.name, "err", err)
		return cause
	}
	c.loc.remove(ctx, id, i)
	if f, ok := dst.region.Images.(idForgetter); ok {
		if err := f.ForgetDeleted(ctx, id); err != nil {
			c.log.WarnContext(ctx, "copy-image: the copy's id stays taken in its region", "image", id, "region", dst.name, "err", err)
		}
	}
	return cause
}

// copiedMiB is the message of Glance's import task that completed (its
// last progress report).
func copiedMiB(img *backends.Image) string {
	var size int64
	if img != nil && img.Size != nil {
		size = *img.Size
	}
	return fmt.Sprintf("Copied %d MiB", size>>20)
}

func dataString(img *backends.Image) string {
	if img == nil {
		return "no image"
	}
	s := func(p *string) string {
		if p == nil {
			return "null"
		}
		return *p
	}
	size := "null"
	if img.Size != nil {
		size = fmt.Sprint(*img.Size)
	}
	return "size " + size + ", checksum " + s(img.Checksum) + ", " + s(img.OSHashAlgo) + " " + s(img.OSHashValue)
}
