// Package config turns one YAML file, the SPYGLASS_* environment variables
// and command-line flags into a validated Config. Nothing else in Spyglass
// reads configuration: cmd/spyglass hands the relevant parts down as plain
// structs.
//
// Usage:
//
//	// file, then environment, then flags, over Default(); then validated
//	cfg, err := config.Load(path, config.Overrides{Listen: *listen})
//	if err != nil {
//		// config.Problems: every problem at once, one a line, each placed
//		// where its value came from, with its key path and the fix:
//		// spyglass.yaml:4: cache.metadata_ttl: expected a duration like 30s, got 30; add a unit: 30s, 5m, 100ms
//		// spyglass.yaml:9: regions[1].endpont: unknown key; did you mean regions[1].endpoint?
//		// --listen: listen: "nowhere" is not host:port; e.g. 127.0.0.1:9292
//	}
//
// Read is the same without flags and validation (Apply and Validate do
// those steps apart).
//
// One file per concern: config.go is the schema (the structs, whose field
// comments are the reference), defaults.go what a file may leave out,
// load.go reading the file, the environment and the flags, validate.go
// the checks of the whole. decode.go decodes the file through yaml.v3's
// node tree, so that every key keeps its line and every problem is found
// in one pass; problem.go is the shape of a problem and where a value came
// from; suggest.go the "did you mean" of an unknown key.
//
// The configuration reference (docs/config.md, the README's configuration
// table, "spyglass config reference") is generated from the doc comments
// on Config's fields and from Default(); after adding or changing a key,
// regenerate it from the repository root with
//
//	go generate ./config
//
// TestReferenceIsCurrent fails when the committed files differ, and
// Reference fails when a key has no doc comment.
package config

//go:generate go run ./internal/refgen -root ..
