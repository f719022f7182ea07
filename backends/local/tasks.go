package local

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/spyglass-gateway/spyglass/backends"
	"github.com/spyglass-gateway/spyglass/backends/glancedownload"
	"github.com/spyglass-gateway/spyglass/backends/transfers"
	"github.com/spyglass-gateway/spyglass/logctx"
)

func (s *Store) loadTasks() error {
	rows, err := s.rdb.Query(`SELECT ` + taskColumns + ` FROM tasks`)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		t, err := scanTask(rows)
		if err != nil {
			return err
		}
		s.tasks[t.ID] = t
	}
	return rows.Err()
}

const taskColumns = `id, type, status, owner, user_id, request_id, image_id, input, result, message, expires_at, created_at, updated_at`

func scanTask(rows *sql.Rows) (*backends.Task, error) {
	t := &backends.Task{}
	var in, res sql.NullString
	var exp sql.NullInt64
	var c, u int64
	if err := rows.Scan(&t.ID, &t.Type, &t.Status, &t.Owner, &t.UserID, &t.RequestID, &t.ImageID, &in, &res, &t.Message, &exp, &c, &u); err != nil {
		return nil, err
	}
	if in.Valid {
		t.Input = json.RawMessage(in.String)
	}
	if res.Valid {
		t.Result = json.RawMessage(res.String)
	}
	if exp.Valid {
		e := fromMicros(exp.Int64)
		t.ExpiresAt = &e
	}
	t.CreatedAt, t.UpdatedAt = fromMicros(c), fromMicros(u)
	return t, nil
}

func rawOrNil(m json.RawMessage) any {
	if m == nil {
		return nil
	}
	return string(m)
}

// putTask persists t and makes it the current snapshot.
func (s *Store) putTask(t *backends.Task) error {
	var exp any
	if t.ExpiresAt != nil {
		exp = micros(*t.ExpiresAt)
	}
	s.wmu.Lock()
	defer s.wmu.Unlock()
	err := s.tx(context.Background(), func(tx *sql.Tx) error {
		_, err := tx.Exec(`INSERT OR REPLACE INTO tasks (id, type, status, owner, user_id, request_id, image_id, input, result, message, expires_at, created_at, updated_at)
			VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)`, t.ID, t.Type, t.Status, t.Owner, t.UserID, t.RequestID, t.ImageID,
			rawOrNil(t.Input), rawOrNil(t.Result), t.Message, exp, micros(t.CreatedAt), micros(t.UpdatedAt))
		return err
	})
	if err != nil {
		return err
	}
	s.mu.Lock()
	s.tasks[t.ID] = t
	s.mu.Unlock()
	return nil
}

// finishTask records the end of a task: success with result, or failure.
func (s *Store) finishTask(cur *backends.Task, result any, failure error) {
	t := *cur
	t.UpdatedAt = now()
	exp := t.UpdatedAt.Add(taskTimeToLive)
	t.ExpiresAt = &exp
	if failure != nil {
		t.Status = backends.TaskFailure
		// The failure may quote the web-download URL: no userinfo or
		// signature in a message every reader of the task sees.
		t.Message = logctx.Redact(failure.Error())
		if t.Message == "" {
			t.Message = "The task failed."
		}
	} else {
		t.Status = backends.TaskSuccess
		if result != nil {
			t.Result, _ = json.Marshal(result)
		}
	}
	s.putTask(&t)
}

func (s *Store) setTaskStatus(cur *backends.Task, status string) *backends.Task {
	t := *cur
	t.Status = status
	t.UpdatedAt = now()
	s.putTask(&t)
	return &t
}

// Task returns a task, or ErrNotFound.
func (s *Store) Task(ctx context.Context, id string) (*backends.Task, error) {
	s.mu.RLock()
	t := s.tasks[id]
	s.mu.RUnlock()
	if t == nil {
		return nil, backends.Errorf(backends.ErrNotFound, fmt.Sprintf("Task with the given id %s not found", id))
	}
	return t, nil
}

// ImageTasks lists the tasks that worked on an image, newest first.
func (s *Store) ImageTasks(ctx context.Context, imageID string) ([]*backends.Task, error) {
	if _, err := s.get(imageID); err != nil {
		return nil, err
	}
	var out []*backends.Task
	s.mu.RLock()
	for _, t := range s.tasks {
		if t.ImageID == imageID {
			out = append(out, t)
		}
	}
	s.mu.RUnlock()
	sort.Slice(out, func(i, j int) bool {
		if !out[i].CreatedAt.Equal(out[j].CreatedAt) {
			return out[i].CreatedAt.After(out[j].CreatedAt)
		}
		return out[i].ID > out[j].ID
	})
	return out, nil
}

