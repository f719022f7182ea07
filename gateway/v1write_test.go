package gateway_test

import (
	"bytes"
	"crypto/md5"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/valyala/fasthttp"

	"github.com/spyglass-gateway/spyglass/backends/glance/glancetest"
	"github.com/spyglass-gateway/spyglass/gateway"
	"github.com/spyglass-gateway/spyglass/policy"
)

// The v1 writes. Line numbers are of Queens' glance/api/v1/images.py
// (images.py), upload_utils.py and glance/registry/api/v1/images.py
// (registry) at queens-eol.

func md5hex(b []byte) string {
	s := md5.Sum(b)
	return hex.EncodeToString(s[:])
}

func mustJSON(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}

// v1Body decodes a {"image": {...}} answer.
func v1Body(t *testing.T, b []byte) map[string]any {
	t.Helper()
	var v struct {
		Image map[string]any `json:"image"`
	}
	if err := json.Unmarshal(b, &v); err != nil || v.Image == nil {
		t.Fatalf("not a v1 image body: %q (%v)", b, err)
	}
	return v.Image
}

// imageCount is how many images an admin sees through v2.
func imageCount(t *testing.T, ts *testServer) int {
	t.Helper()
	l := ts.json(t, admin, "GET", "/v2/images?limit=1000", nil, 200)
	return len(l["images"].([]any))
}

// TestV1WriteRoundTrip: an image made through v1 is the same image
// through v2: create (v1, data in the same call) → show (v2) → update
// (v1) → HEAD (v1) → delete (v1) → 404 (v2).
func TestV1WriteRoundTrip(t *testing.T) {
	v1RoundTrip(t, startServerWith(t, "trusted", gateway.Config{EnableV1: true}))
}

// TestV1WriteGlanceRegion: the same through a real Glance region (Glance
// 25, which serves no v1 itself): the v1 front end writes through the v2
// catalog contracts whatever the region.
func TestV1WriteGlanceRegion(t *testing.T) {
	g := glancetest.StartT(t)
	ts := startGlanceRegion(g.URL, filepath.Join(g.Dir, "api.log"), true, 0)(t, gateway.Config{EnableV1: true})
	t.Run("round trip", func(t *testing.T) { v1RoundTrip(t, ts.testServer) })
	t.Run("checksum mismatch keeps nothing", func(t *testing.T) {
		before := imageCount(t, ts.testServer)
		resp, body := ts.do(t, p1, "POST", "/v1/images", strings.NewReader("data"), "Content-Type", "application/octet-stream",
			"x-image-meta-disk_format", "raw", "x-image-meta-container_format", "bare", "x-image-meta-checksum", strings.Repeat("0", 32))
		if resp.StatusCode != 400 || !strings.Contains(string(body), "Supplied checksum") {
			t.Fatalf("POST: %d %s", resp.StatusCode, body)
		}
		if got := imageCount(t, ts.testServer); got != before {
			t.Errorf("%d images after, %d before", got, before)
		}
	})
	t.Run("reserve, then upload", func(t *testing.T) {
		resp, body := ts.do(t, p1, "POST", "/v1/images", nil, "x-image-meta-name", "later", "x-image-meta-disk_format", "raw", "x-image-meta-container_format", "bare")
		if resp.StatusCode != 201 {
			t.Fatalf("POST: %d %s", resp.StatusCode, body)
		}
		id := v1Body(t, body)["id"].(string)
		// images.py:612-619 through the region.
		resp, body = ts.do(t, p1, "POST", "/v1/images", nil, "x-image-meta-id", id)
		if resp.StatusCode != 409 {
			t.Errorf("POST a taken id: %d %s", resp.StatusCode, body)
		}
		resp, body = ts.do(t, p1, "PUT", "/v1/images/"+id, strings.NewReader("later data"), "Content-Type", "application/octet-stream")
		if resp.StatusCode != 200 || v1Body(t, body)["status"] != "active" {
			t.Fatalf("PUT data: %d %s", resp.StatusCode, body)
		}
		resp, body = ts.do(t, p1, "PUT", "/v1/images/"+id, strings.NewReader("again"), "Content-Type", "application/octet-stream")
		if resp.StatusCode != 409 {
			t.Errorf("PUT data again: %d %s", resp.StatusCode, body)
		}
		if resp, got := ts.do(t, p1, "GET", "/v1/images/"+id, nil); resp.StatusCode != 200 || string(got) != "later data" {
			t.Errorf("GET v1 data: %d %q", resp.StatusCode, got)
		}
		resp, body = ts.do(t, p1, "PUT", "/v1/images/"+id, nil, "x-image-meta-protected", "true")
		if resp.StatusCode != 200 {
			t.Fatalf("PUT protected: %d %s", resp.StatusCode, body)
		}
		resp, body = ts.do(t, p1, "DELETE", "/v1/images/"+id, nil)
		if resp.StatusCode != 403 || !strings.Contains(string(body), "Image is protected") {
			t.Errorf("DELETE protected: %d %s", resp.StatusCode, body)
		}
	})
}

