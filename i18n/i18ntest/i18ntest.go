// Package i18ntest gives tests a locale directory in Glance's layout,
// holding Spyglass's own test catalog (zh_CN.po: real msgids, translated
// for the tests) compiled with msgfmt, as an operator compiles Glance's.
package i18ntest

import (
	_ "embed"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// ZhCN is the test catalog's source.
//
//go:embed zh_CN.po
var ZhCN []byte

// Locale writes the test catalog as <dir>/zh_CN/LC_MESSAGES/glance.mo,
// compiled with msgfmt (Debian's gettext), and returns dir. Without msgfmt
// the test fails: the point is to read what msgfmt writes.
func Locale(t testing.TB) string {
	t.Helper()
	dir := t.TempDir()
	lc := filepath.Join(dir, "zh_CN", "LC_MESSAGES")
	if err := os.MkdirAll(lc, 0o755); err != nil {
		t.Fatal(err)
	}
	po := filepath.Join(t.TempDir(), "glance.po")
	if err := os.WriteFile(po, ZhCN, 0o644); err != nil {
		t.Fatal(err)
	}
	msgfmt, err := exec.LookPath("msgfmt")
	if err != nil {
		t.Fatalf("msgfmt is needed to compile the test catalog: apt-get install gettext (%v)", err)
	}
	if out, err := exec.Command(msgfmt, "-c", "-o", filepath.Join(lc, "glance.mo"), po).CombinedOutput(); err != nil {
		t.Fatalf("msgfmt: %v\n%s", err, out)
	}
	return dir
}
