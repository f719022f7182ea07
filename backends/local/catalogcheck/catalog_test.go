// Package catalogcheck_test holds the compile-time guards that the embedded
// store serves every resource the gateway calls; it lives apart so the
// store's own tests do not depend on the gateway compiling.
package catalogcheck_test

import (
	"github.com/spyglass-gateway/spyglass/backends/local"
	"github.com/spyglass-gateway/spyglass/gateway"
)

var (
	_ gateway.Images    = (*local.Store)(nil)
	_ gateway.ImageData = (*local.Store)(nil)
	_ gateway.Members   = (*local.Store)(nil)
	_ gateway.Tasks     = (*local.Store)(nil)
	_ gateway.Stores    = (*local.Store)(nil)
)
