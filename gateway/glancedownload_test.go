package gateway

import (
	"strings"
	"testing"

	"github.com/google/uuid"

	"github.com/spyglass-gateway/spyglass/backends"
)

// TestParseGlanceDownload: Glance's import_image checks of glance-download's
// parameters, with its messages.
func TestParseGlanceDownload(t *testing.T) {
	const id = "36d4b546-64a2-4bb9-bdd0-ba676aa48f2c"
	for _, tc := range []struct {
		name, body string
		want       backends.GlanceSource
		err        string
	}{
		{"all", `{"method":{"name":"glance-download","glance_image_id":"` + id + `","glance_region":"Two","glance_service_interface":"internal"}}`,
			backends.GlanceSource{ImageID: id, Region: "Two", Interface: "internal"}, ""},
		{"interface public by default", `{"method":{"name":"glance-download","glance_image_id":"` + id + `","glance_region":"two"}}`,
			backends.GlanceSource{ImageID: id, Region: "two", Interface: "public"}, ""},
		{"no region", `{"method":{"name":"glance-download","glance_image_id":"` + id + `"}}`, backends.GlanceSource{},
			"'glance_region' needs to be set for glance-download import method"},
		{"no id", `{"method":{"name":"glance-download","glance_region":"two"}}`, backends.GlanceSource{},
			"'glance_image_id' needs to be set for glance-download import method"},
		{"not a uuid", `{"method":{"name":"glance-download","glance_image_id":"foo","glance_region":"two"}}`, backends.GlanceSource{},
			"Remote image id does not look like a UUID: foo"},
		{"a path", `{"method":{"name":"glance-download","glance_image_id":"../../v3","glance_region":"two"}}`, backends.GlanceSource{},
			"Remote image id does not look like a UUID: ../../v3"},
		{"id not a string", `{"method":{"name":"glance-download","glance_image_id":5,"glance_region":"two"}}`, backends.GlanceSource{},
			"'glance_image_id' must be a string"},
		{"region not a string", `{"method":{"name":"glance-download","glance_image_id":"` + id + `","glance_region":null}}`, backends.GlanceSource{},
			"'glance_region' must be a string"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ParseGlanceDownload([]byte(tc.body))
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("err %v, want %q", err, tc.err)
				}
				if st, _ := statusOf(err); st != 400 {
					t.Fatalf("status %d, want 400", st)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got != tc.want {
				t.Fatalf("%+v, want %+v", got, tc.want)
			}
		})
	}
}

// FuzzParseGlanceDownload: any body gives a 4xx or a source whose image id
// is a UUID (so the URL built from it stays under /v2/images/) and whose
// interface is set.
func FuzzParseGlanceDownload(f *testing.F) {
	for _, s := range []string{
		`{"method":{"name":"glance-download","glance_image_id":"36d4b546-64a2-4bb9-bdd0-ba676aa48f2c","glance_region":"r"}}`,
		`{"method":{"glance_image_id":"{36d4b546-64a2-4bb9-bdd0-ba676aa48f2c}","glance_region":"","glance_service_interface":""}}`,
		`{"method":{"glance_image_id":"urn:uuid:36d4b546-64a2-4bb9-bdd0-ba676aa48f2c","glance_region":"r"}}`,
		`{"method":[]}`, `[]`, `{"method":{"glance_image_id":null}}`,
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, body string) {
		src, err := ParseGlanceDownload([]byte(body))
		if err != nil {
			if st, _ := statusOf(err); st < 400 || st >= 500 {
				t.Fatalf("status %d: %v", st, err)
			}
			return
		}
		if _, err := uuid.Parse(src.ImageID); err != nil {
			t.Fatalf("accepted image id %q", src.ImageID)
		}
		if strings.ContainsAny(src.ImageID, "/?#") {
			t.Fatalf("image id %q would leave the image's path", src.ImageID)
		}
		if src.Endpoint != "" {
			t.Fatal("the parser set an endpoint")
		}
	})
}
