package gateway_test

import (
	"bytes"
	"crypto/md5"
	"encoding/hex"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/valyala/fasthttp"

	"github.com/spyglass-gateway/spyglass/gateway"
)

// v1Images are two images made through v2 on a v1-enabled server: a
// public one with data (the admin's, Queens' functional test's Image1)
// and p1's private queued one.
type v1Images struct {
	ts                 *testServer
	pub, priv          map[string]any // their v2 bodies, data uploaded
	pubID, privID, sum string
	data               []byte
}

func startV1(t *testing.T) *v1Images {
	t.Helper()
	ts := startServerWith(t, "trusted", gateway.Config{EnableV1: true})
	v := &v1Images{ts: ts, data: bytes.Repeat([]byte("*"), 5120)}
	pub := ts.json(t, admin, "POST", "/v2/images", map[string]any{"name": "Image1", "disk_format": "raw", "container_format": "ovf",
		"visibility": "public", "distro": "Ubuntu", "Arch": "x86_64"}, 201)
	v.pubID = pub["id"].(string)
	if resp, body := ts.do(t, admin, "PUT", "/v2/images/"+v.pubID+"/file", bytes.NewReader(v.data), "Content-Type", "application/octet-stream"); resp.StatusCode != 204 {
		t.Fatalf("upload: %d %s", resp.StatusCode, body)
	}
	v.pub = ts.json(t, admin, "GET", "/v2/images/"+v.pubID, nil, 200)
	sum := md5.Sum(v.data)
	v.sum = hex.EncodeToString(sum[:])
	time.Sleep(1100 * time.Millisecond) // a later created_at: the default order is newest first
	v.priv = ts.json(t, p1, "POST", "/v2/images", map[string]any{"name": "mine", "disk_format": "qcow2", "container_format": "bare"}, 201)
	v.privID = v.priv["id"].(string)
	return v
}

// v1Time is a v2 time as v1 renders it: the registry's JSON
// (PERFECT_TIME_FORMAT, microseconds).
func v1Time(t *testing.T, v2 any) string {
	tm, err := time.Parse(time.RFC3339, v2.(string))
	if err != nil {
		t.Fatal(err)
	}
	return tm.UTC().Format("2006-01-02T15:04:05.000000")
}

