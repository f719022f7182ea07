package federation

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"sync"
	"time"

	"github.com/google/uuid"

	"github.com/spyglass-gateway/spyglass/backends"
	"github.com/spyglass-gateway/spyglass/backends/outbound"
	"github.com/spyglass-gateway/spyglass/backends/transfers"
	"github.com/spyglass-gateway/spyglass/logctx"
)

// WebDownloader is a region whose Import runs web-download itself
// (local.Store). The others (a Glance) get the gateway's, as for
// glance-download: the gateway fetches the URI through its own import
// filtering, stages the data in the region and imports it with
// glance-direct. A Glance's own web-download would apply its own filtering
// and its own rules: Debian's Glance 25 refuses, at request time, a URI
// whose host does not resolve, where Glance's API (and Tempest) want a
// 202 and then a failed import.
type WebDownloader interface {
	RunsWebDownload() bool
}

// URLGetter fetches a URL a tenant gave, through the operator's import
// filtering: every connection and redirect hop checked, a status other
// than 2xx an error. *outbound.Fetcher is one.
type URLGetter interface {
	Get(ctx context.Context, uri string) (*http.Response, error)
}

// TransferLimiter runs a transfer a tenant of project started when its
// bounds allow, and returns without running it when they refuse it (a
// *transfers.LimitError) or ctx ends first. *transfers.Limiter is one:
// give the catalog the one the gateway and the embedded regions use, so
// one bound covers every outbound transfer.
type TransferLimiter interface {
	Do(ctx context.Context, project string, transfer func(ctx context.Context) error) error
}

// gatewayRuns reports whether an import by method into dst is the
// gateway's download (download.go) rather than the region's own import.
func gatewayRuns(dst *cachedRegion, method string) bool {
	switch method {
	case "glance-download":
		return !runsGlanceDownload(dst)
	case "web-download":
		w, ok := dst.region.Tasks.(WebDownloader)
		return !ok || !w.RunsWebDownload()
	}
	return false
}

// internalError is the message of Glance's failed web-download task: its
// taskflow executor records this for any failure of the download or of
// the staging (the reason goes to its log, as it goes to ours).
const internalError = "Task failed due to Internal Error"

// stagingError is a gateway's download that failed before the region had
// the data: the region's image is as it was (queued).
type stagingError struct {
	method string
	err    error
}

func (e *stagingError) Error() string { return e.err.Error() }
func (e *stagingError) Unwrap() error { return e.err }

// taskMessage is what the failed import's task says of err, as Glance
// words it: over a transfer bound, Glance's LimitExceeded; a web-download
// that failed before its data was staged, Glance's "Internal Error"; else
// the reason (glance-download's, as Glance's _DownloadGlanceImage gives
// it, or the region's failed glance-direct import).
func taskMessage(err error) string {
	var lim *transfers.LimitError
	var st *stagingError
	switch {
	case errors.As(err, &lim):
		return lim.Error()
	case errors.As(err, &st) && st.method == "web-download":
		return internalError
	}
	return logctx.Redact(err.Error())
}

// overBound reports whether err is a transfer the bounds refused: as
// Glance's import over its quota, no store is marked failed.
func overBound(err error) bool {
	var lim *transfers.LimitError
	return errors.As(err, &lim)
}

// downloading is the set of images a download of the gateway is working
// on: a second import of one of them is refused, as Glance refuses one
// into an importing image (the region's record is still queued).
type downloading struct {
	mu  sync.Mutex
	ids map[string]struct{}
}

func (d *downloading) claim(id string) bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	if _, busy := d.ids[id]; busy {
		return false
	}
	if d.ids == nil {
		d.ids = map[string]struct{}{}
	}
	d.ids[id] = struct{}{}
	return true
}

func (d *downloading) release(id string) {
	d.mu.Lock()
	defer d.mu.Unlock()
	delete(d.ids, id)
}

func (d *downloading) busy(id string) bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	_, ok := d.ids[id]
	return ok
}

// busyError is Glance's answer to an import into an image that is
// importing already.
func busyError(method string) error {
	switch method {
	case "glance-direct":
		return backends.Errorf(backends.ErrConflict, "Image needs to be staged before 'glance-direct' method can be used")
	case "copy-image":
		return backends.Errorf(backends.ErrConflict, "Only images with status active can be targeted for copying")
	}
	return backends.Errorf(backends.ErrConflict, fmt.Sprintf("Image needs to be in 'queued' state to use '%s' method", method))
}

