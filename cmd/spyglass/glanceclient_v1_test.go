//go:build linux

package main

import (
	"bytes"
	"crypto/md5"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
	"unsafe"

	"github.com/spyglass-gateway/spyglass/backends/glance/glancetest"
)

// TestGlanceClientV1 drives the unmodified glance client's Images API v1
// commands (Debian's python3-glanceclient, glanceclient/v1) end to end
// against the binary, noauth: create (from a file, from stdin, and a
// reservation filled later), list with its filters, sort and paging,
// show, update, download (byte-identical, to a file and to stdout) and
// delete; on the embedded store and in front of a real Glance. The
// member commands are not here (they are another change's).
func TestGlanceClientV1(t *testing.T) {
	cli, err := exec.LookPath("glance")
	if err != nil {
		t.Fatalf("the glance client is needed (apt-get install python3-glanceclient; make deps installs it): %v", err)
	}
	bin := buildBinary(t)
	// Each command starts a Python interpreter (a second or two): the
	// Glance region runs the listing's and the download's cases in
	// part, what differs there being the catalog under them.
	for _, top := range []struct {
		name  string
		full  bool
		start func(t *testing.T) *process
	}{
		{"embedded", true, func(t *testing.T) *process { return startServe(t, bin, t.TempDir()) }},
		{"glance region", false, func(t *testing.T) *process {
			g := glancetest.SharedT(t)
			return startWithConfig(t, bin, glanceRegionConfig(t, "noauth", g.URL, ""))
		}},
	} {
		t.Run(top.name, func(t *testing.T) {
			t.Parallel() // each waits on its own Python start-ups
			p := top.start(t)
			glanceV1Session(t, cli, "http://"+p.addr, p, top.full)
		})
	}
}

// v1CLI runs glance --os-image-api-version 1 against base. stdin is the
// data the command reads, or nil: then stdin is a terminal, which is how
// glanceclient v1 knows no data comes (a closed or /dev/null stdin is
// taken as data, or crashes image-update).
type v1CLI struct {
	t        *testing.T
	cli      string
	base     string
	p        *process
	home     string
	terminal *os.File
}

func (c *v1CLI) run(stdin []byte, args ...string) (stdout []byte, err error, stderr string) {
	c.t.Helper()
	cmd := exec.Command(c.cli, append([]string{"--os-image-api-version", "1", "--os-image-url", c.base, "--os-auth-token", "x"}, args...)...)
	cmd.Env = append(os.Environ(), "HOME="+c.home, noProfiler(c.t))
	for _, k := range []string{"OS_AUTH_URL", "OS_USERNAME", "OS_PASSWORD", "OS_CLOUD", "OS_IMAGE_API_VERSION", "OS_IMAGE_URL", "OS_AUTH_TOKEN"} {
		cmd.Env = append(cmd.Env, k+"=")
	}
	if stdin != nil {
		cmd.Stdin = bytes.NewReader(stdin)
	} else {
		cmd.Stdin = c.terminal
	}
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	done := make(chan error, 1)
	if err := cmd.Start(); err != nil {
		c.t.Fatal(err)
	}
	go func() { done <- cmd.Wait() }()
	select {
	case err = <-done:
	case <-time.After(2 * time.Minute):
		cmd.Process.Kill()
		c.t.Fatalf("glance %s: still running after 2 minutes", strings.Join(args, " "))
	}
	return out.Bytes(), err, errb.String()
}

// ok runs a command that must succeed and returns its output.
func (c *v1CLI) ok(stdin []byte, args ...string) string {
	c.t.Helper()
	out, err, stderr := c.run(stdin, args...)
	if err != nil {
		c.t.Fatalf("glance %s: %v\n%s%s\nspyglass log:\n%s", strings.Join(args, " "), err, out, stderr, c.p.log())
	}
	return string(out)
}

// fails runs a command that must fail, saying text.
func (c *v1CLI) fails(text string, args ...string) {
	c.t.Helper()
	out, err, stderr := c.run(nil, args...)
	if err == nil || !strings.Contains(string(out)+stderr, text) {
		c.t.Errorf("glance %s: %v, want a failure saying %q\n%s%s", strings.Join(args, " "), err, text, out, stderr)
	}
}

