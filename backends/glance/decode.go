package glance

import (
	"encoding/json"
	"fmt"
	"time"

	"github.com/spyglass-gateway/spyglass/backends"
)

// imageFields are the attributes Glance renders on every image; everything
// else in an image document is a custom property.
var imageFields = map[string]bool{
	"id": true, "name": true, "status": true, "visibility": true, "protected": true,
	"os_hidden": true, "owner": true, "checksum": true, "os_hash_algo": true,
	"os_hash_value": true, "size": true, "virtual_size": true, "min_disk": true,
	"min_ram": true, "container_format": true, "disk_format": true,
	"created_at": true, "updated_at": true, "tags": true, "self": true,
	"file": true, "schema": true, "locations": true, "direct_url": true, "stores": true,
}

// decodeImage turns one of Glance's image documents into a record; stores
// reports whether Glance said the data lives in some store, shown whether
// the document carries locations at all (Glance's show_multiple_locations:
// it renders the key on every image, even as [], or on none). Custom
// properties are strings in Glance's database; a non-string value is an
// answer Spyglass cannot represent and is refused rather than mangled.
func decodeImage(raw json.RawMessage) (img *backends.Image, stores, shown bool, err error) {
	img, err = decodeImageDoc(raw, &stores, &shown)
	return img, stores, shown, err
}

func decodeImageDoc(raw json.RawMessage, stores, shown *bool) (*backends.Image, error) {
	var doc map[string]json.RawMessage
	if err := json.Unmarshal(raw, &doc); err != nil {
		return nil, fmt.Errorf("image document: %w", err)
	}
	if v, ok := doc["stores"]; ok {
		var s string
		*stores = json.Unmarshal(v, &s) == nil && s != ""
	}
	img := &backends.Image{}
	var err error
	str := func(k string) string {
		var s string
		if v, ok := doc[k]; ok && err == nil {
			if e := json.Unmarshal(v, &s); e != nil {
				err = fmt.Errorf("image %s: %w", k, e)
			}
		}
		return s
	}
	strp := func(k string) *string {
		var s *string
		if v, ok := doc[k]; ok && err == nil {
			if e := json.Unmarshal(v, &s); e != nil {
				err = fmt.Errorf("image %s: %w", k, e)
			}
		}
		return s
	}
	intp := func(k string) *int64 {
		var n *int64
		if v, ok := doc[k]; ok && err == nil {
			if e := json.Unmarshal(v, &n); e != nil {
				err = fmt.Errorf("image %s: %w", k, e)
			}
		}
		return n
	}
	boolean := func(k string) bool {
		var b bool
		if v, ok := doc[k]; ok && err == nil {
			if e := json.Unmarshal(v, &b); e != nil {
				err = fmt.Errorf("image %s: %w", k, e)
			}
		}
		return b
	}
	stamp := func(k string) time.Time {
		s := str(k)
		if s == "" || err != nil {
			return time.Time{}
		}
		t, e := time.Parse(time.RFC3339, s)
		if e != nil {
			err = fmt.Errorf("image %s: %w", k, e)
		}
		return t.UTC()
	}
	img.ID = str("id")
	img.Name = strp("name")
	img.Status = str("status")
	img.Visibility = str("visibility")
	img.Protected = boolean("protected")
	img.OSHidden = boolean("os_hidden")
	img.Owner = strp("owner")
	img.Checksum = strp("checksum")
	img.OSHashAlgo = strp("os_hash_algo")
	img.OSHashValue = strp("os_hash_value")
	img.Size = intp("size")
	img.VirtualSize = intp("virtual_size")
	if p := intp("min_disk"); p != nil {
		img.MinDisk = *p
	}
	if p := intp("min_ram"); p != nil {
		img.MinRAM = *p
	}
	img.ContainerFormat = strp("container_format")
	img.DiskFormat = strp("disk_format")
	img.CreatedAt = stamp("created_at")
	img.UpdatedAt = stamp("updated_at")
	if v, ok := doc["tags"]; ok && err == nil {
		if e := json.Unmarshal(v, &img.Tags); e != nil {
			err = fmt.Errorf("image tags: %w", e)
		}
	}
	if v, ok := doc["locations"]; ok && err == nil {
		*shown = true
		img.Locations, err = decodeLocations(v)
	}
	if err != nil {
		return nil, err
	}
	if img.ID == "" {
		return nil, fmt.Errorf("image document without an id")
	}
	for k, v := range doc {
		if imageFields[k] {
			continue
		}
		var s string
		if e := json.Unmarshal(v, &s); e != nil {
			return nil, fmt.Errorf("image %s: property %q is not a string", img.ID, k)
		}
		if img.Properties == nil {
			img.Properties = map[string]string{}
		}
		img.Properties[k] = s
	}
	return img, nil
}

