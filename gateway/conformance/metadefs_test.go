package conformance

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/spyglass-gateway/spyglass/backends/glance/glancetest"
)

// TestMetadefs is the differential suite of the metadata definitions API
// (/v2/metadefs): the same script against a real Glance 25 and Spyglass
// over its embedded store, in both policy modes, every difference a
// failure but those of metadefDifferences.
//
//	go test -run TestMetadefs ./gateway/conformance/
func TestMetadefs(t *testing.T) {
	if err := glancetest.Available(); err != nil {
		t.Fatalf("the metadefs suite needs a real Glance: %v", err)
	}
	for _, mode := range policyModes(t) {
		t.Run(mode, func(t *testing.T) {
			opts := glancetest.Options{NewDefaults: mode == "current", NoImageCache: true}
			g := glancetest.StartTWith(t, opts)
			runScript(t, newTarget("glance", g.URL), newTarget("spyglass", startSpyglass(t, mode, "")), metadefScript(), metadefDifferences)
		})
	}
}

// metadefDifferences are the differences the metadefs suite accepts, by
// step name, with the reason.
var metadefDifferences = map[string]string{
	"md: namespace property with unknown attribute": "Glance answers 500 (WSME's UnknownAttribute escapes its deserializer: the namespace schema lets any key into a property); Spyglass answers 400",
	"md: object update with unknown attribute":      "as above: an object's update checks its properties against the namespace schema's definition only",
	"md: namespaces limit=abc":                      "Glance answers 500 (int() before its check); Spyglass answers 400 \"limit param must be an integer\"",
}

// runScript runs steps against both targets and fails on each difference
// not listed in known.
func runScript(t *testing.T, glance, other *target, steps []step, known map[string]string) {
	t.Helper()
	seen := map[string]int{}
	var failures int
	for i := range steps {
		st := &steps[i]
		if st.name == "" {
			st.name = fmt.Sprintf("%s %s %s", st.as, st.method, st.path)
		}
		if n := seen[st.name]; n > 0 {
			st.name = fmt.Sprintf("%s #%d", st.name, n+1)
		}
		seen[st.name]++
		gr, err := glance.run(st)
		if err != nil {
			t.Fatalf("step %q: glance: %v", st.name, err)
		}
		or, err := other.run(st)
		if err != nil {
			t.Fatalf("step %q: %s: %v", st.name, other.name, err)
		}
		if or.status >= 500 {
			failures++
			t.Errorf("%s answered %d to %s %s as %s [%s]: never a 5xx\n  %s", other.name, or.status, st.method, other.expand(st.path), st.as, st.name, clip(string(or.body), 500))
		}
		d := diff(glance.normalize(gr, st), other.normalize(or, st))
		reason, isKnown := known[st.name]
		switch {
		case len(d) == 0 && isKnown:
			t.Logf("known difference no longer differs: %q (%s)", st.name, reason)
		case len(d) > 0 && isKnown:
			t.Logf("known difference %q (%s):\n  %s", st.name, reason, strings.Join(d, "\n  "))
		case len(d) > 0:
			failures++
			t.Errorf("DIFFERENCE %s %s as %s [%s]\n  request body: %s\n  %s\n  raw glance:   %d %s\n  raw %s: %d %s",
				st.method, glance.expand(st.path), st.as, st.name, clip(st.body, 300), strings.Join(d, "\n  "),
				gr.status, clip(string(gr.body), 700), other.name, or.status, clip(string(or.body), 700))
		}
	}
	t.Logf("%d steps, %d differences", len(steps), failures)
}

func put(as, path, body string) step {
	return step{as: as, method: "PUT", path: path, body: body, header: map[string]string{"Content-Type": ctJSON}}
}

func del(as, path string) step { return step{as: as, method: "DELETE", path: path} }

const mdNS = "/v2/metadefs/namespaces"

