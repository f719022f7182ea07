//go:build race

package local

// raceEnabled: the race detector makes the pure-Go SQLite ~30x slower, so
// property tests run fewer cases under it.
const raceEnabled = true
