//go:build !race

package policy

import (
	"context"
	"encoding/json"
	"hash/maphash"
	"testing"
	"time"

	"github.com/valyala/fasthttp"
)

// TestKeystoneCachedTokenAllocatesNothing: keystone mode's hot path, a
// token whose verdict is cached, costs no allocation. The race detector
// allocates on its own, so this runs without it: make test's pass of
// `go test -run Alloc`. The verdict is the one a validation keeps
// (keepValid), from a token document of Keystone's shape: the hot path
// never reaches Keystone, and TestKeystone validates against a real one;
// starting one here cost this pass 25-45 s of CPU.
func TestKeystoneCachedTokenAllocatesNothing(t *testing.T) {
	k, err := NewKeystone(KeystoneConfig{AuthURL: "http://127.0.0.1:1/v3", Username: "spyglass", Password: "pw"})
	if err != nil {
		t.Fatal(err)
	}
	defer k.Close()
	var doc tokenDoc
	if err := json.Unmarshal([]byte(`{"expires_at": "2030-01-01T00:00:00.000000Z", "methods": ["password"],
		"user": {"id": "u1", "name": "member-b", "domain": {"id": "default", "name": "Default"}},
		"project": {"id": "p1", "name": "project-b", "domain": {"id": "default", "name": "Default"}},
		"roles": [{"id": "r1", "name": "member"}, {"id": "r2", "name": "reader"}]}`), &doc); err != nil {
		t.Fatal(err)
	}
	info, err := doc.info()
	if err != nil {
		t.Fatal(err)
	}
	const tok = "gAAAAABnot-a-real-fernet-token-but-of-the-length-of-one-0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef01"
	k.keepValid(maphash.Bytes(k.seed, []byte(tok)), tok, info, time.Now())

	var h fasthttp.RequestHeader
	h.Set("X-Auth-Token", tok)
	if id, err := k.Authenticate(context.Background(), &h); err != nil || id.UserID != "u1" || id.ProjectID != "p1" {
		t.Fatalf("cached Authenticate: %+v, %v", id, err)
	}
	if k.misses.Load() != 0 {
		t.Fatalf("the token was not found in the cache: %d misses", k.misses.Load())
	}
	var n float64
	if n = testing.AllocsPerRun(100, func() { _, err = k.Authenticate(context.Background(), &h) }); n != 0 || err != nil {
		t.Errorf("cached Authenticate: %v allocations per call (err %v), want 0", n, err)
	}
	if k.misses.Load() != 0 {
		t.Errorf("the token left the cache: %d misses", k.misses.Load())
	}
}
