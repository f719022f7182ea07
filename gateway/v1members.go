package gateway

import (
	"bytes"
	"encoding/json"
	"errors"
	"strconv"
	"strings"

	"github.com/spyglass-gateway/spyglass/backends"
	"github.com/spyglass-gateway/spyglass/policy"
)

// The Images API v1 members: /v1/images/{id}/members and
// /v1/shared-images/{member}, over the same memberships as v2's (V1Members
// and Members). Queens' glance/api/v1/members.py (the API), and
// glance/registry/api/v1/members.py (the registry it called over HTTP, as
// "registry") at queens-eol.
//
// The API re-raised the registry's errors with the registry's whole
// response body as its explanation: a 403 became a 404 (Forbidden is
// NotFound there, "to not let on"), a 400 and a 404 stayed what they were;
// registryError keeps that shape.
//
// Where Spyglass differs from Queens, on purpose:
//   - members only on shared images (v2's rule, and a Glance region's): a
//     v1 member write to a public image is a 403 "Only shared images have
//     members.", where Queens added a member nothing read;
//   - a body Queens answered with a 500 (a TypeError: {"member": "x
//     can_share"}, {"memberships": null}, a member_id null) is a 400;
//   - the member quota is the store's (checked on the final list for a
//     replacement, and not on a PUT that changes an existing member);
//   - a v2 status change keeps can_share, where Queens' db layer reset it
//     to false (image_member_update's setdefault): a member accepting an
//     image does not lose the owner's grant;
//   - the rules are decided on v2's targets (v1Enforce says why), and under
//     the current (secure RBAC) defaults a member-list change is v2's
//     add_member, not modify_member, whose Glance 25 default is the
//     member's own status change and would refuse every owner
//     (v1MemberRule).

// errNoAuthUser is _check_can_access_image_members: a caller with no
// project that is not an admin.
var errNoAuthUser = errDetail(401, "No authenticated user")

// registryError is an error of the v1 registry as the v1 API re-raised it:
// status, with the registry's plain-text error page (status, webob's
// explanation and the registry's message) as the explanation.
func registryError(status, registryStatus int, msg string) error {
	page, _ := appendErrorBody(nil, formatPlain, registryStatus, defaultExplanations[registryStatus], msg, tplDefault)
	return errStatus(status, string(page))
}

// v1MemberRule is the rule a v1 member-list change is decided by: Queens'
// own (modify_member) under the legacy defaults, which are Queens'; v2's
// for the same act (add_member) under the current ones.
func v1MemberRule(c *call) policy.Rule {
	if c.pol.Legacy() {
		return policy.ModifyMember
	}
	return policy.AddMember
}

// v1MemberImage is the API's checks before the registry is called: the
// caller has a project or is an admin (when write), the image exists and
// is visible (_raise_404_if_image_deleted: get_image_meta_or_404), and the
// rule allows the act on it.
func (s *Server) v1MemberImage(c *call, id string, rule policy.Rule, write bool) (*backends.Image, error) {
	if write && c.id.ProjectID == "" && !c.id.IsAdmin {
		return nil, errNoAuthUser
	}
	img, err := s.v1Image(c, id)
	if err != nil {
		return nil, err
	}
	if t := policy.ImageTarget(img, &c.id); !c.pol.Allowed(rule, &c.id, &t) {
		return nil, errV1Forbidden
	}
	return img, nil
}

// v1Sharable is the registry's is_image_sharable: an admin, the image's
// owner, or a member the owner let share it (can_share). Refused, the API
// answered a 404 carrying the registry's 403.
func (s *Server) v1Sharable(c *call, img *backends.Image) error {
	if c.id.IsAdmin || c.owns(img) {
		return nil
	}
	if c.id.ProjectID != "" {
		m, err := s.cat.Members.Member(c, img.ID, c.id.ProjectID)
		if err == nil && m.CanShare {
			return nil
		}
		if err != nil && !errors.Is(err, backends.ErrNotFound) && !errors.Is(err, backends.ErrForbidden) {
			return err
		}
	}
	return registryError(404, 403, "No permission to share that image")
}

