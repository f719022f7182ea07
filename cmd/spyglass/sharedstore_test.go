package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/spyglass-gateway/spyglass/backends/glance/glancetest"
	"github.com/spyglass-gateway/spyglass/cache/redistest"
)

// embeddedSiteConfig writes the configuration of one instance of a site
// whose instances serve the same embedded data directory, with the same
// Redis (redis "" : none), and returns its path. With more data
// directories, each is a further embedded region (second, third...).
func embeddedSiteConfig(t *testing.T, data, redis string, more ...string) string {
	t.Helper()
	dir := t.TempDir()
	regions := fmt.Sprintf("  - {name: local, kind: local, data_dir: %q}\n", data)
	for i, d := range more {
		regions += fmt.Sprintf("  - {name: %s, kind: local, data_dir: %q}\n", []string{"second", "third"}[i], d)
	}
	cfg := fmt.Sprintf(`listen: 127.0.0.1:0
auth: {mode: trusted}
regions:
%sdefault_region: local
cache: {dir: %q, max_size: 1GiB}
`, regions, filepath.Join(dir, "cache"))
	if redis != "" {
		cfg += fmt.Sprintf("redis: {addr: %q, timeout: 2s}\n", redis)
	}
	path := filepath.Join(dir, "spyglass.yaml")
	if err := os.WriteFile(path, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// startEmbeddedSite starts two instances on one embedded data directory
// and one real redis-server: two Glance API workers on one database and
// one file store.
func startEmbeddedSite(t *testing.T) (*remoteSite, string, string) {
	bin := buildBinary(t)
	redis := redistest.StartT(t)
	data := t.TempDir()
	s := &remoteSite{t: t}
	for i := range s.inst {
		s.proc[i] = startWithConfig(t, bin, embeddedSiteConfig(t, data, redis.Addr))
		s.inst[i] = "http://" + s.proc[i].addr
	}
	return s, data, redis.Addr
}

func (s *remoteSite) create(t *testing.T, i int, project, name string) string {
	t.Helper()
	code, b := s.call(i, project, false, "POST", "/v2/images", "application/json",
		[]byte(`{"name": "`+name+`", "disk_format": "raw", "container_format": "bare", "visibility": "private"}`))
	if code != 201 {
		t.Fatalf("create through instance %d: %d %s", i, code, b)
	}
	var img struct{ ID string }
	json.Unmarshal(b, &img)
	return img.ID
}

// TestTwoInstancesOneEmbeddedStore: what one instance writes, the other
// reads right after the write answered — shown and listed — as through
// two workers of one Glance: an image staged through one is imported
// through the other, one created through one is deleted through the
// other, an upload through one survives the other (re)starting, and a
// process without the site's Redis is refused the directory.
func TestTwoInstancesOneEmbeddedStore(t *testing.T) {
	s, data, redisAddr := startEmbeddedSite(t)
	site := t // what the site's processes live as long as
	const owner = "shared-owner"
	payload := make([]byte, 256<<10)
	rand.Read(payload)

	t.Run("stage here, import there", func(t *testing.T) {
		id := s.create(t, 0, owner, "remote-import")
		if code, b := s.call(0, owner, false, "PUT", "/v2/images/"+id+"/stage", "application/octet-stream", payload); code != 204 {
			t.Fatalf("stage through instance 0: %d %s", code, b)
		}
		s.expectEverywhere(t, owner, id, "staged through instance 0", 200, "uploading")
		if code, b := s.call(1, owner, false, "POST", "/v2/images/"+id+"/import", "application/json",
			[]byte(`{"method": {"name": "glance-direct"}}`)); code != 202 {
			t.Fatalf("import through instance 1: %d %s", code, b)
		}
		if code, img := s.show(0, owner, id); code != 200 || (img["status"] != "importing" && img["status"] != "active") {
			t.Errorf("right after the import through instance 1, instance 0 shows %d %v, want importing or active", code, img["status"])
		}
		deadline := time.Now().Add(30 * time.Second)
		for {
			if _, img := s.show(1, owner, id); img["status"] == "active" {
				break
			}
			if time.Now().After(deadline) {
				t.Fatal("not active within 30s")
			}
			time.Sleep(50 * time.Millisecond)
		}
		// Instance 1 answered active: instance 0 had caught up before.
		s.expectEverywhere(t, owner, id, "imported through instance 1", 200, "active")
		for i := range s.inst {
			if code, b := s.call(i, owner, false, "GET", "/v2/images/"+id+"/file", "", nil); code != 200 || !bytes.Equal(b, payload) {
				t.Errorf("download through instance %d: %d, %d bytes, want the %d staged", i, code, len(b), len(payload))
			}
		}
		if code, b := s.call(0, owner, false, "GET", "/v2/images/"+id+"/tasks", "", nil); code != 200 || !strings.Contains(string(b), `"success"`) {
			t.Errorf("instance 0's view of instance 1's import task: %d %s", code, b)
		}
	})

	t.Run("create here, delete there", func(t *testing.T) {
		id := s.create(t, 0, owner, "remote-delete")
		if code, b := s.call(0, owner, false, "PUT", "/v2/images/"+id+"/file", "application/octet-stream", payload); code != 204 {
			t.Fatalf("upload through instance 0: %d %s", code, b)
		}
		s.expectEverywhere(t, owner, id, "uploaded through instance 0", 200, "active")
		if code, b := s.call(1, owner, false, "DELETE", "/v2/images/"+id, "", nil); code != 204 {
			t.Fatalf("delete through instance 1: %d %s", code, b)
		}
		s.expectEverywhere(t, owner, id, "deleted through instance 1", 404, "")
		if code, _ := s.call(0, owner, false, "DELETE", "/v2/images/"+id, "", nil); code != 404 {
			t.Errorf("delete again through instance 0: %d, want 404", code)
		}
		if _, err := os.Stat(filepath.Join(data, "images", id)); !os.IsNotExist(err) {
			t.Errorf("the deleted image's data: %v", err)
		}
	})

	t.Run("writes seen everywhere at once", func(t *testing.T) {
		id := s.create(t, 1, owner, "renamed-0")
		if listed, st := s.listed(0, owner, id); !listed || st != "queued" {
			t.Fatalf("right after a create through instance 1, instance 0 lists it %v %q", listed, st)
		}
		for k := range 6 {
			w, r := k%2, (k+1)%2
			name := fmt.Sprint("renamed-", k+1)
			if code, b := s.call(w, owner, false, "PATCH", "/v2/images/"+id, "application/openstack-images-v2.1-json-patch",
				[]byte(`[{"op": "replace", "path": "/name", "value": "`+name+`"}]`)); code != 200 {
				t.Fatalf("rename through instance %d: %d %s", w, code, b)
			}
			if code, img := s.show(r, owner, id); code != 200 || img["name"] != name {
				t.Errorf("right after a rename to %s through instance %d, instance %d shows %d %v", name, w, r, code, img["name"])
			}
			code, b := s.call(r, owner, false, "GET", "/v2/images?name="+name, "", nil)
			if code != 200 || !strings.Contains(string(b), id) {
				t.Errorf("right after a rename to %s through instance %d, instance %d lists %d %s", name, w, r, code, b)
			}
		}
		// A membership, then the member's view of it, across instances.
		if code, b := s.call(0, owner, false, "PATCH", "/v2/images/"+id, "application/openstack-images-v2.1-json-patch",
			[]byte(`[{"op": "replace", "path": "/visibility", "value": "shared"}]`)); code != 200 {
			t.Fatalf("share: %d %s", code, b)
		}
		if code, b := s.call(0, owner, false, "POST", "/v2/images/"+id+"/members", "application/json", []byte(`{"member": "guest"}`)); code != 200 {
			t.Fatalf("add member through instance 0: %d %s", code, b)
		}
		if code, b := s.call(1, "guest", false, "PUT", "/v2/images/"+id+"/members/guest", "application/json", []byte(`{"status": "accepted"}`)); code != 200 {
			t.Fatalf("accept through instance 1: %d %s", code, b)
		}
		if code, b := s.call(0, "guest", false, "GET", "/v2/images/"+id+"/members/guest", "", nil); code != 200 || !strings.Contains(string(b), "accepted") {
			t.Errorf("instance 0 right after the member accepted through instance 1: %d %s", code, b)
		}
	})

	t.Run("upload survives the other starting", func(t *testing.T) {
		id := s.create(t, 0, owner, "long-upload")
		pr, pw := io.Pipe()
		req, _ := http.NewRequest("PUT", s.inst[0]+"/v2/images/"+id+"/file", pr)
		glancetest.SetCaller(req.Header, owner, "u-"+owner, "member,reader")
		req.Header.Set("Content-Type", "application/octet-stream")
		done := make(chan int, 1)
		go func() {
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Error(err)
				done <- 0
				return
			}
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			done <- resp.StatusCode
		}()
		pw.Write(payload[:len(payload)/2])
		deadline := time.Now().Add(10 * time.Second)
		for {
			if _, img := s.show(1, owner, id); img["status"] == "saving" {
				break
			}
			if time.Now().After(deadline) {
				t.Fatal("the upload did not begin")
			}
			time.Sleep(20 * time.Millisecond)
		}
		// Instance 1 crashes and starts again: its recovery must leave
		// instance 0's upload in flight alone.
		s.proc[1].cmd.Process.Kill()
		<-s.proc[1].exited
		s.proc[1] = startWithConfig(site, buildBinary(t), embeddedSiteConfig(t, data, redisAddr))
		s.inst[1] = "http://" + s.proc[1].addr
		if _, img := s.show(1, owner, id); img["status"] != "saving" {
			t.Errorf("the restarted instance shows the upload in flight %v, want saving", img["status"])
		}
		pw.Write(payload[len(payload)/2:])
		pw.Close()
		if code := <-done; code != 204 {
			t.Fatalf("the upload through instance 0 ended %d, want 204", code)
		}
		s.expectEverywhere(t, owner, id, "uploaded while instance 1 restarted", 200, "active")
		if code, b := s.call(1, owner, false, "GET", "/v2/images/"+id+"/file", "", nil); code != 200 || !bytes.Equal(b, payload) {
			t.Errorf("download through the restarted instance: %d, %d bytes", code, len(b))
		}
	})

	t.Run("a process without Redis is refused", func(t *testing.T) {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		cmd := exec.CommandContext(ctx, buildBinary(t), "serve", "--config", embeddedSiteConfig(t, data, ""))
		cmd.Env = append(os.Environ(), "SPYGLASS_LISTEN=", "SPYGLASS_AUTH=", "SPYGLASS_DATA_DIR=", "SPYGLASS_ADMIN_LISTEN=127.0.0.1:0", "SPYGLASS_ADMIN_TOKEN=")
		out, err := cmd.CombinedOutput()
		if err == nil || ctx.Err() != nil {
			t.Fatalf("a second process without Redis: %v, want it to exit with an error\n%s", err, out)
		}
		if !strings.Contains(string(out), "redis.addr") {
			t.Errorf("its error does not say what to do:\n%s", out)
		}
		// The instances serve on, undisturbed.
		id := s.create(t, 0, owner, "after-refusal")
		s.expectEverywhere(t, owner, id, "created after the refusal", 200, "queued")
	})
}

// TestTwoInstancesTwoEmbeddedRegions: on two embedded regions (two
// stores), an image staged through one instance and imported through the
// other lands in both stores, and the first instance says so right away:
// its location index learned the copy from the second store's refresh
// (Tempest's test_remote_import waits for stores to name both).
func TestTwoInstancesTwoEmbeddedRegions(t *testing.T) {
	bin := buildBinary(t)
	redis := redistest.StartT(t)
	data, second := t.TempDir(), t.TempDir()
	s := &remoteSite{t: t}
	for i := range s.inst {
		s.proc[i] = startWithConfig(t, bin, embeddedSiteConfig(t, data, redis.Addr, second))
		s.inst[i] = "http://" + s.proc[i].addr
	}
	const owner = "stores-owner"
	id := s.create(t, 0, owner, "two-stores")
	if code, b := s.call(0, owner, false, "PUT", "/v2/images/"+id+"/stage", "application/octet-stream", []byte("staged data")); code != 204 {
		t.Fatalf("stage through instance 0: %d %s", code, b)
	}
	s.show(0, owner, id) // instance 0 knows it in the first store
	if code, b := s.call(1, owner, false, "POST", "/v2/images/"+id+"/import", "application/json",
		[]byte(`{"method": {"name": "glance-direct"}, "all_stores": true}`)); code != 202 {
		t.Fatalf("import through instance 1: %d %s", code, b)
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		_, img := s.show(1, owner, id)
		if img["status"] == "active" && img["stores"] == "local,second" && img["os_glance_importing_to_stores"] == "" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("instance 1 after 30s: %v", img)
		}
		time.Sleep(50 * time.Millisecond)
	}
	if _, img := s.show(0, owner, id); img["status"] != "active" || img["stores"] != "local,second" {
		t.Errorf("right after instance 1 showed it in both stores, instance 0 shows %v in %v", img["status"], img["stores"])
	}
}
