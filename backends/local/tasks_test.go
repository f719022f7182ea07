package local

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/spyglass-gateway/spyglass/backends"
	"github.com/spyglass-gateway/spyglass/backends/outbound"
)

func waitStatus(t *testing.T, s *Store, id, want string) *backends.Image {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		img, err := s.Image(context.Background(), id)
		if err != nil {
			t.Fatal(err)
		}
		if img.Status == want {
			return img
		}
		if time.Now().After(deadline) {
			t.Fatalf("image %s: status %q, want %q", id, img.Status, want)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func waitTask(t *testing.T, s *Store, id string) *backends.Task {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		task, err := s.Task(context.Background(), id)
		if err != nil {
			t.Fatal(err)
		}
		if task.Status == backends.TaskSuccess || task.Status == backends.TaskFailure {
			return task
		}
		if time.Now().After(deadline) {
			t.Fatalf("task %s still %s", id, task.Status)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// loopbackFetcher lets the store fetch from srv, a test server on
// loopback, which the default import filtering refuses.
func loopbackFetcher(t *testing.T, srv *httptest.Server) *outbound.Fetcher {
	t.Helper()
	u, _ := url.Parse(srv.URL)
	port, _ := strconv.Atoi(u.Port())
	f, err := outbound.New(outbound.Options{Filter: outbound.Filter{
		AllowedSchemes: []string{"http"}, AllowedHosts: []string{u.Hostname()}, AllowedPorts: []int{port},
	}})
	if err != nil {
		t.Fatal(err)
	}
	return f
}

func TestImport(t *testing.T) {
	ctx := context.Background()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/missing" {
			http.NotFound(w, r)
			return
		}
		w.Write([]byte("downloaded bytes"))
	}))
	defer srv.Close()
	s, _ := open(t, Options{Fetcher: loopbackFetcher(t, srv)})
	caller := backends.Caller{Project: "p"}
	ctx = backends.WithCaller(ctx, &caller)

	t.Run("glance-direct", func(t *testing.T) {
		create(t, s, "gd", "p", "private")
		err := s.Import(ctx, "gd", backends.ImportRequest{Method: "glance-direct"})
		wantErr(t, err, backends.ErrConflict, "Image needs to be staged before 'glance-direct' method can be used")
		img, err := s.StageData(ctx, "gd", strings.NewReader("staged"), backends.UploadOptions{ExpectedSize: -1})
		if err != nil || img.Status != "uploading" {
			t.Fatalf("stage: %v %v", img, err)
		}
		if _, err := s.StageData(ctx, "gd", strings.NewReader("again"), backends.UploadOptions{ExpectedSize: -1}); !errors.Is(err, backends.ErrConflict) {
			t.Fatalf("second stage: %v", err)
		}
		if err := s.Import(ctx, "gd", backends.ImportRequest{Method: "glance-direct"}); err != nil {
			t.Fatal(err)
		}
		img = waitStatus(t, s, "gd", "active")
		if got, want := *img.Size, int64(6); got != want {
			t.Fatalf("size %d want %d", got, want)
		}
		tasks, err := s.ImageTasks(ctx, "gd")
		if err != nil || len(tasks) != 1 {
			t.Fatalf("tasks %v %v", tasks, err)
		}
		if task := waitTask(t, s, tasks[0].ID); task.Type != "api_image_import" || task.Status != "success" || task.ExpiresAt == nil {
			t.Fatalf("task %+v", task)
		}
	})
	t.Run("web-download", func(t *testing.T) {
		create(t, s, "wd", "p", "private")
		err := s.Import(ctx, "wd", backends.ImportRequest{Method: "web-download", URI: "file:///etc/passwd"})
		wantErr(t, err, backends.ErrBadRequest, "")
		if err := s.Import(ctx, "wd", backends.ImportRequest{Method: "web-download", URI: srv.URL + "/img"}); err != nil {
			t.Fatal(err)
		}
		img := waitStatus(t, s, "wd", "active")
		if got, want := *img.Size, int64(len("downloaded bytes")); got != want {
			t.Fatalf("size %d want %d", got, want)
		}
		create(t, s, "wd404", "p", "private")
		if err := s.Import(ctx, "wd404", backends.ImportRequest{Method: "web-download", URI: srv.URL + "/missing"}); err != nil {
			t.Fatal(err)
		}
		tasks, _ := s.ImageTasks(ctx, "wd404")
		if task := waitTask(t, s, tasks[0].ID); task.Status != "failure" || task.Message == "" {
			t.Fatalf("task %+v", task)
		}
		img = waitStatus(t, s, "wd404", "queued")
		if got, want := img.Properties["os_glance_failed_import"], "local"; got != want {
			t.Errorf("os_glance_failed_import = %q, want %q", got, want)
		}
		if got, want := img.Properties["os_glance_importing_to_stores"], ""; got != want {
			t.Errorf("os_glance_importing_to_stores = %q, want %q", got, want)
		}
	})
	t.Run("copy-image", func(t *testing.T) {
		err := s.Import(ctx, "wd", backends.ImportRequest{Method: "copy-image"})
		wantErr(t, err, backends.ErrBadRequest, "")
	})
}

