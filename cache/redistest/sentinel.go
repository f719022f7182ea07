package redistest

import (
	"context"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// StartReplicaT starts a redis-server for t replicating master, and
// returns once the replication link is up; it is stopped when t ends.
func StartReplicaT(t testing.TB, master *Redis) *Redis {
	t.Helper()
	host, port, _ := net.SplitHostPort(master.Addr)
	r := newT(t, "--replicaof", host, port)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c := r.client()
	defer c.Close()
	for {
		info, err := c.Info(ctx, "replication").Result()
		if err == nil && strings.Contains(info, "master_link_status:up") {
			return r
		}
		if ctx.Err() != nil {
			t.Fatalf("redistest: replica %s of %s: link never up (%q, %v)", r.Addr, master.Addr, info, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// Sentinel is a running redis-server --sentinel monitoring one master.
type Sentinel struct {
	// Addr is the sentinel's host:port; MasterName the name it monitors
	// the master under.
	Addr       string
	MasterName string
	r          *Redis
}

// StartSentinelT starts a sentinel for t that monitors master under the
// name "spyglass" (quorum 1, down after 1s), and returns once it answers
// SENTINEL GET-MASTER-ADDR-BY-NAME with master's address; it is stopped
// when t ends.
func StartSentinelT(t testing.TB, master *Redis) *Sentinel {
	t.Helper()
	needServer(t)
	r := startOnFreePort(t, func(port int) (*Redis, error) {
		dir := t.TempDir()
		// Sentinel rewrites its configuration file as it learns: it must be
		// a file of its own, writable.
		conf := filepath.Join(dir, "sentinel.conf")
		host, mport, _ := net.SplitHostPort(master.Addr)
		text := fmt.Sprintf(`port %d
bind 127.0.0.1
protected-mode no
dir %s
sentinel monitor spyglass %s %s 1
sentinel down-after-milliseconds spyglass 1000
sentinel failover-timeout spyglass 5000
`, port, dir, host, mport)
		if err := os.WriteFile(conf, []byte(text), 0o644); err != nil {
			return nil, err
		}
		return &Redis{Addr: fmt.Sprintf("127.0.0.1:%d", port), dir: dir, port: port, args: []string{conf, "--sentinel"}}, nil
	})
	s := &Sentinel{Addr: r.Addr, MasterName: "spyglass", r: r}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	sc := redis.NewSentinelClient(&redis.Options{Addr: s.Addr})
	defer sc.Close()
	for {
		addr, err := sc.GetMasterAddrByName(ctx, s.MasterName).Result()
		if err == nil && len(addr) == 2 && net.JoinHostPort(addr[0], addr[1]) == master.Addr {
			return s
		}
		if ctx.Err() != nil {
			t.Fatalf("redistest: sentinel on %s does not name %s as master %q: %v %v", s.Addr, master.Addr, s.MasterName, addr, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
