package admin

import (
	"strings"
	"testing"
)

// FuzzBearer: any Authorization header parses without a panic; what it
// yields is a non-empty credential without surrounding space; and every
// such credential sent as "Bearer <it>" comes back whole.
func FuzzBearer(f *testing.F) {
	for _, s := range []string{"", "Bearer x", "bearer  tok ", "Basic dXNlcjpwdw==", "Bearer", "Bearer ", "BEARER\ttok", "Bearer a b"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, h string) {
		tok, ok := bearer(h)
		if ok && (tok == "" || tok != strings.TrimSpace(tok)) {
			t.Fatalf("bearer(%q) = %q: empty or with surrounding space", h, tok)
		}
		if !ok && tok != "" {
			t.Fatalf("bearer(%q) = %q, false: a credential with a refusal", h, tok)
		}
		if ok {
			if again, ok2 := bearer("Bearer " + tok); !ok2 || again != tok {
				t.Fatalf("bearer(Bearer %q) = %q, %v: not the credential back", tok, again, ok2)
			}
		}
	})
}

// TestBearer: the scheme is case-insensitive (RFC 7235), anything but
// Bearer is no credential.
func TestBearer(t *testing.T) {
	for _, tc := range []struct {
		h, want string
		ok      bool
	}{
		{"Bearer tok", "tok", true},
		{"bearer tok", "tok", true},
		{"BEARER   tok  ", "tok", true},
		{"Bearer", "", false},
		{"Bearer   ", "", false},
		{"Basic tok", "", false},
		{"tok", "", false},
		{"", "", false},
	} {
		if got, ok := bearer(tc.h); got != tc.want || ok != tc.ok {
			t.Errorf("bearer(%q) = %q, %v; want %q, %v", tc.h, got, ok, tc.want, tc.ok)
		}
	}
}
