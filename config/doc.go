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
package config
