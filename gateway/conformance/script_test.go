package conformance

import (
	"encoding/json"
	"fmt"
	"strings"
)

// seedCount images are created across projects, visibilities and
// memberships before the listing steps. Both servers create them in the
// same order, so created_at orders agree.
const seedCount = 30

func seedImage(i int) (as, body string) {
	owners := []string{"p1", "p2", "p3"}
	vis := []string{"private", "shared", "public", "community", "shared"}[i%5]
	m := map[string]any{
		"disk_format":      []string{"qcow2", "raw", "iso", "vmdk"}[i%4],
		"container_format": "bare",
		"visibility":       vis,
		"min_disk":         i % 4,
		"min_ram":          (i * 16) % 64,
		"seq":              fmt.Sprint(i),
	}
	switch {
	case i%11 == 0:
		// no name: NULL in sorts
	case i%7 == 0:
		m["name"] = "dup"
	default:
		m["name"] = fmt.Sprintf("seed-%02d", i)
	}
	tags := []string{}
	if i%2 == 0 {
		tags = append(tags, "even")
	}
	if i%3 == 0 {
		tags = append(tags, "three")
	}
	m["tags"] = tags
	if i%5 == 0 {
		m["flavor"] = "x"
	}
	if i == 13 || i == 27 {
		m["os_hidden"] = true
	}
	if i == 9 {
		m["protected"] = true
	}
	as = owners[i%3]
	if vis == "public" {
		// Only an admin may publicize; it creates on behalf of the owner.
		as = "admin"
		m["owner"] = owners[i%3]
	}
	b, _ := json.Marshal(m)
	return as, string(b)
}

func seedVar(i int) string { return fmt.Sprintf("s%02d", i) }