func metadefScript() []step {
	var s []step
	add := func(st ...step) { s = append(s, st...) }
	full := `{"namespace": "md-full", "display_name": "Full", "description": "all of it", "visibility": "public", "protected": false,
		"resource_type_associations": [{"name": "OS::Glance::Image", "prefix": "hw_", "properties_target": "image"}, {"name": "OS::Nova::Flavor", "prefix": "hw:"}],
		"properties": {"cpu_policy": {"title": "CPU policy", "type": "string", "enum": ["shared", "dedicated"], "default": "shared"},
			"cores": {"title": "Cores", "type": "integer", "minimum": 1, "maximum": 64.9, "readonly": false},
			"list": {"title": "List", "type": "array", "items": {"type": "string", "enum": ["a", "b"]}, "uniqueItems": true, "minItems": 1}},
		"objects": [{"name": "cpu", "description": "CPU", "required": ["sockets"], "properties": {"sockets": {"title": "Sockets", "type": "integer", "default": 2}}},
			{"name": "bare"}],
		"tags": [{"name": "fast"}, {"name": "gpu"}]}`

	// --- empty catalog, discovery ---------------------------------------
	add(
		named("md: resource types empty", get("admin", "/v2/metadefs/resource_types")),
		named("md: namespaces empty", get("admin", mdNS)),
		named("md: namespaces empty as p1", get("p1", mdNS)),
		named("md: POST resource_types 405", post("admin", "/v2/metadefs/resource_types", `{}`)),
		named("md: GET with a body", step{as: "admin", method: "GET", path: "/v2/metadefs/resource_types", body: "{}", header: map[string]string{"Content-Type": ctJSON}}),
		named("md: DELETE namespace with a body", step{as: "admin", method: "DELETE", path: mdNS + "/nope", body: "{}", header: map[string]string{"Content-Type": ctJSON}}),
		named("md: PATCH namespace 405", step{as: "admin", method: "PATCH", path: mdNS + "/x", body: "{}", header: map[string]string{"Content-Type": ctJSON}}),
	)

	// --- namespaces: create -----------------------------------------------
	add(
		named("md: create full", post("admin", mdNS, full)),
		named("md: create duplicate", post("admin", mdNS, `{"namespace": "md-full"}`)),
		named("md: create private of p1", post("admin", mdNS, `{"namespace": "md-p1", "owner": "p1", "description": "p1's"}`)),
		named("md: create private of admin", post("admin", mdNS, `{"namespace": "md-adm", "visibility": "private"}`)),
		named("md: create protected", post("admin", mdNS, `{"namespace": "md-prot", "visibility": "public", "protected": true,
			"properties": {"p": {"title": "P", "type": "string"}}, "objects": [{"name": "o"}], "tags": [{"name": "t"}],
			"resource_type_associations": [{"name": "OS::Cinder::Volume", "prefix": "c_"}]}`)),
		named("md: create as p1 refused", post("p1", mdNS, `{"namespace": "md-by-p1"}`)),
		named("md: create as anon refused", post("anon", mdNS, `{"namespace": "md-by-anon"}`)),
		named("md: create dup inside objects", post("admin", mdNS, `{"namespace": "md-dupobj", "objects": [{"name": "a"}, {"name": "a"}]}`)),
		named("md: after dup inside objects", get("admin", mdNS+"/md-dupobj")),
		named("md: namespace property with unknown attribute", post("admin", mdNS, `{"namespace": "md-unknown", "properties": {"p": {"title": "P", "type": "string", "bogus": 1}}}`)),
		named("md: create dup inside tags", post("admin", mdNS, `{"namespace": "md-duptag", "tags": [{"name": "a"}, {"name": "a"}]}`)),
	)
	// --- namespaces: bad bodies -------------------------------------------
	for i, body := range []string{
		`{"namespace": "x", "visibility": "shared"}`,
		`{"namespace": "x", "foo": 1}`,
		`{"namespac": "x"}`,
		`{"namespace": "` + strings.Repeat("n", 81) + `"}`,
		`{"namespace": 5}`,
		`{"namespace": "x", "protected": "yes"}`,
		`{"namespace": "x", "properties": {"p": {"title": "t", "type": "strin"}}}`,
		`{"namespace": "x", "properties": {"p": {"type": "string"}}}`,
		`{"namespace": "x", "properties": {"p": {"title": "t", "type": "string", "minLength": -1}}}`,
		`{"namespace": "x", "objects": [{"name": "o", "required": ["a", "a"]}]}`,
		`{"namespace": "x", "tags": [{"name": 5}]}`,
		`{"namespace": "x", "description": "` + strings.Repeat("d", 501) + `"}`,
		`"x"`,
		`5`,
		`{"namespace": "x", "self": "/x"}`,
		`{"namespace": "x", "created_at": "now"}`,
		`not json`,
		``,
	} {
		add(named(fmt.Sprintf("md: create bad %02d", i), post("admin", mdNS, body)))
	}

	// --- namespaces: show ---------------------------------------------------
	for _, as := range []string{"admin", "p1", "p2", "anon"} {
		for _, ns := range []string{"md-full", "md-p1", "md-adm", "md-prot", "nope"} {
			add(named("md: show "+ns+" as "+as, get(as, mdNS+"/"+ns)))
		}
	}
	add(
		named("md: show with resource_type", get("admin", mdNS+"/md-full?resource_type=OS::Glance::Image")),
		named("md: show with resource_type colon", get("admin", mdNS+"/md-full?resource_type=OS::Nova::Flavor")),
		named("md: show with other resource_type", get("admin", mdNS+"/md-full?resource_type=OS::Nope")),
		named("md: show bad visibility", get("admin", mdNS+"/md-full?visibility=x")),
	)

	// --- namespaces: list ------------------------------------------------------
	for _, as := range []string{"admin", "p1", "p2", "anon"} {
		add(named("md: list as "+as, get(as, mdNS)))
	}
	for _, q := range []string{
		"limit=2", "limit=1&sort_key=namespace&sort_dir=asc", "sort_key=namespace", "sort_dir=asc",
		"visibility=public", "visibility=private", "resource_types=OS::Glance::Image", "resource_types=OS::Cinder::Volume,OS::Nova::Flavor",
		"resource_types=OS::Nope", "limit=0",
	} {
		add(named("md: list "+q, get("admin", mdNS+"?"+q)))
	}
	add(
		named("md: walk limit=1", step{as: "admin", method: "GET", path: mdNS + "?limit=1", walk: true}),
		named("md: walk limit=2 asc by name", step{as: "p1", method: "GET", path: mdNS + "?limit=2&sort_key=namespace&sort_dir=asc", walk: true}),
		named("md: list bad sort_dir", get("admin", mdNS+"?sort_dir=up")),
		named("md: list bad visibility", get("admin", mdNS+"?visibility=shared")),
		named("md: list negative limit", get("admin", mdNS+"?limit=-1")),
		named("md: namespaces limit=abc", get("admin", mdNS+"?limit=abc")),
		named("md: list unknown marker", get("admin", mdNS+"?marker=nope")),
		named("md: list hidden marker", get("p2", mdNS+"?marker=md-adm")),
		named("md: list marker", get("admin", mdNS+"?marker=md-p1&sort_key=namespace&sort_dir=asc")),
	)

	// --- objects ---------------------------------------------------------------
	obj := mdNS + "/md-full/objects"
	add(
		named("md: objects", get("admin", obj)),
		named("md: objects as p2", get("p2", obj)),
		named("md: objects of hidden", get("p2", mdNS+"/md-p1/objects")),
		named("md: objects of missing", get("admin", mdNS+"/nope/objects")),
		named("md: objects bad limit", get("admin", obj+"?limit=0")),
		named("md: objects bad sort_dir", get("admin", obj+"?sort_dir=x")),
		named("md: object create", post("admin", obj, `{"name": "mem", "description": "Memory", "required": ["size"], "properties": {"size": {"title": "Size", "type": "integer", "minimum": 0}, "page": {"title": "Page", "type": "string", "enum": ["small", "large"]}}}`)),
		named("md: object create duplicate", post("admin", obj, `{"name": "mem"}`)),
		named("md: object create as p1", post("p1", obj, `{"name": "p1obj"}`)),
		named("md: object create in hidden", post("p2", mdNS+"/md-p1/objects", `{"name": "x"}`)),
		named("md: object create in missing", post("admin", mdNS+"/nope/objects", `{"name": "x"}`)),
		named("md: object create no name", post("admin", obj, `{"description": "x"}`)),
		named("md: object create bad property", post("admin", obj, `{"name": "x", "properties": {"q": {"type": "string"}}}`)),
		named("md: object create with unknown attribute", post("admin", obj, `{"name": "x", "properties": {"q": {"title": "Q", "type": "string", "bogus": 1}}}`)),
		named("md: object create read-only", post("admin", obj, `{"name": "x", "schema": "y"}`)),
		named("md: object show", get("p2", obj+"/mem")),
		named("md: object show missing", get("admin", obj+"/nope")),
		named("md: object update", put("admin", obj+"/mem", `{"name": "memory", "description": "RAM", "properties": {"size": {"title": "Size", "type": "integer"}}}`)),
		named("md: object update with unknown attribute", put("admin", obj+"/memory", `{"name": "memory", "properties": {"q": {"title": "Q", "type": "string", "bogus": 1}}}`)),
		named("md: object update to duplicate", put("admin", obj+"/memory", `{"name": "cpu"}`)),
		named("md: object update missing", put("admin", obj+"/nope", `{"name": "x"}`)),
		named("md: object update as p1", put("p1", obj+"/memory", `{"name": "x"}`)),
		named("md: object show renamed", get("admin", obj+"/memory")),
		named("md: object show old name", get("admin", obj+"/mem")),
		named("md: object delete as p2", del("p2", obj+"/memory")),
		named("md: object delete", del("admin", obj+"/memory")),
		named("md: object delete again", del("admin", obj+"/memory")),
		named("md: objects after", get("admin", obj)),
	)

	// --- properties ----------------------------------------------------------------
	prop := mdNS + "/md-full/properties"
	add(
		named("md: properties", get("admin", prop)),
		named("md: properties as anon", get("anon", prop)),
		named("md: properties of hidden", get("p2", mdNS+"/md-p1/properties")),
		named("md: property create", post("admin", prop, `{"name": "speed", "title": "Speed", "type": "number", "description": "GHz", "minimum": 0.5, "default": 1.5, "operators": ["<or>"]}`)),
		named("md: property create duplicate", post("admin", prop, `{"name": "speed", "title": "S", "type": "string"}`)),
		named("md: property create as p1", post("p1", prop, `{"name": "x", "title": "X", "type": "string"}`)),
		named("md: property create no title", post("admin", prop, `{"name": "x", "type": "string"}`)),
		named("md: property create no name", post("admin", prop, `{"title": "X", "type": "string"}`)),
		named("md: property create with unknown attribute", post("admin", prop, `{"name": "x", "title": "X", "type": "string", "bogus": true}`)),
		named("md: property create bad required", post("admin", prop, `{"name": "x", "title": "X", "type": "string", "required": []}`)),
		named("md: property create in missing", post("admin", mdNS+"/nope/properties", `{"name": "x", "title": "X", "type": "string"}`)),
		named("md: property show", get("p1", prop+"/speed")),
		named("md: property show prefixed", get("admin", prop+"/hw_cpu_policy?resource_type=OS::Glance::Image")),
		named("md: property show wrong prefix", get("admin", prop+"/cpu_policy?resource_type=OS::Glance::Image")),
		named("md: property show unknown resource type", get("admin", prop+"/hw_cpu_policy?resource_type=OS::Nope")),
		named("md: property show unassociated resource type", get("admin", prop+"/c_cpu_policy?resource_type=OS::Cinder::Volume")),
		named("md: property show missing", get("admin", prop+"/nope")),
		named("md: property update", put("admin", prop+"/speed", `{"name": "clock", "title": "Clock", "type": "integer", "maximum": 5}`)),
		named("md: property update to duplicate", put("admin", prop+"/clock", `{"name": "cores", "title": "C", "type": "integer"}`)),
		named("md: property update missing", put("admin", prop+"/nope", `{"name": "x", "title": "X", "type": "string"}`)),
		named("md: property show renamed", get("admin", prop+"/clock")),
		named("md: property delete as p1", del("p1", prop+"/clock")),
		named("md: property delete", del("admin", prop+"/clock")),
		named("md: property delete again", del("admin", prop+"/clock")),
		named("md: properties after", get("admin", prop)),
	)

	// --- tags ---------------------------------------------------------------------------
	tags := mdNS + "/md-full/tags"
	add(
		named("md: tags", get("admin", tags)),
		named("md: tag create", post("admin", tags+"/ssd", ``)),
		named("md: tag create with a body", post("admin", tags+"/body", `{"name": "body"}`)),
		named("md: tag create duplicate", post("admin", tags+"/ssd", ``)),
		named("md: tag create too long", post("admin", tags+"/"+strings.Repeat("t", 81), ``)),
		named("md: tag create as p1", post("p1", tags+"/p1tag", ``)),
		named("md: tag create in missing", post("admin", mdNS+"/nope/tags/x", ``)),
		named("md: tag show", get("p2", tags+"/ssd")),
		named("md: tag show missing", get("admin", tags+"/nope")),
		named("md: tags limit=2", get("admin", tags+"?limit=2")),
		named("md: tags by name asc", get("admin", tags+"?sort_key=name&sort_dir=asc")),
		named("md: tags marker", get("admin", tags+"?sort_key=name&sort_dir=asc&marker=gpu")),
		named("md: tags unknown marker", get("admin", tags+"?marker=nope")),
		named("md: tags bad sort_dir", get("admin", tags+"?sort_dir=x")),
		named("md: tags negative limit", get("admin", tags+"?limit=-2")),
		named("md: tag update", put("admin", tags+"/ssd", `{"name": "nvme"}`)),
		named("md: tag update to duplicate", put("admin", tags+"/nvme", `{"name": "gpu"}`)),
		named("md: tag update bad body", put("admin", tags+"/nvme", `{"nam": "x"}`)),
		named("md: tag update missing", put("admin", tags+"/nope", `{"name": "x"}`)),
		named("md: tags replace", post("admin", tags, `{"tags": [{"name": "a"}, {"name": "b"}]}`)),
		named("md: tags after replace", get("admin", tags)),
		withHeader(named("md: tags append", post("admin", tags, `{"tags": [{"name": "c"}]}`)), "X-Openstack-Append", "True"),
		named("md: tags after append", get("admin", tags)),
		withHeader(named("md: tags append duplicate", post("admin", tags, `{"tags": [{"name": "a"}]}`)), "X-Openstack-Append", "yes"),
		named("md: tags replace with duplicates", post("admin", tags, `{"tags": [{"name": "x"}, {"name": "x"}]}`)),
		named("md: tags after failed replace", get("admin", tags)),
		named("md: tags replace empty", post("admin", tags, `{"tags": []}`)),
		named("md: tags bad body", post("admin", tags, `{"tags": [{"nam": "x"}]}`)),
		named("md: tags bad body 2", post("admin", tags, `{"tag": []}`)),
		named("md: tags as p1", post("p1", tags, `{"tags": [{"name": "x"}]}`)),
		named("md: tag delete as p2", del("p2", tags+"/a")),
		named("md: tag delete", del("admin", tags+"/a")),
		named("md: tag delete again", del("admin", tags+"/a")),
		named("md: tags final", get("admin", tags)),
	)

	// --- resource types ------------------------------------------------------------------------
	rt := mdNS + "/md-full/resource_types"
	add(
		named("md: resource types", get("p1", "/v2/metadefs/resource_types")),
		named("md: associations", get("admin", rt)),
		named("md: associations as anon", get("anon", rt)),
		named("md: associations of hidden", get("p2", mdNS+"/md-p1/resource_types")),
		named("md: association create", post("admin", rt, `{"name": "OS::Cinder::Volume", "prefix": "vol_", "properties_target": "image"}`)),
		named("md: association create duplicate", post("admin", rt, `{"name": "OS::Cinder::Volume"}`)),
		named("md: association create no name", post("admin", rt, `{"prefix": "x"}`)),
		named("md: association create read-only", post("admin", rt, `{"name": "X", "created_at": "x"}`)),
		named("md: association create as p1", post("p1", rt, `{"name": "OS::Trove::Instance"}`)),
		named("md: association create new type", post("admin", mdNS+"/md-adm/resource_types", `{"name": "OS::Trove::Instance"}`)),
		named("md: resource types after", get("admin", "/v2/metadefs/resource_types")),
		named("md: association delete as p1", del("p1", rt+"/OS::Cinder::Volume")),
		named("md: association delete", del("admin", rt+"/OS::Cinder::Volume")),
		named("md: association delete again", del("admin", rt+"/OS::Cinder::Volume")),
		named("md: association delete unknown type", del("admin", rt+"/OS::Nope")),
		named("md: associations after", get("admin", rt)),
	)

	// --- protected namespace ----------------------------------------------------------------------
	prot := mdNS + "/md-prot"
	add(
		named("md: protected delete", del("admin", prot)),
		named("md: protected delete objects", del("admin", prot+"/objects")),
		named("md: protected delete properties", del("admin", prot+"/properties")),
		named("md: protected delete tags", del("admin", prot+"/tags")),
		named("md: protected delete object", del("admin", prot+"/objects/o")),
		named("md: protected delete property", del("admin", prot+"/properties/p")),
		named("md: protected delete tag", del("admin", prot+"/tags/t")),
		named("md: protected delete association", del("admin", prot+"/resource_types/OS::Cinder::Volume")),
		named("md: protected delete as p1", del("p1", prot)),
		named("md: protected show", get("admin", prot)),
		named("md: unprotect", put("admin", prot, `{"namespace": "md-prot", "visibility": "public", "protected": false}`)),
		named("md: unprotected delete", del("admin", prot)),
		named("md: unprotected gone", get("admin", prot)),
	)

	// --- update, contents deletion, delete ---------------------------------------------------------
	add(
		named("md: update as p1", put("p1", mdNS+"/md-full", `{"namespace": "md-full"}`)),
		named("md: update own private as p1", put("p1", mdNS+"/md-p1", `{"namespace": "md-p1"}`)),
		named("md: update hidden as p2", put("p2", mdNS+"/md-adm", `{"namespace": "md-adm"}`)),
		named("md: update missing", put("admin", mdNS+"/nope", `{"namespace": "nope"}`)),
		named("md: update bad body", put("admin", mdNS+"/md-full", `{"namespace": "md-full", "visibility": "x"}`)),
		named("md: update to duplicate", put("admin", mdNS+"/md-full", `{"namespace": "md-p1"}`)),
		named("md: update rename", put("admin", mdNS+"/md-full", `{"namespace": "md-renamed", "display_name": "Renamed", "visibility": "public"}`)),
		named("md: show renamed", get("admin", mdNS+"/md-renamed")),
		named("md: renamed objects", get("admin", mdNS+"/md-renamed/objects")),
		named("md: update defaults", put("admin", mdNS+"/md-p1", `{"namespace": "md-p1"}`)),
		named("md: show after defaults", get("admin", mdNS+"/md-p1")),
		named("md: delete tags as p1", del("p1", mdNS+"/md-renamed/tags")),
		named("md: delete tags", del("admin", mdNS+"/md-renamed/tags")),
		named("md: delete properties", del("admin", mdNS+"/md-renamed/properties")),
		named("md: delete objects", del("admin", mdNS+"/md-renamed/objects")),
		named("md: delete objects of missing", del("admin", mdNS+"/nope/objects")),
		named("md: show emptied", get("admin", mdNS+"/md-renamed")),
		named("md: delete as p1", del("p1", mdNS+"/md-renamed")),
		named("md: delete hidden as p2", del("p2", mdNS+"/md-adm")),
		named("md: delete", del("admin", mdNS+"/md-renamed")),
		named("md: delete again", del("admin", mdNS+"/md-renamed")),
		named("md: list at the end", get("admin", mdNS)),
		named("md: resource types at the end", get("admin", "/v2/metadefs/resource_types")),
	)
	return s
}

