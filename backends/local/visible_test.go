package local

import (
	"context"
	"fmt"
	"testing"

	"github.com/spyglass-gateway/spyglass/backends"
)

// TestListingVisibilityIsVisible: the listing's SQL visibility and
// backends.Visible (what show and the marker use) agree on every image ×
// caller × member status: owners none/p1/p2, every visibility, p2 a member
// in every status or none; callers admin, anonymous, the owner, a member,
// a stranger. The one difference is Glance's: its database lists an
// ownerless image as if a project no caller is owned it (public, community
// and membership rules only), although is_image_visible shows it to all.
func TestListingVisibilityIsVisible(t *testing.T) {
	s, err := Open(t.TempDir(), Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	ctx := context.Background()
	var imgs []*backends.Image
	members := map[string]*backends.Member{} // image → p2's membership
	for _, owner := range []string{"", "p1", "p2"} {
		for _, vis := range []string{"public", "private", "shared", "community"} {
			statuses := []string{""}
			if vis == "shared" {
				statuses = []string{"", "pending", "accepted", "rejected"}
			}
			for _, st := range statuses {
				in := &backends.Image{ID: fmt.Sprintf("%s-%s-%s", owner, vis, st), Visibility: vis}
				if owner != "" {
					in.Owner = &owner
				}
				img, err := s.CreateImage(ctx, in)
				if err != nil {
					t.Fatal(err)
				}
				if st != "" {
					m, err := s.AddMember(ctx, img.ID, "p2")
					if err == nil && st != "pending" {
						m, err = s.UpdateMember(ctx, img.ID, "p2", st)
					}
					if err != nil {
						t.Fatal(err)
					}
					members[img.ID] = m
				}
				imgs = append(imgs, img)
			}
		}
	}
	callers := map[string]backends.Caller{
		"admin": {Project: "p9", Admin: true}, "anonymous": {}, "owner p1": {Project: "p1"},
		"member p2": {Project: "p2"}, "stranger p3": {Project: "p3"},
	}
	for name, who := range callers {
		for _, ms := range []string{"", "pending", "accepted", "rejected", "all"} {
			t.Run(name+"/member_status="+ms, func(t *testing.T) {
				listed := map[string]bool{}
				q := &backends.ListQuery{Visibility: "all", MemberStatus: ms,
					Sort: []backends.SortKey{{Key: "id"}}}
				got, err := s.ListImages(backends.WithCaller(ctx, &who), q)
				if err != nil {
					t.Fatal(err)
				}
				for _, img := range got {
					listed[img.ID] = true
				}
				status := ms
				if status == "" {
					status = backends.MemberAccepted // the listing's default
				}
				for _, img := range imgs {
					if img.Owner == nil {
						// Glance's listing, see above: as if owned by
						// a project no caller is.
						nobody := "nobody"
						img = img.Clone()
						img.Owner = &nobody
					}
					var m *backends.Member
					if backends.NeedsMembership(img, who.Admin, who.Project) {
						m = members[img.ID]
					}
					want := backends.Visible(img, who.Admin, who.Project, m, status)
					if got := listed[img.ID]; got != want {
						t.Errorf("%s: listed %v, Visible %v", img.ID, got, want)
					}
				}
			})
		}
	}
}
