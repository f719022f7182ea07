package main

import (
	"bytes"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/spyglass-gateway/spyglass/backends/glance/glancetest"
	"github.com/spyglass-gateway/spyglass/cache/redistest"
)

// remoteSite is two `spyglass serve` instances in front of the same two
// real Glance regions, sharing one real redis-server: a site's instances,
// which must behave as two workers of one Glance (Tempest's
// test_remote_import and test_remote_delete).
type remoteSite struct {
	t    *testing.T
	inst [2]string // base URLs
	proc [2]*process
}

func startRemoteSite(t *testing.T) *remoteSite {
	bin := buildBinary(t)
	one, two := glancetest.SharedT(t), glancetest.StartT(t)
	redis := redistest.StartT(t)
	s := &remoteSite{t: t}
	for i := range s.inst {
		dir := t.TempDir()
		cfgPath := filepath.Join(dir, "spyglass.yaml")
		// Records and verdicts cached for an hour: what either instance
		// answers after a write through the other comes from Redis's
		// invalidation, not from a cache that expired.
		cfg := fmt.Sprintf(`listen: 127.0.0.1:0
auth: {mode: trusted}
regions:
  - {name: one, kind: glance, endpoint: %q}
  - {name: two, kind: glance, endpoint: %q}
default_region: one
cache: {dir: %q, max_size: 1GiB, metadata_ttl: 1h, verdict_ttl: 1h}
redis: {addr: %q, timeout: 2s}
`, one.URL, two.URL, filepath.Join(dir, "cache"), redis.Addr)
		if err := os.WriteFile(cfgPath, []byte(cfg), 0o600); err != nil {
			t.Fatal(err)
		}
		s.proc[i] = startWithConfig(t, bin, cfgPath)
		s.inst[i] = "http://" + s.proc[i].addr
	}
	return s
}

