package gateway_test

import (
	"bytes"
	"crypto/md5"
	"crypto/sha512"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"hash"
	"io"
	"reflect"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/spyglass-gateway/spyglass/backends/glance/glancetest"
	"github.com/spyglass-gateway/spyglass/backends/local"
	"github.com/spyglass-gateway/spyglass/cache/blob"
	"github.com/spyglass-gateway/spyglass/federation"
	"github.com/spyglass-gateway/spyglass/gateway"
)

// The v2 locations API (issue 16): JSON-patch of /locations with
// show_multiple_locations, and locations/direct_url in image bodies,
// differentially against a real Glance 25 configured the same way
// (glancetest.Options.Locations: both options on, an http store), over
// one loopback source both read.

// startLocationsEmbedded serves an embedded store with both location
// options on, whose import filtering allows src.
func startLocationsEmbedded(t *testing.T, src *source) *dataServer {
	t.Helper()
	f := src.fetcher(t)
	// "web": the store id the oracle Glance's http store has.
	store, err := local.Open(t.TempDir(), local.Options{Fetcher: f, StoreName: "web"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	ds := serveData(t, gateway.Config{ImportFilter: f, ShowMultipleLocations: true, ShowImageDirectURL: true}, store)
	ds.store = store
	return ds
}

// locStep is one request of the scenario. {src} in path and body is the
// source server's URL, {id} the image's id.
type locStep struct {
	name, method, path, body string
	// image: "a" (the first image), "b" (a second, queued one) or "c"
	// (p1's community image, patched by p2).
	image string
	// fields are the body fields compared on a success.
	fields []string
	// glanceReorders marks the answer where Glance is wrong: it keeps
	// an added location's position in the answer to the PATCH but not in
	// its database (image_locations are read back in insertion order),
	// so the next answer has them in another order and another
	// direct_url. Spyglass keeps the position: the locations are
	// compared as a set, and Spyglass's order is checked apart.
	glanceReorders bool
}

const patchCT = "application/openstack-images-v2.1-json-patch"

var locSteps = []locStep{
	{name: "show queued", method: "GET", fields: []string{"status", "size", "locations", "direct_url"}},
	{name: "remove from queued", method: "PATCH", body: `[{"op":"remove","path":"/locations/0"}]`},
	{name: "add not found", method: "PATCH", body: `[{"op":"add","path":"/locations/-","value":{"url":"{src}/missing.img","metadata":{}}}]`},
	{name: "add unknown scheme", method: "PATCH", body: `[{"op":"add","path":"/locations/-","value":{"url":"gopher://example.com/x","metadata":{}}}]`},
	{name: "add url not string", method: "PATCH", body: `[{"op":"add","path":"/locations/-","value":{"url":5,"metadata":{}}}]`},
	{name: "add no metadata", method: "PATCH", body: `[{"op":"add","path":"/locations/-","value":{"url":"{src}/image.img"}}]`},
	{name: "add not object", method: "PATCH", body: `[{"op":"add","path":"/locations/-","value":"{src}/image.img"}]`},
	{name: "add bad position", method: "PATCH", body: `[{"op":"add","path":"/locations/x","value":{"url":"{src}/image.img","metadata":{}}}]`},
	{name: "add bad validation_data", method: "PATCH", body: `[{"op":"add","path":"/locations/-","value":{"url":"{src}/image.img","metadata":{},"validation_data":{"checksum":"abc"}}}]`},
	{name: "add extra validation_data", method: "PATCH", body: `[{"op":"add","path":"/locations/-","value":{"url":"{src}/image.img","metadata":{},"validation_data":{"os_hash_algo":"sha512","os_hash_value":"00","size":1}}}]`},
	{name: "add wrong algo", method: "PATCH", body: `[{"op":"add","path":"/locations/-","value":{"url":"{src}/image.img","metadata":{},"validation_data":{"os_hash_algo":"md5","os_hash_value":"00"}}}]`},
	{name: "add short hash", method: "PATCH", body: `[{"op":"add","path":"/locations/-","value":{"url":"{src}/image.img","metadata":{},"validation_data":{"os_hash_algo":"sha512","os_hash_value":"00"}}}]`},
	{name: "replace empty", method: "PATCH", body: `[{"op":"replace","path":"/locations","value":[]}]`},
	{name: "replace not list", method: "PATCH", body: `[{"op":"replace","path":"/locations","value":{"metadata":{},"url":"{src}/image.img"}}]`},
	{name: "add activates", method: "PATCH", body: `[{"op":"add","path":"/locations/-","value":{"url":"{src}/image.img","metadata":{}}}]`,
		fields: []string{"status", "size", "checksum", "locations", "direct_url"}},
	{name: "add duplicate", method: "PATCH", body: `[{"op":"add","path":"/locations/-","value":{"url":"{src}/image.img","metadata":{}}}]`},
	{name: "replace other urls", method: "PATCH", body: `[{"op":"replace","path":"/locations","value":[{"url":"{src}/image.img?copy=4","metadata":{}}]}]`},
	{name: "remove last", method: "PATCH", body: `[{"op":"remove","path":"/locations/0"}]`},
	{name: "add second at 0", method: "PATCH", body: `[{"op":"add","path":"/locations/0","value":{"url":"{src}/image.img?copy=2","metadata":{"k":"v"}}}]`,
		fields: []string{"status", "size", "locations", "direct_url"}},
	{name: "add past the end", method: "PATCH", body: `[{"op":"add","path":"/locations/9","value":{"url":"{src}/image.img?copy=3","metadata":{}}}]`,
		fields: []string{"locations", "direct_url"}, glanceReorders: true},
	{name: "replace metadata", method: "PATCH", body: `[{"op":"replace","path":"/locations","value":[{"url":"{src}/image.img","metadata":{"a":"b"}},{"url":"{src}/image.img?copy=2","metadata":{}},{"url":"{src}/image.img?copy=3","metadata":{}}]}]`,
		fields: []string{"status", "size", "locations", "direct_url"}},
	{name: "validation_data on active", method: "PATCH", body: `[{"op":"add","path":"/locations/-","value":{"url":"{src}/image.img?copy=5","metadata":{},"validation_data":{"os_hash_algo":"sha512","os_hash_value":"` + zeros128 + `"}}}]`},
	{name: "remove bad position", method: "PATCH", body: `[{"op":"remove","path":"/locations/7"}]`},
	{name: "remove dash", method: "PATCH", body: `[{"op":"remove","path":"/locations/-"}]`, fields: []string{"locations", "direct_url"}},
	{name: "remove first", method: "PATCH", body: `[{"op":"remove","path":"/locations/0"}]`, fields: []string{"status", "size", "locations", "direct_url"}},
	{name: "remove too deep", method: "PATCH", body: `[{"op":"remove","path":"/locations/0/url"}]`},
	{name: "replace too deep", method: "PATCH", body: `[{"op":"replace","path":"/locations/0","value":{}}]`},
	{name: "deactivate", method: "POST", path: "/actions/deactivate"},
	{name: "show deactivated", method: "GET", fields: []string{"status", "locations", "direct_url"}},
	{name: "add to deactivated", method: "PATCH", body: `[{"op":"add","path":"/locations/-","value":{"url":"{src}/image.img?copy=6","metadata":{}}}]`},
	{name: "reactivate", method: "POST", path: "/actions/reactivate"},
	// A second image: a replace activates it with the validation data.
	{name: "b conflicting validation_data", image: "b", method: "PATCH", body: `[{"op":"replace","path":"/locations","value":[{"url":"{src}/image.img","metadata":{},"validation_data":{"os_hash_algo":"sha512","os_hash_value":"{sha}"}},{"url":"{src}/image.img?copy=2","metadata":{},"validation_data":{"os_hash_algo":"sha512","os_hash_value":"` + zeros128 + `"}}]}]`},
	{name: "b replace over the quota", image: "b", method: "PATCH", body: `[{"op":"replace","path":"/locations","value":[` + elevenLocations + `]}]`},
	{name: "b replace duplicates", image: "b", method: "PATCH", body: `[{"op":"replace","path":"/locations","value":[{"url":"{src}/image.img","metadata":{}},{"url":"{src}/image.img","metadata":{}}]}]`},
	{name: "b replace activates", image: "b", method: "PATCH", body: `[{"op":"replace","path":"/locations","value":[{"url":"{src}/image.img","metadata":{},"validation_data":{"checksum":"{md5}","os_hash_algo":"sha512","os_hash_value":"{sha}"}}]}]`,
		fields: []string{"status", "size", "checksum", "os_hash_algo", "os_hash_value", "locations", "direct_url"}},
}

func init() {
	locSteps = append(locSteps,
		locStep{name: "c another project's add", image: "c", method: "PATCH", body: `[{"op":"add","path":"/locations/-","value":{"url":"{src}/image.img","metadata":{}}}]`},
		locStep{name: "c another project's replace", image: "c", method: "PATCH", body: `[{"op":"replace","path":"/locations","value":[{"url":"{src}/image.img","metadata":{}}]}]`},
		locStep{name: "c another project's remove", image: "c", method: "PATCH", body: `[{"op":"remove","path":"/locations/0"}]`},
	)
}

var elevenLocations = func() string {
	var l []string
	for i := 0; i < 11; i++ {
		l = append(l, `{"url":"{src}/image.img?n=`+strconv.Itoa(i)+`","metadata":{}}`)
	}
	return strings.Join(l, ",")
}()

var zeros128 = strings.Repeat("0", 128)

func TestLocationsGlanceDifferential(t *testing.T) {
	src := startSource(t)
	g := glancetest.StartTWith(t, glancetest.Options{Locations: true})
	sums := strings.NewReplacer("{md5}", hexSum(md5.New, src.image), "{sha}", hexSum(sha512.New, src.image), "{src}", src.URL)
	targets := []struct {
		name string
		ts   *testServer
	}{
		{"glance", &testServer{url: g.URL}},
		{"spyglass", startLocationsEmbedded(t, src).testServer},
	}
	type answer struct {
		status int
		body   string
		fields map[string]any
	}
	answers := make([][]answer, len(targets))
	for ti, tg := range targets {
		ids := map[string]string{}
		for _, name := range []string{"a", "b"} {
			img := tg.ts.json(t, p1, "POST", "/v2/images", map[string]any{"name": name, "disk_format": "raw", "container_format": "bare"}, 201)
			ids[name] = img["id"].(string)
		}
		img := tg.ts.json(t, p1, "POST", "/v2/images", map[string]any{"name": "c", "disk_format": "raw", "container_format": "bare", "visibility": "community"}, 201)
		ids["c"] = img["id"].(string)
		for _, st := range locSteps {
			name := st.image
			if name == "" {
				name = "a"
			}
			id := ids[name]
			var hdr []string
			var body io.Reader
			if st.method == "PATCH" {
				hdr = []string{"Content-Type", patchCT}
				body = strings.NewReader(sums.Replace(st.body))
			}
			who := p1
			if name == "c" {
				who = p2
			}
			resp, b := tg.ts.do(t, who, st.method, "/v2/images/"+id+st.path, body, hdr...)
			a := answer{status: resp.StatusCode}
			if resp.StatusCode >= 400 {
				a.body = strings.ReplaceAll(string(b), id, "{id}")
			} else if len(st.fields) > 0 {
				var v map[string]any
				if err := json.Unmarshal(b, &v); err != nil {
					t.Fatalf("%s %s: %v: %s", tg.name, st.name, err, b)
				}
				a.fields = map[string]any{}
				for _, f := range st.fields {
					if x, ok := v[f]; ok {
						a.fields[f] = x
					}
				}
			}
			answers[ti] = append(answers[ti], a)
		}
		// The image serves the source's bytes, whole and by Range (Glance's
		// http store refuses a Range: a 400, where Spyglass serves it).
		if tg.name == "spyglass" {
			if resp, got := tg.ts.do(t, p1, "GET", "/v2/images/"+ids["a"]+"/file", nil, "Range", "bytes=100-199"); resp.StatusCode != 206 || !bytes.Equal(got, src.image[100:200]) {
				t.Errorf("%s: GET /file Range: %d %q", tg.name, resp.StatusCode, got)
			} else if want := "bytes 100-199/" + strconv.Itoa(len(src.image)); resp.Header.Get("Content-Range") != want {
				t.Errorf("%s: Content-Range %q, want %q", tg.name, resp.Header.Get("Content-Range"), want)
			}
		}
		if resp, got := tg.ts.do(t, p1, "GET", "/v2/images/"+ids["b"]+"/file", nil); resp.StatusCode != 200 || !bytes.Equal(got, src.image) {
			t.Errorf("%s: GET b /file: %d, %d bytes", tg.name, resp.StatusCode, len(got))
		}
	}
	// The image schema is the same with the options on.
	var schemas [2]any
	for i, tg := range targets {
		if err := json.Unmarshal(must200(t, tg.ts, "/v2/schemas/image"), &schemas[i]); err != nil {
			t.Fatal(err)
		}
	}
	if !reflect.DeepEqual(schemas[0], schemas[1]) {
		t.Errorf("image schema differs from Glance's with show_multiple_locations")
	}
	for i, st := range locSteps {
		g, s := answers[0][i], answers[1][i]
		if g.status != s.status {
			t.Errorf("%s: status %d, Glance %d\nspyglass: %s\nglance:   %s", st.name, s.status, g.status, s.body, g.body)
			continue
		}
		if gb, sb := glanceErrorText(g.body), strings.Join(strings.Fields(s.body), " "); gb != sb {
			t.Errorf("%s: error body\nspyglass: %s\nglance:   %s", st.name, sb, gb)
		}
		gf := glanceFields(g.fields)
		if st.glanceReorders {
			want := []any{
				map[string]any{"url": src.URL + "/image.img?copy=2", "metadata": map[string]any{"k": "v", "store": "web"}},
				map[string]any{"url": src.URL + "/image.img", "metadata": map[string]any{"store": "web"}},
				map[string]any{"url": src.URL + "/image.img?copy=3", "metadata": map[string]any{"store": "web"}},
			}
			if !reflect.DeepEqual(s.fields["locations"], want) || s.fields["direct_url"] != src.URL+"/image.img?copy=2" {
				t.Errorf("%s: positions not kept: %v", st.name, s.fields)
			}
			if !sameSet(gf["locations"], s.fields["locations"]) {
				t.Errorf("%s: locations\nspyglass: %v\nglance:   %v", st.name, s.fields["locations"], gf["locations"])
			}
			continue
		}
		if !reflect.DeepEqual(gf, s.fields) {
			t.Errorf("%s: fields\nspyglass: %v\nglance:   %v", st.name, s.fields, gf)
		}
	}
}

// glanceErrorText is Glance's error body with what is Glance's own taken
// out: its database's location ids in "Original locations is not empty"
// messages. Whitespace runs are one space on both sides: webob's text
// bodies turn the explanation's newlines into spaces (Spyglass keeps
// jsonschema's lines).
var glanceLocationID = regexp.MustCompile(`'id': [0-9]+, `)

func glanceErrorText(body string) string {
	return strings.Join(strings.Fields(glanceLocationID.ReplaceAllString(body, "")), " ")
}

// glanceFields drops the validation_data Glance echoes in the locations
// of the answer to the PATCH that gave it (writeOnly in its schema, never
// stored, never shown again).
func glanceFields(f map[string]any) map[string]any {
	if locs, ok := f["locations"].([]any); ok {
		for _, l := range locs {
			if m, ok := l.(map[string]any); ok {
				delete(m, "validation_data")
			}
		}
	}
	return f
}

func sameSet(a, b any) bool {
	x, _ := a.([]any)
	y, _ := b.([]any)
	if len(x) != len(y) {
		return false
	}
	for _, e := range x {
		found := false
		for _, f := range y {
			if reflect.DeepEqual(e, f) {
				found = true
			}
		}
		if !found {
			return false
		}
	}
	return true
}

func hexSum(h func() hash.Hash, b []byte) string {
	x := h()
	x.Write(b)
	return hex.EncodeToString(x.Sum(nil))
}

// TestLocationsDropCachedData: an http location image's data, cached
// once verifiable (its validation_data gave the checksums), stays cached
// when a location is added and goes when one is removed or the list
// replaced: the bytes may have come from the location that went.
func TestLocationsDropCachedData(t *testing.T) {
	src := startSource(t)
	f := src.fetcher(t)
	store, err := local.Open(t.TempDir(), local.Options{Fetcher: f, StoreName: "edge"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	blobs, err := blob.Open(blob.Config{Dir: t.TempDir(), MaxSize: 1 << 30, Retries: 1})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { blobs.Close() })
	cat, err := federation.New(federation.Config{
		Regions: []federation.RegionConfig{{Name: "edge", Region: federation.RegionOf(store)}},
		Default: "edge", Blobs: blobs,
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cat.Close)
	ts := serveData(t, gateway.Config{ImportFilter: f, ImageCache: cat.ImageCache(), ShowMultipleLocations: true}, cat)
	cached := func(id string) bool {
		t.Helper()
		_, body := ts.do(t, admin, "GET", "/v2/cache", nil)
		return strings.Contains(string(body), id)
	}
	patch := func(id, body string) {
		t.Helper()
		resp, b := ts.do(t, p1, "PATCH", "/v2/images/"+id, strings.NewReader(body), "Content-Type", patchCT)
		if resp.StatusCode != 200 {
			t.Fatalf("PATCH %s: %d %s", body, resp.StatusCode, b)
		}
	}
	download := func(id string) {
		t.Helper()
		if resp, got := ts.do(t, p1, "GET", "/v2/images/"+id+"/file", nil); resp.StatusCode != 200 || !bytes.Equal(got, src.image) {
			t.Fatalf("GET /file: %d, %d bytes", resp.StatusCode, len(got))
		}
	}
	img := ts.json(t, p1, "POST", "/v2/images", map[string]any{"name": "loc", "disk_format": "raw", "container_format": "bare"}, 201)
	id := img["id"].(string)
	patch(id, `[{"op":"replace","path":"/locations","value":[{"url":"`+src.URL+`/image.img","metadata":{},"validation_data":{"checksum":"`+hexSum(md5.New, src.image)+`","os_hash_algo":"sha512","os_hash_value":"`+hexSum(sha512.New, src.image)+`"}}]}]`)
	download(id)
	if !cached(id) {
		t.Fatal("a verifiable location image was not cached")
	}
	gets := src.gets.Load()
	download(id)
	if n := src.gets.Load() - gets; n != 0 {
		t.Errorf("a cached location image read the location %d times", n)
	}
	patch(id, `[{"op":"add","path":"/locations/-","value":{"url":"`+src.URL+`/image.img?copy=2","metadata":{}}}]`)
	if !cached(id) {
		t.Error("adding a location dropped the cached data")
	}
	patch(id, `[{"op":"remove","path":"/locations/0"}]`)
	if cached(id) {
		t.Error("removing a location kept the cached data")
	}
	download(id)
	if !cached(id) {
		t.Fatal("not cached again")
	}
	patch(id, `[{"op":"replace","path":"/locations","value":[{"url":"`+src.URL+`/image.img?copy=2","metadata":{"k":"v"}}]}]`)
	if cached(id) {
		t.Error("replacing the locations kept the cached data")
	}
	download(id)
}

func must200(t *testing.T, ts *testServer, path string) []byte {
	t.Helper()
	resp, b := ts.do(t, p1, "GET", path, nil)
	if resp.StatusCode != 200 {
		t.Fatalf("GET %s: %d %s", path, resp.StatusCode, b)
	}
	return b
}

// TestLocationsOwnDataDifferential: an image whose data was uploaded to
// the store shows that data's file as its one location, as Glance's file
// store does (Tempest's ImageLocationsTest.test_location_after_upload),
// with direct_url the same URL; it cannot be removed (the last location)
// and is hidden while the image is deactivated. The file's directory is
// each server's own: the URLs are compared as file://…/<id>.
func TestLocationsOwnDataDifferential(t *testing.T) {
	src := startSource(t)
	g := glancetest.StartTWith(t, glancetest.Options{Locations: true})
	store, err := local.Open(t.TempDir(), local.Options{Fetcher: src.fetcher(t), StoreName: "local"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	targets := []struct {
		name string
		ts   *testServer
	}{
		{"glance", &testServer{url: g.URL}},
		{"spyglass", serveData(t, gateway.Config{ShowMultipleLocations: true, ShowImageDirectURL: true}, store).testServer},
	}
	steps := []struct{ name, method, path, body string }{
		{"show", "GET", "", ""},
		{"remove last", "PATCH", "", `[{"op":"remove","path":"/locations/0"}]`},
		{"remove bad position", "PATCH", "", `[{"op":"remove","path":"/locations/3"}]`},
		{"deactivate", "POST", "/actions/deactivate", ""},
		{"show deactivated", "GET", "", ""},
		{"reactivate", "POST", "/actions/reactivate", ""},
		{"show reactivated", "GET", "", ""},
	}
	var answers [2][]string
	for ti, tg := range targets {
		img := tg.ts.json(t, p1, "POST", "/v2/images", map[string]any{"name": "own", "disk_format": "raw", "container_format": "bare"}, 201)
		id := img["id"].(string)
		if resp, b := tg.ts.do(t, p1, "PUT", "/v2/images/"+id+"/file", bytes.NewReader(src.image), "Content-Type", "application/octet-stream"); resp.StatusCode != 204 {
			t.Fatalf("%s: upload: %d %s", tg.name, resp.StatusCode, b)
		}
		for _, st := range steps {
			var hdr []string
			var body io.Reader
			if st.method == "PATCH" {
				hdr, body = []string{"Content-Type", patchCT}, strings.NewReader(st.body)
			}
			resp, b := tg.ts.do(t, p1, st.method, "/v2/images/"+id+st.path, body, hdr...)
			a := fmt.Sprintf("%d ", resp.StatusCode)
			if resp.StatusCode >= 400 {
				a += glanceErrorText(strings.ReplaceAll(string(b), id, "{id}"))
			} else if len(b) > 0 {
				var v map[string]any
				if err := json.Unmarshal(b, &v); err != nil {
					t.Fatalf("%s %s: %v: %s", tg.name, st.name, err, b)
				}
				locs, _ := v["locations"].([]any)
				for _, l := range locs {
					m := l.(map[string]any)
					u, _ := m["url"].(string)
					if !strings.HasPrefix(u, "file:///") || !strings.HasSuffix(u, "/"+id) {
						t.Errorf("%s %s: location %q is not file:///…/%s", tg.name, st.name, u, id)
					}
					if d, ok := v["direct_url"]; ok && d != u && len(locs) == 1 {
						t.Errorf("%s %s: direct_url %v, location %q", tg.name, st.name, d, u)
					}
					m["url"] = "file:///…/{id}"
				}
				if d, ok := v["direct_url"].(string); ok && strings.HasPrefix(d, "file:///") {
					v["direct_url"] = "file:///…/{id}"
				}
				f, _ := json.Marshal(map[string]any{"locations": v["locations"], "direct_url": v["direct_url"], "status": v["status"]})
				a += string(f)
			}
			answers[ti] = append(answers[ti], a)
		}
	}
	for i, st := range steps {
		if answers[0][i] != answers[1][i] {
			t.Errorf("%s:\nspyglass: %s\nglance:   %s", st.name, answers[1][i], answers[0][i])
		}
	}
}
