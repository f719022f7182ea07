package conformance

import (
	"encoding/json"
	"fmt"
	"os"
	"sort"
	"strings"
	"testing"

	"github.com/spyglass-gateway/spyglass/backends/glance/glancetest"
)

// step is one scripted request, sent alike to both servers.
type step struct {
	name   string // unique; defaults to "as METHOD path"
	as     string // key of callers
	method string
	path   string // may hold {{var}}
	header map[string]string
	body   string // may hold {{var}}
	// save stores the response's "id" under this variable (both servers).
	save string
	// until, when set, repeats the request until it returns true (60s max).
	until func(*response) bool
	// walk follows "next" links and compares the whole walk.
	walk bool
	// chunked sends the body with Transfer-Encoding: chunked.
	chunked bool
	// ignore drops these JSON keys (anywhere) before comparing: for values
	// that depend on timing, not on behaviour.
	ignore []string
}

// callers are the identities the script uses, as trusted headers. Their
// roles are what Keystone tokens carry (roles imply roles there: admin →
// member → reader), since nothing implies them in trusted mode and the
// current defaults ask for reader to read.
var callers = map[string]map[string]string{
	"p1":    caller("p1", "u1", "member,reader"),
	"p2":    caller("p2", "u2", "member,reader"),
	"p3":    caller("p3", "u3", "member,reader"),
	"admin": caller("padmin", "uadmin", "admin,member,reader"),
	"anon":  {},
	"unconfirmed": {
		"X-Identity-Status": "Invalid", "X-Project-Id": "p1", "X-User-Id": "u1", "X-Roles": "member",
	},
}

func caller(project, user, roles string) map[string]string {
	return map[string]string{
		"X-Identity-Status": "Confirmed", "X-Project-Id": project, "X-User-Id": user, "X-Roles": roles,
		// JSON errors compare structurally; a few steps ask for html/plain.
		"Accept": "application/json",
	}
}

// knownDifferences are differences the suite accepts, by step name, each
// with the reason. A listed step that no longer differs is reported so the
// entry can go.
var knownDifferences = map[string]string{
	"p1 GET /v2/images/{{c_full}} #3":            "Glance 25 double-encodes non-ASCII tags (it stores the UTF-8 bytes of \"été\" as Latin-1 and answers \"Ã©tÃ©\"); Spyglass keeps the tag the client sent",
	"p1 GET /v2/images/{{c_full}} #4":            "as above: Glance's mojibake on non-ASCII tags",
	"p1 POST /v2/images/{{c_shared}}/members #5": "Glance echoes a numeric member id back as a JSON number (and stores it as text); Spyglass answers the stored text",
	"create error 01 []":                         "Glance answers 500 to a JSON array as the create body (its deserializer calls .keys() on it); Spyglass must answer 400, never 500",
	"create c_data":                              "Glance's OpenStack-image-store-ids lists its reserved stores (os_glance_staging_store, os_glance_tasks_store) once a data upload has made glance_store register them in CONF.enabled_backends; Spyglass lists only real stores",
	"create c_size":                              "Glance's OpenStack-image-store-ids lists its reserved stores (os_glance_staging_store, os_glance_tasks_store) once a data upload has made glance_store register them in CONF.enabled_backends; Spyglass lists only real stores",
	"create c_imp":                               "Glance's OpenStack-image-store-ids lists its reserved stores (os_glance_staging_store, os_glance_tasks_store) once a data upload has made glance_store register them in CONF.enabled_backends; Spyglass lists only real stores",
	"create c_wd":                                "Glance's OpenStack-image-store-ids lists its reserved stores (os_glance_staging_store, os_glance_tasks_store) once a data upload has made glance_store register them in CONF.enabled_backends; Spyglass lists only real stores",
	"create c_pt":                                "as for create c_data: Glance's OpenStack-image-store-ids lists its reserved stores once a data upload has registered them",
	"create c_pta":                               "as for create c_data",
	"create c_give":                              "as for create c_data",
	"utf-8: create surrogate pair":               "as for create c_data",
	"4-byte: create bmp":                         "as for create c_data",
	"list walk: sort=size:asc limit=4":           "Glance's marker paging when the marker's sort value is NULL (size of a queued image) ends the walk early: Glance returns 4 of 36 images in 2 pages (its WHERE size > NULL matches nothing); Spyglass pages NULLs correctly",

	// Issue 20: where Glance 25 is weaker, Spyglass is stronger.
	"hostile patch: c_pt add /owner":           "a tenant's add of /owner: Glance sets it, then its database refuses the image it can no longer see (403 \"Forbidding request, image … not visible\"); Spyglass refuses every tenant change of the owner as Glance refuses its replace (403 \"Owner can't be updated by non admin.\")",
	"hostile patch: c_pta add /owner":          "as above, on an active image",
	"hostile patch: give community image away": "Glance 25 lets a tenant give its community image to another project (the image stays visible to it, so its database lets the add of /owner through); Spyglass answers 403 \"Owner can't be updated by non admin.\"",
	"hostile patch: disown image":              "Glance 25 lets a tenant set its image's owner to null (an image without owner is visible to everyone's database check); Spyglass answers 403",
	"hostile patch: owner after":               "the community image Glance let p1 give to p2 is still p1's on Spyglass",
	"hostile patch: owner after disown":        "the image Glance let p1 disown is still p1's on Spyglass",
	"utf-8: create surrogate":                  "Glance answers 500 to a lone UTF-16 surrogate escape (its database cannot store it); Spyglass answers 400 \"Malformed JSON in request body.\", as for invalid UTF-8",
	"utf-8: create low surrogate":              "as above",
	"utf-8: patch surrogate":                   "as above",
	"utf-8: patch key surrogate":               "as above",
	"utf-8: member surrogate":                  "as above",
	"list: 61 tags":                            "Spyglass takes at most 60 tag and property filters (400): Glance's database joins a table for each, and MySQL refuses more than 61 tables (SQLite 64)",
	"list: 64 tags":                            "Glance answers 500 (SQLite: at most 64 tables in a join); Spyglass answers 400 past 60 tag and property filters",
	"list: 61 property filters":                "Spyglass takes at most 60 tag and property filters (400), as above",
	"list: 30 tags 31 property filters":        "Spyglass takes at most 60 tag and property filters (400), as above",
}

