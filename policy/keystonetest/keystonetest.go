// Package keystonetest starts a real OpenStack Keystone 22 (Debian's
// python3-keystone, served by uwsgi-core with uwsgi-plugin-python3) on
// loopback for tests, the way backends/glance/glancetest starts a real
// Glance: sqlite, fernet tokens, keystone-manage bootstrap (user admin,
// password admin, project admin, region RegionOne), everything under one
// directory, on a free port.
//
//	func TestX(t *testing.T) {
//		ks := keystonetest.StartT(t)
//		fx := ks.FixtureT(t)             // projects A and B, a member in each, an admin, a reader
//		tok := ks.ProjectTokenT(t, fx.MemberA, fx.ProjectA)
//		...
//	}
//
// The admin calls (projects, users, role assignments, tokens, the service
// catalog) go through gophercloud's identity v3 API, as any client would.
// Only for tests: the admin password is "admin" and password hashing is
// made cheap.
package keystonetest

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/spyglass-gateway/spyglass/internal/testproc"
)

// Python is the interpreter that sees Debian's python3-keystone; the python3
// first on PATH on the build machines is a separate one that does not.
const Python = "/usr/bin/python3"

// UWSGI is uwsgi-core's binary; the python3 plugin comes from
// uwsgi-plugin-python3.
const UWSGI = "/usr/bin/uwsgi-core"

const wsgiScript = "/usr/bin/keystone-wsgi-public"

// StartTimeout bounds db_sync, the key setups, bootstrap and the wait for
// the API to answer. It catches a wedged start, not a slow one: on a
// 2-core machine shared with other test runs a start has taken over 3
// minutes.
const StartTimeout = 10 * time.Minute

// The bootstrap identity: keystone-manage bootstrap creates this user with
// the admin role on this project, and the roles admin, member and reader
// (admin implies member implies reader).
const (
	AdminUser     = "admin"
	AdminPassword = "admin"
	AdminProject  = "admin"
	DefaultDomain = "default"
	Region        = "RegionOne"
)

// Options change the launched Keystone's configuration. The zero value is a
// Keystone whose tokens live one hour.
type Options struct {
	// TokenExpiration is [token] expiration, rounded down to seconds; 0
	// means 3600s. A short one lets a test watch a token expire.
	TokenExpiration time.Duration
}

// Keystone is a running real Keystone v3 on loopback.
type Keystone struct {
	// URL is the base URL, "http://127.0.0.1:PORT", without a trailing
	// slash; AuthURL is URL + "/v3".
	URL string
	// Dir holds keystone.conf, the sqlite database, the key repositories
	// and the logs (manage.log, keystone.log, uwsgi.log).
	Dir string

	opts     Options
	cmd      *exec.Cmd
	done     chan struct{}
	stopOnce sync.Once

	adminMu sync.Mutex
	admin   *adminClient
}

// AuthURL is the Keystone v3 URL clients authenticate against.
func (k *Keystone) AuthURL() string { return k.URL + "/v3" }

// Available reports nil when Keystone, uwsgi and its python3 plugin are
// installed, and otherwise an error saying how to get them.
func Available() error {
	var missing []string
	if out, err := exec.Command(Python, "-c", "import keystone").CombinedOutput(); err != nil {
		missing = append(missing, fmt.Sprintf("python3-keystone (%s cannot import keystone: %v %s)", Python, err, trim(out)))
	}
	if _, err := os.Stat(UWSGI); err != nil {
		missing = append(missing, "uwsgi-core ("+UWSGI+" is missing)")
	}
	if _, err := os.Stat("/usr/lib/uwsgi/plugins/python3_plugin.so"); err != nil {
		missing = append(missing, "uwsgi-plugin-python3 (/usr/lib/uwsgi/plugins/python3_plugin.so is missing)")
	}
	if _, err := os.Stat(wsgiScript); err != nil && len(missing) == 0 {
		missing = append(missing, "python3-keystone ("+wsgiScript+" is missing)")
	}
	if len(missing) > 0 {
		return fmt.Errorf("keystonetest: missing %s; `make deps` installs them (apt-get install -y --no-install-recommends python3-keystone uwsgi-core uwsgi-plugin-python3)", strings.Join(missing, ", "))
	}
	return nil
}

