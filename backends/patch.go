package backends

import (
	"encoding/json"
)

// coreAttributes are the image attributes a patch may set directly (the
// rest of Glance's base properties are read-only and refused by the
// gateway's parser).
var coreAttributes = map[string]bool{
	"name": true, "visibility": true, "protected": true, "os_hidden": true,
	"min_ram": true, "min_disk": true, "container_format": true,
	"disk_format": true, "owner": true, "tags": true,
	// read-only ones still "exist" on the image: removing them is refused
	// as for any attribute (Glance's hasattr check).
	"id": true, "status": true, "checksum": true, "size": true,
	"virtual_size": true, "created_at": true, "updated_at": true,
	"os_hash_algo": true, "os_hash_value": true,
}

// ApplyChanges applies parsed JSON-patch changes to a clone of img with
// Glance's semantics (glance/api/v2/images.py _do_add/_do_replace/
// _do_remove): attributes are set in place; custom properties are added,
// replaced or removed, replacing or removing a missing one is a conflict,
// adding an existing one is a conflict only under the v2.0 media type;
// attributes cannot be removed; locations are invisible (Glance's default
// show_multiple_locations=False) and cannot be changed. The values have
// been validated against the image schema by the parser; a value of the
// wrong JSON type is still refused here, never applied.
func ApplyChanges(img *Image, changes []Change) (*Image, error) {
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
			verb := map[PatchOp]string{PatchAdd: "add", PatchRemove: "remove", PatchReplace: "update"}[c.Op]
			return nil, Errorf(ErrForbidden, "It's not allowed to "+verb+" locations if locations are invisible.")
		}
		_, isProp := out.Properties[root]
		switch c.Op {
		case PatchRemove:
			if coreAttributes[root] {
				return nil, Detailf(ErrForbidden, "Property "+root+" may not be removed.")
			}
			if !isProp {
				return nil, Detailf(ErrConflict, "Property "+root+" does not exist.")
			}
			delete(out.Properties, root)
		case PatchAdd, PatchReplace:
			if c.Op == PatchAdd && c.Legacy && (coreAttributes[root] || isProp) {
				return nil, Detailf(ErrConflict, "Property "+root+" already present.")
			}
			if coreAttributes[root] {
				if err := setAttribute(out, root, c.Value); err != nil {
					return nil, err
				}
				continue
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
