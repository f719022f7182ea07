package gateway_test

import (
	"encoding/json"
	"fmt"
	"path/filepath"
	"strings"
	"testing"

	"github.com/spyglass-gateway/spyglass/backends/glance"
	"github.com/spyglass-gateway/spyglass/backends/glance/glancetest"
	"github.com/spyglass-gateway/spyglass/backends/local"
	"github.com/spyglass-gateway/spyglass/federation"
	"github.com/spyglass-gateway/spyglass/gateway"
	"github.com/spyglass-gateway/spyglass/policy"
)

// The v1 members. Queens' glance/api/v1/members.py (API) and
// glance/registry/api/v1/members.py (registry) at queens-eol.

// v1Member is one entry of a v1 members or shared-images list.
type v1Member struct {
	MemberID string `json:"member_id"`
	ImageID  string `json:"image_id"`
	CanShare bool   `json:"can_share"`
}

// createV1 reserves an image through v1 as who (no is_public: shared).
func createV1(t *testing.T, ts *testServer, who as, hdr ...string) string {
	t.Helper()
	resp, body := ts.do(t, who, "POST", "/v1/images", nil, append([]string{"x-image-meta-name", "members"}, hdr...)...)
	if resp.StatusCode != 201 {
		t.Fatalf("POST /v1/images: %d %s", resp.StatusCode, body)
	}
	return v1Body(t, body)["id"].(string)
}

// v1Members lists the image's members through v1 as who.
func v1Members(t *testing.T, ts *testServer, who as, id string) map[string]bool {
	t.Helper()
	resp, body := ts.do(t, who, "GET", "/v1/images/"+id+"/members", nil)
	if resp.StatusCode != 200 {
		t.Fatalf("GET v1 members as %s: %d %s", who.project, resp.StatusCode, body)
	}
	var v struct{ Members []v1Member }
	if err := json.Unmarshal(body, &v); err != nil {
		t.Fatalf("v1 members: %q: %v", body, err)
	}
	out := map[string]bool{}
	for _, m := range v.Members {
		out[m.MemberID] = m.CanShare
	}
	return out
}

// v2Statuses lists the image's members through v2 as who: member → status.
func v2Statuses(t *testing.T, ts *testServer, who as, id string) map[string]string {
	t.Helper()
	l := ts.json(t, who, "GET", "/v2/images/"+id+"/members", nil, 200)
	out := map[string]string{}
	for _, m := range l["members"].([]any) {
		m := m.(map[string]any)
		out[m["member_id"].(string)] = m["status"].(string)
	}
	return out
}

// sharedWith is GET /v1/shared-images/{member} as who: image → can_share.
func sharedWith(t *testing.T, ts *testServer, who as, member string) map[string]bool {
	t.Helper()
	resp, body := ts.do(t, who, "GET", "/v1/shared-images/"+member, nil)
	if resp.StatusCode != 200 {
		t.Fatalf("GET shared-images/%s as %s: %d %s", member, who.project, resp.StatusCode, body)
	}
	var v struct {
		SharedImages []v1Member `json:"shared_images"`
	}
	if err := json.Unmarshal(body, &v); err != nil {
		t.Fatalf("shared images: %q: %v", body, err)
	}
	out := map[string]bool{}
	for _, m := range v.SharedImages {
		out[m.ImageID] = m.CanShare
	}
	return out
}

func mustStatus(t *testing.T, ts *testServer, who as, method, path, body string, want int, contains string) {
	t.Helper()
	var hdr []string
	if body != "" {
		hdr = []string{"Content-Type", "application/json"}
	}
	resp, got := ts.do(t, who, method, path, strings.NewReader(body), hdr...)
	if resp.StatusCode != want || !strings.Contains(string(got), contains) {
		t.Fatalf("%s %s %s as %s: %d %s; want %d with %q", method, path, body, who.project, resp.StatusCode, got, want, contains)
	}
}

func sameMap[V comparable](t *testing.T, what string, got, want map[string]V) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%s: %v, want %v", what, got, want)
	}
	for k, v := range want {
		if g, ok := got[k]; !ok || g != v {
			t.Fatalf("%s: %v, want %v", what, got, want)
		}
	}
}

