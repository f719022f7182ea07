// Package redistest runs a real redis-server on a free loopback port for
// tests: no persistence, its own directory, stopped at the test's end.
// StartClusterT forms a real Redis Cluster of such servers (cluster-enabled,
// slots assigned, nodes met), and StartSentinelT a real Sentinel
// (redis-server --sentinel) watching one.
package redistest

import (
	"errors"
	"fmt"
	"net"
	"os/exec"
	"strconv"
	"testing"
	"time"

	"github.com/spyglass-gateway/spyglass/internal/testproc"
)

// Redis is a running redis-server.
type Redis struct {
	Addr string
	cmd  *exec.Cmd
	dir  string
	port int
	args []string // the command line after "redis-server"
}

// StartT starts a redis-server for t, or fails t saying how to install it
// (make deps does); it is stopped when t ends.
func StartT(t testing.TB) *Redis {
	t.Helper()
	return newT(t)
}

// newT starts a redis-server for t with extra arguments.
func newT(t testing.TB, extra ...string) *Redis {
	t.Helper()
	needServer(t)
	return startOnFreePort(t, func(port int) (*Redis, error) {
		r := &Redis{Addr: fmt.Sprintf("127.0.0.1:%d", port), dir: t.TempDir(), port: port}
		r.args = append([]string{"--port", strconv.Itoa(port), "--bind", "127.0.0.1",
			"--save", "", "--appendonly", "no", "--dir", r.dir, "--protected-mode", "no"}, extra...)
		return r, nil
	})
}

// startOnFreePort starts the server build makes for a free port, and
// stops it when t ends; when another process takes the port first, it
// starts over on another (three times at most).
func startOnFreePort(t testing.TB, build func(port int) (*Redis, error)) *Redis {
	t.Helper()
	for attempt := 1; ; attempt++ {
		r, err := build(freePort(t))
		if err == nil {
			err = r.Start()
		}
		if err == nil {
			t.Cleanup(r.Stop)
			return r
		}
		if !errors.Is(err, testproc.ErrPortTaken) || attempt == 3 {
			t.Fatal(err)
		}
	}
}

func needServer(t testing.TB) {
	t.Helper()
	if _, err := exec.LookPath("redis-server"); err != nil {
		t.Fatalf("redis-server is needed (apt-get install redis-server; make deps installs it): %v", err)
	}
}

// Start (re)starts the server on its address; it returns once the server
// accepts connections.
func (r *Redis) Start() error {
	r.cmd = exec.Command("redis-server", r.args...)
	r.cmd.Dir = r.dir
	if err := testproc.Start(r.cmd); err != nil { // dies with the test binary
		return err
	}
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		if bound, err := testproc.Bound(r.cmd, r.port); err != nil {
			r.Stop()
			return fmt.Errorf("redis-server on %s: %w", r.Addr, err)
		} else if !bound {
			time.Sleep(20 * time.Millisecond)
			continue
		}
		if c, err := net.Dial("tcp", r.Addr); err == nil {
			c.Close()
			return nil
		}
		time.Sleep(20 * time.Millisecond)
	}
	r.Stop()
	return fmt.Errorf("redis-server on %s did not start within 10s", r.Addr)
}

// Stop kills the server (as a crash would: nothing is saved).
func (r *Redis) Stop() {
	if r.cmd != nil && r.cmd.Process != nil {
		testproc.Kill(r.cmd)
		r.cmd.Wait()
		r.cmd = nil
	}
}
