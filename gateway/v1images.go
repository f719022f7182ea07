package gateway

import (
	"context"
	"errors"
	"sort"
	"strconv"
	"time"

	"github.com/spyglass-gateway/spyglass/backends"
	"github.com/spyglass-gateway/spyglass/policy"
)

// The Images API v1, read-only: listings, an image's metadata in
// x-image-meta-* headers, and its data, over the same catalog as v2, as
// Glance Queens served both over one database. Its rules come from
// glance/api/v1/images.py, glance/api/v1/controller.py,
// glance/registry/api/v1/images.py and glance/common/utils.py at tag
// queens-eol (line numbers are of those files).

// errV1Forbidden is Queens' _enforce: a bare HTTPForbidden()
// (api/v1/images.py:188-196).
var errV1Forbidden = errStatus(403, defaultExplanations[403])

// v1Allowed is api/v1/images.py's _enforce before the image is known.
// Queens enforced on {}, which no rule of its legacy defaults read; the
// current defaults do ("project_id:%(project_id)s"), and {} would refuse
// every caller but an admin, so the target is the caller's project, as
// v2's get_images. The image's own rule is checked once it is read
// (v1Image), as the v1 writes check v2's targets.
func (s *Server) v1Allowed(c *call, r policy.Rule) bool {
	pt := policy.ProjectTarget(&c.id)
	return c.pol.Allowed(r, &c.id, &pt)
}

// v1ListImages answers GET /v1/images (brief) and /v1/images/detail.
func (s *Server) v1ListImages(c *call, detail bool) {
	// api/v1/images.py:350 and 400: get_images on {}, before the query.
	if !s.v1Allowed(c, policy.GetImages) {
		writeError(c.ctx, errV1Forbidden)
		return
	}
	q, err := ParseV1ListQuery(c.ctx.QueryArgs(), c.id.IsAdmin)
	if err != nil {
		writeError(c.ctx, err)
		return
	}
	var imgs []*backends.Image
	if !q.Empty {
		imgs, err = s.v1List(c, q)
	}
	if err != nil {
		if errors.Is(err, backends.ErrMarkerNotFound) || q.Query.Marker != "" && errors.Is(err, backends.ErrBadRequest) && s.v1MarkerMissing(c, q) {
			// registry/api/v1/images.py:121-132. A Glance region
			// answers its own 400 for a marker it does not list.
			err = badRequest("Invalid marker. Image could not be found.")
		}
		writeError(c.ctx, err)
		return
	}
	buf := bytebuf(c.ctx)
	b := append(*buf, `{"images": [`...)
	for i, img := range imgs {
		if i > 0 {
			b = append(b, ", "...)
		}
		if detail {
			b = appendV1Image(b, img)
		} else {
			b = appendV1Brief(b, img)
		}
	}
	b = append(b, "]}"...)
	*buf = b
	c.ctx.Response.Header.SetContentTypeBytes(ctJSON)
	c.ctx.Response.SetBodyRaw(b)
}

// v1List asks the catalog for a v1 page: as the admin's project would as
// a regular user (AsUser), or without the public images (NotPublic,
// which the catalog cannot filter: pages are read until the v1 page is
// full or the listing ends).
func (s *Server) v1List(c *call, q *V1ListQuery) ([]*backends.Image, error) {
	ctx := backendsCtx(c, q.AsUser)
	if !q.NotPublic {
		return s.cat.Images.ListImages(ctx, &q.Query)
	}
	want := q.Query.Limit
	page := q.Query
	var out []*backends.Image
	for {
		imgs, err := s.cat.Images.ListImages(ctx, &page)
		if err != nil {
			return nil, err
		}
		for _, img := range imgs {
			if img.Visibility != "public" && len(out) < want {
				out = append(out, img)
			}
		}
		if len(out) == want || len(imgs) < page.Limit || len(imgs) == 0 {
			return out, nil
		}
		page.Marker = imgs[len(imgs)-1].ID
	}
}

