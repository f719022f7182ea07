package config

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"os"
	"regexp"
	"strconv"
	"strings"
	"time"

	"gopkg.in/yaml.v3"
)

// Config is the whole of Spyglass's configuration: one YAML file, then the
// SPYGLASS_* environment variables, then command-line flags. The zero value
// is not valid; start from Default (Read and Load do).
//
// The field comments are the configuration reference: docs/config.md and
// the README's configuration table are generated from them and from
// Default() by `go generate ./config` (see reference.go). Every field needs
// one; write it for an operator: what the key is, its default, what zero or
// empty means, and "Env SPYGLASS_X; flag --x." where there is one.
type Config struct {
	// Listen is the TCP address (host:port) of the Images API. Port 0
	// picks a free port. Env SPYGLASS_LISTEN; flag --listen.
	Listen string `yaml:"listen"`
	// Auth says how callers are identified.
	Auth Auth `yaml:"auth"`
	// Policy says what callers may do.
	Policy Policy `yaml:"policy"`
	// Regions are the image stores behind the gateway, exposed to clients
	// as Glance stores. Empty or absent: the default, one embedded region.
	// With several (any mix of kinds) they are served as one catalog:
	// listings merged in Glance's exact order and paging, writes routed to
	// the region(s) holding the image, regions offered as stores (see the
	// README's "Several regions").
	Regions []Region `yaml:"regions"`
	// DefaultRegion is the region new images are created in when the
	// client names no store. Defaults to the only region; required with
	// more than one region.
	DefaultRegion string `yaml:"default_region"`
	// ProjectRegions maps a project id to a region name: where that
	// project's new images are created when the client names no store,
	// instead of `default_region`.
	ProjectRegions map[string]string `yaml:"project_regions"`
	// Federation configures how several regions are served as one.
	Federation Federation `yaml:"federation"`
	// Cache configures the metadata cache and the image data cache.
	Cache Cache `yaml:"cache"`
	// Redis is the shared cache tier between gateway instances.
	Redis Redis `yaml:"redis"`
	// Telemetry configures metrics and traces.
	Telemetry Telemetry `yaml:"telemetry"`
	// Admin is the operators' listener: metrics, readiness, the image data
	// cache's controls and the peer endpoint other instances fill from.
	Admin Admin `yaml:"admin"`
	// ImageSizeCap is the largest image accepted on upload, Glance's
	// `image_size_cap`; larger uploads get 413. A size (`1TiB`); `0`:
	// Glance's default, 1 TiB.
	ImageSizeCap Size `yaml:"image_size_cap"`
	// Log configures the process's log (stderr).
	Log Log `yaml:"log"`
	// ShutdownTimeout is, on SIGTERM or SIGINT, how long to wait for
	// requests in flight (uploads included) to finish before exiting; `0`:
	// do not wait.
	ShutdownTimeout time.Duration `yaml:"shutdown_timeout"`
}

// Auth says how callers are identified.
type Auth struct {
	// Mode is `noauth`: every caller is an admin with no project (Glance's
	// noauth). `trusted`: identity from `X-Identity-Status`, `X-User-Id`,
	// `X-Project-Id`, `X-Roles` set by a trusted proxy. `keystone`:
	// validate `X-Auth-Token` (or `X-Storage-Token`) with Keystone v3
	// using the service credentials of `auth.keystone`, as
	// keystonemiddleware does: a missing or rejected token gets 401 with
	// `WWW-Authenticate: Keystone uri="..."`, and a new token while
	// Keystone cannot be reached gets 503. Verdicts are cached in memory
	// (keyed by a hash of the token), so a known token costs no Keystone
	// call. Env SPYGLASS_AUTH; flag --auth.
	Mode string `yaml:"mode"`
	// Keystone holds the service credentials used to validate tokens (when
	// `auth.mode` is `keystone`) and to read the service catalog (for a
	// glance region given by `region_name`).
	Keystone Keystone `yaml:"keystone"`
}

// Policy selects Glance's authorization rules.
type Policy struct {
	// Defaults is the set of Glance's authorization rules to start from.
	// `current`: Glance's secure-RBAC defaults (`reader`, `member`, `admin`
	// roles in the caller's project; what Glance does with
	// `[oslo_policy] enforce_new_defaults`, `enforce_scope` and
	// `[DEFAULT] enforce_secure_rbac` all true). Roles are not implied:
	// behind a trusted proxy, send every role the caller has
	// (`admin,member,reader`), as Keystone tokens carry them. `legacy`: a
	// stock Glance 25 (deprecated defaults: any role may read and create,
	// only the owner or an admin changes an image, publicizing and the
	// Tasks API need `admin`).
	Defaults string `yaml:"defaults"`
	// File is an oslo.policy YAML or JSON file (Glance's `policy.yaml`)
	// whose rules override the defaults, e.g.
	// `"publicize_image": "role:admin or role:image_publisher"`. Syntax:
	// `role:x`, `rule:name`, `project_id:%(owner)s` (a credential —
	// `user_id`, `project_id`, `roles`, `domain_id`… — against the target
	// image: `owner`/`project_id`, `member_id`, `visibility`, `id`,
	// `name`, `status`, … or an extra property),
	// `'literal':%(visibility)s`, `and`/`or`/`not`, parentheses, `@` or
	// `""` (always), `!` (never). As in Glance 25, `is_admin:True` never
	// matches (oslo.policy's credentials have no `is_admin`): use
	// `role:admin` or `rule:context_is_admin`. Compiled once at start-up;
	// a syntax error, a `rule:` naming no rule, or a cycle stops the start
	// with the file and line; on SIGHUP it is read again, and an error
	// there keeps the rules in force. Empty: no file.
	File string `yaml:"file"`
}

