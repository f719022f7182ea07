// Package catalogcheck_test holds the compile-time guard that the embedded
// store satisfies gateway.Catalog; it lives apart so the store's own tests
// do not depend on the gateway compiling.
package catalogcheck_test

import (
	"github.com/spyglass-gateway/spyglass/backends/local"
	"github.com/spyglass-gateway/spyglass/gateway"
)

var _ gateway.Catalog = (*local.Store)(nil)
