package policy

import "github.com/spyglass-gateway/spyglass/backends"

// MemberLookup finds the caller's membership of an image; it returns nil when
// the project is not a member. Consumers pass their catalog's lookup.
type MemberLookup func(imageID, project string) *backends.Member

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

// OwnsOrAdmin is Glance's check_is_image_mutable: the legacy rule for every
// change to an image (modify, upload, delete, deactivate, tags, members).
func OwnsOrAdmin(id *Identity, img *backends.Image) bool {
	if id.IsAdmin {
		return true
	}
	return img.Owner != nil && id.ProjectID != "" && *img.Owner == id.ProjectID
}

// CanSetVisibility is _enforce_image_visibility: publicize_image needs the
// admin role; communitize_image is open under the legacy defaults.
func CanSetVisibility(id *Identity, visibility string) bool {
	if visibility == backends.VisibilityPublic {
		return id.HasRole("admin")
	}
	return true
}

// CanUseTasks is tasks_api_access (role:admin).
func CanUseTasks(id *Identity) bool { return id.HasRole("admin") }

// CanCopyImage is copy_image (role:admin).
func CanCopyImage(id *Identity) bool { return id.HasRole("admin") }

// CanCreateOwnedBy is check_admin_or_same_owner: a non-admin may create only
// images owned by its own project.
func CanCreateOwnedBy(id *Identity, owner string) bool {
	return id.IsAdmin || owner == id.ProjectID
}
