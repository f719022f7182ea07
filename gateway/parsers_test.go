package gateway

import (
	"errors"
	"net/url"
	"reflect"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/valyala/fasthttp"

	"github.com/spyglass-gateway/spyglass/backends"
)

func parseList(t testing.TB, qs string) (*backends.ListQuery, error) {
	var args fasthttp.Args
	args.Parse(qs)
	return ParseListQuery(&args)
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
		// What reaches a database stays small: each tag and sort key
		// once, and no more joined tables than any of Glance's databases
		// takes.
		joins := len(q.Tags)
		for _, f := range q.Filters {
			if f.Property {
				joins++
			}
		}
		if joins > maxListJoins {
			t.Fatalf("%q: %d tag and property filters", qs, joins)
		}
		seen := map[string]bool{}
		for _, tag := range q.Tags {
			if seen[tag] {
				t.Fatalf("%q: tag %q twice", qs, tag)
			}
			seen[tag] = true
		}
		keys := map[string]bool{}
		for _, k := range q.Sort {
			if keys[k.Key] {
				t.Fatalf("%q: sort key %q twice", qs, k.Key)
			}
			keys[k.Key] = true
		}
	})
}

// Many tags, property filters and sort keys: what Glance's database
// cannot take is refused with a 400, what adds nothing is dropped.
func TestParseListQueryBounds(t *testing.T) {
	rep := func(n int, f func(i int) string) string {
		parts := make([]string, n)
		for i := range parts {
			parts[i] = f(i)
		}
		return strings.Join(parts, "&")
	}
	q, err := parseList(t, rep(60, func(i int) string { return "tag=t" + strconv.Itoa(i%30) }))
	if err != nil || len(q.Tags) != 30 {
		t.Fatalf("60 tags, 30 distinct: %v, %d tags", err, len(q.Tags))
	}
	for _, qs := range []string{
		rep(61, func(i int) string { return "tag=t" + strconv.Itoa(i) }),
		rep(61, func(i int) string { return "p" + strconv.Itoa(i) + "=v" }),
		rep(30, func(i int) string { return "tag=t" + strconv.Itoa(i) + "&p" + strconv.Itoa(i) + "=v" }) + "&tag=last",
	} {
		_, err := parseList(t, qs)
		if st, msg := statusOf(err); st != 400 || msg != "Too many tag and property filters: 61. A listing takes at most 60." {
			t.Errorf("%.40s…: %d %q", qs, st, msg)
		}
	}
	q, err = parseList(t, "sort="+strings.Repeat("name:asc,size:desc,name:desc,", 500)+"id")
	if err != nil {
		t.Fatal(err)
	}
	want := []backends.SortKey{{Key: "name"}, {Key: "size", Desc: true}, {Key: "id", Desc: true}, {Key: "created_at", Desc: true}}
	if !reflect.DeepEqual(q.Sort, want) {
		t.Errorf("sort %+v, want %+v", q.Sort, want)
	}
}

