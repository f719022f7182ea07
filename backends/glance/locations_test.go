package glance

import (
	"encoding/json"
	"errors"
	"reflect"
	"testing"

	"github.com/spyglass-gateway/spyglass/backends"
)

// TestDecodeLocations: Glance's locations as the record keeps them, and
// whether the document showed them at all (show_multiple_locations).
func TestDecodeLocations(t *testing.T) {
	const base = `"id": "i1", "status": "active", "visibility": "shared"`
	for _, tc := range []struct {
		name  string
		doc   string
		shown bool
		want  []backends.Location
	}{
		{name: "hidden", doc: `{` + base + `}`},
		{name: "none", doc: `{` + base + `, "locations": []}`, shown: true},
		{name: "file and http", shown: true,
			doc: `{` + base + `, "locations": [{"url": "file:///var/lib/glance/images/i1", "metadata": {"store": "local"}}, {"url": "http://x/a.img", "metadata": {}}]}`,
			want: []backends.Location{
				{URL: "file:///var/lib/glance/images/i1", Metadata: map[string]string{"store": "local"}, Status: "active"},
				{URL: "http://x/a.img", Status: "active"},
			}},
		{name: "metadata that is not a string kept as JSON", shown: true,
			doc:  `{` + base + `, "locations": [{"url": "http://x/a.img", "metadata": {"n": 1, "o": {"k": "v"}, "s": "v"}}]}`,
			want: []backends.Location{{URL: "http://x/a.img", Metadata: map[string]string{"n": "1", "o": `{"k": "v"}`, "s": "v"}, Status: "active"}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			img, _, shown, err := decodeImage(json.RawMessage(tc.doc))
			if err != nil {
				t.Fatal(err)
			}
			if shown != tc.shown {
				t.Errorf("shown %v, want %v", shown, tc.shown)
			}
			if !reflect.DeepEqual(img.Locations, tc.want) {
				t.Errorf("locations %#v, want %#v", img.Locations, tc.want)
			}
			if _, ok := img.Properties["locations"]; ok {
				t.Error("locations taken for a property")
			}
		})
	}
}

// TestHiddenLocations: a change of /locations the gateway does not show
// never reaches the region.
func TestHiddenLocations(t *testing.T) {
	for _, tc := range []struct {
		op      backends.PatchOp
		visible bool
		want    string
	}{
		{backends.PatchAdd, false, "It's not allowed to add locations if locations are invisible."},
		{backends.PatchReplace, false, "It's not allowed to update locations if locations are invisible."},
		{backends.PatchRemove, false, "It's not allowed to remove locations if locations are invisible."},
		{backends.PatchAdd, true, ""},
	} {
		err := hiddenLocations([]backends.Change{{Op: backends.PatchReplace, Path: []string{"name"}}, {Op: tc.op, Path: []string{"locations", "-"}, LocationsVisible: tc.visible}})
		got := ""
		if err != nil {
			var be *backends.Error
			if !errors.As(err, &be) || be.Kind != backends.ErrForbidden {
				t.Fatalf("%v: %v, want a 403", tc.op, err)
			}
			got = be.Explanation
		}
		if got != tc.want {
			t.Errorf("%v visible %v: %q, want %q", tc.op, tc.visible, got, tc.want)
		}
	}
}