// v1MembersScenario: members made through one version are the same
// members through the other, and v1's registry rules hold. grants: the
// region keeps can_share (the embedded store); otherwise granting it is a
// 400 naming the region.
func v1MembersScenario(t *testing.T, ts *testServer, grants bool) {
	id := createV1(t, ts, p1)
	base := "/v1/images/" + id + "/members"

	// v1 → v2: the registry's update adds a member with the db's default
	// status, pending, and can_share false.
	mustStatus(t, ts, p1, "PUT", base+"/p2", "", 204, "")
	sameMap(t, "v1 list", v1Members(t, ts, p1, id), map[string]bool{"p2": false})
	sameMap(t, "v2 list", v2Statuses(t, ts, p1, id), map[string]string{"p2": "pending"})
	// PUT of an existing member with no body changes nothing.
	mustStatus(t, ts, p1, "PUT", base+"/p2", "", 204, "")
	ts.json(t, p2, "PUT", "/v2/images/"+id+"/members/p2", map[string]any{"status": "accepted"}, 200)

	// v2 → v1: a member added through v2 reads through v1 with can_share
	// false; a member sees only its own membership (image_member_find).
	ts.json(t, p1, "POST", "/v2/images/"+id+"/members", map[string]any{"member": "p3"}, 200)
	sameMap(t, "v1 list", v1Members(t, ts, p1, id), map[string]bool{"p2": false, "p3": false})
	sameMap(t, "v1 list as a member", v1Members(t, ts, p2, id), map[string]bool{"p2": false})

	// can_share.
	if !grants {
		mustStatus(t, ts, p1, "PUT", base+"/p3", `{"member": {"can_share": true}}`, 400, "can_share cannot be granted on an image of region origin")
		mustStatus(t, ts, p1, "PUT", base, `{"memberships": [{"member_id": "p3", "can_share": true}]}`, 400, "can_share cannot be granted")
		// Refused before anything changed.
		sameMap(t, "after refusals", v1Members(t, ts, p1, id), map[string]bool{"p2": false, "p3": false})
		mustStatus(t, ts, p1, "PUT", base+"/p3", `{"member": {"can_share": false}}`, 204, "")
	} else {
		mustStatus(t, ts, p1, "PUT", base+"/p3", `{"member": {"can_share": true}}`, 204, "")
		// Python's bool(): "false" is true.
		mustStatus(t, ts, p1, "PUT", base+"/p2", `{"member": {"can_share": "false"}}`, 204, "")
		sameMap(t, "granted", v1Members(t, ts, p1, id), map[string]bool{"p2": true, "p3": true})
		// The statuses are v2's and stay (a v2 status change keeps the grant).
		sameMap(t, "v2 after grants", v2Statuses(t, ts, p1, id), map[string]string{"p2": "accepted", "p3": "pending"})
		ts.json(t, p3, "PUT", "/v2/images/"+id+"/members/p3", map[string]any{"status": "accepted"}, 200)
		sameMap(t, "grant kept", v1Members(t, ts, p3, id), map[string]bool{"p3": true})
		mustStatus(t, ts, p1, "PUT", base+"/p2", `{"member": {"can_share": 0}}`, 204, "")
		// is_image_sharable: a member with can_share may share it on.
		mustStatus(t, ts, p3, "PUT", base+"/p4", "", 204, "")
		sameMap(t, "shared on", v1Members(t, ts, p1, id), map[string]bool{"p2": false, "p3": true, "p4": false})
	}
	// A member without can_share may not: the registry's 403, which the
	// API answered as a 404 carrying it.
	mustStatus(t, ts, p2, "PUT", base+"/p5", "", 404, "No permission to share that image")
	mustStatus(t, ts, p2, "PUT", base, `{"memberships": []}`, 404, "403 Forbidden")
	mustStatus(t, ts, p2, "DELETE", base+"/p3", "", 404, "No permission to share that image")

	// /v1/shared-images: the member's own, the owner's view of its image,
	// and nothing for a stranger.
	if got, ok := sharedWith(t, ts, p2, "p2")[id]; !ok || got {
		t.Fatalf("shared-images/p2 as p2: %s %v %v, want listed, can_share false", id, ok, got)
	}
	if _, ok := sharedWith(t, ts, p1, "p3")[id]; !ok {
		t.Fatalf("shared-images/p3 as the owner lacks %s", id)
	}
	if got, ok := sharedWith(t, ts, p1, "p3")[id]; ok && got != grants {
		t.Fatalf("shared-images/p3 can_share %v, want %v", got, grants)
	}
	if _, ok := sharedWith(t, ts, p5, "p3")[id]; ok {
		t.Fatalf("shared-images/p3 as a stranger shows %s", id)
	}
	if _, ok := sharedWith(t, ts, admin, "p2")[id]; !ok {
		t.Fatalf("shared-images/p2 as an admin lacks %s", id)
	}

	// Replace: the members not listed go, those kept keep their status.
	mustStatus(t, ts, p1, "PUT", base, `{"memberships": [{"member_id": "p2"}, {"member_id": "p5", "can_share": false}]}`, 204, "")
	sameMap(t, "replaced", v1Members(t, ts, p1, id), map[string]bool{"p2": false, "p5": false})
	sameMap(t, "replaced (v2)", v2Statuses(t, ts, p1, id), map[string]string{"p2": "accepted", "p5": "pending"})
	// An object without "memberships" is one membership (the registry
	// client's replace_members).
	mustStatus(t, ts, p1, "PUT", base, `{"member_id": "p5"}`, 204, "")
	sameMap(t, "replaced by one", v1Members(t, ts, p1, id), map[string]bool{"p5": false})

	// Delete.
	mustStatus(t, ts, p1, "DELETE", base+"/p5", "", 204, "")
	mustStatus(t, ts, p1, "DELETE", base+"/p5", "", 404, "Membership could not be found.")
	mustStatus(t, ts, p1, "GET", "/v2/images/"+id+"/members/p5", "", 404, "")
	sameMap(t, "emptied", v1Members(t, ts, p1, id), map[string]bool{})
}

