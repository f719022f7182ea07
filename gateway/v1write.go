package gateway

import (
	"bytes"
	"context"
	"crypto/md5"
	"encoding/hex"
	"encoding/json"
	"errors"
	"hash"
	"io"
	"strconv"

	"github.com/spyglass-gateway/spyglass/backends"
	"github.com/spyglass-gateway/spyglass/policy"
)

// The Images API v1 writes: POST /v1/images, PUT and DELETE
// /v1/images/{id}, over the same Images and ImageData contracts as the v2
// routes, so that an image written through one version is the same image
// through the other. Line numbers are of Queens' glance/api/v1/images.py,
// upload_utils.py and glance/registry/api/v1/images.py at queens-eol.
//
// Where Spyglass differs from Queens, on purpose:
//   - a failed upload keeps nothing: a create whose data fails (checksum
//     or size mismatch, cut body) deletes the image it reserved, and an
//     upload to a queued image leaves it queued, where Queens left a
//     killed record (upload_utils.py:128-143); checks that need no data
//     are made before anything is created;
//   - size, checksum and virtual_size are the store's to compute (v2's
//     read-only attributes): supplied, they are verified against the data
//     uploaded with them and otherwise not recorded;
//   - x-image-meta-location and x-glance-api-copy-from are served as
//     v1source.go says, and x-image-meta-store names a store (region) of
//     the catalog;
//   - the catalog's state rules are v2's: an image is active only with
//     its formats (a size-0 reservation without them stays queued), and
//     the formats change only while it is queued;
//   - the rules are decided on v2's targets, not on {} (v1Enforce);
//   - the catalog keeps no deleted images (v2's): a deleted image's HEAD
//     is a 404 where Queens answered 200 with status deleted, and
//     changes-since never lists deleted images;
//   - the property quota is the catalog's (image_property_quota, 128 by
//     default), not the 10 Queens' functional tests configured.

// hasBody is Glance's wsgi.JSONRequestDeserializer.has_body: a
// Transfer-Encoding, or a Content-Length above 0.
func (c *call) hasBody() bool {
	cl := c.ctx.Request.Header.ContentLength()
	return cl > 0 || cl == -1
}

// v1Enforce is the controller's _enforce sequence for a write
// (images.py:912-919 and 951-958): the route's rule, publicize_image for
// is_public, upload_image when data comes, each refused with a bare 403.
//
// Queens enforced them on {}, under rules that read no target (its
// defaults were all "" or role:admin). Spyglass's default rules are
// Glance 25's secure-RBAC ones, which read %(owner)s and %(project_id)s
// and fail on {}: the target here is what v2 passes for the same act, the
// image the create proposes (add_image's) or the image being changed, so
// that a member may write through v1 what it may write through v2. Under
// the legacy rules the answers are Queens' (their rules read no target).
func (s *Server) v1Enforce(c *call, rule policy.Rule, m *V1ImageMeta, data bool, t *policy.Target) error {
	if !c.pol.Allowed(rule, &c.id, t) {
		return errV1Forbidden
	}
	if m.IsPublic && !c.pol.Allowed(policy.PublicizeImage, &c.id, t) {
		return errV1Forbidden
	}
	if data && !c.pol.Allowed(policy.UploadImage, &c.id, t) {
		return errV1Forbidden
	}
	return s.v1EnforceSource(c, m, t) // v1source.go
}

// v1CheckData is what must hold before data is read: the Content-Type
// (images.py:668-674), the formats an active image needs
// (_validate_image_for_activation, images.py:850-866) and the store (get_store_or_400,
// 1197-1214, worded as _reserve's, 577-581).
func (s *Server) v1CheckData(c *call, m *V1ImageMeta, orig *backends.Image) error {
	ct := c.ctx.Request.Header.ContentType()
	if i := bytes.IndexByte(ct, ';'); i >= 0 {
		ct = ct[:i]
	}
	if !bytes.EqualFold(bytes.TrimSpace(ct), ctOctetStream) {
		return errDetail(400, "Content-Type must be application/octet-stream")
	}
	if m.Value("disk_format") == nil && (orig == nil || orig.DiskFormat == nil || *orig.DiskFormat == "") {
		return errDetail(400, "Disk format is not specified.")
	}
	if m.Value("container_format") == nil && (orig == nil || orig.ContainerFormat == nil || *orig.ContainerFormat == "") {
		return errDetail(400, "Container format is not specified.")
	}
	return s.v1CheckStore(m)
}

