package gateway

import (
	"strings"
	"testing"

	"github.com/spyglass-gateway/spyglass/backends"
)

// FuzzLocationPatch: a patch of /locations (locations shown), parsed and
// applied to a queued image and to an active one with two locations,
// never answers a 5xx, never changes the snapshot it started from, and
// leaves no image active without a location, no location twice, and no
// activated image without a size.
func FuzzLocationPatch(f *testing.F) {
	f.Add(`[{"op":"add","path":"/locations/-","value":{"url":"http://h/a","metadata":{}}}]`)
	f.Add(`[{"op":"add","path":"/locations/0","value":{"url":"http://h/b","metadata":{"k":"v"},"validation_data":{"os_hash_algo":"sha512","os_hash_value":"00"}}}]`)
	f.Add(`[{"op":"replace","path":"/locations","value":[{"url":"http://h/a","metadata":{}},{"url":"http://h/c","metadata":{}}]}]`)
	f.Add(`[{"op":"remove","path":"/locations/1"},{"op":"remove","path":"/locations/-"}]`)
	f.Add(`[{"op":"add","path":"/locations/99","value":{"url":"http://h/z","metadata":{"a":1}}}]`)
	f.Add(`[{"op":"replace","path":"/locations","value":[{"url":"http://h/a","metadata":{},"validation_data":{"checksum":"0123456789abcdef0123456789abcdef","os_hash_algo":"sha512","os_hash_value":"x"}}]}]`)
	owner := "p1"
	queued := &backends.Image{ID: "q", Owner: &owner, Status: backends.StatusQueued, Visibility: "shared"}
	size := int64(7)
	active := &backends.Image{ID: "a", Owner: &owner, Status: backends.StatusActive, Visibility: "shared", Size: &size,
		Locations: []backends.Location{{URL: "http://h/a", Status: "active"}, {URL: "http://h/b", Metadata: map[string]string{"k": "v"}, Status: "active"}}}
	f.Fuzz(func(t *testing.T, body string) {
		changes, err := ParsePatch("application/openstack-images-v2.1-json-patch", []byte(body))
		if err != nil {
			if st, _ := statusOf(err); st >= 500 {
				t.Fatalf("parse: status %d: %v", st, err)
			}
			return
		}
		sizes := backends.LocationSizes{}
		for i := range changes {
			changes[i].LocationsVisible = true
		}
		for _, u := range backends.LocationURLs(changes) {
			if !strings.Contains(u, "missing") {
				sizes[u] = int64(len(u))
			}
		}
		for _, img := range []*backends.Image{queued, active} {
			before := len(img.Locations)
			got, err := backends.ApplyChangesWith(img, changes, sizes, "web")
			if len(img.Locations) != before || (img == active && (img.Locations[1].Metadata["k"] != "v" || len(img.Locations[0].Metadata) != 0)) {
				t.Fatalf("ApplyChangesWith modified its input: %+v", img.Locations)
			}
			if err != nil {
				if st, _ := statusOf(err); st >= 500 {
					t.Fatalf("apply: status %d: %v", st, err)
				}
				continue
			}
			if got.Status == backends.StatusActive && len(got.Locations) == 0 {
				t.Fatalf("active with no location: %+v", got)
			}
			if got.Status == backends.StatusActive && (got.Size == nil || *got.Size <= 0) {
				t.Fatalf("active with no size: %+v", got)
			}
			for i := range got.Locations {
				for j := i + 1; j < len(got.Locations); j++ {
					a, b := got.Locations[i], got.Locations[j]
					if a.URL == b.URL && len(a.Metadata) == len(b.Metadata) && a.Metadata["store"] == b.Metadata["store"] && a.Metadata["k"] == b.Metadata["k"] && len(a.Metadata) <= 2 {
						t.Fatalf("location twice: %+v", got.Locations)
					}
				}
			}
		}
	})
}