func script() []step {
	var s []step
	add := func(st ...step) { s = append(s, st...) }

	// --- versions documents and negotiation -------------------------------
	add(
		named("versions: GET /", step{as: "anon", method: "GET", path: "/"}),
		named("versions: GET /versions", step{as: "anon", method: "GET", path: "/versions"}),
		named("versions: GET /versions (Host)", step{as: "anon", method: "GET", path: "/versions", header: map[string]string{"Host": "images.example.org:8080"}}),
		named("versions: GET /v2.99/images", get("p1", "/v2.99/images")),
		named("versions: GET /v3/images", get("p1", "/v3/images")),
		named("versions: GET /images", get("p1", "/images")),
		named("versions: Accept vnd v2.99", withHeader(get("p1", "/images"), "Accept", "application/vnd.openstack.images-v2.99")),
		named("versions: GET /v2.5/images", get("p1", "/v2.5/images")),
		named("versions: GET /v2.18/images", get("p1", "/v2.18/images")),
		named("versions: GET /v2.16/images", get("p1", "/v2.16/images")),
		named("versions: Accept vnd v2.5", withHeader(get("p1", "/images"), "Accept", "application/vnd.openstack.images-v2.5")),
		named("versions: Accept vnd on /v2 path", withHeader(get("p1", "/v2/images"), "Accept", "application/vnd.openstack.images-v2.5")),
	)
	// Every prefix a careless client might try: Glance accepts exactly the
	// versions it lists (fewer without image_cache_dir).
	for _, v := range []string{"v1", "v2.0", "v2.1", "v2.4", "v2.7", "v2.8", "v2.9", "v2.10", "v2.13", "v2.14",
		"v2.15", "v2.17", "v2.19", "v2.20", "v2.01", "V2", "v2."} {
		add(named("versions: GET /"+v+"/images", get("p1", "/"+v+"/images")))
	}

	// --- schemas and info ---------------------------------------------------
	for _, p := range []string{"image", "images", "member", "members", "task", "tasks",
		"metadefs/namespace", "metadefs/namespaces", "metadefs/resource_type", "metadefs/resource_types",
		"metadefs/property", "metadefs/properties", "metadefs/object", "metadefs/objects",
		"metadefs/tag", "metadefs/tags", "nope"} {
		add(get("p1", "/v2/schemas/"+p))
	}
	add(get("p1", "/v2/info/import"), get("p1", "/v2/info/stores"), get("p1", "/v2/info/usage"))

	// --- 401, 404, 405, error rendering -----------------------------------
	add(
		get("anon", "/v2/images"),
		named("401 html", withHeader(get("anon", "/v2/images"), "Accept", "text/html")),
		named("401 json", withHeader(get("anon", "/v2/images"), "Accept", "application/json")),
		get("unconfirmed", "/v2/images"),
		get("anon", "/v2/schemas/image"),
		post("anon", "/v2/images", `{"name":"x"}`),
		get("p1", "/v2/images/00000000-0000-0000-0000-000000000000"),
		named("404 html", withHeader(get("p1", "/v2/images/00000000-0000-0000-0000-000000000000"), "Accept", "text/html")),
		named("404 plain", withHeader(get("p1", "/v2/images/00000000-0000-0000-0000-000000000000"), "Accept", "text/plain")),
		named("404 no accept", withHeader(get("p1", "/v2/images/00000000-0000-0000-0000-000000000000"), "Accept", "")),
		get("p1", "/v2/images/not-a-uuid"),
		get("p1", "/v2/nothing"),
		get("p1", "/v2/images/00000000-0000-0000-0000-000000000000/members"),
		step{as: "p1", method: "PUT", path: "/v2/images"},
		step{as: "p1", method: "DELETE", path: "/v2/images"},
		step{as: "p1", method: "POST", path: "/v2/images/00000000-0000-0000-0000-000000000000"},
		step{as: "p1", method: "PUT", path: "/v2/images/00000000-0000-0000-0000-000000000000"},
		named("405 html", withHeader(step{as: "p1", method: "POST", path: "/v2/images/00000000-0000-0000-0000-000000000000"}, "Accept", "text/html")),
		step{as: "p1", method: "DELETE", path: "/v2/schemas/image"},
		step{as: "p1", method: "POST", path: "/v2/images/00000000-0000-0000-0000-000000000000/file"},
		step{as: "p1", method: "DELETE", path: "/v2/images/00000000-0000-0000-0000-000000000000/file"},
		step{as: "p1", method: "GET", path: "/v2/images/00000000-0000-0000-0000-000000000000/tags/x"},
		step{as: "p1", method: "PUT", path: "/v2/images/00000000-0000-0000-0000-000000000000/members"},
		step{as: "p1", method: "GET", path: "/v2/images/00000000-0000-0000-0000-000000000000/actions/deactivate"},
		step{as: "p1", method: "PUT", path: "/v2/info/stores"},
		step{as: "p1", method: "HEAD", path: "/v2/images"},
		step{as: "anon", method: "HEAD", path: "/versions"},
		step{as: "p1", method: "OPTIONS", path: "/v2/images"},
		get("p1", "/v2"), get("p1", "/v2/"), get("p1", "/v2/images/"), get("p1", "/v2//images"),
		get("anon", "/versions/"), get("anon", "/versions?x=1"), get("anon", "/v2/versions"),
		get("p1", "/v2/images?limit=1&limit=2"), get("p1", "/v2/images?name=a&name=b"),
		get("p1", "/v2/images?limit=%zz"), get("p1", "/v2/images?unknown_filter=1"),
	)

	// --- create: field combinations ------------------------------------------
	add(
		saving("c_empty", post("p1", "/v2/images", `{}`)),
		saving("c_full", post("p1", "/v2/images", `{"name":"full","disk_format":"qcow2","container_format":"bare","visibility":"private","protected":false,"os_hidden":false,"min_disk":1,"min_ram":512,"tags":["a","b","a"],"color":"blue","hw_disk_bus":"virtio"}`)),
		saving("c_id", post("p1", "/v2/images", `{"id":"8a0d3a5c-5a4a-4d7d-9d1e-6f7f5b0c0a11","name":"with-id"}`)),
		saving("c_shared", post("p1", "/v2/images", `{"name":"sh","visibility":"shared"}`)),
		saving("c_community", post("p1", "/v2/images", `{"name":"co","visibility":"community"}`)),
		saving("c_public_admin", post("admin", "/v2/images", `{"name":"pub","visibility":"public","disk_format":"raw","container_format":"bare"}`)),
		saving("c_owner_admin", post("admin", "/v2/images", `{"name":"for-p3","owner":"p3"}`)),
		saving("c_null_name", post("p1", "/v2/images", `{"name":null,"disk_format":null,"container_format":null}`)),
		saving("c_formats", post("p1", "/v2/images", `{"name":"ami","disk_format":"ami","container_format":"ami"}`)),
		saving("c_unicode", post("p1", "/v2/images", `{"name":"\u00e9t\u00e9 \u2603","prop_\u00e9":"v\u00e9"}`)),
		saving("c_hidden", post("p1", "/v2/images", `{"name":"hid","os_hidden":true}`)),
		saving("c_protected", post("p1", "/v2/images", `{"name":"prot","protected":true}`)),
	)
	for _, id := range []string{"c_empty", "c_full", "c_id", "c_public_admin", "c_owner_admin", "c_unicode"} {
		add(get("p1", "/v2/images/{{"+id+"}}"))
	}
	// --- create: every error -----------------------------------------------
	for i, body := range []string{
		`not json`, `[]`, `"str"`, `null`, ``, `{"name":1}`, `{"name":"` + strings.Repeat("n", 256) + `"}`,
		`{"disk_format":"bogus"}`, `{"container_format":"bogus"}`, `{"visibility":"bogus"}`,
		`{"visibility":"public"}`, `{"protected":"yes"}`, `{"os_hidden":"yes"}`, `{"min_ram":-1}`,
		`{"min_disk":"1"}`, `{"min_disk":1.5}`, `{"tags":"a"}`, `{"tags":[1]}`, `{"tags":["` + strings.Repeat("t", 256) + `"]}`,
		`{"id":"not-a-uuid"}`, `{"id":"8a0d3a5c-5a4a-4d7d-9d1e-6f7f5b0c0a11"}`, `{"status":"active"}`,
		`{"size":10}`, `{"checksum":"abc"}`, `{"created_at":"2020-01-01T00:00:00Z"}`, `{"self":"x"}`, `{"file":"x"}`,
		`{"schema":"x"}`, `{"direct_url":"x"}`, `{"location":"http://x"}`, `{"locations":[]}`,
		`{"os_glance_foo":"x"}`, `{"owner":"p2"}`, `{"custom":1}`, `{"custom":{"a":1}}`, `{"custom":null}`,
		`{"stores":"local"}`, `{"os_hash_value":"x"}`, `{"virtual_size":1}`, `{"` + strings.Repeat("k", 256) + `":"v"}`,
		`{"deleted":true}`, `{"deleted_at":"x"}`, `{"updated_at":"x"}`, `{"min_ram":2147483648}`,
	} {
		add(named(fmt.Sprintf("create error %02d %s", i, clip(body, 40)), post("p1", "/v2/images", body)))
	}
	add(
		named("create text/plain", withHeader(post("p1", "/v2/images", `{"name":"x"}`), "Content-Type", "text/plain")),
		named("create no content type", withHeader(post("p1", "/v2/images", `{"name":"x"}`), "Content-Type", "")),
		named("create error html", withHeader(post("p1", "/v2/images", `{"disk_format":"bogus"}`), "Accept", "text/html")),
	)

	// --- seed images ----------------------------------------------------------
	for i := 0; i < seedCount; i++ {
		as, body := seedImage(i)
		add(named("seed "+seedVar(i), saving(seedVar(i), post(as, "/v2/images", body))))
	}
	// data for some: sizes and status active
	for i := 1; i < seedCount; i += 6 {
		as, _ := seedImage(i)
		if as == "admin" {
			as = "admin"
		}
		add(named("seed data "+seedVar(i), step{as: as, method: "PUT", path: "/v2/images/{{" + seedVar(i) + "}}/file",
			body: strings.Repeat("x", i*10), header: map[string]string{"Content-Type": ctOctet}}))
	}
	// memberships: shared seeds owned by p1 (i%5 in {1,4}, i%3==0)
	add(
		post("p1", "/v2/images/{{s06}}/members", `{"member":"p2"}`),
		post("p1", "/v2/images/{{s06}}/members", `{"member":"p3"}`),
		post("p1", "/v2/images/{{s09}}/members", `{"member":"p2"}`),
		post("p1", "/v2/images/{{s21}}/members", `{"member":"p2"}`),
		post("p1", "/v2/images/{{s24}}/members", `{"member":"p2"}`),
		post("p2", "/v2/images/{{s01}}/members", `{"member":"p1"}`),
		post("p2", "/v2/images/{{s04}}/members", `{"member":"p1"}`),
		step{as: "p2", method: "PUT", path: "/v2/images/{{s06}}/members/p2", body: `{"status":"accepted"}`, header: map[string]string{"Content-Type": ctJSON}},
		step{as: "p2", method: "PUT", path: "/v2/images/{{s09}}/members/p2", body: `{"status":"rejected"}`, header: map[string]string{"Content-Type": ctJSON}},
		step{as: "p1", method: "PUT", path: "/v2/images/{{s01}}/members/p1", body: `{"status":"accepted"}`, header: map[string]string{"Content-Type": ctJSON}},
	)

	// --- list -----------------------------------------------------------------
	queries := []string{
		"", "?limit=5", "?limit=0", "?limit=-1", "?limit=abc", "?limit=1001",
		"?sort_key=name&sort_dir=asc", "?sort_key=name&sort_dir=desc", "?sort_key=min_disk",
		"?sort_key=bogus", "?sort_dir=bogus", "?sort_key=name&sort_key=min_disk&sort_dir=asc&sort_dir=desc",
		"?sort=name:asc,created_at:desc", "?sort=name", "?sort=min_disk:desc,name:asc", "?sort=name:bogus",
		"?sort=bogus:asc", "?sort=name:asc&sort_key=name", "?sort=disk_format,name:desc", "?sort=",
		"?sort=size:asc", "?sort=updated_at:asc",
		// Not UTF-8 once decoded: Glance's 400 (its other routes answer
		// such text with a 500; Spyglass refuses it before any region).
		"?name=a%ff", "?marker=%ff", "?a%ff=b", "?tag=%ed%a0%80",
		"?visibility=public", "?visibility=private", "?visibility=shared", "?visibility=community",
		"?visibility=all", "?visibility=bogus",
		"?member_status=pending", "?member_status=rejected", "?member_status=all", "?member_status=bogus",
		"?visibility=shared&member_status=all", "?visibility=shared&member_status=pending",
		"?os_hidden=true", "?os_hidden=false", "?os_hidden=bogus",
		"?name=dup", "?name=seed-01", "?name=in:dup,seed-01", "?name=nothing",
		"?status=active", "?status=queued", "?status=in:active,queued", "?status=bogus",
		"?disk_format=raw", "?disk_format=in:qcow2,iso", "?container_format=bare",
		"?tag=even", "?tag=even&tag=three", "?tag=nothing",
		"?owner=p2", "?owner=p1&visibility=all",
		"?size_min=50", "?size_max=100", "?size_min=50&size_max=100", "?size_min=abc", "?size_min=-1",
		"?protected=true", "?protected=false", "?protected=bogus",
		"?min_disk=2", "?min_ram=16",
		"?flavor=x", "?seq=3",
		"?created_at=gt:2000-01-01T00:00:00Z", "?created_at=lt:2000-01-01T00:00:00Z", "?created_at=gte:2000-01-01T00:00:00Z",
		"?updated_at=lte:3000-01-01T00:00:00Z", "?created_at=bogus", "?updated_at=gt:bogus", "?created_at=eq:2000-01-01T00:00:00Z",
		"?id=in:{{s01}},{{s02}}", "?id={{s03}}",
		"?marker={{s10}}", "?marker={{s10}}&limit=3", "?marker=00000000-0000-0000-0000-000000000000", "?marker=bogus",
		"?marker={{s10}}&sort_key=name&sort_dir=asc&limit=4",
		"?limit=3&sort=name:asc,min_disk:desc",
	}
	for _, as := range []string{"p1", "p2", "admin"} {
		for _, q := range queries {
			add(get(as, "/v2/images"+q))
		}
	}
	for _, q := range []string{"?limit=4", "?limit=7&sort_key=status&sort_dir=asc", "?limit=5&visibility=all",
		"?limit=2&tag=even", "?limit=4&sort=disk_format:desc,status:asc"} {
		add(named("list walk: "+q[1:], step{as: "p1", method: "GET", path: "/v2/images" + q, walk: true}))
		add(named("list walk admin: "+q[1:], step{as: "admin", method: "GET", path: "/v2/images" + q, walk: true}))
	}
	add(named("list walk: sort=size:asc limit=4", step{as: "admin", method: "GET", path: "/v2/images?sort=size:asc&limit=4", walk: true}))
	add(named("list walk: sort_key=name limit=3", step{as: "admin", method: "GET", path: "/v2/images?sort_key=name&sort_dir=asc&limit=3", walk: true}))

	// --- show: visibility rules ------------------------------------------------
	for _, as := range []string{"p1", "p2", "p3", "admin"} {
		for _, i := range []int{0, 1, 2, 3, 4, 6, 9, 13} {
			add(get(as, "/v2/images/{{"+seedVar(i)+"}}"))
		}
	}

	// --- patch ----------------------------------------------------------------
	add(
		named("patch json 415", withHeader(patch("p1", "c_full", `[]`), "Content-Type", "application/json")),
		named("patch 415 html", withHeader(patch("p1", "c_full", `[]`), "Content-Type", "application/json", "Accept", "text/html")),
		patch("p1", "c_full", `[{"op":"replace","path":"/name","value":"full2"}]`),
		patch("p1", "c_full", `[{"op":"add","path":"/color","value":"red"},{"op":"add","path":"/shape","value":"round"}]`),
		patch("p1", "c_full", `[{"op":"remove","path":"/shape"}]`),
		patch("p1", "c_full", `[{"op":"remove","path":"/shape"}]`),
		patch("p1", "c_full", `[{"op":"replace","path":"/nothere","value":"x"}]`),
		patch("p1", "c_full", `[{"op":"add","path":"/tags/-","value":"c"}]`),
		patch("p1", "c_full", `[{"op":"replace","path":"/tags","value":["x","y"]}]`),
		patch("p1", "c_full", `[{"op":"replace","path":"/min_ram","value":1024},{"op":"replace","path":"/min_disk","value":2}]`),
		patch("p1", "c_full", `[{"op":"replace","path":"/min_ram","value":"1"}]`),
		patch("p1", "c_full", `[{"op":"replace","path":"/disk_format","value":"raw"}]`),
		patch("p1", "c_full", `[{"op":"replace","path":"/disk_format","value":"bogus"}]`),
		patch("p1", "c_full", `[{"op":"replace","path":"/status","value":"active"}]`),
		patch("p1", "c_full", `[{"op":"replace","path":"/id","value":"8a0d3a5c-5a4a-4d7d-9d1e-6f7f5b0c0a12"}]`),
		patch("p1", "c_full", `[{"op":"replace","path":"/created_at","value":"x"}]`),
		patch("p1", "c_full", `[{"op":"add","path":"/os_glance_x","value":"x"}]`),
		patch("p1", "c_full", `[{"op":"add","path":"/deleted","value":"x"}]`),
		patch("p1", "c_full", `[{"op":"replace","path":"/owner","value":"p2"}]`),
		patch("p1", "c_full", `[{"op":"replace","path":"/visibility","value":"public"}]`),
		patch("p1", "c_full", `[{"op":"replace","path":"/visibility","value":"community"}]`),
		patch("p1", "c_full", `[{"op":"replace","path":"/visibility","value":"shared"}]`),
		patch("p1", "c_full", `[{"op":"replace","path":"/visibility","value":"private"}]`),
		patch("p1", "c_full", `[{"op":"replace","path":"/visibility","value":"bogus"}]`),
		patch("admin", "c_full", `[{"op":"replace","path":"/visibility","value":"public"}]`),
		patch("admin", "c_full", `[{"op":"replace","path":"/visibility","value":"private"}]`),
		patch("p1", "c_full", `[{"op":"replace","path":"/protected","value":"yes"}]`),
		patch("p1", "c_full", `[{"op":"replace","path":"/os_hidden","value":true}]`),
		patch("p1", "c_full", `[{"op":"bogus","path":"/name","value":"x"}]`),
		patch("p1", "c_full", `[{"op":"replace","path":"name","value":"x"}]`),
		patch("p1", "c_full", `[{"op":"replace","path":"/a/b","value":"x"}]`),
		patch("p1", "c_full", `[{"op":"replace","path":"/name"}]`),
		patch("p1", "c_full", `{"op":"replace"}`),
		patch("p1", "c_full", `not json`),
		patch("p1", "c_full", `[]`),
		patch("p1", "c_full", `[{"op":"add","path":"/color","value":1}]`),
		patch("p1", "c_full", `[{"op":"add","path":"/`+strings.Repeat("k", 256)+`","value":"v"}]`),
		patch("p1", "c_full", `[{"op":"replace","path":"/name","value":null}]`),
		patch("p1", "c_full", `[{"op":"remove","path":"/name"}]`),
		patch("p1", "c_full", `[{"op":"remove","path":"/min_ram"}]`),
		patch("p2", "c_full", `[{"op":"replace","path":"/name","value":"x"}]`),
		patch("p2", "s06", `[{"op":"replace","path":"/name","value":"x"}]`),
		patch("p2", "s02", `[{"op":"replace","path":"/name","value":"x"}]`),
		patch("anon", "c_full", `[{"op":"replace","path":"/name","value":"x"}]`),
		step{as: "p1", method: "PATCH", path: "/v2/images/{{c_full}}", body: `[{"replace":"/name","value":"v20"},{"add":"/legacy","value":"1"}]`, header: map[string]string{"Content-Type": ctPatch0}},
		step{as: "p1", method: "PATCH", path: "/v2/images/{{c_full}}", body: `[{"op":"replace","path":"/name","value":"x"}]`, header: map[string]string{"Content-Type": ctPatch0}},
		step{as: "p1", method: "PATCH", path: "/v2/images/00000000-0000-0000-0000-000000000000", body: `[]`, header: map[string]string{"Content-Type": ctPatch}},
		get("p1", "/v2/images/{{c_full}}"),
	)

	// --- tags -------------------------------------------------------------------
	add(
		step{as: "p1", method: "PUT", path: "/v2/images/{{c_full}}/tags/newtag"},
		step{as: "p1", method: "PUT", path: "/v2/images/{{c_full}}/tags/newtag"},
		step{as: "p1", method: "PUT", path: "/v2/images/{{c_full}}/tags/" + strings.Repeat("t", 256)},
		step{as: "p1", method: "DELETE", path: "/v2/images/{{c_full}}/tags/newtag"},
		step{as: "p1", method: "DELETE", path: "/v2/images/{{c_full}}/tags/newtag"},
		step{as: "p2", method: "PUT", path: "/v2/images/{{c_full}}/tags/x"},
		step{as: "p2", method: "PUT", path: "/v2/images/{{s02}}/tags/x"},
		step{as: "p1", method: "PUT", path: "/v2/images/00000000-0000-0000-0000-000000000000/tags/x"},
		step{as: "p1", method: "PUT", path: "/v2/images/{{c_full}}/tags/a%20b"},
		step{as: "p1", method: "PUT", path: "/v2/images/{{c_full}}/tags/%C3%A9t%C3%A9"},
		step{as: "p1", method: "PUT", path: "/v2/images/{{c_full}}/tags/a,b"},
		step{as: "p1", method: "HEAD", path: "/v2/images/{{c_full}}"},
		get("p1", "/v2/images/{{c_full}}"),
	)

	// --- members --------------------------------------------------------------------
	add(
		post("p1", "/v2/images/{{c_shared}}/members", `{"member":"p2"}`),
		post("p1", "/v2/images/{{c_shared}}/members", `{"member":"p2"}`),
		post("p1", "/v2/images/{{c_shared}}/members", `{"member":"p3"}`),
		post("p1", "/v2/images/{{c_shared}}/members", `{}`),
		post("p1", "/v2/images/{{c_shared}}/members", `{"member":1}`),
		post("p1", "/v2/images/{{c_shared}}/members", `not json`),
		post("p1", "/v2/images/{{c_full}}/members", `{"member":"p2"}`),
		post("p1", "/v2/images/{{c_community}}/members", `{"member":"p2"}`),
		post("p2", "/v2/images/{{c_shared}}/members", `{"member":"p3"}`),
		post("p3", "/v2/images/{{c_shared}}/members", `{"member":"p3"}`),
		post("p1", "/v2/images/00000000-0000-0000-0000-000000000000/members", `{"member":"p2"}`),
		get("p1", "/v2/images/{{c_shared}}/members"),
		get("p2", "/v2/images/{{c_shared}}/members"),
		get("p3", "/v2/images/{{c_full}}/members"),
		get("p1", "/v2/images/{{c_shared}}/members/p2"),
		get("p2", "/v2/images/{{c_shared}}/members/p2"),
		get("p2", "/v2/images/{{c_shared}}/members/p3"),
		get("p1", "/v2/images/{{c_shared}}/members/nobody"),
		get("p2", "/v2/images/{{c_shared}}"),
		get("p2", "/v2/images?visibility=shared&member_status=pending"),
	)
	put := func(as, img, member, body string) step {
		return step{as: as, method: "PUT", path: "/v2/images/{{" + img + "}}/members/" + member, body: body, header: map[string]string{"Content-Type": ctJSON}}
	}
	add(
		put("p2", "c_shared", "p2", `{"status":"accepted"}`),
		put("p2", "c_shared", "p2", `{"status":"bogus"}`),
		put("p2", "c_shared", "p2", `{}`),
		put("p2", "c_shared", "p2", `not json`),
		put("p1", "c_shared", "p2", `{"status":"rejected"}`),
		put("p2", "c_shared", "p3", `{"status":"accepted"}`),
		put("p3", "c_shared", "p3", `{"status":"rejected"}`),
		put("p2", "c_shared", "nobody", `{"status":"accepted"}`),
		put("admin", "c_shared", "p3", `{"status":"pending"}`),
		get("p2", "/v2/images/{{c_shared}}/members"),
		get("p2", "/v2/images?visibility=shared"),
		step{as: "p2", method: "DELETE", path: "/v2/images/{{c_shared}}/members/p2"},
		step{as: "p1", method: "DELETE", path: "/v2/images/{{c_shared}}/members/p3"},
		step{as: "p1", method: "DELETE", path: "/v2/images/{{c_shared}}/members/p3"},
		get("p1", "/v2/images/{{c_shared}}/members"),
		get("admin", "/v2/images/{{c_shared}}/members"),
		// private → members refused; shared with members → private hides them
		patch("p1", "c_shared", `[{"op":"replace","path":"/visibility","value":"private"}]`),
		get("p2", "/v2/images/{{c_shared}}"),
		get("p1", "/v2/images/{{c_shared}}/members"),
		patch("p1", "c_shared", `[{"op":"replace","path":"/visibility","value":"shared"}]`),
		get("p2", "/v2/images/{{c_shared}}"),
	)

	// --- upload / download -----------------------------------------------------------
	const data = "hello world, this is image data\n"
	upload := func(as, img, body string) step {
		return step{as: as, method: "PUT", path: "/v2/images/{{" + img + "}}/file", body: body, header: map[string]string{"Content-Type": ctOctet}}
	}
	rng := func(r string) step {
		return withHeader(get("p1", "/v2/images/{{c_data}}/file"), "Range", r)
	}
	add(
		saving("c_data", post("p1", "/v2/images", `{"name":"data","disk_format":"raw","container_format":"bare"}`)),
		get("p1", "/v2/images/{{c_data}}/file"),
		withHeader(upload("p1", "c_data", data), "Content-Type", "application/json"),
		upload("p2", "c_data", data),
		upload("p1", "c_data", data),
		upload("p1", "c_data", data),
		get("p1", "/v2/images/{{c_data}}"),
		get("p1", "/v2/images/{{c_data}}/file"),
		get("p2", "/v2/images/{{c_data}}/file"),
		rng("bytes=0-4"), rng("bytes=-5"), rng("bytes=6-"), rng("bytes=0-"), rng("bytes=31-31"),
		rng("bytes=0-1000"), rng("bytes=100-200"), rng("bytes=32-"), rng("bytes=0-1,3-4"), rng("bytes=5-2"),
		rng("bytes=abc"), rng("items=0-4"), rng("bytes=-0"),
		withHeader(get("p1", "/v2/images/{{c_data}}/file"), "Content-Range", "bytes 0-4/32"),
		// Numbers past 2^63, which Python's integers take as they are.
		rng("bytes=0-9223372036854775808"), rng("bytes=5-18446744073709551616"), rng("bytes=-99999999999999999999"),
		rng("bytes=9223372036854775807-"), rng("bytes=99999999999999999999-"), rng("bytes=5-+9"), rng("BYTES = 5 - 9"),
		withHeader(get("p1", "/v2/images/{{c_data}}/file"), "Content-Range", "bytes 5-9223372036854775807/*"),
		withHeader(get("p1", "/v2/images/{{c_data}}/file"), "Content-Range", "bytes 5-9/99999999999999999999"),
		withHeader(get("p1", "/v2/images/{{c_data}}/file"), "Content-Range", "bytes 9223372036854775807-9223372036854775807/*"),
		withHeader(get("p1", "/v2/images/{{c_data}}/file"), "Content-Range", "bytes +5-9/*"),
		// chunked upload (no Content-Length), as glanceclient sends from a pipe
		saving("c_size", post("p1", "/v2/images", `{"name":"size","disk_format":"raw","container_format":"bare"}`)),
		named("upload chunked", func() step { u := upload("p1", "c_size", data); u.chunked = true; return u }()),
		get("p1", "/v2/images/{{c_size}}"),
		upload("p1", "00000000-0000-0000-0000-000000000000", data),
		upload("p1", "c_full", ""),
		get("p1", "/v2/images/{{c_full}}"),
	)

	// --- deactivate / reactivate -----------------------------------------------
	add(
		post("p1", "/v2/images/{{c_data}}/actions/deactivate", ``),
		get("p1", "/v2/images/{{c_data}}"),
		post("admin", "/v2/images/{{c_data}}/actions/deactivate", ``),
		post("admin", "/v2/images/{{c_data}}/actions/deactivate", ``),
		get("p1", "/v2/images/{{c_data}}"),
		get("p1", "/v2/images/{{c_data}}/file"),
		get("admin", "/v2/images/{{c_data}}/file"),
		post("p1", "/v2/images/{{c_data}}/actions/reactivate", ``),
		post("admin", "/v2/images/{{c_data}}/actions/reactivate", ``),
		post("admin", "/v2/images/{{c_data}}/actions/reactivate", ``),
		post("admin", "/v2/images/{{c_empty}}/actions/deactivate", ``),
		post("admin", "/v2/images/{{c_data}}/actions/bogus", ``),
		post("admin", "/v2/images/00000000-0000-0000-0000-000000000000/actions/deactivate", ``),
		get("p1", "/v2/images/{{c_data}}/file"),
	)

	// --- stage + import (glance-direct) ------------------------------------------------
	add(
		saving("c_imp", post("p1", "/v2/images", `{"name":"imp","disk_format":"raw","container_format":"bare"}`)),
		post("p1", "/v2/images/{{c_imp}}/import", `{"method":{"name":"glance-direct"}}`),
		step{as: "p1", method: "PUT", path: "/v2/images/{{c_imp}}/stage", body: data, header: map[string]string{"Content-Type": ctOctet}},
		step{as: "p1", method: "PUT", path: "/v2/images/{{c_imp}}/stage", body: data, header: map[string]string{"Content-Type": ctOctet}},
		get("p1", "/v2/images/{{c_imp}}"),
		post("p1", "/v2/images/{{c_imp}}/import", `{"method":{"name":"bogus"}}`),
		post("p1", "/v2/images/{{c_imp}}/import", `{}`),
		post("p1", "/v2/images/{{c_imp}}/import", `not json`),
		post("p2", "/v2/images/{{c_imp}}/import", `{"method":{"name":"glance-direct"}}`),
		post("p1", "/v2/images/{{c_imp}}/import", `{"method":{"name":"glance-direct"}}`),
		named("import: poll until active", step{as: "p1", method: "GET", path: "/v2/images/{{c_imp}}",
			until: importDone}),
		get("p1", "/v2/images/{{c_imp}}/file"),
		post("p1", "/v2/images/{{c_imp}}/import", `{"method":{"name":"glance-direct"}}`),
		post("p1", "/v2/images/{{c_full}}/import", `{"method":{"name":"web-download","uri":"not a uri"}}`),
	)

	// --- web-download: import filtering (the SSRF reproductions) -------------------------
	// Loopback and link-local addresses are not here: Glance 25 accepts
	// them (202, and fetches them), Spyglass refuses them (400); see
	// cmd/spyglass TestWebDownloadSSRFThroughGlanceRegion.
	wd := func(name, uri string) step {
		return named("web-download "+name, post("p1", "/v2/images/{{c_wd}}/import", `{"method":{"name":"web-download","uri":"`+uri+`"}}`))
	}
	add(
		saving("c_wd", post("p1", "/v2/images", `{"name":"wd","disk_format":"raw","container_format":"bare"}`)),
		wd("decimal", "http://2130706433/"),
		wd("hex", "http://0x7f000001/"),
		wd("short", "http://127.1/"),
		wd("octal", "http://017700000001/"),
		wd("mixed", "http://127.0x0.0.1/"),
		wd("trailing dot", "http://127.0.0.1./"),
		wd("percent-encoded", "http://%31%32%37.0.0.1/"),
		wd("port", "http://203.0.113.1:8080/x"),
		wd("scheme", "ftp://203.0.113.1/x"),
		wd("file", "file:///etc/passwd"),
		named("web-download no uri", post("p1", "/v2/images/{{c_wd}}/import", `{"method":{"name":"web-download"}}`)),
		named("web-download by another project", post("p2", "/v2/images/{{c_wd}}/import", `{"method":{"name":"web-download","uri":"http://127.1/"}}`)),
		// An address that passes both filters and cannot be fetched: 202,
		// then a failed import, as Tempest's bad-URL test waits for.
		wd("unreachable", "http://203.0.113.1/x"),
		named("web-download: poll until failed", step{as: "p1", method: "GET", path: "/v2/images/{{c_wd}}", until: importFailed}),
	)

	// --- delete ------------------------------------------------------------------------------
	add(
		step{as: "p1", method: "DELETE", path: "/v2/images/{{c_protected}}"},
		step{as: "p2", method: "DELETE", path: "/v2/images/{{c_data}}"},
		step{as: "p2", method: "DELETE", path: "/v2/images/{{s02}}"},
		patch("p1", "c_protected", `[{"op":"replace","path":"/protected","value":false}]`),
		step{as: "p1", method: "DELETE", path: "/v2/images/{{c_protected}}"},
		get("p1", "/v2/images/{{c_protected}}"),
		step{as: "p1", method: "DELETE", path: "/v2/images/{{c_protected}}"},
		step{as: "p1", method: "DELETE", path: "/v2/images/{{c_data}}"},
		get("p1", "/v2/images/{{c_data}}/file"),
		step{as: "admin", method: "DELETE", path: "/v2/images/{{c_owner_admin}}"},
		step{as: "p1", method: "DELETE", path: "/v2/images/00000000-0000-0000-0000-000000000000"},
		get("admin", "/v2/images?limit=100"),
	)

	// --- tasks ---------------------------------------------------------------------------------
	taskIgnore := []string{"status", "message", "result", "updated_at", "expires_at"}
	add(
		post("p1", "/v2/tasks", `{"type":"import","input":{"import_from":"http://127.0.0.1:1/x","import_from_format":"raw","image_properties":{"name":"t"}}}`),
		post("admin", "/v2/tasks", `{"type":"import","input":{"import_from":"http://127.0.0.1:1/x","import_from_format":"raw","image_properties":{"name":"t","disk_format":"raw","container_format":"bare"}}}`),
		post("admin", "/v2/tasks", `{"type":"import","input":{"import_from":"file:///etc/passwd","import_from_format":"raw","image_properties":{"name":"t"}}}`),
		post("admin", "/v2/tasks", `{}`),
		post("admin", "/v2/tasks", `{"type":"bogus","input":{}}`),
		post("admin", "/v2/tasks", `not json`),
		named("tasks: a body that is not UTF-8", post("admin", "/v2/tasks", "{\"type\":\"import\",\"input\":{\"x\":\"\xff\"}}")),
		post("admin", "/v2/tasks", `{"type":"import"}`),
		step{as: "admin", method: "POST", path: "/v2/tasks", save: "t1", ignore: taskIgnore, header: map[string]string{"Content-Type": ctJSON},
			body: `{"type":"import","input":{"import_from":"http://203.0.113.1/x","import_from_format":"raw","image_properties":{"name":"t","disk_format":"raw","container_format":"bare"}}}`},
		step{as: "admin", method: "GET", path: "/v2/tasks/{{t1}}", ignore: taskIgnore},
		step{as: "admin", method: "GET", path: "/v2/tasks", ignore: taskIgnore},
		step{as: "p1", method: "GET", path: "/v2/tasks", ignore: taskIgnore},
		get("admin", "/v2/tasks/00000000-0000-0000-0000-000000000000"),
		get("admin", "/v2/tasks?limit=bogus"),
		get("admin", "/v2/tasks?sort_key=bogus"),
		get("admin", "/v2/tasks?status=bogus"),
		get("admin", "/v2/tasks?status=%ff"),
		step{as: "admin", method: "DELETE", path: "/v2/tasks/{{t1}}"},
		step{as: "admin", method: "PUT", path: "/v2/tasks"},
		get("p1", "/v2/images/{{c_imp}}/tasks"),
	)
	add(hostileSteps()...)
	return s
}

