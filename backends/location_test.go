package backends

import "testing"

func TestHTTPLocation(t *testing.T) {
	for _, tc := range []struct {
		name string
		locs []Location
		want string
	}{
		{"none", nil, ""},
		{"http", []Location{{URL: "http://h/x"}}, "http://h/x"},
		{"HTTPS upper case", []Location{{URL: "HTTPS://h/x", Status: "active"}}, "HTTPS://h/x"},
		{"deleted skipped", []Location{{URL: "http://h/old", Status: "deleted"}, {URL: "http://h/new"}}, "http://h/new"},
		{"not http", []Location{{URL: "file:///x"}, {URL: "swift://a/b"}, {URL: "http:/x"}}, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			im := &Image{Locations: tc.locs}
			if got := im.HTTPLocation(); got != tc.want {
				t.Errorf("HTTPLocation() = %q, want %q", got, tc.want)
			}
			c := im.Clone()
			if len(c.Locations) != len(tc.locs) || len(tc.locs) > 0 && &c.Locations[0] == &im.Locations[0] {
				t.Errorf("Clone shares or drops the locations")
			}
		})
	}
}
