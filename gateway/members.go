package gateway

import (
	"errors"

	"github.com/spyglass-gateway/spyglass/backends"
	"github.com/spyglass-gateway/spyglass/policy"
)

// The members handlers follow glance/api/v2/image_members.py, including its
// habit of rewording the inner error per operation.

// memberImage is _lookup_image: the image if visible, else 404 "Image %s not
// found.".
func (s *Server) memberImage(c *call, id string) (*backends.Image, error) {
	img, err := s.lookup(c, id)
	if err != nil {
		if errors.Is(err, backends.ErrNotFound) {
			return nil, backends.Errorf(backends.ErrNotFound, "Image "+id+" not found.")
		}
		return nil, err
	}
	return img, nil
}

func (c *call) owns(img *backends.Image) bool {
	return img.Owner != nil && c.id.ProjectID != "" && *img.Owner == c.id.ProjectID
}

// canSeeMember is the db layer's member filter for non-admins: the image's
// owner sees every member, a consumer only its own membership.
func (c *call) canSeeMember(img *backends.Image, memberID string) bool {
	return c.id.IsAdmin || c.owns(img) || (c.id.ProjectID != "" && memberID == c.id.ProjectID)
}

// authorizeMember is MemberAPIPolicy._enforce: get_image first (a bare 404
// when refused), then the member rule on the image (its 403).
func (s *Server) authorizeMember(c *call, r policy.Rule, img *backends.Image) error {
	if c.pol.Image(policy.GetImage, &c.id, img) != policy.Allow {
		return errHidden
	}
	t := policy.ImageTarget(img, &c.id)
	if !c.pol.Allowed(r, &c.id, &t) {
		return forbidden(r)
	}
	return nil
}

// lookupMember is _lookup_member: get_member, then the membership as the
// database shows it to the caller.
func (s *Server) lookupMember(c *call, img *backends.Image, memberID string) (*backends.Member, error) {
	if err := s.authorizeMember(c, policy.GetMember, img); err != nil {
		return nil, err
	}
	if !c.canSeeMember(img, memberID) {
		return nil, memberNotFound(memberID, img.ID)
	}
	m, err := s.cat.Members.Member(c, img.ID, memberID)
	if err != nil {
		if errors.Is(err, backends.ErrNotFound) {
			err = memberNotFound(memberID, img.ID)
		}
		return nil, err
	}
	return m, nil
}

func memberNotFound(memberID, imageID string) error {
	return backends.Errorf(backends.ErrNotFound, memberID+" not found in the member list of the image "+imageID+".")
}

func (s *Server) writeMember(c *call, m *backends.Member) {
	buf := bytebuf(c.ctx)
	*buf = appendMember(*buf, m)
	c.ctx.Response.Header.SetContentTypeBytes(ctJSON)
	c.ctx.Response.SetBodyRaw(*buf)
}

func (s *Server) listMembers(c *call, id string) {
	img, err := s.memberImage(c, id)
	if err != nil {
		writeError(c.ctx, err)
		return
	}
	if img.AcceptsMembers() != nil {
		writeError(c.ctx, errStatus(403, "Not allowed to list members for image "+id+": Only shared images have members."))
		return
	}
	if err := s.authorizeMember(c, policy.GetMembers, img); err != nil {
		writeError(c.ctx, err)
		return
	}
	// Each member passes get_member on the same target: all or none.
	t := policy.ImageTarget(img, &c.id)
	showMembers := c.pol.Allowed(policy.GetMember, &c.id, &t)
	members, err := s.cat.Members.Members(c, id)
	if err != nil {
		writeError(c.ctx, err)
		return
	}
	buf := bytebuf(c.ctx)
	b := append(*buf, `{"members": [`...)
	first := true
	for _, m := range members {
		if !showMembers || !c.canSeeMember(img, m.MemberID) {
			continue
		}
		if !first {
			b = append(b, ", "...)
		}
		first = false
		b = appendMember(b, m)
	}
	b = append(b, `], "schema": "/v2/schemas/members"}`...)
	*buf = b
	c.ctx.Response.Header.SetContentTypeBytes(ctJSON)
	c.ctx.Response.SetBodyRaw(b)
}

