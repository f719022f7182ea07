package gateway

import (
	"errors"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/valyala/fasthttp"
)

// V1ImageMeta is the image metadata a v1 write carries in its headers,
// as Queens' common/utils.py get_image_meta_from_headers (utils.py:320-373)
// read it and api/v1/images.py validate_image_meta (images.py:69-143)
// checked it. Field names are the header's, lower-cased, '-' as '_'.
type V1ImageMeta struct {
	// Core holds the x-image-meta-<field> headers sent: an empty value is
	// Python's None ("value or None"), kept as "" with Nulls[field] set.
	Core  map[string]string
	Nulls map[string]bool
	// Properties are the x-image-meta-property-<name> headers.
	Properties map[string]string

	// The typed values of the fields that are in Core.
	Size, MinDisk, MinRAM int64
	VirtualSize           *int64 // nil: absent or "None"
	IsPublic, Protected   bool
}

// Has reports whether the request sent field.
func (m *V1ImageMeta) Has(field string) bool {
	_, ok := m.Core[field]
	return ok
}

// Value is field's value, nil for absent or None.
func (m *V1ImageMeta) Value(field string) *string {
	v, ok := m.Core[field]
	if !ok || m.Nulls[field] {
		return nil
	}
	return &v
}

// v1MetaHeaders is utils.py:56-66, IMAGE_META_HEADERS: any other
// x-image-meta-<field> is a 400.
var v1MetaHeaders = map[string]bool{
	"location": true, "size": true, "is_public": true, "disk_format": true,
	"container_format": true, "name": true, "status": true, "copy_from": true,
	"uri": true, "checksum": true, "created_at": true, "updated_at": true,
	"deleted_at": true, "min_ram": true, "min_disk": true, "owner": true,
	"store": true, "id": true, "protected": true, "deleted": true,
	"virtual_size": true,
}

const (
	v1MetaPrefix     = "x-image-meta-"
	v1PropertyPrefix = "x-image-meta-property-"
)

// ParseV1ImageMeta reads and validates the metadata headers of a v1
// POST or PUT /v1/images: untrusted input, so every failure is Glance's
// 400, never a panic.
func ParseV1ImageMeta(h *fasthttp.RequestHeader) (*V1ImageMeta, error) {
	m := &V1ImageMeta{Core: map[string]string{}, Nulls: map[string]bool{}, Properties: map[string]string{}}
	var bad error
	h.VisitAll(func(k, v []byte) {
		if bad != nil || len(k) < len(v1MetaPrefix) || !strings.EqualFold(string(k[:len(v1MetaPrefix)]), v1MetaPrefix) {
			return
		}
		key := lower(string(k))
		if !utf8.Valid(k) || !utf8.Valid(v) {
			// Stored text is UTF-8: bytes that are not are refused as
			// Glance refuses an undecodable request.
			bad = errUndecodable
			return
		}
		if strings.HasPrefix(key, v1PropertyPrefix) {
			// utils.py:338-340. A property without a name cannot be
			// kept (nor removed): it is a bad header.
			name := strings.ReplaceAll(key[len(v1PropertyPrefix):], "-", "_")
			if name == "" {
				bad = errDetail(400, "Bad header: "+key)
				return
			}
			m.Properties[name] = string(v)
			return
		}
		field := strings.ReplaceAll(key[len(v1MetaPrefix):], "-", "_")
		if !v1MetaHeaders[field] {
			// utils.py:343-345: HTTPBadRequest(msg), the detail.
			bad = errDetail(400, "Bad header: "+key)
			return
		}
		m.Core[field] = string(v)
		if len(v) == 0 {
			m.Nulls[field] = true
		} else {
			delete(m.Nulls, field)
		}
	})
	if bad != nil {
		return nil, bad
	}
	// utils.py:349-368: the integers; only virtual_size may be "None".
	for _, f := range [...]struct {
		key      string
		dst      *int64
		nullable bool
	}{{"size", &m.Size, false}, {"min_disk", &m.MinDisk, false}, {"min_ram", &m.MinRAM, false}, {"virtual_size", nil, true}} {
		v, ok := m.Core[f.key]
		if !ok {
			continue
		}
		shown := v
		if m.Nulls[f.key] {
			shown = "None"
		}
		n, err := strconv.ParseInt(strings.TrimSpace(v), 10, 64)
		if errors.Is(err, strconv.ErrRange) {
			// Python's int has no range: an integer past int64 is
			// one (ParseInt's n is clamped to the nearest bound), for
			// the database's range check (v1CheckDBInts) or the size
			// cap to refuse as Queens did, not "Cannot convert".
			err = nil
		}
		if err != nil {
			if f.nullable && shown == "None" {
				continue
			}
			return nil, v1InvalidParam(f.key, shown, "Cannot convert image "+f.key+" '"+shown+"' to an integer.")
		}
		if n < 0 {
			return nil, v1InvalidParam(f.key, shown, "Cannot be a negative value.")
		}
		if f.dst != nil {
			*f.dst = n
		} else {
			m.VirtualSize = &n
		}
	}
	// utils.py:370-372.
	m.IsPublic = pyBoolFromString(m.Core["is_public"])
	m.Protected = pyBoolFromString(m.Core["protected"])
	return m, validateV1Meta(m)
}