// decodeLocations reads an image's locations (url, metadata). Glance's
// location metadata is any JSON object; the record keeps strings, so
// another value is kept as its JSON text rather than dropped. Glance shows
// no location status: every location it lists is active.
func decodeLocations(raw json.RawMessage) ([]backends.Location, error) {
	var docs []struct {
		URL      string                     `json:"url"`
		Metadata map[string]json.RawMessage `json:"metadata"`
	}
	if err := json.Unmarshal(raw, &docs); err != nil {
		return nil, fmt.Errorf("image locations: %w", err)
	}
	if len(docs) == 0 {
		return nil, nil
	}
	locs := make([]backends.Location, len(docs))
	for i, d := range docs {
		locs[i] = backends.Location{URL: d.URL, Status: "active"}
		if len(d.Metadata) == 0 {
			continue
		}
		locs[i].Metadata = make(map[string]string, len(d.Metadata))
		for k, v := range d.Metadata {
			var s string
			if json.Unmarshal(v, &s) != nil {
				s = string(v)
			}
			locs[i].Metadata[k] = s
		}
	}
	return locs, nil
}

type memberDoc struct {
	ImageID   string `json:"image_id"`
	MemberID  string `json:"member_id"`
	Status    string `json:"status"`
	CreatedAt string `json:"created_at"`
	UpdatedAt string `json:"updated_at"`
}

func (d *memberDoc) member() (*backends.Member, error) {
	m := &backends.Member{ImageID: d.ImageID, MemberID: d.MemberID, Status: d.Status}
	var err error
	if m.CreatedAt, err = parseStamp(d.CreatedAt); err != nil {
		return nil, fmt.Errorf("member created_at: %w", err)
	}
	if m.UpdatedAt, err = parseStamp(d.UpdatedAt); err != nil {
		return nil, fmt.Errorf("member updated_at: %w", err)
	}
	return m, nil
}

func parseStamp(s string) (time.Time, error) {
	if s == "" {
		return time.Time{}, nil
	}
	t, err := time.Parse(time.RFC3339, s)
	return t.UTC(), err
}

// taskDoc is a task as GET /v2/tasks/{id} renders it; GET
// /v2/images/{id}/tasks renders the raw database records instead.
type taskDoc struct {
	ID        string          `json:"id"`
	Type      string          `json:"type"`
	Status    string          `json:"status"`
	Owner     string          `json:"owner"`
	UserID    string          `json:"user_id"`
	RequestID string          `json:"request_id"`
	ImageID   string          `json:"image_id"`
	Input     json.RawMessage `json:"input"`
	Result    json.RawMessage `json:"result"`
	Message   string          `json:"message"`
	ExpiresAt *string         `json:"expires_at"`
	CreatedAt string          `json:"created_at"`
	UpdatedAt string          `json:"updated_at"`
}

func (d *taskDoc) task() (*backends.Task, error) {
	t := &backends.Task{ID: d.ID, Type: d.Type, Status: d.Status, Owner: d.Owner, UserID: d.UserID,
		RequestID: d.RequestID, ImageID: d.ImageID, Input: d.Input, Message: d.Message}
	if len(d.Result) > 0 && string(d.Result) != "null" {
		t.Result = d.Result
	}
	var err error
	if t.CreatedAt, err = parseTaskStamp(d.CreatedAt); err != nil {
		return nil, err
	}
	if t.UpdatedAt, err = parseTaskStamp(d.UpdatedAt); err != nil {
		return nil, err
	}
	if d.ExpiresAt != nil {
		e, err := parseTaskStamp(*d.ExpiresAt)
		if err != nil {
			return nil, err
		}
		t.ExpiresAt = &e
	}
	return t, nil
}

// parseTaskStamp reads both of Glance's task time renderings: ISO 8601
// with a zone (the Tasks API) and the database's naive
// "2006-01-02T15:04:05.000000" (the image tasks list).
func parseTaskStamp(s string) (time.Time, error) {
	for _, l := range []string{time.RFC3339Nano, "2006-01-02T15:04:05.999999", "2006-01-02 15:04:05.999999"} {
		if t, err := time.Parse(l, s); err == nil {
			return t.UTC(), nil
		}
	}
	if s == "" {
		return time.Time{}, nil
	}
	return time.Time{}, fmt.Errorf("task time %q", s)
}
