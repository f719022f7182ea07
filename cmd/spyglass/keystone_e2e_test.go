package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/spyglass-gateway/spyglass/policy/keystonetest"
)

// TestKeystoneOpenstackCLI runs the unmodified openstack CLI with password
// auth against a real Keystone whose catalog points the image service at
// the spyglass binary in keystone mode: create (with data), list, save,
// set, add project, and the other project's view of the shared image.
func TestKeystoneOpenstackCLI(t *testing.T) {
	cli, err := exec.LookPath("/usr/bin/openstack")
	if err != nil {
		t.Fatalf("the openstack CLI is needed (apt-get install python3-openstackclient; make deps installs it): %v", err)
	}
	bin := buildBinary(t)
	ks := keystonetest.StartT(t)
	ctx := context.Background()
	fx := ks.FixtureT(t)
	svcProject, err := ks.CreateProject(ctx, "service")
	if err != nil {
		t.Fatal(err)
	}
	svcUser, err := ks.CreateUser(ctx, "spyglass", "spyglass-pw")
	if err != nil {
		t.Fatal(err)
	}
	if err := ks.Grant(ctx, svcUser.ID, svcProject, "admin"); err != nil {
		t.Fatal(err)
	}

	dir := t.TempDir()
	cfgPath := filepath.Join(dir, "spyglass.yaml")
	cfg := fmt.Sprintf(`listen: 127.0.0.1:0
auth:
  mode: keystone
  keystone: {auth_url: %q, username: spyglass, password: spyglass-pw, project_name: service, timeout: 1m}
regions:
  - {name: local, kind: local, data_dir: %q}
`, ks.AuthURL(), filepath.Join(dir, "data"))
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	p := startWithConfig(t, bin, cfgPath)
	base := "http://" + p.addr
	if err := ks.RegisterEndpoint(ctx, "image", "glance", keystonetest.Region, "public", base); err != nil {
		t.Fatal(err)
	}

	// Without a token: keystonemiddleware's 401.
	resp, err := http.Get(base + "/v2/images")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 401 || resp.Header.Get("WWW-Authenticate") != `Keystone uri="`+ks.AuthURL()+`"` {
		t.Fatalf("GET /v2/images without a token: %d, WWW-Authenticate %q", resp.StatusCode, resp.Header.Get("WWW-Authenticate"))
	}

	home := t.TempDir()
	openstack := func(u keystonetest.User, project string, args ...string) []byte {
		t.Helper()
		cmd := exec.Command(cli, args...)
		cmd.Dir = dir
		cmd.Env = []string{
			"PATH=/usr/bin:/bin", "HOME=" + home, "LANG=C.UTF-8", noProfiler(t),
			"OS_AUTH_URL=" + ks.AuthURL(), "OS_IDENTITY_API_VERSION=3", "OS_AUTH_TYPE=password",
			"OS_USERNAME=" + u.Name, "OS_PASSWORD=" + u.Password, "OS_USER_DOMAIN_ID=default",
			"OS_PROJECT_ID=" + project, "OS_REGION_NAME=" + keystonetest.Region, "OS_INTERFACE=public",
		}
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		out, err := cmd.Output()
		if err != nil {
			t.Fatalf("openstack %s: %v\n%s\n%s", strings.Join(args, " "), err, out, stderr.String())
		}
		return out
	}
	jsonOf := func(b []byte, v any) {
		t.Helper()
		if err := json.Unmarshal(b, v); err != nil {
			t.Fatalf("%v: %s", err, b)
		}
	}

	data := bytes.Repeat([]byte("spyglass keystone e2e\n"), 4096)
	if err := os.WriteFile(filepath.Join(dir, "image.raw"), data, 0o600); err != nil {
		t.Fatal(err)
	}
	var created struct {
		ID, Owner, Status, Visibility string
	}
	jsonOf(openstack(fx.MemberA, fx.ProjectA, "image", "create", "--disk-format", "raw", "--container-format", "bare",
		"--file", filepath.Join(dir, "image.raw"), "-f", "json", "e2e-image"), &created)
	// The CLI prints the image as created, before its data went up.
	if created.ID == "" || created.Owner != fx.ProjectA {
		t.Fatalf("image create: %+v, want an image owned by project A %s", created, fx.ProjectA)
	}

	var list []struct{ ID, Name string }
	jsonOf(openstack(fx.MemberA, fx.ProjectA, "image", "list", "-f", "json"), &list)
	if !slices.ContainsFunc(list, func(i struct{ ID, Name string }) bool { return i.ID == created.ID }) {
		t.Fatalf("image list as A lacks %s: %+v", created.ID, list)
	}
	jsonOf(openstack(fx.MemberB, fx.ProjectB, "image", "list", "-f", "json"), &list)
	if slices.ContainsFunc(list, func(i struct{ ID, Name string }) bool { return i.ID == created.ID }) {
		t.Fatalf("image list as B shows A's image before it is shared: %+v", list)
	}

	openstack(fx.MemberA, fx.ProjectA, "image", "save", "--file", filepath.Join(dir, "saved.raw"), created.ID)
	if saved, err := os.ReadFile(filepath.Join(dir, "saved.raw")); err != nil || !bytes.Equal(saved, data) {
		t.Fatalf("image save: %d bytes (err %v), want the %d uploaded", len(saved), err, len(data))
	}

	openstack(fx.MemberA, fx.ProjectA, "image", "set", "--property", "os_distro=cirros", "--name", "e2e-renamed", created.ID)
	var shown struct {
		Name, Status string
		Size         int
		Properties   map[string]any
	}
	jsonOf(openstack(fx.MemberA, fx.ProjectA, "image", "show", "-f", "json", created.ID), &shown)
	if shown.Name != "e2e-renamed" || shown.Properties["os_distro"] != "cirros" || shown.Status != "active" || shown.Size != len(data) {
		t.Fatalf("after image set: %+v", shown)
	}

	// Share with project B; B accepts and then lists it.
	if created.Visibility != "shared" {
		openstack(fx.MemberA, fx.ProjectA, "image", "set", "--shared", created.ID)
	}
	openstack(fx.MemberA, fx.ProjectA, "image", "add", "project", created.ID, fx.ProjectB)
	var members []map[string]any
	jsonOf(openstack(fx.MemberA, fx.ProjectA, "image", "member", "list", "-f", "json", created.ID), &members)
	if len(members) != 1 || fmt.Sprint(members[0]["Member ID"]) != fx.ProjectB {
		t.Fatalf("image member list after add project: %v", members)
	}
	openstack(fx.MemberB, fx.ProjectB, "image", "set", "--accept", created.ID)
	jsonOf(openstack(fx.MemberB, fx.ProjectB, "image", "list", "-f", "json"), &list)
	if !slices.ContainsFunc(list, func(i struct{ ID, Name string }) bool { return i.ID == created.ID }) {
		t.Fatalf("image list as B lacks the image it accepted: %+v", list)
	}
	// A reader of A may read but not change.
	jsonOf(openstack(fx.Reader, fx.ProjectA, "image", "list", "-f", "json"), &list)
	if !slices.ContainsFunc(list, func(i struct{ ID, Name string }) bool { return i.ID == created.ID }) {
		t.Fatalf("image list as reader of A lacks A's image: %+v", list)
	}

	// A glance region given by region_name: a second gateway finds the
	// image endpoint of RegionOne (the first gateway) in the catalog.
	cfg2 := fmt.Sprintf(`listen: 127.0.0.1:0
auth:
  mode: noauth
  keystone: {auth_url: %q, username: spyglass, password: spyglass-pw, project_name: service, timeout: 1m}
regions:
  - {name: one, kind: glance, region_name: %s, interface: public}
cache: {dir: %q}
`, ks.AuthURL(), keystonetest.Region, filepath.Join(dir, "cache2"))
	cfg2Path := filepath.Join(dir, "spyglass2.yaml")
	if err := os.WriteFile(cfg2Path, []byte(cfg2), 0o600); err != nil {
		t.Fatal(err)
	}
	p2 := startWithConfig(t, bin, cfg2Path)
	if want := "endpoint=" + base; !strings.Contains(p2.log(), want) {
		t.Fatalf("second gateway did not take its region's endpoint from the catalog (want %s):\n%s", want, p2.log())
	}
}