// v1MemberErrors: what the v1 API refused, and how.
func v1MemberErrors(t *testing.T, ts *testServer) {
	id := createV1(t, ts, p1)
	pub := createV1(t, ts, admin, "x-image-meta-is_public", "true")
	base := "/v1/images/" + id + "/members"
	missing := "/v1/images/" + newID() + "/members"
	for _, c := range []struct {
		name         string
		who          as
		method, path string
		body         string
		status       int
		contains     string
	}{
		{"list, no image", p1, "GET", missing, "", 404, "not found"},
		{"share, no image", p1, "PUT", missing + "/p2", "", 404, "not found"},
		{"replace, no image", p1, "PUT", missing, `{"memberships": []}`, 404, "not found"},
		{"delete, no image", p1, "DELETE", missing + "/p2", "", 404, "not found"},
		{"an image the caller cannot see", p2, "PUT", base + "/p2", "", 404, "Image with identifier " + id + " not found"},
		{"no member", p1, "DELETE", base + "/nobody", "", 404, "Membership could not be found."},
		{"show is not routed", p1, "GET", base + "/p2", "", 405, "The method GET is not allowed"},
		{"POST to the list", p1, "POST", base, "", 405, ""},
		{"malformed JSON", p1, "PUT", base, `{"memberships": [`, 400, "Malformed JSON in request body."},
		{"malformed JSON (one)", p1, "PUT", base + "/p2", `{`, 400, "Malformed JSON in request body."},
		{"no member_id", p1, "PUT", base, `{"memberships": [{"can_share": true}]}`, 400, "Invalid membership association: 'member_id'"},
		{"image_memberships", p1, "PUT", base, `{"image_memberships": {"member_id": "p2"}}`, 400, "Invalid membership association: 'member_id'"},
		{"memberships a number", p1, "PUT", base, `{"memberships": 5}`, 400, "Invalid membership association"},
		{"membership a string", p1, "PUT", base, `{"memberships": ["p2"]}`, 400, "Invalid membership association"},
		{"member_id null", p1, "PUT", base, `{"memberships": [{"member_id": null}]}`, 400, "Invalid membership association"},
		{"no body to replace with", p1, "PUT", base, "", 400, "Invalid membership association: 'memberships'"},
		{"member a string naming can_share", p1, "PUT", base + "/p2", `{"member": "can_share"}`, 400, "Invalid membership association"},
		{"member null", p1, "PUT", base + "/p2", `{"member": null}`, 400, "Invalid membership association"},
		{"member_id too long", p1, "PUT", base + "/" + strings.Repeat("m", 256), "", 400, "member_id"},
		{"a public image has no members", admin, "PUT", "/v1/images/" + pub + "/members/p2", "", 403, "Only shared images have members."},
		{"nor a list of them", admin, "PUT", "/v1/images/" + pub + "/members", `{"memberships": [{"member_id": "p2"}]}`, 403, "Only shared images have members."},
	} {
		t.Run(c.name, func(t *testing.T) { mustStatus(t, ts, c.who, c.method, c.path, c.body, c.status, c.contains) })
	}
	// _check_can_access_image_members: no project and not an admin.
	resp, body := ts.do(t, as{}, "PUT", base+"/p2", nil, "X-Identity-Status", "Confirmed", "X-Roles", "member", "X-User-Id", "u")
	if resp.StatusCode != 401 || !strings.Contains(string(body), "No authenticated user") {
		t.Fatalf("no project: %d %s", resp.StatusCode, body)
	}
	// Bodies Queens ignored.
	for _, b := range []string{`{}`, `[]`, `"x"`, `{"member": {}}`, `{"member": "x"}`, `{"foo": 1}`, `null`, `0`} {
		mustStatus(t, ts, p1, "PUT", base+"/p2", b, 204, "")
	}
	sameMap(t, "after ignored bodies", v1Members(t, ts, p1, id), map[string]bool{"p2": false})
	// A public image lists no members.
	if got := v1Members(t, ts, p1, pub); len(got) != 0 {
		t.Fatalf("public image's members: %v", got)
	}
	// The Allow of Queens' reject_method_resource.
	resp, _ = ts.do(t, p1, "PATCH", base+"/p2", nil)
	if got, want := resp.Header.Get("Allow"), "GET, PUT, DELETE"; resp.StatusCode != 405 || got != want {
		t.Fatalf("PATCH one member: %d Allow %q, want 405 %q", resp.StatusCode, got, want)
	}
}