// Policy default sets.
const (
	PolicyCurrent = "current"
	PolicyLegacy  = "legacy"
)

// Keystone holds the service credentials used to validate tokens (when
// auth.mode is keystone) and to read the service catalog (for a glance
// region given by region_name).
type Keystone struct {
	// AuthURL is Keystone's v3 URL, e.g. `http://127.0.0.1:5000/v3`.
	// Required in `keystone` mode and for regions given by `region_name`.
	AuthURL string `yaml:"auth_url"`
	// Username is the gateway's service user. It validates other users'
	// tokens, so it needs the `admin` (or `service`) role on its project.
	// Required with `auth_url`.
	Username string `yaml:"username"`
	// Password is the service user's password. Required with `auth_url`.
	Password string `yaml:"password"`
	// ProjectName is the service user's project, e.g. `service`. Required
	// with `auth_url`.
	ProjectName string `yaml:"project_name"`
	// UserDomainName is the service user's domain.
	UserDomainName string `yaml:"user_domain_name"`
	// ProjectDomainName is the domain of the service user's project.
	ProjectDomainName string `yaml:"project_domain_name"`
	// TokenCacheTTL is how long a validated token is believed without
	// asking Keystone again: role changes and revocations are seen after
	// at most this long. Never past the token's expiry: an expired token
	// is refused even while cached.
	TokenCacheTTL time.Duration `yaml:"token_cache_ttl"`
	// InvalidTokenTTL is how long a token Keystone rejected is refused
	// without asking again.
	InvalidTokenTTL time.Duration `yaml:"invalid_token_ttl"`
	// Timeout bounds one call to Keystone. After a failure a circuit
	// breaker answers new tokens 503 at once for a few seconds; tokens
	// validated before keep working until they expire.
	Timeout time.Duration `yaml:"timeout"`
	// WWWAuthenticateURI is where 401s tell clients to get a token
	// (`WWW-Authenticate: Keystone uri="..."`), keystonemiddleware's
	// `www_authenticate_uri`. Empty: `auth_url`.
	WWWAuthenticateURI string `yaml:"www_authenticate_uri"`
	// Interface is the catalog interface used for regions given by
	// `region_name`: `public`, `internal` or `admin`.
	Interface string `yaml:"interface"`
}

// Federation configures how several regions are served as one.
type Federation struct {
	// OnRegionFailure is, with several regions, what a listing does when a
	// region cannot be reached (error, timeout, open breaker): `answer`
	// from the other regions and name the missing ones in the
	// `X-Spyglass-Missing-Regions` response header, or `fail` with 503.
	// Either way the next links stay exact for when the region is back.
	OnRegionFailure string `yaml:"on_region_failure"`
	// CursorTTL is how long each region's position behind a listing page's
	// `next` marker is remembered, so the next page costs one request per
	// region. A marker with nothing remembered (expired, from another
	// instance, hand-built) still gives the exact page, with a few more
	// requests.
	CursorTTL time.Duration `yaml:"cursor_ttl"`
}

// Region is one image store behind the gateway: an element of the
// `regions` list.
type Region struct {
	// Name is the store id clients see (`GET /v2/info/stores`, an image's
	// `stores`). Required, unique; letters, digits, `.`, `_`, `-`.
	Name string `yaml:"name"`
	// Kind is required. `local`: the embedded store. `glance`: a remote
	// Glance v2, its metadata cached (`cache.metadata_ttl`) and its image
	// data cached on disk (`cache.dir`).
	Kind string `yaml:"kind"`
	// DataDir is, for `local` (required), the directory of the store's
	// database and image data, created if missing. Env SPYGLASS_DATA_DIR
	// and flag --data-dir set it for the default region.
	DataDir string `yaml:"data_dir"`
	// Endpoint is, for `glance` (this or `region_name` is required), the
	// region's Images API URL, e.g. `http://127.0.0.1:19292`.
	Endpoint string `yaml:"endpoint"`
	// RegionName is, for `glance` without `endpoint`, the Keystone region
	// whose `image` endpoint in the service catalog is the region's Images
	// API, e.g. `RegionOne`; read at start-up with the `auth.keystone`
	// credentials.
	RegionName string `yaml:"region_name"`
	// Interface is, with `region_name`, the catalog interface: `public`,
	// `internal` or `admin`. Empty: `auth.keystone.interface`.
	Interface string `yaml:"interface" default:"auth.keystone.interface"`
	// ConnectTimeout is, for `glance`, the bound on connecting to the
	// region.
	ConnectTimeout time.Duration `yaml:"connect_timeout" default:"5s"`
	// ReadTimeout is, for `glance`, the bound on waiting for an answer and
	// on every stall of a data stream. After repeated failures the
	// region's circuit breaker opens and calls fail fast (503) until it
	// half-opens again.
	ReadTimeout time.Duration `yaml:"read_timeout" default:"30s"`
	// Nulls is where the region's database sorts NULL ascending: `first`
	// (SQLite, MySQL, the embedded store) or `last` (PostgreSQL). Merged
	// listings need every region to order alike: a mix is a start-up
	// error.
	Nulls string `yaml:"nulls" default:"first"`
	// Collation is how the region's database orders strings: `binary`
	// (SQLite, the embedded store, PostgreSQL with the C collation) or
	// `nocase` (MySQL's `*_ci` collations). Must be the same in every
	// region.
	Collation string `yaml:"collation" default:"binary"`
	// MaxPage is the region's `api_limit_max`: the most images one listing
	// request to it returns.
	MaxPage int `yaml:"max_page" default:"1000"`
}

