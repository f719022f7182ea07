package policy

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/spyglass-gateway/spyglass/backends"
)

// Target is what a rule's %(key)s interpolations read: the object of the
// action, as Glance builds it for each check. Build one with ImageTarget,
// ProposedImageTarget, ProjectTarget or EmptyTarget; the zero Target is
// the empty one ({}: every %(key)s is missing, and its check fails).
type Target struct {
	kind targetKind
	img  *backends.Image
	id   *Identity
	// Proposed images (create): the owner and visibility asked for.
	owner      string
	ownerNone  bool
	visibility string
}

type targetKind uint8

const (
	targetEmpty    targetKind = iota // {} (tasks, discovery, the cache's lists)
	targetImage                      // glance.api.policy.ImageTarget
	targetProposed                   // add_image's dict
	targetProject                    // get_images' {'project_id': caller}
	targetContext                    // context_is_admin's context.to_dict()
	targetMetadef                    // MetadefAPIPolicy's {'project_id': owner, 'visibility': ...}
)

// ImageTarget is Glance's ImageTarget over an image the caller found:
// project_id and owner are the image's owner, member_id is the caller's
// project when the image is shared and not the caller's own (Glance's
// ImageRepo sets image.member so), visibility, id, name, status... are the
// image's, and any other key is an extra property.
func ImageTarget(img *backends.Image, caller *Identity) Target {
	return Target{kind: targetImage, img: img, id: caller}
}

// ProposedImageTarget is add_image's target: {'project_id': owner, 'owner':
// owner, 'visibility': visibility}; owner nil is Python's None.
func ProposedImageTarget(owner *string, visibility string) Target {
	t := Target{kind: targetProposed, visibility: visibility, ownerNone: owner == nil}
	if owner != nil {
		t.owner = *owner
	}
	return t
}

// ProjectTarget is get_images' target, {'project_id': the caller's project}.
func ProjectTarget(caller *Identity) Target { return Target{kind: targetProject, id: caller} }

// MetadefTarget is MetadefAPIPolicy's target over a namespace:
// {'project_id': its owner, 'visibility': its visibility}. A call about no
// namespace (a listing, a create) has ProjectTarget's.
func MetadefTarget(owner, visibility string) Target {
	return Target{kind: targetMetadef, owner: owner, visibility: visibility}
}

// EmptyTarget is {}.
func EmptyTarget() Target { return Target{} }

// targetKey is a %(key)s the compiler resolved.
type targetKey uint8

const (
	// keyAttr: an image attribute the table gives as a value
	// (backends.TargetValue); the template part holds it (tpart.attr).
	keyAttr targetKey = iota
	// ImageTarget's key_transforms: project_id is the owner, member_id the
	// membership's project.
	keyProjectID
	keyMemberID
	// context.to_dict() keys (context_is_admin's target)
	keyUser
	keyProject
	keyDomain
	keyUserDomain
	keyProjectDomain
	keySystemScope
	keyIsAdmin
	keyReadOnly
	keyShowDeleted
	keyIsAdminProject
	keyProperty // any other name: an image's extra property
)

// targetKeys are the names a rule may interpolate that are no image
// attribute of the table (backends.Attribute.Target says how those read).
var targetKeys = map[string]targetKey{
	"project_id": keyProjectID, "member_id": keyMemberID, "member": keyMemberID,
	"user": keyUser, "project": keyProject, "domain": keyDomain, "user_domain": keyUserDomain,
	"project_domain": keyProjectDomain, "system_scope": keySystemScope, "is_admin": keyIsAdmin,
	"read_only": keyReadOnly, "show_deleted": keyShowDeleted, "is_admin_project": keyIsAdminProject,
}

// unsupportedKeys are names besides the table's TargetUnsupported
// attributes whose Python str() Spyglass does not reproduce (the locations
// proxy, the extra properties' dict, the context's lists and tokens).
var unsupportedKeys = map[string]bool{
	"locations": true, "extra_properties": true, "auth_token": true, "request_id": true,
	"global_request_id": true, "resource_uuid": true, "roles": true, "user_identity": true,
}

// The attributes a target reads by name besides through keyAttr: a
// proposed image's owner and visibility, and image_id, the domain image's
// name for id.
var (
	attrOwner      = backends.LookupAttribute("owner")
	attrVisibility = backends.LookupAttribute("visibility")
	attrID         = backends.LookupAttribute("id")
)

// lookupTargetKey resolves %(name)s; attr is the image attribute of
// keyAttr.
func lookupTargetKey(name string) (key targetKey, attr *backends.Attribute, err error) {
	if k, ok := targetKeys[name]; ok {
		return k, nil, nil
	}
	if name == "image_id" {
		return keyAttr, attrID, nil
	}
	a := backends.LookupAttribute(name)
	switch {
	case a != nil && a.Target == backends.TargetValue:
		return keyAttr, a, nil
	case a != nil && a.Target == backends.TargetUnsupported, unsupportedKeys[name], name == "":
		return 0, nil, fmt.Errorf("%%(%s)s: this target key is not supported by Spyglass", name)
	}
	return keyProperty, nil, nil
}

// value is one target value as Python's str() renders it.
type value struct {
	s    string
	n    int64
	kind valueKind
}

type valueKind uint8

const (
	vStr valueKind = iota
	vInt
)

var (
	vNone  = value{s: "None"}
	vTrue  = value{s: "True"}
	vFalse = value{s: "False"}
)