// v1MemberError maps the catalog's errors on a member write as the API
// re-raised the registry's.
func v1MemberError(err error) error {
	switch {
	case errors.Is(err, backends.ErrQuota):
		// The API's own 413 (_enforce_image_member_quota), the detail.
		_, text := statusOf(err)
		return errDetail(413, text)
	case errors.Is(err, backends.ErrForbidden):
		_, text := statusOf(err)
		return registryError(404, 403, text)
	case errors.Is(err, backends.ErrBadRequest):
		_, text := statusOf(err)
		return registryError(400, 400, text)
	case errors.Is(err, backends.ErrNotFound):
		_, text := statusOf(err)
		return registryError(404, 404, text)
	}
	return err
}

// v1ListMembers answers GET /v1/images/{id}/members (API index; registry
// index): {"members": [{"member_id": ..., "can_share": ...}]}, the whole
// list for the owner (and an admin), the caller's own membership for
// anyone else (image_member_find's filter).
func (s *Server) v1ListMembers(c *call, id string) {
	img, err := s.v1MemberImage(c, id, policy.GetMembers, false)
	if err != nil {
		writeError(c.ctx, err)
		return
	}
	var members []*backends.Member
	if img.AcceptsMembers() == nil {
		members, err = s.cat.Members.Members(c, id)
		if err != nil && !errors.Is(err, backends.ErrForbidden) {
			writeError(c.ctx, err)
			return
		}
	}
	buf := bytebuf(c.ctx)
	b := append((*buf)[:0], `{"members": [`...)
	first := true
	for _, m := range members {
		if !c.canSeeMember(img, m.MemberID) {
			continue
		}
		if !first {
			b = append(b, ", "...)
		}
		first = false
		b = append(b, `{"member_id": `...)
		b = appendJSONString(b, m.MemberID)
		b = append(b, `, "can_share": `...)
		b = appendJSONBool(b, m.CanShare)
		b = append(b, '}')
	}
	b = append(b, "]}"...)
	*buf = b
	c.ctx.Response.Header.SetContentTypeBytes(ctJSON)
	c.ctx.Response.SetBodyRaw(b)
}

// v1ShareMember answers PUT /v1/images/{id}/members/{member} (API update;
// registry update): 204.
func (s *Server) v1ShareMember(c *call, id, memberID string) {
	body, err := s.jsonBody(c)
	var canShare *bool
	if err == nil {
		canShare, err = ParseV1Member(body)
	}
	var img *backends.Image
	if err == nil {
		img, err = s.v1MemberImage(c, id, v1MemberRule(c), true)
	}
	if err == nil {
		err = s.v1Sharable(c, img)
	}
	if err == nil {
		err = v1AcceptsMembers(img)
	}
	if err == nil {
		err = checkV1MemberID(memberID)
	}
	if err == nil {
		_, err = s.cat.V1Members.ShareMember(c, id, memberID, canShare)
		s.render.forget(id)
		err = v1MemberError(err)
	}
	if err != nil {
		writeError(c.ctx, err)
		return
	}
	c.ctx.SetStatusCode(204)
}

// v1ReplaceMembers answers PUT /v1/images/{id}/members (API update_all;
// registry update_all): 204.
func (s *Server) v1ReplaceMembers(c *call, id string) {
	body, err := s.jsonBody(c)
	if err == nil && len(bytes.TrimSpace(body)) > 0 && !validJSONText(body) {
		err = errMalformedJSON // the deserializer's, before anything
	}
	var img *backends.Image
	if err == nil {
		img, err = s.v1MemberImage(c, id, v1MemberRule(c), true)
	}
	if err == nil {
		err = s.v1Sharable(c, img)
	}
	if err == nil {
		err = v1AcceptsMembers(img)
	}
	var grants []backends.MemberGrant
	if err == nil {
		grants, err = ParseV1Memberships(body)
		if err != nil && !errors.Is(err, errMalformedJSON) {
			_, text := statusOf(err)
			err = registryError(400, 400, text)
		}
	}
	if err == nil {
		err = s.cat.V1Members.ReplaceMembers(c, id, grants)
		s.render.forget(id)
		err = v1MemberError(err)
	}
	if err != nil {
		writeError(c.ctx, err)
		return
	}
	c.ctx.SetStatusCode(204)
}

