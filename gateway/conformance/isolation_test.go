package conformance

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/spyglass-gateway/spyglass/backends"
	"github.com/spyglass-gateway/spyglass/backends/glance/glancetest"
	"github.com/spyglass-gateway/spyglass/policy"
)

// TestIsolation is the isolation property (issue 3): random images across
// projects, visibilities and memberships, random callers; for every
// endpoint, Spyglass answers what a real Glance in trusted mode answers
// given the same setup, and no caller ever sees the metadata or the bytes
// of an image policy.Visible hides from it. Both policy modes;
// ISOLATION_SEED=n replays a run.
func TestIsolation(t *testing.T) {
	if err := glancetest.Available(); err != nil {
		t.Fatalf("the isolation test needs a real Glance: %v", err)
	}
	seed := uint64(time.Now().UnixNano())
	if s := os.Getenv("ISOLATION_SEED"); s != "" {
		seed, _ = strconv.ParseUint(s, 10, 64)
	}
	t.Logf("ISOLATION_SEED=%d", seed)
	for _, mode := range policyModes(t) {
		t.Run(mode, func(t *testing.T) { isolation(t, mode, seed) })
	}
}

type isoCaller struct {
	name, project, roles string
}

func (c isoCaller) headers() map[string]string {
	h := caller(c.project, "u-"+c.name, c.roles)
	return h
}

// identity is the caller as Glance's context has it (is_admin from
// context_is_admin: role:admin).
func (c isoCaller) identity() *policy.Identity {
	id := &policy.Identity{ProjectID: c.project}
	for _, r := range strings.Split(c.roles, ",") {
		if r != "" {
			id.Roles = append(id.Roles, r)
		}
	}
	id.IsAdmin = id.HasRole("admin")
	return id
}

type isoImage struct {
	id, owner, visibility string
	data                  bool
	members               map[string]string // project → status
}

func (im *isoImage) model() *backends.Image {
	o := im.owner
	return &backends.Image{ID: im.id, Owner: &o, Visibility: im.visibility}
}

// visible is policy.Visible for the caller with its membership, if any.
func (im *isoImage) visible(c isoCaller, status string) bool {
	var m *backends.Member
	if st, ok := im.members[c.project]; ok {
		m = &backends.Member{ImageID: im.id, MemberID: c.project, Status: st}
	}
	return policy.Visible(c.identity(), im.model(), m, status)
}

