package i18n

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/leonelquinteros/gotext"
)

// Domain is the gettext domain Spyglass reads: Glance's, so that an
// operator can point it at Glance's own catalogs.
const Domain = "glance"

// Load reads the catalogs under dir, laid out as Glance's (and gettext's)
// are: dir/<lang>/LC_MESSAGES/glance.mo, compiled with msgfmt, or
// glance.po beside it when there is no .mo. dir "" means no catalogs (nil,
// nil): every message stays English. A directory with no catalog at all,
// or a file that is not a catalog, is an error naming the file and the
// fix.
func Load(dir string) (*Catalogs, error) {
	if dir == "" {
		return nil, nil
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("i18n: locale directory: %w", err)
	}
	var cats []*Catalog
	for _, e := range entries {
		if !e.IsDir() && e.Type()&fs.ModeSymlink == 0 {
			continue
		}
		base := filepath.Join(dir, e.Name(), "LC_MESSAGES", Domain)
		cat, err := loadOne(e.Name(), base)
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			return nil, err
		}
		cats = append(cats, cat)
	}
	if len(cats) == 0 {
		return nil, fmt.Errorf("i18n: %s holds no catalog: expected <lang>/LC_MESSAGES/%s.mo (or .po), as under Glance's glance/locale once compiled with msgfmt", dir, Domain)
	}
	return newCatalogs(cats), nil
}

// moMagic are the two byte orders of a .mo file's magic number.
var moMagic = [][]byte{{0xde, 0x12, 0x04, 0x95}, {0x95, 0x04, 0x12, 0xde}}

// loadOne reads base.mo, else base.po; fs.ErrNotExist when neither exists.
func loadOne(name, base string) (*Catalog, error) {
	var dom *gotext.Domain
	if data, err := os.ReadFile(base + ".mo"); err == nil {
		if len(data) < 4 || !(bytes.Equal(data[:4], moMagic[0]) || bytes.Equal(data[:4], moMagic[1])) {
			return nil, fmt.Errorf("i18n: %s.mo is not a gettext .mo file: compile it with `msgfmt -o %s.mo %s.po`", base, base, base)
		}
		mo := gotext.NewMo()
		mo.Parse(data)
		dom = mo.GetDomain()
	} else if !errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("i18n: %w", err)
	} else if data, err := os.ReadFile(base + ".po"); err == nil {
		po := gotext.NewPo()
		po.Parse(data)
		dom = po.GetDomain()
	} else {
		return nil, err
	}
	cat := &Catalog{name: name, tag: normalizeTag(name), exact: map[string]string{}, templates: map[string][]*template{}}
	for id, tr := range dom.GetTranslations() {
		cat.add(id, tr.Trs[0])
	}
	if len(cat.exact) == 0 && len(cat.templates) == 0 && len(cat.short) == 0 {
		return nil, fmt.Errorf("i18n: %s: no translated message could be read (a .mo from msgfmt, or a .po, is expected)", base)
	}
	return cat, nil
}
