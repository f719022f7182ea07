package gateway

import (
	"errors"
	"strings"
	"testing"

	"github.com/valyala/fasthttp"

	"github.com/spyglass-gateway/spyglass/backends"
)

func parseList(t testing.TB, qs string) (*backends.ListQuery, error) {
	var args fasthttp.Args
	args.Parse(qs)
	return ParseListQuery(&args, backends.Caller{Project: "p1"})
}

// Messages are Glance 25's, taken from a live Glance.
func TestParseListQueryErrors(t *testing.T) {
	for _, tc := range []struct{ qs, want string }{
		{"limit=abc", "limit param must be an integer"},
		{"limit=-1", "limit param must be positive"},
		{"member_status=foo", "Invalid status: foo"},
		{"visibility=foo", "Invalid visibility value: foo"},
		{"sort_key=foo", "Invalid sort key: foo. It must be one of the following: name, status, container_format, disk_format, size, id, created_at, updated_at."},
		{"sort_dir=up", "Invalid sort direction: up"},
		{"sort=name:up", "Invalid sort direction: up"},
		{"sort=name&sort_key=size", "Old and new sorting syntax cannot be combined"},
		{"sort_key=name&sort_key=size&sort_key=id&sort_dir=asc&sort_dir=desc", "Number of sort dirs does not match the number of sort keys"},
		{"size_min=x", "Unable to filter on a range with a non-numeric value."},
		{"created_at=gt:yesterday", `Bad "created_at" query filter format. Use ISO 8601 DateTime notation.`},
		{"name=foo:bar", "Unable to filter by unknown operator 'foo'."},
		{"os_hidden=maybe", "Invalid value 'maybe' for 'os_hidden' filter. Valid values are 'true' or 'false'."},
		{"protected=yes", "Invalid value 'yes' for 'protected' filter. Valid values are 'true' or 'false'."},
		{"changes-since=2020-01-01", `The "changes-since" filter is no longer available on v2.`},
		{`name=in:"a,b`, `Invalid filter value "a,b. The quote is not closed.`},
	} {
		t.Run(tc.qs, func(t *testing.T) {
			_, err := parseList(t, tc.qs)
			if err == nil || !errors.Is(err, backends.ErrBadRequest) {
				t.Fatalf("err = %v, want a bad request", err)
			}
			if got := err.Error(); got != tc.want {
				t.Fatalf("message\n got %q\nwant %q", got, tc.want)
			}
		})
	}
}

func TestParseListQuerySort(t *testing.T) {
	for _, tc := range []struct{ qs, want string }{
		{"", "created_at:desc,id:desc"},
		{"sort=name", "name:desc,created_at:desc,id:desc"},
		{"sort=name:asc,size", "name:asc,size:desc,created_at:desc,id:desc"},
		{"sort_key=name&sort_dir=asc", "name:asc,created_at:asc,id:asc"},
		{"sort_key=name&sort_key=size&sort_dir=asc&sort_dir=desc", "name:asc,size:desc,created_at:desc,id:desc"},
		{"sort_key=id&sort_dir=asc", "id:asc,created_at:asc"},
		{"limit=5000", ""},
	} {
		t.Run(tc.qs, func(t *testing.T) {
			q, err := parseList(t, tc.qs)
			if err != nil {
				t.Fatal(err)
			}
			if tc.want == "" {
				if q.Limit != 1000 {
					t.Fatalf("limit %d, want 1000", q.Limit)
				}
				return
			}
			var parts []string
			for _, k := range q.Sort {
				d := "asc"
				if k.Desc {
					d = "desc"
				}
				parts = append(parts, k.Key+":"+d)
			}
			if got := strings.Join(parts, ","); got != tc.want {
				t.Fatalf("sort %s, want %s", got, tc.want)
			}
		})
	}
}

func TestSplitQuoted(t *testing.T) {
	got, err := lqSplitQuoted(`a,"b,c",d`)
	if err != nil || strings.Join(got, "|") != "a|b,c|d" {
		t.Fatalf("got %q %v", got, err)
	}
}