// Cache configures the caches of remote (glance) regions' metadata and data;
// an embedded region needs none.
type Cache struct {
	// Dir is the directory of the image data cache (remote regions). The
	// default is not `./cache`: in a checkout that is the cache package.
	Dir string `yaml:"dir"`
	// MaxSize bounds the image data cache on disk; `0` disables it. A size:
	// bytes or a number with a unit, `KiB`, `MiB`, `GiB`, `TiB`, `PiB`
	// (×1024; also `K`, `M`, `G`…) or `kB`, `MB`, `GB`, `TB`, `PB` (×1000).
	// SIGHUP applies a new bound (and new watermarks) to a running cache.
	MaxSize Size `yaml:"max_size"`
	// MetadataTTL is how long remote image metadata is served from cache;
	// `0` disables it. Every write through Spyglass invalidates the image's
	// record before it answers. With several regions, also how long images
	// a listing page read ahead may serve the walk's next page, unless a
	// write went through this instance since (or, with a shared tier,
	// through another one, once its invalidation arrived); `0`: every page
	// re-reads the regions.
	MetadataTTL time.Duration `yaml:"metadata_ttl"`
	// StaleIfError is how long past `metadata_ttl` a cached record is still
	// served while its region cannot be reached; `0`: never.
	StaleIfError time.Duration `yaml:"stale_if_error"`
	// VerdictTTL is how long a region's answer to "is this project a
	// member of that shared image" is remembered.
	VerdictTTL time.Duration `yaml:"verdict_ttl"`
	// HighWatermark is the fraction of `max_size` past which least recently
	// used image data is evicted …
	HighWatermark float64 `yaml:"high_watermark"`
	// LowWatermark is … the fraction of `max_size` eviction goes down to.
	// Entries being read or filled are never evicted.
	LowWatermark float64 `yaml:"low_watermark"`
}

// Redis is the tier shared between gateway instances: one Redis server
// (`addr`), a Redis Cluster (`cluster`) or a master found through Redis
// Sentinel (`sentinel`); at most one of the three.
type Redis struct {
	// Addr is the host:port of a single Redis server shared between gateway
	// instances, e.g. `127.0.0.1:6379`. Empty, with `cluster` and
	// `sentinel` empty too: each instance caches alone. With it, instances
	// act as one cache: remote regions' image records and membership
	// verdicts, the location index (which regions hold an image) and the
	// positions of listing walks are kept in Redis as a second level behind
	// each instance's memory. A write through any instance invalidates the
	// image in Redis and in its own memory before it answers, and in every
	// other instance's memory within a few ms (pub/sub; measured p99 under
	// Status); versioned keys keep a slow read that began before a write
	// from putting the old record back on any instance. Instances must name
	// their regions alike. Redis down: each instance serves from its own
	// memory and the regions, and another instance's writes reach it within
	// `cache.metadata_ttl`; when the subscription comes back, each instance
	// drops what it had cached.
	Addr string `yaml:"addr"`
	// Cluster lists the host:port seed nodes of a Redis Cluster, e.g.
	// `[10.0.0.1:6379, 10.0.0.2:6379]`, instead of `addr`: the client
	// learns the other nodes and the slot map from them and follows the
	// cluster's MOVED/ASK redirects.
	Cluster []string `yaml:"cluster"`
	// Sentinel finds the Redis master through Redis Sentinel, instead of
	// `addr`, and follows it across failovers.
	Sentinel Sentinel `yaml:"sentinel"`
	// Password authenticates to the Redis server(s): every node of a
	// cluster, the master under sentinel. Empty: no AUTH.
	Password string `yaml:"password"`
	// DB is the database selected after connecting, with `addr` or
	// `sentinel` (a cluster has only database 0).
	DB int `yaml:"db"`
	// Timeout bounds every Redis call, connecting included. A slow or
	// unreachable Redis is a miss, never an error (the instance serves
	// from its own caches and the regions); after three failures in a row
	// a circuit breaker stops asking it for 2 s.
	Timeout time.Duration `yaml:"timeout"`
}

// Sentinel says where Redis Sentinel is and which master it watches.
type Sentinel struct {
	// MasterName is the name the sentinels monitor the master under (the
	// name in their `sentinel monitor` line), e.g. `mymaster`. Required
	// with `addrs`.
	MasterName string `yaml:"master_name"`
	// Addrs lists the host:port of each sentinel, e.g. `[10.0.0.1:26379,
	// 10.0.0.2:26379]`; any one answering is enough. Required with
	// `master_name`.
	Addrs []string `yaml:"addrs"`
	// Password authenticates to the sentinels themselves (their
	// `requirepass`), which may differ from `redis.password`. Empty: no
	// AUTH.
	Password string `yaml:"password"`
}

// Enabled reports whether a shared tier is configured: addr, cluster or
// sentinel.
func (r Redis) Enabled() bool {
	return r.Addr != "" || len(r.Cluster) > 0 || r.Sentinel.MasterName != "" || len(r.Sentinel.Addrs) > 0
}

// Telemetry configures metrics and traces.
type Telemetry struct {
	// Metrics serves metrics (OpenTelemetry, Prometheus text format) at
	// GET /metrics on the admin listener; with admin.listen off there are
	// none. Default true; false: no /metrics and nothing recorded.
	Metrics bool `yaml:"metrics"`
	// TracesEndpoint is the OTLP/HTTP (protobuf) URL spans are exported
	// to, e.g. `http://127.0.0.1:4318` (no path: `/v1/traces` is added; a
	// path is used as given); `http` or `https` with a host. Empty (the
	// default): no tracing at all — no tracer, no spans, no `traceparent`
	// sent on, nothing allocated. See "Traces" in the README.
	TracesEndpoint string `yaml:"traces_endpoint"`
}