// ListTasks lists the caller's tasks (an admin's: all) with Glance's
// filters, order (sort key, then created_at and id), limit and marker.
func (s *Store) ListTasks(ctx context.Context, q *backends.TaskQuery) ([]*backends.Task, error) {
	who := backends.CallerOf(ctx)
	key := q.SortKey
	if key == "" {
		key = "created_at"
	}
	field := func(t *backends.Task) string {
		switch key {
		case "id":
			return t.ID
		case "type":
			return t.Type
		case "status":
			return t.Status
		case "updated_at":
			return t.UpdatedAt.Format(time.RFC3339Nano)
		}
		return t.CreatedAt.Format(time.RFC3339Nano)
	}
	switch key {
	case "id", "type", "status", "updated_at", "created_at":
	default:
		return nil, backends.Errorf(backends.ErrBadRequest, fmt.Sprintf("Invalid sort key: %s. It must be one of the following: created_at, updated_at, id, type, status.", key))
	}
	var all []*backends.Task
	s.mu.RLock()
	for _, t := range s.tasks {
		if !who.Admin && t.Owner != who.Project {
			continue
		}
		if (q.Status != "" && t.Status != q.Status) || (q.Type != "" && t.Type != q.Type) {
			continue
		}
		all = append(all, t)
	}
	s.mu.RUnlock()
	less := func(a, b *backends.Task) bool {
		fa, fb := field(a), field(b)
		if fa != fb {
			return fa < fb
		}
		if !a.CreatedAt.Equal(b.CreatedAt) {
			return a.CreatedAt.Before(b.CreatedAt)
		}
		return a.ID < b.ID
	}
	sort.Slice(all, func(i, j int) bool {
		if q.Desc {
			return less(all[j], all[i])
		}
		return less(all[i], all[j])
	})
	if q.Marker != "" {
		at := -1
		for i, t := range all {
			if t.ID == q.Marker {
				at = i
				break
			}
		}
		if at < 0 {
			return nil, backends.Errorf(backends.ErrMarkerNotFound, fmt.Sprintf("Task with the given id %s not found", q.Marker))
		}
		all = all[at+1:]
	}
	if q.Limit > 0 && len(all) > q.Limit {
		all = all[:q.Limit]
	}
	return all, nil
}

// newTask creates a pending task.
func (s *Store) newTask(caller backends.Caller, typ, imageID string, input any) (*backends.Task, error) {
	raw, err := json.Marshal(input)
	if err != nil {
		return nil, err
	}
	t := now()
	task := &backends.Task{
		ID: uuid.NewString(), Type: typ, Status: backends.TaskPending,
		Owner: caller.Project, UserID: caller.User, ImageID: imageID,
		RequestID: caller.RequestID, Input: raw, CreatedAt: t, UpdatedAt: t,
	}
	return task, s.putTask(task)
}

// run runs fn in the background until Close.
func (s *Store) run(fn func(ctx context.Context)) {
	s.bg.Add(1)
	go func() {
		defer s.bg.Done()
		fn(s.bgCtx)
	}()
}

// fetch GETs a URL a tenant gave, through the import filter: every
// connection and redirect hop is checked (backends/outbound).
func (s *Store) fetch(ctx context.Context, uri string) (io.ReadCloser, error) {
	resp, err := s.opts.Fetcher.Get(ctx, uri)
	if err != nil {
		return nil, err
	}
	return resp.Body, nil
}