// v1InvalidParam is exception.InvalidParameterValue as the deserializer
// answers it (api/v1/images.py:1198-1202: HTTPBadRequest(explanation)).
func v1InvalidParam(param, value, extra string) error {
	return badRequest("Invalid value '" + value + "' for parameter '" + param + "': " + extra)
}

// validateV1Meta is validate_image_meta (api/v1/images.py:91-143): the
// formats, the ami/aki/ari pairing, the times, the name's and the
// checksum's lengths. Its HTTPBadRequests carry an explanation.
func validateV1Meta(m *V1ImageMeta) error {
	disk, diskSet := m.Core["disk_format"], m.Has("disk_format")
	cont, contSet := m.Core["container_format"], m.Has("container_format")
	shown := func(field, v string) string {
		if m.Nulls[field] {
			return "None"
		}
		return v
	}
	if diskSet && (m.Nulls["disk_format"] || !contains(diskFormats, disk)) {
		return badRequest("Invalid disk format '" + shown("disk_format", disk) + "' for image.")
	}
	if contSet && (m.Nulls["container_format"] || !contains(containerFormats, cont)) {
		return badRequest("Invalid container format '" + shown("container_format", cont) + "' for image.")
	}
	amazon := func(f string) bool { return f == "aki" || f == "ari" || f == "ami" }
	if diskSet && amazon(disk) || contSet && amazon(cont) {
		switch {
		case !diskSet:
			m.Core["disk_format"] = cont
		case !contSet:
			m.Core["container_format"] = disk
		case disk != cont:
			return badRequest("Invalid mix of disk and container formats. When setting a disk or container format to one of 'aki', 'ari', or 'ami', the container and disk formats must match.")
		}
	}
	for _, f := range [...]string{"created_at", "updated_at", "deleted_at"} {
		if v := m.Value(f); v != nil && !v1TimeValid(*v) {
			return badRequest("Invalid time format for " + f + ".")
		}
	}
	if name := m.Value("name"); name != nil && len([]rune(*name)) > 255 {
		return badRequest("Image name too long: " + strconv.Itoa(len([]rune(*name))))
	}
	if sum := m.Value("checksum"); sum != nil && len([]rune(*sum)) > 32 {
		return badRequest("Invalid checksum '" + *sum + "': can't exceed 32 characters")
	}
	return nil
}

// v1TimeValid is _validate_time (images.py:69-88): an ISO 8601 time
// (oslo's parse_isotime) of 1900 or later.
func v1TimeValid(v string) bool {
	for _, layout := range [...]string{time.RFC3339Nano, "2006-01-02T15:04:05.999999", "2006-01-02T15:04:05Z0700", "2006-01-02 15:04:05.999999", "2006-01-02"} {
		if t, err := time.Parse(layout, v); err == nil {
			return t.Year() >= 1900
		}
	}
	return false
}
