package gateway_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net"
	"strings"
	"testing"

	"github.com/spyglass-gateway/spyglass/backends/glance"
	"github.com/spyglass-gateway/spyglass/backends/glance/glancetest"
	"github.com/spyglass-gateway/spyglass/cache/blob"
	"github.com/spyglass-gateway/spyglass/federation"
	"github.com/spyglass-gateway/spyglass/gateway"
	"github.com/spyglass-gateway/spyglass/policy"
)

// The requests of a hostile tenant and of a careless client (issue 20),
// each as that request, on both topologies: the embedded store, and a real
// Glance 25 region behind the federation catalog with an image data cache,
// as `spyglass serve` wires one. What Glance answered to each is written
// next to it; where Glance is weaker (a 500, an owner given away), the
// stronger answer is the one asserted.
func TestHostileRequests(t *testing.T) {
	topologies := []struct {
		name  string
		start func(t *testing.T) *testServer
		// region: Spyglass sends listings on to a Glance, and serves the
		// cache API (its versions are Glance's with image_cache_dir).
		region bool
	}{
		{"embedded", func(t *testing.T) *testServer { return startServer(t, "trusted") }, false},
		{"glance region", startGlanceRegionServer, true},
	}
	for _, topo := range topologies {
		t.Run(topo.name, func(t *testing.T) {
			ts := topo.start(t)
			t.Run("patch read-only and admin-only attributes", func(t *testing.T) { checkPatchAttributes(t, ts) })
			t.Run("tenant gives its image away", func(t *testing.T) { checkOwnerGiveAway(t, ts) })
			t.Run("listing filters that blow up SQL", func(t *testing.T) { checkListingBounds(t, ts, topo.region) })
			t.Run("invalid unicode in JSON bodies", func(t *testing.T) { checkInvalidUnicode(t, ts) })
			t.Run("dot-segments", func(t *testing.T) { checkDotSegments(t, ts) })
			t.Run("version prefixes", func(t *testing.T) { checkVersionPrefixes(t, ts, topo.region) })
		})
	}
}

// startGlanceRegionServer serves the gateway over a real Glance region
// through the federation catalog, with an image data cache (so the cache
// API and its versions are served). The Glance is the test binary's shared
// one: the checks create their own images and compare listings only with
// each other, never with what the whole Glance holds.
func startGlanceRegionServer(t *testing.T) *testServer {
	t.Helper()
	g := glancetest.SharedT(t)
	region, err := glance.New(glance.Config{Name: "origin", Endpoint: g.URL})
	if err != nil {
		t.Fatal(err)
	}
	blobs, err := blob.Open(blob.Config{Dir: t.TempDir(), MaxSize: 1 << 30})
	if err != nil {
		t.Fatal(err)
	}
	cat, err := federation.New(federation.Config{Region: federation.RegionOf(region), Blobs: blobs})
	if err != nil {
		t.Fatal(err)
	}
	auth, err := policy.NewAuthenticator("trusted")
	if err != nil {
		t.Fatal(err)
	}
	srv, err := gateway.New(gateway.Config{ImageCache: cat.ImageCache()}, gateway.CatalogOf(cat), auth)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go srv.Serve(ln)
	t.Cleanup(func() {
		srv.Shutdown(t.Context())
		cat.Close()
		blobs.Close()
	})
	return &testServer{url: "http://" + ln.Addr().String(), srv: srv}
}

// errorMessage is the message of a JSON error body.
func errorMessage(b []byte) string {
	var doc struct{ Message string }
	json.Unmarshal(b, &doc)
	return doc.Message
}

// expect checks a response's status and, when msg is set, that its error
// message holds msg; a 5xx always fails.
func expect(t *testing.T, what string, status int, body []byte, wantStatus int, msg string) {
	t.Helper()
	if status >= 500 {
		t.Errorf("%s: %d %s: a client's request must never get a 5xx", what, status, body)
		return
	}
	if status != wantStatus {
		t.Errorf("%s: status %d, want %d; body %.300s", what, status, wantStatus, body)
		return
	}
	if msg != "" && !strings.Contains(errorMessage(body), msg) {
		t.Errorf("%s: message %q, want it to hold %q", what, errorMessage(body), msg)
	}
}

var (
	patchReadOnly = []string{"created_at", "updated_at", "status", "checksum", "size", "virtual_size",
		"direct_url", "self", "file", "schema", "id", "os_hash_algo", "os_hash_value"}
	patchReserved = []string{"location", "deleted", "deleted_at", "os_glance_import_task"}
)