func TestParsePatch(t *testing.T) {
	const v21 = "application/openstack-images-v2.1-json-patch"
	for _, tc := range []struct {
		ct, body string
		status   int
		msg      string
	}{
		{"application/json", `[]`, 415, ""},
		{v21, `{}`, 400, "Request body must be a JSON array of operation objects."},
		{v21, `[1]`, 400, "Operations must be JSON objects."},
		{v21, `[{"path":"/name","value":"x"}]`, 400, "Unable to find `op` in JSON Schema change. It must be one of the following: add, remove, replace."},
		{v21, `[{"op":"move","path":"/name"}]`, 400, "Invalid operation: `move`. It must be one of the following: add, remove, replace."},
		{v21, `[{"op":"add","path":"name","value":"x"}]`, 400, "Pointer `name` does not start with \"/\"."},
		{v21, `[{"op":"add","path":"/a/b","value":"x"}]`, 400, "Invalid JSON pointer for this resource: '/a/b'"},
		{v21, `[{"op":"add","path":"/name"}]`, 400, `Operation "add" requires a member named "value".`},
		{v21, `[{"op":"replace","path":"/status","value":"active"}]`, 403, "Attribute 'status' is read-only."},
		{v21, `[{"op":"add","path":"/os_glance_foo","value":"x"}]`, 403, "Attribute 'os_glance_foo' is reserved."},
		{v21, `[{"op":"add","path":"/foo","value":1}]`, 400, ""},
		{v21, `[{"op":"replace","path":"/name","value":"n"}]`, 0, ""},
		{"application/openstack-images-v2.0-json-patch", `[{"replace":"/name","value":"n"}]`, 0, ""},
	} {
		t.Run(tc.body, func(t *testing.T) {
			_, err := ParsePatch(tc.ct, []byte(tc.body))
			if tc.status == 0 {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			status, msg := statusOf(err)
			if status != tc.status || (tc.msg != "" && msg != tc.msg) {
				t.Fatalf("got %d %q, want %d %q", status, msg, tc.status, tc.msg)
			}
		})
	}
}

func TestParseRange(t *testing.T) {
	for _, tc := range []struct {
		h             string
		start, length int64
		ok            bool
		status        int
	}{
		{"bytes=0-4", 0, 5, true, 0},
		{"bytes=6-", 6, 4, true, 0},
		{"bytes=-3", 7, 3, true, 0},
		{"bytes=0-100", 0, 10, true, 0},
		{"bytes=10-", 0, 0, false, 416},
		{"bytes=0-1,3-4", 0, 0, false, 400},
		{"pages=0-1", 0, 0, false, 416},
		{"bytes=5-2", 0, 0, false, 416},
		// Past 2^63: Python's integers do not overflow, nor do these.
		{"bytes=0-9223372036854775808", 0, 10, true, 0},
		{"bytes=-99999999999999999999", 0, 10, true, 0},
		{"bytes=9223372036854775808-", 0, 0, false, 416},
		{"bytes=99999999999999999999-99999999999999999998", 0, 0, false, 416},
	} {
		t.Run(tc.h, func(t *testing.T) {
			s, n, ok, err := ParseRange([]byte(tc.h), 10)
			if tc.status != 0 {
				if st, _ := statusOf(err); st != tc.status {
					t.Fatalf("status %d (%v), want %d", st, err, tc.status)
				}
				return
			}
			if err != nil || s != tc.start || n != tc.length || ok != tc.ok {
				t.Fatalf("got [%d, +%d) %v %v", s, n, ok, err)
			}
		})
	}
}

func TestParseCreateImage(t *testing.T) {
	img, err := ParseCreateImage([]byte(`{"name":"n","disk_format":"qcow2","tags":["a","a","b"],"foo":"bar","min_ram":5}`))
	if err != nil {
		t.Fatal(err)
	}
	if *img.Name != "n" || *img.DiskFormat != "qcow2" || len(img.Tags) != 2 || img.Properties["foo"] != "bar" || img.MinRAM != 5 {
		t.Fatalf("parsed %+v", img)
	}
	for _, tc := range []struct {
		body   string
		status int
		msg    string
	}{
		{``, 400, "Body expected in request."},
		{`nojson`, 400, "Malformed JSON in request body."},
		{`{"self":"x"}`, 403, "Attribute 'self' is read-only."},
		{`{"location":"x"}`, 403, "Attribute 'location' is reserved."},
		{`{"os_glance_x":"y"}`, 403, "Attribute 'os_glance_x' is reserved."},
		// Verbatim from a live Glance 25.
		{`{"disk_format":"bogus"}`, 400, "Provided object does not match schema 'image': 'bogus' is not one of [None, 'ami', 'ari', 'aki', 'vhd', 'vhdx', 'vmdk', 'raw', 'qcow2', 'vdi', 'iso', 'ploop']\n\nFailed validating 'enum' in schema['properties']['disk_format']:\n    {'description': 'Format of the disk',\n     'enum': [None,\n              'ami',\n              'ari',\n              'aki',\n              'vhd',\n              'vhdx',\n              'vmdk',\n              'raw',\n              'qcow2',\n              'vdi',\n              'iso',\n              'ploop'],\n     'type': ['null', 'string']}\n\nOn instance['disk_format']:\n    'bogus'"},
		{`{"min_ram":"x"}`, 400, "Provided object does not match schema 'image': 'x' is not of type 'integer'\n\nFailed validating 'type' in schema['properties']['min_ram']:\n    {'description': 'Amount of ram (in MB) required to boot image.',\n     'type': 'integer'}\n\nOn instance['min_ram']:\n    'x'"},
		{`{"foo":1}`, 400, "Provided object does not match schema 'image': 1 is not of type 'string'\n\nFailed validating 'type' in schema['additionalProperties']:\n    {'type': 'string'}\n\nOn instance['foo']:\n    1"},
		{`{"id":"nope"}`, 400, ""},
	} {
		t.Run(tc.body, func(t *testing.T) {
			_, err := ParseCreateImage([]byte(tc.body))
			status, msg := statusOf(err)
			if status != tc.status || (tc.msg != "" && msg != tc.msg) {
				t.Fatalf("got %d %q, want %d %q", status, msg, tc.status, tc.msg)
			}
		})
	}
}

func FuzzParseListQuery(f *testing.F) {
	for _, s := range []string{"", "limit=3&marker=x", "sort=name:asc,size", "name=in:\"a,b\",c", "created_at=gte:2020-01-01T00:00:00Z", "size_min=1&tag=a&tag=b&foo=bar", "sort_key=a&sort_dir=b&sort_dir=c"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, qs string) {
		q, err := parseList(t, qs)
		if err != nil {
			if st, _ := statusOf(err); st != 400 {
				t.Fatalf("status %d for %q", st, qs)
			}
			return
		}
		if len(q.Sort) < 2 || q.Limit < 0 || q.Limit > 1000 {
			t.Fatalf("bad query %+v", q)
		}
	})
}

