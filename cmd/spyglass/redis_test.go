package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/redis/go-redis/v9"

	"github.com/spyglass-gateway/spyglass/cache/redistest"
)

// TestServeSharesThroughClusterAndSentinel: the binary configured with
// redis.cluster (a real 3-master Redis Cluster) or redis.sentinel (a real
// Sentinel watching a real master) keeps a multi-region listing's
// positions there, as it does with redis.addr.
func TestServeSharesThroughClusterAndSentinel(t *testing.T) {
	bin := buildBinary(t)
	tests := []struct {
		name string
		// start returns the redis: section of the configuration and the
		// servers the shared keys may land on.
		start func(t *testing.T) (yaml string, servers []string)
	}{
		{"cluster", func(t *testing.T) (string, []string) {
			c := redistest.StartClusterT(t, 3)
			return fmt.Sprintf("redis: {cluster: [%s], timeout: 2s}\n", c.Addrs[1]), c.Addrs
		}},
		{"sentinel", func(t *testing.T) (string, []string) {
			master := redistest.StartT(t)
			s := redistest.StartSentinelT(t, master)
			return fmt.Sprintf("redis: {sentinel: {master_name: %s, addrs: [%q]}, timeout: 2s}\n", s.MasterName, s.Addr), []string{master.Addr}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			redisYAML, servers := tt.start(t)
			dir := t.TempDir()
			cfgPath := filepath.Join(dir, "spyglass.yaml")
			cfg := fmt.Sprintf("listen: 127.0.0.1:0\nregions:\n  - {name: east, kind: local, data_dir: %q}\n  - {name: west, kind: local, data_dir: %q}\ndefault_region: east\n%s",
				filepath.Join(dir, "east"), filepath.Join(dir, "west"), redisYAML)
			if err := os.WriteFile(cfgPath, []byte(cfg), 0o600); err != nil {
				t.Fatal(err)
			}
			p := startWithConfig(t, bin, cfgPath)
			base := "http://" + p.addr
			for i := range 4 {
				if code, m := do(t, "POST", base+"/v2/images", fmt.Sprintf(`{"name": "img-%d"}`, i)); code != 201 {
					t.Fatalf("create: %d %v", code, m)
				}
			}
			code, m := do(t, "GET", base+"/v2/images?limit=2", "")
			if code != 200 || m["next"] == nil {
				t.Fatalf("list: %d %v, want a next link", code, m)
			}
			var keys []string
			for _, addr := range servers {
				c := redis.NewClient(&redis.Options{Addr: addr})
				k, err := c.Keys(context.Background(), "spyglass:cursor:*").Result()
				c.Close()
				if err != nil {
					t.Fatal(err)
				}
				keys = append(keys, k...)
			}
			if len(keys) == 0 {
				t.Errorf("no listing position in Redis after a page with a next link; log:\n%s", p.log())
			}
		})
	}
}
