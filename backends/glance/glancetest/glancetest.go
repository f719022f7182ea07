// Package glancetest starts a real OpenStack Glance 25 API (Debian's
// python3-glance) on loopback for tests, so that project tests use Glance as
// the oracle without depending on anything outside the repository.
//
// The Glance it starts believes trusted identity headers (X-Identity-Status:
// Confirmed, X-Project-Id, X-User-Id, X-Roles), keeps metadata in sqlite and
// image data in a file store, all under one directory:
//
//	func TestX(t *testing.T) {
//		g := glancetest.StartT(t)
//		req, _ := http.NewRequest("GET", g.URL+"/v2/images", nil)
//		glancetest.SetCaller(req.Header, "p1", "u1", "member")
//		...
//	}
//
// Only for tests on loopback: anyone who reaches the port can claim any
// identity. With Options.Keystone it validates Keystone tokens instead
// (keystonemiddleware, Glance's stock "keystone" flavor), as the reference
// Glance of cmd/spyglass's Tempest run does.
package glancetest

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/spyglass-gateway/spyglass/internal/testproc"
)

// Python is the interpreter that sees Debian's python3-glance. The python3
// first on PATH on the build machines is a separate interpreter that does not.
const Python = "/usr/bin/python3"

// StartTimeout bounds how long Start waits for db_sync plus the API to
// answer. It catches a wedged start, not a slow one: on a 2-core machine
// shared with other test runs a start has taken 90 s.
const StartTimeout = 10 * time.Minute

// Glance is a running real Glance API on loopback with trusted-header auth.
type Glance struct {
	// URL is the API's base URL, "http://127.0.0.1:PORT", without a trailing slash.
	URL string
	// Dir holds the configuration, sqlite database, file stores and logs
	// (db_sync.log, api.log, stdout.log).
	Dir string

	cmd      *exec.Cmd
	done     chan struct{} // closed when cmd has been waited for
	stopOnce sync.Once
	stopErr  error
}

// Available reports nil when /usr/bin/python3 can import glance, and
// otherwise an error saying how to get it.
func Available() error {
	out, err := exec.Command(Python, "-c", "import glance").CombinedOutput()
	if err != nil {
		return fmt.Errorf("glancetest: %s cannot import glance (%v: %s); install python3-glance (`make test` does: apt-get install -y --no-install-recommends python3-glance)", Python, err, bytesTrim(out))
	}
	return nil
}

// Start runs glance-manage db_sync and then glance-api on a free loopback
// port, with everything under dir (created if missing), and returns once
// the API answers GET / or ctx ends or StartTimeout passes. On error the
// process is stopped and the logs stay in dir.
func Start(ctx context.Context, dir string) (*Glance, error) {
	return StartWith(ctx, dir, Options{})
}

// StartWith is Start with a choice of policy (Options).
func StartWith(ctx context.Context, dir string, opts Options) (*Glance, error) {
	if err := Available(); err != nil {
		return nil, err
	}
	dir, err := filepath.Abs(dir)
	if err != nil {
		return nil, err
	}
	for _, sub := range []string{"images", "staging", "tasks", "lock", "cache"} {
		if err := os.MkdirAll(filepath.Join(dir, sub), 0o755); err != nil {
			return nil, err
		}
	}
	ctx, cancel := context.WithTimeout(ctx, StartTimeout)
	defer cancel()

	// The schema first (db_sync once per test binary, copied after): the
	// port is picked just before the API binds it to keep the window for
	// another process to take it small.
	if err := writeConfig(dir, 0, opts); err != nil {
		return nil, err
	}
	if err := prepareDB(ctx, dir); err != nil {
		return nil, err
	}
	if opts.Metadefs != "" {
		metadefs, err := filepath.Abs(opts.Metadefs)
		if err != nil {
			return nil, err
		}
		if err := runLogged(ctx, filepath.Join(dir, "db_load_metadefs.log"), Python, "-c", pyMain("glance-manage", "glance.cmd.manage", dir, "db_load_metadefs", metadefs)); err != nil {
			return nil, fmt.Errorf("glancetest: db_load_metadefs %s failed (see %s): %w", metadefs, filepath.Join(dir, "db_load_metadefs.log"), err)
		}
	}

	var lastErr error
	for attempt := 0; attempt < 3; attempt++ {
		g, err := launch(ctx, dir, opts)
		if err == nil {
			return g, nil
		}
		lastErr = err
		if ctx.Err() != nil {
			break
		}
	}
	return nil, lastErr
}

