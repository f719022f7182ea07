package redistest

import (
	"context"
	"fmt"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// Cluster is a running Redis Cluster: masters only, the 16384 slots split
// evenly between them.
type Cluster struct {
	// Addrs are the nodes' host:port, every one a usable seed.
	Addrs []string
	nodes []*Redis
}

// StartClusterT starts a Redis Cluster of n masters (3 is the smallest
// Redis itself calls a cluster) for t, each a redis-server with
// cluster-enabled yes on a free loopback port; it returns once every node
// reports cluster_state:ok, and stops them when t ends.
func StartClusterT(t testing.TB, n int) *Cluster {
	t.Helper()
	c := &Cluster{}
	for range n {
		r := newT(t, "--cluster-enabled", "yes", "--cluster-config-file", "nodes.conf", "--cluster-node-timeout", "5000")
		c.nodes = append(c.nodes, r)
		c.Addrs = append(c.Addrs, r.Addr)
	}
	if err := c.form(); err != nil {
		t.Fatalf("redistest: forming a cluster of %s: %v", strings.Join(c.Addrs, " "), err)
	}
	return c
}

// form does what redis-cli --cluster create does for masters only: give
// each node its share of the slots, introduce them to each other, and wait
// until all agree the cluster is up.
func (c *Cluster) form() error {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	const slots = 16384
	per := slots / len(c.nodes)
	for i, r := range c.nodes {
		lo, hi := i*per, (i+1)*per-1
		if i == len(c.nodes)-1 {
			hi = slots - 1
		}
		if err := r.do(ctx, "cluster", "addslotsrange", lo, hi); err != nil {
			return fmt.Errorf("%s: CLUSTER ADDSLOTSRANGE %d %d: %w", r.Addr, lo, hi, err)
		}
	}
	for _, r := range c.nodes[1:] {
		if err := r.do(ctx, "cluster", "meet", "127.0.0.1", c.nodes[0].port); err != nil {
			return fmt.Errorf("%s: CLUSTER MEET: %w", r.Addr, err)
		}
	}
	for _, r := range c.nodes {
		rc := r.client()
		defer rc.Close()
		for {
			info, err := rc.ClusterInfo(ctx).Result()
			if err == nil && strings.Contains(info, "cluster_state:ok") && strings.Contains(info, fmt.Sprintf("cluster_known_nodes:%d", len(c.nodes))) {
				break
			}
			if ctx.Err() != nil {
				return fmt.Errorf("%s never reported cluster_state:ok with %d nodes (last: %q, %v)", r.Addr, len(c.nodes), info, err)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	return nil
}

// do runs one command on r.
func (r *Redis) do(ctx context.Context, args ...any) error {
	c := r.client()
	defer c.Close()
	return c.Do(ctx, args...).Err()
}

func (r *Redis) client() *redis.Client {
	return redis.NewClient(&redis.Options{Addr: r.Addr})
}

func freePort(t testing.TB) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}
