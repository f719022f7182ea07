package gateway

import (
	"context"
	"crypto/md5"
	"net/http"
	"strings"
	"sync"

	"github.com/spyglass-gateway/spyglass/backends"
	"github.com/spyglass-gateway/spyglass/backends/httpstore"
	"github.com/spyglass-gateway/spyglass/policy"
)

// The Images API v1's external sources (Queens' api/v1/images.py at
// queens-eol: _external_source 489-500, _reserve 563-632, _upload
// 634-694, _handle_source 796-848, update 1011-1066):
//
//   - x-image-meta-location: the image's data stays at an http(s) URL,
//     read-only; the image is active at once with the size the URL's
//     server reports (a HEAD) or the one given, its checksum the one
//     given or none. The catalog records the location (imageLocations);
//     downloads stream from the URL (backends/httpstore). The location is
//     never shown: Queens redacted it (redact_loc).
//   - x-glance-api-copy-from: the data is copied from the URL into the
//     image's store in the background; the create (or update) answers at
//     once with the image queued, which goes saving, then active, or
//     killed when the copy fails (upload_utils.py safe_kill).
//
// Both URLs must pass the operator's import filtering (Glance's
// [import_filtering_opts], which Queens predates): a URL it refuses is
// Queens' 400 for a source it does not support. Where Spyglass differs
// from Queens, on purpose: every check that needs no data is made before
// the image is created (Queens reserved the image, then found two
// sources, or a size that did not match); copy-from needs the formats up
// front (the catalog activates no image without them).

// imageLocations is the optional capability of a catalog whose images can
// have their data at a location (the embedded store, federation.Catalog).
type imageLocations interface {
	AddLocation(ctx context.Context, id string, loc backends.Location, opts backends.LocationOptions) (*backends.Image, error)
}

// sourceGetter fetches a URL a tenant gave through the import filter;
// *outbound.Fetcher, the configured ImportFilter, is one.
type sourceGetter interface {
	Get(ctx context.Context, raw string) (*http.Response, error)
}

// v1Source is the external source a v1 write names, if any.
type v1Source struct {
	location string // x-image-meta-location
	copyFrom string // x-glance-api-copy-from
}

func (src v1Source) any() bool { return src.location != "" || src.copyFrom != "" }

// v1CopyFrom is the x-glance-api-copy-from header, and whether it was
// sent at all (Queens tested its value for the policy, its presence for
// the source: an empty one is "External source should not be empty").
func v1CopyFrom(c *call) (string, bool) {
	v := c.ctx.Request.Header.Peek("x-glance-api-copy-from")
	return string(v), v != nil
}

// v1EnforceSource is the rules an external source adds to v1Enforce's:
// copy_from (Queens' policy.json "" — no Glance 25 default: a policy
// file's rule of that name when there is one) and upload_image for
// copy-from, set_image_location for a location (_external_source).
func (s *Server) v1EnforceSource(c *call, m *V1ImageMeta, t *policy.Target) error {
	if v, _ := v1CopyFrom(c); v != "" { // images.py:916-919: a value, not the header's presence
		if allowed, ok := c.pol.AllowedName("copy_from", &c.id, t); ok && !allowed {
			return errV1Forbidden
		}
		if !c.pol.Allowed(policy.UploadImage, &c.id, t) {
			return errV1Forbidden
		}
	}
	if m.Has("location") && !c.pol.Allowed(policy.SetImageLocation, &c.id, t) {
		return errV1Forbidden
	}
	return nil
}

// v1ParseSource is _external_source and _validate_source, then
// _handle_source's one-source rule, before anything is written: the URL
// must be http(s) (the stores Queens enabled by default; file and the
// others are not external sources) and pass the import filter.
func (s *Server) v1ParseSource(c *call, m *V1ImageMeta) (v1Source, error) {
	var src v1Source
	raw, sent := "", false
	if m.Has("location") {
		raw, sent = m.Core["location"], true
		src.location = raw
	} else if v, ok := v1CopyFrom(c); ok {
		raw, sent = v, true
		src.copyFrom = raw
	}
	if !sent {
		return src, nil
	}
	if raw == "" {
		return src, errStatus(400, "External source should not be empty")
	}
	if !isHTTPURL(raw) || s.cfg.ImportFilter.CheckURL(raw) != nil {
		return src, errStatus(400, "External sources are not supported: '"+raw+"'")
	}
	// _handle_source: the location, copy-from and the body, one at most.
	n := 0
	for _, has := range [...]bool{src.location != "", c.hasBody()} {
		if has {
			n++
		}
	}
	if v, _ := v1CopyFrom(c); v != "" {
		n++
	}
	if n >= 2 {
		return src, errStatus(400, "It's invalid to provide multiple image sources.")
	}
	if src.location != "" {
		if _, ok := s.cat.Data.(imageLocations); !ok {
			return src, badRequest("Image locations are not served by this Images API: upload the data instead.")
		}
	} else if _, ok := s.cfg.ImportFilter.(sourceGetter); !ok {
		return src, badRequest("Copy-from is not served by this Images API: upload the data instead.")
	}
	return src, nil
}

func isHTTPURL(raw string) bool {
	i := strings.Index(raw, "://")
	if i <= 0 {
		return false
	}
	switch strings.ToLower(raw[:i]) {
	case "http", "https":
		return len(raw) > i+3
	}
	return false
}