// schema is the sqlite database right after glance-manage db_sync, kept
// for the test binary's life: db_sync takes seconds of CPU (minutes on a
// loaded machine), and the schema is the same for every Options, so the
// first Start runs it and the others copy its result.
var schema struct {
	mu sync.Mutex
	db []byte // nil until a db_sync succeeded
}

// prepareDB leaves a freshly migrated glance.sqlite in dir.
func prepareDB(ctx context.Context, dir string) error {
	path := filepath.Join(dir, "glance.sqlite")
	schema.mu.Lock()
	defer schema.mu.Unlock()
	if schema.db != nil {
		return os.WriteFile(path, schema.db, 0o644)
	}
	if err := runLogged(ctx, filepath.Join(dir, "db_sync.log"), Python, "-c", pyMain("glance-manage", "glance.cmd.manage", dir, "db_sync")); err != nil {
		return fmt.Errorf("glancetest: db_sync failed (see %s): %w", filepath.Join(dir, "db_sync.log"), err)
	}
	db, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("glancetest: db_sync left no database: %w", err)
	}
	schema.db = db
	return nil
}

// launch starts the API once on a freshly picked port.
func launch(ctx context.Context, dir string, opts Options) (*Glance, error) {
	port, err := pickPort()
	if err != nil {
		return nil, err
	}
	if err := writeConfig(dir, port, opts); err != nil {
		return nil, err
	}
	out, err := os.OpenFile(filepath.Join(dir, "stdout.log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(Python, "-c", pyMain("glance-api", "glance.cmd.api", dir))
	cmd.Stdout, cmd.Stderr = out, out
	// Own process group: glance-api forks a worker, and Stop must kill
	// both; killed with the test binary, however it ends.
	cmd.Dir = dir
	if err := testproc.Start(cmd); err != nil {
		out.Close()
		return nil, fmt.Errorf("glancetest: start glance-api: %w", err)
	}
	g := &Glance{URL: "http://127.0.0.1:" + strconv.Itoa(port), Dir: dir, cmd: cmd, done: make(chan struct{})}
	go func() { cmd.Wait(); out.Close(); close(g.done) }()

	client := &http.Client{Timeout: 2 * time.Second}
	tick := time.NewTicker(200 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case <-g.done:
			return nil, fmt.Errorf("glancetest: glance-api exited during start-up (%v); see %s and %s", cmd.ProcessState, filepath.Join(dir, "api.log"), filepath.Join(dir, "stdout.log"))
		case <-ctx.Done():
			g.Stop()
			return nil, fmt.Errorf("glancetest: glance-api did not answer on %s: %w; see %s", g.URL, ctx.Err(), filepath.Join(dir, "api.log"))
		case <-tick.C:
		}
		if bound, err := testproc.Bound(cmd, port); err != nil {
			g.Stop()
			return nil, fmt.Errorf("glancetest: glance-api on %s: %w", g.URL, err)
		} else if !bound {
			continue
		}
		resp, err := client.Get(g.URL + "/versions")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return g, nil
			}
		}
	}
}

// Stop kills the API's process group and waits for it. It is safe to call
// more than once.
func (g *Glance) Stop() error {
	g.stopOnce.Do(func() { testproc.Stop(g.cmd, g.done, 10*time.Second) })
	return g.stopErr
}

// StartT starts a Glance under t.TempDir() and stops it when the test ends.
// Without python3-glance it fails the test (never skips): run `make test`,
// which installs it.
func StartT(t testing.TB) *Glance {
	t.Helper()
	return StartTWith(t, Options{})
}