func TestTasks(t *testing.T) {
	ctx := context.Background()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Write([]byte("task data"))
	}))
	defer srv.Close()
	s, _ := open(t, Options{Fetcher: loopbackFetcher(t, srv)})
	caller := backends.Caller{Project: "p"}
	ctx = backends.WithCaller(ctx, &caller)
	input, _ := json.Marshal(map[string]any{
		"import_from": srv.URL + "/x", "import_from_format": "raw",
		"image_properties": map[string]any{"name": "from-task", "disk_format": "raw", "container_format": "bare"},
	})
	task, err := s.CreateTask(ctx, "import", input)
	if err != nil || task.Status != "pending" {
		t.Fatalf("%v %v", task, err)
	}
	done := waitTask(t, s, task.ID)
	if done.Status != "success" || done.ExpiresAt == nil {
		t.Fatalf("task %+v", done)
	}
	var res struct {
		ImageID string `json:"image_id"`
	}
	if err := json.Unmarshal(done.Result, &res); err != nil {
		t.Fatal(err)
	}
	img := waitStatus(t, s, res.ImageID, "active")
	if got, want := *img.Name, "from-task"; got != want {
		t.Fatalf("name %q want %q", got, want)
	}

	bad, _ := s.CreateTask(ctx, "import", []byte(`{"import_from": "ftp://x/y"}`))
	if done := waitTask(t, s, bad.ID); done.Status != "failure" || done.Message != "The given uri is not valid. Please specify a valid uri from the following list of supported uri ['http']" {
		t.Fatalf("task %+v", done)
	}
	_, err = s.CreateTask(ctx, "bogus", input)
	wantErr(t, err, backends.ErrBadRequest, "")

	other, _ := s.CreateTask(backends.WithCaller(ctx, &backends.Caller{Project: "q"}), "import", []byte(`{}`))
	waitTask(t, s, other.ID)

	tests := []struct {
		name string
		who  backends.Caller
		q    backends.TaskQuery
		want int
	}{
		{"own", caller, backends.TaskQuery{}, 2},
		{"admin", backends.Caller{Admin: true}, backends.TaskQuery{}, 3},
		{"status", caller, backends.TaskQuery{Status: "failure"}, 1},
		{"limit", caller, backends.TaskQuery{Limit: 1}, 1},
		{"marker", caller, backends.TaskQuery{SortKey: "created_at", Marker: task.ID}, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := s.ListTasks(backends.WithCaller(ctx, &tt.who), &tt.q)
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != tt.want {
				t.Fatalf("got %d tasks, want %d", len(got), tt.want)
			}
		})
	}
	_, err = s.ListTasks(ctx, &backends.TaskQuery{Marker: "nope"})
	wantErr(t, err, backends.ErrMarkerNotFound, "")
}

