package main

import (
	"os/exec"
	"regexp"
	"strings"
	"testing"
)

// TestGlanceCLIV1Members: the unmodified glance client's Images API v1
// member commands (member-create, member-list by image and by tenant,
// member-delete) against spyglass serve on its embedded store (noauth),
// and the members it made seen through v2.
func TestGlanceCLIV1Members(t *testing.T) {
	cli, err := exec.LookPath("glance")
	if err != nil {
		t.Fatalf("the glance client is needed (apt-get install python3-glanceclient; make deps installs it): %v", err)
	}
	bin := buildBinary(t)
	p := startServe(t, bin, t.TempDir())
	base := "http://" + p.addr
	run := glanceCLI(t, cli, base, p)
	v1 := func(args ...string) string { return run(append([]string{"--os-image-api-version", "1"}, args...)...) }

	out := v1("image-create", "--name", "shared-by-v1", "--disk-format", "raw", "--container-format", "bare")
	m := regexp.MustCompile(`\|\s*id\s*\|\s*([0-9a-f-]{36})\s*\|`).FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("image-create: no id in\n%s", out)
	}
	id := m[1]

	v1("member-create", "--can-share", id, "tenant-a")
	v1("member-create", id, "tenant-b")
	row := func(out, member, canShare string) bool {
		return regexp.MustCompile(`\|\s*` + id + `\s*\|\s*` + member + `\s*\|\s*` + canShare + `\s*\|`).MatchString(out)
	}
	out = v1("member-list", "--image-id", id)
	// print_list shows False as an empty cell.
	if !row(out, "tenant-a", "True") || !row(out, "tenant-b", "(False)?") {
		t.Fatalf("member-list --image-id:\n%s", out)
	}
	// By tenant: GET /v1/shared-images/{tenant}.
	if out := v1("member-list", "--tenant-id", "tenant-a"); !strings.Contains(out, id) || !strings.Contains(out, "True") {
		t.Fatalf("member-list --tenant-id tenant-a:\n%s", out)
	}
	// The same members through v2, pending.
	code, body := do(t, "GET", base+"/v2/images/"+id+"/members", "")
	if code != 200 {
		t.Fatalf("v2 members: %d %v", code, body)
	}
	got := map[string]string{}
	for _, m := range body["members"].([]any) {
		m := m.(map[string]any)
		got[m["member_id"].(string)] = m["status"].(string)
	}
	if len(got) != 2 || got["tenant-a"] != "pending" || got["tenant-b"] != "pending" {
		t.Fatalf("v2 members: %v", got)
	}

	v1("member-delete", id, "tenant-b")
	out = v1("member-list", "--image-id", id)
	if !row(out, "tenant-a", "True") || strings.Contains(out, "tenant-b") {
		t.Fatalf("member-list after member-delete:\n%s", out)
	}
	if out := v1("member-list", "--tenant-id", "tenant-b"); strings.Contains(out, id) {
		t.Fatalf("member-list --tenant-id tenant-b after member-delete:\n%s", out)
	}
}