// tableField is the value of name in a Property/Value table.
func tableField(t *testing.T, table, name string) string {
	t.Helper()
	for _, line := range strings.Split(table, "\n") {
		f := strings.Split(line, "|")
		if len(f) >= 3 && strings.TrimSpace(f[1]) == name {
			return strings.TrimSpace(f[2])
		}
	}
	t.Fatalf("no %s in\n%s", name, table)
	return ""
}

// tableColumn is one column of a listing table's rows, in order.
func tableColumn(table string, col int) []string {
	var out []string
	for i, line := range strings.Split(table, "\n") {
		f := strings.Split(line, "|")
		if i < 2 || len(f) < col+2 || strings.TrimSpace(f[1]) == "ID" {
			continue
		}
		out = append(out, strings.TrimSpace(f[col+1]))
	}
	return out
}

func glanceV1Session(t *testing.T, cli, base string, p *process, full bool) {
	c := &v1CLI{t: t, cli: cli, base: base, p: p, home: t.TempDir(), terminal: openTerminal(t)}
	dir := t.TempDir()
	// A suffix of this run's own: a shared Glance holds other tests'
	// images, and the listings below filter on it.
	tag := fmt.Sprintf("v1cli%d", time.Now().UnixNano())
	data1, data2, data3 := randomBytes(t, 300_000), randomBytes(t, 70_000), randomBytes(t, 1234)
	file1 := filepath.Join(dir, "one.raw")
	if err := os.WriteFile(file1, data1, 0o600); err != nil {
		t.Fatal(err)
	}
	file3 := filepath.Join(dir, "three.qcow2")
	if err := os.WriteFile(file3, data3, 0o600); err != nil {
		t.Fatal(err)
	}

	// image-create from a file: POST /v1/images with the data.
	out := c.ok(nil, "image-create", "--name", tag+"-a", "--disk-format", "raw", "--container-format", "bare", "--file", file1,
		"--property", "suite="+tag, "--property", "distro=ubuntu", "--min-ram", "64", "--is-public", "False")
	idA := tableField(t, out, "id")
	for k, want := range map[string]string{"status": "active", "size": "300000", "checksum": md5Hex(data1), "min_ram": "64",
		"is_public": "False", "Property 'distro'": "ubuntu", "disk_format": "raw", "container_format": "bare", "deleted": "False"} {
		if got := tableField(t, out, k); got != want {
			t.Errorf("image-create --file: %s %q, want %q", k, got, want)
		}
	}
	time.Sleep(1100 * time.Millisecond) // distinct created_at: the default order
	// image-create from stdin (chunked, no size given).
	out = c.ok(data2, "image-create", "--name", tag+"-b", "--disk-format", "qcow2", "--container-format", "ovf",
		"--property", "suite="+tag, "--is-public", "True", "--is-protected", "True")
	idB := tableField(t, out, "id")
	for k, want := range map[string]string{"status": "active", "size": "70000", "checksum": md5Hex(data2), "is_public": "True", "protected": "True"} {
		if got := tableField(t, out, k); got != want {
			t.Errorf("image-create <stdin: %s %q, want %q", k, got, want)
		}
	}
	time.Sleep(1100 * time.Millisecond)
	// A reservation (no data: stdin a terminal), then its data with
	// image-update --file (PUT to a queued image), checksum verified.
	out = c.ok(nil, "image-create", "--name", tag+"-c", "--disk-format", "qcow2", "--container-format", "bare", "--property", "suite="+tag)
	idC := tableField(t, out, "id")
	if got := tableField(t, out, "status"); got != "queued" {
		t.Errorf("reservation: status %q, want queued", got)
	}
	out = c.ok(nil, "image-update", idC, "--file", file3, "--checksum", md5Hex(data3))
	if got, size := tableField(t, out, "status"), tableField(t, out, "size"); got != "active" || size != "1234" {
		t.Errorf("image-update --file: status %q size %q, want active 1234", got, size)
	}
	// A wrong checksum is refused by the server (upload_utils.py:128-143).
	c.fails("Supplied checksum", "image-create", "--name", tag+"-bad", "--disk-format", "raw", "--container-format", "bare",
		"--file", file1, "--checksum", strings.Repeat("0", 32))

	// image-list: server-side filters, sort and paging (--page-size 1
	// walks the markers).
	list := func(args ...string) []string {
		t.Helper()
		return tableColumn(c.ok(nil, append([]string{"image-list", "--property-filter", "suite=" + tag}, args...)...), 1)
	}
	names := func(ns ...string) string {
		for i := range ns {
			ns[i] = tag + "-" + ns[i]
		}
		return strings.Join(ns, " ")
	}
	// The client sorts by name, ascending, unless told otherwise. noauth
	// is an admin without a project, which lists as a regular user
	// (registry:117-119) without an owner: the public images only
	// (db/sqlalchemy/api.py:563-578); --all-tenants (is_public=None)
	// lists them all.
	all := "--all-tenants"
	for _, lc := range []struct {
		args []string
		want string
		part bool // also in a partial run
	}{
		{nil, names("b"), true},
		{[]string{all}, names("a", "b", "c"), false},
		{[]string{all, "--page-size", "1"}, names("a", "b", "c"), true},
		{[]string{all, "--sort-key", "name", "--sort-dir", "desc", "--page-size", "2"}, names("c", "b", "a"), false},
		{[]string{all, "--sort-key", "size", "--sort-dir", "desc"}, names("a", "b", "c"), false},
		{[]string{all, "--sort-key", "size", "--sort-dir", "asc", "--page-size", "1"}, names("c", "b", "a"), true},
		{[]string{all, "--sort-key", "created_at", "--sort-dir", "desc"}, names("c", "b", "a"), false},
		{[]string{all, "--sort-key", "disk_format"}, names("b", "c", "a"), false}, // qcow2 (created_at asc) < raw
		{[]string{all, "--name", tag + "-b"}, names("b"), false},
		{[]string{all, "--disk-format", "qcow2"}, names("b", "c"), false},
		{[]string{all, "--container-format", "bare"}, names("a", "c"), false},
		{[]string{all, "--size-min", "70000"}, names("a", "b"), false},
		{[]string{all, "--size-max", "70000"}, names("b", "c"), false},
		{[]string{all, "--property-filter", "distro=ubuntu"}, names("a"), true},
		{[]string{all, "--status", "active"}, names("a", "b", "c"), false},
		{[]string{all, "--status", "queued"}, "", true},
		{[]string{all, "--changes-since", "2000-01-01T00:00:00"}, names("a", "b", "c"), false},
		{[]string{"--is-public", "True"}, names("b"), false},
		{[]string{"--is-public", "False"}, names("a", "c"), true},
	} {
		if !full && !lc.part {
			continue
		}
		if got := strings.Join(list(lc.args...), " "); got != lc.want {
			t.Errorf("image-list %s: %q, want %q", strings.Join(lc.args, " "), got, lc.want)
		}
	}

	// image-show by id and by name (HEAD /v1/images/{id}; a name is
	// found through the listing).
	for _, ref := range []struct{ ref, id, sum string }{{idA, idA, md5Hex(data1)}, {tag + "-b", idB, md5Hex(data2)}} {
		out = c.ok(nil, "image-show", ref.ref)
		if got := tableField(t, out, "id"); got != ref.id {
			t.Errorf("image-show %s: id %q", ref.ref, got)
		}
		if got := tableField(t, out, "checksum"); got != ref.sum {
			t.Errorf("image-show %s: checksum %q", ref.ref, got)
		}
	}
	// By name the client finds the image through the listing, as a
	// regular user without a project: a private image is not found.
	c.fails("No image with a name or ID of", "image-show", tag+"-a")
	c.fails("No image with a name or ID of", "image-show", "00000000-0000-4000-8000-00000000beef")

	// image-update: metadata (properties purged only when asked: the
	// client sends x-glance-registry-purge-props false by default).
	out = c.ok(nil, "image-update", idA, "--name", tag+"-a2", "--property", "arch=x86_64", "--min-disk", "2")
	for k, want := range map[string]string{"name": tag + "-a2", "min_disk": "2", "Property 'arch'": "x86_64", "Property 'distro'": "ubuntu"} {
		if got := tableField(t, out, k); got != want {
			t.Errorf("image-update: %s %q, want %q", k, got, want)
		}
	}
	out = c.ok(nil, "image-update", idA, "--purge-props", "--property", "suite="+tag, "--property", "k=v")
	if strings.Contains(out, "Property 'distro'") || tableField(t, out, "Property 'k'") != "v" {
		t.Errorf("image-update --purge-props:\n%s", out)
	}
	// The same image through v2: one catalog under both versions.
	if code, v2 := do(t, "GET", base+"/v2/images/"+idA, ""); code != 200 || v2["name"] != tag+"-a2" || v2["k"] != "v" || v2["distro"] != nil || v2["min_disk"] != 2.0 {
		t.Errorf("v2 after the v1 updates: %d %v", code, v2)
	}

	// image-download: to a file and to stdout, byte-identical.
	for id, want := range map[string][]byte{idA: data1, idB: data2, idC: data3} {
		dst := filepath.Join(dir, id+".out")
		c.ok(nil, "image-download", id, "--file", dst)
		if got, err := os.ReadFile(dst); err != nil || !bytes.Equal(got, want) {
			t.Errorf("image-download %s --file: %d bytes (%v), want %d identical", id, len(got), err, len(want))
		}
		if !full && id != idB {
			continue
		}
		if got := c.ok(nil, "image-download", id); got != string(want) {
			t.Errorf("image-download %s > stdout: %d bytes, want %d identical", id, len(got), len(want))
		}
	}

	// image-delete: a protected image is refused, then all three go.
	// glanceclient v1 reports a refused delete and exits 0.
	if out, _, stderr := c.run(nil, "image-delete", idB); !strings.Contains(string(out)+stderr, "Image is protected") {
		t.Errorf("image-delete of a protected image:\n%s%s", out, stderr)
	}
	if code, _ := do(t, "GET", base+"/v2/images/"+idB, ""); code != 200 {
		t.Errorf("the protected image after image-delete: %d", code)
	}
	c.ok(nil, "image-update", idB, "--is-protected", "False")
	c.ok(nil, "image-delete", idA, idB, idC)
	if got := list(all); len(got) != 0 {
		t.Errorf("image-list after image-delete: %v", got)
	}
	c.fails("No image with a name or ID of", "image-show", idA)
}

