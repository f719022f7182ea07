package federation_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/spyglass-gateway/spyglass/backends/glance"
	"github.com/spyglass-gateway/spyglass/backends/glance/glancetest"
	"github.com/spyglass-gateway/spyglass/backends/outbound"
	"github.com/spyglass-gateway/spyglass/backends/transfers"
	"github.com/spyglass-gateway/spyglass/federation"
	"github.com/spyglass-gateway/spyglass/gateway"
	"github.com/spyglass-gateway/spyglass/policy"
)

// badHost is a name that never resolves (.invalid is reserved for that).
const badHost = "spyglass-no-such-host.invalid"

// webOrigin is the web server tenants' web-downloads read: /img is the
// image, /missing a 404, /cut a stream cut at half its Content-Length,
// /big more than the test's size cap (chunked: no size known up front),
// /held the image once the test lets it go.
type webOrigin struct {
	*httptest.Server
	data    []byte
	release chan struct{}
	arrived chan string
}

func startWebOrigin(t *testing.T) *webOrigin {
	o := &webOrigin{data: bytes.Repeat([]byte("web-download\n"), 20000), release: make(chan struct{}), arrived: make(chan string, 16)}
	o.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/missing":
			http.NotFound(w, r)
		case "/cut":
			w.Header().Set("Content-Length", strconv.Itoa(len(o.data)))
			w.Write(o.data[:len(o.data)/2])
			w.(http.Flusher).Flush()
			// Hijack and close: the stream ends short of its length.
			conn, _, err := w.(http.Hijacker).Hijack()
			if err == nil {
				conn.Close()
			}
		case "/big":
			for range 40 { // 40 × 64 KiB, past the 1 MiB cap
				w.Write(bytes.Repeat([]byte{'b'}, 64<<10))
			}
		case "/held":
			w.Header().Set("Content-Length", strconv.Itoa(len(o.data)))
			w.Write(o.data[:10])
			w.(http.Flusher).Flush()
			o.arrived <- r.URL.Path
			select {
			case <-o.release:
				w.Write(o.data[10:])
			case <-r.Context().Done():
			}
		default:
			o.arrived <- r.URL.Path
			w.Write(o.data)
		}
	}))
	t.Cleanup(func() {
		o.CloseClientConnections()
		o.Close()
	})
	return o
}

// closedPort is a loopback port nothing listens on: connection refused.
func closedPort(t *testing.T) int {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	return port
}

// webFilter lets web-downloads reach the test's origin, the closed port
// and the name that does not resolve, and nothing else internal.
func webFilter(t *testing.T, o *webOrigin, refused int) *outbound.Fetcher {
	u, _ := url.Parse(o.URL)
	port, _ := strconv.Atoi(u.Port())
	f, err := outbound.New(outbound.Options{Filter: outbound.Filter{
		AllowedSchemes: []string{"http"},
		AllowedHosts:   []string{"127.0.0.1", badHost},
		AllowedPorts:   []int{80, port, refused},
	}})
	if err != nil {
		t.Fatal(err)
	}
	return f
}

// serveGateway serves cat through a gateway with the import filter f and
// an image size cap of 1 MiB.
func serveGateway(t *testing.T, cat *federation.Catalog, f *outbound.Fetcher, lim *transfers.Limiter) string {
	t.Helper()
	auth, err := policy.NewAuthenticator("trusted")
	if err != nil {
		t.Fatal(err)
	}
	srv, err := gateway.New(gateway.Config{ImportFilter: f, Transfers: lim, SizeCap: 1 << 20}, gateway.CatalogOf(cat), auth)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Shutdown(t.Context()) })
	return "http://" + ln.Addr().String()
}

