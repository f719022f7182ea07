package gateway

import (
	"errors"
	"io"
	"net/url"
	"strconv"
	"strings"

	"github.com/valyala/fasthttp"

	"github.com/spyglass-gateway/spyglass/backends"
	"github.com/spyglass-gateway/spyglass/policy"
)

func imageNotFound(id string) error {
	return backends.Errorf(backends.ErrNotFound, "No image found with ID "+id)
}

// lookup returns the image if the caller may see it, else Glance's 404.
func (s *Server) lookup(c *call, id string) (*backends.Image, error) {
	img, err := s.cat.Image(c, id)
	if err != nil {
		if errors.Is(err, backends.ErrNotFound) {
			return nil, imageNotFound(id)
		}
		return nil, err
	}
	if !s.visible(c, img) {
		return nil, imageNotFound(id)
	}
	return img, nil
}

// visible applies the one visibility function, looking the caller's
// membership up only when the answer depends on it.
func (s *Server) visible(c *call, img *backends.Image) bool {
	var m *backends.Member
	if policy.NeedsMembership(&c.id, img) {
		if mm, err := s.cat.Member(c, img.ID, c.id.ProjectID); err == nil {
			m = mm
		}
	}
	return policy.Visible(&c.id, img, m, "")
}

// showImage is the hot path: a map lookup, the visibility function and a
// memoized rendering.
func (s *Server) showImage(c *call, idb []byte) {
	img, err := s.lookup(c, string(idb))
	if err != nil {
		writeError(c.ctx, err)
		return
	}
	c.ctx.Response.Header.SetContentTypeBytes(ctJSON)
	c.ctx.Response.SetBodyRaw(s.render.image(img))
}

var (
	ctJSON        = []byte("application/json")
	ctOctetStream = []byte("application/octet-stream")
)