// v1DeleteMember answers DELETE /v1/images/{id}/members/{member} (API
// delete; registry delete): 204.
func (s *Server) v1DeleteMember(c *call, id, memberID string) {
	img, err := s.v1MemberImage(c, id, policy.DeleteMember, true)
	if err == nil {
		err = s.v1Sharable(c, img)
	}
	if err == nil && !c.canSeeMember(img, memberID) {
		err = backends.ErrNotFound
	}
	if err == nil {
		err = s.cat.Members.DeleteMember(c, id, memberID)
		s.render.forget(id)
	}
	if errors.Is(err, backends.ErrNotFound) {
		err = registryError(404, 404, "Membership could not be found.")
	}
	if err != nil {
		writeError(c.ctx, v1MemberError(err))
		return
	}
	c.ctx.SetStatusCode(204)
}

// v1ShowMember answers GET /v1/images/{id}/members/{member}: Queens'
// router sent it to the controller's "show", which it did not have, so
// its default answered a bare 405 (with no Allow).
func (s *Server) v1ShowMember(c *call) {
	writeErrorBody(c.ctx, 405, "The method "+string(c.ctx.Method())+" is not allowed for this resource. ", "", tplMethod)
}

// v1SharedImages answers GET /v1/shared-images/{member} (API and registry
// index_shared_images): the images shared with member, as the caller may
// see its memberships; no rule (Queens enforced none).
func (s *Server) v1SharedImages(c *call, memberID string) {
	ms, err := s.cat.V1Members.SharedWith(c, memberID)
	if err != nil {
		writeError(c.ctx, err)
		return
	}
	buf := bytebuf(c.ctx)
	b := append((*buf)[:0], `{"shared_images": [`...)
	for i, m := range ms {
		if i > 0 {
			b = append(b, ", "...)
		}
		b = append(b, `{"image_id": `...)
		b = appendJSONString(b, m.ImageID)
		b = append(b, `, "can_share": `...)
		b = appendJSONBool(b, m.CanShare)
		b = append(b, '}')
	}
	b = append(b, "]}"...)
	*buf = b
	c.ctx.Response.Header.SetContentTypeBytes(ctJSON)
	c.ctx.Response.SetBodyRaw(b)
}

// v1AcceptsMembers is the catalog's rule, members on shared images only,
// decided here so that every region kind answers it alike (a Glance
// region words it otherwise).
func v1AcceptsMembers(img *backends.Image) error {
	if err := img.AcceptsMembers(); err != nil {
		return errStatus(403, "Only shared images have members.")
	}
	return nil
}

// checkV1MemberID: the database's member column is 255 characters.
func checkV1MemberID(id string) error {
	if len(id) > 255 || id == "" {
		return registryError(400, 400, "Invalid membership association: member_id must be 1 to 255 characters")
	}
	return nil
}

// pyTruthy is Python's bool() of a decoded JSON value (json.Number for
// numbers): false, null, 0, "", [] and {} are false.
func pyTruthy(v any) bool {
	switch v := v.(type) {
	case nil:
		return false
	case bool:
		return v
	case json.Number:
		f, err := strconv.ParseFloat(string(v), 64)
		return err != nil || f != 0 // out of range: Python's inf, true
	case string:
		return v != ""
	case []any:
		return len(v) > 0
	case map[string]any:
		return len(v) > 0
	}
	return true
}

// pyContains is Python's `key in v` for a decoded JSON value, and whether
// Python could ask it at all (a number, a bool or None is a TypeError).
func pyContains(v any, key string) (in, ok bool) {
	switch v := v.(type) {
	case string:
		return strings.Contains(v, key), true
	case []any:
		for _, e := range v {
			if s, isStr := e.(string); isStr && s == key {
				return true, true
			}
		}
		return false, true
	case map[string]any:
		_, in := v[key]
		return in, true
	}
	return false, false
}