// v1CheckFormats is _validate_image_for_activation (images.py:850-866):
// an image given its data needs both formats, sent or already set.
func v1CheckFormats(m *V1ImageMeta, orig *backends.Image) error {
	if m.Value("disk_format") == nil && (orig == nil || orig.DiskFormat == nil || *orig.DiskFormat == "") {
		return errDetail(400, "Disk format is not specified.")
	}
	if m.Value("container_format") == nil && (orig == nil || orig.ContainerFormat == nil || *orig.ContainerFormat == "") {
		return errDetail(400, "Container format is not specified.")
	}
	return nil
}

// v1ProbeLocation is update's _get_size (images.py:1055-1058), before
// the metadata is changed: a location that cannot be sized (404, an
// error status, unreachable, a refused redirect) changes nothing. The
// catalog sizes it again when it records it (AddLocation), as Queens'
// _handle_source did.
func (s *Server) v1ProbeLocation(c *call, raw string) error {
	d, ok := s.cfg.ImportFilter.(httpstore.Doer)
	if !ok {
		return nil // the catalog's own check is the only one
	}
	_, err := httpstore.New(d).Size(c, raw)
	return err
}

// v1AddLocation is _handle_source for a location: the queued image id
// becomes active with its data at the location.
func (s *Server) v1AddLocation(c *call, id string, m *V1ImageMeta, src v1Source) (*backends.Image, error) {
	opts := backends.LocationOptions{Checksum: m.Value("checksum")}
	if m.Has("size") {
		opts.Size = m.Size
	}
	img, err := s.cat.Data.(imageLocations).AddLocation(context.WithoutCancel(c), id, backends.Location{URL: src.location}, opts)
	s.render.forget(id)
	return img, err
}

// v1StartCopy is _handle_source for copy-from: the copy runs after the
// answer, as the caller (a copy of the identity: the request is gone by
// then), through the import filter (every hop and address checked again).
// The supplied size and checksum are verified as an upload's are; a copy
// that fails, or that Config.Transfers refuses or never runs, leaves the
// image killed.
func (s *Server) v1StartCopy(c *call, id string, m *V1ImageMeta, src v1Source) {
	who := backends.CallerOf(c)
	ctx, done := s.copies.start()
	ctx = backends.WithCaller(ctx, &who)
	get := s.cfg.ImportFilter.(sourceGetter)
	v := &v1Verifier{md5: md5.New(), size: -1}
	if m.Has("size") && m.Size > 0 {
		v.size = m.Size
	}
	if sum := m.Value("checksum"); sum != nil {
		v.checksum = *sum
	}
	opts := backends.UploadOptions{ExpectedSize: -1, SizeCap: s.cfg.SizeCap, Store: v1Store(m)}
	go func() {
		defer done()
		// The copy waits for a slot among the gateway's transfers; one
		// refused (its project has too many, or the queue is full) or
		// still waiting at Shutdown fails as a copy does.
		err := s.cfg.Transfers.Do(ctx, who.Project, func(ctx context.Context) error {
			return s.v1Copy(ctx, get, id, src.copyFrom, v, opts)
		})
		s.render.forget(id)
		if err == nil {
			return
		}
		s.log.Warn("v1 copy-from failed: the image is killed", "image", id, "err", err)
		// upload_utils.py safe_kill. A catalog that cannot kill an image
		// (a remote Glance 25 has no such transition) leaves it queued,
		// as a failed upload does.
		if _, kerr := s.cat.Images.SetImageStatus(context.WithoutCancel(ctx), id, backends.StatusKilled); kerr != nil {
			s.log.Warn("v1 copy-from: the image could not be killed", "image", id, "err", kerr)
		}
		s.render.forget(id)
	}()
}

func (s *Server) v1Copy(ctx context.Context, get sourceGetter, id, raw string, v *v1Verifier, opts backends.UploadOptions) error {
	resp, err := get.Get(ctx, raw)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	v.r = resp.Body
	_, err = s.cat.Data.UploadData(ctx, id, v, opts)
	if v.err != nil {
		return v.err
	}
	return err
}

// v1Copies are the copy-from copies running: Shutdown cancels them (the
// process is going; Queens' copies died with it) and waits for them to
// record their end, before the catalog closes.
type v1Copies struct {
	mu      sync.Mutex
	ctx     context.Context // nil until the first copy
	cancel  context.CancelFunc
	running sync.WaitGroup
}

// start registers a copy: it runs under ctx and calls done when it ends.
func (cs *v1Copies) start() (ctx context.Context, done func()) {
	cs.mu.Lock()
	defer cs.mu.Unlock()
	if cs.ctx == nil {
		cs.ctx, cs.cancel = context.WithCancel(context.Background())
	}
	cs.running.Add(1)
	return cs.ctx, cs.running.Done
}

// stop cancels the copies and waits for them, or for ctx to end.
func (cs *v1Copies) stop(ctx context.Context) {
	cs.mu.Lock()
	if cs.cancel != nil {
		cs.cancel()
	}
	cs.mu.Unlock()
	ended := make(chan struct{})
	go func() {
		cs.running.Wait()
		close(ended)
	}()
	select {
	case <-ended:
	case <-ctx.Done():
	}
}