var p5 = as{"p5", "member"}

func newID() string {
	var b [16]byte
	for i := range b {
		b[i] = byte(i * 7)
	}
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
}

// TestV1Members: the scenario and the refusals on the embedded store,
// on the embedded store behind the federation layer (spyglass serve's
// wiring), and on a real Glance region, which keeps no can_share.
func TestV1Members(t *testing.T) {
	for _, topo := range []struct {
		name   string
		grants bool
		start  func(t *testing.T) *testServer
	}{
		{"embedded", true, func(t *testing.T) *testServer {
			return startServerWith(t, "trusted", gateway.Config{EnableV1: true})
		}},
		{"federated embedded", true, func(t *testing.T) *testServer {
			store := startServerWith(t, "trusted", gateway.Config{}).store
			cat, err := federation.New(federation.Config{Regions: []federation.RegionConfig{{Name: "local", Region: federation.RegionOf(store)}}})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(cat.Close)
			return serveData(t, gateway.Config{EnableV1: true}, cat).testServer
		}},
		{"glance region", false, func(t *testing.T) *testServer {
			g := glancetest.SharedT(t)
			return startGlanceRegion(g.URL, filepath.Join(g.Dir, "api.log"), false, 0)(t, gateway.Config{EnableV1: true}).testServer
		}},
	} {
		t.Run(topo.name, func(t *testing.T) {
			ts := topo.start(t)
			t.Run("scenario", func(t *testing.T) { v1MembersScenario(t, ts, topo.grants) })
			t.Run("errors", func(t *testing.T) { v1MemberErrors(t, ts) })
		})
	}
}

// TestV1MembersQuota: the v1 API's 413 (_enforce_image_member_quota), on
// the list it would replace with and on one member past the limit.
func TestV1MembersQuota(t *testing.T) {
	ts := startServerWith(t, "trusted", gateway.Config{EnableV1: true})
	id := createV1(t, ts, p1)
	base := "/v1/images/" + id + "/members"
	list := func(n int) string {
		var ms []map[string]any
		for i := range n {
			ms = append(ms, map[string]any{"member_id": fmt.Sprintf("m%d", i)})
		}
		return mustJSON(map[string]any{"memberships": ms})
	}
	mustStatus(t, ts, p1, "PUT", base, list(129), 413, "Attempted: 129, Maximum: 128")
	if got := v1Members(t, ts, p1, id); len(got) != 0 {
		t.Fatalf("a refused replacement left %d members", len(got))
	}
	mustStatus(t, ts, p1, "PUT", base, list(128), 204, "")
	mustStatus(t, ts, p1, "PUT", base+"/fail_me", "", 413, "Attempted: 129, Maximum: 128")
	// An existing member is not a new one.
	mustStatus(t, ts, p1, "PUT", base+"/m0", "", 204, "")
}