// call sends a request through instance i as a caller of project (admin
// when admin is set) and returns the status and body.
func (s *remoteSite) call(i int, project string, admin bool, method, path, ctype string, body []byte) (int, []byte) {
	s.t.Helper()
	req, err := http.NewRequest(method, s.inst[i]+path, bytes.NewReader(body))
	if err != nil {
		s.t.Fatal(err)
	}
	roles := "member,reader"
	if admin {
		roles = "admin,member,reader"
	}
	glancetest.SetCaller(req.Header, project, "u-"+project, roles)
	if ctype != "" {
		req.Header.Set("Content-Type", ctype)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		s.t.Fatalf("%s %s through instance %d: %v", method, path, i, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, b
}

// show is the image's status as instance i answers it to project ("" and
// the status code when it is not 200).
func (s *remoteSite) show(i int, project, id string) (int, map[string]any) {
	s.t.Helper()
	code, b := s.call(i, project, false, "GET", "/v2/images/"+id, "", nil)
	var img map[string]any
	if code == 200 {
		if err := json.Unmarshal(b, &img); err != nil {
			s.t.Fatalf("show %s: %v: %q", id, err, b)
		}
	}
	return code, img
}

// listed reports whether instance i lists id to project, and its status
// there.
func (s *remoteSite) listed(i int, project, id string) (bool, string) {
	s.t.Helper()
	code, b := s.call(i, project, false, "GET", "/v2/images?limit=1000", "", nil)
	if code != 200 {
		s.t.Fatalf("list through instance %d: %d %s", i, code, b)
	}
	var page struct {
		Images []struct{ ID, Status string }
	}
	if err := json.Unmarshal(b, &page); err != nil {
		s.t.Fatal(err)
	}
	for _, img := range page.Images {
		if img.ID == id {
			return true, img.Status
		}
	}
	return false, ""
}

// TestTwoInstancesStageHereWriteThere: an image staged through one
// instance is imported, or deleted, through the other (Tempest's
// test_remote_import and test_remote_delete), and after each write the
// record read through either instance right away — shown and listed — is
// the one the write left, though both had it cached for an hour. So are a
// rename, a membership verdict the other instance had cached, where a
// copy-image put the image (stores) and the copy job's task, whichever
// instance wrote.
func TestTwoInstancesStageHereWriteThere(t *testing.T) {
	s := startRemoteSite(t)
	const owner = "remote-owner"
	data := make([]byte, 256<<10)
	rand.Read(data)

	// stage creates an image through instance 0, has both instances
	// cache it (queued), and stages data through instance 0: both must
	// answer uploading right away.
	stage := func(t *testing.T, name string) string {
		code, b := s.call(0, owner, false, "POST", "/v2/images", "application/json",
			[]byte(`{"name": "`+name+`", "disk_format": "raw", "container_format": "bare"}`))
		if code != 201 {
			t.Fatalf("create: %d %s", code, b)
		}
		var img struct{ ID string }
		json.Unmarshal(b, &img)
		for i := range s.inst {
			if code, got := s.show(i, owner, img.ID); code != 200 || got["status"] != "queued" {
				t.Fatalf("warm instance %d: %d %v", i, code, got["status"])
			}
		}
		if code, b := s.call(0, owner, false, "PUT", "/v2/images/"+img.ID+"/stage", "application/octet-stream", data); code != 204 {
			t.Fatalf("stage through instance 0: %d %s", code, b)
		}
		s.expectEverywhere(t, owner, img.ID, "staged through instance 0", 200, "uploading")
		return img.ID
	}

	t.Run("import on the other", func(t *testing.T) {
		id := stage(t, "remote-import")
		code, b := s.call(1, owner, false, "POST", "/v2/images/"+id+"/import", "application/json",
			[]byte(`{"method": {"name": "glance-direct"}}`))
		if code != 202 {
			t.Fatalf("import through instance 1: %d %s", code, b)
		}
		// Glance imports in the background (its task moves the image to
		// importing): no instance has a record of it cached.
		for i := range s.inst {
			if code, img := s.show(i, owner, id); code != 200 || (img["status"] != "uploading" && img["status"] != "importing" && img["status"] != "active") {
				t.Errorf("right after the import through instance 1, instance %d shows %d %v, want uploading, importing or active", i, code, img["status"])
			}
		}
		deadline := time.Now().Add(60 * time.Second)
		for {
			_, img := s.show(0, owner, id)
			if img["status"] == "active" {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("not active within 60s through instance 0: %v", img)
			}
			time.Sleep(100 * time.Millisecond)
		}
		s.expectEverywhere(t, owner, id, "imported", 200, "active")
		for i := range s.inst {
			if code, b := s.call(i, owner, false, "GET", "/v2/images/"+id+"/file", "", nil); code != 200 || !bytes.Equal(b, data) {
				t.Errorf("download through instance %d: %d, %d bytes, want the %d staged", i, code, len(b), len(data))
			}
		}

		// Renamed through one instance, read right away through the
		// other, which had the record cached.
		for k := range 6 {
			w, r := k%2, (k+1)%2
			name := fmt.Sprint("renamed-", k)
			if code, b := s.call(w, owner, false, "PATCH", "/v2/images/"+id, "application/openstack-images-v2.1-json-patch",
				[]byte(`[{"op": "replace", "path": "/name", "value": "`+name+`"}]`)); code != 200 {
				t.Fatalf("rename through instance %d: %d %s", w, code, b)
			}
			if code, img := s.show(r, owner, id); code != 200 || img["name"] != name {
				t.Errorf("right after a rename to %s through instance %d, instance %d shows %d %v", name, w, r, code, img["name"])
			}
			s.show(w, owner, id) // both cache the new record
		}

		// Copied to region two through instance 1: once instance 1 shows
		// the copy, so does instance 0, which knew the image in region
		// one only.
		if code, b := s.call(1, owner, true, "POST", "/v2/images/"+id+"/import", "application/json",
			[]byte(`{"method": {"name": "copy-image"}, "stores": ["two"]}`)); code != 202 {
			t.Fatalf("copy-image through instance 1: %d %s", code, b)
		}
		for deadline := time.Now().Add(60 * time.Second); ; time.Sleep(20 * time.Millisecond) {
			if _, img := s.show(1, owner, id); img["stores"] == "one,two" {
				break
			}
			if time.Now().After(deadline) {
				t.Fatal("instance 1 does not show the copy within 60s")
			}
		}
		if _, img := s.show(0, owner, id); img["stores"] != "one,two" {
			t.Errorf("right after instance 1 shows the copy, instance 0 shows stores %v, want one,two", img["stores"])
		}
		// The copy job, which instance 1 runs, is followed through
		// either instance.
		copyTask := func(i int) (string, string) {
			code, b := s.call(i, owner, true, "GET", "/v2/images/"+id+"/tasks", "", nil)
			if code != 200 {
				t.Fatalf("image tasks through instance %d: %d %s", i, code, b)
			}
			var got struct {
				Tasks []struct {
					ID, Status string
					Input      json.RawMessage
				}
			}
			json.Unmarshal(b, &got)
			for _, task := range got.Tasks {
				if bytes.Contains(task.Input, []byte("copy-image")) {
					return task.ID, task.Status
				}
			}
			return "", ""
		}
		var taskID string
		for deadline := time.Now().Add(60 * time.Second); ; time.Sleep(20 * time.Millisecond) {
			var st string
			if taskID, st = copyTask(1); st == "success" {
				break
			}
			if time.Now().After(deadline) {
				t.Fatal("instance 1's copy job did not succeed within 60s")
			}
		}
		if got, st := copyTask(0); got != taskID || st != "success" {
			t.Errorf("instance 0 lists the image's copy job as %q %q, want %s success", got, st, taskID)
		}
		if code, b := s.call(0, owner, true, "GET", "/v2/tasks/"+taskID, "", nil); code != 200 || !bytes.Contains(b, []byte(`"success"`)) {
			t.Errorf("GET /v2/tasks/%s through instance 0: %d %s", taskID, code, b)
		}

		// A verdict cached on instance 0 (not a member) yields to a
		// member added through instance 1.
		const other = "remote-other"
		if code, b := s.call(0, owner, false, "PATCH", "/v2/images/"+id, "application/openstack-images-v2.1-json-patch",
			[]byte(`[{"op": "replace", "path": "/visibility", "value": "shared"}]`)); code != 200 {
			t.Fatalf("share: %d %s", code, b)
		}
		for i := range s.inst {
			if code, _ := s.show(i, other, id); code != 404 {
				t.Fatalf("instance %d shows the shared image to a project not its member: %d", i, code)
			}
		}
		if code, b := s.call(1, owner, false, "POST", "/v2/images/"+id+"/members", "application/json",
			[]byte(`{"member": "`+other+`"}`)); code != 200 {
			t.Fatalf("add member through instance 1: %d %s", code, b)
		}
		for i := range s.inst {
			if code, _ := s.show(i, other, id); code != 200 {
				t.Errorf("right after a member was added through instance 1, instance %d shows the image to it: %d, want 200", i, code)
			}
		}
		if code, b := s.call(1, owner, false, "DELETE", "/v2/images/"+id+"/members/"+other, "", nil); code != 204 {
			t.Fatalf("delete member through instance 1: %d %s", code, b)
		}
		for i := range s.inst {
			if code, _ := s.show(i, other, id); code != 404 {
				t.Errorf("right after the member was removed through instance 1, instance %d shows the image to it: %d, want 404", i, code)
			}
		}
	})

	t.Run("delete on the other", func(t *testing.T) {
		id := stage(t, "remote-delete")
		if code, b := s.call(1, owner, false, "DELETE", "/v2/images/"+id, "", nil); code != 204 {
			t.Fatalf("delete through instance 1: %d %s", code, b)
		}
		s.expectEverywhere(t, owner, id, "deleted through instance 1", 404, "")
	})
}

// expectEverywhere checks, right away, that both instances show id to
// project with code and status and list it (with that status) exactly
// when it is shown.
func (s *remoteSite) expectEverywhere(t *testing.T, project, id, after string, code int, status string) {
	t.Helper()
	for i := range s.inst {
		got, img := s.show(i, project, id)
		if got != code || (code == 200 && img["status"] != status) {
			t.Errorf("%s: instance %d shows %d %v, want %d %s", after, i, got, img["status"], code, status)
		}
		listed, st := s.listed(i, project, id)
		if listed != (code == 200) || st != status {
			t.Errorf("%s: instance %d lists it: %v %q, want %v %q", after, i, listed, st, code == 200, status)
		}
	}
}
