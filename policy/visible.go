package policy

import "github.com/spyglass-gateway/spyglass/backends"

// Visible is Glance's is_image_visible: the one visibility function. An
// image is visible to admins, when it has no owner, when it is public or
// community, to its owner, and, when shared, to a member whose status matches
// memberStatus ("" or "all": any status). member may be nil when the caller
// is not a member.
func Visible(id *Identity, img *backends.Image, member *backends.Member, memberStatus string) bool {
	if id.IsAdmin || img.Owner == nil {
		return true
	}
	if img.Visibility == backends.VisibilityPublic || img.Visibility == backends.VisibilityCommunity {
		return true
	}
	if id.ProjectID == "" {
		return false
	}
	if *img.Owner == id.ProjectID {
		return true
	}
	if img.Visibility == backends.VisibilityShared && member != nil && member.MemberID == id.ProjectID {
		return memberStatus == "" || memberStatus == "all" || member.Status == memberStatus
	}
	return false
}

// NeedsMembership reports whether Visible's answer for this caller depends on
// the caller's membership, so callers look a member up only when it matters
// (the show hot path).
func NeedsMembership(id *Identity, img *backends.Image) bool {
	return !id.IsAdmin && img.Owner != nil && img.Visibility == backends.VisibilityShared &&
		id.ProjectID != "" && *img.Owner != id.ProjectID
}