func strValue(s string) value { return value{s: s} }

func optValue(p *string) value {
	if p == nil {
		return vNone
	}
	return value{s: *p}
}

func boolValue(b bool) value {
	if b {
		return vTrue
	}
	return vFalse
}

func intPtrValue(p *int64) value {
	if p == nil {
		return vNone
	}
	return value{n: *p, kind: vInt}
}

// projectValue is a caller's project: empty is None.
func projectValue(s string) value {
	if s == "" {
		return vNone
	}
	return value{s: s}
}

// lookup returns the value of p's key; ok is false when the target has no
// such key (Python's KeyError: the check fails).
func (t *Target) lookup(p *tpart) (value, bool) {
	key := p.key
	switch t.kind {
	case targetProposed:
		switch {
		case key == keyProjectID, key == keyAttr && p.attr == attrOwner:
			if t.ownerNone {
				return vNone, true
			}
			return strValue(t.owner), true
		case key == keyAttr && p.attr == attrVisibility:
			return strValue(t.visibility), true
		}
		return value{}, false
	case targetMetadef:
		switch {
		case key == keyProjectID:
			return strValue(t.owner), true
		case key == keyAttr && p.attr == attrVisibility:
			return strValue(t.visibility), true
		}
		return value{}, false
	case targetProject:
		if key == keyProjectID {
			return projectValue(t.id.ProjectID), true
		}
		return value{}, false
	case targetContext:
		id := t.id
		switch key {
		case keyProjectID, keyProject:
			return projectValue(id.ProjectID), true
		case keyUser:
			return projectValue(id.UserID), true
		case keyDomain:
			return projectValue(id.DomainID), true
		case keyUserDomain:
			return projectValue(id.UserDomainID), true
		case keyProjectDomain:
			return projectValue(id.ProjectDomainID), true
		case keySystemScope:
			return projectValue(id.SystemScope), true
		case keyIsAdmin:
			return boolValue(id.IsAdmin), true
		case keyReadOnly:
			return boolValue(id.ReadOnly), true
		case keyShowDeleted:
			return vFalse, true
		case keyIsAdminProject:
			return vTrue, true
		}
		return value{}, false
	case targetImage:
		return imageValue(t.img, t.id, p)
	}
	return value{}, false
}

func imageValue(img *backends.Image, caller *Identity, p *tpart) (value, bool) {
	switch p.key {
	case keyAttr:
		return attrValue(p.attr, img), true
	case keyProjectID:
		return optValue(img.Owner), true
	case keyMemberID:
		// glance.db.ImageRepo._format_image_from_db: a shared image found
		// by a caller that does not own it was found through membership.
		if img.Visibility == backends.VisibilityShared {
			own := caller.ProjectID != "" && img.Owner != nil && *img.Owner == caller.ProjectID
			none := caller.ProjectID == "" && img.Owner == nil
			if !own && !none {
				return projectValue(caller.ProjectID), true
			}
		}
		return vNone, true
	case keyProperty:
		v, ok := img.Properties[p.prop]
		return strValue(v), ok
	}
	// The context's keys are not image attributes: Glance's ImageTarget
	// looks them up among the extra properties.
	v, ok := img.Properties[contextKeyNames[p.key]]
	return strValue(v), ok
}

// attrValue is Python's str() of an attribute the table gives as a value
// (backends.TargetValue: a string, an integer or a boolean; the tests
// check), read through its accessor: a pointer into the record, no copy.
func attrValue(a *backends.Attribute, img *backends.Image) value {
	switch a.Kind {
	case backends.KindString:
		return optValue(a.Str(img))
	case backends.KindInt:
		return intPtrValue(a.Int(img))
	case backends.KindBool:
		return boolValue(*a.Bool(img))
	}
	return vNone
}

var contextKeyNames = map[targetKey]string{}

func init() {
	for name, k := range targetKeys {
		if k >= keyUser && k <= keyIsAdminProject {
			contextKeyNames[k] = name
		}
	}
}

// matches reports whether the template, interpolated with t, equals s
// (case-insensitively when fold). ok is false when a key is missing.
func (tm *template) matches(t *Target, s string, fold bool) (eq, ok bool) {
	off := 0
	for i := range tm.parts {
		p := &tm.parts[i]
		if !p.isKey {
			if !segmentEqual(s, off, p.lit, fold) {
				return false, true
			}
			off += len(p.lit)
			continue
		}
		v, ok := t.lookup(p)
		if !ok {
			return false, false
		}
		if v.kind == vInt {
			var buf [24]byte
			b := strconv.AppendInt(buf[:0], v.n, 10)
			if len(s)-off < len(b) || string(b) != s[off:off+len(b)] {
				return false, true
			}
			off += len(b)
			continue
		}
		if !segmentEqual(s, off, v.s, fold) {
			return false, true
		}
		off += len(v.s)
	}
	return off == len(s), true
}

func segmentEqual(s string, off int, piece string, fold bool) bool {
	if len(s)-off < len(piece) {
		return false
	}
	if fold {
		return strings.EqualFold(s[off:off+len(piece)], piece)
	}
	return s[off:off+len(piece)] == piece
}

// constant returns the template's text when it interpolates nothing.
func (tm *template) constant() (string, bool) {
	var b strings.Builder
	for _, p := range tm.parts {
		if p.isKey {
			return "", false
		}
		b.WriteString(p.lit)
	}
	return b.String(), true
}