// Start is StartWith with the default options.
func Start(ctx context.Context, dir string) (*Keystone, error) {
	return StartWith(ctx, dir, Options{})
}

// StartWith prepares a Keystone under dir (created if missing: db_sync,
// sqlite in WAL mode, fernet and credential keys, bootstrap) and serves it
// with uwsgi on a free loopback port. It returns once GET /v3 answers 200,
// or fails when ctx ends or StartTimeout passes; the logs stay in dir.
func StartWith(ctx context.Context, dir string, opts Options) (*Keystone, error) {
	if err := Available(); err != nil {
		return nil, err
	}
	dir, err := filepath.Abs(dir)
	if err != nil {
		return nil, err
	}
	for _, sub := range []string{"fernet-keys", "credential-keys"} {
		if err := os.MkdirAll(filepath.Join(dir, sub), 0o700); err != nil {
			return nil, err
		}
	}
	ctx, cancel := context.WithTimeout(ctx, StartTimeout)
	defer cancel()
	k := &Keystone{Dir: dir, opts: opts}

	if err := k.writeConfig(0); err != nil {
		return nil, err
	}
	if err := k.prepare(ctx); err != nil {
		return nil, err
	}

	var lastErr error
	for attempt := 0; attempt < 3; attempt++ {
		if lastErr = k.launch(ctx); lastErr == nil {
			return k, nil
		}
		if ctx.Err() != nil {
			break
		}
	}
	return nil, lastErr
}

// prepared is what db_sync and the key setups leave in a Keystone's
// directory (keystone.db, fernet-keys/*, credential-keys/*, by path
// relative to it), kept for the test binary's life: those four
// keystone-manage runs take seconds of CPU each (far more on a loaded
// machine) and their result does not depend on the instance, so the first
// StartWith runs them and the others copy it. Sharing keys between test
// Keystones is harmless: each has its own database and port.
var prepared struct {
	mu    sync.Mutex
	files map[string][]byte // nil until a preparation succeeded
}

// preparedDirs hold the keys prepare snapshots and restores.
var preparedDirs = []string{"fernet-keys", "credential-keys"}

// prepare leaves a migrated database (in WAL mode) and fernet and
// credential keys in k.Dir.
func (k *Keystone) prepare(ctx context.Context) error {
	prepared.mu.Lock()
	defer prepared.mu.Unlock()
	if prepared.files != nil {
		for rel, b := range prepared.files {
			if err := os.WriteFile(filepath.Join(k.Dir, rel), b, 0o600); err != nil {
				return err
			}
		}
		return nil
	}
	if err := k.manage(ctx, "db_sync"); err != nil {
		return err
	}
	// WAL: with two uwsgi workers the default rollback journal makes a
	// reader in one block a writer in the other ("database is locked", 500).
	// The mode is kept in the database file, so copies keep it.
	if err := k.run(ctx, Python, "-c", "import sqlite3,sys; sqlite3.connect(sys.argv[1]).execute('PRAGMA journal_mode=WAL')", filepath.Join(k.Dir, "keystone.db")); err != nil {
		return fmt.Errorf("keystonetest: sqlite WAL: %w", err)
	}
	owner, group, err := currentUserGroup()
	if err != nil {
		return err
	}
	if err := k.manage(ctx, "fernet_setup", "--keystone-user", owner, "--keystone-group", group); err != nil {
		return err
	}
	if err := k.manage(ctx, "credential_setup", "--keystone-user", owner, "--keystone-group", group); err != nil {
		return err
	}
	files := map[string][]byte{}
	rels := []string{"keystone.db"}
	for _, d := range preparedDirs {
		entries, err := os.ReadDir(filepath.Join(k.Dir, d))
		if err != nil {
			return err
		}
		for _, e := range entries {
			rels = append(rels, filepath.Join(d, e.Name()))
		}
	}
	for _, rel := range rels {
		b, err := os.ReadFile(filepath.Join(k.Dir, rel))
		if err != nil {
			return fmt.Errorf("keystonetest: keeping the prepared %s: %w", rel, err)
		}
		files[rel] = b
	}
	prepared.files = files
	return nil
}