// wantPatch is what Glance 25 answers the owning tenant for op on attr
// (asked of it for every pair, on a queued and an active image), but for
// the add of /owner, which Glance lets through when the image stays
// visible to the tenant and Spyglass refuses as Glance refuses a replace.
func wantPatch(attr, op string, active bool) (int, string) {
	switch op {
	case "move", "copy", "test":
		return 400, "Invalid operation: `" + op + "`. It must be one of the following: add, remove, replace."
	}
	for _, a := range patchReadOnly {
		if a == attr {
			return 403, "Attribute '" + attr + "' is read-only."
		}
	}
	for _, a := range patchReserved {
		if a == attr {
			return 403, "Attribute '" + attr + "' is reserved."
		}
	}
	if op == "remove" {
		return 403, "Property " + attr + " may not be removed."
	}
	switch attr {
	case "owner":
		return 403, "Owner can't be updated by non admin."
	case "disk_format", "container_format":
		if active {
			return 403, "Attribute " + attr + " can be only replaced for a queued image."
		}
	}
	return 200, ""
}

func checkPatchAttributes(t *testing.T, ts *testServer) {
	values := map[string]string{"owner": `"p2"`, "disk_format": `"qcow2"`, "container_format": `"ovf"`,
		"status": `"active"`, "id": `"11111111-1111-1111-1111-111111111111"`, "size": `1`, "virtual_size": `1`,
		"created_at": `"2020-01-01T00:00:00Z"`, "updated_at": `"2020-01-01T00:00:00Z"`, "deleted": `true`}
	attrs := append(append([]string{"owner", "disk_format", "container_format"}, patchReadOnly...), patchReserved...)
	for _, active := range []bool{false, true} {
		img := ts.json(t, p1, "POST", "/v2/images", map[string]any{"name": "pt", "disk_format": "raw", "container_format": "bare"}, 201)
		id := img["id"].(string)
		if active {
			resp, b := ts.do(t, p1, "PUT", "/v2/images/"+id+"/file", strings.NewReader("0123456789"), "Content-Type", "application/octet-stream")
			if resp.StatusCode != 204 {
				t.Fatalf("upload: %d %s", resp.StatusCode, b)
			}
		}
		for _, attr := range attrs {
			for _, op := range []string{"add", "replace", "remove", "move", "copy", "test"} {
				value, ok := values[attr]
				if !ok {
					value = `"x"`
				}
				var body string
				switch op {
				case "remove":
					body = `[{"op":"remove","path":"/` + attr + `"}]`
				case "move", "copy":
					body = `[{"op":"` + op + `","from":"/name","path":"/` + attr + `"}]`
				default:
					body = `[{"op":"` + op + `","path":"/` + attr + `","value":` + value + `}]`
				}
				resp, b := ts.do(t, p1, "PATCH", "/v2/images/"+id, strings.NewReader(body),
					"Content-Type", "application/openstack-images-v2.1-json-patch", "Accept", "application/json")
				status, msg := wantPatch(attr, op, active)
				expect(t, fmt.Sprintf("%s /%s (active %v)", op, attr, active), resp.StatusCode, b, status, msg)
			}
		}
		got := ts.json(t, admin, "GET", "/v2/images/"+id, nil, 200)
		if got["owner"] != "p1" {
			t.Errorf("owner of the tenant's image is %v after its patches, want p1", got["owner"])
		}
		if active && (got["disk_format"] != "raw" || got["container_format"] != "bare") {
			t.Errorf("formats of the active image are %v/%v after the tenant's patches, want raw/bare", got["disk_format"], got["container_format"])
		}
	}
}

// checkOwnerGiveAway: Glance 25 lets a tenant's add of /owner through
// whenever its database still shows the image to the tenant afterwards —
// a community image given to another project, any image given to nobody.
func checkOwnerGiveAway(t *testing.T, ts *testServer) {
	for _, vis := range []string{"private", "shared", "community"} {
		for _, value := range []string{`"p2"`, `null`, `""`, `"p1"`} {
			img := ts.json(t, p1, "POST", "/v2/images", map[string]any{"name": "give", "visibility": vis}, 201)
			id := img["id"].(string)
			resp, b := ts.do(t, p1, "PATCH", "/v2/images/"+id, strings.NewReader(`[{"op":"add","path":"/owner","value":`+value+`}]`),
				"Content-Type", "application/openstack-images-v2.1-json-patch", "Accept", "application/json")
			expect(t, "add /owner "+value+" on a "+vis+" image", resp.StatusCode, b, 403, "Owner can't be updated by non admin.")
			if got := ts.json(t, admin, "GET", "/v2/images/"+id, nil, 200)["owner"]; got != "p1" {
				t.Errorf("%s image: owner %v after the tenant's add of /owner %s, want p1", vis, got, value)
			}
		}
	}
	// An admin may.
	img := ts.json(t, p1, "POST", "/v2/images", map[string]any{"name": "adopt"}, 201)
	ts.json(t, admin, "PATCH", "/v2/images/"+img["id"].(string), []map[string]any{{"op": "add", "path": "/owner", "value": "p3"}}, 200,
		"Content-Type", "application/openstack-images-v2.1-json-patch")
}