func v1RoundTrip(t *testing.T, ts *testServer) {
	data := bytes.Repeat([]byte("abc"), 3000)
	sum := md5hex(data)

	// images.py:870-940 (create); ImageSerializer.create,
	// images.py:1337-1345: 201, {"image": ...}, Location, ETag.
	resp, body := ts.do(t, p1, "POST", "/v1/images", bytes.NewReader(data),
		"Content-Type", "application/octet-stream",
		"x-image-meta-name", "round", "x-image-meta-disk_format", "raw", "x-image-meta-container_format", "bare",
		"x-image-meta-property-distro", "Ubuntu", "x-image-meta-property-Arch", "x86",
		"x-image-meta-size", "9000", "x-image-meta-checksum", sum, "x-image-meta-min_ram", "64")
	if resp.StatusCode != 201 {
		t.Fatalf("POST /v1/images: %d %s", resp.StatusCode, body)
	}
	img := v1Body(t, body)
	id := img["id"].(string)
	if got, want := resp.Header.Get("Location"), ts.url+"/v1/images/"+id; got != want {
		t.Errorf("Location %q, want %q", got, want)
	}
	if got, want := resp.Header.Get("ETag"), sum; got != want {
		t.Errorf("ETag %q, want %q", got, want)
	}
	for k, want := range map[string]any{"status": "active", "size": 9000.0, "checksum": sum, "is_public": false, "owner": "p1",
		"name": "round", "min_ram": 64.0, "deleted": false} {
		if got := img[k]; got != want {
			t.Errorf("v1 body %s = %v, want %v", k, got, want)
		}
	}
	// utils.py:338-340: property names lower-cased by their header.
	if got := img["properties"].(map[string]any); got["distro"] != "Ubuntu" || got["arch"] != "x86" || len(got) != 2 {
		t.Errorf("v1 properties %v", got)
	}

	// The same image through v2: is_public false is visibility shared
	// (db/utils.py:28-41).
	v2 := ts.json(t, p1, "GET", "/v2/images/"+id, nil, 200)
	for k, want := range map[string]any{"status": "active", "size": 9000.0, "checksum": sum, "visibility": "shared", "owner": "p1",
		"name": "round", "min_ram": 64.0, "distro": "Ubuntu", "arch": "x86"} {
		if got := v2[k]; got != want {
			t.Errorf("v2 %s = %v, want %v", k, got, want)
		}
	}
	if resp, got := ts.do(t, p1, "GET", "/v2/images/"+id+"/file", nil); resp.StatusCode != 200 || !bytes.Equal(got, data) {
		t.Errorf("v2 data: %d, %d bytes", resp.StatusCode, len(got))
	}

	// images.py:942-1105 (update), purge_props by default
	// (images.py:1000-1002): distro is kept because it is sent, arch goes.
	// The seed doc says a PUT "will return the image metadata encoded as
	// HTTP headers"; Queens' ImageSerializer.update (images.py:1330-1335)
	// answers {"image": ...} in JSON with the ETag alone, and Queens wins.
	resp, body = ts.do(t, p1, "PUT", "/v1/images/"+id, nil,
		"x-image-meta-name", "renamed", "x-image-meta-property-distro", "Debian", "x-image-meta-min_disk", "2")
	if resp.StatusCode != 200 {
		t.Fatalf("PUT /v1/images/{id}: %d %s", resp.StatusCode, body)
	}
	if got := v1Body(t, body); got["name"] != "renamed" || got["min_disk"] != 2.0 {
		t.Errorf("PUT body %v", got)
	}
	if got, want := resp.Header.Get("ETag"), sum; got != want {
		t.Errorf("PUT ETag %q, want %q", got, want)
	}
	if got := resp.Header.Get("X-Image-Meta-Name"); got != "" || resp.Header.Get("Content-Type") != "application/json" {
		t.Errorf("PUT answered x-image-meta-name %q, Content-Type %q: want JSON only", got, resp.Header.Get("Content-Type"))
	}

	resp, body = ts.do(t, p1, "HEAD", "/v1/images/"+id, nil)
	if resp.StatusCode != 200 {
		t.Fatalf("HEAD: %d %s", resp.StatusCode, body)
	}
	for k, want := range map[string]string{"X-Image-Meta-Name": "renamed", "X-Image-Meta-Property-Distro": "Debian",
		"X-Image-Meta-Property-Arch": "", "X-Image-Meta-Min_disk": "2", "X-Image-Meta-Is_public": "False", "X-Image-Meta-Status": "active"} {
		if got := resp.Header.Get(k); got != want {
			t.Errorf("HEAD %s %q, want %q", k, got, want)
		}
	}

	// images.py:1107-1195: 200 and an empty body.
	resp, body = ts.do(t, p1, "DELETE", "/v1/images/"+id, nil)
	if resp.StatusCode != 200 || len(body) != 0 {
		t.Fatalf("DELETE: %d %q", resp.StatusCode, body)
	}
	ts.json(t, p1, "GET", "/v2/images/"+id, nil, 404)
}