// v1ParseMeta is ImageDeserializer._deserialize (images.py:1223-1255):
// the headers, then the size cap, on the Content-Length or else the
// supplied size, with or without data.
func (s *Server) v1ParseMeta(c *call) (*V1ImageMeta, error) {
	m, err := ParseV1ImageMeta(&c.ctx.Request.Header)
	if err != nil {
		return nil, err
	}
	size := int64(c.ctx.Request.Header.ContentLength())
	if size <= 0 && m.Has("size") {
		size = m.Size
	}
	if limit := s.cfg.SizeCap; limit > 0 && size > limit {
		return nil, errDetail(400, "Denying attempt to upload image larger than "+strconv.FormatInt(limit, 10)+" bytes.")
	}
	return m, nil
}

func (s *Server) v1CheckStore(m *V1ImageMeta) error {
	if st := m.Value("store"); st != nil && !contains(s.cat.Stores.Stores(), *st) {
		return badRequest("Required store " + *st + " is invalid")
	}
	return nil
}

// v1Create answers POST /v1/images (images.py:870-940): a reservation
// (queued), or an image and its data in one call.
func (s *Server) v1Create(c *call) {
	m, err := s.v1ParseMeta(c)
	if err != nil {
		writeError(c.ctx, err)
		return
	}
	img := &backends.Image{
		Name: m.Value("name"), DiskFormat: m.Value("disk_format"), ContainerFormat: m.Value("container_format"),
		MinDisk: m.MinDisk, MinRAM: m.MinRAM, Protected: m.Protected,
		// db/utils.py:28-41, ensure_image_dict_v2_compliant: is_public
		// is public or shared; without it, the column's default, shared.
		Visibility: backends.VisibilityShared,
	}
	if m.IsPublic {
		img.Visibility = backends.VisibilityPublic
	}
	// registry/api/v1/images.py:425-427: the caller's project, unless an
	// admin names another, or none (an empty header is None).
	owner := c.id.ProjectID
	if owner != "" {
		img.Owner = &owner
	}
	if c.id.IsAdmin && m.Has("owner") {
		img.Owner = m.Value("owner")
	}
	t := policy.ProposedImageTarget(img.Owner, img.Visibility)
	err = s.v1Enforce(c, policy.AddImage, m, c.hasBody(), &t)
	var src v1Source // x-image-meta-location, x-glance-api-copy-from (v1source.go)
	if err == nil {
		src, err = s.v1ParseSource(c, m)
	}
	if err == nil {
		switch {
		case c.hasBody():
			err = s.v1CheckData(c, m, nil)
		case src.any():
			if err = v1CheckFormats(m, nil); err == nil {
				err = s.v1CheckStore(m)
			}
		default:
			err = s.v1CheckStore(m)
		}
	}
	if err != nil {
		writeError(c.ctx, err)
		return
	}
	chosen := false // the id by Spyglass: the client cannot find it
	if id := m.Value("id"); id != nil {
		// registry/api/v1/images.py:429-434, is_uuid_like; narrowed to
		// the v2 schema's pattern, the one form every v2 client and
		// path can name (a braced or urn: id would be a v1-only image).
		if !uuidLike(*id) || !uuidPattern.MatchString(*id) {
			writeError(c.ctx, badRequest("Failed to reserve image. Got error: Invalid image id format"))
			return
		}
		img.ID = *id
	} else {
		img.ID = newUUID()
		chosen = true
	}
	if err := v1CheckDBInts(m); err != nil {
		writeError(c.ctx, badRequest("Failed to reserve image. Got error: "+err.Error()))
		return
	}
	if len(m.Properties) > 0 {
		img.Properties = make(map[string]string, len(m.Properties))
		for k, v := range m.Properties {
			if err := backends.CheckAttribute(k); err != nil || backends.LookupAttribute(k) != nil {
				writeError(c.ctx, badRequest("Failed to reserve image. Got error: property "+k+" is reserved"))
				return
			}
			img.Properties[k] = v
		}
	}
	created, err := s.cat.Images.CreateImage(c, img)
	if err != nil {
		if chosen {
			s.dropOrphan(c, img.ID, err)
		}
		if errors.Is(err, backends.ErrConflict) {
			// images.py:612-619.
			err = errStatus(409, "An image with identifier "+img.ID+" already exists")
		}
		writeError(c.ctx, err)
		return
	}
	// images.py:584-585: a reservation of size 0 is active at once. The
	// catalog activates no image without its formats (v2's rule): without
	// them it stays a queued reservation.
	empty := !c.hasBody() && !src.any() && m.Has("size") && m.Size == 0 && img.DiskFormat != nil && img.ContainerFormat != nil
	if src.location != "" {
		up, err := s.v1AddLocation(c, created.ID, m, src)
		if err != nil {
			s.v1Discard(c, created)
			s.render.forget(created.ID)
			writeError(c.ctx, err)
			return
		}
		created = up
	}
	if c.hasBody() || empty {
		var up *backends.Image
		if empty {
			up, err = s.cat.Data.UploadData(context.WithoutCancel(c), created.ID, bytes.NewReader(nil), backends.UploadOptions{ExpectedSize: 0, Store: v1Store(m)})
		} else {
			up, err = s.v1Upload(c, created.ID, m)
		}
		if err != nil {
			// Nothing kept (see the file's comment), protected or not.
			s.v1Discard(c, created)
			s.render.forget(created.ID)
			writeError(c.ctx, err)
			return
		}
		created = up
	}
	h := &c.ctx.Response.Header
	// ImageSerializer.create (images.py:1337-1345).
	h.Set("Location", hostURL(c.ctx)+"/v1/images/"+created.ID)
	if created.Checksum != nil {
		h.Set("ETag", *created.Checksum)
	}
	c.ctx.SetStatusCode(201)
	s.v1WriteImage(c, created)
	if src.copyFrom != "" {
		s.v1StartCopy(c, created.ID, m, src)
	}
}

