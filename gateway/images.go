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
	img, err := s.cat.Images.Image(c, id)
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
		if mm, err := s.cat.Members.Member(c, img.ID, c.id.ProjectID); err == nil {
			m = mm
		}
	}
	return policy.Visible(&c.id, img, m, "")
}

// showImage is the hot path: a map lookup, the visibility function and a
// memoized rendering.
func (s *Server) showImage(c *call, idb []byte) {
	img, err := s.lookup(c, string(idb))
	if err == nil {
		err = s.authorizeImage(c, policy.GetImage, img)
	}
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
	q, err := ParseListQuery(args)
	if err != nil {
		writeError(c.ctx, err)
		return
	}
	// "Do you have permission to list images": get_images on the caller's
	// project; then each image must pass get_image.
	if pt := policy.ProjectTarget(&c.id); !c.pol.Allowed(policy.GetImages, &c.id, &pt) {
		writeError(c.ctx, forbidden(policy.GetImages))
		return
	}
	var imgs []*backends.Image
	if q.Limit > 0 { // Glance answers limit=0 with an empty page
		imgs, err = s.cat.Images.ListImages(c, q)
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
	// The next link follows a full page from the store, marked with the
	// last image shown, as Glance's index does after its policy filter.
	fullPage := len(imgs) == q.Limit
	last, shown := "", 0
	for _, img := range imgs {
		if t := policy.ImageTarget(img, &c.id); !c.pol.Allowed(policy.GetImage, &c.id, &t) {
			continue
		}
		if shown > 0 {
			b = append(b, ", "...)
		}
		shown++
		b = append(b, s.render.image(img)...)
		last = img.ID
	}
	if !fullPage {
		last = ""
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
	if err := s.authorizeCreate(c, img); err != nil {
		writeError(c.ctx, err)
		return
	}
	owner := c.id.ProjectID
	if img.Owner != nil {
		owner = *img.Owner
	}
	chosen := img.ID == "" // by Spyglass: the client cannot find it
	if chosen {
		img.ID = newUUID()
	}
	if img.Owner == nil && owner != "" {
		img.Owner = &owner
	}
	if img.Visibility == "" {
		img.Visibility = backends.VisibilityShared
	}
	created, err := s.cat.Images.CreateImage(c, img)
	if err != nil {
		if chosen {
			s.dropOrphan(c, img.ID, err)
		}
		writeError(c.ctx, err)
		return
	}
	h := &c.ctx.Response.Header
	h.Set("Location", hostURL(c.ctx)+"/v2/images/"+created.ID)
	h.Set("OpenStack-image-import-methods", s.importM)
	h.Set("OpenStack-image-store-ids", joinComma(s.cat.Stores.Stores()))
	c.ctx.SetStatusCode(201)
	h.SetContentTypeBytes(ctJSON)
	c.ctx.Response.SetBodyRaw(s.render.image(created))
}

// authorizeCreate is ImageAPIPolicy.add_image on the proposed image: the
// rule (a refusal for another owner worded as such), the visibility's rule,
// and in legacy mode check_admin_or_same_owner.
func (s *Server) authorizeCreate(c *call, img *backends.Image) error {
	owner := img.Owner
	if owner == nil && c.id.ProjectID != "" {
		owner = &c.id.ProjectID
	}
	vis := img.Visibility
	if vis == "" {
		vis = backends.VisibilityPrivate
	}
	t := policy.ProposedImageTarget(owner, vis)
	ownerText := "None"
	if owner != nil {
		ownerText = *owner
	}
	sameOwner := owner != nil && *owner == c.id.ProjectID || owner == nil && c.id.ProjectID == ""
	if !c.pol.Allowed(policy.AddImage, &c.id, &t) {
		if !sameOwner {
			// Raised with a positional message: webob's detail.
			return errDetail(403, "You are not permitted to create images owned by '"+ownerText+"'")
		}
		return forbidden(policy.AddImage)
	}
	if err := s.authorizeVisibility(c, vis, &t); err != nil {
		return err
	}
	if c.pol.Legacy() && !c.id.IsAdmin && !sameOwner {
		return errStatus(403, "You are not permitted to create images owned by '"+ownerText+"'.")
	}
	return nil
}

// authorizeVisibility is _enforce_image_visibility: publicize_image or
// communitize_image for those visibilities, refused with a plain 403.
func (s *Server) authorizeVisibility(c *call, visibility string, t *policy.Target) error {
	var r policy.Rule
	switch visibility {
	case backends.VisibilityPublic:
		r = policy.PublicizeImage
	case backends.VisibilityCommunity:
		r = policy.CommunitizeImage
	default:
		return nil
	}
	if !c.pol.Allowed(r, &c.id, t) {
		return forbidden(r)
	}
	return nil
}

// authorizeChange is one change of Images.update: locations have their own
// rules; a replaced owner needs an admin before anything else; any other
// path is update_property (the visibility's rule, then modify_image and, in
// legacy mode, the ownership check), then backends.CheckChange: the one
// check of which attribute may change, for this caller and this image.
func (s *Server) authorizeChange(c *call, img *backends.Image, ch *backends.Change) error {
	root := ch.Path[0]
	if root == "locations" {
		rule := policy.SetImageLocation
		switch ch.Op {
		case backends.PatchRemove:
			rule = policy.DeleteImageLocation
		case backends.PatchReplace:
			if v := strings.TrimSpace(string(ch.Value)); v == "[]" || v == "null" {
				return errDetail(403, "Cannot set locations to empty list.")
			}
		}
		if err := s.authorizeImage(c, rule, img); err != nil {
			return err
		}
		// delete_locations checks the ownership in legacy mode before
		// anything else; with locations shown, Glance's database then
		// refuses to save an image its caller does not own
		// (_check_mutate_authorization), whatever the policy: anyone the
		// default rule lets through would otherwise change another
		// project's image data. With them hidden, Glance refuses the
		// change as hidden first (the store's 403).
		if ch.Op == backends.PatchRemove && !c.pol.LegacyMutable(&c.id, img) {
			return errNotOwner
		}
		if s.cfg.ShowMultipleLocations && !policy.Mutable(&c.id, img) {
			return errNotOwner
		}
		return nil
	}
	if root == "owner" && ch.Op == backends.PatchReplace && !c.id.IsAdmin {
		// _do_replace refuses before any policy check.
		return errDetail(403, "Owner can't be updated by non admin.")
	}
	if root == "visibility" && ch.Op != backends.PatchRemove {
		if v, ok := jsonStringValue(ch.Value); ok {
			t := policy.ImageTarget(img, &c.id)
			if err := s.authorizeVisibility(c, v, &t); err != nil {
				return err
			}
		}
	}
	if err := s.authorizeImage(c, policy.ModifyImage, img); err != nil {
		return err
	}
	if !c.pol.LegacyMutable(&c.id, img) {
		return errNotOwner
	}
	// Decided here for every region: a Glance region would let a tenant's
	// add of /owner through (backends.CheckChange says why).
	return backends.CheckChange(img, ch, c.id.IsAdmin)
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
	if s.cfg.ShowMultipleLocations {
		for i := range changes {
			changes[i].LocationsVisible = true
		}
	}
	img, err := s.lookup(c, id)
	if err != nil {
		writeError(c.ctx, err)
		return
	}
	for i := range changes {
		if len(changes[i].Path) == 0 {
			continue
		}
		if err := s.authorizeChange(c, img, &changes[i]); err != nil {
			writeError(c.ctx, err)
			return
		}
	}
	updated := img
	if len(changes) > 0 {
		// The database layer's own check on every write.
		if !policy.Mutable(&c.id, img) {
			writeError(c.ctx, errNotOwner)
			return
		}
		updated, err = s.cat.Images.UpdateImage(c, id, changes)
	}
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
	if err := s.authorizeImage(c, policy.DeleteImage, img); err != nil {
		writeError(c.ctx, err)
		return
	}
	if !policy.Mutable(&c.id, img) { // legacy API check and database layer alike
		writeError(c.ctx, errNotOwner)
		return
	}
	if err := s.cat.Images.DeleteImage(c, id); err != nil {
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
	rule := policy.Deactivate
	if action == "reactivate" {
		rule = policy.Reactivate
	}
	if err := s.authorizeImage(c, rule, img); err != nil {
		writeError(c.ctx, err)
		return
	}
	if !policy.Mutable(&c.id, img) {
		writeError(c.ctx, errNotOwner)
		return
	}
	status := backends.StatusDeactivated
	if action == "reactivate" {
		status = backends.StatusActive
	}
	if _, err := s.cat.Images.SetImageStatus(c, id, status); err != nil {
		writeError(c.ctx, err)
		return
	}
	c.ctx.SetStatusCode(204)
	c.ctx.Response.Header.SetContentType("text/html; charset=UTF-8")
}

func (s *Server) addTag(c *call, id, tag string) {
	s.changeTag(c, id, "update", func() error { return s.cat.Images.AddTag(c, id, tag) })
}

func (s *Server) deleteTag(c *call, id, tag string) {
	s.changeTag(c, id, "delete", func() error { return s.cat.Images.DeleteTag(c, id, tag) })
}

// changeTag is a tag's PUT or DELETE: the same checks, in Glance's order
// (the tags controller's), before change; verb words its 403.
func (s *Server) changeTag(c *call, id, verb string, change func() error) {
	img, err := s.memberImage(c, id) // the tags controller words its 404 so
	if err != nil {
		writeError(c.ctx, err)
		return
	}
	if err := s.authorizeImage(c, policy.ModifyImage, img); err != nil {
		writeError(c.ctx, err)
		return
	}
	if !policy.Mutable(&c.id, img) {
		writeError(c.ctx, errStatus(403, "Not allowed to "+verb+" tags for image "+id+"."))
		return
	}
	if err := change(); err != nil {
		writeError(c.ctx, err)
		return
	}
	c.ctx.SetStatusCode(204)
	c.ctx.Response.Header.SetContentType("text/html; charset=UTF-8")
}

func (s *Server) imageTasks(c *call, id string) {
	// get_task_info answers a bare 404 for a missing, hidden or
	// unreadable image alike.
	img, err := s.lookup(c, id)
	if err == nil {
		err = s.authorizeImage(c, policy.GetImage, img)
	}
	if err != nil {
		if errors.Is(err, backends.ErrNotFound) || err == errHidden {
			err = errHidden
		}
		writeError(c.ctx, err)
		return
	}
	tasks, err := s.cat.Tasks.ImageTasks(c, id)
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
	body := s.requestBody(c)
	b, err := io.ReadAll(io.LimitReader(body, int64(s.cfg.MaxJSONBody)+1))
	body.finish()
	if err != nil {
		return nil, err
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