func (s *Server) listImages(c *call) {
	args := c.ctx.QueryArgs()
	q, err := ParseListQuery(args, c.id.Caller())
	if err != nil {
		writeError(c.ctx, err)
		return
	}
	var imgs []*backends.Image
	if q.Limit > 0 { // Glance answers limit=0 with an empty page
		imgs, err = s.cat.ListImages(c, q)
	}
	if err != nil {
		if errors.Is(err, backends.ErrMarkerNotFound) {
			var be *backends.Error
			if !errors.As(err, &be) {
				err = backends.Errorf(backends.ErrBadRequest, "marker not found")
			}
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
		b = append(b, s.render.image(img)...)
	}
	last := ""
	if len(imgs) > 0 && len(imgs) == q.Limit {
		last = imgs[len(imgs)-1].ID
	}
	b = appendPageLinks(b, "images", args, last)
	*buf = b
	c.ctx.Response.Header.SetContentTypeBytes(ctJSON)
	c.ctx.Response.SetBodyRaw(b)
}

// appendPageLinks closes a collection page as Glance's serializers do:
// first, schema, and next (a marker link, only after a full page, when
// lastID is set).
func appendPageLinks(b []byte, collection string, args *fasthttp.Args, lastID string) []byte {
	b = append(b, `], "first": "/v2/`...)
	b = append(b, collection...)
	b = appendLinkQuery(b, args, "")
	b = append(b, `", "schema": "/v2/schemas/`...)
	b = append(b, collection...)
	b = append(b, '"')
	if lastID != "" {
		b = append(b, `, "next": "/v2/`...)
		b = append(b, collection...)
		b = appendLinkQuery(b, args, lastID)
		b = append(b, '"')
	}
	return append(b, '}')
}

// appendLinkQuery renders the first/next link query as Glance does:
// dict(request.params) (one value per key, the last one, in order of first
// appearance) without marker, urlencoded; with marker appended when given.
func appendLinkQuery(dst []byte, args *fasthttp.Args, marker string) []byte {
	type kv struct{ k, v string }
	var pairs []kv
	index := map[string]int{}
	args.VisitAll(func(k, v []byte) {
		if string(k) == "marker" {
			return
		}
		if i, ok := index[string(k)]; ok {
			pairs[i].v = string(v)
			return
		}
		index[string(k)] = len(pairs)
		pairs = append(pairs, kv{string(k), string(v)})
	})
	if marker != "" {
		pairs = append(pairs, kv{"marker", marker})
	}
	for i, p := range pairs {
		if i == 0 {
			dst = append(dst, '?')
		} else {
			dst = append(dst, '&')
		}
		dst = append(dst, url.QueryEscape(p.k)...)
		dst = append(dst, '=')
		dst = append(dst, url.QueryEscape(p.v)...)
	}
	return dst
}

func (s *Server) createImage(c *call) {
	body, err := s.jsonBody(c)
	if err != nil {
		writeError(c.ctx, err)
		return
	}
	img, err := ParseCreateImage(body)
	if err != nil {
		writeError(c.ctx, err)
		return
	}
	owner := c.id.ProjectID
	if img.Owner != nil {
		owner = *img.Owner
	}
	if img.Visibility != "" && !policy.CanSetVisibility(&c.id, img.Visibility) {
		writeError(c.ctx, errStatus(403, visibilityForbidden(img.Visibility)))
		return
	}
	if !policy.CanCreateOwnedBy(&c.id, owner) {
		writeError(c.ctx, errStatus(403, "You are not permitted to create images owned by '"+owner+"'."))
		return
	}
	if img.ID == "" {
		img.ID = newUUID()
	}
	if img.Owner == nil && owner != "" {
		img.Owner = &owner
	}
	if img.Visibility == "" {
		img.Visibility = backends.VisibilityShared
	}
	created, err := s.cat.CreateImage(c, img)
	if err != nil {
		writeError(c.ctx, err)
		return
	}
	h := &c.ctx.Response.Header
	h.Set("Location", hostURL(c.ctx)+"/v2/images/"+created.ID)
	h.Set("OpenStack-image-import-methods", s.importM)
	h.Set("OpenStack-image-store-ids", joinComma(s.cat.Stores()))
	c.ctx.SetStatusCode(201)
	h.SetContentTypeBytes(ctJSON)
	c.ctx.Response.SetBodyRaw(s.render.image(created))
}

func visibilityForbidden(v string) string {
	if v == backends.VisibilityPublic {
		return "You are not authorized to complete publicize_image action."
	}
	return "You are not authorized to complete communitize_image action."
}

func (s *Server) updateImage(c *call, id string) {
	ct := c.ctx.Request.Header.ContentType()
	body, err := s.jsonBody(c)
	if err != nil {
		writeError(c.ctx, err)
		return
	}
	changes, err := ParsePatch(string(ct), body)
	if err != nil {
		if errors.Is(err, backends.ErrUnsupportedMedia) {
			c.ctx.Response.Header.Set("Accept-Patch", strings.Join(PatchContentTypes, ", "))
		}
		writeError(c.ctx, err)
		return
	}
	img, err := s.lookup(c, id)
	if err != nil {
		writeError(c.ctx, err)
		return
	}
	for _, ch := range changes {
		if len(ch.Path) == 0 {
			continue
		}
		switch ch.Path[0] {
		case "owner":
			if ch.Op == backends.PatchReplace && !c.id.IsAdmin {
				writeError(c.ctx, errDetail(403, "Owner can't be updated by non admin."))
				return
			}
		case "visibility":
			if v, ok := jsonStringValue(ch.Value); ok && !policy.CanSetVisibility(&c.id, v) {
				writeError(c.ctx, errStatus(403, visibilityForbidden(v)))
				return
			}
		}
	}
	if !policy.OwnsOrAdmin(&c.id, img) {
		writeError(c.ctx, errStatus(403, "You do not own this image"))
		return
	}
	updated, err := s.cat.UpdateImage(c, id, changes)
	if err != nil {
		writeError(c.ctx, err)
		return
	}
	c.ctx.Response.Header.SetContentTypeBytes(ctJSON)
	c.ctx.Response.SetBodyRaw(s.render.image(updated))
}

func (s *Server) deleteImage(c *call, id string) {
	img, err := s.lookup(c, id)
	if err != nil {
		if errors.Is(err, backends.ErrNotFound) {
			err = backends.Errorf(backends.ErrNotFound, "Failed to find image "+id+" to delete")
		}
		writeError(c.ctx, err)
		return
	}
	if !policy.OwnsOrAdmin(&c.id, img) {
		writeError(c.ctx, errStatus(403, "You do not own this image"))
		return
	}
	if err := s.cat.DeleteImage(c, id); err != nil {
		if errors.Is(err, backends.ErrNotFound) {
			err = backends.Errorf(backends.ErrNotFound, "Failed to find image "+id+" to delete")
		}
		writeError(c.ctx, err)
		return
	}
	s.render.forget(id)
	c.ctx.SetStatusCode(204)
	c.ctx.Response.Header.SetContentType("text/html; charset=UTF-8")
}

func (s *Server) imageAction(c *call, id, action string) {
	img, err := s.lookup(c, id)
	if err != nil {
		writeError(c.ctx, err)
		return
	}
	if !policy.OwnsOrAdmin(&c.id, img) {
		writeError(c.ctx, errStatus(403, "You do not own this image"))
		return
	}
	status := backends.StatusDeactivated
	if action == "reactivate" {
		status = backends.StatusActive
	}
	if _, err := s.cat.SetImageStatus(c, id, status); err != nil {
		writeError(c.ctx, err)
		return
	}
	c.ctx.SetStatusCode(204)
	c.ctx.Response.Header.SetContentType("text/html; charset=UTF-8")
}

func (s *Server) addTag(c *call, id, tag string) {
	img, err := s.memberImage(c, id) // the tags controller words its 404 so
	if err != nil {
		writeError(c.ctx, err)
		return
	}
	if !policy.OwnsOrAdmin(&c.id, img) {
		writeError(c.ctx, errStatus(403, "Not allowed to update tags for image "+id+"."))
		return
	}
	if err := s.cat.AddTag(c, id, tag); err != nil {
		writeError(c.ctx, err)
		return
	}
	c.ctx.SetStatusCode(204)
	c.ctx.Response.Header.SetContentType("text/html; charset=UTF-8")
}

func (s *Server) deleteTag(c *call, id, tag string) {
	img, err := s.memberImage(c, id) // the tags controller words its 404 so
	if err != nil {
		writeError(c.ctx, err)
		return
	}
	if !policy.OwnsOrAdmin(&c.id, img) {
		writeError(c.ctx, errStatus(403, "Not allowed to delete tags for image "+id+"."))
		return
	}
	if err := s.cat.DeleteTag(c, id, tag); err != nil {
		writeError(c.ctx, err)
		return
	}
	c.ctx.SetStatusCode(204)
	c.ctx.Response.Header.SetContentType("text/html; charset=UTF-8")
}

func (s *Server) imageTasks(c *call, id string) {
	if _, err := s.lookup(c, id); err != nil {
		writeError(c.ctx, err)
		return
	}
	tasks, err := s.cat.ImageTasks(c, id)
	if err != nil {
		writeError(c.ctx, err)
		return
	}
	buf := bytebuf(c.ctx)
	b := append(*buf, `{"tasks": [`...)
	for i, t := range tasks {
		if i > 0 {
			b = append(b, ", "...)
		}
		b = appendTaskRecord(b, t)
	}
	b = append(b, "]}"...)
	*buf = b
	c.ctx.Response.Header.SetContentTypeBytes(ctJSON)
	c.ctx.Response.SetBodyRaw(b)
}

// jsonBody reads a (small) request body. fasthttp streams bodies larger than
// MaxJSONBody; such a body is refused here rather than buffered.
func (s *Server) jsonBody(c *call) ([]byte, error) {
	req := &c.ctx.Request
	if !req.IsBodyStream() {
		return req.Body(), nil
	}
	if cl := req.Header.ContentLength(); cl > s.cfg.MaxJSONBody {
		return nil, errStatus(413, defaultExplanations[413])
	}
	b, err := io.ReadAll(io.LimitReader(c.ctx.RequestBodyStream(), int64(s.cfg.MaxJSONBody)+1))
	if err != nil {
		return nil, backends.Errorf(backends.ErrBadRequest, "Malformed JSON in request body.")
	}
	if len(b) > s.cfg.MaxJSONBody {
		return nil, errStatus(413, defaultExplanations[413])
	}
	return b, nil
}

// hostURL is webob's request.host_url: scheme://host[:port] of the request.
func hostURL(ctx *fasthttp.RequestCtx) string {
	scheme := "http"
	if ctx.IsTLS() {
		scheme = "https"
	}
	if p := ctx.Request.Header.Peek("X-Forwarded-Proto"); len(p) > 0 {
		scheme = string(p)
	}
	return scheme + "://" + string(ctx.Host())
}

func joinComma(list []string) string {
	n := 0
	for _, s := range list {
		n += len(s) + 1
	}
	b := make([]byte, 0, n)
	for i, s := range list {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, s...)
	}
	return string(b)
}

func jsonStringValue(raw []byte) (string, bool) {
	if len(raw) < 2 || raw[0] != '"' {
		return "", false
	}
	s, err := strconv.Unquote(string(raw))
	if err != nil {
		return "", false
	}
	return s, true
}