func FuzzParsePatch(f *testing.F) {
	f.Add("application/openstack-images-v2.1-json-patch", `[{"op":"add","path":"/foo","value":"x"},{"op":"remove","path":"/locations/0"}]`)
	f.Add("application/openstack-images-v2.0-json-patch", `[{"replace":"/tags","value":["a"]}]`)
	f.Add("application/openstack-images-v2.1-json-patch", `[{"op":"replace","path":"/~1a~0b","value":"x"}]`)
	f.Add("application/openstack-images-v2.1-json-patch", `[{"op":"add","path":"/owner","value":null}]`)
	f.Add("application/openstack-images-v2.1-json-patch", `[{"op":"add","path":"/disk_format","value":"qcow2"}]`)
	name, owner, raw, bare := "n", "p1", "raw", "bare"
	base := &backends.Image{ID: "id", Name: &name, Owner: &owner, Status: "queued", Visibility: "shared", Properties: map[string]string{"foo": "bar"}}
	active := &backends.Image{ID: "id2", Owner: &owner, Status: "active", Visibility: "shared", DiskFormat: &raw, ContainerFormat: &bare}
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
		// An active image keeps its formats, whoever asks; a tenant's
		// change that passes the one check never touches the owner.
		if got, err := backends.ApplyChanges(active, changes); err == nil {
			if *got.DiskFormat != "raw" || *got.ContainerFormat != "bare" {
				t.Fatalf("formats of an active image changed: %s/%s", *got.DiskFormat, *got.ContainerFormat)
			}
		}
		for i := range changes {
			if backends.CheckChange(base, &changes[i], false) != nil {
				continue
			}
			got, err := backends.ApplyChanges(base, changes[i:i+1])
			if err == nil && (got.Owner == nil || *got.Owner != "p1") {
				t.Fatalf("a tenant's change %+v set the owner to %v", changes[i], got.Owner)
			}
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
	for _, s := range []string{`{"name":"x","tags":["a"]}`, `{"member":"p2"}`, `{"status":"accepted"}`, `{"method":{"name":"web-download","uri":"http://x"}}`, `{"type":"import","input":{}}`,
		`{"method":{"name":"glance-download","glance_image_id":"36d4b546-64a2-4bb9-bdd0-ba676aa48f2c","glance_region":"r","glance_service_interface":"public"}}`} {
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
			func() error { _, err := ParseGlanceDownload(b); return err }(),
		} {
			if err != nil {
				if st, _ := statusOf(err); st >= 500 {
					t.Fatalf("status %d: %v", st, err)
				}
			}
		}
	})
}

// Glance decodes JSON bodies strictly (oslo's jsonutils.loads): invalid
// UTF-8 is "Malformed JSON in request body.", and so, in Spyglass, is a
// UTF-16 surrogate escape that is not half of a pair, which Go's decoder
// would turn into U+FFFD.
func TestValidUnicode(t *testing.T) {
	for _, c := range []struct {
		body string
		want bool
	}{
		{`{"a":"b"}`, true},
		{`{"a":"\u00e9 \ud83d\ude00 \uD83D\uDE00"}`, true},
		{`{"a":"\\ud800"}`, true},   // an escaped backslash, then text
		{`{"a":"\\\ud800"}`, false}, // an escaped backslash, then a lone surrogate
		{`{"a":"\ufffd"}`, true},    // the client's own replacement character
		{"{\"a\":\"\xef\xbf\xbd\"}", true},
		{`{"a":"\ud800"}`, false},
		{`{"a":"\udfff"}`, false},
		{`{"a":"\ud800\u0041"}`, false},
		{`{"a":"\ud800\n"}`, false},
		{`{"a":"\ud800"`, false}, // not JSON either; the decoder refuses it first
		{`{"\udc00":"b"}`, false},
		{"{\"a\":\"\xff\"}", false},
		{"{\"a\":\"\xc0\xaf\"}", false},     // overlong
		{"{\"a\":\"\xed\xa0\x80\"}", false}, // a surrogate in UTF-8
		{"\xef\xbb\xbf{}", true},            // a BOM is valid UTF-8; the decoder refuses it
	} {
		if got := validJSONText([]byte(c.body)); got != c.want {
			t.Errorf("validJSONText(%q) = %v, want %v", c.body, got, c.want)
		}
	}
	for _, body := range []string{"{\"name\":\"a\xffb\"}", `{"name":"\ud800"}`, "\xef\xbb\xbf{}"} {
		if _, err := ParseCreateImage([]byte(body)); err == nil {
			t.Errorf("ParseCreateImage(%q) accepted", body)
		} else if st, msg := statusOf(err); st != 400 || msg != "Malformed JSON in request body." {
			t.Errorf("ParseCreateImage(%q): %d %q", body, st, msg)
		}
	}
}

