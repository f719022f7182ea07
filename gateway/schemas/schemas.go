// Package schemas holds the JSON documents a real Glance 25 serves verbatim
// (GET /v2/schemas/*, /v2/info/*) and builds its versions document, so the
// gateway answers byte for byte as Glance does.
//
// The files under data/ were captured from Glance 25.1 (Debian
// python3-glance 2:25.1.0) started by backends/glance/glancetest, with no
// custom image properties (schema-image.json absent) and one file store
// named "local"; TestMatchesLiveGlance re-checks them against a live Glance.
//
//	ctx.SetBody(schemas.Image())
//	ctx.SetBody(schemas.Versions("http://" + host))
package schemas

import (
	"embed"
	"strings"
)

//go:embed data/*.json
var files embed.FS

func mustRead(name string) []byte {
	b, err := files.ReadFile("data/" + name)
	if err != nil {
		panic("schemas: missing embedded " + name + ": " + err.Error())
	}
	return b
}

var (
	image   = mustRead("image.json")
	images  = mustRead("images.json")
	member  = mustRead("member.json")
	members = mustRead("members.json")
	task    = mustRead("task.json")
	tasks   = mustRead("tasks.json")

	infoImport = mustRead("info-import.json")
	infoStores = mustRead("info-stores.json")
	infoUsage  = mustRead("info-usage.json")

	byPath = map[string][]byte{}
)

// Paths are the schema paths Glance 25 serves under /v2/schemas/, in the
// order of its router. Each has a file data/<path with "/" as "-">.json.
var Paths = []string{
	"image", "images", "member", "members", "task", "tasks",
	"metadefs/namespace", "metadefs/namespaces",
	"metadefs/resource_type", "metadefs/resource_types",
	"metadefs/property", "metadefs/properties",
	"metadefs/object", "metadefs/objects",
	"metadefs/tag", "metadefs/tags",
}

func init() {
	for _, p := range Paths {
		byPath[p] = mustRead(strings.ReplaceAll(p, "/", "-") + ".json")
	}
}

// The returned slices are shared: callers must not modify them.

// Image is GET /v2/schemas/image.
func Image() []byte { return image }

// Images is GET /v2/schemas/images.
func Images() []byte { return images }

// Member is GET /v2/schemas/member.
func Member() []byte { return member }

// Members is GET /v2/schemas/members.
func Members() []byte { return members }

// Task is GET /v2/schemas/task.
func Task() []byte { return task }

// Tasks is GET /v2/schemas/tasks.
func Tasks() []byte { return tasks }

// Schema returns the document for a path under /v2/schemas/ ("image",
// "metadefs/namespace", ...), or nil when Glance has no such schema (it
// answers 404 then). The path has no leading or trailing slash.
func Schema(path string) []byte { return byPath[path] }

// InfoImport is GET /v2/info/import with Glance 25's default
// enabled_import_methods (glance-direct, web-download, copy-image).
func InfoImport() []byte { return infoImport }

// InfoStoresLocal is GET /v2/info/stores of a Glance whose only store is
// "local" (the default). Spyglass lists its regions instead; this is the
// shape to follow: {"stores": [{"id": "local", "default": "true"}]} —
// note "default" is the string "true", present only on the default store.
func InfoStoresLocal() []byte { return infoStores }

// InfoUsage is GET /v2/info/usage of a Glance without Keystone unified
// limits (use_keystone_limits=false): {"usage": {}}.
func InfoUsage() []byte { return infoUsage }