func md5Hex(b []byte) string {
	s := md5.Sum(b)
	return hex.EncodeToString(s[:])
}

func randomBytes(t *testing.T, n int) []byte {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return b
}

// openTerminal opens a pseudo-terminal and returns its terminal end,
// for a command's stdin that isatty() and gives no data (nothing ever
// writes to the controlling end).
func openTerminal(t *testing.T) *os.File {
	t.Helper()
	ptmx, err := os.OpenFile("/dev/ptmx", os.O_RDWR|syscall.O_NOCTTY, 0)
	if err != nil {
		t.Fatalf("a pseudo-terminal is needed for glanceclient's stdin (/dev/ptmx): %v", err)
	}
	t.Cleanup(func() { ptmx.Close() })
	var unlock int32
	if _, _, e := syscall.Syscall(syscall.SYS_IOCTL, ptmx.Fd(), syscall.TIOCSPTLCK, uintptr(unsafe.Pointer(&unlock))); e != 0 {
		t.Fatalf("unlockpt: %v", e)
	}
	var n uint32
	if _, _, e := syscall.Syscall(syscall.SYS_IOCTL, ptmx.Fd(), syscall.TIOCGPTN, uintptr(unsafe.Pointer(&n))); e != 0 {
		t.Fatalf("ptsname: %v", e)
	}
	pts, err := os.OpenFile(fmt.Sprintf("/dev/pts/%d", n), os.O_RDWR|syscall.O_NOCTTY, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { pts.Close() })
	return pts
}
