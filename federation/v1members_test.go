package federation_test

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"sync/atomic"
	"testing"

	"github.com/spyglass-gateway/spyglass/backends"
	"github.com/spyglass-gateway/spyglass/backends/local"
	"github.com/spyglass-gateway/spyglass/federation"
)

// cappedImages is a region's listing that returns at most cap images a
// page whatever the limit asked (Glance's api_limit_max), counting calls.
type cappedImages struct {
	federation.Images
	cap   int
	lists atomic.Int32
}

func (c *cappedImages) ListImages(ctx context.Context, q *backends.ListQuery) ([]*backends.Image, error) {
	c.lists.Add(1)
	imgs, err := c.Images.ListImages(ctx, q)
	if len(imgs) > c.cap {
		imgs = imgs[:c.cap]
	}
	return imgs, err
}

// plainMembers are v2's members only (no can_share, no SharedWith: a
// Glance region's), counting lookups.
type plainMembers struct {
	v2      federation.Members
	lookups atomic.Int32
}

func (p *plainMembers) Members(ctx context.Context, imageID string) ([]*backends.Member, error) {
	return p.v2.Members(ctx, imageID)
}

func (p *plainMembers) AddMember(ctx context.Context, imageID, memberID string) (*backends.Member, error) {
	return p.v2.AddMember(ctx, imageID, memberID)
}

func (p *plainMembers) UpdateMember(ctx context.Context, imageID, memberID, status string) (*backends.Member, error) {
	return p.v2.UpdateMember(ctx, imageID, memberID, status)
}

func (p *plainMembers) DeleteMember(ctx context.Context, imageID, memberID string) error {
	return p.v2.DeleteMember(ctx, imageID, memberID)
}

func (p *plainMembers) Member(ctx context.Context, imageID, memberID string) (*backends.Member, error) {
	p.lookups.Add(1)
	return p.v2.Member(ctx, imageID, memberID)
}

// endless lists a new page of shared images on every call.
type endless struct {
	federation.Images
	n atomic.Int32
}

func (e *endless) ListImages(ctx context.Context, q *backends.ListQuery) ([]*backends.Image, error) {
	out := make([]*backends.Image, q.Limit)
	for i := range out {
		out[i] = &backends.Image{ID: fmt.Sprintf("img-%d", e.n.Add(1)), Visibility: backends.VisibilityShared}
	}
	return out, nil
}

func callerAs(project string, admin bool) context.Context {
	return backends.WithCaller(context.Background(), &backends.Caller{Project: project, Admin: admin})
}