// launch picks a port, bootstraps the catalog's identity endpoint for it
// and serves the API.
func (k *Keystone) launch(ctx context.Context) error {
	port, err := freePort()
	if err != nil {
		return err
	}
	k.URL = "http://127.0.0.1:" + strconv.Itoa(port)
	if err := k.writeConfig(port); err != nil {
		return err
	}
	if err := k.manage(ctx, "bootstrap",
		"--bootstrap-password", AdminPassword,
		"--bootstrap-username", AdminUser,
		"--bootstrap-project-name", AdminProject,
		"--bootstrap-role-name", "admin",
		"--bootstrap-service-name", "keystone",
		"--bootstrap-admin-url", k.AuthURL(),
		"--bootstrap-internal-url", k.AuthURL(),
		"--bootstrap-public-url", k.AuthURL(),
		"--bootstrap-region-id", Region); err != nil {
		return err
	}

	return k.serveOn(ctx, port)
}

// Stop kills the uwsgi process group and waits for it. Safe to call more
// than once.
func (k *Keystone) Stop() error {
	if k.cmd == nil {
		return nil
	}
	k.stopOnce.Do(func() { testproc.Stop(k.cmd, k.done, 10*time.Second) })
	return nil
}

// Restart serves the same Keystone (same database and keys, so tokens it
// issued stay valid) again on the same port, after Stop.
func (k *Keystone) Restart(ctx context.Context) error {
	k.Stop()
	port, err := strconv.Atoi(k.URL[strings.LastIndexByte(k.URL, ':')+1:])
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, StartTimeout)
	defer cancel()
	return k.serveOn(ctx, port)
}

// serveOn serves the prepared Keystone with uwsgi on port and waits for
// GET /v3 to answer 200.
func (k *Keystone) serveOn(ctx context.Context, port int) error {
	logf, err := os.OpenFile(filepath.Join(k.Dir, "uwsgi.log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	cmd := exec.Command(UWSGI,
		"--plugin", "python3",
		"--http-socket", "127.0.0.1:"+strconv.Itoa(port),
		"--wsgi-file", wsgiScript,
		"--env", "OS_KEYSTONE_CONFIG_FILES="+filepath.Join(k.Dir, "keystone.conf"),
		"--master", "--processes", "2", "--threads", "1", "--lazy-apps",
		"--die-on-term", "--need-app", "--buffer-size", "65535",
		// uwsgi's plain --http-socket does no keep-alive: clients that
		// reuse a pooled connection race with uwsgi closing it unless it
		// says so.
		"--add-header", "Connection: close",
	)
	cmd.Env = pythonEnv()
	cmd.Dir = k.Dir
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := testproc.Start(cmd); err != nil {
		logf.Close()
		return fmt.Errorf("keystonetest: start uwsgi: %w", err)
	}
	k.cmd, k.done, k.stopOnce = cmd, make(chan struct{}), sync.Once{}
	go func() { cmd.Wait(); logf.Close(); close(k.done) }()
	client := &http.Client{Timeout: 5 * time.Second}
	tick := time.NewTicker(250 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case <-k.done:
			return fmt.Errorf("keystonetest: uwsgi exited during start-up (%v); see %s", cmd.ProcessState, filepath.Join(k.Dir, "uwsgi.log"))
		case <-ctx.Done():
			k.Stop()
			return fmt.Errorf("keystonetest: Keystone did not answer on %s: %w; see %s and %s", k.AuthURL(), ctx.Err(), filepath.Join(k.Dir, "uwsgi.log"), filepath.Join(k.Dir, "keystone.log"))
		case <-tick.C:
		}
		if bound, err := testproc.Bound(cmd, port); err != nil {
			k.Stop()
			return fmt.Errorf("keystonetest: uwsgi on %s: %w", k.URL, err)
		} else if !bound {
			continue
		}
		if resp, err := client.Get(k.AuthURL()); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
	}
}

// StartT starts a Keystone under t.TempDir() and stops it when the test
// ends. Without Keystone installed it fails the test (never skips): run
// `make deps`.
func StartT(t testing.TB) *Keystone {
	t.Helper()
	return StartTWith(t, Options{})
}

