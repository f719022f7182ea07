//go:build race

package federation_test

// raceEnabled: the race detector makes the end-to-end walks several times
// slower, so make test runs them smaller (see TestFederationOverGlanceRegions).
const raceEnabled = true
