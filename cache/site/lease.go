package site

import (
	"context"
	"strings"
	"time"
)

// Leases is the shared store a site's gateway instances coordinate fills
// through (redis.Tier): one compare-and-swap on a key with a TTL.
type Leases interface {
	// SwapLease sets key to new for ttl ("" deletes it) if it holds old
	// ("" means absent) and returns what it holds afterwards; ok is false
	// when the store did not answer.
	SwapLease(ctx context.Context, key, old, new string, ttl time.Duration) (cur string, ok bool)
}

// Default lease times. A filler refreshes its lease every third of
// LeaseTTL, so a dead filler is noticed within LeaseTTL; a finished one
// keeps pointing the site at its complete entry for haveTTL.
const (
	defaultLeaseTTL = 5 * time.Second
	haveTTL         = 10 * time.Minute
)

// A lease value says who fills an image for the site, or who has it whole:
// "fill <instance> <peer URL>" or "have <instance> <peer URL>". The instance
// id (random per process) tells a peer that answers on a reused address
// from the one that took the lease.
type lease struct {
	have     bool
	instance string
	url      string
}

func (l lease) String() string {
	state := "fill"
	if l.have {
		state = "have"
	}
	return state + " " + l.instance + " " + l.url
}

// parseLease reads a lease value; ok is false for anything else (the key
// was written by something that is not a Spyglass of this version).
func parseLease(s string) (l lease, ok bool) {
	f := strings.Fields(s)
	if len(f) != 3 || (f[0] != "fill" && f[0] != "have") {
		return lease{}, false
	}
	if !strings.HasPrefix(f[2], "http://") && !strings.HasPrefix(f[2], "https://") {
		return lease{}, false
	}
	l = lease{have: f[0] == "have", instance: f[1], url: f[2]}
	return l, l.String() == s // canonical: what String wrote
}