// claimQueued checks that the image in dst can take a download by method
// (queued, as Glance's import_image wants for web-download and
// glance-download), and claims it; the caller releases it when the
// download is over.
func (c *Catalog) claimQueued(ctx context.Context, dst *cachedRegion, id, method string) (*backends.Image, error) {
	img, err := dst.Image(ctx, id)
	if err != nil {
		return nil, err
	}
	if img.Status != backends.StatusQueued {
		return nil, busyError(method)
	}
	if !c.downloading.claim(id) {
		return nil, busyError(method)
	}
	return img, nil
}

// importTask is the api_image_import task the gateway keeps for an import
// it runs (or follows), pending until its work starts, with Glance's input.
func (c *Catalog) importTask(ctx context.Context, id string, importReq map[string]any, stores []string, status string) *backends.Task {
	caller := backends.CallerOf(ctx)
	input, _ := json.Marshal(map[string]any{"image_id": id, "import_req": importReq, "backend": stores})
	now := time.Now().UTC()
	task := &backends.Task{
		ID: uuid.NewString(), Type: "api_image_import", Status: status,
		Owner: caller.Project, UserID: caller.User, RequestID: caller.RequestID, ImageID: id,
		Input: input, CreatedAt: now, UpdatedAt: now,
	}
	c.copies.put(ctx, task)
	return task
}

// background is the context an import outlives its request with: the
// caller's identity and request id, no deadline, no cancel.
func background(ctx context.Context) context.Context {
	who := backends.CallerOf(ctx)
	return logctx.WithRequestID(backends.WithCaller(context.Background(), &who), who.RequestID)
}

// download is a web-download or glance-download into one region that does
// not run it (gatewayRuns): it answers at once, and in the background
// fetches the source within the transfer bounds, stages it in the region
// and has the region import it with glance-direct, following the whole as
// one api_image_import task (the region's own glance-direct task is
// subsumed) with Glance's bookkeeping: the image shows importing; a
// failure leaves it queued with its store in os_glance_failed_import, a
// transfer refused by the bounds with no store marked at all (Glance's
// import over its quota).
func (c *Catalog) download(ctx context.Context, dst *cachedRegion, id string, req backends.ImportRequest) error {
	img, err := c.claimQueued(ctx, dst, id, req.Method)
	if err != nil {
		return err
	}
	stores := []string{dst.name}
	task := c.importTask(ctx, id, map[string]any{"method": req.TaskMethod()}, stores, backends.TaskPending)
	c.book.begin(id, img, stores, dst.name, true)
	bg := background(ctx)
	started := time.Now()
	go func() {
		defer c.downloading.release(id)
		active, err := c.runDownload(bg, c.byName[dst.name], img, req, task, started)
		if err != nil {
			c.log.ErrorContext(bg, req.Method+" failed", "image", id, "store", dst.name, "err", err)
			if overBound(err) {
				c.book.done(id, dst.name)
			} else {
				c.book.failedIn(id, dst.name)
			}
			c.copies.update(bg, task, backends.TaskFailure, taskMessage(err))
			return
		}
		c.book.done(id, dst.name)
		c.copies.update(bg, task, backends.TaskSuccess, copiedMiB(active))
	}()
	return nil
}

// runDownload is the work of a gateway's download into region i, on the
// queued image img: within the transfer bounds (the task goes processing
// once it has a slot), open the source, stream it into the region's
// staging area and start the region's glance-direct; then, the slot
// given back, wait for that import to complete. It returns the active
// image; an error before the data was staged is a *stagingError, and the
// region's image is queued again by then.
func (c *Catalog) runDownload(ctx context.Context, i int, img *backends.Image, req backends.ImportRequest, task *backends.Task, started time.Time) (*backends.Image, error) {
	dst := c.regions[i].cached
	caller := backends.CallerOf(ctx)
	err := c.transfers.Do(ctx, caller.Project, func(ctx context.Context) error {
		c.copies.update(ctx, task, backends.TaskProcessing, "")
		return c.stage(ctx, dst, img, req, caller.Token)
	})
	if err != nil {
		return nil, err
	}
	if t := latestImportTask(ctx, dst, img.ID, started); t != nil {
		c.copies.subsume(t.ID, task.ID)
	}
	wctx, cancel := context.WithTimeout(ctx, importWait)
	defer cancel()
	return c.awaitImport(wctx, i, img.ID, started)
}

