package federation

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/google/uuid"

	"github.com/spyglass-gateway/spyglass/backends"
	"github.com/spyglass-gateway/spyglass/backends/glancedownload"
	"github.com/spyglass-gateway/spyglass/logctx"
)

// GlanceDownloader is a region whose Import runs glance-download itself
// (local.Store). The others (a Glance, whose own glance-download would
// look in its own catalog, with its own import filtering, if enabled at
// all) get the gateway's: see Catalog.glanceDownload.
type GlanceDownloader interface {
	RunsGlanceDownload() bool
}

func runsGlanceDownload(r *cachedRegion) bool {
	g, ok := r.region.Tasks.(GlanceDownloader)
	return ok && g.RunsGlanceDownload()
}

// glanceDownload is the glance-download import into a region that does not
// run it: the gateway reads the source's record as the caller, gives the
// image the source's formats and the properties Glance copies, streams
// the source's data into the region's staging area and imports it with
// glance-direct, the region's own task. It runs as a task of the gateway
// (api_image_import, as Glance records it) and returns at once; a failure
// before the data is staged puts the formats and properties back, and the
// image stays queued, as Glance's revert leaves it.
func (c *Catalog) glanceDownload(ctx context.Context, dst *cachedRegion, id string, req backends.ImportRequest) error {
	img, err := dst.Image(ctx, id)
	if err != nil {
		return err
	}
	if img.Status != backends.StatusQueued {
		return backends.Errorf(backends.ErrConflict, "Image needs to be in 'queued' state to use 'glance-download' method")
	}
	caller := backends.CallerOf(ctx)
	input, _ := json.Marshal(map[string]any{
		"image_id": id,
		"import_req": map[string]any{"method": map[string]any{
			"name": req.Method, "glance_image_id": req.Glance.ImageID,
			"glance_region": req.Glance.Region, "glance_service_interface": req.Glance.Interface,
		}},
		"backend": []string{dst.name},
	})
	now := time.Now().UTC()
	task := &backends.Task{
		ID: uuid.NewString(), Type: "api_image_import", Status: backends.TaskProcessing,
		Owner: caller.Project, UserID: caller.User, RequestID: caller.RequestID, ImageID: id,
		Input: input, CreatedAt: now, UpdatedAt: now,
	}
	c.copies.put(ctx, task)

	// The download outlives the request: it runs as the caller, with a
	// context of its own.
	who := caller
	bg := logctx.WithRequestID(backends.WithCaller(context.Background(), &who), caller.RequestID)
	go func() {
		if err := c.runGlanceDownload(bg, dst, img, req, who.Token); err != nil {
			c.log.ErrorContext(bg, "glance-download failed", "image", id, "from", req.Glance.Region, "to", dst.name, "err", err)
			c.copies.update(bg, task, backends.TaskFailure, logctx.Redact(err.Error()))
			return
		}
		c.copies.update(bg, task, backends.TaskSuccess, "")
	}()
	return nil
}

func (c *Catalog) runGlanceDownload(ctx context.Context, dst *cachedRegion, img *backends.Image, req backends.ImportRequest, token string) error {
	meta, err := glancedownload.Fetch(ctx, c.glanceDL, req.Glance, token, glancedownload.DefaultProperties)
	if err != nil {
		return err
	}
	if req.SizeCap > 0 && meta.Size > req.SizeCap {
		return fmt.Errorf("the remote image's size %d is larger than the image size cap %d", meta.Size, req.SizeCap)
	}
	set, undo := downloadChanges(img, meta)
	if _, err := dst.UpdateImage(ctx, img.ID, set); err != nil {
		return fmt.Errorf("setting the source's formats and properties: %w", err)
	}
	restore := func(cause error) error {
		if _, err := dst.UpdateImage(ctx, img.ID, undo); err != nil {
			c.log.WarnContext(ctx, "glance-download: the image's formats and properties were not put back", "image", img.ID, "region", dst.name, "err", err)
		}
		return cause
	}
	body, err := glancedownload.Open(ctx, c.glanceDL, req.Glance, token)
	if err != nil {
		return restore(err)
	}
	defer body.Close()
	if _, err := dst.StageData(ctx, img.ID, body, backends.UploadOptions{ExpectedSize: meta.Size, SizeCap: req.SizeCap}); err != nil {
		return restore(fmt.Errorf("staging the data: %w", err))
	}
	if err := dst.Import(ctx, img.ID, backends.ImportRequest{Method: "glance-direct"}); err != nil {
		return fmt.Errorf("importing the staged data: %w", err)
	}
	return nil
}

// downloadChanges are the patches that give img the source's formats and
// properties (set), and those that put img's back (undo).
func downloadChanges(img *backends.Image, meta *glancedownload.Image) (set, undo []backends.Change) {
	str := func(s string) json.RawMessage { b, _ := json.Marshal(s); return b }
	ptr := func(p *string) json.RawMessage {
		if p == nil {
			return json.RawMessage("null")
		}
		return str(*p)
	}
	set = []backends.Change{
		{Op: backends.PatchReplace, Path: []string{"disk_format"}, Value: str(meta.DiskFormat)},
		{Op: backends.PatchReplace, Path: []string{"container_format"}, Value: str(meta.ContainerFormat)},
	}
	undo = []backends.Change{
		{Op: backends.PatchReplace, Path: []string{"disk_format"}, Value: ptr(img.DiskFormat)},
		{Op: backends.PatchReplace, Path: []string{"container_format"}, Value: ptr(img.ContainerFormat)},
	}
	for k, v := range meta.Properties {
		set = append(set, backends.Change{Op: backends.PatchAdd, Path: []string{k}, Value: str(v)})
		if old, ok := img.Properties[k]; ok {
			undo = append(undo, backends.Change{Op: backends.PatchAdd, Path: []string{k}, Value: str(old)})
		} else {
			undo = append(undo, backends.Change{Op: backends.PatchRemove, Path: []string{k}})
		}
	}
	return set, undo
}
