package policy

import "github.com/spyglass-gateway/spyglass/backends"

// Verdict is the answer to an image-level question, with Glance's way of
// refusing: Hide when the caller must not learn the image exists (404),
// Deny when it may see the image but not do this (403).
type Verdict uint8

const (
	Allow Verdict = iota
	Deny
	Hide
)

// Image is Glance's ImageAPIPolicy._enforce for a rule on an image the
// caller found: a refusal hides the image (404) when the rule is get_image
// or when the caller may not get_image either, and is a 403 otherwise.
func (p *Policy) Image(r Rule, id *Identity, img *backends.Image) Verdict {
	t := ImageTarget(img, id)
	if p.Allowed(r, id, &t) {
		return Allow
	}
	if r == GetImage || !p.Allowed(GetImage, id, &t) {
		return Hide
	}
	return Deny
}

// Mutable is Glance's check_is_image_mutable, the ownership check Glance
// makes in code besides the rules in legacy mode, and its database layer
// makes for every write in both modes: admins and the image's owner.
func Mutable(id *Identity, img *backends.Image) bool {
	if id.IsAdmin {
		return true
	}
	return img.Owner != nil && id.ProjectID != "" && *img.Owner == id.ProjectID
}

// LegacyMutable is Mutable when the policy is in legacy mode, true
// otherwise: the check Glance's API layer skips under secure RBAC.
func (p *Policy) LegacyMutable(id *Identity, img *backends.Image) bool {
	return !p.legacy || Mutable(id, img)
}