// manyProps are n x-image-meta-property headers.
func manyProps(n int) []string {
	var h []string
	for i := range n {
		h = append(h, fmt.Sprintf("x-image-meta-property-p%d", i), "v")
	}
	return h
}

// TestV1Create: POST /v1/images, each row a rule of Queens'.
func TestV1Create(t *testing.T) {
	ts := startServerWith(t, "trusted", gateway.Config{EnableV1: true, SizeCap: 1 << 20})
	taken := ts.json(t, p1, "POST", "/v2/images", map[string]any{"name": "taken"}, 201)["id"].(string)
	data := []byte("0123456789")
	octet := []string{"Content-Type", "application/octet-stream", "x-image-meta-disk_format", "raw", "x-image-meta-container_format", "bare"}
	with := func(h ...string) []string { return append(append([]string(nil), octet...), h...) }
	const freshID = "8d7f1a3e-2c3b-4a55-9b8e-0123456789ab"

	for _, tc := range []struct {
		name   string
		who    as
		body   []byte
		hdr    []string
		status int
		msg    string         // in the body
		want   map[string]any // in the v1 image
		props  map[string]any // its properties, all of them
		// chunked is a body sent without a Content-Length.
		chunked []byte
	}{
		// images.py:570-585 (_reserve): no data is a queued reservation,
		// visibility shared (db/utils.py:28-41).
		{name: "reserve", who: p1, hdr: []string{"x-image-meta-name", "r"}, status: 201,
			want: map[string]any{"status": "queued", "is_public": false, "size": nil, "owner": "p1"}},
		// images.py:584-585: size 0 and no data is active at once.
		{name: "reserve size 0 is active", who: p1, hdr: []string{"x-image-meta-size", "0", "x-image-meta-disk_format", "raw", "x-image-meta-container_format", "bare"}, status: 201,
			want: map[string]any{"status": "active", "size": 0.0}},
		// images.py:612-619: a taken id is a 409.
		{name: "id taken", who: p1, hdr: []string{"x-image-meta-id", taken}, status: 409, msg: "An image with identifier " + taken + " already exists"},
		{name: "id given", who: p1, hdr: []string{"x-image-meta-id", freshID}, status: 201, want: map[string]any{"id": freshID}},
		// registry:429-434.
		{name: "id not a uuid", who: p1, hdr: []string{"x-image-meta-id", "nope"}, status: 400, msg: "Invalid image id format"},
		{name: "id braced", who: p1, hdr: []string{"x-image-meta-id", "{" + freshID + "}"}, status: 400, msg: "Invalid image id format"},
		// images.py:912-915 and the default policy: publicize_image is
		// admin's.
		{name: "is_public by member", who: p1, hdr: []string{"x-image-meta-is_public", "true"}, status: 403},
		{name: "is_public by admin", who: admin, hdr: []string{"x-image-meta-is_public", "True"}, status: 201, want: map[string]any{"is_public": true}},
		// registry:425-427: the owner is the caller's project unless an
		// admin names another (silently, for anyone else).
		{name: "owner by member ignored", who: p1, hdr: []string{"x-image-meta-owner", "p2"}, status: 201, want: map[string]any{"owner": "p1"}},
		{name: "owner by admin", who: admin, hdr: []string{"x-image-meta-owner", "p2"}, status: 201, want: map[string]any{"owner": "p2"}},
		// images.py:577-581 (a store the catalog has not).
		{name: "unknown store", who: p1, hdr: []string{"x-image-meta-store", "nowhere"}, status: 400, msg: "Required store nowhere is invalid"},
		{name: "unknown store with data", who: p1, body: data, hdr: with("x-image-meta-store", "nowhere"), status: 400, msg: "Required store nowhere is invalid"},
		// utils.py:343-345.
		{name: "bad header", who: p1, hdr: []string{"x-image-meta-colour", "red"}, status: 400, msg: "Bad header: x-image-meta-colour"},
		// utils.py:349-368.
		{name: "size not an integer", who: p1, hdr: []string{"x-image-meta-size", "ten"}, status: 400,
			msg: "Invalid value 'ten' for parameter 'size': Cannot convert image size 'ten' to an integer."},
		{name: "negative min_ram", who: p1, hdr: []string{"x-image-meta-min_ram", "-1"}, status: 400,
			msg: "Invalid value '-1' for parameter 'min_ram': Cannot be a negative value."},
		// images.py:91-121 (_validate_format).
		{name: "bad disk format", who: p1, hdr: []string{"x-image-meta-disk_format", "floppy"}, status: 400, msg: "Invalid disk format 'floppy' for image."},
		{name: "amazon mix", who: p1, hdr: []string{"x-image-meta-disk_format", "aki", "x-image-meta-container_format", "bare"}, status: 400, msg: "Invalid mix of disk and container formats."},
		{name: "amazon pairs", who: p1, hdr: []string{"x-image-meta-disk_format", "ari"}, status: 201, want: map[string]any{"container_format": "ari"}},
		// images.py:69-88.
		{name: "bad time", who: p1, hdr: []string{"x-image-meta-created_at", "yesterday"}, status: 400, msg: "Invalid time format for created_at."},
		// images.py:130-141.
		{name: "long checksum", who: p1, hdr: []string{"x-image-meta-checksum", strings.Repeat("a", 33)}, status: 400, msg: "can't exceed 32 characters"},
		{name: "long name", who: p1, hdr: []string{"x-image-meta-name", strings.Repeat("n", 256)}, status: 400, msg: "Image name too long: 256"},
		// With data: images.py:668-674, 850-866.
		{name: "data", who: p1, body: data, hdr: with(), status: 201, want: map[string]any{"status": "active", "size": 10.0, "checksum": md5hex(data)}},
		{name: "data not octet-stream", who: p1, body: data, hdr: []string{"Content-Type", "text/plain", "x-image-meta-disk_format", "raw", "x-image-meta-container_format", "bare"},
			status: 400, msg: "Content-Type must be application/octet-stream"},
		{name: "data without disk format", who: p1, body: data, hdr: []string{"Content-Type", "application/octet-stream", "x-image-meta-container_format", "bare"},
			status: 400, msg: "Disk format is not specified."},
		{name: "data without container format", who: p1, body: data, hdr: []string{"Content-Type", "application/octet-stream", "x-image-meta-disk_format", "raw"},
			status: 400, msg: "Container format is not specified."},
		// upload_utils.py:128-143: the supplied size and checksum are
		// checked against the data, a 400 (as the seed doc says too).
		{name: "checksum mismatch", who: p1, body: data, hdr: with("x-image-meta-checksum", strings.Repeat("0", 32)), status: 400,
			msg: "Supplied checksum (" + strings.Repeat("0", 32) + ") and checksum generated from uploaded image (" + md5hex(data) + ") did not match."},
		{name: "checksum mismatch, protected", who: p1, body: data, hdr: with("x-image-meta-checksum", strings.Repeat("0", 32), "x-image-meta-protected", "True"), status: 400,
			msg: "Supplied checksum"},
		{name: "size mismatch", who: p1, body: data, hdr: with("x-image-meta-size", "11"), status: 400,
			msg: "Supplied size (11) and size generated from uploaded image (10) did not match."},
		{name: "checksum match", who: p1, body: data, hdr: with("x-image-meta-checksum", md5hex(data), "x-image-meta-size", "10"), status: 201,
			want: map[string]any{"checksum": md5hex(data)}},
		// images.py:1244-1252: above image_size_cap.
		{name: "size above the cap", who: p1, hdr: []string{"x-image-meta-size", "2000000"}, status: 400,
			msg: "Denying attempt to upload image larger than 1048576 bytes."},
		// The seed doc says x-image-meta-name "is required, unless
		// reserving an image"; Queens requires only the formats
		// (images.py:850-866, which takes the name from the image), and
		// Queens wins.
		{name: "data without a name", who: p1, body: data, hdr: with(), status: 201, want: map[string]any{"name": nil, "status": "active"}},
		// The seed doc says property keys have "dashes and punctuation
		// replaced with underscores"; Queens replaces dashes only
		// (utils.py:338-340), and Queens wins.
		{name: "property punctuation kept", who: p1, hdr: []string{"x-image-meta-property-os.distro-name", "x"}, status: 201,
			props: map[string]any{"os.distro_name": "x"}},
		// registry:425-427: an admin may also make an image without an
		// owner (an empty header is None), as the seed doc says ("null").
		{name: "owner none by admin", who: admin, hdr: []string{"x-image-meta-owner", ""}, status: 201, want: map[string]any{"owner": nil}},
		// db/sqlalchemy/api.py:107-121 through images.py:620-626, and
		// Queens' functional test_param_int_too_large_at_create.
		{name: "min_disk out of range", who: p1, hdr: []string{"x-image-meta-min_disk", "2147483648"}, status: 400,
			msg: "Failed to reserve image. Got error: 'min_disk' value out of range, must not exceed 2147483647."},
		{name: "min_ram at the top of the range", who: p1, hdr: []string{"x-image-meta-min_ram", "2147483647"}, status: 201, want: map[string]any{"min_ram": 2147483647.0}},
		// functional test_status_cannot_be_manipulated_directly: a
		// create's status header is ignored.
		{name: "status ignored", who: p1, hdr: []string{"x-image-meta-status", "active"}, status: 201, want: map[string]any{"status": "queued"}},
		{name: "property without a name", who: p1, hdr: []string{"x-image-meta-property-", "x"}, status: 400, msg: "Bad header: x-image-meta-property-"},
		{name: "property not UTF-8", who: p1, hdr: []string{"x-image-meta-property-a", "\xff"}, status: 400, msg: "could not be decoded"},
		// images.py:584-585 made an empty image active without formats;
		// the catalog activates none without them (v2's rule), so it
		// stays a queued reservation.
		{name: "reserve size 0 without formats", who: p1, hdr: []string{"x-image-meta-size", "0"}, status: 201, want: map[string]any{"status": "queued"}},
		// Queens' unit test_add_image_size_chunked_data_too_big:
		// upload_utils.py:245-253.
		{name: "chunked above the cap", who: p1, chunked: bytes.Repeat([]byte("X"), 1<<20+1), hdr: with(), status: 413,
			msg: "Denying attempt to upload image larger than 1048576 bytes."},
		{name: "chunked", who: p1, chunked: data, hdr: with(), status: 201, want: map[string]any{"status": "active", "size": 10.0}},
		// images.py:198-224: the property quota (the store's default,
		// 128), a 413.
		{name: "property quota", who: p1, hdr: manyProps(129), status: 413,
			msg: "The limit has been exceeded on the number of allowed image properties. Attempted: 129, Maximum: 128"},
		// images.py:467-484, _validate_source (more in v1source_test.go).
		{name: "location not http", who: p1, hdr: []string{"x-image-meta-location", "file:///etc/passwd"}, status: 400, msg: "External sources are not supported: 'file:///etc/passwd'"},
		{name: "copy-from refused by the import filter", who: p1, hdr: []string{"x-glance-api-copy-from", "http://127.0.0.1/x"}, status: 400, msg: "External sources are not supported: 'http://127.0.0.1/x'"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := imageCount(t, ts)
			var r *bytes.Reader
			if tc.body != nil {
				r = bytes.NewReader(tc.body)
			}
			var resp *http.Response
			var body []byte
			if tc.chunked != nil {
				resp, body = ts.do(t, tc.who, "POST", "/v1/images", io.MultiReader(bytes.NewReader(tc.chunked)), tc.hdr...)
			} else if r != nil {
				resp, body = ts.do(t, tc.who, "POST", "/v1/images", r, tc.hdr...)
			} else {
				resp, body = ts.do(t, tc.who, "POST", "/v1/images", nil, tc.hdr...)
			}
			if resp.StatusCode != tc.status {
				t.Fatalf("status %d, want %d: %s", resp.StatusCode, tc.status, body)
			}
			if !strings.Contains(string(body), tc.msg) {
				t.Errorf("body %s\nwant it to hold %q", body, tc.msg)
			}
			if tc.status != 201 {
				// Nothing kept.
				if got := imageCount(t, ts); got != before {
					t.Errorf("%d images after a refused create, %d before", got, before)
				}
				return
			}
			img := v1Body(t, body)
			for k, want := range tc.want {
				if got := img[k]; got != want {
					t.Errorf("%s = %v, want %v", k, got, want)
				}
			}
			if tc.props != nil {
				if got, _ := json.Marshal(img["properties"]); string(got) != mustJSON(tc.props) {
					t.Errorf("properties %s, want %s", got, mustJSON(tc.props))
				}
			}
		})
	}
}

