package local

import (
	"context"
	"database/sql"
	"fmt"
	"sort"

	"github.com/spyglass-gateway/spyglass/backends"
)

// The Images API v1's memberships, over the same image_members rows as
// v2's (Queens served both over one table): a member added here is pending
// for v2, and v2's members read here with their can_share (false unless v1
// granted it). Queens' glance/registry/api/v1/members.py at queens-eol.

// v1Quota is the v1 API's wording of image_member_quota
// (glance/api/v1/members.py, _enforce_image_member_quota).
func (s *Store) v1Quota(attempted int) error {
	if q := s.opts.MemberQuota; q >= 0 && attempted > q {
		return backends.Errorf(backends.ErrQuota, fmt.Sprintf(
			"The limit has been exceeded on the number of allowed image members for this image. Attempted: %d, Maximum: %d", attempted, q))
	}
	return nil
}

// ShareMember is the registry's update (PUT /v1/images/{id}/members/{m}):
// memberID becomes a member (pending, can_share false unless canShare
// says otherwise), or an existing membership gets canShare (nil: unchanged;
// its status is kept either way).
func (s *Store) ShareMember(ctx context.Context, imageID, memberID string, canShare *bool) (*backends.Member, error) {
	s.wmu.Lock()
	defer s.wmu.Unlock()
	img, err := s.get(imageID)
	if err != nil {
		return nil, err
	}
	if err := img.AcceptsMembers(); err != nil {
		return nil, err
	}
	s.mu.RLock()
	n := len(s.members[imageID])
	cur := s.members[imageID][memberID]
	s.mu.RUnlock()
	if cur != nil {
		if canShare == nil || *canShare == cur.CanShare {
			return cur, nil
		}
		m := *cur
		m.CanShare, m.UpdatedAt = *canShare, now()
		err := s.tx(ctx, func(tx *sql.Tx) error {
			_, err := tx.Exec(`UPDATE image_members SET can_share=?, updated_at=? WHERE image_id=? AND member=?`,
				m.CanShare, micros(m.UpdatedAt), imageID, memberID)
			return err
		})
		if err != nil {
			return nil, err
		}
		s.putMember(&m)
		return &m, nil
	}
	if err := s.v1Quota(n + 1); err != nil {
		return nil, err
	}
	if err := backends.CheckMemberText(memberID); err != nil {
		return nil, err
	}
	t := now()
	m := &backends.Member{ImageID: imageID, MemberID: memberID, Status: backends.MemberPending, CanShare: canShare != nil && *canShare, CreatedAt: t, UpdatedAt: t}
	err = s.tx(ctx, func(tx *sql.Tx) error {
		_, err := tx.Exec(`INSERT INTO image_members (image_id, member, status, can_share, created_at, updated_at) VALUES (?,?,?,?,?,?)`,
			imageID, memberID, m.Status, m.CanShare, micros(t), micros(t))
		return err
	})
	if err != nil {
		return nil, err
	}
	s.putMember(m)
	return m, nil
}

// ReplaceMembers is the registry's update_all (PUT
// /v1/images/{id}/members), in one transaction: the members not listed
// are removed, those listed and present keep their status (and their
// can_share unless the entry gives one), the others are added pending. A
// project listed twice counts once, its last entry winning. The quota is
// checked on the list's length first, as the v1 API did.
func (s *Store) ReplaceMembers(ctx context.Context, imageID string, grants []backends.MemberGrant) error {
	want := make(map[string]*bool, len(grants))
	order := make([]string, 0, len(grants))
	for _, g := range grants {
		if _, dup := want[g.MemberID]; !dup {
			order = append(order, g.MemberID)
		}
		if g.CanShare != nil || want[g.MemberID] == nil {
			want[g.MemberID] = g.CanShare
		}
	}
	if err := s.v1Quota(len(grants)); err != nil {
		return err
	}
	for _, id := range order {
		if err := backends.CheckMemberText(id); err != nil {
			return err
		}
	}
	s.wmu.Lock()
	defer s.wmu.Unlock()
	img, err := s.get(imageID)
	if err != nil {
		return err
	}
	if err := img.AcceptsMembers(); err != nil {
		return err
	}
	t := now()
	s.mu.RLock()
	cur := s.members[imageID]
	var gone []string
	var next []*backends.Member
	for id := range cur {
		if _, kept := want[id]; !kept {
			gone = append(gone, id)
		}
	}
	for _, id := range order {
		cs := want[id]
		if m := cur[id]; m != nil {
			if cs != nil && *cs != m.CanShare {
				u := *m
				u.CanShare, u.UpdatedAt = *cs, t
				next = append(next, &u)
			}
			continue
		}
		next = append(next, &backends.Member{ImageID: imageID, MemberID: id, Status: backends.MemberPending, CanShare: cs != nil && *cs, CreatedAt: t, UpdatedAt: t})
	}
	s.mu.RUnlock()
	err = s.tx(ctx, func(tx *sql.Tx) error {
		for _, id := range gone {
			if _, err := tx.Exec(`DELETE FROM image_members WHERE image_id=? AND member=?`, imageID, id); err != nil {
				return err
			}
		}
		for _, m := range next {
			if _, err := tx.Exec(`INSERT INTO image_members (image_id, member, status, can_share, created_at, updated_at) VALUES (?,?,?,?,?,?)
				ON CONFLICT (image_id, member) DO UPDATE SET can_share=excluded.can_share, updated_at=excluded.updated_at`,
				imageID, m.MemberID, m.Status, m.CanShare, micros(m.CreatedAt), micros(m.UpdatedAt)); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return err
	}
	s.mu.Lock()
	for _, id := range gone {
		delete(s.members[imageID], id)
	}
	s.mu.Unlock()
	for _, m := range next {
		s.putMember(m)
	}
	return nil
}

// SharedWith is the registry's index_shared_images (GET
// /v1/shared-images/{member}): memberID's memberships as the caller in ctx
// may see them (db image_member_find's filter: an admin all; anyone else
// those on images it owns, and all of its own when memberID is its
// project), oldest first.
func (s *Store) SharedWith(ctx context.Context, memberID string) ([]*backends.Member, error) {
	who := backends.CallerOf(ctx)
	var out []*backends.Member
	s.mu.RLock()
	for imageID, ms := range s.members {
		m := ms[memberID]
		if m == nil {
			continue
		}
		img := s.images[imageID]
		if img == nil {
			continue
		}
		if who.Admin || (who.Project != "" && (memberID == who.Project || img.Owner != nil && *img.Owner == who.Project)) {
			out = append(out, m)
		}
	}
	s.mu.RUnlock()
	sort.Slice(out, func(i, j int) bool {
		if !out[i].CreatedAt.Equal(out[j].CreatedAt) {
			return out[i].CreatedAt.Before(out[j].CreatedAt)
		}
		return out[i].ImageID < out[j].ImageID
	})
	return out, nil
}