// StartTWith is StartT with a choice of policy (Options).
func StartTWith(t testing.TB, opts Options) *Glance {
	t.Helper()
	if err := Available(); err != nil {
		t.Fatalf("real Glance needed by this test is not installed: %v. Run `make test`, which installs python3-glance.", err)
	}
	g, err := StartWith(context.Background(), t.TempDir(), opts)
	if err != nil {
		t.Fatalf("%v", err)
	}
	t.Cleanup(func() {
		g.Stop()
		if t.Failed() {
			logTail(t, g)
		}
	})
	return g
}

// logTail logs the tail of g's api.log: enough for a crash or a 500's
// traceback.
func logTail(t testing.TB, g *Glance) {
	if b, err := os.ReadFile(filepath.Join(g.Dir, "api.log")); err == nil && len(b) > 0 {
		lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
		if len(lines) > 30 {
			lines = lines[len(lines)-30:]
		}
		t.Logf("glance %s/api.log (last %d lines):\n%s", g.Dir, len(lines), strings.Join(lines, "\n"))
	}
}

// SetCaller sets the trusted identity headers Glance's context middleware
// believes. roles is a comma-separated list; "admin,member" is an admin.
func SetCaller(h http.Header, project, user, roles string) {
	h.Set("X-Identity-Status", "Confirmed")
	h.Set("X-Project-Id", project)
	h.Set("X-User-Id", user)
	h.Set("X-Roles", roles)
}

func pyMain(argv0, module, dir string, args ...string) string {
	argv := fmt.Sprintf("[%q, '--config-file', %q", argv0, filepath.Join(dir, "glance-api.conf"))
	for _, a := range args {
		argv += fmt.Sprintf(", %q", a)
	}
	argv += "]"
	return fmt.Sprintf("import sys; sys.argv=%s; from %s import main; main()", argv, module)
}

func runLogged(ctx context.Context, logPath string, name string, args ...string) error {
	f, err := os.Create(logPath)
	if err != nil {
		return err
	}
	defer f.Close()
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Stdout, cmd.Stderr = f, f
	return testproc.Run(cmd)
}

// pickPort is freePort; a test makes it hand out a taken port.
var pickPort = freePort

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

func bytesTrim(b []byte) string {
	s := string(b)
	if len(s) > 300 {
		s = s[:300]
	}
	return s
}

// shared is the test binary's one Glance that SharedT hands out.
var shared struct {
	mu  sync.Mutex
	g   *Glance
	dir string
	err error
}

// SharedT returns the test binary's one Glance (stock policy, Options{}),
// started by the first call and kept until StopShared: a package whose
// tests each need some Glance, not a fresh one, pays its start-up once.
// Tests that share it must keep to their own images (fresh ids, their own
// names and projects), and must not stop it or depend on what a listing
// of the whole Glance holds. A failed start fails every caller.
func SharedT(t testing.TB) *Glance {
	t.Helper()
	if err := Available(); err != nil {
		t.Fatalf("real Glance needed by this test is not installed: %v. Run `make test`, which installs python3-glance.", err)
	}
	shared.mu.Lock()
	if shared.g == nil && shared.err == nil {
		shared.dir, shared.err = os.MkdirTemp("", "glancetest-shared-")
		if shared.err == nil {
			shared.g, shared.err = Start(context.Background(), shared.dir)
		}
	}
	g, err := shared.g, shared.err
	shared.mu.Unlock()
	if err != nil {
		t.Fatalf("the shared Glance: %v", err)
	}
	t.Cleanup(func() {
		if t.Failed() {
			logTail(t, g)
		}
	})
	return g
}

// StopShared stops the Glance SharedT started, if any, and removes its
// directory. Call it from TestMain after m.Run; without it the Glance
// still dies with the test binary (see internal/testproc), but its
// directory stays.
func StopShared() {
	shared.mu.Lock()
	defer shared.mu.Unlock()
	if shared.g != nil {
		shared.g.Stop()
	}
	if shared.dir != "" {
		os.RemoveAll(shared.dir)
	}
	shared.g, shared.dir, shared.err = nil, "", nil
}
