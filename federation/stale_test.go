package federation_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"testing"
	"time"

	"github.com/spyglass-gateway/spyglass/backends"
	"github.com/spyglass-gateway/spyglass/backends/glance"
	"github.com/spyglass-gateway/spyglass/backends/glance/glancetest"
	"github.com/spyglass-gateway/spyglass/cache/meta"
	"github.com/spyglass-gateway/spyglass/federation"
)

// A real Glance region goes down: records within stale_if_error are still
// served, older ones are not, and nothing is served past the bound.
func TestStaleIfErrorWhenTheRegionIsDown(t *testing.T) {
	g := glancetest.StartT(t)
	req, _ := http.NewRequest("POST", g.URL+"/v2/images", bytes.NewReader([]byte(`{"name": "s", "visibility": "public"}`)))
	req.Header.Set("Content-Type", "application/json")
	glancetest.SetCaller(req.Header, "ops", "u", "admin,member,reader")
	resp, err := http.DefaultClient.Do(req)
	if err != nil || resp.StatusCode != 201 {
		t.Fatalf("create in glance: %v %v", err, resp)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	id := string(body[bytes.Index(body, []byte(`"id": "`))+7:])
	id = id[:36]

	region, err := glance.New(glance.Config{Name: "r", Endpoint: g.URL, ReadTimeout: time.Second, BreakerOpen: 50 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	mc, err := meta.New(meta.Config{TTL: 100 * time.Millisecond, StaleIfError: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	defer mc.Close()
	cat, _ := federation.New(federation.Config{Region: federation.RegionOf(region), Meta: mc})
	ctx := backends.WithCaller(context.Background(), &backends.Caller{Project: "p1", Roles: []string{"member", "reader"}})
	if _, err := cat.Image(ctx, id); err != nil {
		t.Fatal(err)
	}
	g.Stop()
	time.Sleep(150 * time.Millisecond) // past the TTL
	img, err := cat.Image(ctx, id)
	if err != nil || img.ID != id {
		t.Fatalf("region down, record within stale_if_error: %v", err)
	}
	if _, err := cat.Image(ctx, "00000000-0000-0000-0000-000000000000"); !errors.Is(err, backends.ErrUnavailable) {
		t.Fatalf("region down, nothing cached: %v, want ErrUnavailable (503)", err)
	}

	strict, _ := meta.New(meta.Config{TTL: 100 * time.Millisecond})
	defer strict.Close()
	cat2, _ := federation.New(federation.Config{Region: federation.RegionOf(region), Meta: strict})
	strict.PutImage(ctx, strict.Ticket(), img)
	time.Sleep(150 * time.Millisecond)
	if _, err := cat2.Image(ctx, id); !errors.Is(err, backends.ErrUnavailable) {
		t.Fatalf("stale_if_error 0: %v, want ErrUnavailable", err)
	}
}
