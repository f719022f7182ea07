package gateway_test

import (
	"strings"
	"testing"
)

// A path that is not UTF-8 once decoded is refused before anything else,
// authentication included (Glance's first filter is where it fails, with a
// 500), on every route: no store ever sees it.
func TestUndecodablePathIsRefused(t *testing.T) {
	ts := startServer(t, "trusted")
	for _, path := range []string{
		"/v2/images/a%ff", "/v2/images/a%ff/file", "/v2/images/x/tags/a%ff", "/v2/images/x/members/a%ff",
		"/v2/tasks/a%ff", "/v2/schemas/a%ff", "/v2/images/x/actions/%ed%a0%80", "/v9/%c0%af",
	} {
		for _, who := range []as{p1, {}} {
			resp, body := ts.do(t, who, "GET", path, nil)
			if got, want := resp.StatusCode, 400; got != want || !strings.Contains(string(body), "Error decoding your request.") {
				t.Errorf("GET %s as %q: %d %s, want %d Error decoding your request", path, who.project, got, body, want)
			}
		}
	}
	if resp, _ := ts.do(t, p1, "PUT", "/v2/images/x/tags/%c3%a9", nil); resp.StatusCode == 400 {
		t.Errorf("a UTF-8 tag was refused as undecodable")
	}
}
