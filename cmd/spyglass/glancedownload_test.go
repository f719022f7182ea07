package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/spyglass-gateway/spyglass/backends/glance/glancetest"
	"github.com/spyglass-gateway/spyglass/policy/keystonetest"
)

// gdClient sends requests with one Keystone token.
type gdClient struct {
	t     *testing.T
	token string
}

func (c gdClient) do(method, url, ctype string, body []byte) (int, []byte) {
	c.t.Helper()
	req, err := http.NewRequest(method, url, bytes.NewReader(body))
	if err != nil {
		c.t.Fatal(err)
	}
	req.Header.Set("X-Auth-Token", c.token)
	if ctype != "" {
		req.Header.Set("Content-Type", ctype)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		c.t.Fatal(err)
	}
	defer resp.Body.Close()
	out, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, out
}

func (c gdClient) expect(want int, method, url, ctype string, body []byte) []byte {
	c.t.Helper()
	code, out := c.do(method, url, ctype, body)
	if code != want {
		c.t.Fatalf("%s %s: %d, want %d: %s", method, url, code, want, out)
	}
	return out
}

func (c gdClient) doc(url string) map[string]any {
	c.t.Helper()
	var m map[string]any
	if err := json.Unmarshal(c.expect(200, "GET", url, "", nil), &m); err != nil {
		c.t.Fatal(err)
	}
	return m
}

// image creates a queued image with formats and properties at base.
func (c gdClient) image(base, disk, container string, props map[string]string) string {
	c.t.Helper()
	doc := map[string]any{"disk_format": disk, "container_format": container}
	for k, v := range props {
		doc[k] = v
	}
	body, _ := json.Marshal(doc)
	var img struct{ ID string }
	if err := json.Unmarshal(c.expect(201, "POST", base+"/v2/images", "application/json", body), &img); err != nil {
		c.t.Fatal(err)
	}
	return img.ID
}

