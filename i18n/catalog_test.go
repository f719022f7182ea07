package i18n_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/spyglass-gateway/spyglass/i18n"
	"github.com/spyglass-gateway/spyglass/i18n/i18ntest"
)

func TestTranslate(t *testing.T) {
	cats, err := i18n.Load(i18ntest.Locale(t))
	if err != nil {
		t.Fatal(err)
	}
	if got, want := strings.Join(cats.Languages(), ","), "zh_CN"; got != want {
		t.Fatalf("languages %s, want %s", got, want)
	}
	zh := cats.Lookup("zh_CN")
	for _, tc := range []struct{ en, want string }{
		// The seed's example: positional %s.
		{"No image found with ID aaa", "找不到任何具有标识 aaa 的映像"},
		// The most specific template wins: "… to delete" over "…".
		{"Failed to find image 1234 to delete", "找不到要删除的映像 1234"},
		{"Failed to find image 1234", "找不到映像 1234"},
		// Named arguments, reordered by the translation.
		{"m1 not found in the member list of the image i1.", "在映像 i1 的成员列表中找不到 m1。"},
		{"Image status transition from queued to active is not allowed", "不允许映像状态从 queued 转变为 active"},
		// An argument that looks like the template's own text.
		{"No image found with ID No image found with ID x", "找不到任何具有标识 No image found with ID x 的映像"},
		// Not formatted.
		{"limit param must be positive", "limit 参数必须为正数"},
		// A %(reason)s is a message too: jsonschema's first line.
		{"Provided object does not match schema 'image': 'x' is not of type 'integer'\n\nFailed validating 'type' in schema['properties']['min_ram']:\n    {'type': 'integer'}",
			"提供的对象与模式“image”不匹配：'x' 的类型不是 'integer'\n\nFailed validating 'type' in schema['properties']['min_ram']:\n    {'type': 'integer'}"},
		// Unknown messages, near misses and arguments stay as they are.
		{"No image found with ID", "No image found with ID"},
		{"no image found with ID aaa", "no image found with ID aaa"},
		{"Some message Glance never wrote", "Some message Glance never wrote"},
		{"", ""},
		// msgfmt leaves fuzzy entries out.
		{"Image data is not available.", "Image data is not available."},
	} {
		if got := zh.Translate(tc.en); got != tc.want {
			t.Errorf("Translate(%q)\n got %q\nwant %q", tc.en, got, tc.want)
		}
	}
	var none *i18n.Catalog
	if got := none.Translate("No image found with ID aaa"); got != "No image found with ID aaa" {
		t.Errorf("nil catalog: %q", got)
	}
}

// TestLoad: .po read as well as .mo; the errors name the file and the fix.
func TestLoad(t *testing.T) {
	if cats, err := i18n.Load(""); cats != nil || err != nil {
		t.Fatalf("Load(\"\") = %v, %v; want no catalogs, no error", cats, err)
	}
	dir := t.TempDir()
	lc := filepath.Join(dir, "zh_CN", "LC_MESSAGES")
	os.MkdirAll(lc, 0o755)
	os.MkdirAll(filepath.Join(dir, "no_catalog_here"), 0o755)
	os.WriteFile(filepath.Join(dir, "README"), []byte("not a language"), 0o644)
	os.WriteFile(filepath.Join(lc, "glance.po"), i18ntest.ZhCN, 0o644)
	cats, err := i18n.Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := cats.Negotiate([]byte("zh")).Translate("No image found with ID aaa"), "找不到任何具有标识 aaa 的映像"; got != want {
		t.Errorf(".po: %q, want %q", got, want)
	}

	for _, tc := range []struct {
		name  string
		setup func(dir string)
		want  string
	}{
		{"missing", func(dir string) { os.Remove(dir) }, "no such file"},
		{"empty", func(string) {}, "holds no catalog: expected <lang>/LC_MESSAGES/glance.mo"},
		{"not mo", func(dir string) {
			lc := filepath.Join(dir, "de", "LC_MESSAGES")
			os.MkdirAll(lc, 0o755)
			os.WriteFile(filepath.Join(lc, "glance.mo"), []byte("msgid \"\"\n"), 0o644)
		}, "is not a gettext .mo file: compile it with `msgfmt"},
		{"no messages", func(dir string) {
			lc := filepath.Join(dir, "de", "LC_MESSAGES")
			os.MkdirAll(lc, 0o755)
			os.WriteFile(filepath.Join(lc, "glance.po"), []byte("# nothing\n"), 0o644)
		}, "no translated message could be read"},
	} {
		dir := t.TempDir()
		tc.setup(dir)
		_, err := i18n.Load(dir)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v, want an error with %q", tc.name, err, tc.want)
		}
	}
}

// FuzzTranslate: any message, translated by the test catalog, comes back
// without a panic, and one that is valid UTF-8 stays valid UTF-8.
func FuzzTranslate(f *testing.F) {
	for _, s := range []string{"No image found with ID aaa", "Failed to find image x to delete", "m not found in the member list of the image i.",
		"Provided object does not match schema 'image': 'x' is too long\n\nFailed", "limit param must be positive", "%s", "%(reason)s", "\xff", ""} {
		f.Add(s)
	}
	dir := f.TempDir()
	lc := filepath.Join(dir, "zh_CN", "LC_MESSAGES")
	os.MkdirAll(lc, 0o755)
	os.WriteFile(filepath.Join(lc, "glance.po"), i18ntest.ZhCN, 0o644)
	cats, err := i18n.Load(dir)
	if err != nil {
		f.Fatal(err)
	}
	zh := cats.Lookup("zh_CN")
	f.Fuzz(func(t *testing.T, msg string) {
		got := zh.Translate(msg)
		if utf8.ValidString(msg) && !utf8.ValidString(got) {
			t.Fatalf("Translate(%q) = %q: not UTF-8", msg, got)
		}
	})
}