// v1Discard deletes an image the create reserved and could not fill; a
// protected one is unprotected first, or the delete would be refused.
func (s *Server) v1Discard(c *call, img *backends.Image) {
	ctx := context.WithoutCancel(c)
	if img.Protected {
		if _, err := s.cat.Images.UpdateImage(ctx, img.ID, []backends.Change{{Op: backends.PatchReplace, Path: []string{"protected"}, Value: json.RawMessage("false")}}); err != nil {
			logInternal(c.ctx, err)
		}
	}
	if err := s.cat.Images.DeleteImage(ctx, img.ID); err != nil {
		logInternal(c.ctx, err)
	}
}

// v1WriteImage is the {"image": {...}} body of a create or an update
// (images.py:1330-1345): the registry's image dict, as the detail list.
func (s *Server) v1WriteImage(c *call, img *backends.Image) {
	buf := bytebuf(c.ctx)
	b := append((*buf)[:0], `{"image": `...)
	b = appendV1Image(b, img)
	b = append(b, '}')
	*buf = b
	c.ctx.Response.Header.SetContentTypeBytes(ctJSON)
	c.ctx.Response.SetBodyRaw(b)
}

func v1Store(m *V1ImageMeta) string {
	if st := m.Value("store"); st != nil {
		return *st
	}
	return ""
}

// v1Upload streams the body into the queued image id, verifying the
// supplied size and checksum on the way (upload_utils.py:128-147): a
// mismatch fails the body's last read, so the store never activates the
// image.
func (s *Server) v1Upload(c *call, id string, m *V1ImageMeta) (*backends.Image, error) {
	body := s.requestBody(c)
	body.stall = s.cfg.ReadTimeout
	v := &v1Verifier{r: body, md5: md5.New(), size: -1}
	if m.Has("size") && m.Size > 0 { // "if supplied and ...": 0 is not checked
		v.size = m.Size
	}
	if sum := m.Value("checksum"); sum != nil {
		v.checksum = *sum
	}
	opts := backends.UploadOptions{ExpectedSize: -1, SizeCap: s.cfg.SizeCap, Store: v1Store(m)}
	img, err := s.cat.Data.UploadData(context.WithoutCancel(c), id, v, opts)
	body.finish()
	if v.err != nil {
		return nil, v.err // whatever the store made of it
	}
	if errors.Is(err, backends.ErrTooLarge) && s.cfg.SizeCap > 0 {
		// upload_utils.py:245-253 (a body of unknown length past the
		// cap: LimitingReader's ImageSizeLimitExceeded).
		err = errStatus(413, "Denying attempt to upload image larger than "+strconv.FormatInt(s.cfg.SizeCap, 10)+" bytes.")
	}
	return img, err
}

// v1Verifier counts and hashes what the store reads, and at the end
// fails instead of ending when the supplied size or checksum does not
// match (upload_utils.py:128-143's message).
type v1Verifier struct {
	r        io.Reader
	md5      hash.Hash
	n, size  int64 // size -1: not supplied
	checksum string
	err      error
}

func (v *v1Verifier) Read(p []byte) (int, error) {
	n, err := v.r.Read(p)
	v.n += int64(n)
	v.md5.Write(p[:n])
	if err != io.EOF {
		return n, err
	}
	if v.size >= 0 && v.n != v.size {
		v.err = v1Mismatch("size", strconv.FormatInt(v.size, 10), strconv.FormatInt(v.n, 10))
	} else if sum := hex.EncodeToString(v.md5.Sum(nil)); v.checksum != "" && sum != v.checksum {
		v.err = v1Mismatch("checksum", v.checksum, sum)
	}
	if v.err != nil {
		return n, v.err
	}
	return n, io.EOF
}

