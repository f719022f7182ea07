package gateway_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"net/url"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/spyglass-gateway/spyglass/backends/local"
	"github.com/spyglass-gateway/spyglass/backends/outbound"
	"github.com/spyglass-gateway/spyglass/backends/transfers"
	"github.com/spyglass-gateway/spyglass/gateway"
)

// heldSource serves any path as an image whose answer is held open after
// its first bytes until the test lets it go: a copy that lasts as long as
// the test wants.
type heldSource struct {
	*httptest.Server
	arrived chan string
	mu      sync.Mutex
	gates   map[string]chan struct{}
}

const heldImage = 64 << 10

func startHeldSource(t *testing.T) *heldSource {
	h := &heldSource{arrived: make(chan string, 100), gates: map[string]chan struct{}{}}
	h.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		gate := h.gate(r.URL.Path)
		w.Header().Set("Content-Length", strconv.Itoa(heldImage))
		w.Write(make([]byte, 1000))
		w.(http.Flusher).Flush()
		h.arrived <- r.URL.Path
		select {
		case <-gate:
			w.Write(make([]byte, heldImage-1000))
		case <-r.Context().Done():
		}
	}))
	t.Cleanup(func() { // a failed test leaves answers held: cut them
		h.CloseClientConnections()
		h.Close()
	})
	return h
}

func (h *heldSource) gate(path string) chan struct{} {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.gates[path] == nil {
		h.gates[path] = make(chan struct{})
	}
	return h.gates[path]
}

func (h *heldSource) let(path string) { close(h.gate(path)) }

func (h *heldSource) waitArrived(t *testing.T, path string) {
	t.Helper()
	select {
	case p := <-h.arrived:
		if p != path {
			t.Fatalf("transfer of %s started, want %s", p, path)
		}
	case <-time.After(10 * time.Second):
		t.Fatalf("transfer of %s never started", path)
	}
}

func (h *heldSource) noneArrives(t *testing.T) {
	t.Helper()
	select {
	case p := <-h.arrived:
		t.Fatalf("transfer of %s started beyond the limits", p)
	case <-time.After(100 * time.Millisecond):
	}
}

func waitTransfers(t *testing.T, l *transfers.Limiter, active, queued int64) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for s := l.Stats(); s.Active != active || s.Queued != queued; s = l.Stats() {
		if time.Now().After(deadline) {
			t.Fatalf("transfers: %d active %d queued, want %d and %d", s.Active, s.Queued, active, queued)
		}
		time.Sleep(time.Millisecond)
	}
}

// TestV1CopyFromTransferLimits: copy-from copies go through the gateway's
// transfer limiter: one runs at a time, the next waits queued (its image
// queued) and starts when the slot frees, a project over its bound gets its
// image killed without a fetch while another project's copy still queues,
// and Shutdown kills the copies running and queued, fetching nothing more.
func TestV1CopyFromTransferLimits(t *testing.T) {
	checkNoLeak(t)
	src := startHeldSource(t)
	u, _ := url.Parse(src.URL)
	f, err := outbound.New(outbound.Options{Filter: outbound.Filter{AllowedHosts: []string{u.Hostname()}}})
	if err != nil {
		t.Fatal(err)
	}
	lim, err := transfers.New(transfers.Options{MaxActive: 1, PerProject: 2, MaxQueued: 2})
	if err != nil {
		t.Fatal(err)
	}
	store, err := local.Open(t.TempDir(), local.Options{Fetcher: f, Transfers: lim})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	ts := serveData(t, gateway.Config{EnableV1: true, ImportFilter: f, Transfers: lim}, store)
	ctx := context.Background()
	copyFrom := func(who as, path string) string {
		t.Helper()
		resp, body := ts.do(t, who, "POST", "/v1/images", nil, hdrs("x-glance-api-copy-from", src.URL+path)...)
		if resp.StatusCode != 201 {
			t.Fatalf("POST %s: %d %s", path, resp.StatusCode, body)
		}
		return v1Body(t, body)["id"].(string)
	}
	status := func(id string) string {
		img, err := store.Image(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		return img.Status
	}
	waitStatus := func(id, want string) {
		t.Helper()
		deadline := time.Now().Add(10 * time.Second)
		for status(id) != want {
			if time.Now().After(deadline) {
				t.Fatalf("image %s: %s, want %s", id, status(id), want)
			}
			time.Sleep(5 * time.Millisecond)
		}
	}

	a := copyFrom(p1, "/a.img")
	src.waitArrived(t, "/a.img")
	b := copyFrom(p1, "/b.img")
	waitTransfers(t, lim, 1, 1)
	src.noneArrives(t)
	if got := status(b); got != "queued" {
		t.Errorf("queued copy's image: %s, want queued", got)
	}
	c := copyFrom(p1, "/c.img") // p1's third: over its bound
	waitStatus(c, "killed")
	d := copyFrom(p2, "/d.img") // p2 is not p1: it queues
	waitTransfers(t, lim, 1, 2)

	src.let("/a.img")
	waitStatus(a, "active")
	src.waitArrived(t, "/b.img") // the slot a freed
	e := copyFrom(p2, "/e.img")
	waitTransfers(t, lim, 1, 2)

	sctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if err := ts.srv.Shutdown(sctx); err != nil {
		t.Fatal(err)
	}
	for _, id := range []string{b, d, e} {
		if got := status(id); got != "killed" {
			t.Errorf("image %s after Shutdown: %s, want killed", id, got)
		}
	}
	src.noneArrives(t) // neither d nor e was fetched
	waitTransfers(t, lim, 0, 0)
}

// checkNoLeak fails when goroutines started during the test outlive it
// (registered first, it runs after every other cleanup). fasthttp's own
// are not counted: its clock, started once per process, and its worker
// pool's cleaner, which sleeps 10s before it sees the server stopped.
func checkNoLeak(t *testing.T) {
	before := goroutines()
	t.Cleanup(func() {
		http.DefaultClient.CloseIdleConnections()
		deadline := time.Now().Add(10 * time.Second)
		for goroutines() > before {
			if time.Now().After(deadline) {
				buf := make([]byte, 1<<20)
				t.Errorf("%d goroutines, %d before the test:\n%s", goroutines(), before, buf[:runtime.Stack(buf, true)])
				return
			}
			time.Sleep(10 * time.Millisecond)
		}
	})
}

func goroutines() int {
	buf := make([]byte, 1<<20)
	all := strings.Split(string(buf[:runtime.Stack(buf, true)]), "\n\n")
	n := 0
	for _, g := range all {
		if !strings.Contains(g, "fasthttp.updateServerDate") && !strings.Contains(g, "fasthttp.(*workerPool).Start") {
			n++
		}
	}
	return n
}
