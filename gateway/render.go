package gateway

import (
	"sort"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/spyglass-gateway/spyglass/backends"
)

// The renderers append JSON the way Glance's serializer writes it (Python's
// json.dumps: ", " and ": " separators, non-ASCII escaped as \uXXXX), so a
// byte comparison with Glance differs only in ids and times.

const hexDigits = "0123456789abcdef"

// appendJSONString appends s as a JSON string literal, escaped like
// json.dumps with ensure_ascii=True.
func appendJSONString(dst []byte, s string) []byte {
	dst = append(dst, '"')
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			switch {
			case c == '"':
				dst = append(dst, '\\', '"')
			case c == '\\':
				dst = append(dst, '\\', '\\')
			case c == '\n':
				dst = append(dst, '\\', 'n')
			case c == '\r':
				dst = append(dst, '\\', 'r')
			case c == '\t':
				dst = append(dst, '\\', 't')
			case c == '\b':
				dst = append(dst, '\\', 'b')
			case c == '\f':
				dst = append(dst, '\\', 'f')
			case c < 0x20 || c == 0x7f:
				dst = appendU4(dst, rune(c))
			default:
				dst = append(dst, c)
			}
			i++
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r >= 0x10000 {
			r1, r2 := surrogates(r)
			dst = appendU4(dst, r1)
			dst = appendU4(dst, r2)
		} else {
			dst = appendU4(dst, r)
		}
		i += size
	}
	return append(dst, '"')
}

func appendU4(dst []byte, r rune) []byte {
	return append(dst, '\\', 'u', hexDigits[r>>12&0xf], hexDigits[r>>8&0xf], hexDigits[r>>4&0xf], hexDigits[r&0xf])
}

func surrogates(r rune) (rune, rune) {
	r -= 0x10000
	return 0xd800 + (r>>10)&0x3ff, 0xdc00 + r&0x3ff
}

func appendKey(dst []byte, first bool, key string) []byte {
	if !first {
		dst = append(dst, ", "...)
	}
	dst = append(dst, '"')
	dst = append(dst, key...)
	return append(dst, `": `...)
}

func appendStringPtr(dst []byte, s *string) []byte {
	if s == nil {
		return append(dst, "null"...)
	}
	return appendJSONString(dst, *s)
}

func appendInt64Ptr(dst []byte, n *int64) []byte {
	if n == nil {
		return append(dst, "null"...)
	}
	return strconv.AppendInt(dst, *n, 10)
}

func appendBool(dst []byte, b bool) []byte {
	if b {
		return append(dst, "true"...)
	}
	return append(dst, "false"...)
}

// glanceTimeLayout is timeutils.isotime: second precision, "Z".
const glanceTimeLayout = "2006-01-02T15:04:05Z"

func appendTime(dst []byte, t time.Time) []byte {
	dst = append(dst, '"')
	dst = t.UTC().AppendFormat(dst, glanceTimeLayout)
	return append(dst, '"')
}

// hiddenProperties are never shown (Glance's ResponseSerializer).
var hiddenProperties = map[string]bool{"os_glance_stage_host": true}

// appendImage renders one image as Glance's ResponseSerializer does:
// custom properties first, then the core attributes in Glance's order.
func appendImage(dst []byte, im *backends.Image) []byte {
	return appendImageView(dst, im, locationView{})
}

