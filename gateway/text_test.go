package gateway

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/valyala/fasthttp"
)

// Each body Glance 25 answers 500 to (asked: a lone surrogate escape in a
// name, tag, member id, property name or value, patch value or path; a
// body nested deeper than Python's recursion limit) is refused here, as is
// text that is not UTF-8 (Glance's own 400); what Glance stores is kept.
func TestValidJSONText(t *testing.T) {
	deep := func(n int) string { return strings.Repeat("[", n) + strings.Repeat("]", n) }
	for _, tc := range []struct {
		body string
		ok   bool
	}{
		{`{"name": "cirros"}`, true},
		{`{"name": "\u00e9\u4e2d"}`, true},
		{`{"name": "\ud83d\ude00"}`, true}, // a pair: one scalar value
		{`{"name": "\uD83D\uDE00"}`, true},
		{`{"hw_x": "a\u0000b"}`, true}, // Glance stores NUL
		{`{"name": "\ufffe\uffff"}`, true},
		{`{"name": "\\udcff"}`, true}, // an escaped backslash, then text
		{`{"name": "[[[[\"{{{"}`, true},
		{`{"name": "\"\\"}`, true},
		{`{"x": ` + deep(maxJSONDepth-1) + `}`, true},
		{`{"member": "a\udcff"}`, false},
		{`{"name": "\udcff"}`, false},
		{`{"tags": ["\ud800"]}`, false},
		{`{"hw_\udcff": "x"}`, false},
		{`[{"op": "replace", "path": "/name", "value": "\udcff"}]`, false},
		{`{"name": "\ud83d"}`, false},           // a high half at the end
		{`{"name": "\ud83dx"}`, false},          // a high half, then text
		{`{"name": "\ud83d\u0041"}`, false},     // a high half, then no low half
		{`{"name": "\ud83d\ud83d"}`, false},     // two high halves
		{`{"name": "\ude00\ud83d"}`, false},     // the halves the wrong way round
		{`{"name": "\u12"}`, false},             // a short escape
		{`{"name": "\uzzzz"}`, false},           // not hex
		{"{\"name\": \"a\xff\"}", false},        // not UTF-8
		{"{\"name\": \"\xed\xa0\x80\"}", false}, // a surrogate encoded as UTF-8
		{"{\"name\": \"\xc0\xaf\"}", false},     // an overlong encoding
		{`{"x": ` + deep(maxJSONDepth) + `}`, false},
		{`{"member": ` + deep(1000) + `}`, false},
	} {
		if got := validJSONText([]byte(tc.body)); got != tc.ok {
			t.Errorf("validJSONText(%.60q) = %v, want %v", tc.body, got, tc.ok)
		}
	}
}

// Every JSON body the gateway parses goes through the check, with Glance's
// answer to a body it cannot decode.
func TestParsersRefuseUndecodableBodies(t *testing.T) {
	const body = `{"name": "\udcff", "member": "a\udcff", "status": "\udcff", "type": "import", "input": {"x": "\udcff"}, "method": {"name": "\udcff"}}`
	for name, err := range map[string]error{
		"create": func() error { _, err := ParseCreateImage([]byte(body)); return err }(),
		"member": func() error { _, err := ParseMemberCreate([]byte(body)); return err }(),
		"status": func() error { _, err := ParseMemberUpdate([]byte(body)); return err }(),
		"import": func() error { _, err := ParseImport([]byte(body)); return err }(),
		"task":   func() error { _, _, err := ParseTaskCreate([]byte(body)); return err }(),
		"patch": func() error {
			_, err := ParsePatch("application/openstack-images-v2.1-json-patch", []byte(`[{"op": "add", "path": "/hw_x", "value": "\udcff"}]`))
			return err
		}(),
	} {
		if st, msg := statusOf(err); st != 400 || msg != "Malformed JSON in request body." {
			t.Errorf("%s: %d %q, want 400 Malformed JSON in request body.", name, st, msg)
		}
	}
}

// A listing's query that is not UTF-8 once decoded is Glance's 400, on
// both listings that read one.
func TestQueriesRefuseUndecodableText(t *testing.T) {
	for _, qs := range []string{"name=a%ff", "marker=%ff", "a%ff=b", "tag=%ed%a0%80", "sort_key=%c0%af", "status=%ff"} {
		var args fasthttp.Args
		args.Parse(qs)
		_, err := ParseListQuery(&args)
		if st, msg := statusOf(err); st != 400 || !strings.HasPrefix(msg, "Error decoding your request.") {
			t.Errorf("images ?%s: %d %q", qs, st, msg)
		}
		_, err = ParseTaskQuery(&args)
		if st, msg := statusOf(err); st != 400 || !strings.HasPrefix(msg, "Error decoding your request.") {
			t.Errorf("tasks ?%s: %d %q", qs, st, msg)
		}
	}
	var args fasthttp.Args
	args.Parse("name=%c3%a9&tag=a%00b")
	if _, err := ParseListQuery(&args); err != nil {
		t.Errorf("UTF-8 and NUL (Glance takes both): %v", err)
	}
}

// FuzzJSONText checks validJSONText against Go's own decoder, which
// replaces every byte that is not UTF-8 and every lone surrogate escape
// with U+FFFD: for a valid JSON document that does not contain U+FFFD
// itself and is not nested too deep, the check accepts exactly the bodies
// whose decoded strings carry no U+FFFD.
func FuzzJSONText(f *testing.F) {
	for _, s := range []string{`{"name": "x"}`, `{"m": "a\udcff"}`, `["\ud83d\ude00"]`, `"\\udcff"`, "\"\xff\"", `{"a": [[[]]]}`, `"\ud83d\u0041"`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		ok := validJSONText(body) // never panics
		if !json.Valid(body) || bytes.Contains(body, []byte("\uFFFD")) || bytes.Contains(bytes.ToLower(body), []byte(`\ufffd`)) || jsonDepth(body) > maxJSONDepth {
			return
		}
		var v any
		if err := json.Unmarshal(body, &v); err != nil {
			return
		}
		if clean := !replaced(v); clean != ok {
			t.Fatalf("validJSONText(%q) = %v, but the decoded strings are clean: %v", body, ok, clean)
		}
	})
}

// replaced reports whether a decoded value holds U+FFFD in a key or string.
func replaced(v any) bool {
	switch v := v.(type) {
	case string:
		return strings.ContainsRune(v, utf8.RuneError)
	case []any:
		for _, e := range v {
			if replaced(e) {
				return true
			}
		}
	case map[string]any:
		for k, e := range v {
			if strings.ContainsRune(k, utf8.RuneError) || replaced(e) {
				return true
			}
		}
	}
	return false
}

// jsonDepth is the nesting depth of a valid JSON document, by its tokens.
func jsonDepth(body []byte) int {
	dec := json.NewDecoder(bytes.NewReader(body))
	depth, deepest := 0, 0
	for {
		tok, err := dec.Token()
		if err != nil {
			return deepest
		}
		switch tok {
		case json.Delim('['), json.Delim('{'):
			depth++
			deepest = max(deepest, depth)
		case json.Delim(']'), json.Delim('}'):
			depth--
		}
	}
}
