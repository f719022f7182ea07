package backends

import (
	"encoding/json"
	"errors"
	"fmt"
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

// TestCheckChange is the one check of read-only, reserved and admin-only
// attributes, every operation against every kind of attribute, as Glance
// 25 answered each (PATCH as the owning tenant, then as an admin, on a
// queued and on an active image), except where it was weaker: a tenant's
// add of /owner, which Glance lets through when the image stays visible
// to it (a community image given away, any image disowned with null).
func TestCheckChange(t *testing.T) {
	type want struct {
		kind   error
		msg    string
		detail bool
	}
	ok := want{}
	readOnly := func(a string) want { return want{ErrForbidden, "Attribute '" + a + "' is read-only.", false} }
	reserved := func(a string) want { return want{ErrForbidden, "Attribute '" + a + "' is reserved.", false} }
	noRemove := func(a string) want { return want{ErrForbidden, "Property " + a + " may not be removed.", true} }
	notOwner := want{ErrForbidden, "Owner can't be updated by non admin.", true}
	queuedOnly := func(a string) want {
		return want{ErrForbidden, "Attribute " + a + " can be only replaced for a queued image.", false}
	}
	present := func(a string) want { return want{ErrConflict, "Property " + a + " already present.", true} }

	type tc struct {
		attr   string
		op     PatchOp
		legacy bool
		status string
		admin  bool
		want   want
	}
	var cases []tc
	ops := []PatchOp{PatchAdd, PatchReplace, PatchRemove}
	for _, status := range []string{StatusQueued, StatusImporting, StatusUploading, StatusSaving, StatusActive, StatusDeactivated} {
		for _, admin := range []bool{false, true} {
			for _, a := range []string{"created_at", "updated_at", "status", "checksum", "size", "virtual_size",
				"direct_url", "self", "file", "schema", "id", "os_hash_algo", "os_hash_value"} {
				for _, op := range ops {
					cases = append(cases, tc{a, op, false, status, admin, readOnly(a)})
				}
			}
			for _, a := range []string{"location", "deleted", "deleted_at", "os_glance_x", "os_glance_import_task"} {
				for _, op := range ops {
					cases = append(cases, tc{a, op, false, status, admin, reserved(a)})
				}
			}
			for _, a := range []string{"name", "visibility", "protected", "os_hidden", "min_ram", "min_disk", "tags"} {
				cases = append(cases,
					tc{a, PatchAdd, false, status, admin, ok}, tc{a, PatchReplace, false, status, admin, ok},
					tc{a, PatchRemove, false, status, admin, noRemove(a)}, tc{a, PatchAdd, true, status, admin, present(a)})
			}
			for _, a := range []string{"disk_format", "container_format"} {
				set := ok
				if status != StatusQueued && status != StatusImporting {
					set = queuedOnly(a)
				}
				cases = append(cases,
					tc{a, PatchAdd, false, status, admin, set}, tc{a, PatchReplace, false, status, admin, set},
					tc{a, PatchReplace, true, status, admin, set},
					tc{a, PatchRemove, false, status, admin, noRemove(a)}, tc{a, PatchAdd, true, status, admin, present(a)})
			}
			owner := notOwner
			if admin {
				owner = ok
			}
			cases = append(cases,
				tc{"owner", PatchAdd, false, status, admin, owner}, tc{"owner", PatchReplace, false, status, admin, owner},
				tc{"owner", PatchReplace, true, status, admin, owner},
				tc{"owner", PatchRemove, false, status, admin, noRemove("owner")}, tc{"owner", PatchAdd, true, status, admin, present("owner")})
			for _, op := range ops {
				cases = append(cases, tc{"foo", op, false, status, admin, ok}, tc{"stores", op, false, status, admin, ok})
			}
		}
	}
	for _, c := range cases {
		img := patchTestImage()
		img.Status = c.status
		ch := Change{Op: c.op, Path: []string{c.attr}, Legacy: c.legacy, Value: json.RawMessage(`"v"`)}
		err := CheckChange(img, &ch, c.admin)
		name := fmt.Sprintf("%s op %d legacy %v on %s admin %v", c.attr, c.op, c.legacy, c.status, c.admin)
		if c.want.kind == nil {
			if err != nil {
				t.Errorf("%s: %v, want nil", name, err)
			}
			continue
		}
		var e *Error
		if !errors.As(err, &e) || !errors.Is(err, c.want.kind) {
			t.Errorf("%s: %v, want %v", name, err, c.want.kind)
			continue
		}
		if e.Explanation != c.want.msg || e.Detail != c.want.detail {
			t.Errorf("%s: %q (detail %v), want %q (detail %v)", name, e.Explanation, e.Detail, c.want.msg, c.want.detail)
		}
	}
	if err := CheckAttribute("status"); !errors.Is(err, ErrForbidden) {
		t.Errorf("CheckAttribute(status) = %v", err)
	}
	if err := CheckAttribute("name"); err != nil {
		t.Errorf("CheckAttribute(name) = %v", err)
	}
}

// A store applies changes under its lock against the image as it is: the
// formats of an active image do not change, whoever asked (the owner rule
// is policy, decided by the gateway before the store is called).
func TestApplyChangesRefusesFormatsOfActiveImage(t *testing.T) {
	for _, status := range []string{StatusActive, StatusSaving, StatusDeactivated} {
		img := patchTestImage()
		img.Status = status
		raw := "raw"
		img.DiskFormat = &raw
		for _, attr := range []string{"disk_format", "container_format"} {
			for _, op := range []PatchOp{PatchAdd, PatchReplace} {
				got, err := ApplyChanges(img, []Change{{Op: op, Path: []string{attr}, Value: json.RawMessage(`"qcow2"`)}})
				if !errors.Is(err, ErrForbidden) || got != nil {
					t.Errorf("%s op %d on %s: %v, %v; want ErrForbidden", attr, op, status, got, err)
				}
			}
		}
		if *img.DiskFormat != "raw" {
			t.Fatalf("input changed")
		}
	}
	img := patchTestImage()
	got, err := ApplyChanges(img, []Change{{Op: PatchAdd, Path: []string{"owner"}, Value: json.RawMessage(`"p2"`)}})
	if err != nil || got.Owner == nil || *got.Owner != "p2" {
		t.Fatalf("admin's add of /owner through the store: %v, %+v", err, got)
	}
}