// TestMetadefsLoad loads Glance's standard definition files (testdata:
// Debian glance-common 25.1's /usr/share/glance-common/metadefs) into a
// real Glance with glance-manage db_load_metadefs and into Spyglass's
// store with "spyglass metadefs load", and compares what both serve.
func TestMetadefsLoad(t *testing.T) {
	if err := glancetest.Available(); err != nil {
		t.Fatalf("the metadefs suite needs a real Glance: %v", err)
	}
	defs, err := filepath.Abs("testdata/metadefs")
	if err != nil {
		t.Fatal(err)
	}
	g := glancetest.StartTWith(t, glancetest.Options{NoImageCache: true})
	argv := fmt.Sprintf("[%q, '--config-file', %q, 'db_load_metadefs', %q]", "glance-manage", filepath.Join(g.Dir, "glance-api.conf"), defs)
	if out, err := exec.Command(glancetest.Python, "-c", "import sys; sys.argv="+argv+"; from glance.cmd.manage import main; main()").CombinedOutput(); err != nil {
		t.Fatalf("glance-manage db_load_metadefs: %v\n%s", err, out)
	}

	data := t.TempDir()
	gomod, err := exec.Command("go", "env", "GOMOD").Output()
	if err != nil {
		t.Fatal(err)
	}
	load := exec.Command("go", "run", "./cmd/spyglass", "metadefs", "load", defs, "--data-dir", data)
	load.Dir = filepath.Dir(strings.TrimSpace(string(gomod)))
	if out, err := load.CombinedOutput(); err != nil {
		t.Fatalf("spyglass metadefs load: %v\n%s", err, out)
	}
	spy := newTarget("spyglass", startSpyglass(t, "legacy", "", data))

	files, _ := filepath.Glob(filepath.Join(defs, "*.json"))
	var steps []step
	steps = append(steps,
		named("load: walk by name", step{as: "admin", method: "GET", path: mdNS + "?limit=7&sort_key=namespace&sort_dir=asc", walk: true}),
		named("load: list as p1 by name", get("p1", mdNS+"?sort_key=namespace&sort_dir=asc&limit=100")),
		named("load: filter by resource type", get("p1", mdNS+"?sort_key=namespace&resource_types=OS::Nova::Flavor")),
	)
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		var doc struct {
			Namespace string
			Objects   []struct{ Name string }
			Props     map[string]any `json:"properties"`
			RTs       []struct {
				Name   string
				Prefix string
			} `json:"resource_type_associations"`
		}
		if err := json.Unmarshal(b, &doc); err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		ns := mdNS + "/" + doc.Namespace
		steps = append(steps,
			named("load: show "+doc.Namespace, get("p1", ns)),
			named("load: objects "+doc.Namespace, get("p1", ns+"/objects")),
			named("load: properties "+doc.Namespace, get("p1", ns+"/properties")),
			named("load: associations "+doc.Namespace, get("p1", ns+"/resource_types")),
			named("load: delete seeded association "+doc.Namespace, del("admin", ns+"/resource_types/OS::Nope")),
		)
		for _, rt := range doc.RTs {
			steps = append(steps, named("load: show "+doc.Namespace+" for "+rt.Name, get("p1", ns+"?resource_type="+rt.Name)))
			for name := range doc.Props {
				steps = append(steps, named("load: property "+doc.Namespace+" "+rt.Prefix+name, get("p1", ns+"/properties/"+rt.Prefix+name+"?resource_type="+rt.Name)))
				break
			}
		}
		for _, o := range doc.Objects {
			steps = append(steps, named("load: object "+doc.Namespace+" "+o.Name, get("p1", ns+"/objects/"+o.Name)))
		}
	}
	runScript(t, newTarget("glance", g.URL), spy, steps, nil)
}

