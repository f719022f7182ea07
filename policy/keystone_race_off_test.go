//go:build !race

package policy_test

// keystoneRace reports whether the race detector is on (it makes
// allocation counts meaningless).
const keystoneRace = false