// appendImageView is appendImage with the locations shown as the
// configuration says (locationView).
func appendImageView(dst []byte, im *backends.Image, lv locationView) []byte {
	dst = append(dst, '{')
	first := true
	if len(im.Properties) > 0 {
		keys := make([]string, 0, len(im.Properties))
		for k := range im.Properties {
			if !hiddenProperties[k] {
				keys = append(keys, k)
			}
		}
		sort.Strings(keys)
		for _, k := range keys {
			dst = appendJSONString(appendSep(dst, first), k)
			dst = append(dst, ": "...)
			dst = appendJSONString(dst, im.Properties[k])
			first = false
		}
	}
	dst = appendKey(dst, first, "name")
	dst = appendStringPtr(dst, im.Name)
	dst = appendKey(dst, false, "disk_format")
	dst = appendStringPtr(dst, im.DiskFormat)
	dst = appendKey(dst, false, "container_format")
	dst = appendStringPtr(dst, im.ContainerFormat)
	dst = appendKey(dst, false, "visibility")
	dst = appendJSONString(dst, im.Visibility)
	dst = appendKey(dst, false, "size")
	dst = appendInt64Ptr(dst, im.Size)
	dst = appendKey(dst, false, "virtual_size")
	dst = appendInt64Ptr(dst, im.VirtualSize)
	dst = appendKey(dst, false, "status")
	dst = appendJSONString(dst, im.Status)
	dst = appendKey(dst, false, "checksum")
	dst = appendStringPtr(dst, im.Checksum)
	dst = appendKey(dst, false, "protected")
	dst = appendBool(dst, im.Protected)
	dst = appendKey(dst, false, "min_ram")
	dst = strconv.AppendInt(dst, im.MinRAM, 10)
	dst = appendKey(dst, false, "min_disk")
	dst = strconv.AppendInt(dst, im.MinDisk, 10)
	dst = appendKey(dst, false, "owner")
	dst = appendStringPtr(dst, im.Owner)
	dst = appendKey(dst, false, "os_hidden")
	dst = appendBool(dst, im.OSHidden)
	dst = appendKey(dst, false, "os_hash_algo")
	dst = appendStringPtr(dst, im.OSHashAlgo)
	dst = appendKey(dst, false, "os_hash_value")
	dst = appendStringPtr(dst, im.OSHashValue)
	dst = appendKey(dst, false, "id")
	dst = appendJSONString(dst, im.ID)
	dst = appendKey(dst, false, "created_at")
	dst = appendTime(dst, im.CreatedAt)
	dst = appendKey(dst, false, "updated_at")
	dst = appendTime(dst, im.UpdatedAt)
	dst = lv.append(dst, im)
	dst = appendKey(dst, false, "tags")
	dst = appendStringList(dst, im.Tags)
	dst = appendKey(dst, false, "self")
	dst = append(dst, `"/v2/images/`...)
	dst = append(dst, im.ID...)
	dst = append(dst, '"')
	dst = appendKey(dst, false, "file")
	dst = append(dst, `"/v2/images/`...)
	dst = append(dst, im.ID...)
	dst = append(dst, `/file"`...)
	dst = appendKey(dst, false, "schema")
	dst = append(dst, `"/v2/schemas/image"`...)
	// Glance hides a deactivated image's locations, and so its stores.
	if len(im.Stores) > 0 && im.Status != backends.StatusDeactivated {
		dst = appendKey(dst, false, "stores")
		dst = appendJSONString(dst, strings.Join(im.Stores, ","))
	}
	return append(dst, '}')
}

func appendSep(dst []byte, first bool) []byte {
	if first {
		return dst
	}
	return append(dst, ", "...)
}

func appendStringList(dst []byte, list []string) []byte {
	dst = append(dst, '[')
	for i, s := range list {
		if i > 0 {
			dst = append(dst, ", "...)
		}
		dst = appendJSONString(dst, s)
	}
	return append(dst, ']')
}

// appendMember renders an image member (glance/api/v2/image_members.py).
func appendMember(dst []byte, m *backends.Member) []byte {
	dst = append(dst, `{"member_id": `...)
	dst = appendJSONString(dst, m.MemberID)
	dst = append(dst, `, "image_id": `...)
	dst = appendJSONString(dst, m.ImageID)
	dst = append(dst, `, "status": `...)
	dst = appendJSONString(dst, m.Status)
	dst = append(dst, `, "created_at": `...)
	dst = appendTime(dst, m.CreatedAt)
	dst = append(dst, `, "updated_at": `...)
	dst = appendTime(dst, m.UpdatedAt)
	return append(dst, `, "schema": "/v2/schemas/member"}`...)
}