// TestV1Update: PUT /v1/images/{id}.
func TestV1Update(t *testing.T) {
	ts := startServerWith(t, "trusted", gateway.Config{EnableV1: true})
	data := []byte("some bytes")
	newImage := func(t *testing.T, withData bool, props map[string]any) string {
		body := map[string]any{"name": "u", "disk_format": "raw", "container_format": "bare"}
		for k, v := range props {
			body[k] = v
		}
		id := ts.json(t, p1, "POST", "/v2/images", body, 201)["id"].(string)
		if withData {
			if resp, b := ts.do(t, p1, "PUT", "/v2/images/"+id+"/file", bytes.NewReader(data), "Content-Type", "application/octet-stream"); resp.StatusCode != 204 {
				t.Fatalf("upload: %d %s", resp.StatusCode, b)
			}
		}
		return id
	}
	for _, tc := range []struct {
		name    string
		who     as
		active  bool
		body    []byte
		hdr     []string
		status  int
		msg     string
		want    map[string]any // in the v2 image after
		gone    []string       // properties absent after
		missing bool
	}{
		// images.py:992-1002 and the registry's purge: by default the
		// properties not sent are removed.
		{name: "purge by default", who: p1, hdr: []string{"x-image-meta-property-a", "1"}, status: 200,
			want: map[string]any{"a": "1"}, gone: []string{"b"}},
		{name: "purge false keeps", who: p1, hdr: []string{"x-image-meta-property-a", "2", "x-glance-registry-purge-props", "false"}, status: 200,
			want: map[string]any{"a": "2", "b": "y"}},
		// images.py:1000-1002: no purge when data comes.
		{name: "upload to queued", who: p1, body: data, hdr: []string{"Content-Type", "application/octet-stream", "x-image-meta-checksum", md5hex(data)}, status: 200,
			want: map[string]any{"status": "active", "size": float64(len(data)), "b": "y"}},
		{name: "upload checksum mismatch stays queued", who: p1, body: data, hdr: []string{"Content-Type", "application/octet-stream", "x-image-meta-checksum", strings.Repeat("f", 32)},
			status: 400, msg: "Supplied checksum", want: map[string]any{"status": "queued"}},
		// images.py:1004-1005.
		{name: "upload to active", who: p1, active: true, body: data, hdr: []string{"Content-Type", "application/octet-stream"}, status: 409, msg: "Cannot upload to an unqueued image"},
		// images.py:970-990.
		{name: "status immutable", who: p1, hdr: []string{"x-image-meta-status", "active"}, status: 403, msg: "Forbidden to modify 'status' of image."},
		// functional test_status_cannot_be_manipulated_directly: the same
		// status is no change.
		{name: "same status", who: p1, hdr: []string{"x-image-meta-status", "queued", "x-glance-registry-purge-props", "false"}, status: 200,
			want: map[string]any{"status": "queued"}},
		// images.py:1069-1075 and db/sqlalchemy/api.py:107-121.
		{name: "min_ram out of range", who: p1, hdr: []string{"x-image-meta-min_ram", "4294967296"}, status: 400,
			msg: "Failed to update image metadata. Got error: 'min_ram' value out of range, must not exceed 2147483647."},
		{name: "size of active", who: p1, active: true, hdr: []string{"x-image-meta-size", "99"}, status: 403, msg: "Forbidden to modify 'size' of active image."},
		{name: "same size of active", who: p1, active: true, hdr: []string{"x-image-meta-size", "10", "x-glance-registry-purge-props", "false"}, status: 200},
		// images.py:954: publicize_image.
		{name: "is_public by member", who: p1, hdr: []string{"x-image-meta-is_public", "true"}, status: 403},
		{name: "is_public by admin", who: admin, hdr: []string{"x-image-meta-is_public", "true", "x-glance-registry-purge-props", "false"}, status: 200,
			want: map[string]any{"visibility": "public"}},
		// registry:473-475: a member's owner is dropped.
		{name: "owner by member dropped", who: p1, hdr: []string{"x-image-meta-owner", "p2", "x-glance-registry-purge-props", "false"}, status: 200,
			want: map[string]any{"owner": "p1"}},
		{name: "owner by admin", who: admin, hdr: []string{"x-image-meta-owner", "p3", "x-glance-registry-purge-props", "false"}, status: 200,
			want: map[string]any{"owner": "p3"}},
		{name: "not the owner", who: p2, hdr: []string{"x-image-meta-name", "x"}, status: 404},
		{name: "missing", who: p1, hdr: []string{"x-image-meta-name", "x"}, status: 404, missing: true, msg: "not found"},
		{name: "bad header", who: p1, hdr: []string{"x-image-meta-foo", "x"}, status: 400, msg: "Bad header: x-image-meta-foo"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			id := newImage(t, tc.active, map[string]any{"a": "0", "b": "y"})
			if tc.missing {
				id = "00000000-0000-0000-0000-000000000000"
			}
			var resp *http.Response
			var body []byte
			if tc.body != nil {
				resp, body = ts.do(t, tc.who, "PUT", "/v1/images/"+id, bytes.NewReader(tc.body), tc.hdr...)
			} else {
				resp, body = ts.do(t, tc.who, "PUT", "/v1/images/"+id, nil, tc.hdr...)
			}
			if resp.StatusCode != tc.status {
				t.Fatalf("status %d, want %d: %s", resp.StatusCode, tc.status, body)
			}
			if !strings.Contains(string(body), tc.msg) {
				t.Errorf("body %s\nwant it to hold %q", body, tc.msg)
			}
			if tc.missing {
				return
			}
			v2 := ts.json(t, admin, "GET", "/v2/images/"+id, nil, 200)
			for k, want := range tc.want {
				if got := v2[k]; got != want {
					t.Errorf("v2 %s = %v, want %v", k, got, want)
				}
			}
			for _, k := range tc.gone {
				if _, ok := v2[k]; ok {
					t.Errorf("v2 still has %s", k)
				}
			}
		})
	}
}