// stage opens req's source, streams it into dst's staging area for img
// and asks dst for the glance-direct import of it.
func (c *Catalog) stage(ctx context.Context, dst *cachedRegion, img *backends.Image, req backends.ImportRequest, token string) error {
	var body io.ReadCloser
	var size int64
	undo := func() {}
	var err error
	switch req.Method {
	case "web-download":
		body, size, err = c.openURL(ctx, req.URI)
	case "glance-download":
		body, size, undo, err = c.openGlanceSource(ctx, dst, img, req, token)
	default:
		err = fmt.Errorf("the gateway does not run %s imports", req.Method)
	}
	if err != nil {
		return &stagingError{req.Method, err}
	}
	defer body.Close()
	var src io.Reader = body
	if req.SizeCap > 0 {
		if size > req.SizeCap {
			undo()
			return &stagingError{req.Method, fmt.Errorf("the source's size %d is larger than the image size cap %d", size, req.SizeCap)}
		}
		src = &cappedReader{r: body, left: req.SizeCap}
	}
	if _, err := dst.StageData(ctx, img.ID, src, backends.UploadOptions{ExpectedSize: size, SizeCap: req.SizeCap}); err != nil {
		undo()
		// The region puts the image back to queued once it sees the
		// staging cut: wait for that, so that nobody sees the import
		// failed while the image is still uploading.
		c.awaitNotUploading(ctx, dst, img.ID)
		return &stagingError{req.Method, fmt.Errorf("staging the data: %w", err)}
	}
	if err := dst.Import(ctx, img.ID, backends.ImportRequest{Method: "glance-direct"}); err != nil {
		return fmt.Errorf("importing the staged data: %w", err)
	}
	return nil
}

// openURL fetches a web-download's URI through the import filtering: its
// body, and its size (-1 unknown).
func (c *Catalog) openURL(ctx context.Context, uri string) (io.ReadCloser, int64, error) {
	resp, err := c.webDL.Get(ctx, uri)
	if err != nil {
		return nil, 0, err
	}
	size := resp.ContentLength
	if size < 0 || resp.Uncompressed {
		size = -1
	}
	return resp.Body, size, nil
}

// awaitNotUploading waits, a while, for the region's image to leave
// uploading (the region's own revert of a staging cut short).
func (c *Catalog) awaitNotUploading(ctx context.Context, r *cachedRegion, id string) {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	for wait := 50 * time.Millisecond; ; wait = min(wait*2, time.Second) {
		img, err := r.region.Images.Image(ctx, id)
		switch {
		case errors.Is(err, backends.ErrNotFound): // deleted meanwhile
			r.written(ctx, id, nil)
			return
		case err == nil:
			r.written(ctx, id, img)
			if img.Status != backends.StatusUploading {
				return
			}
		}
		select {
		case <-ctx.Done():
			c.log.WarnContext(ctx, "the region's image is still uploading after a failed staging", "image", id, "region", r.name)
			return
		case <-time.After(wait):
		}
	}
}

// errOverCap is a source longer than the image size cap.
var errOverCap = errors.New("the source is larger than the image size cap")

// cappedReader reads at most left bytes of r, and fails with errOverCap
// when r has more.
type cappedReader struct {
	r    io.Reader
	left int64
}

func (c *cappedReader) Read(p []byte) (int, error) {
	if c.left <= 0 {
		var one [1]byte
		n, err := c.r.Read(one[:])
		if n > 0 {
			return 0, errOverCap
		}
		return 0, err
	}
	if int64(len(p)) > c.left {
		p = p[:c.left]
	}
	n, err := c.r.Read(p)
	c.left -= int64(n)
	return n, err
}

var (
	_ URLGetter       = (*outbound.Fetcher)(nil)
	_ TransferLimiter = (*transfers.Limiter)(nil)
)