// cacheDifferences are known differences of a Spyglass that serves the
// cache-management API (every configuration the suite runs: over its
// embedded store as in front of a Glance region), against a Glance with
// image_cache_dir: Spyglass lists two newer minor versions.
var cacheDifferences = map[string]string{
	"anon GET /versions/":            "Spyglass lists v2.17 and v2.18 (as GET /versions)",
	"anon GET /versions?x=1":         "Spyglass lists v2.17 and v2.18 (as GET /versions)",
	"versions: GET /":                "Spyglass advertises v2.17 and v2.18 (newer Glance minor versions) above Glance 25's v2.16",
	"versions: GET /versions":        "as above: Spyglass lists v2.18 CURRENT",
	"versions: GET /versions (Host)": "as above",
	"versions: GET /v2.99/images":    "300 versions document: Spyglass lists v2.17 and v2.18",
	"versions: GET /v2.17/images":    "Spyglass serves v2.17 (Glance 25 answers 300 for it)",
	"versions: GET /v2.18/images":    "Spyglass serves v2.18 (Glance 25 answers 300 for it)",
	"versions: GET /v2.19/images":    "300 versions document: Spyglass lists v2.17 and v2.18",
	"versions: GET /v2.20/images":    "300 versions document: Spyglass lists v2.17 and v2.18",
	"versions: GET /v1/images":       "300 versions document: Spyglass lists v2.17 and v2.18",
	"versions: GET /v2.01/images":    "300 versions document: Spyglass lists v2.17 and v2.18",
	"versions: GET /V2/images":       "300 versions document: Spyglass lists v2.17 and v2.18",
	"versions: GET /v2./images":      "300 versions document: Spyglass lists v2.17 and v2.18",
	"versions: GET /v3/images":       "300 versions document: Spyglass lists v2.17 and v2.18",
	"versions: Accept vnd v2.99":     "300 versions document: Spyglass lists v2.17 and v2.18",
	"versions: GET /images":          "300 versions document: Spyglass lists v2.17 and v2.18",
	"dot segments: GET /./v2/images": "300 versions document: Spyglass lists v2.17 and v2.18",
}

