package main

import (
	"bytes"
	"crypto/rand"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestFederatedStoresWithTheGlanceCLI: two regions behind the binary are
// two Glance stores to the unmodified glance client — stores-info lists
// them, image-create --store puts the data in the one named (the image is
// created in the default region, then moves), copy-image copies it back to
// the default under the same id (the id the move left behind is free again
// in an embedded region), the download is the upload, and a delete removes
// every copy. (The openstack CLI Debian ships, 6.0, has no --store for
// Image v2.)
func TestFederatedStoresWithTheGlanceCLI(t *testing.T) {
	cli, err := exec.LookPath("glance")
	if err != nil {
		t.Fatalf("the glance client is needed (apt-get install python3-glanceclient; make deps installs it): %v", err)
	}
	bin := buildBinary(t)
	dir := t.TempDir()
	cfgPath := filepath.Join(dir, "spyglass.yaml")
	os.WriteFile(cfgPath, []byte(fmt.Sprintf(`listen: 127.0.0.1:0
auth: {mode: noauth}
regions:
  - {name: east, kind: local, data_dir: %q}
  - {name: west, kind: local, data_dir: %q}
default_region: east
`, filepath.Join(dir, "east"), filepath.Join(dir, "west"))), 0o600)
	p := startWithConfig(t, bin, cfgPath)
	base := "http://" + p.addr

	run := glanceCLI(t, cli, base, p)
	field := func(table, name string) string {
		for _, line := range strings.Split(table, "\n") {
			f := strings.Split(line, "|")
			if len(f) >= 3 && strings.TrimSpace(f[1]) == name {
				return strings.TrimSpace(f[2])
			}
		}
		t.Fatalf("no %s in\n%s", name, table)
		return ""
	}

	if out := run("stores-info"); !strings.Contains(out, `{"id": "east", "default": "true"}`) || !strings.Contains(out, `{"id": "west"}`) {
		t.Fatalf("stores-info:\n%s", out)
	}
	data := make([]byte, 300_000)
	rand.Read(data)
	img := filepath.Join(dir, "img.raw")
	os.WriteFile(img, data, 0o600)
	out := run("image-create", "--store", "west", "--file", img, "--disk-format", "raw", "--container-format", "bare", "--name", "far")
	id := field(out, "id")
	if got := field(out, "stores"); got != "west" {
		t.Fatalf("image-create --store west: stores %q\n%s", got, out)
	}
	if code, _ := do(t, "GET", base+"/v2/images/"+id, ""); code != 200 {
		t.Fatalf("show: %d", code)
	}

	run("image-import", "--import-method", "copy-image", "--stores", "east", id)
	deadline := time.Now().Add(30 * time.Second)
	for {
		_, m := do(t, "GET", base+"/v2/images/"+id, "")
		if m["stores"] == "east,west" {
			break
		}
		if time.Now().After(deadline) {
			_, tasks := do(t, "GET", base+"/v2/images/"+id+"/tasks", "")
			t.Fatalf("copy-image to east: stores %v after 30s; tasks %v", m["stores"], tasks)
		}
		time.Sleep(100 * time.Millisecond)
	}
	_, list := do(t, "GET", base+"/v2/images", "")
	if imgs := list["images"].([]any); len(imgs) != 1 {
		t.Fatalf("an image in two stores is listed %d times", len(imgs))
	}
	got := filepath.Join(dir, "got.raw")
	run("image-download", "--file", got, id)
	if b, _ := os.ReadFile(got); !bytes.Equal(b, data) {
		t.Fatal("image-download: not the bytes uploaded")
	}
	run("image-delete", id)
	resp, err := http.Get(base + "/v2/images/" + id)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 404 {
		t.Fatalf("show after delete: %d", resp.StatusCode)
	}
	// Both copies are gone, not only the first found: a second delete
	// finds nothing anywhere.
	req, _ := http.NewRequest("DELETE", base+"/v2/images/"+id, nil)
	if resp, err = http.DefaultClient.Do(req); err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 404 {
		t.Fatalf("second delete: %d", resp.StatusCode)
	}
}
