package gateway_test

import (
	"os"
	"testing"

	"github.com/spyglass-gateway/spyglass/backends/glance/glancetest"
)

// TestMain stops the Glance that the tests which need some Glance, not a
// fresh one, share (glancetest.SharedT): each start costs seconds of CPU,
// far more on a loaded machine.
func TestMain(m *testing.M) {
	code := m.Run()
	glancetest.StopShared()
	os.Exit(code)
}