// TestV1ReadsV2Images: an image made through v2 read through v1 — the
// listings' bodies, the metadata headers and the data — as Queens
// rendered them, under every v1 prefix.
func TestV1ReadsV2Images(t *testing.T) {
	v := startV1(t)
	ts := v.ts

	// registry/api/v1/images.py:39-41,165-170 (DISPLAY_FIELDS_IN_INDEX);
	// db/sqlalchemy/api.py:615-621 (created_at desc by default, then id).
	brief := `{"images": [` +
		`{"checksum": null, "container_format": "bare", "disk_format": "qcow2", "id": "` + v.privID + `", "name": "mine", "size": null}, ` +
		`{"checksum": "` + v.sum + `", "container_format": "ovf", "disk_format": "raw", "id": "` + v.pubID + `", "name": "Image1", "size": 5120}]}`
	// registry/api/v1/images.py:544-562 (make_image_dict: IMAGE_ATTRS and
	// properties), api/v1/images.py:146-157 (no location), db/utils.py:17-25
	// (is_public for visibility); oslo's to_primitive for the times.
	detailPub := `{"checksum": "` + v.sum + `", "container_format": "ovf", "created_at": "` + v1Time(t, v.pub["created_at"]) +
		`", "deleted": false, "deleted_at": null, "disk_format": "raw", "id": "` + v.pubID + `", "is_public": true, "min_disk": 0, "min_ram": 0, ` +
		`"name": "Image1", "owner": "adminproject", "properties": {"Arch": "x86_64", "distro": "Ubuntu"}, "protected": false, "size": 5120, ` +
		`"status": "active", "updated_at": "` + v1Time(t, v.pub["updated_at"]) + `", "virtual_size": 5120}`
	if vs, ok := v.pub["virtual_size"].(float64); !ok || vs != 5120 {
		t.Fatalf("v2 virtual_size %v, want 5120 (a raw image's size)", v.pub["virtual_size"])
	}
	for _, prefix := range []string{"/v1", "/v1.0", "/v1.1"} {
		resp, body := ts.do(t, p1, "GET", prefix+"/images", nil)
		if resp.StatusCode != 200 || string(body) != brief {
			t.Errorf("GET %s/images: %d\n%s\nwant\n%s", prefix, resp.StatusCode, body, brief)
		}
		if got := resp.Header.Get("Content-Type"); got != "application/json" {
			t.Errorf("GET %s/images: Content-Type %q", prefix, got)
		}
		resp, body = ts.do(t, p1, "GET", prefix+"/images/detail?name=Image1", nil)
		if want := `{"images": [` + detailPub + `]}`; resp.StatusCode != 200 || string(body) != want {
			t.Errorf("GET %s/images/detail: %d\n%s\nwant\n%s", prefix, resp.StatusCode, body, want)
		}
	}
	resp, body := ts.do(t, p1, "GET", "/images", nil, "Accept", "application/vnd.openstack.images-v1")
	if resp.StatusCode != 200 || string(body) != brief {
		t.Errorf("GET /images, Accept v1: %d %s", resp.StatusCode, body)
	}

	// api/v1/images.py:1265-1296 and common/utils.py:299-317: every field
	// that is not None as x-image-meta-<field> (six.text_type: True,
	// False), properties lower-cased, the checksum as the ETag.
	meta := map[string]string{
		"X-Image-Meta-Id": v.pubID, "X-Image-Meta-Name": "Image1", "X-Image-Meta-Is_public": "True",
		"X-Image-Meta-Status": "active", "X-Image-Meta-Disk_format": "raw", "X-Image-Meta-Container_format": "ovf",
		"X-Image-Meta-Size": "5120", "X-Image-Meta-Checksum": v.sum, "X-Image-Meta-Deleted": "False",
		"X-Image-Meta-Protected": "False", "X-Image-Meta-Min_disk": "0", "X-Image-Meta-Min_ram": "0",
		"X-Image-Meta-Owner": "adminproject", "X-Image-Meta-Created_at": v1Time(t, v.pub["created_at"]),
		"X-Image-Meta-Updated_at":   v1Time(t, v.pub["updated_at"]),
		"X-Image-Meta-Virtual_size": "5120", "X-Image-Meta-Property-Distro": "Ubuntu", "X-Image-Meta-Property-Arch": "x86_64", "Etag": v.sum,
	}
	for _, prefix := range []string{"/v1", "/v1.0", "/v1.1"} {
		for _, method := range []string{"HEAD", "GET"} {
			resp, body := ts.do(t, p1, method, prefix+"/images/"+v.pubID, nil)
			if resp.StatusCode != 200 {
				t.Fatalf("%s %s/images/{id}: %d %s", method, prefix, resp.StatusCode, body)
			}
			for k, want := range meta {
				if got := resp.Header.Values(k); len(got) != 1 || got[0] != want {
					t.Errorf("%s %s/images/{id}: %s %q, want %q", method, prefix, k, got, want)
				}
			}
			for _, k := range []string{"X-Image-Meta-Deleted_at", "X-Image-Meta-Location", "X-Image-Meta-Visibility"} {
				if got := resp.Header.Get(k); got != "" {
					t.Errorf("%s %s/images/{id}: %s %q, want none (None is not sent)", method, prefix, k, got)
				}
			}
			if method == "HEAD" {
				if len(body) != 0 {
					t.Errorf("HEAD: body %q", body)
				}
				continue
			}
			// api/v1/images.py:1313-1329: the data, its size as the
			// Content-Length, application/octet-stream.
			if !bytes.Equal(body, v.data) || resp.ContentLength != 5120 || resp.Header.Get("Content-Type") != "application/octet-stream" {
				t.Errorf("GET %s/images/{id}: %d bytes, Content-Length %d, Content-Type %q", prefix, len(body), resp.ContentLength, resp.Header.Get("Content-Type"))
			}
		}
	}

	// The errors, each as Queens words it.
	const missing = "00000000-0000-4000-8000-000000000000"
	for _, c := range []struct {
		who          as
		method, path string
		status       int
		text         string
	}{
		// controller.py:29-48, get_image_meta_or_404.
		{p1, "HEAD", "/v1/images/" + missing, 404, ""},
		{p1, "GET", "/v1/images/" + missing, 404, "Image with identifier " + missing + " not found"},
		{p2, "GET", "/v1/images/" + v.privID, 404, "Image with identifier " + v.privID + " not found"},
		// controller.py:50-67, get_active_image_meta_or_error.
		{p1, "GET", "/v1/images/" + v.privID, 404, "Image " + v.privID + " is not active"},
		// api/v1/images.py:394-399: HEAD on detail is routed, then refused.
		{p1, "HEAD", "/v1/images/detail", 405, ""},
		// api/v1/router.py: /images is GET (and POST) only.
		{p1, "HEAD", "/v1/images", 405, ""},
	} {
		resp, body := ts.do(t, c.who, c.method, c.path, nil)
		if resp.StatusCode != c.status || !strings.Contains(string(body), c.text) {
			t.Errorf("%s %s as %s: %d %s, want %d %q", c.method, c.path, c.who.project, resp.StatusCode, body, c.status, c.text)
		}
	}
	if resp, _ := ts.do(t, p1, "HEAD", "/v1/images/detail", nil); resp.Header.Get("Allow") != "GET" {
		t.Errorf("HEAD /v1/images/detail: Allow %q, want GET", resp.Header.Get("Allow"))
	}
	// The owner sees the queued image's metadata.
	resp, _ = ts.do(t, p1, "HEAD", "/v1/images/"+v.privID, nil)
	if resp.StatusCode != 200 || resp.Header.Get("X-Image-Meta-Status") != "queued" || resp.Header.Get("X-Image-Meta-Is_public") != "False" ||
		resp.Header.Get("Etag") != "" || resp.Header.Get("X-Image-Meta-Size") != "" || resp.Header.Get("X-Image-Meta-Virtual_size") != "" {
		t.Errorf("HEAD queued image: %d %v", resp.StatusCode, resp.Header)
	}
	// controller.py:57-62: a deactivated image's data is a 403; its
	// metadata is still there.
	if resp, body := ts.do(t, admin, "POST", "/v2/images/"+v.pubID+"/actions/deactivate", nil); resp.StatusCode != 204 {
		t.Fatalf("deactivate: %d %s", resp.StatusCode, body)
	}
	resp, body = ts.do(t, p1, "GET", "/v1/images/"+v.pubID, nil)
	if want := "Image " + v.pubID + " is deactivated"; resp.StatusCode != 403 || !strings.Contains(string(body), want) {
		t.Errorf("GET deactivated image: %d %s, want 403 %q", resp.StatusCode, body, want)
	}
	resp, _ = ts.do(t, p1, "HEAD", "/v1/images/"+v.pubID, nil)
	if resp.StatusCode != 200 || resp.Header.Get("X-Image-Meta-Status") != "deactivated" {
		t.Errorf("HEAD deactivated image: %d status %q", resp.StatusCode, resp.Header.Get("X-Image-Meta-Status"))
	}
}