// Import starts glance-direct (staged data) or web-download; copy-image
// has nowhere to copy to in a single store. The work runs as an
// api_image_import task.
func (s *Store) Import(ctx context.Context, id string, req backends.ImportRequest) error {
	var from string
	switch req.Method {
	case "glance-direct":
		from = backends.StatusUploading
	case "web-download":
		from = backends.StatusQueued
		if err := s.opts.Fetcher.CheckURL(req.URI); err != nil {
			return backends.Errorf(backends.ErrBadRequest, "URI for web-download does not pass filtering: "+req.URI)
		}
	case "glance-download":
		from = backends.StatusQueued
	case "copy-image":
		return backends.Errorf(backends.ErrBadRequest, "Image "+id+" is already present in all the available stores.")
	default:
		return backends.Errorf(backends.ErrBadRequest, fmt.Sprintf("Import method %s is not supported", req.Method))
	}
	s.wmu.Lock()
	cur, err := s.get(id)
	if err != nil {
		s.wmu.Unlock()
		return err
	}
	if cur.Status != from {
		s.wmu.Unlock()
		if req.Method == "glance-direct" {
			return backends.Errorf(backends.ErrConflict, "Image needs to be staged before 'glance-direct' method can be used")
		}
		return backends.Errorf(backends.ErrConflict, fmt.Sprintf("Image %s is not in queued status, it is %s", id, cur.Status))
	}
	if err := formatsSet(cur); err != nil {
		s.wmu.Unlock()
		return err
	}
	img := cur.Clone()
	img.Status = backends.StatusImporting
	img.UpdatedAt = now()
	if err := s.tx(ctx, func(tx *sql.Tx) error { return writeStatus(tx, img) }); err != nil {
		s.wmu.Unlock()
		return err
	}
	s.swap(img)
	s.wmu.Unlock()

	method := req.TaskMethod()
	// glance-download reads as the caller, after the request.
	token := backends.CallerOf(ctx).Token
	input := map[string]any{
		"image_id":   id,
		"import_req": map[string]any{"method": method},
		"backend":    []string{s.opts.StoreName},
	}
	// Glance's import bookkeeping: the stores still to import to, and the
	// ones that failed.
	s.setImportProps(ctx, id, s.opts.StoreName)
	task, err := s.newTask(backends.CallerOf(ctx), "api_image_import", id, input)
	if err != nil {
		s.revert(id, backends.StatusImporting, from)
		return err
	}
	project := backends.CallerOf(ctx).Project
	s.run(func(ctx context.Context) {
		var err error
		var undo func()
		switch req.Method {
		case "glance-direct":
			err = s.importData(ctx, &task, id, func(context.Context) (io.ReadCloser, int64, error) {
				r, err := os.Open(s.stagingPath(id))
				return r, -1, err
			})
		case "glance-download":
			// A download waits, pending, for a slot among the gateway's
			// transfers (Glance's task waits for a taskflow worker).
			err = s.opts.Transfers.Do(ctx, project, func(ctx context.Context) error {
				return s.importData(ctx, &task, id, func(ctx context.Context) (io.ReadCloser, int64, error) {
					r, size, u, err := s.openGlanceDownload(ctx, id, req.Glance, token)
					undo = u
					return r, size, err
				})
			})
		default:
			err = s.opts.Transfers.Do(ctx, project, func(ctx context.Context) error {
				return s.importData(ctx, &task, id, func(ctx context.Context) (io.ReadCloser, int64, error) {
					r, err := s.fetch(ctx, req.URI)
					return r, -1, err
				})
			})
		}
		if err != nil {
			if undo != nil {
				undo()
			}
			s.revert(id, backends.StatusImporting, from)
			var lim *transfers.LimitError
			if errors.As(err, &lim) {
				// As Glance's import flow over a quota (assert_quota):
				// the image is back in queued with no store to import to,
				// and none recorded as failed.
				s.setImportProps(context.WithoutCancel(ctx), id, "")
			} else {
				// As Glance: the store goes to os_glance_failed_import
				// (also when Close ends the import, running or waiting).
				s.setImportFailed(context.WithoutCancel(ctx), id, s.opts.StoreName)
			}
			s.finishTask(task, nil, err)
			return
		}
		os.Remove(s.stagingPath(id))
		s.setImportProps(ctx, id, "")
		if img, gerr := s.get(id); gerr == nil && img.Size != nil {
			task.Message = fmt.Sprintf("Copied %d MiB", *img.Size>>20)
		}
		s.finishTask(task, map[string]any{"image_id": id}, nil)
	})
	return nil
}

// importData is an import's work once it runs: the task goes processing,
// then open's data (of the size it says, -1 unknown) is ingested into the
// importing image.
func (s *Store) importData(ctx context.Context, task **backends.Task, id string, open func(context.Context) (io.ReadCloser, int64, error)) error {
	*task = s.setTaskStatus(*task, backends.TaskProcessing)
	r, expected, err := open(ctx)
	if err != nil {
		return err
	}
	defer r.Close()
	_, err = s.ingest(ctx, id, r, s.opts.SizeCap, expected, backends.StatusImporting)
	return err
}

