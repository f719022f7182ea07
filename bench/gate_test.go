package main

import (
	"os"
	"testing"
)

// needBench skips a scenario test unless SPYGLASS_BENCH is set: each starts
// real Glances, nginx, Redis and Spyglass binaries and loads them like a
// benchmark, minutes under -race on a 2-core machine, so make test leaves
// them to make bench-quick (which CI runs, and make bench too).
func needBench(t *testing.T) {
	t.Helper()
	if os.Getenv("SPYGLASS_BENCH") == "" {
		t.Skipf("benchmark-sized scenario: run by `make bench-quick` (CI runs it), or SPYGLASS_BENCH=1 go test -run '^%s$' ./bench/", t.Name())
	}
}