// waitTasks waits until every task of the image has status (Tempest's
// wait_for_image_tasks_status) and returns them.
func (c gdClient) waitTasks(base, id, status string) []map[string]any {
	c.t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for {
		var page struct{ Tasks []map[string]any }
		if err := json.Unmarshal(c.expect(200, "GET", base+"/v2/images/"+id+"/tasks", "", nil), &page); err != nil {
			c.t.Fatal(err)
		}
		done := len(page.Tasks) > 0
		for _, task := range page.Tasks {
			if task["status"] != status {
				done = false
			}
		}
		if done {
			return page.Tasks
		}
		if time.Now().After(deadline) {
			c.t.Fatalf("image %s: tasks %v did not all reach %s", id, page.Tasks, status)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// TestGlanceDownloadImport runs Tempest's four glance-download cases (and
// checks the data) against Spyglass on its embedded store and with a
// Glance region as the target, the source a real Glance found in the
// Keystone catalog of the caller's token under region "source".
func TestGlanceDownloadImport(t *testing.T) {
	bin := buildBinary(t)
	ks := keystonetest.StartT(t)
	ctx := context.Background()
	svcProject, err := ks.CreateProject(ctx, "service")
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"spyglass", "glance"} {
		u, err := ks.CreateUser(ctx, name, "service-pw")
		if err != nil {
			t.Fatal(err)
		}
		if err := ks.Grant(ctx, u.ID, svcProject, "admin"); err != nil {
			t.Fatal(err)
		}
	}
	startGlance := func() *glancetest.Glance {
		return glancetest.StartTWith(t, glancetest.Options{Keystone: &glancetest.KeystoneAuth{
			AuthURL: ks.AuthURL(), Username: "glance", Password: "service-pw", Project: "service",
		}})
	}
	source, target := startGlance(), startGlance()
	if err := ks.RegisterEndpoint(ctx, "image", "glance", "source", "public", source.URL); err != nil {
		t.Fatal(err)
	}
	// A region whose record is fine and whose data fails: the import
	// fails after the image took the source's formats and properties,
	// which must be put back.
	broken := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasSuffix(r.URL.Path, "/file") {
			http.Error(w, "disk on fire", 500)
			return
		}
		io.WriteString(w, `{"status":"active","disk_format":"qcow2","container_format":"bare","size":10,"hw_cpu_cores":"7","os_type":"linux"}`)
	}))
	t.Cleanup(broken.Close)
	if err := ks.RegisterEndpoint(ctx, "image", "glance", "broken", "public", broken.URL); err != nil {
		t.Fatal(err)
	}
	fx := ks.FixtureT(t)
	c := gdClient{t: t, token: ks.ProjectTokenT(t, fx.MemberA, fx.ProjectA)}

	// The source image, active in the source region, with properties
	// Glance copies (hw_*, trait:*, os_distro) and one it does not.
	data := bytes.Repeat([]byte("glance-download\n"), 64<<10)
	src := c.image(source.URL, "raw", "bare", map[string]string{
		"hw_cpu_cores": "5", "trait:STORAGE_DISK_SSD": "required", "os_distro": "rhel", "speed": "88mph",
	})
	c.expect(204, "PUT", source.URL+"/v2/images/"+src+"/file", "application/octet-stream", data)

	keystoneAuth := fmt.Sprintf("auth:\n  mode: keystone\n  keystone: {auth_url: %q, username: spyglass, password: service-pw, project_name: service, timeout: 30s}\n", ks.AuthURL())
	for _, tc := range []struct {
		name    string
		regions string // the regions key; "" the embedded store
	}{
		{"embedded", ""},
		{"glance-region", "regions:\n  - {name: local, kind: local, data_dir: %[1]q}\n  - {name: target, kind: glance, endpoint: " + fmt.Sprintf("%q", target.URL) + "}\ndefault_region: target\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := c
			c.t = t
			dir := t.TempDir()
			cfg := "listen: 127.0.0.1:0\n" + keystoneAuth + fmt.Sprintf("cache: {dir: %q}\n", filepath.Join(dir, "cache"))
			if tc.regions != "" {
				cfg += fmt.Sprintf(tc.regions, filepath.Join(dir, "data"))
			}
			path := filepath.Join(dir, "spyglass.yaml")
			if err := os.WriteFile(path, []byte(cfg), 0o600); err != nil {
				t.Fatal(err)
			}
			args := []string{"serve", "--config", path}
			if tc.regions == "" {
				args = append(args, "--data-dir", filepath.Join(dir, "data"))
			}
			p := startArgs(t, bin, args...)
			base := "http://" + p.addr

			var info struct {
				Methods struct{ Value []string } `json:"import-methods"`
			}
			if err := json.Unmarshal(c.expect(200, "GET", base+"/v2/info/import", "", nil), &info); err != nil {
				t.Fatal(err)
			}
			if !slices.Contains(info.Methods.Value, "glance-download") {
				t.Fatalf("import methods %v: no glance-download", info.Methods.Value)
			}
			importBody := func(id, region, iface string) []byte {
				b, _ := json.Marshal(map[string]any{"method": map[string]any{
					"name": "glance-download", "glance_image_id": id, "glance_region": region, "glance_service_interface": iface,
				}})
				return b
			}

			t.Run("success", func(t *testing.T) {
				c := c
				c.t = t
				dst := c.image(base, "iso", "ovf", map[string]string{"hw_cpu_cores": "1", "os_distro": "windows"})
				c.expect(202, "POST", base+"/v2/images/"+dst+"/import", "application/json", importBody(src, "SOURCE", "public"))
				tasks := c.waitTasks(base, dst, "success")
				for _, task := range tasks {
					if task["type"] != "api_image_import" {
						t.Errorf("task type %v", task["type"])
					}
				}
				img := waitStatus(c, base, dst, "active")
				for k, want := range map[string]any{
					"disk_format": "raw", "container_format": "bare", "hw_cpu_cores": "5",
					"trait:STORAGE_DISK_SSD": "required", "os_distro": "rhel", "size": float64(len(data)),
				} {
					if got := img[k]; got != want {
						t.Errorf("%s = %v, want %v", k, got, want)
					}
				}
				if _, ok := img["speed"]; ok {
					t.Error("speed was copied")
				}
				if got := c.expect(200, "GET", base+"/v2/images/"+dst+"/file", "", nil); !bytes.Equal(got, data) {
					t.Errorf("data: %d bytes, not the source's %d", len(got), len(data))
				}
			})

			t.Run("bad uuid", func(t *testing.T) {
				c := c
				c.t = t
				dst := c.image(base, "raw", "bare", nil)
				out := c.expect(400, "POST", base+"/v2/images/"+dst+"/import", "application/json", importBody("foo", "source", "public"))
				if !strings.Contains(string(out), "image id does not look like a UUID") {
					t.Errorf("body %s", out)
				}
			})

			for _, fail := range []struct{ name, id, region, iface, message string }{
				{"bad endpoint", "36d4b546-64a2-4bb9-bdd0-ba676aa48f2c", "not a region", "not an interface", "not an interface glance endpoint not found for region not a region"},
				{"bad interface", src, "source", "internal", "internal glance endpoint not found for region source"},
				{"missing image", "36d4b546-64a2-4bb9-bdd0-ba676aa48f2c", "source", "public", "HTTP Error 404: Not Found"},
				{"data fails", "36d4b546-64a2-4bb9-bdd0-ba676aa48f2c", "broken", "public", "HTTP Error 500: Internal Server Error"},
			} {
				t.Run(fail.name, func(t *testing.T) {
					c := c
					c.t = t
					dst := c.image(base, "iso", "ovf", map[string]string{"hw_cpu_cores": "1", "os_distro": "windows"})
					c.expect(202, "POST", base+"/v2/images/"+dst+"/import", "application/json", importBody(fail.id, fail.region, fail.iface))
					tasks := c.waitTasks(base, dst, "failure")
					if msg, _ := tasks[0]["message"].(string); !strings.Contains(msg, fail.message) {
						t.Errorf("task message %q, want %q", msg, fail.message)
					}
					img := c.doc(base + "/v2/images/" + dst)
					for k, want := range map[string]any{"status": "queued", "hw_cpu_cores": "1", "os_distro": "windows", "disk_format": "iso", "container_format": "ovf"} {
						if got := img[k]; got != want {
							t.Errorf("%s = %v, want %v", k, got, want)
						}
					}
					if v, ok := img["os_type"]; ok {
						t.Errorf("os_type = %v: the source's property stayed", v)
					}
				})
			}
		})
	}
}

// waitStatus waits until the image has status and returns its record.
func waitStatus(c gdClient, base, id, status string) map[string]any {
	c.t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		img := c.doc(base + "/v2/images/" + id)
		if img["status"] == status {
			return img
		}
		if time.Now().After(deadline) {
			c.t.Fatalf("image %s: status %v, want %s", id, img["status"], status)
		}
		time.Sleep(200 * time.Millisecond)
	}
}