func isolation(t *testing.T, mode string, seed uint64) {
	rng := rand.New(rand.NewPCG(seed, 0x15014710))
	opts := glancetest.Options{NewDefaults: mode == "current"}
	g := glancetest.StartTWith(t, opts)
	servers := []*target{newTarget("glance", g.URL), newTarget("spyglass", spyglassUnderTest(t, mode, opts))}

	admin := isoCaller{"admin", "padmin", "admin,member,reader"}
	projects := []string{"p1", "p2", "p3"}
	callers := []isoCaller{
		admin,
		{"p1", "p1", "member,reader"}, {"p2", "p2", "member,reader"}, {"p3", "p3", "member,reader"},
		{"p1-reader", "p1", "reader"}, {"p2-member-only", "p2", "member"},
		{"stranger", "p4", "member,reader"}, {"admin-only", "padmin", "admin"},
	}
	visibilities := []string{"private", "shared", "public", "community"}

	// do sends one request to both servers and fails on any difference of
	// status (and, for a 200, of the image ids in the body).
	do := func(c isoCaller, method, path, body string, extra ...string) (int, []byte) {
		t.Helper()
		h := c.headers()
		if body != "" {
			h["Content-Type"] = "application/json"
		}
		for i := 0; i+1 < len(extra); i += 2 {
			h[extra[i]] = extra[i+1]
		}
		var statuses [2]int
		var bodies [2][]byte
		for i, s := range servers {
			r, err := s.send(method, path, h, body, false)
			if err != nil {
				t.Fatalf("%s %s %s as %s: %v", s.name, method, path, c.name, err)
			}
			statuses[i], bodies[i] = r.status, r.body
		}
		if statuses[0] != statuses[1] {
			t.Errorf("%s %s as %s: glance %d, spyglass %d\n  glance:   %s\n  spyglass: %s", method, path, c.name,
				statuses[0], statuses[1], clip(string(bodies[0]), 300), clip(string(bodies[1]), 300))
		}
		if statuses[1] >= 500 {
			t.Errorf("%s %s as %s: spyglass %d", method, path, c.name, statuses[1])
		}
		return statuses[1], bodies[1]
	}
	uuid := func() string {
		var b [16]byte
		for i := range b {
			b[i] = byte(rng.IntN(256))
		}
		b[6] = b[6]&0x0f | 0x40
		b[8] = b[8]&0x3f | 0x80
		return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
	}

	// The setup, made by the admin (and members answering their
	// invitations), the same on both servers.
	var images []*isoImage
	for i := 0; i < 10; i++ {
		im := &isoImage{id: uuid(), owner: projects[rng.IntN(3)], visibility: visibilities[rng.IntN(4)], members: map[string]string{}}
		if i < 4 { // every visibility at least once
			im.visibility = visibilities[i]
		}
		images = append(images, im)
		body := fmt.Sprintf(`{"id": %q, "name": "img%d", "owner": %q, "visibility": %q, "disk_format": "raw", "container_format": "bare"}`, im.id, i, im.owner, im.visibility)
		if st, _ := do(admin, "POST", "/v2/images", body); st != 201 {
			t.Fatalf("setup: create image %d: %d", i, st)
		}
		if rng.IntN(3) > 0 {
			im.data = true
			if st, _ := do(admin, "PUT", "/v2/images/"+im.id+"/file", "bytes of "+im.id, "Content-Type", "application/octet-stream"); st != 204 {
				t.Fatalf("setup: upload: %d", st)
			}
		}
		if im.visibility == "shared" {
			for _, p := range append(projects, "p4") {
				if p == im.owner || rng.IntN(3) == 0 {
					continue
				}
				if st, _ := do(admin, "POST", "/v2/images/"+im.id+"/members", fmt.Sprintf(`{"member": %q}`, p)); st != 200 {
					t.Fatalf("setup: add member: %d", st)
				}
				im.members[p] = "pending"
				if s := []string{"pending", "accepted", "rejected"}[rng.IntN(3)]; s != "pending" {
					member := isoCaller{"m", p, "member,reader"}
					if st, _ := do(member, "PUT", "/v2/images/"+im.id+"/members/"+p, fmt.Sprintf(`{"status": %q}`, s)); st == 200 {
						im.members[p] = s
					}
				}
			}
		}
	}
	leak := func(c isoCaller, im *isoImage, what string) {
		t.Errorf("LEAK: %s sees %s of image %s (owner %s, %s, members %v), which policy.Visible hides", c.name, what, im.id, im.owner, im.visibility, im.members)
	}

	// Listings with every visibility and member_status filter.
	for _, c := range callers {
		for _, vis := range []string{"", "public", "private", "shared", "community", "all"} {
			for _, ms := range []string{"", "accepted", "pending", "rejected", "all"} {
				q := []string{"limit=100"}
				if vis != "" {
					q = append(q, "visibility="+vis)
				}
				if ms != "" {
					q = append(q, "member_status="+ms)
				}
				path := "/v2/images?" + strings.Join(q, "&")
				st, body := do(c, "GET", path, "")
				if st != 200 {
					continue
				}
				listed := idsOf(t, body, "images")
				// Compare the sets the two servers listed.
				gr, _ := servers[0].send("GET", path, c.headers(), "", false)
				if want := idsOf(t, gr.body, "images"); strings.Join(want, ",") != strings.Join(listed, ",") {
					t.Errorf("GET %s as %s: glance lists %v, spyglass %v", path, c.name, want, listed)
				}
				for _, id := range listed {
					for _, im := range images {
						if im.id == id && !im.visible(c, "") {
							leak(c, im, "a listing entry ("+path+")")
						}
					}
				}
			}
		}
	}

	// Every image endpoint, for every caller.
	for _, im := range images {
		for _, c := range callers {
			vis := im.visible(c, "")
			base := "/v2/images/" + im.id
			if st, _ := do(c, "GET", base, ""); st == 200 && !vis {
				leak(c, im, "the metadata")
			}
			if st, _ := do(c, "GET", base+"/file", ""); (st == 200 || st == 206) && !vis {
				leak(c, im, "the bytes")
			}
			if st, body := do(c, "GET", base+"/members", ""); st == 200 {
				if !vis {
					leak(c, im, "the member list")
				}
				_ = body
			}
			if st, _ := do(c, "GET", base+"/members/"+c.project, ""); st == 200 && !vis {
				leak(c, im, "a membership")
			}
			if st, _ := do(c, "GET", base+"/members/p2", ""); st == 200 && !vis {
				leak(c, im, "p2's membership")
			}
			tag := "t-" + c.name
			if st, _ := do(c, "PUT", base+"/tags/"+tag, ""); st == 204 && !vis {
				leak(c, im, "a tag write")
			}
			if st, _ := do(c, "DELETE", base+"/tags/"+tag, ""); st == 204 && !vis {
				leak(c, im, "a tag delete")
			}
			patch := `[{"op": "add", "path": "/x_` + strings.ReplaceAll(c.name, "-", "_") + `", "value": "v"}]`
			if st, _ := do(c, "PATCH", base, patch, "Content-Type", "application/openstack-images-v2.1-json-patch"); st == 200 && !vis {
				leak(c, im, "a PATCH")
			}
		}
	}
	// Deletes last: a random caller per image, then the admin.
	for _, im := range images {
		c := callers[rng.IntN(len(callers))]
		if st, _ := do(c, "DELETE", "/v2/images/"+im.id, ""); st == 204 && !im.visible(c, "") {
			leak(c, im, "a delete")
		}
	}
}

// idsOf returns the ids of a collection body, sorted.
func idsOf(t *testing.T, body []byte, key string) []string {
	t.Helper()
	var doc map[string]json.RawMessage
	var items []struct{ ID string }
	if err := json.Unmarshal(body, &doc); err == nil {
		err = json.Unmarshal(doc[key], &items)
	}
	if err := json.Unmarshal(doc[key], &items); err != nil {
		t.Fatalf("not a %s collection: %v: %s", key, err, clip(string(body), 200))
	}
	var ids []string
	for _, it := range items {
		ids = append(ids, it.ID)
	}
	sort.Strings(ids)
	return ids
}
