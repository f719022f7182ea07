package local

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/spyglass-gateway/spyglass/backends"
	"github.com/spyglass-gateway/spyglass/backends/transfers"
)

// heldOrigin answers every path with bytes held open after the first ones
// until the test lets the path go: a download that lasts as the test wants.
type heldOrigin struct {
	*httptest.Server
	arrived chan string
	mu      sync.Mutex
	gates   map[string]chan struct{}
}

func startHeldOrigin(t *testing.T) *heldOrigin {
	h := &heldOrigin{arrived: make(chan string, 100), gates: map[string]chan struct{}{}}
	h.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		gate := h.gate(r.URL.Path)
		w.Write([]byte("first bytes;"))
		w.(http.Flusher).Flush()
		h.arrived <- r.URL.Path
		select {
		case <-gate:
			w.Write([]byte("the rest"))
		case <-r.Context().Done():
		}
	}))
	t.Cleanup(func() { // a failed test leaves answers held: cut them
		h.CloseClientConnections()
		h.Close()
	})
	return h
}

func (h *heldOrigin) gate(path string) chan struct{} {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.gates[path] == nil {
		h.gates[path] = make(chan struct{})
	}
	return h.gates[path]
}

func (h *heldOrigin) let(path string) { close(h.gate(path)) }

func (h *heldOrigin) waitArrived(t *testing.T, path string) {
	t.Helper()
	select {
	case p := <-h.arrived:
		if p != path {
			t.Fatalf("download of %s started, want %s", p, path)
		}
	case <-time.After(10 * time.Second):
		t.Fatalf("download of %s never started", path)
	}
}

func (h *heldOrigin) noneArrives(t *testing.T) {
	t.Helper()
	select {
	case p := <-h.arrived:
		t.Fatalf("download of %s started beyond the limits", p)
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

// TestWebDownloadTransferLimits: web-download imports and import tasks go
// through the limiter. One downloads at a time; the next waits (its task
// pending, its image importing) and starts when the slot frees; a project
// over its bound gets a failed task with Glance's LimitExceeded message and
// its image back to queued with no store marked failed (Glance's
// assert_quota), while another project still queues; Close fails the
// imports running and queued as failed imports, downloading nothing more.
func TestWebDownloadTransferLimits(t *testing.T) {
	checkNoLeak(t)
	src := startHeldOrigin(t)
	lim, err := transfers.New(transfers.Options{MaxActive: 1, PerProject: 2, MaxQueued: 5})
	if err != nil {
		t.Fatal(err)
	}
	s, _ := open(t, Options{Fetcher: loopbackFetcher(t, src.Server), Transfers: lim})
	as := func(project string) context.Context {
		return backends.WithCaller(context.Background(), &backends.Caller{Project: project})
	}
	webDownload := func(project, id string) *backends.Task {
		t.Helper()
		create(t, s, id, project, "private")
		if err := s.Import(as(project), id, backends.ImportRequest{Method: "web-download", URI: src.URL + "/" + id}); err != nil {
			t.Fatal(err)
		}
		tasks, err := s.ImageTasks(as(project), id)
		if err != nil || len(tasks) != 1 {
			t.Fatalf("tasks %v %v", tasks, err)
		}
		return tasks[0]
	}
	task := func(id string) *backends.Task {
		got, err := s.Task(context.Background(), id)
		if err != nil {
			t.Fatal(err)
		}
		return got
	}
	checkImage := func(id, status, failed string) {
		t.Helper()
		img := waitStatus(t, s, id, status)
		if got := img.Properties["os_glance_failed_import"]; got != failed {
			t.Errorf("%s: os_glance_failed_import = %q, want %q", id, got, failed)
		}
		if got := img.Properties["os_glance_importing_to_stores"]; got != "" {
			t.Errorf("%s: os_glance_importing_to_stores = %q, want empty", id, got)
		}
	}

	w1 := webDownload("p", "w1")
	src.waitArrived(t, "/w1")
	w2 := webDownload("p", "w2")
	waitTransfers(t, lim, 1, 1)
	src.noneArrives(t)
	if got := task(w2.ID).Status; got != backends.TaskPending {
		t.Errorf("queued import's task: %s, want pending", got)
	}
	if img, _ := s.Image(context.Background(), "w2"); img.Status != backends.StatusImporting {
		t.Errorf("queued import's image: %s, want importing", img.Status)
	}

	w3 := webDownload("p", "w3") // p's third: over its bound
	done := waitTask(t, s, w3.ID)
	if done.Status != backends.TaskFailure || !strings.Contains(done.Message, "413 Request Entity Too Large") ||
		!strings.Contains(done.Message, "Project p is over a limit for [Resource image_count_uploading is over limit of 2 due to current usage 3 and delta 0]") {
		t.Errorf("refused import's task: %s %q", done.Status, done.Message)
	}
	checkImage("w3", backends.StatusQueued, "")

	w4 := webDownload("q", "w4") // q is not p: it queues
	input, _ := json.Marshal(map[string]any{
		"import_from": src.URL + "/t1", "import_from_format": "raw",
		"image_properties": map[string]any{"name": "from-task", "disk_format": "raw", "container_format": "bare"},
	})
	t1, err := s.CreateTask(as("q"), "import", input)
	if err != nil {
		t.Fatal(err)
	}
	waitTransfers(t, lim, 1, 3)

	src.let("/w1")
	if got := waitTask(t, s, w1.ID); got.Status != backends.TaskSuccess {
		t.Fatalf("w1's task: %s %q", got.Status, got.Message)
	}
	checkImage("w1", backends.StatusActive, "")
	src.waitArrived(t, "/w2") // p waited first
	src.noneArrives(t)

	// Close: the running download and the queued ones end as failed
	// imports; none of the queued is fetched.
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	for _, id := range []string{w2.ID, w4.ID, t1.ID} {
		if got := task(id); got.Status != backends.TaskFailure {
			t.Errorf("task %s after Close: %s, want failure", id, got.Status)
		}
	}
	checkImage("w2", backends.StatusQueued, "local")
	checkImage("w4", backends.StatusQueued, "local")
	src.noneArrives(t)
	waitTransfers(t, lim, 0, 0)
}

// checkNoLeak fails when goroutines started during the test outlive it
// (registered first, it runs after every other cleanup).
func checkNoLeak(t *testing.T) {
	before := runtime.NumGoroutine()
	t.Cleanup(func() {
		http.DefaultClient.CloseIdleConnections()
		deadline := time.Now().Add(10 * time.Second)
		for runtime.NumGoroutine() > before {
			if time.Now().After(deadline) {
				buf := make([]byte, 1<<20)
				t.Errorf("%d goroutines, %d before the test:\n%s", runtime.NumGoroutine(), before, buf[:runtime.Stack(buf, true)])
				return
			}
			time.Sleep(10 * time.Millisecond)
		}
	})
}
