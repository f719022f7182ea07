package gateway_test

import (
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/spyglass-gateway/spyglass/backends/local"
	"github.com/spyglass-gateway/spyglass/gateway"
	"github.com/spyglass-gateway/spyglass/policy"
)

// TestMetadefsOff: a catalog without metadefs answers 501 on their routes
// (their schemas are still served), not a 404 that reads as "no such
// namespace".
func TestMetadefsOff(t *testing.T) {
	store, err := local.Open(t.TempDir(), local.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	cat := gateway.CatalogOf(store)
	if cat.Metadefs == nil {
		t.Fatal("CatalogOf did not find the embedded store's metadefs")
	}
	cat.Metadefs = nil
	ts := serveCatalog(t, cat, gateway.Config{})
	for _, tc := range []struct{ method, path string }{
		{"GET", "/v2/metadefs/namespaces"},
		{"POST", "/v2/metadefs/namespaces"},
		{"GET", "/v2/metadefs/resource_types"},
		{"DELETE", "/v2/metadefs/namespaces/x/tags/y"},
	} {
		resp, body := ts.do(t, admin, tc.method, tc.path, nil)
		if got, want := resp.StatusCode, 501; got != want {
			t.Errorf("%s %s: %d %s, want %d", tc.method, tc.path, got, body, want)
		}
	}
	if resp, _ := ts.do(t, p1, "GET", "/v2/schemas/metadefs/namespace", nil); resp.StatusCode != 200 {
		t.Errorf("schema: %d", resp.StatusCode)
	}
}

// TestMetadefsPolicyFile: the metadef rules are Glance's names, so a
// policy file changes them: members may write, only admins may list.
func TestMetadefsPolicyFile(t *testing.T) {
	file := filepath.Join(t.TempDir(), "policy.yaml")
	if err := os.WriteFile(file, []byte(`"metadef_admin": "role:admin or role:member"
"get_metadef_namespaces": "role:admin"
`), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, defaults := range []policy.Defaults{policy.Legacy, policy.Current} {
		pol, err := policy.New(policy.Options{Defaults: defaults, File: file})
		if err != nil {
			t.Fatal(err)
		}
		ts := startServerWith(t, "trusted", gateway.Config{Policy: pol})
		// A reader, whom get_metadef_namespace lets see the namespaces
		// (else Glance's MetadefAPIPolicy turns the 403 into a 404).
		reader := as{"p1", "member,reader"}
		ts.json(t, reader, "POST", "/v2/metadefs/namespaces", map[string]any{"namespace": "mine", "visibility": "public"}, 201)
		resp, body := ts.do(t, reader, "GET", "/v2/metadefs/namespaces", nil)
		if resp.StatusCode != 403 || !strings.Contains(string(body), "get_metadef_namespaces") {
			t.Errorf("%v: p1 list: %d %s, want 403", defaults, resp.StatusCode, body)
		}
		ts.json(t, admin, "GET", "/v2/metadefs/namespaces", nil, http.StatusOK)
		ts.json(t, p2, "DELETE", "/v2/metadefs/namespaces/mine", nil, http.StatusNoContent)
	}
}

// serveCatalog serves cat on loopback in trusted mode.
func serveCatalog(t testing.TB, cat gateway.Catalog, cfg gateway.Config) *testServer {
	t.Helper()
	auth, err := policy.NewAuthenticator("trusted")
	if err != nil {
		t.Fatal(err)
	}
	srv, err := gateway.New(cfg, cat, auth)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Shutdown(t.Context()) })
	return &testServer{url: "http://" + ln.Addr().String(), srv: srv}
}
