package glancetest

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
)

// TestStartServesVersionsAndStops also starts Glance on a port another
// process takes before glance-api binds it (a parallel test's server, as
// once in CI): Start must not take that server's answers for Glance's, but
// start over on another port.
func TestStartServesVersionsAndStops(t *testing.T) {
	other := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, `{"versions": [{"id": "not glance", "status": "CURRENT"}]}`)
	}))
	defer other.Close()
	taken, _ := strconv.Atoi(other.URL[strings.LastIndexByte(other.URL, ':')+1:])
	picks := 0
	pickPort = func() (int, error) {
		if picks++; picks == 1 {
			return taken, nil
		}
		return freePort()
	}
	defer func() { pickPort = freePort }()

	g := StartT(t)
	if picks != 2 || g.URL == other.URL {
		t.Fatalf("started on %s after %d picks; the taken port was %s's", g.URL, picks, other.URL)
	}
	resp, err := http.Get(g.URL + "/versions")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if got, want := resp.StatusCode, http.StatusOK; got != want {
		t.Fatalf("GET /versions: status %d, want %d: %s", got, want, body)
	}
	var doc struct {
		Versions []struct{ ID, Status string }
	}
	if err := json.Unmarshal(body, &doc); err != nil {
		t.Fatalf("GET /versions: %v: %s", err, body)
	}
	if got, want := doc.Versions[0].ID+" "+doc.Versions[0].Status, "v2.16 CURRENT"; got != want {
		t.Errorf("first version = %q, want %q (image_cache_dir set as in a stock install)", got, want)
	}

	// Trusted headers are believed.
	req, _ := http.NewRequest("GET", g.URL+"/v2/images", nil)
	SetCaller(req.Header, "p1", "u1", "member")
	resp, err = http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if got, want := resp.StatusCode, http.StatusOK; got != want {
		t.Errorf("GET /v2/images as p1: status %d, want %d", got, want)
	}

	if err := g.Stop(); err != nil {
		t.Fatal(err)
	}
	if _, err := http.Get(g.URL + "/versions"); err == nil {
		t.Errorf("Glance still answers after Stop")
	}
	if err := g.Stop(); err != nil {
		t.Errorf("second Stop: %v", err)
	}
}