func FuzzParsePatch(f *testing.F) {
	f.Add("application/openstack-images-v2.1-json-patch", `[{"op":"add","path":"/foo","value":"x"},{"op":"remove","path":"/locations/0"}]`)
	f.Add("application/openstack-images-v2.0-json-patch", `[{"replace":"/tags","value":["a"]}]`)
	f.Add("application/openstack-images-v2.1-json-patch", `[{"op":"replace","path":"/~1a~0b","value":"x"}]`)
	name := "n"
	base := &backends.Image{ID: "id", Name: &name, Status: "queued", Visibility: "shared", Properties: map[string]string{"foo": "bar"}}
	f.Fuzz(func(t *testing.T, ct, body string) {
		changes, err := ParsePatch(ct, []byte(body))
		if err != nil {
			if st, _ := statusOf(err); st >= 500 {
				t.Fatalf("status %d", st)
			}
			return
		}
		if _, err := backends.ApplyChanges(base, changes); err != nil {
			if st, _ := statusOf(err); st >= 500 {
				t.Fatalf("apply: status %d: %v", st, err)
			}
		}
		// Snapshots are shared between readers: applying a patch must
		// never change the image it started from.
		if *base.Name != "n" || len(base.Properties) != 1 || base.Properties["foo"] != "bar" || base.Tags != nil {
			t.Fatalf("ApplyChanges modified its input: %+v", base)
		}
	})
}

