package glance_test

import (
	"github.com/spyglass-gateway/spyglass/backends/glance"
	"github.com/spyglass-gateway/spyglass/federation"
	"github.com/spyglass-gateway/spyglass/gateway"
)

// The region serves every resource the gateway calls, on its own.
var (
	_ gateway.Images    = (*glance.Region)(nil)
	_ gateway.ImageData = (*glance.Region)(nil)
	_ gateway.Members   = (*glance.Region)(nil)
	_ gateway.Tasks     = (*glance.Region)(nil)
	_ gateway.Stores    = (*glance.Region)(nil)
)

// It is a region the federation catalog can put behind its caches.
var (
	_ federation.Images     = (*glance.Region)(nil)
	_ federation.ImageData  = (*glance.Region)(nil)
	_ federation.Members    = (*glance.Region)(nil)
	_ federation.Tasks      = (*glance.Region)(nil)
	_ federation.StoreNamer = (*glance.Region)(nil)
	_ federation.Fetcher    = (*glance.Region)(nil)
)