// TestMetadefsGlanceRegion runs the metadefs script against Spyglass in
// front of a Glance default region (which answers the metadefs itself,
// asked with the caller's identity) and against a twin Glance.
func TestMetadefsGlanceRegion(t *testing.T) {
	if err := glancetest.Available(); err != nil {
		t.Fatalf("the metadefs suite needs a real Glance: %v", err)
	}
	for _, mode := range policyModes(t) {
		t.Run(mode, func(t *testing.T) {
			opts := glancetest.Options{NewDefaults: mode == "current", NoImageCache: true}
			g := glancetest.StartTWith(t, opts)
			region := glancetest.StartTWith(t, opts)
			runScript(t, newTarget("glance", g.URL), newTarget("spyglass", startSpyglass(t, mode, region.URL)), metadefScript(), metadefRegionDifferences)
		})
	}
}

// metadefRegionDifferences are those of metadefDifferences that the
// region answers itself (its 500s become the gateway's 503).
var metadefRegionDifferences = map[string]string{
	"md: namespaces limit=abc":                      metadefDifferences["md: namespaces limit=abc"],
	"md: namespace property with unknown attribute": metadefDifferences["md: namespace property with unknown attribute"],
	"md: object update with unknown attribute":      metadefDifferences["md: object update with unknown attribute"],
}
