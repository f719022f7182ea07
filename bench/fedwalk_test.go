package main

import "testing"

// TestFedWalkQuick runs a small federated walk end to end against three
// real Glances and Spyglass over them: Spyglass's walk must be the regions'
// union in Glance's order, each image once (RunFedWalk checks it). Times
// are reported, never asserted (the machine is shared).
func TestFedWalkQuick(t *testing.T) {
	if testing.Short() {
		t.Skip("starts three Glances and Spyglass")
	}
	needBench(t)
	opts := FedWalkOptions{Regions: 3, PerRegion: 60, Limit: 25, Rounds: 1}
	fe, err := StartFedWalkEnv(t.Context(), opts)
	if err != nil {
		t.Fatal(err)
	}
	defer fe.Close()
	res, err := RunFedWalk(fe, opts)
	if err != nil {
		t.Fatal(err)
	}
	if res.Images != 180 {
		t.Errorf("walked %d images, want 180", res.Images)
	}
	for k, v := range FedWalkRatios(res) {
		t.Logf("%s: %.2f", k, v)
	}
}
