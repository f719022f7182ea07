package redis

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	goredis "github.com/redis/go-redis/v9"
	"github.com/sony/gobreaker/v2"
)

// Config is what a Tier is built from: exactly one of Addr,
// Cluster and SentinelAddrs (with SentinelMaster).
type Config struct {
	// Addr is the host:port of a single Redis server.
	Addr string
	// Cluster lists host:port seed nodes of a Redis Cluster; the client
	// learns the rest of the cluster from them.
	Cluster []string
	// SentinelMaster and SentinelAddrs find the master through Redis
	// Sentinel (and follow it across failovers); SentinelPassword is the
	// sentinels' own, "" for none.
	SentinelMaster   string
	SentinelAddrs    []string
	SentinelPassword string
	// Password authenticates to the Redis server(s); "" means no AUTH.
	Password string
	// DB is the database selected after connecting (not with Cluster);
	// 0 is the default database.
	DB int
	// Timeout bounds every call (connecting included); 0 means 100ms.
	Timeout time.Duration
	// Prefix is put before every key, so several deployments can share a
	// Redis; "" means "spyglass:".
	Prefix string
	// Logger receives breaker state changes; nil: slog.Default().
	Logger *slog.Logger
}

// describe names the Redis in logs and the breaker: "127.0.0.1:6379",
// "cluster 10.0.0.1:6379,…", "sentinel mymaster@10.0.0.1:26379,…".
func (c Config) describe() string {
	switch {
	case len(c.Cluster) > 0:
		return "cluster " + strings.Join(c.Cluster, ",")
	case c.SentinelMaster != "":
		return "sentinel " + c.SentinelMaster + "@" + strings.Join(c.SentinelAddrs, ",")
	default:
		return c.Addr
	}
}

// Tier is the tier gateway instances share: a Redis (go-redis; one
// server, a Redis Cluster or a Sentinel-managed master), every call
// bounded by a timeout and behind a circuit breaker. It never fails its
// caller: a Redis that is slow, down or open-circuited is a miss on Get and
// a dropped Set, so an instance keeps serving from its own first level and
// the regions; the breaker makes a dead Redis cost one timeout per window.
type Tier struct {
	client  goredis.UniversalClient
	timeout time.Duration
	prefix  string
	breaker *gobreaker.CircuitBreaker[[]byte]
}

// New validates cfg and returns the Tier. It does not connect:
// a Redis that is not there yet is an outage like any other.
func New(cfg Config) (*Tier, error) {
	n := 0
	if cfg.Addr != "" {
		n++
	}
	if len(cfg.Cluster) > 0 {
		n++
	}
	if cfg.SentinelMaster != "" || len(cfg.SentinelAddrs) > 0 {
		n++
		if cfg.SentinelMaster == "" || len(cfg.SentinelAddrs) == 0 {
			return nil, errors.New("cache: a sentinel shared tier needs both the master name and the sentinels' addresses")
		}
	}
	switch {
	case n == 0:
		return nil, errors.New("cache: shared tier without a Redis address, cluster or sentinel")
	case n > 1:
		return nil, errors.New("cache: shared tier with more than one of a Redis address, a cluster and a sentinel")
	case len(cfg.Cluster) > 0 && cfg.DB != 0:
		return nil, errors.New("cache: a Redis Cluster has only database 0")
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = 100 * time.Millisecond
	}
	if cfg.Prefix == "" {
		cfg.Prefix = "spyglass:"
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	opts := &goredis.UniversalOptions{
		Password: cfg.Password, DB: cfg.DB,
		DialTimeout: cfg.Timeout, ReadTimeout: cfg.Timeout, WriteTimeout: cfg.Timeout,
		PoolTimeout: cfg.Timeout, MaxRetries: -1, DialerRetries: 1, ContextTimeoutEnabled: true,
	}
	switch {
	case len(cfg.Cluster) > 0:
		// IsClusterMode: a single seed node is still a cluster. Redirects
		// (MOVED/ASK, the default 3) stay on: they are how a cluster
		// answers while its slots move; the context still bounds them.
		opts.Addrs, opts.IsClusterMode = cfg.Cluster, true
	case cfg.SentinelMaster != "":
		opts.Addrs, opts.MasterName, opts.SentinelPassword = cfg.SentinelAddrs, cfg.SentinelMaster, cfg.SentinelPassword
	default:
		opts.Addrs = []string{cfg.Addr}
	}
	name := cfg.describe()
	s := &Tier{
		client:  goredis.NewUniversalClient(opts),
		timeout: cfg.Timeout,
		prefix:  cfg.Prefix,
	}
	s.breaker = gobreaker.NewCircuitBreaker[[]byte](gobreaker.Settings{
		Name:        "redis " + name,
		Timeout:     2 * time.Second, // open → half-open
		ReadyToTrip: func(c gobreaker.Counts) bool { return c.ConsecutiveFailures >= 3 },
		OnStateChange: func(_ string, from, to gobreaker.State) {
			cfg.Logger.Warn("redis circuit breaker", "redis", name, "from", from.String(), "to", to.String())
		},
	})
	return s, nil
}

// Get returns the value stored under key, if Redis has it and answers in
// time.
func (s *Tier) Get(ctx context.Context, key string) ([]byte, bool) {
	v, err := s.breaker.Execute(func() ([]byte, error) {
		ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), s.timeout)
		defer cancel()
		v, err := s.client.Get(ctx, s.prefix+key).Bytes()
		if errors.Is(err, goredis.Nil) {
			return nil, nil // a miss is an answer, not a failure
		}
		return v, err
	})
	return v, err == nil && v != nil
}

// Set stores val under key for ttl, if Redis answers in time.
func (s *Tier) Set(ctx context.Context, key string, val []byte, ttl time.Duration) {
	s.breaker.Execute(func() ([]byte, error) {
		ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), s.timeout)
		defer cancel()
		return nil, s.client.Set(ctx, s.prefix+key, val, ttl).Err()
	})
}

// Ping reports whether Redis answers now (for readiness views and tests).
func (s *Tier) Ping(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	if err := s.client.Ping(ctx).Err(); err != nil {
		return fmt.Errorf("redis: %w", err)
	}
	return nil
}

// Close releases the connections.
func (s *Tier) Close() error { return s.client.Close() }

// BreakerState reports the circuit breaker's state: closed, half-open or
// open (Redis is not being asked).
func (s *Tier) BreakerState() string { return s.breaker.State().String() }
