// Package redis is the tier Spyglass's gateway instances share: one Redis
// reached through go-redis, behind a timeout and a circuit breaker, that
// never fails its caller.
//
// The Redis is one server, a Redis Cluster or a master found through Redis
// Sentinel, whichever Config names (exactly one); the client is a go-redis
// UniversalClient, so the rest of the package does not care which. Every
// call is bounded by Config.Timeout and goes through a circuit breaker; a
// slow or dead Redis is a miss, or a dropped write:
//
//	tier, err := redis.New(redis.Config{
//		Cluster: []string{"10.0.0.1:6379", "10.0.0.2:6379"}, // or Addr, or SentinelMaster+SentinelAddrs
//		Timeout: 100 * time.Millisecond,
//	})
//	if err != nil { ... } // only a configuration error
//	tier.Set(ctx, "cursor:abc", b, 10*time.Minute)
//	b, ok := tier.Get(ctx, "cursor:abc")
//
// Besides plain keys, a Tier offers what its consumers define as small
// interfaces of their own: versioned records and a publish/subscribe
// channel (versioned.go; the metadata cache's meta.VersionedStore), a
// compare-and-swap lease (lease.go; the site's site.Leases) and sets
// (sets.go; federation's location index, federation.SharedSets). It
// imports none of them.
//
// Tests run against real servers: cache/redistest starts a redis-server
// (StartT), a 3-master Redis Cluster (StartClusterT) or a Sentinel watching
// a master (StartSentinelT) on free loopback ports.
package redis
