package config

import "path/filepath"

// CacheDir is the directory of the image data cache: cache.dir when the
// file sets it; otherwise, when the default region is local, its data_dir's
// "cache" (so --data-dir and SPYGLASS_DATA_DIR move the cache along with the
// data, and a test's gateway never writes ./data/cache in its working
// directory); otherwise the default ./data/cache.
func (c *Config) CacheDir() string {
	if _, set := c.src.lines["cache.dir"]; set || c.Cache.Dir != Default().Cache.Dir {
		return c.Cache.Dir
	}
	if r := c.Region(c.DefaultRegion); r != nil && r.Kind == KindLocal && r.DataDir != "" {
		return filepath.Join(r.DataDir, "cache")
	}
	return c.Cache.Dir
}
