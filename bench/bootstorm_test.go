package main

import (
	"testing"
)

// TestBootstormQuick runs a small storm end to end against real Glance,
// nginx and Spyglass: every download must be the image byte for byte, and
// Spyglass must cost the origin the image once however many hosts ask.
// Times are reported, never asserted (the machine is shared).
func TestBootstormQuick(t *testing.T) {
	if testing.Short() {
		t.Skip("starts Glance, nginx and Spyglass")
	}
	needBench(t)
	opts := StormOptions{ImageSize: 16 << 20, Ns: []int{1, 20}, DirectMaxN: 20, SiteInstances: 3}
	se, err := StartStormEnv(t.Context(), opts)
	if err != nil {
		t.Fatal(err)
	}
	defer se.Close()
	res, err := RunStorm(se, opts)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range res {
		t.Logf("%-14s N=%-3d %s origin×%.2f rec/data %d/%d wall %.2fs ttfb p99 %.3fs %.0f MiB/s", r.Target, r.N, r.Client, r.OriginRatio, r.OriginRecords, r.OriginData, r.WallS, r.TTFBP99, r.MiBps)
		if r.Errors > 0 {
			t.Errorf("%s N=%d: %d downloads failed or had wrong bytes", r.Target, r.N, r.Errors)
		}
		switch r.Target {
		case "spyglass-cold", "site-cold":
			if r.OriginRatio > 1.02 {
				t.Errorf("spyglass cold N=%d cost the origin %.2f× the image", r.N, r.OriginRatio)
			}
			if r.OriginRecords != 1 || r.OriginData != 1 {
				t.Errorf("%s N=%d asked the origin for the record %d times and the data %d times, want once each (per site)",
					r.Target, r.N, r.OriginRecords, r.OriginData)
			}
			if r.Target == "spyglass-cold" && (r.OriginRecordS <= 0 || r.OriginDataS <= 0 || r.OriginBothS <= 0 || r.SHA512CPUS <= 0) {
				t.Errorf("spyglass cold N=%d: what verifying costs is not measured: origin record %v s, data %v s, both %v s, SHA-512 %v s",
					r.N, r.OriginRecordS, r.OriginDataS, r.OriginBothS, r.SHA512CPUS)
			}
		case "spyglass-warm", "site-warm":
			if r.OriginRatio > 0.02 {
				t.Errorf("spyglass warm N=%d cost the origin %.2f× the image", r.N, r.OriginRatio)
			}
		}
	}
}
