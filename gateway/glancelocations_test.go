package gateway_test

import (
	"bytes"
	"net/http"
	"strings"
	"testing"

	"github.com/spyglass-gateway/spyglass/backends/glance"
	"github.com/spyglass-gateway/spyglass/backends/glance/glancetest"
	"github.com/spyglass-gateway/spyglass/cache/blob"
	"github.com/spyglass-gateway/spyglass/federation"
	"github.com/spyglass-gateway/spyglass/gateway"
)

// Locations on a Glance region (backends/glance/locations.go): a Glance
// 25 with show_multiple_locations and an http store holds v1 location
// images and v2 location patches itself; a stock one holds none, and with
// no embedded region a v1 location image is a 400.

// startGlanceOnly serves a catalog of Glance regions with a blob cache:
// "origin" at url (the default), then "other" at more[0] if given.
func startGlanceOnly(t *testing.T, src *source, url string, showLocations bool, more ...string) *dataServer {
	t.Helper()
	var regions []federation.RegionConfig
	for i, u := range append([]string{url}, more...) {
		name := "origin"
		if i > 0 {
			name = "other"
		}
		remote, err := glance.New(glance.Config{Name: name, Endpoint: u})
		if err != nil {
			t.Fatal(err)
		}
		regions = append(regions, federation.RegionConfig{Name: name, Region: federation.RegionOf(remote)})
	}
	blobs, err := blob.Open(blob.Config{Dir: t.TempDir(), MaxSize: 1 << 30, Retries: 1})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { blobs.Close() })
	cat, err := federation.New(federation.Config{
		Regions: regions, Default: "origin", Blobs: blobs,
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cat.Close)
	return serveData(t, gateway.Config{EnableV1: true, ImportFilter: src.fetcher(t), ShowMultipleLocations: showLocations}, cat)
}