// v1MarkerMissing reports whether the listing's marker names no image
// the listing's caller can see.
func (s *Server) v1MarkerMissing(c *call, q *V1ListQuery) bool {
	_, err := s.cat.Images.Image(backendsCtx(c, q.AsUser), q.Query.Marker)
	return errors.Is(err, backends.ErrNotFound)
}

// backendsCtx is the call as the catalog's context; asUser: with the
// caller's admin flag off, for an admin's listing "as a regular user".
func backendsCtx(c *call, asUser bool) context.Context {
	if !asUser || !c.id.IsAdmin {
		return c
	}
	u := &asUserCall{call: c, who: *backends.CallerFrom(c)}
	u.who.Admin = false
	// A Glance region decides is_admin from the roles it is told
	// (X-Roles, trusted mode): without the admin role, or it lists as
	// an admin. A forwarded Keystone token stays an admin's.
	roles := make([]string, 0, len(u.who.Roles))
	for _, r := range u.who.Roles {
		if r != "admin" {
			roles = append(roles, r)
		}
	}
	u.who.Roles = roles
	return u
}

// asUserCall is a call whose caller is not an admin.
type asUserCall struct {
	*call
	who backends.Caller
}

func (a *asUserCall) Value(key any) any {
	if key == backends.CallerKey {
		return &a.who
	}
	return a.call.Value(key)
}

// v1Image is controller.py's get_image_meta_or_404 (controller.py:29-48):
// the image, or 404 "Image with identifier %s not found" for one that is
// missing or that the caller may not see.
func (s *Server) v1Image(c *call, id string) (*backends.Image, error) {
	img, err := s.cat.Images.Image(c, id)
	if err == nil && !s.visible(c, img) {
		err = backends.ErrNotFound
	}
	if err == nil {
		switch c.pol.Image(policy.GetImage, &c.id, img) {
		case policy.Hide:
			err = backends.ErrNotFound
		case policy.Deny:
			return nil, errV1Forbidden
		}
	}
	if errors.Is(err, backends.ErrNotFound) {
		return nil, errDetail(404, "Image with identifier "+id+" not found")
	}
	return img, err
}

// v1Meta answers HEAD /v1/images/{id}: the metadata in headers, no body
// (api/v1/images.py:447-463, meta; ImageSerializer.meta, 1307-1311).
func (s *Server) v1Meta(c *call, id string) {
	if !s.v1Allowed(c, policy.GetImage) {
		writeError(c.ctx, errV1Forbidden)
		return
	}
	img, err := s.v1Image(c, id)
	if err != nil {
		writeError(c.ctx, err)
		return
	}
	setV1Headers(c, img)
	// webob's default Response: an empty text/html body.
	c.ctx.Response.Header.SetContentType("text/html; charset=UTF-8")
}

// v1Show answers GET /v1/images/{id}: the data, with the metadata in
// headers (api/v1/images.py:523-566, show; ImageSerializer.show,
// 1313-1329).
func (s *Server) v1Show(c *call, id string) {
	if !s.v1Allowed(c, policy.GetImage) {
		writeError(c.ctx, errV1Forbidden)
		return
	}
	img, err := s.v1Image(c, id)
	if err == nil {
		// controller.py:50-67, get_active_image_meta_or_error.
		switch {
		case img.Status == backends.StatusDeactivated:
			err = errDetail(403, "Image "+id+" is deactivated")
		case img.Status != backends.StatusActive:
			err = errDetail(404, "Image "+id+" is not active")
		}
	}
	if err != nil {
		// images.py:535-542: download_image is enforced (on {}) before
		// a 404 is raised.
		if status, _ := statusOf(err); status == 404 && !s.v1Allowed(c, policy.DownloadImage) {
			err = errV1Forbidden
		}
		writeError(c.ctx, err)
		return
	}
	// images.py:543-545: download_image on the image.
	if c.pol.Image(policy.DownloadImage, &c.id, img) != policy.Allow {
		writeError(c.ctx, errV1Forbidden)
		return
	}
	var size int64
	if img.Size != nil {
		size = *img.Size
	}
	h := &c.ctx.Response.Header
	if size == 0 {
		// images.py:549-550: no data read for an empty image.
		setV1Headers(c, img)
		h.SetContentTypeBytes(ctOctetStream)
		h.SetContentLength(0)
		return
	}
	data, err := s.cat.Data.OpenData(c, img)
	if err != nil {
		writeError(c.ctx, dataUnavailable(err))
		return
	}
	r, err := s.openData(c, data, 0, data.Size())
	if err != nil {
		data.Close()
		writeError(c.ctx, dataUnavailable(err))
		return
	}
	c.ctx.Response.ImmediateHeaderFlush = true
	setV1Headers(c, img)
	// images.py:1322-1324: Content-Length is the image's size.
	h.SetContentTypeBytes(ctOctetStream)
	s.metrics.dataSent(data, data.Size())
	c.ctx.Response.SetBodyStream(r, int(data.Size()))
}

