package glance_test

import (
	"github.com/spyglass-gateway/spyglass/backends/glance"
	"github.com/spyglass-gateway/spyglass/gateway"
)

// The region is a catalog the gateway can serve on its own.
var _ gateway.Catalog = (*glance.Region)(nil)
