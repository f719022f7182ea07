package config_test

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/spyglass-gateway/spyglass/config"
)

// The image data cache follows the default local region's data_dir unless
// the file names cache.dir: `spyglass serve --data-dir X` keeps its cache
// under X, not in ./data/cache of whatever directory it was started in.
func TestCacheDir(t *testing.T) {
	for _, tc := range []struct {
		name, yaml string
		flags      config.Overrides
		want       string
	}{
		{"defaults", "", config.Overrides{}, "data/cache"},
		{"--data-dir", "", config.Overrides{DataDir: "/srv/images"}, "/srv/images/cache"},
		{"data_dir in the file", "regions: [{name: r, kind: local, data_dir: /srv/r}]\n", config.Overrides{}, "/srv/r/cache"},
		{"cache.dir in the file", "cache: {dir: /var/cache/sg}\n", config.Overrides{DataDir: "/srv/images"}, "/var/cache/sg"},
		{"cache.dir equal to the default, given", "cache:\n  dir: ./data/cache\n", config.Overrides{DataDir: "/srv/images"}, "./data/cache"},
		{"glance default region", "regions: [{name: g, kind: glance, endpoint: \"http://127.0.0.1:1\"}]\n", config.Overrides{}, "./data/cache"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := ""
			if tc.yaml != "" {
				path = filepath.Join(t.TempDir(), "spyglass.yaml")
				if err := os.WriteFile(path, []byte(tc.yaml), 0o600); err != nil {
					t.Fatal(err)
				}
			}
			c, err := config.Load(path, tc.flags)
			if err != nil {
				t.Fatal(err)
			}
			if got := c.CacheDir(); got != tc.want {
				t.Errorf("CacheDir() = %q, want %q", got, tc.want)
			}
		})
	}
}