func v1Mismatch(attr, supplied, actual string) error {
	return errStatus(400, "Supplied "+attr+" ("+supplied+") and "+attr+" generated from uploaded image ("+actual+") did not match. Setting image status to 'killed'.")
}

// v1Update answers PUT /v1/images/{id} (images.py:942-1105): new
// metadata from the headers, and data for a queued image.
func (s *Server) v1Update(c *call, id string) {
	data := c.hasBody()
	m, err := s.v1ParseMeta(c)
	var orig *backends.Image
	if err == nil {
		orig, err = s.v1Image(c, id)
	}
	if err == nil {
		t := policy.ImageTarget(orig, &c.id)
		err = s.v1Enforce(c, policy.ModifyImage, m, data, &t)
	}
	if err == nil {
		err = v1CheckImmutable(c, m, orig)
	}
	if err == nil && data && orig.Status != backends.StatusQueued {
		// images.py:1004-1005: HTTPConflict(msg), the detail.
		err = errDetail(409, "Cannot upload to an unqueued image")
	}
	var src v1Source // v1source.go
	if err == nil {
		src, err = s.v1ParseSource(c, m)
	}
	if err == nil && src.any() && orig.Status != backends.StatusQueued {
		// images.py:1012 and 1029-1033.
		err = errStatus(400, "Attempted to update Location field for an image not in queued status.")
	}
	if err == nil && src.any() {
		if err = v1CheckFormats(m, orig); err == nil {
			err = s.v1CheckStore(m)
		}
		if err == nil && src.location != "" {
			err = s.v1ProbeLocation(c, src.location)
		}
	}
	if err == nil && data {
		err = s.v1CheckData(c, m, orig)
	}
	if err == nil {
		if derr := v1CheckDBInts(m); derr != nil {
			err = badRequest("Failed to update image metadata. Got error: " + derr.Error())
		}
	}
	if err == nil && !policy.Mutable(&c.id, orig) {
		// The registry's database layer (db/sqlalchemy/api.py
		// is_image_mutable), as images.py:1083-1089 words it.
		err = errStatus(403, "Forbidden to update image: You do not own this image")
	}
	var changes []backends.Change
	if err == nil {
		changes, err = v1Changes(c, m, orig, data)
	}
	if err != nil {
		writeError(c.ctx, err)
		return
	}
	updated := orig
	if len(changes) > 0 {
		updated, err = s.cat.Images.UpdateImage(c, id, changes)
		s.render.forget(id)
		if err != nil {
			writeError(c.ctx, err)
			return
		}
	}
	if data {
		updated, err = s.v1Upload(c, id, m)
		s.render.forget(id)
		if err != nil {
			writeError(c.ctx, err)
			return
		}
	}
	if src.location != "" {
		if updated, err = s.v1AddLocation(c, id, m, src); err != nil {
			writeError(c.ctx, err)
			return
		}
	}
	// ImageSerializer.update (images.py:1330-1335).
	if updated.Checksum != nil {
		c.ctx.Response.Header.Set("ETag", *updated.Checksum)
	}
	s.v1WriteImage(c, updated)
	if src.copyFrom != "" {
		s.v1StartCopy(c, id, m, src)
	}
}

// v1CheckImmutable is images.py:970-990: id and status never change;
// size and checksum of an active or deactivated image only by an admin.
// A header equal to the current value changes nothing.
func v1CheckImmutable(c *call, m *V1ImageMeta, img *backends.Image) error {
	same := func(field string) bool {
		v := m.Value(field)
		switch field {
		case "id":
			return v != nil && *v == img.ID
		case "status":
			return v != nil && *v == img.Status
		case "checksum":
			return v == nil && img.Checksum == nil || v != nil && img.Checksum != nil && *v == *img.Checksum
		case "size":
			return img.Size != nil && m.Size == *img.Size
		}
		return false
	}
	if !c.id.IsAdmin && (img.Status == backends.StatusActive || img.Status == backends.StatusDeactivated) {
		for _, k := range [...]string{"size", "checksum"} {
			if m.Has(k) && !same(k) {
				return errStatus(403, "Forbidden to modify '"+k+"' of "+img.Status+" image.")
			}
		}
	}
	for _, k := range [...]string{"status", "id"} {
		if m.Has(k) && !same(k) {
			return errStatus(403, "Forbidden to modify '"+k+"' of image.")
		}
	}
	return nil
}

