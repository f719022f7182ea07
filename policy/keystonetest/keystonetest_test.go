package keystonetest

import (
	"context"
	"net/http"
	"testing"
	"time"

	"github.com/gophercloud/gophercloud/v2/openstack/identity/v3/tokens"
)

// The launcher's own test: Keystone starts, the fixture's users get tokens
// of the right scope, a revoked token stops validating, and Stop leaves
// nothing listening.
func TestKeystoneFixtureTokensAndStop(t *testing.T) {
	ks := StartT(t)
	ctx := context.Background()
	fx := ks.FixtureT(t)
	admin, err := ks.Admin(ctx)
	if err != nil {
		t.Fatal(err)
	}

	tok, err := ks.ProjectToken(ctx, fx.MemberA, fx.ProjectA)
	if err != nil {
		t.Fatal(err)
	}
	if !tok.ExpiresAt.After(time.Now()) {
		t.Fatalf("token expires at %v, in the past", tok.ExpiresAt)
	}
	r := tokens.Get(ctx, admin, tok.ID)
	p, err := r.ExtractProject()
	if err != nil {
		t.Fatal(err)
	}
	if got, want := p.ID, fx.ProjectA; got != want {
		t.Fatalf("token project %q, want %q", got, want)
	}
	rs, _ := r.ExtractRoles()
	if len(rs) != 2 { // member and the reader it implies
		t.Fatalf("member-a roles %v, want member and reader", rs)
	}

	if err := ks.GrantDomain(ctx, fx.Admin.ID, DefaultDomain, "admin"); err != nil {
		t.Fatal(err)
	}
	dtok, err := ks.DomainToken(ctx, fx.Admin, DefaultDomain)
	if err != nil {
		t.Fatal(err)
	}
	d, err := tokens.Get(ctx, admin, dtok.ID).ExtractDomain()
	if err != nil || d == nil || d.ID != DefaultDomain {
		t.Fatalf("domain token: domain %+v, err %v", d, err)
	}

	if err := ks.RevokeToken(ctx, tok.ID); err != nil {
		t.Fatal(err)
	}
	if ok, err := tokens.Validate(ctx, admin, tok.ID); err != nil || ok {
		t.Fatalf("revoked token: valid %v, err %v", ok, err)
	}

	if err := ks.RegisterEndpoint(ctx, "image", "glance", "RegionTwo", "internal", "http://127.0.0.1:1/"); err != nil {
		t.Fatal(err)
	}

	ks.Stop()
	if resp, err := http.Get(ks.AuthURL()); err == nil {
		resp.Body.Close()
		t.Fatalf("Keystone still answers after Stop: %s", resp.Status)
	}
}