// Admin is the operators' listener, separate from the Images API so that
// it can stay on a private address.
type Admin struct {
	// Listen is the TCP address (host:port) of the operators' listener,
	// separate from the Images API so it can stay private: `GET
	// /healthcheck`, `GET /ready`, `GET /metrics`, the image data cache's
	// controls (`/cache`, used by `spyglass cache`) and the peer protocol
	// the site's instances stream fills over (`/peer/v1/`). Port 0 picks a
	// free port; `off`: none (no metrics, no cache controls, and this
	// instance is never a site's filler). Two instances on one host need
	// two admin ports. Env SPYGLASS_ADMIN_LISTEN; flag --admin-listen.
	Listen string `yaml:"listen"`
	// Advertise is the host:port the site's other instances reach this
	// admin listener at, to stream an image this instance fills (with a
	// shared tier: redis.addr, redis.cluster or redis.sentinel), e.g.
	// `10.0.0.5:9293`. Empty (the default) means the address the listener
	// is bound to, unless it binds every address (0.0.0.0, [::]): then the
	// instance serves no fills to the others until this is set.
	Advertise string `yaml:"advertise"`
	// TokenFile is the path of a file holding the admin listener's token
	// (its first line, surrounding spaces dropped; at least 16 characters,
	// e.g. from `openssl rand -hex 32`). With a token, every route but
	// `/healthcheck` and `/ready` (and `/metrics`, see
	// admin.metrics_without_token) needs `Authorization: Bearer <token>`,
	// else 401; the site's instances send it to each other on the peer
	// route, so they all need the same one, also those with admin.listen
	// off; `spyglass cache` reads it from the same configuration. Required
	// when admin.listen or admin.advertise is not a loopback address.
	// Empty: no token, and the listener trusts whoever reaches it. Read at
	// start: a new token needs a restart. Env SPYGLASS_ADMIN_TOKEN (the
	// token itself, not a file) wins over the file.
	TokenFile string `yaml:"token_file"`
	// MetricsWithoutToken serves `GET /metrics` to callers without the
	// admin token, for a scraper that cannot send one (Prometheus can:
	// `authorization: {credentials_file: ...}`). Default false: with a
	// token, `/metrics` needs it like the cache controls.
	MetricsWithoutToken bool `yaml:"metrics_without_token"`
	// Token is the token itself when SPYGLASS_ADMIN_TOKEN gives it; never
	// read from the file (a configuration file is readable by more people
	// than a secret should be). ReadToken says which token is in force.
	Token string `yaml:"-"`
}

// minTokenLen is the shortest admin token accepted: the admin listener
// does not slow down guesses.
const minTokenLen = 16

// ReadToken is the admin listener's token: SPYGLASS_ADMIN_TOKEN's, else the
// first line of admin.token_file, else "" (none). Its errors name the key
// and the fix.
func (a Admin) ReadToken() (string, error) {
	token, from := a.Token, EnvAdminToken
	if token == "" {
		if a.TokenFile == "" {
			return "", nil
		}
		b, err := os.ReadFile(a.TokenFile)
		if err != nil {
			return "", fmt.Errorf("admin.token_file: %w; give the path of a file holding the token, e.g. made with: openssl rand -hex 32 > %s", err, a.TokenFile)
		}
		first, _, _ := strings.Cut(string(b), "\n")
		token, from = strings.TrimSpace(first), "admin.token_file"
	}
	if len(token) < minTokenLen || strings.ContainsAny(token, " \t\r\n") {
		return "", fmt.Errorf("%s: the admin token must be at least %d characters without spaces; make one with: openssl rand -hex 32", from, minTokenLen)
	}
	return token, nil
}

// isLoopback reports whether a host:port names a loopback address
// (127.0.0.0/8, ::1, localhost): one only this host reaches.
func isLoopback(addr string) bool {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return false
	}
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// Log configures the process's log, written to stderr with log/slog. Every
// line about a request carries its request_id (the x-openstack-request-id
// the client got).
type Log struct {
	// Format is text (logfmt-style key=value, the default) or json (one
	// object per line). Every line written while handling a request
	// carries its `request_id` — the `x-openstack-request-id` the client
	// got (its own when it sent one), also on lines from region calls,
	// fills, copies and Keystone.
	// Env SPYGLASS_LOG_FORMAT; flag --log-format.
	Format string `yaml:"format"`
	// Level is the least severe level written: debug (also one access log
	// line per request), info (the default), warn or error. SIGHUP applies
	// a changed level without a restart.
	// Env SPYGLASS_LOG_LEVEL; flag --log-level.
	Level string `yaml:"level"`
}

// Log formats and levels.
const (
	LogText  = "text"
	LogJSON  = "json"
	LogDebug = "debug"
	LogInfo  = "info"
	LogWarn  = "warn"
	LogError = "error"
)

// AdminOff is the admin.listen value that turns the admin listener off.
const AdminOff = "off"

// Kinds of region.
const (
	KindLocal  = "local"
	KindGlance = "glance"
)

// Keystone catalog interfaces.
const (
	InterfacePublic   = "public"
	InterfaceInternal = "internal"
	InterfaceAdmin    = "admin"
)

// Auth modes.
const (
	AuthNoAuth   = "noauth"
	AuthTrusted  = "trusted"
	AuthKeystone = "keystone"
)