var replacementEscape = regexp.MustCompile(`(?i)\\ufffd`)

// FuzzValidUnicode: a body decodeJSON accepts decodes without a single
// replacement character the client did not send (literally or escaped).
func FuzzValidUnicode(f *testing.F) {
	for _, s := range []string{`{"a":"\ud83d\ude00"}`, `{"a":"\\ud800"}`, `{"a":"\ud800"}`, "{\"a\":\"\xff\"}", `["\ufffd",{"\u0041":1}]`} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, body string) {
		v, err := decodeJSON([]byte(body))
		if err != nil {
			return
		}
		sent := strings.Count(body, "\uFFFD") + len(replacementEscape.FindAllString(body, -1))
		if got := countReplacements(v); got > sent {
			t.Fatalf("%q decoded with %d replacement characters, the client sent %d", body, got, sent)
		}
		if !utf8.ValidString(body) {
			t.Fatalf("%q: invalid UTF-8 accepted", body)
		}
	})
}

func countReplacements(v any) int {
	switch v := v.(type) {
	case string:
		return strings.Count(v, "\uFFFD")
	case []any:
		n := 0
		for _, e := range v {
			n += countReplacements(e)
		}
		return n
	case map[string]any:
		n := 0
		for k, e := range v {
			n += strings.Count(k, "\uFFFD") + countReplacements(e)
		}
		return n
	}
	return 0
}

// The path Glance's routes see: percent-decoded, dot-segments kept.
func TestRequestPath(t *testing.T) {
	for _, c := range []struct{ uri, want string }{
		{"/v2/images", "/v2/images"},
		{"/v2/schemas/../images", "/v2/schemas/../images"},
		{"/v2/schemas/%2e%2E/images?x=1", "/v2/schemas/../images"},
		{"/./v2/images", "/./v2/images"},
		{"/v2/images/a.b", "/v2/images/a.b"},
		{"/v2/images/%C3%A9t%C3%A9/x.y", "/v2/images/été/x.y"},
		{"/v2/images/%zz.%2", "/v2/images/%zz.%2"},
		{"/v2/schemas%2fimage", "/v2/schemas/image"},
	} {
		var ctx fasthttp.RequestCtx
		ctx.Request.SetRequestURI(c.uri)
		if got := string(requestPath(&ctx)); got != c.want {
			t.Errorf("requestPath(%q) = %q, want %q", c.uri, got, c.want)
		}
	}
}

// FuzzRequestPath: the path routed is the request's path percent-decoded,
// nothing removed; where it holds no dot it is fasthttp's own.
func FuzzRequestPath(f *testing.F) {
	for _, s := range []string{"/v2/schemas/../images", "/v2/%2e%2E/x", "/%2", "/a%2F..%2fb", "/v2//images/./x"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, path string) {
		if !strings.HasPrefix(path, "/") || strings.ContainsAny(path, "?#") {
			return
		}
		var ctx fasthttp.RequestCtx
		ctx.Request.SetRequestURI(path)
		orig := string(ctx.URI().PathOriginal())
		got := string(requestPath(&ctx))
		if want, err := url.PathUnescape(orig); err == nil && strings.Contains(want, ".") && got != want {
			t.Fatalf("%q: routed %q, want %q", path, got, want)
		}
		var a, b [maxSegments][]byte
		na, oka := segments([]byte(got), &a)
		nb, okb := segments(ctx.Path(), &b)
		if !strings.Contains(got, ".") && (na != nb || oka != okb || fmtSegs(a[:na]) != fmtSegs(b[:nb])) {
			t.Fatalf("%q: segments %q, fasthttp's %q", path, fmtSegs(a[:na]), fmtSegs(b[:nb]))
		}
	})
}

func fmtSegs(s [][]byte) string {
	var b strings.Builder
	for _, x := range s {
		b.WriteString("/")
		b.Write(x)
	}
	return b.String()
}