var errBadV1Member = badRequest(`Invalid membership association: expected {"member": {"can_share": true|false}}`)

// ParseV1Member parses the optional body of PUT
// /v1/images/{id}/members/{member} as the v1 API read it (members.py
// update: `if body and 'member' in body and 'can_share' in body['member']:
// can_share = bool(body['member']['can_share'])`): the can_share asked
// for, or nil (no body, or none given: a new member gets false, an
// existing one keeps its own). Where that expression raised (a TypeError,
// Queens' 500), the answer is a 400.
func ParseV1Member(body []byte) (*bool, error) {
	if len(bytes.TrimSpace(body)) == 0 {
		return nil, nil
	}
	v, err := decodeJSON(body)
	if err != nil {
		return nil, err
	}
	if !pyTruthy(v) {
		return nil, nil
	}
	in, ok := pyContains(v, "member")
	if !ok {
		return nil, errBadV1Member
	}
	if !in {
		return nil, nil
	}
	obj, isObj := v.(map[string]any)
	if !isObj {
		return nil, errBadV1Member // a str or list indexed by "member"
	}
	member := obj["member"]
	in, ok = pyContains(member, "can_share")
	if !ok {
		return nil, errBadV1Member
	}
	if !in {
		return nil, nil
	}
	m, isObj := member.(map[string]any)
	if !isObj {
		return nil, errBadV1Member
	}
	cs := pyTruthy(m["can_share"])
	return &cs, nil
}

// ParseV1Memberships parses the body of PUT /v1/images/{id}/members as
// the v1 registry client and registry read it: {"memberships": [{"member_id":
// ..., "can_share": ...}, ...]}; an object without "memberships" is one
// membership (the client's replace_members wrapped it so). member_id is a
// string or a number (the database's text column); can_share is
// Python's bool() of what is given. The errors are the registry's
// "Invalid membership association: ..." (400), also where Queens raised a
// TypeError (500).
func ParseV1Memberships(body []byte) ([]backends.MemberGrant, error) {
	if len(bytes.TrimSpace(body)) == 0 {
		return nil, badRequest("Invalid membership association: 'memberships'")
	}
	v, err := decodeJSON(body)
	if err != nil {
		return nil, err
	}
	obj, ok := v.(map[string]any)
	if !ok {
		return nil, badRequest("Invalid membership association: the body must be an object")
	}
	var list []any
	if raw, ok := obj["memberships"]; !ok {
		list = []any{obj}
	} else {
		switch raw := raw.(type) {
		case []any:
			list = raw
		case map[string]any:
			if len(raw) > 0 {
				return nil, badRequest("Invalid membership association: string indices must be integers")
			}
		case string:
			if raw != "" {
				return nil, badRequest("Invalid membership association: string indices must be integers")
			}
		default:
			return nil, badRequest("Invalid membership association: memberships must be a list")
		}
	}
	out := make([]backends.MemberGrant, 0, len(list))
	for _, e := range list {
		memb, ok := e.(map[string]any)
		if !ok {
			return nil, badRequest("Invalid membership association: each membership must be an object")
		}
		raw, ok := memb["member_id"]
		if !ok {
			return nil, badRequest("Invalid membership association: 'member_id'")
		}
		var id string
		switch raw := raw.(type) {
		case string:
			id = raw
		case json.Number:
			id = raw.String()
		default:
			return nil, badRequest("Invalid membership association: member_id must be a string")
		}
		if id == "" || len(id) > 255 {
			return nil, badRequest("Invalid membership association: member_id must be 1 to 255 characters")
		}
		g := backends.MemberGrant{MemberID: id}
		if cs, ok := memb["can_share"]; ok {
			b := pyTruthy(cs)
			g.CanShare = &b
		}
		out = append(out, g)
	}
	return out, nil
}