// FuzzParseRange: whatever the header, a 206's span lies within the image,
// so the Content-Length answered (the span's length) is what is sent.
func FuzzParseRange(f *testing.F) {
	for _, s := range []string{"bytes=0-4", "bytes=-3", "bytes=5-", "bytes=1-2,3-4", "bytes=9999999999999999999-",
		"bytes=0-9223372036854775807", "bytes=5-18446744073709551616", "bytes=-9223372036854775808", "bytes=-0", "BYTES = 5 - 9 x"} {
		f.Add(s, int64(10))
		f.Add(s, int64(0))
	}
	f.Fuzz(func(t *testing.T, h string, size int64) {
		if size < 0 {
			size = -(size + 1)
		}
		s, n, ok, err := ParseRange([]byte(h), size)
		checkSpan(t, h, size, s, n, ok, err)
	})
}

// FuzzParseContentRange is FuzzParseRange for Content-Range.
func FuzzParseContentRange(f *testing.F) {
	for _, s := range []string{"bytes 0-4/10", "bytes 0-4/*", "bytes 5-9223372036854775807/*", "bytes 5-9/99999999999999999999",
		"bytes 9223372036854775807-9223372036854775807/*", "bytes */10", "bytes 0-999/1000", "bytes 0005-0009/*x"} {
		f.Add(s, int64(10))
		f.Add(s, int64(1))
	}
	f.Fuzz(func(t *testing.T, h string, size int64) {
		if size < 0 {
			size = -(size + 1)
		}
		s, n, err := ParseContentRange([]byte(h), size)
		checkSpan(t, h, size, s, n, err == nil, err)
	})
}

func checkSpan(t *testing.T, h string, size, start, length int64, ok bool, err error) {
	t.Helper()
	if err != nil {
		if status, _ := statusOf(err); status != 400 && status != 416 {
			t.Fatalf("%q size %d: status %d (%v)", h, size, status, err)
		}
		return
	}
	if !ok {
		t.Fatalf("%q size %d: neither a span nor an error", h, size)
	}
	if start < 0 || length < 0 || start > size || length > size-start {
		t.Fatalf("%q size %d: [%d, +%d) is not within the image", h, size, start, length)
	}
	if length == 0 && size != 0 {
		t.Fatalf("%q size %d: an empty span of a non-empty image", h, size)
	}
}

func FuzzParseBodies(f *testing.F) {
	for _, s := range []string{`{"name":"x","tags":["a"]}`, `{"member":"p2"}`, `{"status":"accepted"}`, `{"method":{"name":"web-download","uri":"http://x"}}`, `{"type":"import","input":{}}`} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, body string) {
		b := []byte(body)
		for _, err := range []error{
			func() error { _, err := ParseCreateImage(b); return err }(),
			func() error { _, err := ParseMemberCreate(b); return err }(),
			func() error { _, err := ParseMemberUpdate(b); return err }(),
			func() error { _, err := ParseImport(b); return err }(),
			func() error { _, _, err := ParseTaskCreate(b); return err }(),
		} {
			if err != nil {
				if st, _ := statusOf(err); st >= 500 {
					t.Fatalf("status %d: %v", st, err)
				}
			}
		}
	})
}
