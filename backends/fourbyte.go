package backends

import (
	"slices"
	"sort"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Glance's database layer refuses text with characters outside the Basic
// Multilingual Plane (utils.no_4byte_params: MySQL's utf8 holds three bytes
// a character), with a 400 whose message names the attribute. The embedded
// store asks the same of what it stores, so that an image is storable in
// either kind of region.

// CheckImageText is no_4byte_params over the values Glance's image_create
// and image_update are handed: the attributes in the order Glance's
// _format_image_to_db lists them, then each extra property (name, then
// value; by name, as a Go map has no order), then the tags, which Glance
// stores one call each (image_tag_create) and refuses with the message for
// plain parameters. prev is the image before an update (nil for a create):
// its tags are not asked again, as a tag added by PUT /tags is stored as
// given (Glance's WSGI layer garbles such a tag into Latin-1, so it never
// refuses one there) and must not make the image's next update fail.
func CheckImageText(img, prev *Image) error {
	for _, a := range [...]struct {
		key string
		val *string
	}{{"name", img.Name}, {"owner", img.Owner}, {"disk_format", img.DiskFormat}, {"container_format", img.ContainerFormat}} {
		if a.val != nil && hasFourByte(*a.val) {
			return fourByteValue(a.key)
		}
	}
	if len(img.Properties) > 0 {
		keys := make([]string, 0, len(img.Properties))
		for k := range img.Properties {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			if hasFourByte(k) {
				return Errorf(ErrBadRequest, "Property names can't contain 4 byte unicode.")
			}
			if hasFourByte(img.Properties[k]) {
				return fourByteValue(k)
			}
		}
	}
	for _, t := range img.Tags {
		if hasFourByte(t) && (prev == nil || !slices.Contains(prev.Tags, t)) {
			return Errorf(ErrBadRequest, "Param values can't contain 4 byte unicode.")
		}
	}
	return nil
}

// CheckMemberText is no_4byte_params over image_member_create's values.
func CheckMemberText(member string) error {
	if hasFourByte(member) {
		return fourByteValue("member")
	}
	return nil
}

func fourByteValue(key string) error {
	return Errorf(ErrBadRequest, pyTitle(key)+" can't contain 4 byte unicode characters.")
}

// hasFourByte reports whether s has a character that UTF-8 encodes in four
// bytes (U+10000 and above). Only those start with a byte ≥ 0xF0.
func hasFourByte(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= 0xF0 {
			if r, _ := utf8.DecodeRuneInString(s[i:]); r >= 0x10000 {
				return true
			}
		}
	}
	return false
}

// pyTitle is Python's str.title(), which Glance's message applies to the
// attribute's name: a cased character after an uncased one is upper-cased,
// the others lower-cased ("os_distro" → "Os_Distro", "k2x" → "K2X").
func pyTitle(s string) string {
	var b strings.Builder
	b.Grow(len(s))
	prevCased := false
	for _, r := range s {
		cased := unicode.IsUpper(r) || unicode.IsLower(r) || unicode.IsTitle(r)
		switch {
		case cased && !prevCased:
			b.WriteRune(unicode.ToTitle(r))
		case cased:
			b.WriteRune(unicode.ToLower(r))
		default:
			b.WriteRune(r)
		}
		prevCased = cased
	}
	return b.String()
}