// Default returns the configuration used when no file is given: a gateway
// on 127.0.0.1:9292 with no authentication over one embedded region in
// ./data.
func Default() Config {
	return Config{
		Listen: "127.0.0.1:9292",
		Auth: Auth{Mode: AuthNoAuth, Keystone: Keystone{
			UserDomainName: "Default", ProjectDomainName: "Default",
			TokenCacheTTL: 5 * time.Minute, InvalidTokenTTL: 5 * time.Second, Timeout: 5 * time.Second,
			Interface: InterfacePublic,
		}},
		Policy:        Policy{Defaults: PolicyCurrent},
		Regions:       []Region{{Name: "local", Kind: KindLocal, DataDir: "./data"}},
		DefaultRegion: "local",
		Federation:    Federation{OnRegionFailure: "answer", CursorTTL: 10 * time.Minute},
		Cache: Cache{Dir: "./data/cache", MaxSize: 50 << 30, MetadataTTL: 30 * time.Second,
			StaleIfError: 5 * time.Minute, VerdictTTL: 5 * time.Second, HighWatermark: 0.9, LowWatermark: 0.8},
		Redis:           Redis{Timeout: 100 * time.Millisecond},
		Telemetry:       Telemetry{Metrics: true},
		Admin:           Admin{Listen: "127.0.0.1:9293"},
		Log:             Log{Format: LogText, Level: LogInfo},
		ShutdownTimeout: 30 * time.Second,
	}
}

// Environment variables read by Read and Load, applied over the file.
const (
	EnvListen    = "SPYGLASS_LISTEN"       // listen
	EnvAuth      = "SPYGLASS_AUTH"         // auth.mode
	EnvDataDir   = "SPYGLASS_DATA_DIR"     // data_dir of the default region
	EnvAdmin     = "SPYGLASS_ADMIN_LISTEN" // admin.listen
	EnvLogLevel  = "SPYGLASS_LOG_LEVEL"    // log.level
	EnvLogFormat = "SPYGLASS_LOG_FORMAT"   // log.format
	// EnvAdminToken is the admin listener's token itself (admin.token_file
	// holds it otherwise).
	EnvAdminToken = "SPYGLASS_ADMIN_TOKEN"
)

// Load reads the file at path (empty path: no file, defaults only), applies
// the SPYGLASS_* environment variables and validates the result.
func Load(path string) (Config, error) {
	c, err := Read(path)
	if err != nil {
		return c, err
	}
	return c, c.Validate()
}

// Read is Load without the validation, for callers that apply more
// overrides (command-line flags) and then call Validate themselves.
func Read(path string) (Config, error) {
	c := Default()
	if path != "" {
		b, err := os.ReadFile(path)
		if err != nil {
			return c, fmt.Errorf("config: %w", err)
		}
		if err := c.decode(b); err != nil {
			return c, fmt.Errorf("config %s: %w", path, err)
		}
	}
	c.fillDefaults()
	err := c.Apply(Overrides{
		Listen:    os.Getenv(EnvListen),
		Auth:      os.Getenv(EnvAuth),
		DataDir:   os.Getenv(EnvDataDir),
		Admin:     os.Getenv(EnvAdmin),
		LogLevel:  os.Getenv(EnvLogLevel),
		LogFormat: os.Getenv(EnvLogFormat),
	})
	if err != nil {
		return c, fmt.Errorf("environment: %w", err)
	}
	c.Admin.Token = os.Getenv(EnvAdminToken)
	return c, nil
}

// Parse decodes YAML over the defaults, without environment or validation.
func Parse(b []byte) (Config, error) {
	c := Default()
	if err := c.decode(b); err != nil {
		return c, err
	}
	c.fillDefaults()
	return c, nil
}

func (c *Config) decode(b []byte) error {
	// default_region follows the file's regions unless the file names it;
	// fillDefaults puts it back.
	c.DefaultRegion = ""
	dec := yaml.NewDecoder(bytes.NewReader(b))
	dec.KnownFields(true)
	if err := dec.Decode(c); err != nil {
		if errors.Is(err, io.EOF) { // empty file: defaults
			return nil
		}
		return unknownKey(err)
	}
	var extra yaml.Node
	if err := dec.Decode(&extra); !errors.Is(err, io.EOF) {
		return errors.New("more than one YAML document; the configuration is one document")
	}
	return nil
}

var notFoundRe = regexp.MustCompile(`line (\d+): field (\S+) not found in type config\.(\w+)`)

// unknownKey rewrites yaml.v3's "field x not found in type config.Region"
// into words a user of the file understands.
func unknownKey(err error) error {
	msg := notFoundRe.ReplaceAllString(err.Error(), "line $1: unknown key \"$2\" (in $3); check the spelling against docs/config.md or spyglass config reference")
	msg = strings.ReplaceAll(msg, "yaml: unmarshal errors:\n  ", "")
	return errors.New(msg)
}

// fillDefaults supplies what the file may leave out.
func (c *Config) fillDefaults() {
	if len(c.Regions) == 0 {
		c.Regions = Default().Regions
	}
	if c.DefaultRegion == "" && len(c.Regions) == 1 {
		c.DefaultRegion = c.Regions[0].Name
	}
	for i := range c.Regions {
		if r := &c.Regions[i]; r.Kind == KindGlance {
			if r.ConnectTimeout == 0 {
				r.ConnectTimeout = 5 * time.Second
			}
			if r.ReadTimeout == 0 {
				r.ReadTimeout = 30 * time.Second
			}
		}
	}
}

// Overrides are values given on the command line or in the environment;
// empty fields leave the configuration alone.
type Overrides struct {
	Listen    string // listen
	Auth      string // auth.mode
	DataDir   string // data_dir of the default region, which must be local
	Admin     string // admin.listen
	LogLevel  string // log.level
	LogFormat string // log.format
}

