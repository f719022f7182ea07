package blob

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// blobRecord is an entry's durable state, <image>.json.
type blobRecord struct {
	Region     string     `json:"region"`
	Image      string     `json:"image"`
	Expect     Expect     `json:"expect"`
	Complete   bool       `json:"complete"`
	Extents    [][2]int64 `json:"extents,omitempty"`
	Hits       int64      `json:"hits"`
	LastAccess time.Time  `json:"last_accessed"`
	Modified   time.Time  `json:"last_modified"`
}

// scan indexes the directory left by a previous run.
func (b *Cache) scan() {
	regions, err := os.ReadDir(b.cfg.Dir)
	if err != nil {
		return
	}
	for _, rd := range regions {
		if !rd.IsDir() {
			continue
		}
		dir := filepath.Join(b.cfg.Dir, rd.Name())
		b.dirs[rd.Name()] = true
		b.used += diskBlock
		files, _ := os.ReadDir(dir)
		keep := map[string]bool{}
		for _, f := range files {
			name, ok := strings.CutSuffix(f.Name(), ".json")
			if !ok {
				continue
			}
			if e := b.load(dir, name); e != nil {
				keep[name+".json"], keep[name+".data"] = true, true
			}
		}
		for _, f := range files {
			if !keep[f.Name()] {
				os.Remove(filepath.Join(dir, f.Name()))
			}
		}
	}
}

// load indexes one entry from its record, or returns nil when the record
// and the data do not agree (the caller removes both).
func (b *Cache) load(dir, name string) *entry {
	raw, err := os.ReadFile(filepath.Join(dir, name+".json"))
	if err != nil {
		return nil
	}
	var r blobRecord
	if json.Unmarshal(raw, &r) != nil || r.Image != name || filepath.Base(dir) != r.Region || !b.cacheable(r.Expect) {
		return nil
	}
	e := newEntry(b, Key{r.Region, r.Image}, r.Expect, filepath.Join(dir, name))
	st, err := os.Stat(e.dataPath())
	if err != nil {
		return nil
	}
	if r.Complete {
		if st.Size() != r.Expect.Size {
			return nil
		}
		e.state = stateComplete
	} else {
		f, err := os.OpenFile(e.dataPath(), os.O_RDWR, 0)
		if err != nil {
			return nil
		}
		e.f = f
		for _, x := range r.Extents {
			if x[0] < 0 || x[1] > r.Expect.Size || x[0] >= x[1] || x[1] > st.Size() {
				f.Close()
				return nil
			}
			e.ext.Add(x[0], x[1])
		}
		e.durable = e.ext.Clone()
	}
	e.publishLocked() // not shared yet: no lock needed
	e.hits, e.lastAccess, e.modified, e.lru = r.Hits, r.LastAccess, r.Modified, r.LastAccess
	e.charge = entryCharge(r.Expect.Size)
	b.entries[e.key] = e
	b.used += e.charge
	return e
}
