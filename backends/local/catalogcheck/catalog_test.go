// Package catalogcheck_test holds the compile-time guards that the embedded
// store serves every resource the gateway and the federation call; it
// lives apart so the store's own tests do not depend on either compiling.
package catalogcheck_test

import (
	"github.com/spyglass-gateway/spyglass/backends/local"
	"github.com/spyglass-gateway/spyglass/federation"
	"github.com/spyglass-gateway/spyglass/gateway"
)

var (
	_ gateway.Images    = (*local.Store)(nil)
	_ gateway.ImageData = (*local.Store)(nil)
	_ gateway.Members   = (*local.Store)(nil)
	_ gateway.Tasks     = (*local.Store)(nil)
	_ gateway.Stores    = (*local.Store)(nil)
)

var (
	_ federation.Images     = (*local.Store)(nil)
	_ federation.ImageData  = (*local.Store)(nil)
	_ federation.Members    = (*local.Store)(nil)
	_ federation.Tasks      = (*local.Store)(nil)
	_ federation.StoreNamer = (*local.Store)(nil)
)
