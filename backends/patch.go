package backends

import (
	"encoding/json"
	"strings"
)

// attrClass is how Glance lets a JSON patch touch an image attribute.
type attrClass uint8

const (
	// attrProperty is a custom property: anyone who may modify the image
	// may add, replace or remove it.
	attrProperty attrClass = iota
	// attrBase is a base attribute (Glance's hasattr(image, name)): set by
	// add and replace, never removed.
	attrBase
	// attrFormat is disk_format or container_format: a base attribute the
	// domain model lets change only while the image is queued or
	// importing, whoever asks.
	attrFormat
	// attrAdminOnly is owner: a base attribute only an admin may set.
	attrAdminOnly
	// attrReadOnly is one of the deserializer's _readonly_properties:
	// every operation is refused.
	attrReadOnly
	// attrReserved is one of its _reserved_properties or a name in the
	// os_glance namespace: every operation is refused.
	attrReserved
)

// reservedNamespace prefixes the properties Glance keeps for itself
// (common.GLANCE_RESERVED_NS).
const reservedNamespace = "os_glance"

// classOf reads the attribute table (attributes.go): every attribute that
// is not a custom property has its class there.
func classOf(name string) attrClass {
	if a := LookupAttribute(name); a != nil {
		return a.patch
	}
	if strings.HasPrefix(name, reservedNamespace) {
		return attrReserved
	}
	return attrProperty
}

// CheckAttribute refuses a patch of a read-only or reserved attribute
// (403), whatever the operation, the image or the caller: the part of
// CheckChange that Glance's request deserializer decides before it looks
// the image up (_validate_change).
func CheckAttribute(name string) error {
	switch classOf(name) {
	case attrReadOnly:
		return Errorf(ErrForbidden, "Attribute '"+name+"' is read-only.")
	case attrReserved:
		return Errorf(ErrForbidden, "Attribute '"+name+"' is reserved.")
	}
	return nil
}

// CheckChange is the one check of who may make which change to which
// attribute of img, in Glance's order: read-only and reserved attributes
// are refused to every operation; a base attribute cannot be removed, and
// adding one under the v2.0 media type is a conflict; only an admin sets
// the owner — by add as by replace, whatever the value (Glance 25 refuses
// only the replace, so a tenant's add could give its community image
// away or disown any image: Spyglass refuses both); the formats change
// only while the image is queued or importing (the domain model, admins
// included). admin is the caller's admin status; a store, which leaves
// policy to the gateway, passes true. Locations have rules of their own
// (ApplyChanges and the gateway's policy).
func CheckChange(img *Image, c *Change, admin bool) error {
	if len(c.Path) == 0 {
		return Errorf(ErrBadRequest, "Invalid JSON pointer for this resource: '/'")
	}
	root := c.Path[0]
	if err := CheckAttribute(root); err != nil {
		return err
	}
	class := classOf(root)
	if class == attrProperty {
		return nil
	}
	switch c.Op {
	case PatchRemove:
		return Detailf(ErrForbidden, "Property "+root+" may not be removed.")
	case PatchAdd:
		if c.Legacy {
			return Detailf(ErrConflict, "Property "+root+" already present.")
		}
	}
	switch class {
	case attrAdminOnly:
		if !admin {
			return Detailf(ErrForbidden, "Owner can't be updated by non admin.")
		}
	case attrFormat:
		if img.Status != StatusQueued && img.Status != StatusImporting {
			return Errorf(ErrForbidden, "Attribute "+root+" can be only replaced for a queued image.")
		}
	}
	return nil
}

// ApplyChanges applies parsed JSON-patch changes to a clone of img with
// Glance's semantics (glance/api/v2/images.py _do_add/_do_replace/
// _do_remove): every change passes CheckChange against the image as it is
// (admin: policy is the gateway's), so a store applying changes under its
// lock decides the state-dependent refusals on the current state;
// attributes are set in place; custom properties are added, replaced or
// removed, replacing or removing a missing one is a conflict, adding an
// existing one is a conflict only under the v2.0 media type; locations are
// invisible (Glance's default show_multiple_locations=False) and cannot be
// changed unless a change says they are visible (ApplyChangesWith). The values have been validated against the image schema by the
// parser; a value of the wrong JSON type is still refused here, never
// applied.
func ApplyChanges(img *Image, changes []Change) (*Image, error) {
	return ApplyChangesWith(img, changes, nil, "")
}

