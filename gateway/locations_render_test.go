package gateway

import (
	"encoding/json"
	"reflect"
	"testing"

	"github.com/spyglass-gateway/spyglass/backends"
)

// TestLocationView: each option alone, as Glance's _format_image: with
// show_multiple_locations only active locations are listed (an empty
// list when there are none, or when the image is deactivated); with
// show_image_direct_url the first one is direct_url, absent when there
// is none.
func TestLocationView(t *testing.T) {
	two := []backends.Location{
		{URL: "http://h/gone", Status: "deleted"},
		{URL: "http://h/a", Metadata: map[string]string{"store": "edge", "b": "\"q\""}},
		{URL: "http://h/b", Status: "active"},
	}
	listed := []any{
		map[string]any{"url": "http://h/a", "metadata": map[string]any{"store": "edge", "b": "\"q\""}},
		map[string]any{"url": "http://h/b", "metadata": map[string]any{}},
	}
	for _, tc := range []struct {
		name      string
		view      locationView
		status    string
		locs      []backends.Location
		locations any // nil: absent
		direct    any // nil: absent
	}{
		{"neither", locationView{}, "active", two, nil, nil},
		{"multiple", locationView{multiple: true}, "active", two, listed, nil},
		{"direct", locationView{direct: true}, "active", two, nil, "http://h/a"},
		{"both", locationView{true, true}, "active", two, listed, "http://h/a"},
		{"none", locationView{true, true}, "queued", nil, []any{}, nil},
		{"deactivated", locationView{true, true}, "deactivated", two, []any{}, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			img := &backends.Image{ID: "id", Status: tc.status, Visibility: "shared", Locations: tc.locs}
			var body map[string]any
			if err := json.Unmarshal(appendImageView(nil, img, tc.view), &body); err != nil {
				t.Fatal(err)
			}
			if got := body["locations"]; !reflect.DeepEqual(got, tc.locations) {
				t.Errorf("locations %v, want %v", got, tc.locations)
			}
			if got := body["direct_url"]; got != tc.direct {
				t.Errorf("direct_url %v, want %v", got, tc.direct)
			}
		})
	}
}
