package local

import (
	"context"
	"database/sql"
	"fmt"
	"sort"

	"github.com/spyglass-gateway/spyglass/backends"
)

// Members lists an image's members, oldest first.
func (s *Store) Members(ctx context.Context, imageID string) ([]*backends.Member, error) {
	if _, err := s.get(imageID); err != nil {
		return nil, err
	}
	s.mu.RLock()
	out := make([]*backends.Member, 0, len(s.members[imageID]))
	for _, m := range s.members[imageID] {
		out = append(out, m)
	}
	s.mu.RUnlock()
	sort.Slice(out, func(i, j int) bool {
		if !out[i].CreatedAt.Equal(out[j].CreatedAt) {
			return out[i].CreatedAt.Before(out[j].CreatedAt)
		}
		return out[i].MemberID < out[j].MemberID
	})
	return out, nil
}

// Member returns one membership from memory (the gateway asks on every show
// of a shared image).
func (s *Store) Member(ctx context.Context, imageID, memberID string) (*backends.Member, error) {
	s.mu.RLock()
	img := s.images[imageID]
	m := s.members[imageID][memberID]
	s.mu.RUnlock()
	if img == nil {
		return nil, notFound(imageID)
	}
	if m == nil {
		return nil, memberNotFound(imageID, memberID)
	}
	return m, nil
}

func memberNotFound(imageID, memberID string) error {
	return backends.Errorf(backends.ErrNotFound, fmt.Sprintf("%s not found in the member list of the image %s.", memberID, imageID))
}

// AddMember shares a shared image with a project, status pending.
func (s *Store) AddMember(ctx context.Context, imageID, memberID string) (*backends.Member, error) {
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
	dup := s.members[imageID][memberID] != nil
	s.mu.RUnlock()
	if dup {
		return nil, backends.Errorf(backends.ErrConflict, fmt.Sprintf("Member %s is duplicated for image %s", memberID, imageID))
	}
	if q := s.opts.MemberQuota; q >= 0 && n+1 > q {
		return nil, backends.Errorf(backends.ErrQuota, fmt.Sprintf(
			"Image member limit exceeded for image %s: The limit has been exceeded on the number of allowed image members for this image. Attempted: %d, Maximum: %d:",
			imageID, n+1, q))
	}
	if err := backends.CheckMemberText(memberID); err != nil {
		return nil, err
	}
	t := now()
	m := &backends.Member{ImageID: imageID, MemberID: memberID, Status: backends.MemberPending, CreatedAt: t, UpdatedAt: t}
	err = s.tx(ctx, func(tx *sql.Tx) error {
		_, err := tx.Exec(`INSERT INTO image_members (image_id, member, status, created_at, updated_at) VALUES (?,?,?,?,?)`,
			imageID, memberID, m.Status, micros(t), micros(t))
		return err
	})
	if err != nil {
		return nil, err
	}
	s.putMember(m)
	return m, nil
}

func (s *Store) putMember(m *backends.Member) {
	s.mu.Lock()
	if s.members[m.ImageID] == nil {
		s.members[m.ImageID] = map[string]*backends.Member{}
	}
	s.members[m.ImageID][m.MemberID] = m
	s.mu.Unlock()
}

// UpdateMember sets a membership's status: pending, accepted or rejected.
func (s *Store) UpdateMember(ctx context.Context, imageID, memberID, status string) (*backends.Member, error) {
	switch status {
	case backends.MemberPending, backends.MemberAccepted, backends.MemberRejected:
	default:
		return nil, backends.Errorf(backends.ErrBadRequest, `Incorrect request: Status must be "pending", "accepted" or "rejected".`)
	}
	s.wmu.Lock()
	defer s.wmu.Unlock()
	cur, err := s.Member(ctx, imageID, memberID)
	if err != nil {
		return nil, err
	}
	m := *cur
	m.Status = status
	m.UpdatedAt = now()
	err = s.tx(ctx, func(tx *sql.Tx) error {
		_, err := tx.Exec(`UPDATE image_members SET status=?, updated_at=? WHERE image_id=? AND member=?`,
			status, micros(m.UpdatedAt), imageID, memberID)
		return err
	})
	if err != nil {
		return nil, err
	}
	s.putMember(&m)
	return &m, nil
}

// DeleteMember removes a membership.
func (s *Store) DeleteMember(ctx context.Context, imageID, memberID string) error {
	s.wmu.Lock()
	defer s.wmu.Unlock()
	if _, err := s.Member(ctx, imageID, memberID); err != nil {
		return err
	}
	err := s.tx(ctx, func(tx *sql.Tx) error {
		_, err := tx.Exec(`DELETE FROM image_members WHERE image_id=? AND member=?`, imageID, memberID)
		return err
	})
	if err != nil {
		return err
	}
	s.mu.Lock()
	delete(s.members[imageID], memberID)
	s.mu.Unlock()
	return nil
}
