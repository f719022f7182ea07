package local

import "github.com/spyglass-gateway/spyglass/backends"

// applyChanges applies a JSON patch with Glance's semantics; a variable so
// tests can observe it.
var applyChanges = backends.ApplyChanges
