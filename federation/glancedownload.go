package federation

import (
	"context"
	"encoding/json"
	"fmt"
	"io"

	"github.com/spyglass-gateway/spyglass/backends"
	"github.com/spyglass-gateway/spyglass/backends/glancedownload"
)

// GlanceDownloader is a region whose Import runs glance-download itself
// (local.Store). The others (a Glance, whose own glance-download would
// look in its own catalog, with its own import filtering, if enabled at
// all) get the gateway's download (download.go), whose source
// openGlanceSource opens.
type GlanceDownloader interface {
	RunsGlanceDownload() bool
}

func runsGlanceDownload(r *cachedRegion) bool {
	g, ok := r.region.Tasks.(GlanceDownloader)
	return ok && g.RunsGlanceDownload()
}

// openGlanceSource is glance-download's first steps, as Glance's
// _ImportMetadata and _DownloadGlanceImage: read the source's record as
// the caller, give the image in dst the source's formats and the
// properties Glance copies, and open the source's data, of size bytes.
// undo puts the formats and properties back (the import failed before
// the data was staged: Glance's revert leaves the image queued as it was).
func (c *Catalog) openGlanceSource(ctx context.Context, dst *cachedRegion, img *backends.Image, req backends.ImportRequest, token string) (body io.ReadCloser, size int64, undo func(), err error) {
	meta, err := glancedownload.Fetch(ctx, c.glanceDL, req.Glance, token, glancedownload.DefaultProperties)
	if err != nil {
		return nil, 0, nil, err
	}
	if req.SizeCap > 0 && meta.Size > req.SizeCap {
		return nil, 0, nil, fmt.Errorf("the remote image's size %d is larger than the image size cap %d", meta.Size, req.SizeCap)
	}
	set, back := downloadChanges(img, meta)
	if _, err := dst.UpdateImage(ctx, img.ID, set); err != nil {
		return nil, 0, nil, fmt.Errorf("setting the source's formats and properties: %w", err)
	}
	undo = func() {
		if _, err := dst.UpdateImage(ctx, img.ID, back); err != nil {
			c.log.WarnContext(ctx, "glance-download: the image's formats and properties were not put back", "image", img.ID, "region", dst.name, "err", err)
		}
	}
	body, err = glancedownload.Open(ctx, c.glanceDL, req.Glance, token)
	if err != nil {
		undo()
		return nil, 0, nil, err
	}
	return body, meta.Size, undo, nil
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
