package local

import (
	"context"
	"database/sql"
	"path/filepath"
	"testing"

	"github.com/spyglass-gateway/spyglass/backends"
)

func bp(b bool) *bool { return &b }

func as(project string, admin bool) context.Context {
	return backends.WithCaller(context.Background(), &backends.Caller{Project: project, Admin: admin})
}

func grantsOf(t *testing.T, s *Store, id string) map[string]bool {
	t.Helper()
	ms, err := s.Members(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]bool{}
	for _, m := range ms {
		out[m.MemberID] = m.CanShare
	}
	return out
}

func sameGrants(t *testing.T, what string, got, want map[string]bool) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%s: %v, want %v", what, got, want)
	}
	for k, v := range want {
		if g, ok := got[k]; !ok || g != v {
			t.Fatalf("%s: %v, want %v", what, got, want)
		}
	}
}

// TestV1Members: can_share is kept with the membership, across a v2 status
// change and a restart; a replacement keeps the statuses of the members it
// keeps; SharedWith filters as Queens' image_member_find.
func TestV1Members(t *testing.T) {
	ctx := context.Background()
	s, dir := open(t, Options{MemberQuota: 3})
	create(t, s, "i1", "p1", "shared")
	create(t, s, "i2", "p9", "shared")
	create(t, s, "pub", "p1", "public")

	if _, err := s.ShareMember(ctx, "i1", "p2", nil); err != nil {
		t.Fatal(err)
	}
	m, err := s.ShareMember(ctx, "i1", "p3", bp(true))
	if err != nil || m.Status != backends.MemberPending || !m.CanShare {
		t.Fatalf("ShareMember p3: %+v %v", m, err)
	}
	if _, err := s.UpdateMember(ctx, "i1", "p3", backends.MemberAccepted); err != nil {
		t.Fatal(err)
	}
	if _, err := s.ShareMember(ctx, "i2", "p2", nil); err != nil {
		t.Fatal(err)
	}
	sameGrants(t, "i1", grantsOf(t, s, "i1"), map[string]bool{"p2": false, "p3": true})
	_, err = s.ShareMember(ctx, "pub", "p2", nil)
	wantErr(t, err, backends.ErrForbidden, "Only shared images have members.")

	// Quota: 3 members; a fourth is refused, an existing one is not.
	if _, err := s.ShareMember(ctx, "i1", "p4", nil); err != nil {
		t.Fatal(err)
	}
	_, err = s.ShareMember(ctx, "i1", "p5", nil)
	wantErr(t, err, backends.ErrQuota, "The limit has been exceeded on the number of allowed image members for this image. Attempted: 4, Maximum: 3")
	if _, err := s.ShareMember(ctx, "i1", "p4", bp(false)); err != nil {
		t.Fatal(err)
	}
	err = s.ReplaceMembers(ctx, "i1", []backends.MemberGrant{{MemberID: "a"}, {MemberID: "b"}, {MemberID: "c"}, {MemberID: "d"}})
	wantErr(t, err, backends.ErrQuota, "The limit has been exceeded on the number of allowed image members for this image. Attempted: 4, Maximum: 3")

	// Replace: p2 goes, p3 stays accepted (its grant unless given), p6 comes.
	if err := s.ReplaceMembers(ctx, "i1", []backends.MemberGrant{{MemberID: "p3"}, {MemberID: "p6", CanShare: bp(true)}, {MemberID: "p4", CanShare: bp(true)}}); err != nil {
		t.Fatal(err)
	}
	sameGrants(t, "replaced", grantsOf(t, s, "i1"), map[string]bool{"p3": true, "p6": true, "p4": true})
	if m, _ := s.Member(ctx, "i1", "p3"); m.Status != backends.MemberAccepted {
		t.Fatalf("p3 kept as %q", m.Status)
	}

	// SharedWith.
	for _, c := range []struct {
		ctx    context.Context
		member string
		want   []string
	}{
		{as("p3", false), "p3", []string{"i1"}},
		{as("p2", false), "p2", []string{"i2"}},
		{as("p1", false), "p6", []string{"i1"}}, // the owner's image
		{as("p1", false), "p2", nil},            // i2 is not p1's
		{as("p7", false), "p3", nil},
		{as("", false), "p3", nil},
		{as("adm", true), "p2", []string{"i2"}},
	} {
		ms, err := s.SharedWith(c.ctx, c.member)
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, m := range ms {
			got = append(got, m.ImageID)
		}
		if len(got) != len(c.want) || len(got) > 0 && got[0] != c.want[0] {
			t.Errorf("SharedWith(%s) as %s: %v, want %v", c.member, backends.CallerOf(c.ctx).Project, got, c.want)
		}
	}

	// A restart keeps the grants.
	s.Close()
	s2, err := Open(dir, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s2.Close()
	sameGrants(t, "reopened", grantsOf(t, s2, "i1"), map[string]bool{"p3": true, "p6": true, "p4": true})
}

// TestMigrateCanShare: a store made before can_share (image_members
// without the column) opens, its members read can_share false, and a
// grant is kept.
func TestMigrateCanShare(t *testing.T) {
	dir := t.TempDir()
	db, err := sql.Open("sqlite", "file:"+filepath.Join(dir, "glance.db"))
	if err != nil {
		t.Fatal(err)
	}
	// The image_members table as it was, with one member; the rest of the
	// schema is created by Open.
	for _, q := range []string{
		`CREATE TABLE image_members (
	image_id TEXT NOT NULL, member TEXT NOT NULL, status TEXT NOT NULL,
	created_at INTEGER NOT NULL, updated_at INTEGER NOT NULL,
	PRIMARY KEY (image_id, member))`,
		`INSERT INTO image_members VALUES ('i1', 'p2', 'accepted', 1, 1)`,
	} {
		if _, err := db.Exec(q); err != nil {
			t.Fatal(err)
		}
	}
	db.Close()
	s, err := Open(dir, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	ctx := context.Background()
	create(t, s, "i1", "p1", "shared")
	m, err := s.Member(ctx, "i1", "p2")
	if err != nil || m.CanShare || m.Status != backends.MemberAccepted {
		t.Fatalf("old member: %+v %v", m, err)
	}
	if _, err := s.ShareMember(ctx, "i1", "p2", bp(true)); err != nil {
		t.Fatal(err)
	}
	if m, _ := s.Member(ctx, "i1", "p2"); !m.CanShare || m.Status != backends.MemberAccepted {
		t.Fatalf("granted: %+v", m)
	}
}
