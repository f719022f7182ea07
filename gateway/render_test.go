package gateway

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/spyglass-gateway/spyglass/backends"
)

// Expected values are Python's json.dumps output, which Glance uses.
func TestAppendJSONStringMatchesPython(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"plain", `"plain"`},
		{`quo"te`, `"quo\"te"`},
		{`back\slash`, `"back\\slash"`},
		{"new\nline", `"new\nline"`},
		{"tab\t", `"tab\t"`},
		{"\x01ctl", `"\u0001ctl"`},
		{"\x7f", `"\u007f"`},
		{"é", `"\u00e9"`},
		{"日本", `"\u65e5\u672c"`},
		{"😀", `"\ud83d\ude00"`},
		{"</script>", `"</script>"`},
	} {
		t.Run(tc.in, func(t *testing.T) {
			if got, want := string(appendJSONString(nil, tc.in)), tc.want; got != want {
				t.Fatalf("appendJSONString(%q) = %s, want %s", tc.in, got, want)
			}
		})
	}
}

func TestAppendImageIsValidJSONInGlanceOrder(t *testing.T) {
	name, owner, df := "cirros", "p1", "qcow2"
	size := int64(5)
	img := &backends.Image{
		ID: "1cbe5797-0277-4074-aa19-c03a0b012806", Name: &name, Owner: &owner, DiskFormat: &df,
		Status: "active", Visibility: "shared", Size: &size,
		CreatedAt: time.Date(2026, 11, 23, 1, 51, 53, 500, time.UTC), UpdatedAt: time.Date(2026, 11, 23, 1, 51, 53, 0, time.UTC),
		Tags: []string{"a"}, Properties: map[string]string{"foo": "bar", "os_glance_stage_host": "hidden"},
		Stores: []string{"local"},
	}
	got := string(appendImage(nil, img))
	want := `{"foo": "bar", "name": "cirros", "disk_format": "qcow2", "container_format": null, "visibility": "shared", "size": 5, "virtual_size": null, "status": "active", "checksum": null, "protected": false, "min_ram": 0, "min_disk": 0, "owner": "p1", "os_hidden": false, "os_hash_algo": null, "os_hash_value": null, "id": "1cbe5797-0277-4074-aa19-c03a0b012806", "created_at": "2026-11-23T01:51:53Z", "updated_at": "2026-11-23T01:51:53Z", "tags": ["a"], "self": "/v2/images/1cbe5797-0277-4074-aa19-c03a0b012806", "file": "/v2/images/1cbe5797-0277-4074-aa19-c03a0b012806/file", "schema": "/v2/schemas/image", "stores": "local"}`
	if got != want {
		t.Fatalf("appendImage:\n got %s\nwant %s", got, want)
	}
	var v map[string]any
	if err := json.Unmarshal([]byte(got), &v); err != nil {
		t.Fatal(err)
	}
}

func TestWebobFormat(t *testing.T) {
	for _, tc := range []struct {
		accept string
		want   errorFormat
	}{
		{"", formatPlain},
		{"*/*", formatHTML},
		{"application/json", formatJSON},
		{"text/html", formatHTML},
		{"text/plain", formatPlain},
		{"application/json, */*", formatHTML},
		{"application/json, */*;q=0.5", formatJSON},
		{"text/html;q=0, application/json;q=0.1", formatJSON},
		{"image/png", formatPlain},
		{"garbage", formatPlain},
	} {
		t.Run(tc.accept, func(t *testing.T) {
			if got := webobFormat([]byte(tc.accept)); got != tc.want {
				t.Fatalf("webobFormat(%q) = %d, want %d", tc.accept, got, tc.want)
			}
		})
	}
}

func TestSegments(t *testing.T) {
	var segs [maxSegments][]byte
	n, ok := segments([]byte("/v2/images/abc/members/p2"), &segs)
	if !ok || n != 5 || string(segs[4]) != "p2" {
		t.Fatalf("segments = %d %v %q", n, ok, segs[:n])
	}
	if _, ok := segments([]byte("/a/b/c/d/e/f/g/h/i"), &segs); ok {
		t.Fatal("9 segments accepted")
	}
}