// regionDifferences are known differences of Spyglass in front of a Glance
// region (CONFORMANCE_BACKEND=glance).
var regionDifferences = map[string]string{
	"list: request line 8191": "the listing Spyglass sends on to the region spells out what the client left implicit (limit, member_status, os_hidden, the tie-break sort keys) and would pass Glance's 8192-byte request line: Spyglass answers 400 instead of sending it",
}

// knownDifference is the reason a step may differ, if it may.
func knownDifference(name string) (string, bool) {
	if reason, ok := knownDifferences[name]; ok {
		return reason, true
	}
	if reason, ok := cacheDifferences[name]; ok {
		return reason, true
	}
	if os.Getenv("CONFORMANCE_BACKEND") == "glance" {
		reason, ok := regionDifferences[name]
		return reason, ok
	}
	return "", false
}

const (
	ctJSON   = "application/json"
	ctPatch  = "application/openstack-images-v2.1-json-patch"
	ctPatch0 = "application/openstack-images-v2.0-json-patch"
	ctOctet  = "application/octet-stream"
)

func get(as, path string) step { return step{as: as, method: "GET", path: path} }

func post(as, path, body string) step {
	return step{as: as, method: "POST", path: path, body: body, header: map[string]string{"Content-Type": ctJSON}}
}

func patch(as, img, body string) step {
	return step{as: as, method: "PATCH", path: "/v2/images/{{" + img + "}}", body: body, header: map[string]string{"Content-Type": ctPatch}}
}

func named(name string, s step) step { s.name = name; return s }

func withHeader(s step, kv ...string) step {
	h := map[string]string{}
	for k, v := range s.header {
		h[k] = v
	}
	for i := 0; i+1 < len(kv); i += 2 {
		h[kv[i]] = kv[i+1]
	}
	s.header = h
	return s
}

func saving(v string, s step) step {
	s.save = v
	if s.name == "" {
		s.name = "create " + v
	}
	return s
}

// policyModes are the pairs the suite compares: Spyglass with
// policy.defaults legacy against a stock Glance 25, and with current
// against a Glance with enforce_new_defaults (and enforce_scope,
// enforce_secure_rbac). CONFORMANCE_POLICY=legacy or current runs one.
func policyModes(t *testing.T) []string {
	switch m := os.Getenv("CONFORMANCE_POLICY"); m {
	case "":
		return []string{"legacy", "current"}
	case "legacy", "current":
		return []string{m}
	default:
		t.Fatalf("CONFORMANCE_POLICY=%q: want legacy, current or empty (both)", m)
		return nil
	}
}

func TestConformance(t *testing.T) {
	if err := glancetest.Available(); err != nil {
		t.Fatalf("the conformance suite needs a real Glance: %v", err)
	}
	for _, mode := range policyModes(t) {
		t.Run(mode, func(t *testing.T) { conformance(t, mode) })
	}
}

