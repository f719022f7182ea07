//go:build race

package policy_test

const keystoneRace = true
