// Package config turns one YAML file, the SPYGLASS_* environment variables
// and command-line flags into a validated Config. Nothing else in Spyglass
// reads configuration: cmd/spyglass hands the relevant parts down as plain
// structs.
//
// Usage:
//
//	cfg, err := config.Read(path) // file + environment over Default()
//	if err != nil { ... }
//	if err := cfg.Apply(config.Overrides{Listen: *listen}); err != nil { ... }
//	if err := cfg.Validate(); err != nil {
//		// every problem, one per line, each naming the key and the fix:
//		// regions[1].endpoint: required for kind glance; e.g. http://127.0.0.1:9292
//	}
//
// One file per concern: config.go is the schema (the structs, whose field
// comments are the reference), defaults.go what a file may leave out,
// load.go reading the file, the environment and the flags, validate.go
// the checks of the whole.
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
