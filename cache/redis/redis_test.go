package redis_test

import (
	"context"
	"fmt"
	"net"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"
	"github.com/spyglass-gateway/spyglass/cache/redis"
	"github.com/spyglass-gateway/spyglass/cache/redistest"
)

func TestSharedAgainstARealRedis(t *testing.T) {
	r := redistest.StartT(t)
	s, err := redis.New(redis.Config{Addr: r.Addr, Timeout: 200 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	ctx := context.Background()
	if _, ok := s.Get(ctx, "k"); ok {
		t.Fatal("a key never set was found")
	}
	s.Set(ctx, "k", []byte("v1"), time.Minute)
	if v, ok := s.Get(ctx, "k"); !ok || string(v) != "v1" {
		t.Fatalf("Get = %q, %v; want v1", v, ok)
	}
	s.Set(ctx, "short", []byte("x"), time.Second)
	time.Sleep(1100 * time.Millisecond)
	if _, ok := s.Get(ctx, "short"); ok {
		t.Fatal("a key past its TTL was found")
	}

	// Killed: a miss at once, never an error; back: found again.
	r.Stop()
	start := time.Now()
	for range 10 {
		if _, ok := s.Get(ctx, "k"); ok {
			t.Fatal("found a key in a Redis that is down")
		}
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("10 Gets against a dead Redis took %v", d)
	}
	if err := r.Start(); err != nil {
		t.Fatal(err)
	}
	time.Sleep(2100 * time.Millisecond) // the breaker's open window
	s.Set(ctx, "k", []byte("v2"), time.Minute)
	if v, ok := s.Get(ctx, "k"); !ok || string(v) != "v2" {
		t.Fatalf("after Redis came back: Get = %q, %v; want v2", v, ok)
	}
}

// TestSharedHangingRedis: a Redis that accepts connections and never
// answers costs each call at most its timeout, then the breaker answers at
// once.
func TestSharedHangingRedis(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			defer c.Close() // hold it open, say nothing
		}
	}()
	s, err := redis.New(redis.Config{Addr: ln.Addr().String(), Timeout: 100 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	var slow int
	for range 20 {
		start := time.Now()
		if _, ok := s.Get(context.Background(), "k"); ok {
			t.Fatal("a hanging Redis answered")
		}
		d := time.Since(start)
		if d > time.Second {
			t.Fatalf("a Get against a hanging Redis took %v (timeout 100ms)", d)
		}
		if d > 50*time.Millisecond {
			slow++
		}
	}
	if slow > 3 {
		t.Errorf("%d of 20 Gets waited for the timeout; the breaker should answer after 3", slow)
	}
}

// TestSharedAgainstARedisCluster: through a real 3-master Redis Cluster,
// keys spread over every master are written and read back. A client that
// did not speak the cluster protocol would get MOVED for about two keys in
// three and count them as misses.
func TestSharedAgainstARedisCluster(t *testing.T) {
	c := redistest.StartClusterT(t, 3)
	// One seed is enough: the client learns the other nodes from it.
	s, err := redis.New(redis.Config{Cluster: c.Addrs[:1], Timeout: 2 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	ctx := context.Background()
	const n = 60
	for i := range n {
		s.Set(ctx, fmt.Sprintf("k%d", i), []byte(fmt.Sprintf("v%d", i)), time.Minute)
	}
	for i := range n {
		if v, ok := s.Get(ctx, fmt.Sprintf("k%d", i)); !ok || string(v) != fmt.Sprintf("v%d", i) {
			t.Errorf("Get(k%d) = %q, %v; want v%d", i, v, ok, i)
		}
	}
	// The keys really are spread: every master holds some.
	for _, addr := range c.Addrs {
		node := goredis.NewClient(&goredis.Options{Addr: addr})
		keys, err := node.DBSize(ctx).Result()
		node.Close()
		if err != nil {
			t.Fatal(err)
		}
		if keys == 0 {
			t.Errorf("master %s holds none of %d keys", addr, n)
		}
	}
}

// TestSharedThroughSentinel: the master is found through a real Sentinel,
// and what Shared writes lands on that master.
func TestSharedThroughSentinel(t *testing.T) {
	master := redistest.StartT(t)
	sentinel := redistest.StartSentinelT(t, master)
	s, err := redis.New(redis.Config{SentinelMaster: sentinel.MasterName, SentinelAddrs: []string{sentinel.Addr}, Timeout: 2 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	ctx := context.Background()
	s.Set(ctx, "k", []byte("v"), time.Minute)
	if v, ok := s.Get(ctx, "k"); !ok || string(v) != "v" {
		t.Fatalf("Get = %q, %v; want v", v, ok)
	}
	direct := goredis.NewClient(&goredis.Options{Addr: master.Addr})
	defer direct.Close()
	if v, err := direct.Get(ctx, "spyglass:k").Result(); err != nil || v != "v" {
		t.Errorf("on the master: %q, %v; want v", v, err)
	}
}

func TestNewSharedNeedsExactlyOneRedis(t *testing.T) {
	tests := []struct {
		name string
		cfg  redis.Config
	}{
		{"none", redis.Config{}},
		{"addr and cluster", redis.Config{Addr: "127.0.0.1:1", Cluster: []string{"127.0.0.1:2"}}},
		{"addr and sentinel", redis.Config{Addr: "127.0.0.1:1", SentinelMaster: "m", SentinelAddrs: []string{"127.0.0.1:2"}}},
		{"sentinel without addrs", redis.Config{SentinelMaster: "m"}},
		{"sentinel without master", redis.Config{SentinelAddrs: []string{"127.0.0.1:2"}}},
		{"cluster with a db", redis.Config{Cluster: []string{"127.0.0.1:2"}, DB: 1}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if s, err := redis.New(tt.cfg); err == nil {
				s.Close()
				t.Fatal("New succeeded, want an error")
			}
		})
	}
}

// TestSharedFollowsASentinelFailover: the master dies, the sentinel
// promotes its replica, and Shared, told by the sentinel, writes and reads
// on the new master without a restart. Meanwhile it never fails its
// caller.
func TestSharedFollowsASentinelFailover(t *testing.T) {
	master := redistest.StartT(t)
	replica := redistest.StartReplicaT(t, master)
	sentinel := redistest.StartSentinelT(t, master)
	ctx := context.Background()
	sc := goredis.NewSentinelClient(&goredis.Options{Addr: sentinel.Addr})
	defer sc.Close()
	// The sentinel learns the replica from the master's INFO (every 10s).
	waitFor(t, 60*time.Second, "the sentinel to know the replica", func() bool {
		rs, err := sc.Replicas(ctx, sentinel.MasterName).Result()
		return err == nil && len(rs) == 1
	})

	s, err := redis.New(redis.Config{SentinelMaster: sentinel.MasterName, SentinelAddrs: []string{sentinel.Addr}, Timeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	s.Set(ctx, "before", []byte("1"), time.Minute)
	if v, ok := s.Get(ctx, "before"); !ok || string(v) != "1" {
		t.Fatalf("Get(before) = %q, %v; want 1", v, ok)
	}

	// Replication is asynchronous: kill the master only once the replica
	// has the key, or the failover may rightly lose it.
	onReplica := goredis.NewClient(&goredis.Options{Addr: replica.Addr})
	defer onReplica.Close()
	waitFor(t, 30*time.Second, "the write to reach the replica", func() bool {
		v, err := onReplica.Get(ctx, "spyglass:before").Result()
		return err == nil && v == "1"
	})

	master.Stop()
	waitFor(t, 60*time.Second, "the sentinel to promote the replica", func() bool {
		addr, err := sc.GetMasterAddrByName(ctx, sentinel.MasterName).Result()
		return err == nil && len(addr) == 2 && net.JoinHostPort(addr[0], addr[1]) == replica.Addr
	})
	waitFor(t, 60*time.Second, "Shared to write and read on the new master", func() bool {
		s.Set(ctx, "after", []byte("2"), time.Minute)
		v, ok := s.Get(ctx, "after")
		return ok && string(v) == "2"
	})
	if v, err := onReplica.Get(ctx, "spyglass:after").Result(); err != nil || v != "2" {
		t.Errorf("on the promoted replica: %q, %v; want 2", v, err)
	}
	// What was written before the failover was replicated.
	if v, ok := s.Get(ctx, "before"); !ok || string(v) != "1" {
		t.Errorf("Get(before) after the failover = %q, %v; want 1", v, ok)
	}
}

// waitFor polls cond until it holds, failing t after limit.
func waitFor(t *testing.T, limit time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(limit)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("waited %v for %s", limit, what)
		}
		time.Sleep(100 * time.Millisecond)
	}
}