// openGlanceDownload is glance-download's first steps, as Glance's
// _ImportMetadata and _DownloadGlanceImage: read the source's record as
// the caller, give the image its disk and container formats and the
// properties Glance copies by default, and open the source's data, of
// size bytes. undo, when not nil, puts the image's formats and
// properties back as they were (the import failed).
func (s *Store) openGlanceDownload(ctx context.Context, id string, src backends.GlanceSource, token string) (r io.ReadCloser, size int64, undo func(), err error) {
	d := s.opts.GlanceDownload
	if d == nil {
		d = glancedownload.Client()
	}
	meta, err := glancedownload.Fetch(ctx, d, src, token, glancedownload.DefaultProperties)
	if err != nil {
		return nil, 0, nil, err
	}
	old, err := s.setDownloadMetadata(ctx, id, meta)
	if err != nil {
		return nil, 0, nil, err
	}
	undo = func() { s.restoreDownloadMetadata(id, old, meta) }
	r, err = glancedownload.Open(ctx, d, src, token)
	if err != nil {
		return nil, 0, undo, err
	}
	return r, meta.Size, undo, nil
}

// setDownloadMetadata sets the source's formats and properties on the
// image; it returns the image as it was.
func (s *Store) setDownloadMetadata(ctx context.Context, id string, meta *glancedownload.Image) (*backends.Image, error) {
	s.wmu.Lock()
	defer s.wmu.Unlock()
	cur, err := s.get(id)
	if err != nil {
		return nil, err
	}
	img := cur.Clone()
	img.DiskFormat, img.ContainerFormat = &meta.DiskFormat, &meta.ContainerFormat
	if img.Properties == nil {
		img.Properties = map[string]string{}
	}
	for k, v := range meta.Properties {
		img.Properties[k] = v
	}
	img.UpdatedAt = now()
	if err := s.tx(ctx, func(tx *sql.Tx) error { return writeImage(tx, img, false) }); err != nil {
		return nil, err
	}
	s.swap(img)
	return cur, nil
}

// restoreDownloadMetadata is Glance's _ImportMetadata.revert: the formats
// and the properties it set go back to old's.
func (s *Store) restoreDownloadMetadata(id string, old *backends.Image, meta *glancedownload.Image) {
	s.wmu.Lock()
	defer s.wmu.Unlock()
	cur, err := s.get(id)
	if err != nil {
		return
	}
	img := cur.Clone()
	img.DiskFormat, img.ContainerFormat = old.DiskFormat, old.ContainerFormat
	for k := range meta.Properties {
		if v, ok := old.Properties[k]; ok {
			img.Properties[k] = v
		} else {
			delete(img.Properties, k)
		}
	}
	img.UpdatedAt = now()
	if s.tx(context.Background(), func(tx *sql.Tx) error { return writeImage(tx, img, false) }) == nil {
		s.swap(img)
	}
}

// RunsGlanceDownload reports that Import runs glance-download itself
// (federation.GlanceDownloader).
func (s *Store) RunsGlanceDownload() bool { return true }

// RunsWebDownload reports that Import runs web-download itself
// (federation.WebDownloader).
func (s *Store) RunsWebDownload() bool { return true }

// importInput is the input of an "import" task (POST /v2/tasks).
type importInput struct {
	ImportFrom       string                     `json:"import_from"`
	ImportFromFormat string                     `json:"import_from_format"`
	ImageProperties  map[string]json.RawMessage `json:"image_properties"`
}

// CreateTask creates an "import" task: it creates an image from
// image_properties, then fetches import_from into it in the background.
func (s *Store) CreateTask(ctx context.Context, typ string, input json.RawMessage) (*backends.Task, error) {
	caller := backends.CallerOf(ctx)
	if typ != "import" {
		return nil, backends.Errorf(backends.ErrBadRequest, fmt.Sprintf("Invalid type value: %s", typ))
	}
	var in importInput
	if err := json.Unmarshal(input, &in); err != nil {
		return nil, backends.Errorf(backends.ErrBadRequest, "Input must be a JSON object")
	}
	t := now()
	task := &backends.Task{
		ID: uuid.NewString(), Type: typ, Status: backends.TaskPending,
		Owner: caller.Project, UserID: caller.User, RequestID: caller.RequestID, Input: input, CreatedAt: t, UpdatedAt: t,
	}
	if err := s.putTask(task); err != nil {
		return nil, err
	}
	s.run(func(ctx context.Context) {
		task := s.setTaskStatus(task, backends.TaskProcessing)
		if err := checkLocation(in.ImportFrom); err != nil {
			s.finishTask(task, nil, err)
			return
		}
		img, err := s.taskImage(ctx, caller, in)
		if err != nil {
			s.finishTask(task, nil, err)
			return
		}
		// Like Glance, a legacy import task names its image only in its
		// result, not in the task's image_id. The fetch waits for a slot
		// among the gateway's transfers.
		err = s.opts.Transfers.Do(ctx, caller.Project, func(ctx context.Context) error {
			r, err := s.fetch(ctx, in.ImportFrom)
			if err != nil {
				return err
			}
			defer r.Close()
			if err := s.begin(ctx, img.ID, backends.StatusSaving); err != nil {
				return err
			}
			if _, err := s.ingest(ctx, img.ID, r, s.opts.SizeCap, -1, backends.StatusSaving); err != nil {
				s.revert(img.ID, backends.StatusSaving, backends.StatusQueued)
				return err
			}
			return nil
		})
		if err != nil {
			s.finishTask(task, nil, err)
			return
		}
		s.finishTask(task, map[string]any{"image_id": img.ID}, nil)
	})
	return task, nil
}