// TestSharedThroughListing: SharedWith on a region that keeps no
// memberships index (a Glance region): pages past a region's short pages,
// one member lookup per image the caller owns when it asks for its own
// memberships, the owner's filter for another project's, and an error
// past the bound rather than a partial list.
func TestSharedThroughListing(t *testing.T) {
	store, err := local.Open(t.TempDir(), local.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	ctx := context.Background()
	mk := func(id, owner string, members ...string) {
		o := owner
		if _, err := store.CreateImage(ctx, &backends.Image{ID: id, Owner: &o, Visibility: backends.VisibilityShared}); err != nil {
			t.Fatal(err)
		}
		for _, m := range members {
			if _, err := store.AddMember(ctx, id, m); err != nil {
				t.Fatal(err)
			}
		}
	}
	for i := 1; i <= 4; i++ {
		ms := []string{"p3"}
		if i <= 2 {
			ms = append(ms, "p2")
		}
		mk(fmt.Sprintf("i%d", i), "p1", ms...)
	}
	for i := 1; i <= 3; i++ {
		mk(fmt.Sprintf("j%d", i), "p9", "p1")
	}
	mk("k1", "p9") // shared with no one

	images := &cappedImages{Images: store, cap: 3}
	members := &plainMembers{v2: store}
	cat, err := federation.New(federation.Config{Regions: []federation.RegionConfig{{Name: "g",
		Region: federation.Region{Images: images, Data: store, Members: members, Tasks: store}}}})
	if err != nil {
		t.Fatal(err)
	}
	defer cat.Close()

	for _, c := range []struct {
		name           string
		ctx            context.Context
		member         string
		want           []string
		lists, lookups int32
	}{
		// Listed: i1-i4 (owned) and j1-j3 (shared with p1): pages of 3,
		// 3, 1 and the empty one; lookups for the owned ones only.
		{"own memberships", callerAs("p1", false), "p1", []string{"j1", "j2", "j3"}, 4, 4},
		// owner=p1: i1-i4, a lookup each.
		{"the owner's, of another project", callerAs("p1", false), "p2", []string{"i1", "i2"}, 3, 4},
		{"a stranger's view", callerAs("p5", false), "p2", nil, 1, 0},
		{"anonymous", callerAs("", false), "p2", nil, 0, 0},
		// An admin lists every shared image (8) and looks each up.
		{"admin", callerAs("adm", true), "p3", []string{"i1", "i2", "i3", "i4"}, 4, 8},
	} {
		t.Run(c.name, func(t *testing.T) {
			images.lists.Store(0)
			members.lookups.Store(0)
			ms, err := cat.SharedWith(c.ctx, c.member)
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, m := range ms {
				got = append(got, m.ImageID)
			}
			sort.Strings(got)
			if fmt.Sprint(got) != fmt.Sprint(c.want) {
				t.Errorf("images %v, want %v", got, c.want)
			}
			if got, want := images.lists.Load(), c.lists; got != want {
				t.Errorf("%d listing requests, want %d", got, want)
			}
			if got, want := members.lookups.Load(), c.lookups; got != want {
				t.Errorf("%d member lookups, want %d", got, want)
			}
		})
	}

	t.Run("bound", func(t *testing.T) {
		e := &endless{Images: store}
		cat, err := federation.New(federation.Config{Regions: []federation.RegionConfig{{Name: "big",
			Region: federation.Region{Images: e, Data: store, Members: &plainMembers{v2: store}, Tasks: store}}}})
		if err != nil {
			t.Fatal(err)
		}
		defer cat.Close()
		_, err = cat.SharedWith(callerAs("adm", true), "p2")
		if !errors.Is(err, backends.ErrUnavailable) {
			t.Fatalf("err %v, want ErrUnavailable", err)
		}
		if n := e.n.Load(); n > 1200 {
			t.Errorf("read %d images before giving up", n)
		}
	})

	// can_share on a region that keeps none: refused, nothing changed;
	// false is the region's own answer.
	t.Run("no grants", func(t *testing.T) {
		yes, no := true, false
		if _, err := cat.ShareMember(callerAs("p1", false), "i3", "p4", &yes); !errors.Is(err, backends.ErrBadRequest) {
			t.Fatalf("ShareMember can_share true: %v", err)
		}
		if _, err := store.Member(ctx, "i3", "p4"); !errors.Is(err, backends.ErrNotFound) {
			t.Fatalf("a refused grant added the member: %v", err)
		}
		if m, err := cat.ShareMember(callerAs("p1", false), "i3", "p4", &no); err != nil || m.CanShare || m.Status != backends.MemberPending {
			t.Fatalf("ShareMember can_share false: %+v %v", m, err)
		}
		err := cat.ReplaceMembers(callerAs("p1", false), "i3", []backends.MemberGrant{{MemberID: "p4"}, {MemberID: "p6", CanShare: &yes}})
		if !errors.Is(err, backends.ErrBadRequest) {
			t.Fatalf("ReplaceMembers with a grant: %v", err)
		}
		if err := cat.ReplaceMembers(callerAs("p1", false), "i3", []backends.MemberGrant{{MemberID: "p4"}, {MemberID: "p6"}}); err != nil {
			t.Fatal(err)
		}
		ms, _ := store.Members(ctx, "i3")
		var got []string
		for _, m := range ms {
			got = append(got, m.MemberID)
		}
		sort.Strings(got)
		if fmt.Sprint(got) != "[p4 p6]" {
			t.Fatalf("replaced: %v", got)
		}
	})
}

// The embedded store keeps can_share and lists a project's memberships
// itself; a Glance region does neither (sharedThroughListing).
var (
	_ federation.GrantKeeper  = (*local.Store)(nil)
	_ federation.SharedLister = (*local.Store)(nil)
)
