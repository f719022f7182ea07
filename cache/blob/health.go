package blob

import (
	"fmt"
	"os"
)

// CheckDisk says whether the cache's directory can take a new entry now:
// it creates, writes, syncs and removes a small file there. Readiness
// probes call it; a failing disk does not stop the gateway (reads then
// stream from the origins) but it should not take a site's traffic.
func (b *Cache) CheckDisk() error {
	f, err := os.CreateTemp(b.cfg.Dir, ".probe-*")
	if err != nil {
		return fmt.Errorf("cache.dir %s: %w", b.cfg.Dir, err)
	}
	name := f.Name()
	defer os.Remove(name)
	if _, err := f.Write([]byte{0}); err != nil {
		f.Close()
		return fmt.Errorf("cache.dir %s: write: %w", b.cfg.Dir, err)
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return fmt.Errorf("cache.dir %s: sync: %w", b.cfg.Dir, err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("cache.dir %s: %w", b.cfg.Dir, err)
	}
	return nil
}