// Apply sets the non-empty fields of o.
func (c *Config) Apply(o Overrides) error {
	if o.Listen != "" {
		c.Listen = o.Listen
	}
	if o.Auth != "" {
		c.Auth.Mode = o.Auth
	}
	if o.Admin != "" {
		c.Admin.Listen = o.Admin
	}
	if o.LogLevel != "" {
		c.Log.Level = o.LogLevel
	}
	if o.LogFormat != "" {
		c.Log.Format = o.LogFormat
	}
	if o.DataDir != "" {
		r := c.Region(c.DefaultRegion)
		if r == nil || r.Kind != KindLocal {
			return fmt.Errorf("data dir %q: the default region %q is not a local region; set data_dir on a local region in the file instead", o.DataDir, c.DefaultRegion)
		}
		r.DataDir = o.DataDir
	}
	return nil
}

// Region returns the region with this name, or nil.
func (c *Config) Region(name string) *Region {
	for i := range c.Regions {
		if c.Regions[i].Name == name {
			return &c.Regions[i]
		}
	}
	return nil
}

var regionNameRe = regexp.MustCompile(`^[A-Za-z0-9._-]+$`)

// Validate checks the whole configuration and reports every problem, each
// naming the key and the fix.
func (c *Config) Validate() error {
	var errs []error
	bad := func(key, format string, args ...any) {
		errs = append(errs, fmt.Errorf("%s: %s", key, fmt.Sprintf(format, args...)))
	}

	if err := checkHostPort(c.Listen); err != nil {
		bad("listen", "%v; e.g. 127.0.0.1:9292", err)
	}
	if c.Admin.Listen != AdminOff {
		if err := checkHostPort(c.Admin.Listen); err != nil {
			bad("admin.listen", "%v; e.g. 127.0.0.1:9293, or off", err)
		} else if c.Admin.Listen == c.Listen && !strings.HasSuffix(c.Listen, ":0") {
			bad("admin.listen", "the same address as listen; give the admin listener its own port, e.g. 127.0.0.1:9293, or off")
		}
	}
	if c.Admin.Advertise != "" {
		if err := checkAdvertise(c.Admin.Advertise); err != nil {
			bad("admin.advertise", "%v; the host:port the other instances reach this one's admin listener at, e.g. 10.0.0.5:9293", err)
		} else if c.Admin.Listen == AdminOff {
			bad("admin.advertise", "set while admin.listen is off; remove it, or give admin.listen an address")
		}
	}
	if token, err := c.Admin.ReadToken(); err != nil {
		errs = append(errs, err)
	} else if token == "" {
		// Whoever reaches the listener lists every cached image id,
		// evicts, and streams any image's bytes from the peer route.
		for _, a := range [][2]string{{"admin.listen", c.Admin.Listen}, {"admin.advertise", c.Admin.Advertise}} {
			if key, addr := a[0], a[1]; addr != "" && addr != AdminOff && !isLoopback(addr) {
				bad("admin.token_file", "required: %s %s is not a loopback address, and without a token the admin listener serves the cache's image ids and image data to whoever reaches it; put a token in a file (openssl rand -hex 32 > /etc/spyglass/admin.token) and name it here, or set %s, or bind admin.listen to 127.0.0.1", key, addr, EnvAdminToken)
				break
			}
		}
	}

	switch c.Policy.Defaults {
	case PolicyCurrent, PolicyLegacy:
	case "":
		bad("policy.defaults", "required; current (Glance's secure-RBAC defaults) or legacy (a stock Glance 25's)")
	default:
		bad("policy.defaults", "unknown rule set %q; current (Glance's secure-RBAC defaults) or legacy (a stock Glance 25's)", c.Policy.Defaults)
	}
	if c.Policy.File != "" {
		if st, err := os.Stat(c.Policy.File); err != nil {
			bad("policy.file", "%v; give the path of an oslo.policy YAML or JSON file, or leave it empty", err)
		} else if st.IsDir() {
			bad("policy.file", "%s is a directory; give the path of an oslo.policy YAML or JSON file", c.Policy.File)
		}
	}

	switch c.Auth.Mode {
	case AuthNoAuth, AuthTrusted:
	case AuthKeystone:
		c.Auth.Keystone.validateCredentials("auth.mode is keystone", bad)
	case "":
		bad("auth.mode", "required; one of noauth, trusted, keystone")
	default:
		bad("auth.mode", "unknown mode %q; one of noauth, trusted, keystone", c.Auth.Mode)
	}
	c.Auth.Keystone.validateSettings(bad)

	if len(c.Regions) == 0 {
		bad("regions", "at least one region is required; e.g. - {name: local, kind: local, data_dir: ./data}")
	}
	seen := map[string]int{}
	for i, r := range c.Regions {
		key := fmt.Sprintf("regions[%d]", i)
		switch {
		case r.Name == "":
			bad(key+".name", "required; e.g. local")
		case !regionNameRe.MatchString(r.Name):
			bad(key+".name", "%q: use letters, digits, '.', '_' and '-' only", r.Name)
		default:
			if j, dup := seen[r.Name]; dup {
				bad(key+".name", "%q is also the name of regions[%d]; region names must be unique", r.Name, j)
			}
			seen[r.Name] = i
		}
		switch r.Kind {
		case KindLocal:
			if r.DataDir == "" {
				bad(key+".data_dir", "required for kind local; e.g. ./data")
			}
			if r.Endpoint != "" {
				bad(key+".endpoint", "only for kind glance; remove it, a local region keeps its images in data_dir")
			}
			if r.RegionName != "" || r.Interface != "" {
				bad(key+".region_name", "only for kind glance; remove region_name and interface")
			}
		case KindGlance:
			switch {
			case r.Endpoint != "" && r.RegionName != "":
				bad(key+".region_name", "set endpoint or region_name, not both; remove region_name to use the endpoint as given")
			case r.Endpoint == "" && r.RegionName == "":
				bad(key+".endpoint", "required for kind glance (or region_name, to find it in the Keystone catalog); e.g. http://127.0.0.1:9292")
			case r.Endpoint != "":
				if err := checkURL(r.Endpoint); err != nil {
					bad(key+".endpoint", "%v; e.g. http://127.0.0.1:9292", err)
				}
			default:
				c.Auth.Keystone.validateCredentials(key+".region_name is set", bad)
			}
			if r.Interface != "" && !validInterface(r.Interface) {
				bad(key+".interface", "unknown interface %q; one of public, internal, admin", r.Interface)
			}
			if r.Interface != "" && r.RegionName == "" {
				bad(key+".interface", "only with region_name; remove it")
			}
			if r.DataDir != "" {
				bad(key+".data_dir", "only for kind local; remove it")
			}
			if r.ConnectTimeout < 0 {
				bad(key+".connect_timeout", "must not be negative; e.g. 5s")
			}
			if r.ReadTimeout < 0 {
				bad(key+".read_timeout", "must not be negative; e.g. 30s")
			}
		case "":
			bad(key+".kind", "required; one of local, glance")
		default:
			bad(key+".kind", "unknown kind %q; one of local, glance", r.Kind)
		}
	}

	order := ""
	for i, r := range c.Regions {
		key := fmt.Sprintf("regions[%d]", i)
		switch r.Nulls {
		case "", "first", "last":
		default:
			bad(key+".nulls", "unknown %q; first (SQLite, MySQL) or last (PostgreSQL)", r.Nulls)
		}
		switch r.Collation {
		case "", "binary", "nocase":
		default:
			bad(key+".collation", "unknown %q; binary (SQLite, PostgreSQL C) or nocase (MySQL *_ci)", r.Collation)
		}
		if r.MaxPage < 0 {
			bad(key+".max_page", "must not be negative; e.g. 1000, Glance's api_limit_max")
		}
		o := orDefault(r.Nulls, "first") + "/" + orDefault(r.Collation, "binary")
		if i == 0 {
			order = o
		} else if o != order {
			bad(key+".nulls", "regions order listings differently (%s vs %s for %s): a merged listing needs one order; set nulls and collation alike", o, order, c.Regions[0].Name)
		}
	}
	for p, name := range c.ProjectRegions {
		if c.Region(name) == nil {
			bad("project_regions."+p, "%q is not the name of a region; use one of %s", name, regionNames(c.Regions))
		}
	}
	switch c.Federation.OnRegionFailure {
	case "answer", "fail":
	default:
		bad("federation.on_region_failure", "unknown %q; answer or fail", c.Federation.OnRegionFailure)
	}
	if c.Federation.CursorTTL <= 0 {
		bad("federation.cursor_ttl", "must be positive; e.g. 10m")
	}

	switch {
	case c.DefaultRegion == "" && len(c.Regions) > 1:
		bad("default_region", "required when there is more than one region; name one of regions[].name")
	case c.DefaultRegion != "" && c.Region(c.DefaultRegion) == nil:
		bad("default_region", "%q is not the name of a region; use one of %s", c.DefaultRegion, regionNames(c.Regions))
	}

	if c.Cache.MaxSize < 0 {
		bad("cache.max_size", "must not be negative; e.g. 50GiB")
	}
	if c.Cache.MaxSize > 0 && c.Cache.Dir == "" {
		bad("cache.dir", "required when cache.max_size is not 0; e.g. ./data/cache")
	}
	if c.Cache.MetadataTTL < 0 {
		bad("cache.metadata_ttl", "must not be negative; e.g. 30s")
	}
	if c.Cache.StaleIfError < 0 {
		bad("cache.stale_if_error", "must not be negative; e.g. 5m, or 0 to never serve stale records")
	}
	if c.Cache.VerdictTTL < 0 {
		bad("cache.verdict_ttl", "must not be negative; e.g. 5s")
	}
	if !(c.Cache.LowWatermark > 0 && c.Cache.LowWatermark < c.Cache.HighWatermark && c.Cache.HighWatermark <= 1) {
		bad("cache.high_watermark", "need 0 < low_watermark (%v) < high_watermark (%v) <= 1; e.g. 0.9 and 0.8", c.Cache.LowWatermark, c.Cache.HighWatermark)
	}
	c.Redis.validate(bad)
	if c.Telemetry.TracesEndpoint != "" {
		if err := checkURL(c.Telemetry.TracesEndpoint); err != nil {
			bad("telemetry.traces_endpoint", "%v; the collector's OTLP/HTTP URL (gRPC is not supported), e.g. http://127.0.0.1:4318, or empty for no traces", err)
		}
	}
	if c.ImageSizeCap < 0 {
		bad("image_size_cap", "must not be negative; e.g. 1TiB, or 0 for Glance's default")
	}
	switch c.Log.Format {
	case LogText, LogJSON:
	default:
		bad("log.format", "unknown format %q; text or json", c.Log.Format)
	}
	switch c.Log.Level {
	case LogDebug, LogInfo, LogWarn, LogError:
	default:
		bad("log.level", "unknown level %q; debug, info, warn or error", c.Log.Level)
	}
	if c.ShutdownTimeout < 0 {
		bad("shutdown_timeout", "must not be negative; e.g. 30s")
	}
	return errors.Join(errs...)
}

