package federation

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"sync"

	"github.com/spyglass-gateway/spyglass/backends"
)

// The Images API v1's memberships (gateway.V1Members) over the regions.
//
// can_share lives where the membership lives. The embedded store keeps it
// in its image_members table (a GrantKeeper). A Glance region cannot: v2
// has no such field, and Glance 25 no v1. Spyglass does not keep it for
// such a region in a table of its own: the grant decides who may change an
// image's members, and a copy beside the region's membership would outlive
// a membership deleted through the region itself (or through a gateway
// instance without the shared tier), silently granting a later member of
// the same project the right to re-share. So a Glance region's members
// read can_share false, and a request to set it true is refused (400)
// naming the region, never dropped.

// GrantKeeper is a region that keeps v1's can_share with its members (the
// embedded store): the catalog hands the v1 membership writes to it.
type GrantKeeper interface {
	ShareMember(ctx context.Context, imageID, memberID string, canShare *bool) (*backends.Member, error)
	ReplaceMembers(ctx context.Context, imageID string, grants []backends.MemberGrant) error
}

// SharedLister is a region that lists a project's memberships itself (the
// embedded store, with one query); the others are asked through their
// listing and their members (sharedThroughListing).
type SharedLister interface {
	SharedWith(ctx context.Context, memberID string) ([]*backends.Member, error)
}

// maxSharedScan bounds the images sharedThroughListing reads from a region
// that is not a SharedLister: one listing page, then one member lookup per
// image the caller did not get through membership.
const maxSharedScan = 1000

// sharedPage is the page sharedThroughListing asks for.
const sharedPage = 200

func (c *cachedRegion) noGrants() error {
	return backends.Errorf(backends.ErrBadRequest, fmt.Sprintf(
		"can_share cannot be granted on an image of region %s: it is a Glance region, whose Images API v2 has no can_share to keep it in; share the image without can_share (or with can_share false)", c.name))
}

func (c *cachedRegion) ShareMember(ctx context.Context, imageID, memberID string, canShare *bool) (*backends.Member, error) {
	if k, ok := c.region.Members.(GrantKeeper); ok {
		m, err := k.ShareMember(ctx, imageID, memberID, canShare)
		c.written(ctx, imageID, nil)
		return m, err
	}
	if canShare != nil && *canShare {
		return nil, c.noGrants()
	}
	m, err := c.region.Members.Member(ctx, imageID, memberID)
	if err == nil {
		return m, nil
	}
	if !errors.Is(err, backends.ErrNotFound) {
		return nil, err
	}
	return c.AddMember(ctx, imageID, memberID)
}

// ReplaceMembers on a region that is not a GrantKeeper is v2 calls, not
// one transaction: the removals first, then the additions, so that the
// region's member quota sees the final count; a failure part way leaves
// the calls made so far made.
func (c *cachedRegion) ReplaceMembers(ctx context.Context, imageID string, grants []backends.MemberGrant) error {
	if k, ok := c.region.Members.(GrantKeeper); ok {
		err := k.ReplaceMembers(ctx, imageID, grants)
		c.written(ctx, imageID, nil)
		return err
	}
	want := make(map[string]bool, len(grants))
	for _, g := range grants {
		if g.CanShare != nil && *g.CanShare {
			return c.noGrants()
		}
		want[g.MemberID] = true
	}
	cur, err := c.region.Members.Members(ctx, imageID)
	if err != nil {
		return err
	}
	defer c.written(ctx, imageID, nil)
	have := make(map[string]bool, len(cur))
	for _, m := range cur {
		have[m.MemberID] = true
		if !want[m.MemberID] {
			if err := c.region.Members.DeleteMember(ctx, imageID, m.MemberID); err != nil && !errors.Is(err, backends.ErrNotFound) {
				return err
			}
		}
	}
	for _, g := range grants {
		if have[g.MemberID] {
			continue
		}
		have[g.MemberID] = true
		if _, err := c.region.Members.AddMember(ctx, imageID, g.MemberID); err != nil && !errors.Is(err, backends.ErrConflict) {
			return err
		}
	}
	return nil
}

func (c *cachedRegion) SharedWith(ctx context.Context, memberID string) ([]*backends.Member, error) {
	if l, ok := c.region.Members.(SharedLister); ok {
		return l.SharedWith(ctx, memberID)
	}
	return c.sharedThroughListing(ctx, memberID)
}