// appendTask renders a task as Glance's tasks ResponseSerializer: the full
// view for show and create, the stub (no input, result, message) in lists.
func appendTask(dst []byte, t *backends.Task, full bool) []byte {
	dst = append(dst, `{"id": `...)
	dst = appendJSONString(dst, t.ID)
	if full {
		dst = append(dst, `, "input": `...)
		dst = appendRawOrNull(dst, t.Input)
	}
	dst = append(dst, `, "type": `...)
	dst = appendJSONString(dst, t.Type)
	dst = append(dst, `, "status": `...)
	dst = appendJSONString(dst, t.Status)
	dst = append(dst, `, "owner": `...)
	dst = appendJSONString(dst, t.Owner)
	if full {
		dst = append(dst, `, "message": `...)
		dst = appendJSONString(dst, t.Message)
		dst = append(dst, `, "result": `...)
		dst = appendRawOrNull(dst, t.Result)
	}
	dst = append(dst, `, "created_at": `...)
	dst = appendTime(dst, t.CreatedAt)
	dst = append(dst, `, "updated_at": `...)
	dst = appendTime(dst, t.UpdatedAt)
	dst = append(dst, `, "self": "/v2/tasks/`...)
	dst = append(dst, t.ID...)
	dst = append(dst, `", "schema": "/v2/schemas/task"`...)
	if full {
		if t.ImageID != "" {
			dst = append(dst, `, "image_id": `...)
			dst = appendJSONString(dst, t.ImageID)
		}
		if t.RequestID != "" {
			dst = append(dst, `, "request_id": `...)
			dst = appendJSONString(dst, t.RequestID)
		}
		if t.UserID != "" {
			dst = append(dst, `, "user_id": `...)
			dst = appendJSONString(dst, t.UserID)
		}
	}
	if t.ExpiresAt != nil {
		dst = append(dst, `, "expires_at": `...)
		dst = appendTime(dst, *t.ExpiresAt)
	}
	return append(dst, '}')
}

func appendRawOrNull(dst []byte, raw []byte) []byte {
	if len(raw) == 0 {
		return append(dst, "null"...)
	}
	return append(dst, raw...)
}

// dbTimeLayout is how Glance's GET /v2/images/{id}/tasks shows times: the
// database row's datetime, microseconds and no zone.
const dbTimeLayout = "2006-01-02T15:04:05.000000"

func appendDBTime(dst []byte, t time.Time) []byte {
	dst = append(dst, '"')
	dst = t.UTC().AppendFormat(dst, dbTimeLayout)
	return append(dst, '"')
}

// appendTaskRecord renders a task as GET /v2/images/{id}/tasks does: the
// raw database record (Glance's get_task_info), not the Tasks API view.
func appendTaskRecord(dst []byte, t *backends.Task) []byte {
	dst = append(dst, `{"id": `...)
	dst = appendJSONString(dst, t.ID)
	dst = append(dst, `, "type": `...)
	dst = appendJSONString(dst, t.Type)
	dst = append(dst, `, "status": `...)
	dst = appendJSONString(dst, t.Status)
	dst = append(dst, `, "owner": `...)
	dst = appendJSONString(dst, t.Owner)
	dst = append(dst, `, "expires_at": `...)
	if t.ExpiresAt != nil {
		dst = appendDBTime(dst, *t.ExpiresAt)
	} else {
		dst = append(dst, "null"...)
	}
	dst = append(dst, `, "created_at": `...)
	dst = appendDBTime(dst, t.CreatedAt)
	dst = append(dst, `, "updated_at": `...)
	dst = appendDBTime(dst, t.UpdatedAt)
	dst = append(dst, `, "deleted_at": null, "deleted": false, "image_id": `...)
	dst = appendJSONString(dst, t.ImageID)
	dst = append(dst, `, "request_id": `...)
	dst = appendJSONString(dst, t.RequestID)
	dst = append(dst, `, "user_id": `...)
	dst = appendJSONString(dst, t.UserID)
	dst = append(dst, `, "input": `...)
	dst = appendRawOrNull(dst, t.Input)
	dst = append(dst, `, "result": `...)
	dst = appendRawOrNull(dst, t.Result)
	dst = append(dst, `, "message": `...)
	dst = appendJSONString(dst, t.Message)
	return append(dst, '}')
}
