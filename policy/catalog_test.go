package policy

import (
	"encoding/json"
	"testing"
)

// TestTokenImageEndpoints: the image endpoints of a token's catalog are
// kept (region id, interface, URL without its trailing slash) and found as
// Glance's get_glance_endpoint finds them: region without case, interface
// exactly; other services are dropped.
func TestTokenImageEndpoints(t *testing.T) {
	doc := `{"expires_at": "2030-01-01T00:00:00Z", "user": {"id": "u1"}, "catalog": [
		{"type": "identity", "endpoints": [{"region_id": "One", "interface": "public", "url": "http://keystone"}]},
		{"type": "image", "endpoints": [
			{"region_id": "One", "region": "One", "interface": "public", "url": "http://one/"},
			{"region_id": "One", "region": "One", "interface": "internal", "url": "http://one-internal"},
			{"region": "two", "interface": "public", "url": "http://two"}]}]}`
	var d tokenDoc
	if err := json.Unmarshal([]byte(doc), &d); err != nil {
		t.Fatal(err)
	}
	ti, err := d.info()
	if err != nil {
		t.Fatal(err)
	}
	id := ti.identity("tok")
	if got, want := len(id.ImageEndpoints), 3; got != want {
		t.Fatalf("%d image endpoints, want %d: %+v", got, want, id.ImageEndpoints)
	}
	for _, tc := range []struct {
		region, iface, want string
		ok                  bool
	}{
		{"One", "public", "http://one", true},
		{"one", "public", "http://one", true},
		{"ONE", "internal", "http://one-internal", true},
		{"one", "admin", "", false},
		{"two", "public", "http://two", true},
		{"one", "Public", "", false},
		{"three", "public", "", false},
		{"", "public", "", false},
	} {
		got, ok := id.ImageEndpoint(tc.region, tc.iface)
		if got != tc.want || ok != tc.ok {
			t.Errorf("ImageEndpoint(%q, %q) = %q, %v; want %q, %v", tc.region, tc.iface, got, ok, tc.want, tc.ok)
		}
	}
	var none Identity
	if _, ok := none.ImageEndpoint("one", "public"); ok {
		t.Error("an identity without a catalog found an endpoint")
	}
}
