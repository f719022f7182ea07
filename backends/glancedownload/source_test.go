package glancedownload

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/spyglass-gateway/spyglass/backends"
)

const imageID = "36d4b546-64a2-4bb9-bdd0-ba676aa48f2c"

func TestParseRecord(t *testing.T) {
	for _, tc := range []struct {
		name, doc string
		want      *Image
		err       string
	}{
		{"copies the default prefixes only",
			`{"status":"active","disk_format":"raw","container_format":"bare","size":3,"hw_cpu_cores":"5","trait:X":"required",
			  "os_distro":"rhel","os_type":"linux","os_secure_boot":"required","speed":"88mph","os_glance_importing_to_stores":"",
			  "os_hidden":false,"os_hash_algo":"sha512","name":"n","hw_bad":7}`,
			&Image{DiskFormat: "raw", ContainerFormat: "bare", Size: 3, Properties: map[string]string{
				"hw_cpu_cores": "5", "trait:X": "required", "os_distro": "rhel", "os_type": "linux", "os_secure_boot": "required"}}, ""},
		{"queued", `{"status":"queued","disk_format":"raw","container_format":"bare","size":null}`, nil,
			"Source image status should be active instead of queued"},
		{"no status", `{"disk_format":"raw"}`, nil, "Source image status should be active instead of None"},
		{"no size", `{"status":"active","disk_format":"raw","container_format":"bare"}`, nil,
			"Size attribute of remote image " + imageID + " could not be determined."},
		{"fractional size", `{"status":"active","disk_format":"raw","container_format":"bare","size":1.5}`, nil, "could not be determined"},
		{"no formats", `{"status":"active","size":1}`, nil, "no disk_format or container_format"},
		{"not an object", `[]`, nil, "cannot unmarshal"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := parseRecord([]byte(tc.doc), imageID, DefaultProperties)
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("err %v, want %q", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got.DiskFormat != tc.want.DiskFormat || got.ContainerFormat != tc.want.ContainerFormat || got.Size != tc.want.Size || len(got.Properties) != len(tc.want.Properties) {
				t.Fatalf("%+v, want %+v", got, tc.want)
			}
			for k, v := range tc.want.Properties {
				if got.Properties[k] != v {
					t.Errorf("%s = %q, want %q", k, got.Properties[k], v)
				}
			}
		})
	}
}

// TestFetchAndOpen reads a record and data from a server that checks the
// token, follows a redirect on the same host with it and one to another
// host without it, and turns errors into Glance's messages.
func TestFetchAndOpen(t *testing.T) {
	other := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("X-Auth-Token") != "" {
			t.Error("the token went on to another host")
		}
		io.WriteString(w, "abc")
	}))
	defer other.Close()
	glance := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("X-Auth-Token") != "tok" {
			http.Error(w, "no token", 401)
			return
		}
		switch r.URL.Path {
		case "/v2/images/" + imageID:
			http.Redirect(w, r, "/record", http.StatusFound)
		case "/record":
			io.WriteString(w, `{"status":"active","disk_format":"qcow2","container_format":"bare","size":3,"hw_x":"1"}`)
		case "/v2/images/" + imageID + "/file":
			http.Redirect(w, r, other.URL+"/data", http.StatusFound)
		default:
			http.NotFound(w, r)
		}
	}))
	defer glance.Close()
	ctx := context.Background()
	src := backends.GlanceSource{ImageID: imageID, Region: "two", Interface: "public", Endpoint: glance.URL}
	img, err := Fetch(ctx, Client(), src, "tok", DefaultProperties)
	if err != nil {
		t.Fatal(err)
	}
	if img.DiskFormat != "qcow2" || img.Size != 3 || img.Properties["hw_x"] != "1" {
		t.Fatalf("%+v", img)
	}
	body, err := Open(ctx, Client(), src, "tok")
	if err != nil {
		t.Fatal(err)
	}
	data, _ := io.ReadAll(body)
	body.Close()
	if string(data) != "abc" {
		t.Fatalf("data %q", data)
	}

	for _, tc := range []struct {
		name  string
		src   backends.GlanceSource
		token string
		err   string
	}{
		{"no endpoint", backends.GlanceSource{ImageID: imageID, Region: "nowhere", Interface: "public"}, "tok", "public glance endpoint not found for region nowhere"},
		{"missing image", backends.GlanceSource{ImageID: "00000000-0000-0000-0000-000000000000", Endpoint: glance.URL}, "tok", "HTTP Error 404: Not Found"},
		{"refused token", src, "bad", "HTTP Error 401: Unauthorized"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Fetch(ctx, Client(), tc.src, tc.token, DefaultProperties)
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Fatalf("err %v, want %q", err, tc.err)
			}
			if tc.src.Endpoint == "" && !errors.Is(err, ErrNoEndpoint) {
				t.Fatalf("err %v is not ErrNoEndpoint", err)
			}
		})
	}
}
