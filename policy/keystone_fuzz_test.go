package policy

import (
	"context"
	"encoding/json"
	"errors"
	"net"
	"slices"
	"strings"
	"testing"
	"time"
)

// FuzzKeystoneTokenDocument feeds Keystone token documents (the "token"
// object of GET /v3/auth/tokens) to the decoder: it never panics, and what
// it accepts has a user, an expiry, one scope at most and lower-case,
// distinct roles.
func FuzzKeystoneTokenDocument(f *testing.F) {
	f.Add(`{"expires_at": "2030-01-01T00:00:00.000000Z", "user": {"id": "u1", "domain": {"id": "default"}}, "project": {"id": "p1", "domain": {"id": "default"}}, "roles": [{"name": "Member"}, {"name": "reader"}, {"name": "member"}]}`)
	f.Add(`{"expires_at": "2030-01-01T00:00:00Z", "user": {"id": "u1"}, "domain": {"id": "d1"}, "roles": []}`)
	f.Add(`{"expires_at": "2030-01-01T00:00:00Z", "user": {"id": "u1"}, "system": {"all": true}}`)
	f.Add(`{"expires_at": "yesterday", "user": {"id": "u1"}}`)
	f.Add(`{"user": {}}`)
	f.Add(`{"expires_at": 7, "roles": [null, {"name": 3}]}`)
	f.Add(`{"expires_at": "2030-01-01T00:00:00Z", "user": {"id": "u1"}, "catalog": [{"type": "image", "endpoints": [{"region_id": "two", "region": "two", "interface": "public", "url": "http://g/"}]}, {"type": "identity", "endpoints": [{"interface": "public", "url": "http://k"}]}]}`)
	f.Add(`{"expires_at": "2030-01-01T00:00:00Z", "user": {"id": "u1"}, "catalog": [null, {"type": "image", "endpoints": [null, {"url": 3}]}]}`)
	f.Fuzz(func(t *testing.T, doc string) {
		var d tokenDoc
		if json.Unmarshal([]byte(doc), &d) != nil {
			return
		}
		ti, err := d.info()
		if err != nil {
			return
		}
		if ti.userID == "" || ti.expires.IsZero() {
			t.Fatalf("accepted a token without user or expiry: %+v", ti)
		}
		scopes := 0
		for _, s := range []string{ti.projectID, ti.domainID, ti.systemScope} {
			if s != "" {
				scopes++
			}
		}
		if scopes > 1 {
			t.Fatalf("more than one scope: %+v", ti)
		}
		for i, r := range ti.roles {
			if r == "" || r != strings.ToLower(r) || slices.Contains(ti.roles[:i], r) {
				t.Fatalf("roles %q: want non-empty, lower-case, distinct", ti.roles)
			}
		}
		if cap(ti.roles) != len(ti.roles) {
			t.Fatal("roles slice has spare capacity an append would share")
		}
		if cap(ti.images) != len(ti.images) {
			t.Fatal("image endpoints slice has spare capacity an append would share")
		}
		id := ti.identity("tok")
		for _, e := range ti.images {
			if _, ok := id.ImageEndpoint(e.Region, e.Interface); !ok {
				t.Fatalf("endpoint %+v kept but not found", e)
			}
		}
	})
}

// FuzzKeystoneAuthenticateUnreachable sends any X-Auth-Token to a gateway
// whose Keystone refuses connections: never a panic, never an identity;
// 401 for what cannot be a token, 503 for the rest.
func FuzzKeystoneAuthenticateUnreachable(f *testing.F) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		f.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close() // connection refused from now on
	k, err := NewKeystone(KeystoneConfig{AuthURL: "http://" + addr + "/v3", Username: "u", Password: "p",
		Timeout: time.Second, BreakerOpen: time.Hour})
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(k.Close)
	for _, s := range []string{"", "gAAAAABh", "a\x00b", "tökén", strings.Repeat("x", 5000), " ", "\t"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, tok string) {
		_, err := k.Authenticate(context.Background(), headerMap{"X-Auth-Token": tok})
		switch {
		case err == nil:
			t.Fatal("authenticated without Keystone")
		case tok == "" || !plausibleToken([]byte(tok)):
			if !errors.Is(err, ErrUnauthenticated) {
				t.Fatalf("token %q: %v, want 401", tok, err)
			}
		case !errors.Is(err, ErrKeystoneUnavailable) && !errors.Is(err, ErrUnauthenticated):
			t.Fatalf("token %q: %v, want 503 or 401", tok, err)
		}
	})
}

type headerMap map[string]string

func (h headerMap) Peek(k string) []byte {
	if v, ok := h[k]; ok {
		return []byte(v)
	}
	return nil
}
