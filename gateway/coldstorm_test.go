package gateway_test

import (
	"bytes"
	"crypto/rand"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/spyglass-gateway/spyglass/backends/glance/glancetest"
	"github.com/spyglass-gateway/spyglass/gateway"
)

// The cold boot storm of issue 18 (item 1): N clients download one image
// at once through a gateway that has never seen it. The origin must be
// asked once for the image's record, once for each membership verdict the
// callers' visibility depends on, and once for the data — whatever N.

// originCounter is a loopback proxy in front of a real Glance that counts
// the requests the gateway makes, by kind. It holds every metadata request
// for a while, as a remote region's latency does: clients that arrive
// within that window find the first request still in flight.
type originCounter struct {
	url   string
	delay time.Duration
	mu    sync.Mutex
	kinds map[string]int
}

func startOriginCounter(t *testing.T, target string, delay time.Duration) *originCounter {
	t.Helper()
	u, err := url.Parse(target)
	if err != nil {
		t.Fatal(err)
	}
	rp := httputil.NewSingleHostReverseProxy(u)
	rp.FlushInterval = -1
	o := &originCounter{delay: delay, kinds: map[string]int{}}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		kind := requestKind(r)
		o.mu.Lock()
		o.kinds[kind]++
		o.mu.Unlock()
		if kind != "data" {
			time.Sleep(o.delay)
		}
		rp.ServeHTTP(w, r)
	})}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	o.url = "http://" + ln.Addr().String()
	return o
}

// requestKind names a request to the origin: record (GET /v2/images/{id}),
// data (GET .../file), members (GET .../members[/{id}]), or method and
// path for anything else.
func requestKind(r *http.Request) string {
	seg := strings.Split(strings.Trim(r.URL.Path, "/"), "/")
	if r.Method == "GET" && len(seg) >= 3 && seg[0] == "v2" && seg[1] == "images" {
		switch {
		case len(seg) == 3:
			return "record"
		case len(seg) == 4 && seg[3] == "file":
			return "data"
		case seg[3] == "members":
			return "members"
		}
	}
	return r.Method + " " + r.URL.Path
}

// take returns the counts since the last take and resets them.
func (o *originCounter) take() map[string]int {
	o.mu.Lock()
	defer o.mu.Unlock()
	k := o.kinds
	o.kinds = map[string]int{}
	return k
}

// glanceDo makes one request to Glance itself as who (behind the gateway's
// back: the gateway must stay cold).
func glanceDo(t *testing.T, base string, who as, method, path string, body []byte, ct string, want int) []byte {
	t.Helper()
	req, err := http.NewRequest(method, base+path, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	glancetest.SetCaller(req.Header, who.project, "u-"+who.project, who.roles+",reader")
	if ct != "" {
		req.Header.Set("Content-Type", ct)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != want {
		t.Fatalf("glance %s %s as %s: %d %s, want %d", method, path, who.project, resp.StatusCode, b, want)
	}
	return b
}

// glanceImage creates an active image in Glance itself, owned by owner's
// project, with data, and makes it visible to members (accepted).
func glanceImage(t *testing.T, base string, owner as, visibility string, data []byte, members ...as) string {
	t.Helper()
	doc, _ := json.Marshal(map[string]any{"name": "storm", "disk_format": "raw", "container_format": "bare", "visibility": visibility})
	var img struct{ ID string }
	if err := json.Unmarshal(glanceDo(t, base, owner, "POST", "/v2/images", doc, "application/json", 201), &img); err != nil {
		t.Fatal(err)
	}
	glanceDo(t, base, owner, "PUT", "/v2/images/"+img.ID+"/file", data, "application/octet-stream", 204)
	for _, m := range members {
		glanceDo(t, base, owner, "POST", "/v2/images/"+img.ID+"/members", []byte(`{"member": "`+m.project+`"}`), "application/json", 200)
		glanceDo(t, base, m, "PUT", "/v2/images/"+img.ID+"/members/"+m.project, []byte(`{"status": "accepted"}`), "application/json", 200)
	}
	return img.ID
}

// download is one client of a storm: its status, body and time to first
// byte (from the storm's start).
type download struct {
	who    as
	status int
	body   []byte
	ttfb   time.Duration
	err    error
}

// storm downloads id once per caller in whos, all at once, but for the
// first lead ones, which start lead before the others.
func storm(base, id string, whos []as, first int, lead time.Duration) []download {
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: len(whos), MaxConnsPerHost: len(whos)}}
	defer client.CloseIdleConnections()
	out := make([]download, len(whos))
	start := make(chan struct{})
	var wg sync.WaitGroup
	var t0 time.Time
	for i, who := range whos {
		wg.Add(1)
		go func() {
			defer wg.Done()
			d := &out[i]
			d.who = who
			req, _ := http.NewRequest("GET", base+"/v2/images/"+id+"/file", nil)
			glancetest.SetCaller(req.Header, who.project, "u-"+who.project, who.roles)
			<-start
			if i >= first {
				time.Sleep(lead)
			}
			resp, err := client.Do(req)
			if err != nil {
				d.err = err
				return
			}
			defer resp.Body.Close()
			var first [1]byte
			n, err := io.ReadFull(resp.Body, first[:])
			d.ttfb = time.Since(t0)
			if err != nil && err != io.EOF {
				d.err = err
				return
			}
			rest, err := io.ReadAll(resp.Body)
			d.status, d.body, d.err = resp.StatusCode, append(first[:n], rest...), err
		}()
	}
	t0 = time.Now()
	close(start)
	wg.Wait()
	return out
}