func repeatParams(n int, f func(i int) string) string {
	parts := make([]string, n)
	for i := range parts {
		parts[i] = f(i)
	}
	return strings.Join(parts, "&")
}

// requestLine pads a listing so that "GET <path> HTTP/1.1\r\n" is n bytes.
func requestLine(n int) string {
	p := "/v2/images?x="
	return p + strings.Repeat("a", n-len("GET  HTTP/1.1\r\n")-len(p))
}

func checkListingBounds(t *testing.T, ts *testServer, region bool) {
	tags := func(n int) string { return repeatParams(n, func(i int) string { return fmt.Sprintf("tag=t%d", i) }) }
	props := func(n int) string { return repeatParams(n, func(i int) string { return fmt.Sprintf("p%d=v", i) }) }
	names := make([]string, 1500)
	for i := range names {
		names[i] = fmt.Sprintf("n%d", i)
	}
	for _, name := range []string{"a", "b", "c", "d"} {
		ts.json(t, p1, "POST", "/v2/images", map[string]any{"name": name, "min_disk": len(name)}, 201)
	}
	first := ts.json(t, p1, "GET", "/v2/images?sort=name:asc", nil, 200)["images"].([]any)
	marker := first[0].(map[string]any)["id"].(string)

	lineStatus, lineMsg := 200, ""
	if region {
		// What Spyglass would send on spells out limit, member_status,
		// os_hidden and the tie-break sort keys: past Glance's 8192.
		lineStatus, lineMsg = 400, "too long to send on to region origin"
	}
	tooMany := func(n int) string {
		return fmt.Sprintf("Too many tag and property filters: %d. A listing takes at most 60.", n)
	}
	for _, c := range []struct {
		name, query string
		status      int
		msg         string
	}{
		// Glance: 200 up to 63 tags, 500 from 64 ("at most 64 tables in a
		// join"), 414 from 1000 (the request line).
		{"60 tags", tags(60), 200, ""},
		{"60 tags, one of them twice", tags(60) + "&tag=t7", 200, ""},
		{"61 tags", tags(61), 400, tooMany(61)},
		{"64 tags", tags(64), 400, tooMany(64)},
		{"700 tags", tags(700), 400, tooMany(700)},
		{"1000 tags", tags(1000), 414, ""},
		{"60 property filters", props(60), 200, ""},
		{"61 property filters", props(61), 400, tooMany(61)},
		{"1000 property filters", props(1000), 400, tooMany(1000)},
		{"30 tags and 31 property filters", tags(30) + "&" + props(31), 400, tooMany(61)},
		{"in: 1500 names", "name=in:" + strings.Join(names, ","), 200, ""},
		{"in: 1500 names, 5 filters", "name=in:" + strings.Join(names[:300], ",") + "&id=in:" + strings.Join(names[:300], ",") +
			"&status=in:" + strings.Join(names[:300], ",") + "&disk_format=in:" + strings.Join(names[:300], ",") +
			"&container_format=in:" + strings.Join(names[:300], ","), 200, ""},
		// Glance takes minutes and gigabytes for this one: its marker
		// predicate grows with the square of the sort keys.
		{"sort on name 1000 times, marker", "sort=" + strings.TrimSuffix(strings.Repeat("name,", 1000), ",") + "&marker=" + marker, 200, ""},
		{"sort_key name 500 times, marker", repeatParams(500, func(int) string { return "sort_key=name" }) + "&sort_dir=asc&marker=" + marker, 200, ""},
	} {
		resp, b := ts.do(t, p1, "GET", "/v2/images?"+c.query, nil, "Accept", "application/json")
		expect(t, c.name, resp.StatusCode, b, c.status, c.msg)
	}

	// Repeated sort keys order as the first of them: the same page as
	// without them.
	for _, c := range [][2]string{
		{"sort=name:asc,status:desc", "sort=name:asc," + strings.Repeat("name:desc,", 300) + "status:desc,name:asc"},
		// Several directions: the tie-breaks are desc.
		{"sort_key=name&sort_key=created_at&sort_key=id&sort_dir=asc&sort_dir=desc&sort_dir=desc",
			"sort_key=name&sort_key=name&sort_key=name&sort_dir=asc&sort_dir=desc&sort_dir=asc"},
	} {
		want := ts.json(t, p1, "GET", "/v2/images?"+c[0]+"&marker="+marker, nil, 200)["images"]
		got := ts.json(t, p1, "GET", "/v2/images?"+c[1]+"&marker="+marker, nil, 200)["images"]
		if fmt.Sprint(ids(got)) != fmt.Sprint(ids(want)) {
			t.Errorf("%s: %v, want %v as for %s", c[1][:40], ids(got), ids(want), c[0])
		}
	}

	// Glance's request line: eventlet answers 414, empty, from 8192 bytes.
	resp, b := ts.do(t, p1, "GET", requestLine(8191), nil, "Accept", "application/json")
	expect(t, "request line 8191", resp.StatusCode, b, lineStatus, lineMsg)
	for _, n := range []int{8192, 9000, 16000} {
		resp, b := ts.do(t, p1, "GET", requestLine(n), nil, "Accept", "application/json")
		expect(t, fmt.Sprintf("request line %d", n), resp.StatusCode, b, 414, "")
		if len(b) != 0 {
			t.Errorf("request line %d: body %.100q, want none (eventlet's 414)", n, b)
		}
	}
}

