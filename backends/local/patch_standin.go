package local

import (
	"encoding/json"
	"fmt"

	"github.com/spyglass-gateway/spyglass/backends"
)

// applyChanges is a temporary stand-in for backends.ApplyChanges (being
// written in backends/patch.go): simple add/replace/remove of top-level
// attributes, tags and custom properties. Delete when the real one lands.
var applyChanges = func(cur *backends.Image, changes []backends.Change) (*backends.Image, error) {
	img := cur.Clone()
	for _, c := range changes {
		if len(c.Path) != 1 {
			return nil, backends.Errorf(backends.ErrBadRequest, "Invalid JSON pointer for this resource")
		}
		key := c.Path[0]
		bad := func(err error) error {
			return backends.Errorf(backends.ErrBadRequest, fmt.Sprintf("Invalid value for %s: %v", key, err))
		}
		if c.Op == backends.PatchRemove {
			switch key {
			case "name":
				img.Name = nil
			default:
				if _, ok := img.Properties[key]; !ok {
					return nil, backends.Errorf(backends.ErrConflict, fmt.Sprintf("Property %s does not exist.", key))
				}
				delete(img.Properties, key)
			}
			continue
		}
		var err error
		switch key {
		case "name":
			err = json.Unmarshal(c.Value, &img.Name)
		case "visibility":
			err = json.Unmarshal(c.Value, &img.Visibility)
		case "protected":
			err = json.Unmarshal(c.Value, &img.Protected)
		case "os_hidden":
			err = json.Unmarshal(c.Value, &img.OSHidden)
		case "min_disk":
			err = json.Unmarshal(c.Value, &img.MinDisk)
		case "min_ram":
			err = json.Unmarshal(c.Value, &img.MinRAM)
		case "container_format":
			err = json.Unmarshal(c.Value, &img.ContainerFormat)
		case "disk_format":
			err = json.Unmarshal(c.Value, &img.DiskFormat)
		case "tags":
			err = json.Unmarshal(c.Value, &img.Tags)
		default:
			var v string
			err = json.Unmarshal(c.Value, &v)
			if img.Properties == nil {
				img.Properties = map[string]string{}
			}
			img.Properties[key] = v
		}
		if err != nil {
			return nil, bad(err)
		}
	}
	return img, nil
}
