package backends

import (
	"errors"
	"testing"
)

// TestApplyLocations: the cases of Glance's locations semantics the
// differential test (gateway's TestLocationsGlanceDifferential) cannot
// reach through a real Glance, and Spyglass's own refusals.
func TestApplyLocations(t *testing.T) {
	size := int64(10)
	stored := &Image{ID: "s", Status: StatusActive, Size: &size} // data in the store's own file
	queued := &Image{ID: "q", Status: StatusQueued}
	two := &Image{ID: "t", Status: StatusActive, Size: &size, Locations: []Location{{URL: "http://h/a"}, {URL: "http://h/b"}}}
	sizes := LocationSizes{"http://h/a": 10, "http://h/b": 10, "http://h/c": 10, "http://h/zero": 0}
	add := func(pos, url string) Change {
		return Change{Op: PatchAdd, Path: []string{"locations", pos}, Value: []byte(`{"url":"` + url + `","metadata":{}}`), LocationsVisible: true}
	}
	remove := func(pos string) Change {
		return Change{Op: PatchRemove, Path: []string{"locations", pos}, LocationsVisible: true}
	}
	for _, tc := range []struct {
		name    string
		img     *Image
		change  Change
		kind    error  // nil: applied
		message string // the explanation of the refusal
		urls    []string
	}{
		{"invisible", queued, Change{Op: PatchAdd, Path: []string{"locations", "-"}, Value: []byte(`{"url":"http://h/a","metadata":{}}`)}, ErrForbidden, "It's not allowed to add locations if locations are invisible.", nil},
		{"store's own data", stored, add("-", "http://h/a"), ErrConflict, "The image's data is held by this store: its locations cannot be changed.", nil},
		{"size zero", queued, add("-", "http://h/zero"), ErrBadRequest, "Invalid location", nil},
		{"unsized", queued, add("-", "http://h/unknown"), ErrBadRequest, "Invalid location", nil},
		{"negative position", queued, add("-1", "http://h/a"), ErrBadRequest, "Invalid position for adding a location.", nil},
		{"huge position", two, add("99999999999999999999", "http://h/c"), nil, "", []string{"http://h/a", "http://h/b", "http://h/c"}},
		{"remove huge position", two, remove("99999999999999999999"), ErrBadRequest, "Invalid position for removing a location.", nil},
		{"insert in the middle", two, add("1", "http://h/c"), nil, "", []string{"http://h/a", "http://h/c", "http://h/b"}},
		{"remove dash", two, remove("-"), nil, "", []string{"http://h/a"}},
		{"remove 0", two, remove("0"), nil, "", []string{"http://h/b"}},
		{"remove past the end", two, remove("2"), ErrBadRequest, "Invalid position for removing a location.", nil},
		{"remove from store's own data", stored, remove("0"), ErrBadRequest, "Invalid position for removing a location.", nil},
		{"queued activated", queued, add("-", "http://h/a"), nil, "", []string{"http://h/a"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ApplyChangesWith(tc.img, []Change{tc.change}, sizes, "edge")
			if tc.kind != nil {
				var e *Error
				if !errors.Is(err, tc.kind) || !errors.As(err, &e) || e.Explanation != tc.message {
					t.Fatalf("err %v, want %v %q", err, tc.kind, tc.message)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got, want := len(got.Locations), len(tc.urls); got != want {
				t.Fatalf("%d locations, want %d", got, want)
			}
			for i, u := range tc.urls {
				if got.Locations[i].URL != u {
					t.Errorf("location %d: %s, want %s", i, got.Locations[i].URL, u)
				}
			}
			if got.Status != StatusActive || got.Size == nil || *got.Size != 10 {
				t.Errorf("status %s size %v, want active 10", got.Status, got.Size)
			}
		})
	}
}