// hostileSteps are the hostile tenant's and the careless client's requests
// of issue 20, last in the script: the final ones leave the two servers'
// states apart on purpose (Glance 25 lets a tenant give its community
// image away).
func hostileSteps() []step {
	var s []step
	add := func(st ...step) { s = append(s, st...) }

	// --- JSON patch of read-only and admin-only attributes, every op, as
	// the tenant, on a queued and on an active image.
	add(
		saving("c_pt", post("p1", "/v2/images", `{"name":"pt","disk_format":"raw","container_format":"bare","foo":"bar"}`)),
		saving("c_pta", post("p1", "/v2/images", `{"name":"pta","disk_format":"raw","container_format":"bare","foo":"bar"}`)),
		step{as: "p1", method: "PUT", path: "/v2/images/{{c_pta}}/file", body: "0123456789", header: map[string]string{"Content-Type": ctOctet}},
	)
	values := map[string]string{
		"owner": `"p2"`, "disk_format": `"qcow2"`, "container_format": `"ovf"`, "status": `"active"`,
		"id": `"8a0d3a5c-5a4a-4d7d-9d1e-6f7f5b0c0a19"`, "checksum": `"x"`, "size": `1`, "virtual_size": `1`,
		"os_hash_value": `"x"`, "created_at": `"2020-01-01T00:00:00Z"`, "self": `"x"`, "location": `"x"`,
		"deleted": `true`, "os_glance_x": `"x"`, "locations": `[]`, "tags": `["a"]`, "foo": `"baz"`,
	}
	attrs := []string{"owner", "disk_format", "container_format", "status", "id", "checksum", "size", "virtual_size",
		"os_hash_value", "created_at", "self", "location", "deleted", "os_glance_x", "locations", "tags", "foo"}
	for _, img := range []string{"c_pt", "c_pta"} {
		for _, attr := range attrs {
			for _, op := range []string{"add", "replace", "remove", "move", "copy"} {
				var body string
				switch op {
				case "add", "replace":
					body = `[{"op":"` + op + `","path":"/` + attr + `","value":` + values[attr] + `}]`
				case "remove":
					body = `[{"op":"remove","path":"/` + attr + `"}]`
				default:
					body = `[{"op":"` + op + `","from":"/name","path":"/` + attr + `"}]`
				}
				add(named("hostile patch: "+img+" "+op+" /"+attr, patch("p1", img, body)))
			}
			for _, op := range []string{"add", "replace"} {
				add(named("hostile patch v2.0: "+img+" "+op+" /"+attr, step{as: "p1", method: "PATCH", path: "/v2/images/{{" + img + "}}",
					body: `[{"` + op + `":"/` + attr + `","value":` + values[attr] + `}]`, header: map[string]string{"Content-Type": ctPatch0}}))
			}
		}
		add(named("hostile patch: "+img+" after", get("p1", "/v2/images/{{"+img+"}}")))
	}
	add(
		named("hostile patch: admin replace /owner", patch("admin", "c_pt", `[{"op":"replace","path":"/owner","value":"p1"}]`)),
		named("hostile patch: admin add /disk_format active", patch("admin", "c_pta", `[{"op":"add","path":"/disk_format","value":"iso"}]`)),
	)

	// --- invalid UTF-8 and lone surrogates in JSON bodies.
	for _, c := range []struct{ name, method, path, ct, body string }{
		{"create", "POST", "/v2/images", ctJSON, "{\"name\":\"a\xff\xfeb\"}"},
		{"create key", "POST", "/v2/images", ctJSON, "{\"k\xc0\xaf\":\"v\"}"},
		{"create surrogate", "POST", "/v2/images", ctJSON, `{"name":"\ud800"}`},
		{"create low surrogate", "POST", "/v2/images", ctJSON, `{"name":"a\udc00b"}`},
		{"create surrogate pair", "POST", "/v2/images", ctJSON, `{"name":"pair \u00e9","k":"\\ud800"}`},
		{"patch", "PATCH", "/v2/images/{{c_pt}}", ctPatch, "[{\"op\":\"replace\",\"path\":\"/name\",\"value\":\"a\xffb\"}]"},
		{"patch surrogate", "PATCH", "/v2/images/{{c_pt}}", ctPatch, `[{"op":"replace","path":"/name","value":"\udc00"}]`},
		{"patch key surrogate", "PATCH", "/v2/images/{{c_pt}}", ctPatch, `[{"op":"add","path":"/p\ud800","value":"x"}]`},
		{"member", "POST", "/v2/images/{{c_shared}}/members", ctJSON, "{\"member\":\"p\xff2\"}"},
		{"member surrogate", "POST", "/v2/images/{{c_shared}}/members", ctJSON, `{"member":"\ud800x"}`},
		{"member status", "PUT", "/v2/images/{{c_shared}}/members/p2", ctJSON, "{\"status\":\"accepted\xff\"}"},
		{"task", "POST", "/v2/tasks", ctJSON, "{\"type\":\"import\",\"input\":{\"x\":\"\xff\"}}"},
		{"import", "POST", "/v2/images/{{c_pt}}/import", ctJSON, "{\"method\":{\"name\":\"glance-direct\xff\"}}"},
	} {
		as := "p1"
		if c.path == "/v2/tasks" {
			as = "admin" // tasks_api_access
		}
		add(named("utf-8: "+c.name, step{as: as, method: c.method, path: c.path, body: c.body, header: map[string]string{"Content-Type": c.ct}}))
	}

	// --- characters outside the BMP: Glance's database refuses them
	// (no_4byte_params), naming the attribute.
	for _, c := range []struct{ name, method, path, ct, body string }{
		{"create name", "POST", "/v2/images", ctJSON, `{"name":"a\ud83d\ude00"}`},
		{"create raw name", "POST", "/v2/images", ctJSON, "{\"name\":\"a\xf0\x9f\x98\x80\"}"},
		{"create property name", "POST", "/v2/images", ctJSON, "{\"name\":\"a\",\"k\xf0\x9f\x98\x80\":\"v\"}"},
		{"create property", "POST", "/v2/images", ctJSON, "{\"name\":\"a\",\"os_distro\":\"v\xf0\x9f\x98\x80\"}"},
		{"create bmp", "POST", "/v2/images", ctJSON, "{\"name\":\"\xe2\x98\x83 \xef\xbf\xbd\"}"},
		{"patch name", "PATCH", "/v2/images/{{c_pt}}", ctPatch, `[{"op":"replace","path":"/name","value":"\ud83d\ude00"}]`},
		{"patch property", "PATCH", "/v2/images/{{c_pt}}", ctPatch, "[{\"op\":\"add\",\"path\":\"/hw_disk_bus\",\"value\":\"\xf0\x9f\x98\x80\"}]"},
		{"member", "POST", "/v2/images/{{c_shared}}/members", ctJSON, `{"member":"p\ud83d\ude002"}`},
	} {
		add(named("4-byte: "+c.name, step{as: "p1", method: c.method, path: c.path, body: c.body, header: map[string]string{"Content-Type": c.ct}}))
	}
	add(named("4-byte: after", get("p1", "/v2/images/{{c_pt}}")))

	// --- dot-segments: Glance routes "." and ".." as names.
	for _, p := range []string{"/v2/schemas/../images", "/v2/schemas/%2e%2e/images", "/v2/schemas/.%2E/images",
		"/v2/./schemas/image", "/v2/schemas/./image", "/v2/../v2/images", "/./v2/images",
		"/v2/images/{{c_pt}}/../{{c_pt}}", "/v2/images/..", "/v2/schemas/image/.."} {
		add(named("dot segments: GET "+p, get("p1", p)))
	}

	// --- listings that blow up SQL: Glance joins a table per tag and per
	// property filter (500 from 64 on with SQLite); Spyglass takes 60.
	nums := func(n int, f func(i int) string) string {
		parts := make([]string, n)
		for i := range parts {
			parts[i] = f(i)
		}
		return strings.Join(parts, "&")
	}
	tags := func(n int) string { return nums(n, func(i int) string { return fmt.Sprintf("tag=t%d", i) }) }
	props := func(n int) string { return nums(n, func(i int) string { return fmt.Sprintf("p%d=v", i) }) }
	in := func(n int) string {
		vals := make([]string, n)
		for i := range vals {
			vals[i] = fmt.Sprintf("n%d", i)
		}
		return "name=in:" + strings.Join(vals, ",")
	}
	// The request line "GET <path> HTTP/1.1\r\n" reaches eventlet's 8192.
	longPath := func(line int) string {
		p := "/v2/images?x="
		return p + strings.Repeat("a", line-len("GET  HTTP/1.1\r\n")-len(p))
	}
	add(
		named("list: 60 tags", get("p1", "/v2/images?"+tags(60))),
		named("list: 60 tags, one twice", get("p1", "/v2/images?"+tags(60)+"&tag=t0")),
		named("list: 61 tags", get("p1", "/v2/images?"+tags(61))),
		named("list: 64 tags", get("p1", "/v2/images?"+tags(64))),
		named("list: 1000 tags", get("p1", "/v2/images?"+tags(1000))),
		named("list: 60 property filters", get("p1", "/v2/images?"+props(60))),
		named("list: 61 property filters", get("p1", "/v2/images?"+props(61))),
		named("list: 30 tags 31 property filters", get("p1", "/v2/images?"+tags(30)+"&"+props(31))),
		named("list: in: 1500 names", get("p1", "/v2/images?"+in(1500))),
		// As p1: the admin's listings differ since the tasks (Glance made
		// images of tasks Spyglass refused).
		named("list: in: 1500 names and two", get("p1", "/v2/images?"+in(1500)+",dup,seed-01")),
		named("list: sort=name x300", get("p1", "/v2/images?sort="+strings.TrimSuffix(strings.Repeat("name,", 300), ","))),
		named("list: sort keys repeated, marker", get("p1", "/v2/images?sort=name:asc,"+strings.Repeat("name:desc,", 20)+"status:asc,name:asc&marker={{s10}}&limit=5")),
		named("list: sort_key repeated, marker", get("p1", "/v2/images?sort_key=name&sort_key=status&sort_key=name&sort_dir=asc&sort_dir=desc&sort_dir=desc&marker={{s10}}&limit=5")),
		named("list: request line 8191", get("p1", longPath(8191))),
		named("list: request line 8192", get("p1", longPath(8192))),
		named("list: request line 9000", get("p1", longPath(9000))),
		named("show: request line 8192", get("p1", "/v2/images/{{c_pt}}?"+strings.Repeat("a", 8192))),
	)

	// --- the cache-management API (Tempest's caching cycle) ----------------------------------
	add(cacheSteps()...)
	add(copySteps()...)

	// --- last: Glance 25 lets a tenant give its community image away.
	add(
		saving("c_give", post("p1", "/v2/images", `{"name":"give","visibility":"community"}`)),
		named("hostile patch: give community image away", patch("p1", "c_give", `[{"op":"add","path":"/owner","value":"p2"}]`)),
		named("hostile patch: disown image", patch("p1", "c_pt", `[{"op":"add","path":"/owner","value":null}]`)),
		named("hostile patch: owner after", get("admin", "/v2/images/{{c_give}}")),
		named("hostile patch: owner after disown", get("admin", "/v2/images/{{c_pt}}")),
	)
	return s
}

// importFailed: the import ended with the store in os_glance_failed_import.
func importFailed(r *response) bool {
	var doc map[string]any
	if json.Unmarshal(r.body, &doc) != nil {
		return false
	}
	failed, _ := doc["os_glance_failed_import"].(string)
	_, busy := doc["os_glance_import_task"]
	return failed != "" && !busy
}

// importDone: Glance marks the image active and only then drops the
// os_glance_import_task property, so wait for both.
func importDone(r *response) bool {
	var doc map[string]any
	if json.Unmarshal(r.body, &doc) != nil {
		return false
	}
	_, busy := doc["os_glance_import_task"]
	return doc["status"] == "active" && !busy
}