// StartTWith is StartT with options.
func StartTWith(t testing.TB, opts Options) *Keystone {
	t.Helper()
	if err := Available(); err != nil {
		t.Fatalf("real Keystone needed by this test cannot start: %v", err)
	}
	k, err := StartWith(context.Background(), t.TempDir(), opts)
	if err != nil {
		t.Fatalf("real Keystone needed by this test cannot start: %v", err)
	}
	t.Cleanup(func() {
		k.Stop()
		if t.Failed() {
			k.logTail(t)
		}
	})
	return k
}

// LogTail returns the last lines of Keystone's logs, for a failing test.
func (k *Keystone) LogTail() string {
	var b strings.Builder
	for _, name := range []string{"keystone.log", "uwsgi.log"} {
		data, err := os.ReadFile(filepath.Join(k.Dir, name))
		if err != nil || len(data) == 0 {
			continue
		}
		lines := strings.Split(strings.TrimRight(string(data), "\n"), "\n")
		if len(lines) > 20 {
			lines = lines[len(lines)-20:]
		}
		fmt.Fprintf(&b, "%s/%s (last %d lines):\n%s\n", k.Dir, name, len(lines), strings.Join(lines, "\n"))
	}
	return b.String()
}

func (k *Keystone) logTail(t testing.TB) {
	if s := k.LogTail(); s != "" {
		t.Log(s)
	}
}

func (k *Keystone) writeConfig(port int) error {
	exp := int(k.opts.TokenExpiration / time.Second)
	if exp <= 0 {
		exp = 3600
	}
	conf := fmt.Sprintf(`[DEFAULT]
debug = false
log_file = %[1]s/keystone.log
public_endpoint = http://127.0.0.1:%[2]d

[database]
connection = sqlite:///%[1]s/keystone.db

[token]
provider = fernet
expiration = %[3]d

[fernet_tokens]
key_repository = %[1]s/fernet-keys
max_active_keys = 3

[fernet_receipts]
key_repository = %[1]s/fernet-keys

[credential]
key_repository = %[1]s/credential-keys

[identity]
# tests only: cheap password hashing, so creating users is fast
password_hash_algorithm = bcrypt
password_hash_rounds = 4

[cache]
enabled = false

[oslo_policy]
enforce_new_defaults = false
enforce_scope = false
`, k.Dir, port, exp)
	return os.WriteFile(filepath.Join(k.Dir, "keystone.conf"), []byte(conf), 0o600)
}

// manage runs keystone-manage with this Keystone's configuration, its
// output appended to manage.log.
func (k *Keystone) manage(ctx context.Context, args ...string) error {
	argv := append([]string{"/usr/bin/keystone-manage", "--config-file", filepath.Join(k.Dir, "keystone.conf")}, args...)
	if err := k.run(ctx, Python, argv...); err != nil {
		return fmt.Errorf("keystonetest: keystone-manage %s failed: %w; see %s", args[0], err, filepath.Join(k.Dir, "manage.log"))
	}
	return nil
}

func (k *Keystone) run(ctx context.Context, name string, args ...string) error {
	f, err := os.OpenFile(filepath.Join(k.Dir, "manage.log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	defer f.Close()
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Env = pythonEnv()
	cmd.Dir = k.Dir
	cmd.Stdout, cmd.Stderr = f, f
	return testproc.Run(cmd)
}

// pythonEnv keeps Debian's interpreter away from another Python's
// settings.
func pythonEnv() []string {
	env := []string{"PATH=/usr/bin:/bin:/usr/sbin:/sbin", "LANG=C.UTF-8"}
	if home := os.Getenv("HOME"); home != "" {
		env = append(env, "HOME="+home)
	}
	return env
}

func currentUserGroup() (string, string, error) {
	u, err := user.Current()
	if err != nil {
		return "", "", fmt.Errorf("keystonetest: current user: %w", err)
	}
	g, err := user.LookupGroupId(u.Gid)
	if err != nil {
		return "", "", fmt.Errorf("keystonetest: group of %s: %w", u.Username, err)
	}
	return u.Username, g.Name, nil
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

func trim(b []byte) string {
	s := strings.TrimSpace(string(b))
	if len(s) > 300 {
		s = s[:300]
	}
	return s
}
