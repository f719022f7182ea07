package local

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/spyglass-gateway/spyglass/backends"
)

// TestImportGlanceDownload: the source's record gives the image its
// formats and Glance's default properties, the data must have the
// record's size, and any failure puts the formats and properties back
// and the image in queued, as Glance's revert.
func TestImportGlanceDownload(t *testing.T) {
	const srcID = "36d4b546-64a2-4bb9-bdd0-ba676aa48f2c"
	data := "sixteen bytes!!\n"
	var size string // the record's size
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("X-Auth-Token") != "tok" {
			http.Error(w, "who are you", 401)
			return
		}
		switch r.URL.Path {
		case "/v2/images/" + srcID:
			io.WriteString(w, `{"status":"active","disk_format":"qcow2","container_format":"ovf","size":`+size+`,"hw_cpu_cores":"5","os_distro":"rhel","speed":"88mph"}`)
		case "/v2/images/" + srcID + "/file":
			io.WriteString(w, data)
		default:
			http.NotFound(w, r)
		}
	}))
	defer srv.Close()
	s, _ := open(t, Options{})
	caller := backends.Caller{Project: "p", Token: "tok"}
	ctx := backends.WithCaller(context.Background(), &caller)
	src := backends.GlanceSource{ImageID: srcID, Region: "two", Interface: "public", Endpoint: srv.URL}

	for _, tc := range []struct {
		name, size string
		src        backends.GlanceSource
		token      string
		fails      string // the task's message; "": success
	}{
		{"success", "16", src, "tok", ""},
		{"size mismatch", "17", src, "tok", "17"},
		{"refused token", "16", src, "other", "HTTP Error 401: Unauthorized"},
		{"no endpoint", "16", backends.GlanceSource{ImageID: srcID, Region: "two", Interface: "internal"}, "tok", "internal glance endpoint not found for region two"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			size = tc.size
			id := strings.ReplaceAll(tc.name, " ", "-")
			create(t, s, id, "p", "private")
			ch := backends.Change{Op: backends.PatchAdd, Path: []string{"os_distro"}, Value: json.RawMessage(`"windows"`)}
			if _, err := s.UpdateImage(ctx, id, []backends.Change{ch}); err != nil {
				t.Fatal(err)
			}
			who := caller
			who.Token = tc.token
			if err := s.Import(backends.WithCaller(ctx, &who), id, backends.ImportRequest{Method: "glance-download", Glance: tc.src}); err != nil {
				t.Fatal(err)
			}
			tasks, err := s.ImageTasks(ctx, id)
			if err != nil || len(tasks) != 1 {
				t.Fatalf("tasks %v %v", tasks, err)
			}
			task := waitTask(t, s, tasks[0].ID)
			var in struct {
				ImportReq struct {
					Method map[string]string `json:"method"`
				} `json:"import_req"`
			}
			if err := json.Unmarshal(task.Input, &in); err != nil || in.ImportReq.Method["glance_image_id"] != tc.src.ImageID ||
				in.ImportReq.Method["glance_region"] != "two" || in.ImportReq.Method["name"] != "glance-download" {
				t.Fatalf("task input %s: %v", task.Input, err)
			}
			img, err := s.Image(ctx, id)
			if err != nil {
				t.Fatal(err)
			}
			if tc.fails == "" {
				if task.Status != backends.TaskSuccess {
					t.Fatalf("task %s: %s", task.Status, task.Message)
				}
				if img.Status != backends.StatusActive || *img.Size != int64(len(data)) || *img.DiskFormat != "qcow2" || *img.ContainerFormat != "ovf" ||
					img.Properties["hw_cpu_cores"] != "5" || img.Properties["os_distro"] != "rhel" {
					t.Fatalf("image %+v", img)
				}
				if _, ok := img.Properties["speed"]; ok {
					t.Fatal("speed copied")
				}
				return
			}
			if task.Status != backends.TaskFailure || !strings.Contains(task.Message, tc.fails) {
				t.Fatalf("task %s %q, want failure with %q", task.Status, task.Message, tc.fails)
			}
			if img.Status != backends.StatusQueued || *img.DiskFormat != "raw" || *img.ContainerFormat != "bare" || img.Properties["os_distro"] != "windows" {
				t.Fatalf("image not put back: %s %s/%s %v", img.Status, *img.DiskFormat, *img.ContainerFormat, img.Properties)
			}
			if _, ok := img.Properties["hw_cpu_cores"]; ok {
				t.Fatal("hw_cpu_cores stayed")
			}
		})
	}
}