// glanceRegions starts n real Glance regions g0… and a catalog over them
// whose gateway-run downloads use f within lim.
func glanceRegions(t *testing.T, n int, f *outbound.Fetcher, lim *transfers.Limiter) (base string, urls []string) {
	t.Helper()
	if lim == nil {
		var err error
		if lim, err = transfers.New(transfers.Options{}); err != nil {
			t.Fatal(err)
		}
	}
	gs := make([]*glancetest.Glance, n)
	var wg sync.WaitGroup
	for i := range gs {
		wg.Add(1)
		go func() { defer wg.Done(); gs[i] = glancetest.StartT(t) }()
	}
	wg.Wait()
	if t.Failed() {
		t.FailNow()
	}
	var rcs []federation.RegionConfig
	for i, g := range gs {
		r, err := glance.New(glance.Config{Name: fmt.Sprintf("g%d", i), Endpoint: g.URL, ReadTimeout: 15 * time.Second})
		if err != nil {
			t.Fatal(err)
		}
		urls = append(urls, g.URL)
		rcs = append(rcs, federation.RegionConfig{Region: federation.RegionOf(r)})
	}
	cat, err := federation.New(federation.Config{Regions: rcs, WebDownload: f, Transfers: lim})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cat.Close)
	return serveGateway(t, cat, f, lim), urls
}

func webDownload(t *testing.T, base string, who caller, id, uri string, extra map[string]any) {
	t.Helper()
	body := map[string]any{"method": map[string]string{"name": "web-download", "uri": uri}}
	for k, v := range extra {
		body[k] = v
	}
	if code, b := do(t, base, who, "POST", "/v2/images/"+id+"/import", body); code != 202 {
		t.Fatalf("web-download of %s: %d %s, want 202", uri, code, b)
	}
}

type taskDoc struct {
	Status, Message, Type string
}

// imageTasks are the image's tasks as its owner sees them.
func imageTasks(t *testing.T, base string, who caller, id string) []taskDoc {
	t.Helper()
	_, b := do(t, base, who, "GET", "/v2/images/"+id+"/tasks", nil)
	var doc struct{ Tasks []taskDoc }
	json.Unmarshal(b, &doc)
	return doc.Tasks
}