// TestV1Delete: DELETE /v1/images/{id} (images.py:1107-1195).
func TestV1Delete(t *testing.T) {
	ts := startServerWith(t, "trusted", gateway.Config{EnableV1: true})
	for _, tc := range []struct {
		name      string
		who       as
		protected bool
		status    int
		msg       string
	}{
		{name: "owner", who: p1, status: 200},
		{name: "admin", who: admin, status: 200},
		// images.py:1122-1127.
		{name: "protected", who: p1, protected: true, status: 403, msg: "Image is protected"},
		// controller.py get_image_meta_or_404: another's private image is
		// not found.
		{name: "another's", who: p2, status: 404, msg: "not found"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			id := ts.json(t, p1, "POST", "/v2/images", map[string]any{"name": "d", "protected": tc.protected}, 201)["id"].(string)
			resp, body := ts.do(t, tc.who, "DELETE", "/v1/images/"+id, nil)
			if resp.StatusCode != tc.status || !strings.Contains(string(body), tc.msg) {
				t.Fatalf("DELETE: %d %s, want %d %q", resp.StatusCode, body, tc.status, tc.msg)
			}
			want := 404
			if tc.status != 200 {
				want = 200
			}
			ts.json(t, p1, "GET", "/v2/images/"+id, nil, want)
		})
	}
}