// TestV1List: Queens' filters, order, paging and errors, each from the line
// that implements it.
func TestV1List(t *testing.T) {
	v := startV1(t)
	pub, priv := v.pubID, v.privID
	for _, c := range []struct {
		who   as
		query string
		want  []string // ids, in order; nil with text: an error
		text  string
	}{
		{p1, "", []string{priv, pub}, ""},
		{p1, "sort_key=name&sort_dir=asc", []string{pub, priv}, ""},
		{p1, "sort_key=name&sort_dir=asc&limit=1", []string{pub}, ""},
		{p1, "sort_key=name&sort_dir=asc&marker=" + pub, []string{priv}, ""},
		{p1, "sort_key=name&sort_key=size&sort_dir=desc", []string{pub, priv}, ""}, // webob: the last value
		{p1, "limit=0", []string{}, ""},
		{p1, "name=Image1", []string{pub}, ""},
		{p1, "name=in:mine,Image1&sort_key=name", []string{priv, pub}, ""},
		{p1, "status=queued", []string{priv}, ""},
		{p1, "disk_format=raw", []string{pub}, ""},
		{p1, "container_format=bare", []string{priv}, ""},
		{p1, "size_min=5120", []string{pub}, ""},
		{p1, "size_max=5119", []string{}, ""},
		{p1, "min_ram=0&min_disk=0", []string{priv, pub}, ""},
		{p1, "property-distro=Ubuntu", []string{pub}, ""},
		{p1, "property-distro=Debian", []string{}, ""},
		{p1, "protected=False", []string{priv, pub}, ""},
		{p1, "changes-since=2000-01-01T00:00:00", []string{priv, pub}, ""},
		{p1, "changes-since=2999-01-01T00:00:00", []string{}, ""},
		{p1, "is_public=false", []string{priv, pub}, ""}, // a regular user's is_public is ignored (registry 223-225)
		{p2, "", []string{pub}, ""},
		// An admin without is_public lists as a regular user of its
		// project (registry 117-119); none: every image; false: the
		// non-public ones (db/sqlalchemy/api.py:442-446).
		{admin, "", []string{pub}, ""},
		{admin, "is_public=None", []string{priv, pub}, ""},
		{admin, "is_public=0", []string{priv}, ""},
		{admin, "deleted=true", []string{}, ""},
		// api/v1/filters.py and api/v1/images.py:429-445.
		{p1, "size_min=-1", nil, "Bad value passed to filter size_min got -1"},
		{p1, "min_ram=x", nil, "Bad value passed to filter min_ram got x"},
		{p1, "is_public=maybe", nil, "Bad value passed to filter is_public got maybe"},
		// registry/api/v1/images.py.
		{p1, "protected=none", nil, "protected must be True, or False"},                                                                                       // 262-267
		{p1, "changes-since=yesterday", nil, "Unrecognized changes-since value"},                                                                              // 254-260
		{p1, "limit=ten", nil, "limit param must be an integer"},                                                                                              // 286-289
		{p1, "limit=-1", nil, "limit param must be positive"},                                                                                                 // 291-292
		{p1, "sort_key=owner", nil, "Unsupported sort_key. Acceptable values: name, status, container_format, disk_format, size, id, created_at, updated_at"}, // 306-313
		{p1, "sort_dir=up", nil, "Unsupported sort_dir. Acceptable values: asc, desc"},                                                                        // 315-322
		{p1, "marker=abc", nil, "Invalid marker format"},                                                                                                      // 296-304
		{p1, "marker=00000000-0000-4000-8000-000000000000", nil, "Invalid marker. Image could not be found."},                                                 // 121-132
		{admin, "is_public=maybe", nil, "Bad value passed to filter is_public got maybe"},
		// db/sqlalchemy/api.py:516-519.
		{p1, "name=like:Image", nil, "Unable to filter by unknown operator 'like'."},
	} {
		resp, body := v.ts.do(t, c.who, "GET", "/v1/images?"+c.query, nil)
		if c.want == nil {
			if resp.StatusCode != 400 || !strings.Contains(string(body), c.text) {
				t.Errorf("%s as %s: %d %s, want 400 %q", c.query, c.who.project, resp.StatusCode, body, c.text)
			}
			continue
		}
		var page struct{ Images []struct{ ID string } }
		if err := json.Unmarshal(body, &page); resp.StatusCode != 200 || err != nil {
			t.Errorf("%s as %s: %d %s", c.query, c.who.project, resp.StatusCode, body)
			continue
		}
		got := []string{}
		for _, im := range page.Images {
			got = append(got, im.ID)
		}
		if strings.Join(got, ",") != strings.Join(c.want, ",") {
			t.Errorf("%s as %s: %v, want %v (public %s, private %s)", c.query, c.who.project, got, c.want, pub, priv)
		}
	}
}

