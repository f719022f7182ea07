package redis

import (
	"context"
	"fmt"
	"time"

	goredis "github.com/redis/go-redis/v9"
)

// Versioned records in the shared tier: a record is stored with the
// version of its key (a counter per key, bumped by every invalidation) that
// was current when its reader took its ticket, and is written only if the
// version has not moved since; a reader believes it only if the versions
// still match. So a slow read on one instance that started before a write
// on another never puts the old record back, whichever instance it runs on.
//
// A version that does not exist yet is seeded from Redis's clock in
// microseconds rather than 1: after a Redis restart (or the version key's
// expiry) a new version can never equal one a ticket taken before holds.

// bumpScript: KEYS[1] the version, KEYS[2] the record (deleted); ARGV[1]
// the version's lifetime in ms, ARGV[2] the channel to publish ARGV[3] on.
// It returns the version and how many subscribers the message reached.
var bumpScript = goredis.NewScript(`
local v
if redis.call('EXISTS', KEYS[1]) == 1 then
  redis.call('INCR', KEYS[1])
  v = redis.call('GET', KEYS[1]) -- its decimal text, as GetVersioned reads it
else
  local t = redis.call('TIME')
  v = string.format('%.0f', tonumber(t[1]) * 1000000 + tonumber(t[2]))
  redis.call('SET', KEYS[1], v)
end
redis.call('PEXPIRE', KEYS[1], ARGV[1])
redis.call('DEL', KEYS[2])
local n = 0
if ARGV[2] ~= '' then n = redis.call('PUBLISH', ARGV[2], ARGV[3]) end
return {v, n}
`)

// setIfVersionScript: KEYS[1] the record, KEYS[2] its version; ARGV[1] the
// version the reader saw, ARGV[2] the record, ARGV[3] its lifetime in ms.
var setIfVersionScript = goredis.NewScript(`
if (redis.call('GET', KEYS[2]) or '') == ARGV[1] then
  redis.call('SET', KEYS[1], ARGV[2], 'PX', ARGV[3])
  return 1
end
return 0
`)

// GetVersioned returns the record under key and the current version of
// versionKey ("" when there is none) in one round trip; ok is false when
// Redis did not answer in time (record nil: no record).
func (s *Tier) GetVersioned(ctx context.Context, key, versionKey string) (record []byte, version string, ok bool) {
	_, err := s.breaker.Execute(func() ([]byte, error) {
		ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), s.timeout)
		defer cancel()
		vals, err := s.client.MGet(ctx, s.prefix+key, s.prefix+versionKey).Result()
		if err != nil {
			return nil, err
		}
		if len(vals) != 2 {
			return nil, fmt.Errorf("redis: MGET answered %d values for 2 keys", len(vals))
		}
		if v, ok := vals[0].(string); ok {
			record = []byte(v)
		}
		version, _ = vals[1].(string)
		return nil, nil
	})
	return record, version, err == nil
}

// SetIfVersion stores val under key for ttl if versionKey's version is
// still version (what GetVersioned answered before the value was read).
// stored says it was; ok is false when Redis did not answer in time.
func (s *Tier) SetIfVersion(ctx context.Context, key, versionKey, version string, val []byte, ttl time.Duration) (stored, ok bool) {
	_, err := s.breaker.Execute(func() ([]byte, error) {
		ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), s.timeout)
		defer cancel()
		n, err := setIfVersionScript.Run(ctx, s.client, []string{s.prefix + key, s.prefix + versionKey},
			version, val, ttl.Milliseconds()).Int()
		stored = n == 1
		return nil, err
	})
	return stored, err == nil
}

// BumpVersion moves versionKey to a new version (kept for versionTTL),
// deletes key, and publishes message on channel ("" publishes nothing),
// atomically. It returns the new version and how many subscribers the
// message reached (on a Redis Cluster: those of the node that ran it); ok
// is false when Redis did not answer in time, and then nothing may have
// happened.
func (s *Tier) BumpVersion(ctx context.Context, key, versionKey string, versionTTL time.Duration, channel, message string) (version string, receivers int, ok bool) {
	if channel != "" {
		channel = s.prefix + channel
	}
	_, err := s.breaker.Execute(func() ([]byte, error) {
		ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), s.timeout)
		defer cancel()
		res, err := bumpScript.Run(ctx, s.client, []string{s.prefix + versionKey, s.prefix + key},
			versionTTL.Milliseconds(), channel, message).Slice()
		if err != nil {
			return nil, err
		}
		if len(res) != 2 {
			return nil, fmt.Errorf("redis: the version bump answered %d values, want 2", len(res))
		}
		version, _ = res[0].(string)
		n, _ := res[1].(int64)
		receivers = int(n)
		return nil, nil
	})
	return version, receivers, err == nil
}

// Publish sends message on channel; ok is false when Redis did not answer
// in time.
func (s *Tier) Publish(ctx context.Context, channel, message string) (ok bool) {
	_, err := s.breaker.Execute(func() ([]byte, error) {
		ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), s.timeout)
		defer cancel()
		return nil, s.client.Publish(ctx, s.prefix+channel, message).Err()
	})
	return err == nil
}

// Subscribe delivers the messages published on channel to onMessage, in
// order, until ctx ends. onSubscribed is called each time the subscription
// is (re-)established — first, and after every reconnection (a Redis
// restart, a lost connection): messages published while it was down are
// lost, and the subscriber must stop believing what they would have
// changed. It returns at once; nothing in it waits on Redis for the caller.
// The channel it returns is closed once ctx ended and the subscription's
// goroutine returned: no callback runs after that, so a subscriber that
// waits for it may release what its callbacks touch.
func (s *Tier) Subscribe(ctx context.Context, channel string, onMessage func(string), onSubscribed func()) <-chan struct{} {
	done := make(chan struct{})
	go func() {
		defer close(done)
		ps := s.client.Subscribe(ctx, s.prefix+channel)
		defer ps.Close()
		ch := ps.ChannelWithSubscriptions(
			goredis.WithChannelSize(4096),
			// An invalidation must not be dropped because the handler
			// was slow for a while; it never is for long.
			goredis.WithChannelSendTimeout(time.Hour),
			goredis.WithChannelHealthCheckInterval(time.Second),
			goredis.WithChannelPingTimeout(max(s.timeout, 100*time.Millisecond)),
			goredis.WithChannelReconnectTimeout(max(s.timeout, 100*time.Millisecond)),
		)
		for {
			select {
			case <-ctx.Done():
				return
			case m, ok := <-ch:
				if !ok {
					return
				}
				switch m := m.(type) {
				case *goredis.Subscription:
					if m.Kind == "subscribe" {
						onSubscribed()
					}
				case *goredis.Message:
					onMessage(m.Payload)
				}
			}
		}
	}()
	return done
}