func TestLocationsGlanceRegion(t *testing.T) {
	src := startSource(t)
	holding := glancetest.StartTWith(t, glancetest.Options{Locations: true})
	stock := glancetest.SharedT(t)
	url := src.URL + "/image.img"
	patch := []string{"Content-Type", "application/openstack-images-v2.1-json-patch"}
	locURLs := func(img map[string]any) []string {
		var out []string
		locs, _ := img["locations"].([]any)
		for _, l := range locs {
			out = append(out, l.(map[string]any)["url"].(string))
		}
		return out
	}

	t.Run("v1 location held by the region", func(t *testing.T) {
		ts := startGlanceOnly(t, src, holding.URL, true)
		resp, body := ts.do(t, p1, "POST", "/v1/images", nil, hdrs("x-image-meta-location", url)...)
		if resp.StatusCode != 201 {
			t.Fatalf("POST: %d %s", resp.StatusCode, body)
		}
		v1 := v1Body(t, body)
		id := v1["id"].(string)
		if got, want := v1["status"], "active"; got != want {
			t.Errorf("v1 status %v, want %v", got, want)
		}
		if got, want := v1["size"], float64(len(src.image)); got != want {
			t.Errorf("v1 size %v, want %v (the size the region's http store found)", got, want)
		}
		// The region has it, at the location.
		if got := glanceStatus(t, holding.URL, id); got != "active" {
			t.Errorf("the region's status %q, want active", got)
		}
		v2 := ts.json(t, p1, "GET", "/v2/images/"+id, nil, 200)
		if v2["stores"] != "origin" {
			t.Errorf("stores %v, want origin", v2["stores"])
		}
		if got := locURLs(v2); len(got) != 1 || got[0] != url {
			t.Errorf("locations %v, want [%s]", got, url)
		}
		// The data comes through the region.
		gets := src.gets.Load()
		if resp, got := ts.do(t, p1, "GET", "/v1/images/"+id, nil); resp.StatusCode != 200 || !bytes.Equal(got, src.image) {
			t.Errorf("GET v1: %d, %d bytes", resp.StatusCode, len(got))
		}
		if resp, got := ts.do(t, p1, "GET", "/v2/images/"+id+"/file", nil); resp.StatusCode != 200 || !bytes.Equal(got, src.image) {
			t.Errorf("GET /file: %d, %d bytes", resp.StatusCode, len(got))
		}
		if src.gets.Load() == gets {
			t.Error("the downloads read nothing from the location")
		}
		// v2 patches of its locations go to the region.
		resp, body = ts.do(t, p1, "PATCH", "/v2/images/"+id, strings.NewReader(`[{"op":"add","path":"/locations/-","value":{"url":"`+url+`?copy=2","metadata":{"k":"v"}}}]`), patch...)
		if resp.StatusCode != 200 {
			t.Fatalf("PATCH add: %d %s", resp.StatusCode, body)
		}
		if got := locURLs(ts.json(t, p1, "GET", "/v2/images/"+id, nil, 200)); len(got) != 2 {
			t.Errorf("after add: locations %v, want 2", got)
		}
		resp, body = ts.do(t, p1, "PATCH", "/v2/images/"+id, strings.NewReader(`[{"op":"remove","path":"/locations/0"}]`), patch...)
		if resp.StatusCode != 200 {
			t.Fatalf("PATCH remove: %d %s", resp.StatusCode, body)
		}
		if got := locURLs(ts.json(t, p1, "GET", "/v2/images/"+id, nil, 200)); len(got) != 1 || got[0] != url+"?copy=2" {
			t.Errorf("after remove: locations %v, want [%s?copy=2]", got, url)
		}
		resp, body = ts.do(t, p1, "PATCH", "/v2/images/"+id, strings.NewReader(`[{"op":"remove","path":"/locations/0"}]`), patch...)
		if resp.StatusCode != 403 || !strings.Contains(string(body), "Cannot remove last location in the image.") {
			t.Errorf("PATCH remove the last: %d %s, want Glance's 403", resp.StatusCode, body)
		}
	})
	t.Run("locations hidden by the gateway", func(t *testing.T) {
		// The region would take it: the gateway that shows no locations
		// refuses as Glance does with its own hidden.
		ts := startGlanceOnly(t, src, holding.URL, false)
		img := ts.json(t, p1, "POST", "/v2/images", map[string]any{"disk_format": "raw", "container_format": "bare"}, 201)
		id := img["id"].(string)
		resp, body := ts.do(t, p1, "PATCH", "/v2/images/"+id, strings.NewReader(`[{"op":"add","path":"/locations/-","value":{"url":"`+url+`","metadata":{}}}]`), patch...)
		if resp.StatusCode != 403 || !strings.Contains(string(body), "It's not allowed to add locations if locations are invisible.") {
			t.Errorf("PATCH add: %d %s, want 403", resp.StatusCode, body)
		}
		if got := glanceStatus(t, holding.URL, id); got != "queued" {
			t.Errorf("the region's status %q, want queued", got)
		}
	})
	t.Run("moved from a stock Glance to one that holds locations", func(t *testing.T) {
		ts := startGlanceOnly(t, src, stock.URL, true, holding.URL)
		resp, body := ts.do(t, p1, "POST", "/v1/images", nil, hdrs("x-image-meta-location", url)...)
		if resp.StatusCode != 201 {
			t.Fatalf("POST: %d %s", resp.StatusCode, body)
		}
		id := v1Body(t, body)["id"].(string)
		v2 := ts.json(t, p1, "GET", "/v2/images/"+id, nil, 200)
		if v2["stores"] != "other" || v2["status"] != "active" {
			t.Errorf("stores %v status %v, want other active", v2["stores"], v2["status"])
		}
		if got := glanceStatus(t, holding.URL, id); got != "active" {
			t.Errorf("the holding region's status %q, want active", got)
		}
		req, _ := http.NewRequest("GET", stock.URL+"/v2/images/"+id, nil)
		glancetest.SetCaller(req.Header, "p1", "u-p1", "member")
		if resp, err := http.DefaultClient.Do(req); err != nil {
			t.Fatal(err)
		} else if resp.Body.Close(); resp.StatusCode != 404 {
			t.Errorf("the stock region still has the moved image: %d", resp.StatusCode)
		}
		if resp, got := ts.do(t, p1, "GET", "/v2/images/"+id+"/file", nil); resp.StatusCode != 200 || !bytes.Equal(got, src.image) {
			t.Errorf("GET /file: %d, %d bytes", resp.StatusCode, len(got))
		}
	})
	t.Run("stock Glance holds none", func(t *testing.T) {
		ts := startGlanceOnly(t, src, stock.URL, true)
		resp, body := ts.do(t, p1, "POST", "/v1/images", nil, hdrs("x-image-meta-location", url)...)
		if resp.StatusCode != 400 || !strings.Contains(string(body), "No store of this Images API serves image locations: upload the data instead.") {
			t.Errorf("POST: %d %s, want 400", resp.StatusCode, body)
		}
	})
}
