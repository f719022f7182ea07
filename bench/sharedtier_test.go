package main

import (
	"testing"
	"time"
)

// TestSharedTierQuick runs the shared-tier scenario small, end to end, on a
// real Glance, a real redis-server and three Spyglass binaries (two sharing
// Redis, one without): the instances must answer the show as Glance does,
// wrk must get only 2xx from both, and every write through one instance
// must become visible on the other (RunSharedTier fails a round after 30 s
// without it). Throughput and latency are reported, never asserted (the
// machine is shared).
func TestSharedTierQuick(t *testing.T) {
	if testing.Short() {
		t.Skip("starts Glance, redis-server and three Spyglass instances")
	}
	needBench(t)
	opts := SharedTierOptions{Images: 3, Load: WrkOptions{Duration: time.Second, Conns: 4, Threads: 1}, LoadPairs: 1, Rounds: 20}
	st, err := StartSharedTierEnv(t.Context(), opts)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	res, err := RunSharedTier(t.Context(), st, opts)
	if err != nil {
		t.Fatal(err)
	}
	if res.Rounds != opts.Rounds {
		t.Errorf("measured %d invalidations, want %d", res.Rounds, opts.Rounds)
	}
	if len(res.Load) != 2 {
		t.Errorf("%d wrk runs, want one on and one off", len(res.Load))
	}
	for k, v := range SharedTierRatios(res) {
		t.Logf("%s: %.3f", k, v)
	}
}