// TestV1Versions: the version document lists v1.1 and v1.0 DEPRECATED
// after the v2 versions, linking /v1/ (api/versions.py:88-99); without v1
// they are neither listed nor served.
func TestV1Versions(t *testing.T) {
	on := startServerWith(t, "trusted", gateway.Config{EnableV1: true})
	off := startServer(t, "trusted")
	resp, body := on.do(t, p1, "GET", "/versions", nil)
	want := `{"id": "v2.0", "status": "SUPPORTED", "links": [{"rel": "self", "href": "` + on.url + `/v2/"}]}, ` +
		`{"id": "v1.1", "status": "DEPRECATED", "links": [{"rel": "self", "href": "` + on.url + `/v1/"}]}, ` +
		`{"id": "v1.0", "status": "DEPRECATED", "links": [{"rel": "self", "href": "` + on.url + `/v1/"}]}]}`
	if resp.StatusCode != 200 || !strings.HasSuffix(string(body), want) {
		t.Errorf("versions with v1: %d %s", resp.StatusCode, body)
	}
	resp, body = off.do(t, p1, "GET", "/versions", nil)
	if resp.StatusCode != 200 || strings.Contains(string(body), "v1") {
		t.Errorf("versions without v1: %d %s", resp.StatusCode, body)
	}
	for _, path := range []string{"/v1/images", "/v1.0/images", "/v1.1/images/detail"} {
		if resp, _ := off.do(t, p1, "GET", path, nil); resp.StatusCode != 300 {
			t.Errorf("GET %s without v1: %d, want 300", path, resp.StatusCode)
		}
		if resp, _ := on.do(t, p1, "GET", path, nil); resp.StatusCode != 200 {
			t.Errorf("GET %s with v1: %d, want 200", path, resp.StatusCode)
		}
	}
	if resp, _ := on.do(t, p1, "GET", "/v1.2/images", nil); resp.StatusCode != 300 {
		t.Errorf("GET /v1.2/images: %d, want 300", resp.StatusCode)
	}
}