func ids(v any) []string {
	var out []string
	list, _ := v.([]any)
	for _, img := range list {
		out = append(out, img.(map[string]any)["id"].(string))
	}
	return out
}

// checkInvalidUnicode: Glance answers 400 "Malformed JSON in request
// body." to invalid UTF-8 in every JSON body, and 500 to a lone UTF-16
// surrogate escape; Spyglass answers 400 to both, and stores no
// replacement character the client never sent.
func checkInvalidUnicode(t *testing.T, ts *testServer) {
	img := ts.json(t, p1, "POST", "/v2/images", map[string]any{"name": "u", "visibility": "shared"}, 201)
	id := img["id"].(string)
	const patchCT = "application/openstack-images-v2.1-json-patch"
	for _, c := range []struct {
		name, method, path, ct, body string
		who                          as
	}{
		{"create", "POST", "/v2/images", "application/json", "{\"name\":\"a\xff\xfeb\"}", p1},
		{"create, overlong key", "POST", "/v2/images", "application/json", "{\"k\xc0\xaf\":\"v\"}", p1},
		{"create, encoded surrogate", "POST", "/v2/images", "application/json", "{\"name\":\"\xed\xa0\x80\"}", p1},
		{"create, lone high surrogate", "POST", "/v2/images", "application/json", `{"name":"\ud800"}`, p1},
		{"create, lone low surrogate", "POST", "/v2/images", "application/json", `{"name":"a\uDC00b"}`, p1},
		{"create, high then not low", "POST", "/v2/images", "application/json", `{"name":"\ud800\u0041"}`, p1},
		{"patch", "PATCH", "/v2/images/" + id, patchCT, "[{\"op\":\"replace\",\"path\":\"/name\",\"value\":\"a\xffb\"}]", p1},
		{"patch, lone surrogate", "PATCH", "/v2/images/" + id, patchCT, `[{"op":"replace","path":"/name","value":"\udc00"}]`, p1},
		{"patch, surrogate in path", "PATCH", "/v2/images/" + id, patchCT, `[{"op":"add","path":"/p\ud800","value":"x"}]`, p1},
		{"member", "POST", "/v2/images/" + id + "/members", "application/json", "{\"member\":\"p\xff2\"}", p1},
		{"member, lone surrogate", "POST", "/v2/images/" + id + "/members", "application/json", `{"member":"\ud800x"}`, p1},
		{"member status", "PUT", "/v2/images/" + id + "/members/p2", "application/json", "{\"status\":\"accepted\xff\"}", p1},
		{"task", "POST", "/v2/tasks", "application/json", "{\"type\":\"import\",\"input\":{\"x\":\"\xff\"}}", admin},
		{"import", "POST", "/v2/images/" + id + "/import", "application/json", "{\"method\":{\"name\":\"glance-direct\xff\"}}", p1},
	} {
		resp, b := ts.do(t, c.who, c.method, c.path, strings.NewReader(c.body), "Content-Type", c.ct, "Accept", "application/json")
		expect(t, c.name, resp.StatusCode, b, 400, "Malformed JSON in request body.")
	}
	if got := ts.json(t, p1, "GET", "/v2/images/"+id, nil, 200)["name"]; got != "u" {
		t.Errorf("name %q after the refused patches, want u", got)
	}
	// Escapes that are text: an escaped backslash before "ud800", and a
	// replacement character the client did send. (A surrogate pair is
	// always a 4-byte character, which Glance refuses in names and
	// properties: the unit tests of the check take pairs.)
	created := ts.json(t, p1, "POST", "/v2/images", json.RawMessage(`{"name":"\u00e9\\ud800","k":"\ufffd"}`), 201)
	if got, want := created["name"], `é\ud800`; got != want {
		t.Errorf("name %q, want %q", got, want)
	}
	if got, want := created["k"], "\uFFFD"; got != want {
		t.Errorf("k %q, want %q", got, want)
	}
}