// setV1Headers is ImageSerializer._inject_image_meta_headers and
// _inject_checksum_header (api/v1/images.py:1265-1296): every field that is
// not None as x-image-meta-<field>, every property as
// x-image-meta-property-<name, lower-cased> (utils.py:299-317), and the
// checksum as the ETag.
func setV1Headers(c *call, img *backends.Image) {
	h := &c.ctx.Response.Header
	var nb [20]byte
	set := func(k, v string) { h.Set("x-image-meta-"+k, v) }
	set("id", img.ID)
	if img.Name != nil {
		set("name", *img.Name)
	}
	set("status", img.Status)
	set("is_public", pyBool(img.Visibility == "public"))
	set("protected", pyBool(img.Protected))
	set("deleted", "False")
	if img.Owner != nil {
		set("owner", *img.Owner)
	}
	if img.Size != nil {
		set("size", string(strconv.AppendInt(nb[:0], *img.Size, 10)))
	}
	if img.VirtualSize != nil {
		set("virtual_size", string(strconv.AppendInt(nb[:0], *img.VirtualSize, 10)))
	}
	if img.DiskFormat != nil {
		set("disk_format", *img.DiskFormat)
	}
	if img.ContainerFormat != nil {
		set("container_format", *img.ContainerFormat)
	}
	if img.Checksum != nil {
		set("checksum", *img.Checksum)
		h.Set("ETag", *img.Checksum)
	}
	set("min_disk", string(strconv.AppendInt(nb[:0], img.MinDisk, 10)))
	set("min_ram", string(strconv.AppendInt(nb[:0], img.MinRAM, 10)))
	set("created_at", v1Time(img.CreatedAt))
	set("updated_at", v1Time(img.UpdatedAt))
	for _, k := range v1PropertyNames(img) {
		h.Set("x-image-meta-property-"+lower(k), img.Properties[k])
	}
}

// pyBool is six.text_type of a bool.
func pyBool(b bool) string {
	if b {
		return "True"
	}
	return "False"
}

// v1TimeLayout is how a v1 time reached clients: the registry's JSON
// (oslo jsonutils.to_primitive: timeutils.PERFECT_TIME_FORMAT), which the
// API server passed on as a string, of a time a MySQL DATETIME column had
// kept to the second (Queens' models.py: DateTime columns), as v2 shows
// it too.
const v1TimeLayout = "2006-01-02T15:04:05.000000"

func v1Time(t time.Time) string { return string(appendV1Time(nil, t)) }

func appendV1Time(b []byte, t time.Time) []byte {
	return t.UTC().Truncate(time.Second).AppendFormat(b, v1TimeLayout)
}

// v1PropertyNames are the image's properties, sorted, less those Glance
// never shows.
func v1PropertyNames(img *backends.Image) []string {
	keys := make([]string, 0, len(img.Properties))
	for k := range img.Properties {
		if !hiddenProperties[k] {
			keys = append(keys, k)
		}
	}
	sort.Strings(keys)
	return keys
}

// lower is Python's str.lower for ASCII names, which is what a header
// name holds.
func lower(s string) string {
	b := []byte(s)
	for i, c := range b {
		if 'A' <= c && c <= 'Z' {
			b[i] = c + 'a' - 'A'
		}
	}
	return string(b)
}

