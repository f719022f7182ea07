package policy

import "github.com/spyglass-gateway/spyglass/backends"

// Visible is Glance's is_image_visible for the caller id: backends.Visible,
// the one visibility function. member may be nil when the caller is not a
// member; memberStatus "" or "all" accepts any status.
func Visible(id *Identity, img *backends.Image, member *backends.Member, memberStatus string) bool {
	return backends.Visible(img, id.IsAdmin, id.ProjectID, member, memberStatus)
}

// NeedsMembership reports whether Visible's answer for this caller depends on
// the caller's membership, so callers look a member up only when it matters
// (the show hot path).
func NeedsMembership(id *Identity, img *backends.Image) bool {
	return backends.NeedsMembership(img, id.IsAdmin, id.ProjectID)
}
