package glance_test

import (
	"github.com/spyglass-gateway/spyglass/backends/glance"
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
