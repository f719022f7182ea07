package cache

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/sony/gobreaker/v2"
)

// SharedConfig is what a Shared is built from.
type SharedConfig struct {
	// Addr is the Redis host:port.
	Addr string
	// Timeout bounds every call (connecting included); 0 means 100ms.
	Timeout time.Duration
	// Prefix is put before every key, so several deployments can share a
	// Redis; "" means "spyglass:".
	Prefix string
	// Logger receives breaker state changes; nil: slog.Default().
	Logger *slog.Logger
}

// Shared is the tier gateway instances share: a Redis (go-redis), every call
// bounded by a timeout and behind a circuit breaker. It never fails its
// caller: a Redis that is slow, down or open-circuited is a miss on Get and
// a dropped Set, so an instance keeps serving from its own first level and
// the regions; the breaker makes a dead Redis cost one timeout per window.
type Shared struct {
	client  *redis.Client
	timeout time.Duration
	prefix  string
	breaker *gobreaker.CircuitBreaker[[]byte]
}

// NewShared validates cfg and returns the Shared tier. It does not connect:
// a Redis that is not there yet is an outage like any other.
func NewShared(cfg SharedConfig) (*Shared, error) {
	if cfg.Addr == "" {
		return nil, errors.New("cache: shared tier without a Redis address")
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
	s := &Shared{
		client: redis.NewClient(&redis.Options{
			Addr: cfg.Addr, DialTimeout: cfg.Timeout, ReadTimeout: cfg.Timeout, WriteTimeout: cfg.Timeout,
			PoolTimeout: cfg.Timeout, MaxRetries: -1, DialerRetries: 1, ContextTimeoutEnabled: true,
		}),
		timeout: cfg.Timeout,
		prefix:  cfg.Prefix,
	}
	s.breaker = gobreaker.NewCircuitBreaker[[]byte](gobreaker.Settings{
		Name:        "redis " + cfg.Addr,
		Timeout:     2 * time.Second, // open → half-open
		ReadyToTrip: func(c gobreaker.Counts) bool { return c.ConsecutiveFailures >= 3 },
		OnStateChange: func(name string, from, to gobreaker.State) {
			cfg.Logger.Warn("redis circuit breaker", "redis", cfg.Addr, "from", from.String(), "to", to.String())
		},
	})
	return s, nil
}

// Get returns the value stored under key, if Redis has it and answers in
// time.
func (s *Shared) Get(ctx context.Context, key string) ([]byte, bool) {
	v, err := s.breaker.Execute(func() ([]byte, error) {
		ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), s.timeout)
		defer cancel()
		v, err := s.client.Get(ctx, s.prefix+key).Bytes()
		if errors.Is(err, redis.Nil) {
			return nil, nil // a miss is an answer, not a failure
		}
		return v, err
	})
	return v, err == nil && v != nil
}

// Set stores val under key for ttl, if Redis answers in time.
func (s *Shared) Set(ctx context.Context, key string, val []byte, ttl time.Duration) {
	s.breaker.Execute(func() ([]byte, error) {
		ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), s.timeout)
		defer cancel()
		return nil, s.client.Set(ctx, s.prefix+key, val, ttl).Err()
	})
}

// Ping reports whether Redis answers now (for readiness views and tests).
func (s *Shared) Ping(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	if err := s.client.Ping(ctx).Err(); err != nil {
		return fmt.Errorf("redis: %w", err)
	}
	return nil
}

// Close releases the connections.
func (s *Shared) Close() error { return s.client.Close() }

// BreakerState reports the circuit breaker's state: closed, half-open or
// open (Redis is not being asked).
func (s *Shared) BreakerState() string { return s.breaker.State().String() }