// TestV1MembersCurrentRules: under the current (secure RBAC) defaults the
// owner changes its members through v1 (v2's add_member), a member does
// not (the registry's check, then add_member's), and anyone may list its
// own memberships.
func TestV1MembersCurrentRules(t *testing.T) {
	ts := startServerWith(t, "trusted", gateway.Config{EnableV1: true, Policy: policy.MustNew(policy.Options{Defaults: policy.Current})})
	p1, p2, p3 := as{"p1", "reader,member"}, as{"p2", "reader,member"}, as{"p3", "reader,member"}
	id := createV1(t, ts, p1)
	base := "/v1/images/" + id + "/members"
	mustStatus(t, ts, p1, "PUT", base+"/p2", "", 204, "")
	mustStatus(t, ts, p1, "PUT", base+"/p3", `{"member": {"can_share": true}}`, 204, "")
	sameMap(t, "owner's list", v1Members(t, ts, p1, id), map[string]bool{"p2": false, "p3": true})
	sameMap(t, "member's list", v1Members(t, ts, p2, id), map[string]bool{"p2": false})
	// p3 may share by the registry's rule, not by add_member's.
	mustStatus(t, ts, p3, "PUT", base+"/p4", "", 403, "")
	mustStatus(t, ts, p1, "DELETE", base+"/p2", "", 204, "")
	if _, ok := sharedWith(t, ts, p3, "p3")[id]; !ok {
		t.Fatalf("shared-images/p3 lacks %s", id)
	}
}

// TestV1MembersTwoRegions: one catalog over the embedded store and a
// Glance region: /v1/shared-images gathers both regions' memberships, and
// can_share is kept where the image's region keeps it.
func TestV1MembersTwoRegions(t *testing.T) {
	g := glancetest.SharedT(t)
	origin, err := glance.New(glance.Config{Name: "origin", Endpoint: g.URL})
	if err != nil {
		t.Fatal(err)
	}
	store := startServerWith(t, "trusted", gateway.Config{}).store
	cat, err := federation.New(federation.Config{
		Regions: []federation.RegionConfig{
			{Name: "local", Region: federation.RegionOf(store)},
			{Name: "origin", Region: federation.RegionOf(origin)},
		},
		ProjectRegions: map[string]string{"p8": "origin"},
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cat.Close)
	ts := serveData(t, gateway.Config{EnableV1: true}, cat).testServer
	p7, p8 := as{"p7", "member"}, as{"p8", "member"}

	local := createV1(t, ts, p1)
	remote := createV1(t, ts, p8)
	// (p8's image is in the Glance region: granting can_share on it is
	// the 400 naming the region, below.)
	mustStatus(t, ts, p1, "PUT", "/v1/images/"+local+"/members/p7", `{"member": {"can_share": true}}`, 204, "")
	mustStatus(t, ts, p8, "PUT", "/v1/images/"+remote+"/members/p7", `{"member": {"can_share": true}}`, 400, "region origin")
	mustStatus(t, ts, p8, "PUT", "/v1/images/"+remote+"/members/p7", "", 204, "")
	for _, who := range []as{p7, admin} {
		got := sharedWith(t, ts, who, "p7")
		if cs, ok := got[local]; !ok || !cs {
			t.Errorf("shared-images/p7 as %s: local image %v %v, want can_share true", who.project, ok, cs)
		}
		if cs, ok := got[remote]; !ok || cs {
			t.Errorf("shared-images/p7 as %s: remote image %v %v, want can_share false", who.project, ok, cs)
		}
	}
	// The owner of one sees that one only.
	got := sharedWith(t, ts, p8, "p7")
	if _, ok := got[local]; ok {
		t.Errorf("shared-images/p7 as p8 shows p1's image")
	}
	if _, ok := got[remote]; !ok {
		t.Errorf("shared-images/p7 as p8 lacks its own image")
	}
}

// Both catalogs serve the v1 members.
var (
	_ gateway.V1Members = (*local.Store)(nil)
	_ gateway.V1Members = (*federation.Catalog)(nil)
)