func orDefault(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

func regionNames(rs []Region) string {
	names := make([]string, len(rs))
	for i, r := range rs {
		names[i] = strconv.Quote(r.Name)
	}
	return strings.Join(names, ", ")
}

func checkHostPort(addr string) error {
	if addr == "" {
		return errors.New("required")
	}
	_, port, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("%q is not host:port", addr)
	}
	// Service names ("http") would work with net.Listen but make the port
	// depend on /etc/services; ask for a number.
	if _, err := strconv.ParseUint(port, 10, 16); err != nil {
		return fmt.Errorf("%q: port must be a number 0-65535", addr)
	}
	return nil
}

// checkAdvertise checks an address other hosts can dial: a host (not one
// meaning "every address") and a real port.
func checkAdvertise(addr string) error {
	if err := checkHostPort(addr); err != nil {
		return err
	}
	host, port, _ := net.SplitHostPort(addr)
	if ip := net.ParseIP(host); host == "" || (ip != nil && ip.IsUnspecified()) {
		return fmt.Errorf("%q names no host to dial", addr)
	}
	if port == "0" {
		return fmt.Errorf("%q: port 0 cannot be dialled", addr)
	}
	return nil
}

func checkURL(s string) error {
	u, err := url.Parse(s)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return fmt.Errorf("%q is not an http:// or https:// URL", s)
	}
	return nil
}