func conformance(t *testing.T, mode string) {
	// The oracle caches image data as the Spyglass under test does, over
	// its embedded store as in front of a region (the cache API and the
	// versions document follow from it).
	opts := glancetest.Options{NewDefaults: mode == "current"}
	g := glancetest.StartTWith(t, opts)
	glance := newTarget("glance", g.URL)
	var other *target
	if os.Getenv("CONFORMANCE_PEER") == "glance" {
		g2 := glancetest.StartTWith(t, opts)
		other = newTarget("glance#2", g2.URL)
	} else {
		other = newTarget("spyglass", spyglassUnderTest(t, mode, opts))
	}

	// CONFORMANCE_DUMP=file writes every request with Glance's raw answer:
	// a transcript of Glance's behaviour for whoever implements it.
	var dump *os.File
	if path := os.Getenv("CONFORMANCE_DUMP"); path != "" {
		f, err := os.Create(path)
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		dump = f
	}

	steps := script()
	var localized *localizedCheck
	if other.name == "spyglass" {
		localized = newLocalizedCheck(t)
	}
	seen := map[string]int{}
	var failures, known int
	byArea := map[string]int{} // "METHOD /path/template" → differences
	for i := range steps {
		st := &steps[i]
		if st.name == "" {
			st.name = fmt.Sprintf("%s %s %s", st.as, st.method, st.path)
		}
		base := st.name
		if n := seen[base]; n > 0 {
			st.name = fmt.Sprintf("%s #%d", base, n+1)
		}
		seen[base]++
		if callers[st.as] == nil && st.as != "anon" {
			t.Fatalf("step %q: unknown caller %q", st.name, st.as)
		}
		gr, err := glance.run(st)
		if err != nil {
			t.Fatalf("step %q: glance: %v", st.name, err)
		}
		if dump != nil {
			writeTranscript(dump, glance, st, gr)
		}
		or, err := other.run(st)
		if err != nil {
			t.Errorf("step %q: %s: %v", st.name, other.name, err)
			failures++
			continue
		}
		d := diff(glance.normalize(gr, st), other.normalize(or, st))
		if or.status >= 500 && other.name == "spyglass" {
			failures++
			t.Errorf("%s answered %d to %s %s as %s [%s]: bad input must never give a 5xx\n  %s", other.name, or.status, st.method, glance.expand(st.path), st.as, st.name, clip(string(or.body), 500))
		}
		if localized != nil && localized.eligible(st, or.status) {
			if p := localized.check(other, st); len(p) > 0 {
				failures++
				t.Errorf("LOCALIZED %s %s as %s [%s] (Accept-Language: %s)\n  %s", st.method, glance.expand(st.path), st.as, st.name, localizedLanguage, strings.Join(p, "\n  "))
			}
		}
		reason, isKnown := knownDifference(st.name)
		if other.name != "spyglass" {
			isKnown = false
		}
		switch {
		case len(d) == 0 && isKnown:
			t.Logf("known difference no longer differs: %q (%s)", st.name, reason)
		case len(d) > 0 && isKnown:
			known++
			t.Logf("known difference %q (%s):\n  %s", st.name, reason, strings.Join(d, "\n  "))
		case len(d) > 0:
			failures++
			byArea[st.method+" "+strings.SplitN(st.path, "?", 2)[0]]++
			t.Errorf("DIFFERENCE %s %s as %s [%s]\n  request headers: %v\n  request body: %s\n  %s\n  raw glance:   %d %s\n  raw %s: %d %s",
				st.method, glance.expand(st.path), st.as, st.name, st.header, clip(st.body, 300),
				strings.Join(d, "\n  "),
				gr.status, clip(string(gr.body), 500), other.name, or.status, clip(string(or.body), 500))
		}
	}
	t.Logf("%d steps, %d differences, %d known differences", len(steps), failures, known)
	if localized != nil {
		t.Logf("localized: %d error steps asked again in %s in %d shapes; the catalog translated a message in %d", localized.steps, localizedLanguage, len(localizedAccepts), localized.translated)
		// The catalog holds a few dozen of the messages the script
		// provokes: a run that translates few of them checks nothing.
		if localized.translated < 20 {
			t.Errorf("localized: only %d error steps came back translated: is the catalog reaching Spyglass (i18n.locale_dir)?", localized.translated)
		}
	}
	if len(byArea) > 0 {
		var areas []string
		for a, n := range byArea {
			areas = append(areas, fmt.Sprintf("%4d  %s", n, a))
		}
		sort.Strings(areas)
		t.Logf("differences by request kind:\n%s", strings.Join(areas, "\n"))
	}
}

func writeTranscript(w *os.File, g *target, st *step, r *response) {
	fmt.Fprintf(w, "### %s\n%s %s (as %s)", st.name, st.method, g.expand(st.path), st.as)
	for k, v := range st.header {
		fmt.Fprintf(w, " [%s: %s]", k, v)
	}
	if st.body != "" {
		fmt.Fprintf(w, "\n%s", clip(g.expand(st.body), 400))
	}
	fmt.Fprintf(w, "\n--> %d\n", r.status)
	var ks []string
	for k := range r.header {
		ks = append(ks, k)
	}
	sort.Strings(ks)
	for _, k := range ks {
		if k == "Date" {
			continue
		}
		fmt.Fprintf(w, "%s: %s\n", k, strings.Join(r.header[k], ", "))
	}
	if st.walk {
		var pages []struct{ Images []struct{ ID string } }
		if json.Unmarshal(r.body, &pages) == nil {
			n, uniq := 0, map[string]bool{}
			for _, p := range pages {
				for _, im := range p.Images {
					n++
					uniq[im.ID] = true
				}
			}
			fmt.Fprintf(w, "(walk: %d pages, %d images, %d distinct)\n", len(pages), n, len(uniq))
		}
	}
	fmt.Fprintf(w, "\n%s\n\n", clip(string(r.body), 3000))
}