func repeat(who as, n int) []as { return slices.Repeat([]as{who}, n) }

// TestColdStormCostsOneOriginRequestOfEachKind is issue 18's quick variant:
// a cold storm of N downloads of one image through the gateway costs the
// origin (a real Glance) one record request, one data request and one
// membership request per project whose visibility depends on it, and every
// client gets the image's bytes, or the 404 its own project gets.
func TestColdStormCostsOneOriginRequestOfEachKind(t *testing.T) {
	// Some Glance, not a fresh one: the images are the test's own, and the
	// counter sees only what this test's gateways ask.
	g := glancetest.SharedT(t)
	origin := startOriginCounter(t, g.URL, 200*time.Millisecond)
	data := make([]byte, 256<<10)
	rand.Read(data)
	ops := as{"ops", "admin,member"}
	publicID := glanceImage(t, g.URL, ops, "public", data)
	sharedID := glanceImage(t, g.URL, p1, "shared", data, p2)
	privateID := glanceImage(t, g.URL, p1, "private", data)

	for _, tc := range []struct {
		name   string
		id     string
		whos   []as
		first  int    // whos[:first] start 50ms before the others: they ask first
		hidden string // a project that must get 404
		// want is the exact count of each kind; at most is an upper bound
		// where who leads decides (a hidden caller's 404 is its own: the
		// others ask again).
		want, atMost map[string]int
	}{
		{name: "public image, N=20", id: publicID, whos: repeat(p1, 20),
			want: map[string]int{"record": 1, "data": 1}},
		{name: "public image, N=50, three projects", id: publicID, whos: slices.Concat(repeat(p1, 20), repeat(p2, 20), repeat(p3, 10)),
			want: map[string]int{"record": 1, "data": 1}},
		{name: "shared image, owner and member, N=20", id: sharedID, whos: slices.Concat(repeat(p1, 10), repeat(p2, 10)),
			want: map[string]int{"record": 1, "data": 1, "members": 1}},
		{name: "shared image, owner, member and an outsider, N=50", id: sharedID, hidden: "p3",
			whos:   slices.Concat(repeat(p1, 20), repeat(p2, 20), repeat(p3, 10)),
			atMost: map[string]int{"record": 3, "data": 1, "members": 2}},
		// The first asker cannot see the image: its 404 is its own; the
		// others ask again, once per identity.
		{name: "shared image, an outsider asks first, N=41", id: sharedID, hidden: "p3",
			whos: slices.Concat(repeat(p3, 1), repeat(p1, 20), repeat(p2, 20)), first: 1,
			want: map[string]int{"record": 3, "data": 1, "members": 1}},
		// The first asker is an admin, who sees every image: its record
		// is shared, and still not shown to a project that may not see it.
		{name: "private image, an admin asks first, N=41", id: privateID, hidden: "p2",
			whos: slices.Concat(repeat(admin, 1), repeat(p1, 20), repeat(p2, 20)), first: 1,
			want: map[string]int{"record": 1, "data": 1}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ts := startGlanceRegion(origin.url, "", true, 0)(t, gateway.Config{})
			origin.take()
			downloads := storm(ts.url, tc.id, tc.whos, tc.first, 50*time.Millisecond)
			got := origin.take()
			var ttfbs []time.Duration
			for _, d := range downloads {
				switch {
				case d.err != nil:
					t.Errorf("%s: %v", d.who.project, d.err)
				case d.who.project == tc.hidden:
					if d.status != 404 {
						t.Errorf("%s, who may not see the image: status %d, want 404", d.who.project, d.status)
					}
				case d.status != 200 || !bytes.Equal(d.body, data):
					t.Errorf("%s: status %d, %d bytes; want 200 and the image's %d bytes", d.who.project, d.status, len(d.body), len(data))
				default:
					ttfbs = append(ttfbs, d.ttfb)
				}
			}
			if tc.want != nil {
				if !mapsEqual(got, tc.want) {
					t.Errorf("the origin was asked %v; want %v", got, tc.want)
				}
			} else {
				for kind, n := range got {
					if n > tc.atMost[kind] {
						t.Errorf("the origin was asked %v; want at most %v", got, tc.atMost)
						break
					}
				}
			}
			slices.Sort(ttfbs)
			if len(ttfbs) > 0 {
				t.Logf("origin: %v; first byte p50 %v, max %v", got, ttfbs[len(ttfbs)/2], ttfbs[len(ttfbs)-1])
			}
			if tc.hidden != "" {
				return // the outsider's own 404 from the origin is not cached
			}
			// Warm: the same storm asks the origin nothing.
			storm(ts.url, tc.id, tc.whos, 0, 0)
			if got := origin.take(); len(got) != 0 {
				t.Errorf("a warm storm asked the origin %v; want nothing", got)
			}
		})
	}
}

func mapsEqual(a, b map[string]int) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	return true
}