// checkLocation is Glance's validate_location_uri for import_from: http
// and https only (import filtering applies when it is fetched).
func checkLocation(from string) error {
	switch {
	case from == "":
		return errors.New("import_from is required")
	case strings.HasPrefix(from, "http://"), strings.HasPrefix(from, "https://"):
		return nil
	case strings.HasPrefix(from, "file:///"), strings.HasPrefix(from, "filesystem:///"):
		return errors.New("File based imports are not allowed. Please use a non-local source of image data.")
	}
	return errors.New("The given uri is not valid. Please specify a valid uri from the following list of supported uri ['http']")
}

// taskImage creates the image an import task fills.
func (s *Store) taskImage(ctx context.Context, caller backends.Caller, in importInput) (*backends.Image, error) {
	if in.ImportFrom == "" {
		return nil, errors.New("import_from is required")
	}
	img := &backends.Image{ID: uuid.NewString(), Visibility: backends.VisibilityShared, Properties: map[string]string{}}
	if caller.Project != "" {
		p := caller.Project
		img.Owner = &p
	}
	for k, raw := range in.ImageProperties {
		var v any
		if err := json.Unmarshal(raw, &v); err != nil {
			return nil, fmt.Errorf("image_properties.%s: %w", k, err)
		}
		str, _ := v.(string)
		switch k {
		case "name":
			img.Name = &str
		case "container_format":
			img.ContainerFormat = &str
		case "disk_format":
			img.DiskFormat = &str
		case "visibility":
			img.Visibility = str
		default:
			if v != nil {
				img.Properties[k] = fmt.Sprint(v)
			}
		}
	}
	return s.CreateImage(ctx, img)
}

// setImportFailed records a failed import as Glance does: the store is
// added to os_glance_failed_import and os_glance_importing_to_stores is
// emptied.
func (s *Store) setImportFailed(ctx context.Context, id, store string) {
	s.wmu.Lock()
	defer s.wmu.Unlock()
	cur, err := s.get(id)
	if err != nil {
		return
	}
	img := cur.Clone()
	if img.Properties == nil {
		img.Properties = map[string]string{}
	}
	failed := img.Properties["os_glance_failed_import"]
	if !slices.Contains(strings.Split(failed, ","), store) {
		if failed != "" {
			failed += ","
		}
		failed += store
	}
	img.Properties["os_glance_failed_import"] = failed
	img.Properties["os_glance_importing_to_stores"] = ""
	if err := s.tx(ctx, func(tx *sql.Tx) error { return writeExtras(tx, img) }); err == nil {
		s.swap(img)
	}
}

// setImportProps records Glance's import bookkeeping properties:
// os_glance_importing_to_stores (the stores still to do) and
// os_glance_failed_import.
func (s *Store) setImportProps(ctx context.Context, id, importing string) {
	s.wmu.Lock()
	defer s.wmu.Unlock()
	cur, err := s.get(id)
	if err != nil {
		return
	}
	img := cur.Clone()
	if img.Properties == nil {
		img.Properties = map[string]string{}
	}
	img.Properties["os_glance_importing_to_stores"] = importing
	if _, ok := img.Properties["os_glance_failed_import"]; !ok {
		img.Properties["os_glance_failed_import"] = ""
	}
	if err := s.tx(ctx, func(tx *sql.Tx) error { return writeExtras(tx, img) }); err == nil {
		s.swap(img)
	}
}
