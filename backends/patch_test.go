package backends

import (
	"encoding/json"
	"errors"
	"reflect"
	"testing"
)

func patchTestImage() *Image {
	name := "pt"
	return &Image{
		ID: "aa964268-e0a7-4e66-9c66-0f2ebbeee04b", Name: &name, Status: StatusQueued,
		Visibility: VisibilityShared, Tags: []string{"x"},
		Properties: map[string]string{"foo": "bar"},
	}
}

// The expectations were recorded from Glance 25 (PATCH /v2/images/{id} with
// application/openstack-images-v2.1-json-patch, or v2.0 for Legacy).
func TestApplyChanges(t *testing.T) {
	ch := func(op PatchOp, value string, path ...string) Change {
		c := Change{Op: op, Path: path}
		if value != "" {
			c.Value = json.RawMessage(value)
		}
		return c
	}
	legacy := func(c Change) Change { c.Legacy = true; return c }
	tests := []struct {
		name    string
		changes []Change
		check   func(t *testing.T, img *Image)
		kind    error
		msg     string
		detail  bool
	}{
		{name: "replace name", changes: []Change{ch(PatchReplace, `"n2"`, "name")},
			check: func(t *testing.T, img *Image) {
				if got, want := *img.Name, "n2"; got != want {
					t.Errorf("name = %q, want %q", got, want)
				}
			}},
		{name: "name to null", changes: []Change{ch(PatchReplace, `null`, "name")},
			check: func(t *testing.T, img *Image) {
				if img.Name != nil {
					t.Errorf("name = %q, want nil", *img.Name)
				}
			}},
		{name: "add existing property replaces", changes: []Change{ch(PatchAdd, `"x"`, "foo"), ch(PatchAdd, `"y"`, "foo")},
			check: func(t *testing.T, img *Image) {
				if got, want := img.Properties["foo"], "y"; got != want {
					t.Errorf("foo = %q, want %q", got, want)
				}
			}},
		{name: "add new property", changes: []Change{ch(PatchAdd, `"1"`, "new")},
			check: func(t *testing.T, img *Image) {
				if got, want := img.Properties["new"], "1"; got != want {
					t.Errorf("new = %q, want %q", got, want)
				}
			}},
		{name: "remove property", changes: []Change{ch(PatchRemove, "", "foo")},
			check: func(t *testing.T, img *Image) {
				if img.Properties != nil {
					t.Errorf("properties = %v, want nil", img.Properties)
				}
			}},
		{name: "tags deduplicated in order", changes: []Change{ch(PatchAdd, `["a","b","a"]`, "tags")},
			check: func(t *testing.T, img *Image) {
				if got, want := img.Tags, []string{"a", "b"}; !reflect.DeepEqual(got, want) {
					t.Errorf("tags = %v, want %v", got, want)
				}
			}},
		{name: "numbers and booleans", changes: []Change{ch(PatchReplace, `512`, "min_ram"), ch(PatchReplace, `true`, "protected"), ch(PatchReplace, `true`, "os_hidden")},
			check: func(t *testing.T, img *Image) {
				if img.MinRAM != 512 || !img.Protected || !img.OSHidden {
					t.Errorf("got min_ram=%d protected=%v os_hidden=%v", img.MinRAM, img.Protected, img.OSHidden)
				}
			}},
		{name: "replace missing property", changes: []Change{ch(PatchReplace, `"x"`, "nope")},
			kind: ErrConflict, msg: "Property nope does not exist.", detail: true},
		{name: "remove missing property", changes: []Change{ch(PatchRemove, "", "nope")},
			kind: ErrConflict, msg: "Property nope does not exist.", detail: true},
		{name: "remove attribute", changes: []Change{ch(PatchRemove, "", "name")},
			kind: ErrForbidden, msg: "Property name may not be removed.", detail: true},
		{name: "legacy add present attribute", changes: []Change{legacy(ch(PatchAdd, `"z"`, "name"))},
			kind: ErrConflict, msg: "Property name already present.", detail: true},
		{name: "legacy add present property", changes: []Change{legacy(ch(PatchAdd, `"z"`, "foo"))},
			kind: ErrConflict, msg: "Property foo already present.", detail: true},
		{name: "locations emptied", changes: []Change{ch(PatchReplace, `[]`, "locations")},
			kind: ErrForbidden, msg: "Cannot set locations to empty list.", detail: true},
		{name: "locations replaced", changes: []Change{ch(PatchReplace, `[{"url":"http://x","metadata":{}}]`, "locations")},
			kind: ErrForbidden, msg: "It's not allowed to update locations if locations are invisible."},
		{name: "locations added", changes: []Change{ch(PatchAdd, `{"url":"http://x","metadata":{}}`, "locations", "-")},
			kind: ErrForbidden, msg: "It's not allowed to add locations if locations are invisible."},
		{name: "locations removed", changes: []Change{ch(PatchRemove, "", "locations", "0")},
			kind: ErrForbidden, msg: "It's not allowed to remove locations if locations are invisible."},
		{name: "non-string property value refused", changes: []Change{ch(PatchAdd, `1`, "foo")},
			kind: ErrBadRequest},
		{name: "wrong type for attribute refused", changes: []Change{ch(PatchReplace, `"x"`, "min_ram")},
			kind: ErrBadRequest},
		{name: "empty path", changes: []Change{{Op: PatchAdd, Value: json.RawMessage(`"x"`)}},
			kind: ErrBadRequest},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			orig := patchTestImage()
			img, err := ApplyChanges(orig, tt.changes)
			if !reflect.DeepEqual(orig, patchTestImage()) {
				t.Errorf("ApplyChanges modified its input: %+v", orig)
			}
			if tt.kind == nil {
				if err != nil {
					t.Fatalf("ApplyChanges: %v", err)
				}
				tt.check(t, img)
				return
			}
			if !errors.Is(err, tt.kind) {
				t.Fatalf("err = %v, want %v", err, tt.kind)
			}
			var e *Error
			if !errors.As(err, &e) {
				t.Fatalf("err %T is not *Error", err)
			}
			if tt.msg != "" {
				if got, want := e.Explanation, tt.msg; got != want {
					t.Errorf("explanation = %q, want %q", got, want)
				}
				if got, want := e.Detail, tt.detail; got != want {
					t.Errorf("detail = %v, want %v", got, want)
				}
			}
		})
	}
}