func (s *Server) getMember(c *call, id, memberID string) {
	img, err := s.memberImage(c, id)
	if err != nil {
		writeError(c.ctx, err)
		return
	}
	if img.AcceptsMembers() != nil {
		writeError(c.ctx, errStatus(404, "Only shared images have members."))
		return
	}
	m, err := s.lookupMember(c, img, memberID)
	if err != nil {
		// show answers every refusal of the lookup as a 404.
		if status, text := statusOf(err); status == 403 {
			err = errStatus(404, text)
		}
		writeError(c.ctx, err)
		return
	}
	s.writeMember(c, m)
}

func (s *Server) addMember(c *call, id string) {
	body, err := s.jsonBody(c)
	if err != nil {
		writeError(c.ctx, err)
		return
	}
	memberID, err := ParseMemberCreate(body)
	if err != nil {
		writeError(c.ctx, err)
		return
	}
	img, err := s.memberImage(c, id)
	if err != nil {
		writeError(c.ctx, err)
		return
	}
	if img.AcceptsMembers() != nil || (c.pol.Legacy() && !c.id.IsAdmin && !c.owns(img)) {
		writeError(c.ctx, errStatus(403, "Not allowed to create members for image "+id+"."))
		return
	}
	if err := s.authorizeMember(c, policy.AddMember, img); err != nil {
		writeError(c.ctx, err)
		return
	}
	m, err := s.cat.Members.AddMember(c, id, memberID)
	if err != nil {
		switch {
		case errors.Is(err, backends.ErrConflict):
			err = backends.Errorf(backends.ErrConflict, "Member "+memberID+" is duplicated for image "+id)
		case errors.Is(err, backends.ErrForbidden):
			err = errStatus(403, "Not allowed to create members for image "+id+".")
		}
		writeError(c.ctx, err)
		return
	}
	s.writeMember(c, m)
}

func (s *Server) updateMember(c *call, id, memberID string) {
	body, err := s.jsonBody(c)
	if err != nil {
		writeError(c.ctx, err)
		return
	}
	status, err := ParseMemberUpdate(body)
	if err != nil {
		writeError(c.ctx, err)
		return
	}
	img, err := s.memberImage(c, id)
	if err != nil {
		writeError(c.ctx, err)
		return
	}
	if img.AcceptsMembers() != nil || (c.pol.Legacy() && !c.id.IsAdmin && c.owns(img)) {
		writeError(c.ctx, errStatus(403, "Not allowed to update members for image "+id+"."))
		return
	}
	if _, err := s.lookupMember(c, img, memberID); err != nil {
		writeError(c.ctx, err)
		return
	}
	if err := s.authorizeMember(c, policy.ModifyMember, img); err != nil {
		writeError(c.ctx, err)
		return
	}
	m, err := s.cat.Members.UpdateMember(c, id, memberID, status)
	if err != nil {
		if errors.Is(err, backends.ErrNotFound) {
			err = memberNotFound(memberID, id)
		}
		writeError(c.ctx, err)
		return
	}
	s.writeMember(c, m)
}

func (s *Server) deleteMember(c *call, id, memberID string) {
	img, err := s.memberImage(c, id)
	if err != nil {
		writeError(c.ctx, err)
		return
	}
	if img.AcceptsMembers() != nil || (c.pol.Legacy() && !c.id.IsAdmin && !c.owns(img)) {
		writeError(c.ctx, errStatus(403, "Not allowed to delete members for image "+id+"."))
		return
	}
	if _, err := s.lookupMember(c, img, memberID); err != nil {
		writeError(c.ctx, err)
		return
	}
	if err := s.authorizeMember(c, policy.DeleteMember, img); err != nil {
		writeError(c.ctx, err)
		return
	}
	if err := s.cat.Members.DeleteMember(c, id, memberID); err != nil {
		if errors.Is(err, backends.ErrNotFound) {
			err = memberNotFound(memberID, id)
		}
		writeError(c.ctx, err)
		return
	}
	c.ctx.SetStatusCode(204)
}