// waitTask waits for the image's one task to reach status.
func waitTask(t *testing.T, base string, who caller, id, status string) taskDoc {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for {
		ts := imageTasks(t, base, who, id)
		if len(ts) == 1 && ts[0].Status == status {
			return ts[0]
		}
		if time.Now().After(deadline) {
			t.Fatalf("image %s: tasks %+v, want one %s", id, ts, status)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestWebDownloadIntoGlanceRegions: web-download into real Glance regions
// is the gateway's, through its import filtering: into one region and into
// both (all_stores) the image becomes active with the origin's bytes, as
// one task; a URI whose host does not resolve (Tempest's bad-URL test,
// which Debian's Glance refuses at request time), a port that refuses, a
// 404, a stream cut short and a source over the size cap are accepted
// (202) and end as Glance's failed web-download: the image queued, the
// store in os_glance_failed_import, nothing importing, the task failed
// with Glance's message; after the cut stream, the image imports again.
func TestWebDownloadIntoGlanceRegions(t *testing.T) {
	o := startWebOrigin(t)
	refused := closedPort(t)
	f := webFilter(t, o, refused)
	base, _ := glanceRegions(t, 2, f, nil)

	for _, tc := range []struct {
		name   string
		path   string
		extra  map[string]any
		stores string
	}{
		{"one region", "/img", map[string]any{"stores": []string{"g1"}}, "g1"},
		{"the default region", "/img", nil, "g0"},
		{"all stores", "/img", map[string]any{"all_stores": true}, "g0,g1"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			id := newImage(t, base)
			webDownload(t, base, multiAdmin, id, o.URL+tc.path, tc.extra)
			seen, last := settle(t, base, id)
			t.Logf("went through %v", seen)
			if want := (storeState{Status: "active", Stores: tc.stores}); last != want {
				t.Fatalf("settled as %v, want %v", last, want)
			}
			if seen[0].Status != "importing" {
				t.Errorf("first seen %v, want importing (as Glance's image while it downloads)", seen[0])
			}
			task := waitTask(t, base, multiAdmin, id, "success")
			if task.Type != "api_image_import" {
				t.Errorf("task %+v", task)
			}
			resp, b := send(t, base, multiAdmin, "GET", "/v2/images/"+id+"/file", nil, nil)
			if resp.StatusCode != 200 || !bytes.Equal(b, o.data) {
				t.Errorf("data: %d, %d bytes, want the origin's %d", resp.StatusCode, len(b), len(o.data))
			}
		})
	}

	for _, tc := range []struct{ name, uri string }{
		{"unresolvable host", "http://" + badHost + "/x"},
		{"connection refused", fmt.Sprintf("http://127.0.0.1:%d/x", refused)},
		{"404", o.URL + "/missing"},
		{"cut stream", o.URL + "/cut"},
		{"over the size cap", o.URL + "/big"},
	} {
		for _, target := range []struct {
			name   string
			extra  map[string]any
			failed string
		}{
			{"one region", map[string]any{"stores": []string{"g1"}}, "g1"},
			// Glance's BaseDownload.revert: a download that never
			// staged its data failed in every store.
			{"all stores", map[string]any{"all_stores": true}, "g0,g1"},
		} {
			t.Run(tc.name+"/"+target.name, func(t *testing.T) {
				id := newImage(t, base)
				webDownload(t, base, multiAdmin, id, tc.uri, target.extra)
				_, last := settle(t, base, id)
				if want := (storeState{Status: "queued", Failed: target.failed}); last != want {
					t.Fatalf("settled as %v, want %v", last, want)
				}
				task := waitTask(t, base, multiAdmin, id, "failure")
				if got, want := task.Message, "Task failed due to Internal Error"; got != want {
					t.Errorf("task message %q, want Glance's %q", got, want)
				}
				if tc.name != "cut stream" {
					return
				}
				// Nothing of the cut stream stayed in the region's
				// staging area: the image imports again.
				webDownload(t, base, multiAdmin, id, o.URL+"/img", target.extra)
				if _, last := settle(t, base, id); last.Status != "active" || last.Failed != "" {
					t.Errorf("imported again: %v, want active, no store failed", last)
				}
			})
		}
	}

	t.Run("a second import while the first downloads", func(t *testing.T) {
		for len(o.arrived) > 0 { // the fetches of the cases before
			<-o.arrived
		}
		id := newImage(t, base)
		webDownload(t, base, multiAdmin, id, o.URL+"/held", nil)
		waitArrived(t, o, "/held")
		code, b := do(t, base, multiAdmin, "POST", "/v2/images/"+id+"/import",
			map[string]any{"method": map[string]string{"name": "web-download", "uri": o.URL + "/img"}})
		if code != 409 || !strings.Contains(string(b), "Image needs to be in 'queued' state to use 'web-download' method") {
			t.Errorf("second import: %d %s, want 409 as Glance's", code, b)
		}
		if s := showState(t, base, id); s.Status != "importing" || s.Importing != "g0" {
			t.Errorf("while downloading: %v, want importing to g0", s)
		}
		if ts := imageTasks(t, base, multiAdmin, id); len(ts) != 1 || ts[0].Status != "processing" {
			t.Errorf("tasks while downloading: %+v, want one processing", ts)
		}
		close(o.release)
		if _, last := settle(t, base, id); last != (storeState{Status: "active", Stores: "g0"}) {
			t.Errorf("settled as %v, want active in g0", last)
		}
	})
}

func waitArrived(t *testing.T, o *webOrigin, path string) {
	t.Helper()
	select {
	case got := <-o.arrived:
		if got != path {
			t.Fatalf("the origin was asked %s, want %s", got, path)
		}
	case <-time.After(30 * time.Second):
		t.Fatalf("the origin was never asked %s", path)
	}
}

// TestGatewayDownloadsShareTheTransferBound: the gateway's downloads into
// Glance regions go through the limiter the gateway's other transfers use.
// With one slot taken by another transfer of the gateway (as a v1
// copy-from's), a web-download waits, its task pending; its project over
// its bound, another fails at once as the embedded store's do (Glance's
// LimitExceeded, the image queued, no store marked failed); once the slot
// frees, the waiting one runs and completes.
func TestGatewayDownloadsShareTheTransferBound(t *testing.T) {
	o := startWebOrigin(t)
	lim, err := transfers.New(transfers.Options{MaxActive: 1, PerProject: 1, MaxQueued: 5})
	if err != nil {
		t.Fatal(err)
	}
	base, _ := glanceRegions(t, 1, webFilter(t, o, closedPort(t)), lim)
	p1 := caller{"p1", "member,reader"}
	p2 := caller{"p2", "member,reader"}
	image := func(who caller) string {
		code, b := do(t, base, who, "POST", "/v2/images", map[string]any{"name": "wd", "disk_format": "raw", "container_format": "bare"})
		if code != 201 {
			t.Fatalf("create: %d %s", code, b)
		}
		var img struct{ ID string }
		json.Unmarshal(b, &img)
		return img.ID
	}

	// Another transfer of the gateway, of p1, holds the one slot.
	holding, release := make(chan struct{}), make(chan struct{})
	go lim.Do(context.Background(), "p1", func(ctx context.Context) error {
		close(holding)
		<-release
		return nil
	})
	<-holding

	queued := image(p2)
	webDownload(t, base, p2, queued, o.URL+"/img", nil)
	refused := image(p1)
	webDownload(t, base, p1, refused, o.URL+"/img", nil)

	task := waitTask(t, base, p1, refused, "failure")
	if !strings.Contains(task.Message, "413 Request Entity Too Large") ||
		!strings.Contains(task.Message, "Project p1 is over a limit for [Resource image_count_uploading is over limit of 1 due to current usage 2 and delta 0]") {
		t.Errorf("refused web-download's task: %q, want Glance's LimitExceeded", task.Message)
	}
	// GET /v2/tasks lists both, as Glance lists its import tasks (the
	// tasks API is an admin's).
	_, b := do(t, base, multiAdmin, "GET", "/v2/tasks", nil)
	var list struct{ Tasks []taskDoc }
	json.Unmarshal(b, &list)
	var statuses []string
	for _, task := range list.Tasks {
		if task.Type == "api_image_import" {
			statuses = append(statuses, task.Status)
		}
	}
	if got, want := strings.Join(statuses, ","), "failure,pending"; got != want {
		t.Errorf("import tasks listed, newest first: %s, want %s", got, want)
	}
	if s := showState(t, base, refused); s != (storeState{Status: "queued"}) {
		t.Errorf("refused image: %v, want queued, no store importing or failed", s)
	}
	if ts := imageTasks(t, base, p2, queued); len(ts) != 1 || ts[0].Status != "pending" {
		t.Errorf("waiting web-download's tasks: %+v, want one pending", ts)
	}
	if s := lim.Stats(); s.Active != 1 || s.Queued != 1 {
		t.Errorf("limiter: %+v, want 1 active, 1 queued", s)
	}
	select {
	case p := <-o.arrived:
		t.Fatalf("the origin was asked %s beyond the bound", p)
	case <-time.After(200 * time.Millisecond):
	}

	close(release)
	waitArrived(t, o, "/img")
	waitTask(t, base, p2, queued, "success")
	if _, last := settle(t, base, queued); last != (storeState{Status: "active", Stores: "g0"}) {
		t.Errorf("the waiting web-download's image settled as %v, want active in g0", last)
	}
}

// TestCappedReader: a source read through the size cap ends at the cap
// with an error when it holds more, and as it is when it holds no more.
func TestCappedReader(t *testing.T) {
	for _, tc := range []struct {
		size, capBytes int64
		over           bool
	}{{0, 0, false}, {10, 10, false}, {10, 11, false}, {11, 10, true}, {1 << 20, 1, true}} {
		t.Run(fmt.Sprint(tc.size, "/", tc.capBytes), func(t *testing.T) {
			n, err := io.Copy(io.Discard, federation.CappedForTest(io.LimitReader(zeros{}, tc.size), tc.capBytes))
			if got := err != nil; got != tc.over {
				t.Fatalf("err %v, want over %v", err, tc.over)
			}
			if !tc.over && n != tc.size {
				t.Errorf("read %d, want %d", n, tc.size)
			}
			if tc.over && n > tc.capBytes {
				t.Errorf("read %d past the cap %d", n, tc.capBytes)
			}
		})
	}
}

type zeros struct{}

func (zeros) Read(p []byte) (int, error) { clear(p); return len(p), nil }