// ApplyChangesWith is ApplyChanges where locations may change
// (Change.LocationsVisible): sizes are what the store found at the URLs
// the changes name (LocationURLs), store the name a queued image's
// stores take when a location activates it (Glance's locations.py
// semantics: applyLocation).
func ApplyChangesWith(img *Image, changes []Change, sizes LocationSizes, store string) (*Image, error) {
	out := img.Clone()
	if out.Properties == nil {
		out.Properties = map[string]string{}
	}
	for _, c := range changes {
		if len(c.Path) == 0 {
			return nil, Errorf(ErrBadRequest, "Invalid JSON pointer for this resource: '/'")
		}
		root := c.Path[0]
		if root == "locations" {
			// Glance checks for an empty list before anything else
			// (images.py _do_replace: "not value").
			if c.Op == PatchReplace && patchEmptyValue(c.Value) {
				return nil, Detailf(ErrForbidden, "Cannot set locations to empty list.")
			}
			if err := applyLocation(out, &c, sizes, store); err != nil {
				return nil, err
			}
			continue
		}
		if err := CheckChange(out, &c, true); err != nil {
			return nil, err
		}
		_, isProp := out.Properties[root]
		if classOf(root) != attrProperty {
			if c.Op != PatchAdd && c.Op != PatchReplace {
				return nil, Errorf(ErrBadRequest, "Invalid operation")
			}
			if err := setAttribute(out, root, c.Value); err != nil {
				return nil, err
			}
			continue
		}
		switch c.Op {
		case PatchRemove:
			if !isProp {
				return nil, Detailf(ErrConflict, "Property "+root+" does not exist.")
			}
			delete(out.Properties, root)
		case PatchAdd, PatchReplace:
			if c.Op == PatchAdd && c.Legacy && isProp {
				return nil, Detailf(ErrConflict, "Property "+root+" already present.")
			}
			if c.Op == PatchReplace && !isProp {
				return nil, Detailf(ErrConflict, "Property "+root+" does not exist.")
			}
			var v string
			if err := json.Unmarshal(c.Value, &v); err != nil {
				return nil, Errorf(ErrBadRequest, "Provided object does not match schema 'image': "+string(c.Value)+" is not of type 'string'")
			}
			out.Properties[root] = v
		default:
			return nil, Errorf(ErrBadRequest, "Invalid operation")
		}
	}
	if len(out.Properties) == 0 {
		out.Properties = nil
	}
	return out, nil
}

func setAttribute(img *Image, key string, raw json.RawMessage) error {
	bad := func() error {
		return Errorf(ErrBadRequest, "Provided object does not match schema 'image': invalid value for '"+key+"'")
	}
	if len(raw) == 0 {
		return bad()
	}
	var err error
	switch key {
	case "name":
		img.Name, err = patchString(raw)
	case "owner":
		img.Owner, err = patchString(raw)
	case "container_format":
		img.ContainerFormat, err = patchString(raw)
	case "disk_format":
		img.DiskFormat, err = patchString(raw)
	case "visibility":
		err = json.Unmarshal(raw, &img.Visibility)
	case "protected":
		err = json.Unmarshal(raw, &img.Protected)
	case "os_hidden":
		err = json.Unmarshal(raw, &img.OSHidden)
	case "min_ram":
		err = json.Unmarshal(raw, &img.MinRAM)
	case "min_disk":
		err = json.Unmarshal(raw, &img.MinDisk)
	case "tags":
		var tags []string
		if err = json.Unmarshal(raw, &tags); err == nil {
			img.Tags = uniqueStrings(tags)
		}
	default:
		return Errorf(ErrForbidden, "Attribute '"+key+"' is read-only.")
	}
	if err != nil {
		return bad()
	}
	return nil
}

// patchString decodes a JSON string or null into a fresh pointer. Decoding
// into the clone's existing pointer would write through it into the
// snapshot the clone was made from, which other readers share.
func patchString(raw json.RawMessage) (*string, error) {
	var s *string
	err := json.Unmarshal(raw, &s)
	return s, err
}

// uniqueStrings keeps the first occurrence of each string, in order.
func uniqueStrings(in []string) []string {
	out := make([]string, 0, len(in))
	seen := make(map[string]bool, len(in))
	for _, s := range in {
		if !seen[s] {
			seen[s] = true
			out = append(out, s)
		}
	}
	return out
}

// patchEmptyValue reports whether raw is a JSON value Python treats as false
// in Glance's "not value" test on a locations list: null or [].
func patchEmptyValue(raw json.RawMessage) bool {
	var v []json.RawMessage
	return json.Unmarshal(raw, &v) == nil && len(v) == 0
}