// TestV1WriteSecureRBAC: under Glance 25's secure-RBAC defaults (the
// gateway's "current"), the write rules are decided on v2's targets, so a
// project's member writes its own images through v1 as through v2, and
// not another project's; publicize_image stays the admin's.
func TestV1WriteSecureRBAC(t *testing.T) {
	ts := startServerWith(t, "trusted", gateway.Config{EnableV1: true})
	ts.srv.SetPolicy(policy.MustNew(policy.Options{}))
	m1, m2 := as{"p1", "member,reader"}, as{"p2", "member,reader"}
	resp, body := ts.do(t, m1, "POST", "/v1/images", strings.NewReader("bytes"), "Content-Type", "application/octet-stream",
		"x-image-meta-disk_format", "raw", "x-image-meta-container_format", "bare", "x-image-meta-name", "rbac")
	if resp.StatusCode != 201 {
		t.Fatalf("member's POST: %d %s", resp.StatusCode, body)
	}
	id := v1Body(t, body)["id"].(string)
	for _, tc := range []struct {
		name         string
		who          as
		method, path string
		hdr          []string
		status       int
	}{
		// Reads under the current rules: Queens' {} target would refuse
		// every non-admin; the caller's project and the image are the
		// targets, as in v2.
		{"member's list", m1, "GET", "/v1/images", nil, 200},
		{"member's detail", m1, "GET", "/v1/images/detail", nil, 200},
		{"owner's HEAD", m1, "HEAD", "/v1/images/" + id, nil, 200},
		{"owner's GET", m1, "GET", "/v1/images/" + id, nil, 200},
		{"another project's HEAD", m2, "HEAD", "/v1/images/" + id, nil, 404},
		{"another project's list", m2, "GET", "/v1/images", nil, 200},
		{"no role's list", as{"p1", ""}, "GET", "/v1/images", nil, 403},
		{"public by a member", m1, "POST", "/v1/images", []string{"x-image-meta-is_public", "true"}, 403},
		{"another project's update", m2, "PUT", "/v1/images/" + id, []string{"x-image-meta-name", "x"}, 404},
		{"another project's delete", m2, "DELETE", "/v1/images/" + id, nil, 404},
		{"owner's update", m1, "PUT", "/v1/images/" + id, []string{"x-image-meta-name", "y"}, 200},
		{"owner's delete", m1, "DELETE", "/v1/images/" + id, nil, 200},
	} {
		t.Run(tc.name, func(t *testing.T) {
			resp, body := ts.do(t, tc.who, tc.method, tc.path, nil, tc.hdr...)
			if resp.StatusCode != tc.status {
				t.Fatalf("%d %s, want %d", resp.StatusCode, body, tc.status)
			}
		})
	}
}

