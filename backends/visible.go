package backends

// Visible is Glance's is_image_visible (glance/db/utils.py), the one
// visibility function every Go caller uses (policy.Visible, the embedded
// store's marker): an image is visible to admins, when it has no owner,
// when it is public or community, to its owner, and, when shared, to a
// member whose status matches memberStatus ("" or "all": any status).
// member is the caller's membership of img, nil when there is none; look
// it up only when NeedsMembership says the answer depends on it.
//
// The embedded store's listing decides the same in SQL (local.buildList);
// the two must agree, and a test checks that they do (one known
// difference, Glance's: its database lists an ownerless image as if a
// project no caller is owned it, while is_image_visible shows it to all).
func Visible(img *Image, admin bool, project string, member *Member, memberStatus string) bool {
	if admin || img.Owner == nil {
		return true
	}
	if img.Visibility == VisibilityPublic || img.Visibility == VisibilityCommunity {
		return true
	}
	if project == "" {
		return false
	}
	if *img.Owner == project {
		return true
	}
	if img.Visibility == VisibilityShared && member != nil && member.MemberID == project {
		return memberStatus == "" || memberStatus == "all" || member.Status == memberStatus
	}
	return false
}

// NeedsMembership reports whether Visible's answer for this caller depends
// on the caller's membership, so callers look a member up only when it
// matters (the show hot path).
func NeedsMembership(img *Image, admin bool, project string) bool {
	return !admin && img.Owner != nil && img.Visibility == VisibilityShared &&
		project != "" && *img.Owner != project
}