// sharedThroughListing answers SharedWith from a region's v2 API, as the
// caller: the shared images it sees whatever their member status (its own
// and those shared with it; an admin's: all), the caller's own only when
// memberID is not its project (a non-admin sees no one else's memberships
// on images it does not own). An image the caller sees without owning it
// is one it is a member of, so asking for the caller's own memberships
// costs a listing (a request per sharedPage images, and a last, empty
// one) plus one member lookup per image it owns; for another project, or
// for an admin, one lookup per image listed. More than maxSharedScan
// images is an error, not a partial answer.
func (c *cachedRegion) sharedThroughListing(ctx context.Context, memberID string) ([]*backends.Member, error) {
	who := backends.CallerOf(ctx)
	if !who.Admin && who.Project == "" {
		return nil, nil
	}
	q := &backends.ListQuery{
		Visibility: backends.VisibilityShared, MemberStatus: "all", Limit: sharedPage,
		Sort: []backends.SortKey{{Key: "created_at"}, {Key: "id"}},
	}
	if !who.Admin && memberID != who.Project {
		q.Filters = []backends.Filter{{Key: "owner", Op: backends.OpEq, Values: []string{who.Project}}}
	}
	// Pages until one comes back empty: a region may cap a page below
	// the limit asked (api_limit_max), so a short page is not the end.
	var imgs []*backends.Image
	for {
		page, err := c.region.Images.ListImages(ctx, q)
		if err != nil {
			return nil, err
		}
		if len(page) == 0 {
			break
		}
		imgs = append(imgs, page...)
		if len(imgs) > maxSharedScan {
			return nil, backends.Errorf(backends.ErrUnavailable, fmt.Sprintf(
				"region %s holds more than %d shared images the caller can see: too many to search for the memberships of %s", c.name, maxSharedScan, memberID))
		}
		q.Marker = page[len(page)-1].ID
	}
	var out []*backends.Member
	for _, img := range imgs {
		owned := img.Owner != nil && *img.Owner == who.Project
		if !who.Admin && !owned && memberID == who.Project {
			// Listed, shared and not the caller's: the caller is a
			// member, and v1 shows no more than the image and can_share
			// (false here).
			out = append(out, &backends.Member{ImageID: img.ID, MemberID: memberID})
			continue
		}
		m, err := c.region.Members.Member(ctx, img.ID, memberID)
		if errors.Is(err, backends.ErrNotFound) || errors.Is(err, backends.ErrForbidden) {
			continue
		}
		if err != nil {
			return nil, err
		}
		out = append(out, m)
	}
	return out, nil
}

// ShareMember shares in every region holding the image, as AddMember.
func (c *Catalog) ShareMember(ctx context.Context, imageID, memberID string, canShare *bool) (*backends.Member, error) {
	return eachHolder(c, ctx, imageID, func(r *cachedRegion) (*backends.Member, error) {
		return r.ShareMember(ctx, imageID, memberID, canShare)
	})
}

func (c *Catalog) ReplaceMembers(ctx context.Context, imageID string, grants []backends.MemberGrant) error {
	_, err := eachHolder(c, ctx, imageID, func(r *cachedRegion) (struct{}, error) {
		return struct{}{}, r.ReplaceMembers(ctx, imageID, grants)
	})
	return err
}

// SharedWith asks every region at once; an image held by several regions
// is listed once (its primary's answer, the first region's in order). A
// region that fails fails the answer: a list missing a region's
// memberships would read as "not shared".
func (c *Catalog) SharedWith(ctx context.Context, memberID string) ([]*backends.Member, error) {
	if c.single() {
		return c.regions[0].cached.SharedWith(ctx, memberID)
	}
	backends.CallerFrom(ctx) // built now, not by the goroutines below at once
	per := make([][]*backends.Member, len(c.regions))
	errs := make([]error, len(c.regions))
	var wg sync.WaitGroup
	for i, r := range c.regions {
		wg.Add(1)
		go func() {
			defer wg.Done()
			per[i], errs[i] = r.cached.SharedWith(ctx, memberID)
		}()
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	seen := map[string]bool{}
	var out []*backends.Member
	for _, ms := range per {
		for _, m := range ms {
			if !seen[m.ImageID] {
				seen[m.ImageID] = true
				out = append(out, m)
			}
		}
	}
	sort.SliceStable(out, func(i, j int) bool {
		if !out[i].CreatedAt.Equal(out[j].CreatedAt) {
			return out[i].CreatedAt.Before(out[j].CreatedAt)
		}
		return out[i].ImageID < out[j].ImageID
	})
	return out, nil
}