// v1CheckDBInts is the database layer's _validate_db_int
// (db/sqlalchemy/api.py:107-121), which the registry's Invalid carried
// back to the API (images.py:620-626 and 1069-1075 word it).
func v1CheckDBInts(m *V1ImageMeta) error {
	const maxInt = 1<<31 - 1
	for _, f := range [...]struct {
		key string
		n   int64
	}{{"min_disk", m.MinDisk}, {"min_ram", m.MinRAM}} {
		if m.Has(f.key) && f.n > maxInt {
			return errors.New("'" + f.key + "' value out of range, must not exceed 2147483647.")
		}
	}
	return nil
}

// v1Changes turns the headers into the JSON-patch changes of the v2
// catalog: each core field that differs, owner only for an admin
// (registry/api/v1/images.py:473-475 drops it silently otherwise),
// is_public as public or shared (db/utils.py:28-41), and the properties,
// purged unless x-glance-registry-purge-props is false or data comes
// (images.py:992-1002): those not sent are removed.
func v1Changes(c *call, m *V1ImageMeta, img *backends.Image, data bool) ([]backends.Change, error) {
	var out []backends.Change
	add := func(path string, v any) {
		raw, _ := json.Marshal(v)
		out = append(out, backends.Change{Op: backends.PatchReplace, Path: []string{path}, Value: raw})
	}
	strField := func(field string, cur *string) {
		if !m.Has(field) {
			return
		}
		v := m.Value(field)
		if v == nil && cur == nil || v != nil && cur != nil && *v == *cur {
			return
		}
		add(field, v)
	}
	strField("name", img.Name)
	strField("disk_format", img.DiskFormat)
	strField("container_format", img.ContainerFormat)
	if c.id.IsAdmin {
		strField("owner", img.Owner)
	}
	if m.Has("min_disk") && m.MinDisk != img.MinDisk {
		add("min_disk", m.MinDisk)
	}
	if m.Has("min_ram") && m.MinRAM != img.MinRAM {
		add("min_ram", m.MinRAM)
	}
	if m.Has("protected") && m.Protected != img.Protected {
		add("protected", m.Protected)
	}
	if m.Has("is_public") {
		vis := backends.VisibilityShared
		if m.IsPublic {
			vis = backends.VisibilityPublic
		}
		if vis != img.Visibility {
			add("visibility", vis)
		}
	}
	for k, v := range m.Properties {
		if err := backends.CheckAttribute(k); err != nil || backends.LookupAttribute(k) != nil {
			return nil, errStatus(403, "Forbidden to update image: property "+k+" is reserved")
		}
		if cur, ok := img.Properties[k]; ok && cur == v {
			continue
		}
		raw, _ := json.Marshal(v)
		out = append(out, backends.Change{Op: backends.PatchAdd, Path: []string{k}, Value: raw})
	}
	purge := !data
	if h := c.ctx.Request.Header.Peek("x-glance-registry-purge-props"); h != nil {
		purge = purge && pyBoolFromString(string(h))
	}
	if purge {
		for k := range img.Properties {
			if _, kept := m.Properties[k]; kept || hiddenProperties[k] || backends.CheckAttribute(k) != nil {
				continue
			}
			out = append(out, backends.Change{Op: backends.PatchRemove, Path: []string{k}})
		}
	}
	for i := range out {
		if err := backends.CheckChange(img, &out[i], c.id.IsAdmin); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// v1Delete answers DELETE /v1/images/{id} (images.py:1107-1195): 200 with
// an empty body.
func (s *Server) v1Delete(c *call, id string) {
	img, err := s.v1Image(c, id)
	if err == nil {
		// delete_image on the image (v1Enforce says why not on {}).
		if t := policy.ImageTarget(img, &c.id); !c.pol.Allowed(policy.DeleteImage, &c.id, &t) {
			err = errV1Forbidden
		}
	}
	if err == nil && img.Protected {
		// images.py:1122-1127.
		err = errStatus(403, "Image is protected")
	}
	if err == nil && !policy.Mutable(&c.id, img) {
		// images.py:1178-1184.
		err = errStatus(403, "Forbidden to delete image: You do not own this image")
	}
	if err == nil {
		err = s.cat.Images.DeleteImage(c, id)
		if errors.Is(err, backends.ErrNotFound) {
			// images.py:1171-1177.
			err = errStatus(404, "Failed to find image to delete: Image "+id+" not found.")
		}
	}
	if err != nil {
		writeError(c.ctx, err)
		return
	}
	s.render.forget(id)
	c.ctx.Response.Header.SetContentType("text/html; charset=UTF-8")
}