// validateCredentials checks what logging in to Keystone needs; why says
// which setting needs it.
func (k *Keystone) validateCredentials(why string, bad func(key, format string, args ...any)) {
	if k.AuthURL == "" {
		bad("auth.keystone.auth_url", "required when %s; Keystone's v3 URL, e.g. http://127.0.0.1:5000/v3", why)
	} else if err := checkURL(k.AuthURL); err != nil {
		bad("auth.keystone.auth_url", "%v; Keystone's v3 URL, e.g. http://127.0.0.1:5000/v3", err)
	}
	if k.Username == "" {
		bad("auth.keystone.username", "required when %s; the gateway's service user, e.g. glance", why)
	}
	if k.Password == "" {
		bad("auth.keystone.password", "required when %s; the service user's password", why)
	}
	if k.ProjectName == "" {
		bad("auth.keystone.project_name", "required when %s; the service user's project, e.g. service", why)
	}
}

// validateSettings checks the keys that have defaults, whatever the mode.
func (k *Keystone) validateSettings(bad func(key, format string, args ...any)) {
	if k.TokenCacheTTL <= 0 {
		bad("auth.keystone.token_cache_ttl", "must be positive; e.g. 5m")
	}
	if k.InvalidTokenTTL <= 0 {
		bad("auth.keystone.invalid_token_ttl", "must be positive; e.g. 5s")
	}
	if k.Timeout <= 0 {
		bad("auth.keystone.timeout", "must be positive; e.g. 5s")
	}
	if k.WWWAuthenticateURI != "" {
		if err := checkURL(k.WWWAuthenticateURI); err != nil {
			bad("auth.keystone.www_authenticate_uri", "%v; Keystone's public URL clients should get tokens from, or empty for auth_url", err)
		}
	}
	if !validInterface(k.Interface) {
		bad("auth.keystone.interface", "unknown interface %q; one of public, internal, admin", k.Interface)
	}
}

func (r *Redis) validate(bad func(key, format string, args ...any)) {
	var set []string
	if r.Addr != "" {
		set = append(set, "redis.addr")
		if err := checkHostPort(r.Addr); err != nil {
			bad("redis.addr", "%v; e.g. 127.0.0.1:6379, or empty for no shared tier", err)
		}
	}
	if len(r.Cluster) > 0 {
		set = append(set, "redis.cluster")
		for i, a := range r.Cluster {
			if err := checkHostPort(a); err != nil {
				bad(fmt.Sprintf("redis.cluster[%d]", i), "%v; a seed node of the cluster, e.g. 10.0.0.1:6379", err)
			}
		}
		if r.DB != 0 {
			bad("redis.db", "a Redis Cluster has only database 0; remove redis.db")
		}
	}
	s := r.Sentinel
	if s.MasterName != "" || len(s.Addrs) > 0 || s.Password != "" {
		set = append(set, "redis.sentinel")
		if s.MasterName == "" {
			bad("redis.sentinel.master_name", "required with redis.sentinel; the name the sentinels monitor the master under, e.g. mymaster")
		}
		if len(s.Addrs) == 0 {
			bad("redis.sentinel.addrs", "required with redis.sentinel; host:port of each sentinel, e.g. [10.0.0.1:26379, 10.0.0.2:26379]")
		}
		for i, a := range s.Addrs {
			if err := checkHostPort(a); err != nil {
				bad(fmt.Sprintf("redis.sentinel.addrs[%d]", i), "%v; a sentinel, e.g. 10.0.0.1:26379", err)
			}
		}
	}
	if len(set) > 1 {
		bad(set[1], "%s and %s are both set; a shared tier is one of redis.addr (one server), redis.cluster (a Redis Cluster) or redis.sentinel (a master found through Sentinel): keep one", set[0], set[1])
	}
	if r.DB < 0 {
		bad("redis.db", "must not be negative; e.g. 0")
	}
	if r.Timeout <= 0 {
		bad("redis.timeout", "must be positive; e.g. 100ms")
	}
}

func validInterface(s string) bool {
	return s == InterfacePublic || s == InterfaceInternal || s == InterfaceAdmin
}
