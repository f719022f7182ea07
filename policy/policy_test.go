package policy

import (
	"context"
	"errors"
	"testing"

	"github.com/spyglass-gateway/spyglass/backends"
)

type headers map[string]string

func (h headers) Peek(k string) []byte {
	v, ok := h[k]
	if !ok {
		return nil
	}
	return []byte(v)
}

func TestTrusted(t *testing.T) {
	auth, err := NewAuthenticator("trusted")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := auth.Authenticate(context.Background(), headers{"X-Project-Id": "p1"}); !errors.Is(err, ErrUnauthenticated) {
		t.Fatalf("unconfirmed identity: err = %v, want ErrUnauthenticated", err)
	}
	id, err := auth.Authenticate(context.Background(), headers{
		"X-Identity-Status": "Confirmed", "X-Tenant-Id": "p1", "X-User": "u1", "X-Roles": " Admin , member,",
	})
	if err != nil {
		t.Fatal(err)
	}
	if id.ProjectID != "p1" || id.UserID != "u1" || id.IsAdmin || !id.HasRole("member") || len(id.Roles) != 2 {
		t.Fatalf("identity %+v", id)
	}
	long := make([]byte, 65)
	for i := range long {
		long[i] = 'x'
	}
	if _, err := auth.Authenticate(context.Background(), headers{"X-Identity-Status": "Confirmed", "X-Openstack-Request-Id": string(long)}); !errors.Is(err, ErrRequestIDTooLong) {
		t.Fatalf("long request id: %v", err)
	}
	if _, err := NewAuthenticator("bogus"); err == nil {
		t.Fatal("unknown mode accepted")
	}
}

// TestVisible is glance/db/utils.py is_image_visible, case by case.
func TestVisible(t *testing.T) {
	p1, p2 := "p1", "p2"
	img := func(vis string, owner *string) *backends.Image {
		return &backends.Image{ID: "i", Visibility: vis, Owner: owner}
	}
	member := func(status string) *backends.Member {
		return &backends.Member{ImageID: "i", MemberID: "p2", Status: status}
	}
	admin := &Identity{ProjectID: "a", IsAdmin: true}
	owner := &Identity{ProjectID: "p1"}
	other := &Identity{ProjectID: "p2"}
	anon := &Identity{}
	for _, tc := range []struct {
		name   string
		id     *Identity
		img    *backends.Image
		m      *backends.Member
		status string
		want   bool
	}{
		{"admin sees private", admin, img("private", &p1), nil, "", true},
		{"no owner is visible", other, img("private", nil), nil, "", true},
		{"public", anon, img("public", &p1), nil, "", true},
		{"community", other, img("community", &p1), nil, "", true},
		{"owner", owner, img("private", &p1), nil, "", true},
		{"private to other", other, img("private", &p1), nil, "", false},
		{"private to anonymous", anon, img("private", &p1), nil, "", false},
		{"shared, not a member", other, img("shared", &p1), nil, "", false},
		{"shared, pending member, any status", other, img("shared", &p1), member("pending"), "", true},
		{"shared, pending member, accepted asked", other, img("shared", &p1), member("pending"), "accepted", false},
		{"shared, rejected member, all", other, img("shared", &p1), member("rejected"), "all", true},
		{"private with a stale membership", other, img("private", &p1), member("accepted"), "", false},
		{"owner p2 image seen by p2", other, img("private", &p2), nil, "", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := Visible(tc.id, tc.img, tc.m, tc.status); got != tc.want {
				t.Fatalf("Visible = %v, want %v", got, tc.want)
			}
			if !NeedsMembership(tc.id, tc.img) && tc.m != nil && Visible(tc.id, tc.img, nil, tc.status) != tc.want {
				t.Fatal("NeedsMembership said the membership does not matter, but it does")
			}
		})
	}
}
