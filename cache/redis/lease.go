package redis

import (
	"context"
	"time"

	goredis "github.com/redis/go-redis/v9"
)

// swapScript is a compare-and-swap on one key, atomic in Redis: the lease
// primitive. ARGV: old ("" = absent), new ("" = delete), ttl in ms. It
// returns what the key holds afterwards ("" = absent).
var swapScript = goredis.NewScript(`
local cur = redis.call('GET', KEYS[1])
if cur == false then cur = '' end
if cur ~= ARGV[1] then return cur end
if ARGV[2] == '' then
  redis.call('DEL', KEYS[1])
else
  redis.call('SET', KEYS[1], ARGV[2], 'PX', ARGV[3])
end
return ARGV[2]
`)

// SwapLease sets key to new for ttl ("" deletes it) if it holds old (""
// means absent) and returns what it holds afterwards: cur == new means the
// swap happened. SwapLease(key, "", v, ttl) takes a free lease,
// SwapLease(key, v, v, ttl) refreshes one, SwapLease(key, v, "", 0)
// releases it and SwapLease(key, "", "", 0) only reads. ok is false when
// Redis did not answer in time (or the breaker is open): the caller then
// knows nothing, as with every other Tier call.
func (s *Tier) SwapLease(ctx context.Context, key, old, new string, ttl time.Duration) (cur string, ok bool) {
	ms := max(ttl.Milliseconds(), 1)
	v, err := s.breaker.Execute(func() ([]byte, error) {
		ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), s.timeout)
		defer cancel()
		v, err := swapScript.Run(ctx, s.client, []string{s.prefix + key}, old, new, ms).Text()
		return []byte(v), err
	})
	return string(v), err == nil
}
