package redis

import (
	"context"
	"time"

	goredis "github.com/redis/go-redis/v9"
)

// Sets of strings under a key, with a lifetime: what federation's location
// index keeps (the regions that hold an image). Like every Tier call,
// they never fail their caller.

// SetAdd adds member to the set under key and (re)sets the set's lifetime.
func (s *Tier) SetAdd(ctx context.Context, key, member string, ttl time.Duration) {
	s.breaker.Execute(func() ([]byte, error) {
		ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), s.timeout)
		defer cancel()
		_, err := s.client.TxPipelined(ctx, func(p goredis.Pipeliner) error {
			p.SAdd(ctx, s.prefix+key, member)
			p.PExpire(ctx, s.prefix+key, ttl)
			return nil
		})
		return nil, err
	})
}

// SetRemove removes member from the set under key.
func (s *Tier) SetRemove(ctx context.Context, key, member string) {
	s.breaker.Execute(func() ([]byte, error) {
		ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), s.timeout)
		defer cancel()
		return nil, s.client.SRem(ctx, s.prefix+key, member).Err()
	})
}

// SetMembers returns the members of the set under key, if Redis answers in
// time (an empty set: none).
func (s *Tier) SetMembers(ctx context.Context, key string) ([]string, bool) {
	var members []string
	_, err := s.breaker.Execute(func() ([]byte, error) {
		ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), s.timeout)
		defer cancel()
		var err error
		members, err = s.client.SMembers(ctx, s.prefix+key).Result()
		return nil, err
	})
	return members, err == nil
}