// FuzzParseV1ImageMeta: any headers are parsed or refused with a 400,
// never a panic or another status.
func FuzzParseV1ImageMeta(f *testing.F) {
	for _, seed := range []string{
		"x-image-meta-name: a\nx-image-meta-size: 10",
		"x-image-meta-property-Foo-Bar: x\nx-image-meta-is_public: true",
		"x-image-meta-disk_format: aki\nx-image-meta-container_format: ari",
		"x-image-meta-virtual_size: None\nx-image-meta-min_ram: -1",
		"x-image-meta-created_at: 1899-01-01T00:00:00Z",
		"x-image-meta-bogus: 1",
		"x-image-meta-size: 99999999999999999999",
	} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		var h fasthttp.RequestHeader
		for _, line := range strings.Split(raw, "\n") {
			k, v, ok := strings.Cut(line, ":")
			if !ok || k == "" {
				continue
			}
			h.Set(k, strings.TrimSpace(v))
		}
		m, err := gateway.ParseV1ImageMeta(&h)
		if err != nil {
			if status, _ := gateway.ErrorJSON(err); status != 400 {
				t.Fatalf("%q: status %d (%v)", raw, status, err)
			}
			return
		}
		if m.Has("size") && m.Size < 0 || m.MinRAM < 0 || m.MinDisk < 0 {
			t.Fatalf("%q: a negative integer parsed: %+v", raw, m)
		}
		for k, v := range m.Properties {
			if k == "" || !utf8.ValidString(k) || !utf8.ValidString(v) || strings.Contains(k, "-") {
				t.Fatalf("%q: property %q=%q kept", raw, k, v)
			}
		}
		for k, v := range m.Core {
			if !utf8.ValidString(v) || m.Nulls[k] != (v == "") {
				t.Fatalf("%q: field %q=%q (null %v)", raw, k, v, m.Nulls[k])
			}
		}
	})
}