// checkDotSegments: Glance routes "." and ".." as the names they are
// (WSGI decodes %2e, and nothing removes dot-segments), so none of these
// reaches a resource; fasthttp's normalized path would.
func checkDotSegments(t *testing.T, ts *testServer) {
	img := ts.json(t, p1, "POST", "/v2/images", map[string]any{"name": "dots"}, 201)
	id := img["id"].(string)
	for _, c := range []struct {
		path   string
		status int
	}{
		{"/v2/schemas/../images", 404},
		{"/v2/schemas/%2e%2e/images", 404},
		{"/v2/schemas/%2E%2e/images", 404},
		{"/v2/schemas/.%2e/images", 404},
		{"/v2/./schemas/image", 404},
		{"/v2/schemas/%2e/image", 404},
		{"/v2/../v2/images", 404},
		{"/v2/images/" + id + "/../" + id, 404},
		{"/v2/images/" + id + "/%2e%2e/" + id, 404},
		{"/v2/images/..", 404},
		{"/v2/schemas/image/..", 404},
		{"/./v2/images", 300},
		{"/%2e%2e/v2/images", 300},
		// Not dot-segments: these are Glance's too.
		{"/v2/schemas/image", 200},
		{"/v2/schemas%2fimage", 200},
		{"/v2/images/" + id, 200},
	} {
		resp, b := ts.do(t, p1, "GET", c.path, nil, "Accept", "application/json")
		expect(t, "GET "+c.path, resp.StatusCode, b, c.status, "")
	}
}

// checkVersionPrefixes: Glance 25 answered GET /<prefix>/images, with and
// without image_cache_dir, with 200 for exactly the versions its document
// lists and 300 (the document) for everything else. Spyglass lists
// Glance's with image_cache_dir plus v2.17 and v2.18 when it serves the
// cache API, and Glance's without image_cache_dir when it does not.
func checkVersionPrefixes(t *testing.T, ts *testServer, servesCacheAPI bool) {
	served := map[string]bool{"v2": true}
	for _, v := range []string{"v2.0", "v2.1", "v2.2", "v2.3", "v2.4", "v2.5", "v2.6", "v2.7", "v2.8", "v2.9",
		"v2.10", "v2.11", "v2.12", "v2.13", "v2.15"} {
		served[v] = true
	}
	if servesCacheAPI {
		for _, v := range []string{"v2.14", "v2.16", "v2.17", "v2.18"} {
			served[v] = true
		}
	}
	_, doc := ts.do(t, anonymous, "GET", "/versions", nil)
	var listed struct{ Versions []struct{ ID string } }
	if err := json.Unmarshal(doc, &listed); err != nil {
		t.Fatal(err)
	}
	if got, want := len(listed.Versions)+1, len(served); got != want { // +1: "v2"
		t.Errorf("versions document lists %d versions, want %d: %s", got-1, want-1, doc)
	}
	for _, v := range listed.Versions {
		if !served[v.ID] {
			t.Errorf("versions document lists %s, which is not served", v.ID)
		}
	}
	prefixes := []string{"v1", "v1.0", "v1.1", "v2", "v3", "v2.01", "V2", "v2.", "v2.99"}
	for i := 0; i <= 20; i++ {
		prefixes = append(prefixes, fmt.Sprintf("v2.%d", i))
	}
	for _, v := range prefixes {
		want := 300
		if served[v] {
			want = 200
		}
		resp, b := ts.do(t, p1, "GET", "/"+v+"/images", nil, "Accept", "application/json")
		expect(t, "GET /"+v+"/images", resp.StatusCode, b, want, "")
		if want == 300 && !bytes.Equal(b, doc) {
			t.Errorf("GET /%s/images: 300 with %.200s, want the versions document", v, b)
		}
		resp, b = ts.do(t, p1, "GET", "/images", nil, "Accept", "application/vnd.openstack.images-"+v)
		expect(t, "Accept "+v, resp.StatusCode, b, want, "")
	}
}

var anonymous = as{}