// loopbackResolver resolves every name to 127.0.0.1: a public-looking name
// that points inside.
type loopbackResolver struct{}

func (loopbackResolver) LookupNetIP(ctx context.Context, network, host string) ([]netip.Addr, error) {
	return []netip.Addr{netip.MustParseAddr("127.0.0.1")}, nil
}

// TestWebDownloadFiltered: what the filter refuses at request time is a
// 400 and leaves the image alone; what it refuses while fetching (a name
// that resolves to loopback, a redirect to a host not allowed) is a failed
// import with the store in os_glance_failed_import, and no data.
func TestWebDownloadFiltered(t *testing.T) {
	ctx := context.Background()
	var hits atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		if r.URL.Path == "/redirect" {
			http.Redirect(w, r, "http://localhost:"+r.URL.Port()+"/img", http.StatusFound)
			return
		}
		w.Write([]byte("internal data"))
	}))
	defer srv.Close()
	u, _ := url.Parse(srv.URL)
	port, _ := strconv.Atoi(u.Port())
	caller := backends.Caller{Project: "p"}
	ctx = backends.WithCaller(ctx, &caller)

	// Glance's defaults, plus the test server's port.
	byName, err := outbound.New(outbound.Options{Filter: outbound.Filter{AllowedPorts: []int{80, 443, port}}, Resolver: loopbackResolver{}})
	if err != nil {
		t.Fatal(err)
	}
	s, _ := open(t, Options{Fetcher: byName})
	for i, uri := range []string{srv.URL + "/img", "http://localhost:" + u.Port() + "/img", "http://2130706433:" + u.Port() + "/img"} {
		id := "refused" + strconv.Itoa(i)
		create(t, s, id, "p", "private")
		err := s.Import(ctx, id, backends.ImportRequest{Method: "web-download", URI: uri})
		wantErr(t, err, backends.ErrBadRequest, "URI for web-download does not pass filtering: "+uri)
		if img, _ := s.Image(ctx, id); img.Status != "queued" {
			t.Errorf("after refusing %s the image is %s", uri, img.Status)
		}
	}

	// allowed_hosts lets the first hop reach the test server; the
	// redirect's host is not in it.
	redirected := loopbackFetcher(t, srv)
	for _, tt := range []struct {
		name    string
		fetcher *outbound.Fetcher
		uri     string
		message string
	}{
		{"name resolving to loopback", byName, "http://mirror.example:" + u.Port() + "/img", "resolves to 127.0.0.1, a loopback address"},
		{"redirect to a host not allowed", redirected, srv.URL + "/redirect", "Redirect to disallowed URL: http://localhost:"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			s, _ := open(t, Options{Fetcher: tt.fetcher})
			create(t, s, "wd", "p", "private")
			before := hits.Load()
			if err := s.Import(ctx, "wd", backends.ImportRequest{Method: "web-download", URI: tt.uri}); err != nil {
				t.Fatal(err)
			}
			tasks, _ := s.ImageTasks(ctx, "wd")
			task := waitTask(t, s, tasks[0].ID)
			if task.Status != "failure" || !strings.Contains(task.Message, tt.message) {
				t.Errorf("task %s %q, want a failure with %q", task.Status, task.Message, tt.message)
			}
			img := waitStatus(t, s, "wd", "queued")
			if got, want := img.Properties["os_glance_failed_import"], "local"; got != want {
				t.Errorf("os_glance_failed_import = %q, want %q", got, want)
			}
			if img.Size != nil {
				t.Errorf("size %d, want none", *img.Size)
			}
			if got, want := hits.Load()-before, int64(strings.Count(tt.name, "redirect")); got != want {
				t.Errorf("the server got %d requests, want %d", got, want)
			}
		})
	}
}
