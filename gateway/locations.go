package gateway

import (
	"sort"

	"github.com/spyglass-gateway/spyglass/backends"
)

// locationView is how an image body shows its locations: Glance's
// show_multiple_locations (`locations`, each url and metadata) and
// show_image_direct_url (`direct_url`, the first location's URL). The
// zero value shows neither, as Glance by default.
type locationView struct {
	multiple, direct bool
}

// append renders the image's locations after updated_at, where Glance's
// _format_image puts them. A deactivated image's locations are hidden
// (Glance's proxy refuses to read them: an empty list, no direct_url);
// only active locations are listed. An image whose data is the embedded
// store's own file shows that file as its one location, as Glance's file
// store does (file:///…/images/<id>, metadata {"store": <its store>}).
func (lv locationView) append(dst []byte, im *backends.Image) []byte {
	if !lv.multiple && !lv.direct {
		return dst
	}
	var locs []backends.Location
	if im.Status != backends.StatusDeactivated {
		for _, l := range im.Locations {
			if l.Status == "" || l.Status == "active" {
				locs = append(locs, l)
			}
		}
		if len(locs) == 0 && im.DataURL != "" {
			l := backends.Location{URL: im.DataURL}
			if len(im.Stores) > 0 {
				l.Metadata = map[string]string{"store": im.Stores[0]}
			}
			locs = append(locs, l)
		}
	}
	if lv.multiple {
		dst = appendKey(dst, false, "locations")
		dst = append(dst, '[')
		for i, l := range locs {
			if i > 0 {
				dst = append(dst, ", "...)
			}
			dst = append(dst, `{"url": `...)
			dst = appendJSONString(dst, l.URL)
			dst = append(dst, `, "metadata": {`...)
			keys := make([]string, 0, len(l.Metadata))
			for k := range l.Metadata {
				keys = append(keys, k)
			}
			sort.Strings(keys)
			for j, k := range keys {
				if j > 0 {
					dst = append(dst, ", "...)
				}
				dst = appendJSONString(dst, k)
				dst = append(dst, ": "...)
				dst = appendJSONString(dst, l.Metadata[k])
			}
			dst = append(dst, "}}"...)
		}
		dst = append(dst, ']')
	}
	if lv.direct && len(locs) > 0 {
		// Glance's default location_strategy, location_order: the first.
		dst = appendKey(dst, false, "direct_url")
		dst = appendJSONString(dst, locs[0].URL)
	}
	return dst
}

// locationViolation is one way a location value fails the image
// schema's locations item, as jsonschema reports it.
type locationViolation struct {
	msg, validator string
	schemaPath     []string
	instancePath   []any
	instance       any
}

// validateLocations checks a patch's locations value (the list of a
// replace of /locations, or [item] for an add of /locations/N) against
// the image schema, reporting the error jsonschema's best_match would:
// the shallowest, the first met among equals.
func validateLocations(list []any) error {
	var best *locationViolation
	add := func(v locationViolation) {
		if best == nil || len(v.instancePath) < len(best.instancePath) {
			best = &v
		}
	}
	items := []string{"properties", "locations", "items"}
	sp := func(p ...string) []string { return append(append([]string(nil), items...), p...) }
	for i, it := range list {
		at := []any{"locations", i}
		ip := func(p ...any) []any { return append(append([]any(nil), at...), p...) }
		obj, ok := it.(map[string]any)
		if !ok {
			add(locationViolation{pyRepr(it) + " is not of type 'object'", "type", sp("type"), at, it})
			continue
		}
		if u, ok := obj["url"]; ok {
			if s, ok := u.(string); !ok {
				add(locationViolation{pyRepr(u) + " is not of type 'string'", "type", sp("properties", "url", "type"), ip("url"), u})
			} else if len([]rune(s)) > 255 {
				add(locationViolation{pyRepr(u) + " is too long", "maxLength", sp("properties", "url", "maxLength"), ip("url"), u})
			}
		}
		if m, ok := obj["metadata"]; ok {
			if _, ok := m.(map[string]any); !ok {
				add(locationViolation{pyRepr(m) + " is not of type 'object'", "type", sp("properties", "metadata", "type"), ip("metadata"), m})
			}
		}
		if vd, ok := obj["validation_data"]; ok {
			validateValidationData(vd, sp("properties", "validation_data"), ip("validation_data"), add)
		}
		for _, k := range []string{"url", "metadata"} {
			if _, ok := obj[k]; !ok {
				add(locationViolation{"'" + k + "' is a required property", "required", sp("required"), at, it})
				break
			}
		}
	}
	if best == nil {
		return nil
	}
	return schemaViolation(best.msg, best.validator, best.schemaPath, best.instancePath, best.instance)
}

func validateValidationData(vd any, sp []string, at []any, add func(locationViolation)) {
	s := func(p ...string) []string { return append(append([]string(nil), sp...), p...) }
	obj, ok := vd.(map[string]any)
	if !ok {
		add(locationViolation{pyRepr(vd) + " is not of type 'object'", "type", s("type"), at, vd})
		return
	}
	var extra []string
	for k := range obj {
		if k != "checksum" && k != "os_hash_algo" && k != "os_hash_value" {
			extra = append(extra, k)
		}
	}
	if len(extra) > 0 {
		sort.Strings(extra)
		var b []byte
		for i, k := range extra {
			if i > 0 {
				b = append(b, ", "...)
			}
			b = append(b, pyRepr(k)...)
		}
		verb := " was unexpected)"
		if len(extra) > 1 {
			verb = " were unexpected)"
		}
		add(locationViolation{"Additional properties are not allowed (" + string(b) + verb, "additionalProperties", s("additionalProperties"), at, vd})
	}
	for _, f := range []struct {
		name     string
		min, max int
	}{{"checksum", 32, 32}, {"os_hash_algo", 0, 64}, {"os_hash_value", 0, 128}} {
		v, ok := obj[f.name]
		if !ok {
			continue
		}
		ip := append(append([]any(nil), at...), f.name)
		str, ok := v.(string)
		switch n := len([]rune(str)); {
		case !ok:
			add(locationViolation{pyRepr(v) + " is not of type 'string'", "type", s("properties", f.name, "type"), ip, v})
		case n < f.min:
			add(locationViolation{pyRepr(v) + " is too short", "minLength", s("properties", f.name, "minLength"), ip, v})
		case n > f.max:
			add(locationViolation{pyRepr(v) + " is too long", "maxLength", s("properties", f.name, "maxLength"), ip, v})
		}
	}
	for _, k := range []string{"os_hash_algo", "os_hash_value"} {
		if _, ok := obj[k]; !ok {
			add(locationViolation{"'" + k + "' is a required property", "required", s("required"), at, vd})
			break
		}
	}
}