// appendV1Brief renders an image of GET /v1/images: the registry's
// DISPLAY_FIELDS_IN_INDEX (registry/api/v1/images.py:39-41,165-170), keys
// sorted as the v1 API reference's samples show them (Queens' own order
// was a Python dict's).
func appendV1Brief(b []byte, img *backends.Image) []byte {
	b = append(b, `{"checksum": `...)
	b = appendStringPtr(b, img.Checksum)
	b = append(b, `, "container_format": `...)
	b = appendStringPtr(b, img.ContainerFormat)
	b = append(b, `, "disk_format": `...)
	b = appendStringPtr(b, img.DiskFormat)
	b = append(b, `, "id": `...)
	b = appendJSONString(b, img.ID)
	b = append(b, `, "name": `...)
	b = appendStringPtr(b, img.Name)
	b = append(b, `, "size": `...)
	b = appendV1Int(b, img.Size)
	return append(b, '}')
}

// appendV1Image renders an image of GET /v1/images/detail: make_image_dict
// (registry/api/v1/images.py:544-562), IMAGE_ATTRS and properties, less
// the location (api/v1/images.py:146-157, redact_loc), is_public for
// visibility (db/utils.py:17-25), keys sorted as the API reference's
// samples show them.
func appendV1Image(b []byte, img *backends.Image) []byte {
	b = append(b, `{"checksum": `...)
	b = appendStringPtr(b, img.Checksum)
	b = append(b, `, "container_format": `...)
	b = appendStringPtr(b, img.ContainerFormat)
	b = append(b, `, "created_at": "`...)
	b = appendV1Time(b, img.CreatedAt)
	b = append(b, `", "deleted": false, "deleted_at": null, "disk_format": `...)
	b = appendStringPtr(b, img.DiskFormat)
	b = append(b, `, "id": `...)
	b = appendJSONString(b, img.ID)
	b = append(b, `, "is_public": `...)
	b = appendJSONBool(b, img.Visibility == "public")
	b = append(b, `, "min_disk": `...)
	b = strconv.AppendInt(b, img.MinDisk, 10)
	b = append(b, `, "min_ram": `...)
	b = strconv.AppendInt(b, img.MinRAM, 10)
	b = append(b, `, "name": `...)
	b = appendStringPtr(b, img.Name)
	b = append(b, `, "owner": `...)
	b = appendStringPtr(b, img.Owner)
	b = append(b, `, "properties": {`...)
	for i, k := range v1PropertyNames(img) {
		if i > 0 {
			b = append(b, ", "...)
		}
		b = appendJSONString(b, k)
		b = append(b, ": "...)
		b = appendJSONString(b, img.Properties[k])
	}
	b = append(b, `}, "protected": `...)
	b = appendJSONBool(b, img.Protected)
	b = append(b, `, "size": `...)
	b = appendV1Int(b, img.Size)
	b = append(b, `, "status": `...)
	b = appendJSONString(b, img.Status)
	b = append(b, `, "updated_at": "`...)
	b = appendV1Time(b, img.UpdatedAt)
	b = append(b, `", "virtual_size": `...)
	b = appendV1Int(b, img.VirtualSize)
	return append(b, '}')
}

func appendV1Int(b []byte, n *int64) []byte {
	if n == nil {
		return append(b, "null"...)
	}
	return strconv.AppendInt(b, *n, 10)
}

func appendJSONBool(b []byte, v bool) []byte {
	if v {
		return append(b, "true"...)
	}
	return append(b, "false"...)
}

// v1DetailHead is HEAD /v1/images/detail: routed, then refused by the
// controller (api/v1/images.py:394-399) with Allow: GET and the
// explanation alone as the body.
func (s *Server) v1DetailHead(c *call) {
	c.ctx.Response.Header.Set("Allow", "GET")
	writeError(c.ctx, &httpError{status: 405, bare: true, explanation: "This operation is currently not permitted on Glance images details."})
}