// FuzzParseV1ListQuery: any query string parses to a bounded listing or a
// 400, never a panic.
func FuzzParseV1ListQuery(f *testing.F) {
	for _, s := range []string{
		"", "limit=10&marker=00000000-0000-4000-8000-000000000000&sort_key=name&sort_dir=asc",
		"size_min=1&size_max=2&min_ram=3&min_disk=x", "is_public=None&deleted=yes", "changes-since=2020-01-01T00:00:00Z",
		"name=in:\"a,b\",c&status=eq:active", "property-os_distro=ubuntu&property-=x", "protected=TRUE&limit=99999",
		"sort_key=created_at&sort_key=id", "marker={00000000-0000-4000-8000-000000000000}", "name=a:b",
	} {
		f.Add(s, false)
		f.Add(s, true)
	}
	f.Fuzz(func(t *testing.T, query string, admin bool) {
		var args fasthttp.Args
		args.Parse(query)
		q, err := gateway.ParseV1ListQuery(&args, admin)
		if err != nil {
			if status, _ := gateway.ErrorJSON(err); status != 400 {
				t.Fatalf("%q: %v is a %d", query, err, status)
			}
			return
		}
		if q.Query.Limit < 0 || q.Query.Limit > 1000 || q.Query.Limit == 0 && !q.Empty { // deleted=true is empty too
			t.Fatalf("%q: limit %d, empty %v", query, q.Query.Limit, q.Empty)
		}
		if len(q.Query.Sort) < 2 || len(q.Query.Sort) > 3 || q.Query.MemberStatus != "all" {
			t.Fatalf("%q: sort %v, member status %q", query, q.Query.Sort, q.Query.MemberStatus)
		}
		if !admin && (q.AsUser || q.NotPublic) {
			t.Fatalf("%q: a regular user's listing with admin options", query)
		}
	})
}

// TestV1HeaderValues: a property value holding CR or LF (JSON allows them
// through v2) cannot split the v1 response's headers.
func TestV1HeaderValues(t *testing.T) {
	ts := startServerWith(t, "trusted", gateway.Config{EnableV1: true})
	img := ts.json(t, p1, "POST", "/v2/images", map[string]any{"name": "n\r\nX-Injected: 1", "evil": "a\r\nX-Injected: 2\r\n\r\nbody"}, 201)
	resp, body := ts.do(t, p1, "HEAD", "/v1/images/"+img["id"].(string), nil)
	if resp.StatusCode != 200 || resp.Header.Get("X-Injected") != "" || len(body) != 0 {
		t.Fatalf("HEAD: %d %v %q", resp.StatusCode, resp.Header, body)
	}
	if got := resp.Header.Get("X-Image-Meta-Property-Evil"); strings.ContainsAny(got, "\r\n") || !strings.HasPrefix(got, "a") {
		t.Errorf("property header %q", got)
	}
}
