package schemas

import (
	"bytes"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/spyglass-gateway/spyglass/backends/glance/glancetest"
)

func get(t *testing.T, url, host string) (int, []byte) {
	t.Helper()
	req, err := http.NewRequest("GET", url, nil)
	if err != nil {
		t.Fatal(err)
	}
	glancetest.SetCaller(req.Header, "p1", "u1", "member")
	if host != "" {
		req.Host = host
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, b
}

// TestMatchesLiveGlance checks every embedded document byte for byte
// against a real Glance 25 configured as glancetest configures it.
func TestMatchesLiveGlance(t *testing.T) {
	g := glancetest.StartT(t)

	t.Run("schemas", func(t *testing.T) {
		for _, p := range Paths {
			status, body := get(t, g.URL+"/v2/schemas/"+p, "")
			if got, want := status, 200; got != want {
				t.Errorf("GET /v2/schemas/%s: status %d, want %d", p, got, want)
			}
			if got, want := Schema(p), body; !bytes.Equal(got, want) {
				t.Errorf("schema %s differs from Glance's:\n got %.300s\nwant %.300s", p, got, want)
			}
		}
		for _, c := range []struct {
			name string
			doc  []byte
		}{{"image", Image()}, {"images", Images()}, {"member", Member()}, {"members", Members()}, {"task", Task()}, {"tasks", Tasks()}} {
			if got, want := c.doc, Schema(c.name); !bytes.Equal(got, want) {
				t.Errorf("%s accessor differs from Schema(%q)", c.name, c.name)
			}
		}
		if status, _ := get(t, g.URL+"/v2/schemas/nope", ""); status != 404 {
			t.Errorf("GET /v2/schemas/nope: status %d, want 404", status)
		}
		if Schema("nope") != nil {
			t.Errorf("Schema(nope) is not nil")
		}
	})

	t.Run("info", func(t *testing.T) {
		for _, c := range []struct {
			path string
			doc  []byte
		}{{"/v2/info/import", InfoImport()}, {"/v2/info/stores", InfoStoresLocal()}, {"/v2/info/usage", InfoUsage()}} {
			status, body := get(t, g.URL+c.path, "")
			if got, want := status, 200; got != want {
				t.Errorf("GET %s: status %d, want %d", c.path, got, want)
			}
			if got, want := c.doc, body; !bytes.Equal(got, want) {
				t.Errorf("GET %s:\n got %s\nwant %s", c.path, got, want)
			}
		}
	})

	t.Run("versions", func(t *testing.T) {
		for _, c := range []struct {
			path, host, base string
			status           int
		}{
			{"/", "", g.URL, 300},
			{"/versions", "", g.URL, 200},
			{"/", "example.com:8080", "http://example.com:8080", 300},
			{"/versions", "images.example.org", "http://images.example.org", 200},
			{"/versions", "[::1]:9292", "http://[::1]:9292", 200},
		} {
			status, body := get(t, g.URL+c.path, c.host)
			if got, want := status, c.status; got != want {
				t.Errorf("GET %s Host %q: status %d, want %d", c.path, c.host, got, want)
			}
			if got, want := VersionsDocument(c.base, Glance25Versions), body; !bytes.Equal(got, want) {
				t.Errorf("GET %s Host %q:\n got %s\nwant %s", c.path, c.host, got, want)
			}
		}
	})
}

func TestVersionsListsAPIVersions(t *testing.T) {
	doc := string(Versions("http://h:1/"))
	if !strings.HasPrefix(doc, `{"versions": [{"id": "v2.18", "status": "CURRENT", "links": [{"rel": "self", "href": "http://h:1/v2/"}]}, {"id": "v2.17", "status": "SUPPORTED"`) {
		t.Errorf("Versions = %.200s", doc)
	}
	if got, want := strings.Count(doc, `"CURRENT"`), 1; got != want {
		t.Errorf("%d CURRENT versions, want %d", got, want)
	}
	if got, want := strings.Count(doc, `"id"`), len(APIVersions); got != want {
		t.Errorf("%d versions, want %d", got, want)
	}
}

func TestJSONStringLikePython(t *testing.T) {
	for _, c := range []struct{ in, want string }{
		{`http://a"b`, `"http://a\"b"`},
		{"http://é", `"http://\u00e9"`},
		{"http://\U0001F600", `"http://\ud83d\ude00"`},
		{"a\\b\x01", `"a\\b\u0001"`},
	} {
		if got := jsonString(c.in); got != c.want {
			t.Errorf("jsonString(%q) = %s, want %s", c.in, got, c.want)
		}
	}
}
