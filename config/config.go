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
// The field comments are the reference the README's configuration section
// is written from; keep the two in step (TestREADMEDocumentsEveryKey checks
// that every key is at least mentioned).
type Config struct {
	// Listen is the TCP address the Images API is served on, host:port.
	// Default 127.0.0.1:9292 (Glance's port). Port 0 picks a free port.
	// Env SPYGLASS_LISTEN; flag --listen.
	Listen string `yaml:"listen"`
	// Auth says how callers are identified.
	Auth Auth `yaml:"auth"`
	// Policy says what callers may do.
	Policy Policy `yaml:"policy"`
	// Regions are the image stores behind the gateway. Empty means one
	// embedded region {name: local, kind: local, data_dir: ./data}.
	Regions []Region `yaml:"regions"`
	// DefaultRegion names the region new images are created in. Empty means
	// the only region when there is exactly one.
	DefaultRegion string `yaml:"default_region"`
	// ProjectRegions maps a project id to the region its new images are
	// created in, instead of default_region. Empty (the default) means
	// none.
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
	// image_size_cap. 0 means Glance's default, 1 TiB.
	ImageSizeCap Size `yaml:"image_size_cap"`
	// Log configures the process's log (stderr).
	Log Log `yaml:"log"`
	// ShutdownTimeout is how long serve waits, after SIGTERM or SIGINT, for
	// requests in flight (uploads included) to finish before it exits.
	// Default 30s; 0 means do not wait.
	ShutdownTimeout time.Duration `yaml:"shutdown_timeout"`
}

// Auth says how callers are identified.
type Auth struct {
	// Mode is one of: noauth (every caller is an admin with no project, like
	// Glance's auth strategy "noauth"), trusted (the identity comes from
	// X-Identity-Status, X-User-Id, X-Project-Id and X-Roles headers set by
	// a trusted proxy, like keystonemiddleware's delay_auth_decision
	// output), keystone (X-Auth-Token validated against Keystone v3 with
	// the service credentials of auth.keystone, verdicts cached). Default
	// noauth. Env SPYGLASS_AUTH; flag --auth.
	Mode string `yaml:"mode"`
	// Keystone is used when Mode is keystone.
	Keystone Keystone `yaml:"keystone"`
}

// Policy selects Glance's authorization rules.
type Policy struct {
	// Defaults is current (Glance's secure-RBAC defaults: reader, member
	// and admin roles in the caller's project, as Glance with
	// enforce_new_defaults, enforce_scope and enforce_secure_rbac) or legacy
	// (a stock Glance 25's deprecated defaults: any role may read and
	// create, the owner or an admin changes). Default current.
	Defaults string `yaml:"defaults"`
	// File is an oslo.policy YAML or JSON file whose rules override the
	// defaults; empty (the default) means none. It is read and compiled at
	// start-up (an unknown rule name or a syntax error stops the start) and
	// again on SIGHUP (where an error keeps the rules in force).
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
	// AuthURL is Keystone's v3 URL, e.g. http://127.0.0.1:5000/v3.
	AuthURL string `yaml:"auth_url"`
	// Username and Password are the gateway's service user's; it needs the
	// admin (or service) role on ProjectName to validate other users'
	// tokens.
	Username string `yaml:"username"`
	Password string `yaml:"password"`
	// ProjectName is the service user's project.
	ProjectName string `yaml:"project_name"`
	// UserDomainName and ProjectDomainName are the domains of the user and
	// of the project. Default "Default".
	UserDomainName    string `yaml:"user_domain_name"`
	ProjectDomainName string `yaml:"project_domain_name"`
	// TokenCacheTTL is how long a validated token is believed without
	// asking Keystone again (role changes and revocations are seen after at
	// most this long); never past the token's expiry. Default 5m.
	TokenCacheTTL time.Duration `yaml:"token_cache_ttl"`
	// InvalidTokenTTL is how long a token Keystone rejected is rejected
	// without asking again. Default 5s.
	InvalidTokenTTL time.Duration `yaml:"invalid_token_ttl"`
	// Timeout bounds one call to Keystone. Default 5s. After a failure the
	// circuit breaker answers new tokens 503 at once for a few seconds;
	// tokens validated before keep working until they expire.
	Timeout time.Duration `yaml:"timeout"`
	// WWWAuthenticateURI is sent in 401s as WWW-Authenticate: Keystone
	// uri="..." (keystonemiddleware's www_authenticate_uri). Empty (the
	// default) means auth_url.
	WWWAuthenticateURI string `yaml:"www_authenticate_uri"`
	// Interface is the catalog interface glance regions given by
	// region_name are looked up with: public, internal or admin. Default
	// public.
	Interface string `yaml:"interface"`
}

// Federation configures how several regions are served as one.
type Federation struct {
	// OnRegionFailure is what a listing does when a region cannot be
	// reached: answer (the default: from the other regions, naming the
	// missing ones in an X-Spyglass-Missing-Regions header) or fail (503).
	OnRegionFailure string `yaml:"on_region_failure"`
	// CursorTTL is how long a listing walk's position in each region is
	// remembered after a page; a later page without it is still right,
	// only slower. Default 10m.
	CursorTTL time.Duration `yaml:"cursor_ttl"`
}

// Region is one image store behind the gateway.
type Region struct {
	// Name identifies the region in the API (GET /v2/info/stores, an
	// image's stores). Required; letters, digits, '.', '_' and '-'.
	Name string `yaml:"name"`
	// Kind is local (the embedded store) or glance (a remote Glance v2).
	Kind string `yaml:"kind"`
	// DataDir is where a local region keeps its database and image data;
	// relative paths are relative to the working directory. Required for
	// kind local. Env SPYGLASS_DATA_DIR and flag --data-dir set it for the
	// default region.
	DataDir string `yaml:"data_dir"`
	// Endpoint is a glance region's Images API URL, e.g.
	// http://127.0.0.1:19292. For kind glance, endpoint or region_name is
	// required.
	Endpoint string `yaml:"endpoint"`
	// RegionName is, for a glance region without endpoint, the Keystone
	// region whose image endpoint (in the service catalog read with
	// auth.keystone's credentials) is the region's Images API, e.g.
	// RegionOne.
	RegionName string `yaml:"region_name"`
	// Interface is the catalog interface for region_name: public,
	// internal or admin. Empty (the default) means auth.keystone.interface.
	Interface string `yaml:"interface"`
	// ConnectTimeout bounds connecting to a glance region; ReadTimeout
	// bounds waiting for its answer and every stall while its data streams.
	// Defaults 5s and 30s. A region that times out costs at most one
	// timeout per breaker window: its circuit breaker then fails fast.
	ConnectTimeout time.Duration `yaml:"connect_timeout"`
	ReadTimeout    time.Duration `yaml:"read_timeout"`
	// Nulls is where the region's database sorts NULL values ascending:
	// first (SQLite, MySQL, the embedded store; the default) or last
	// (PostgreSQL). Collation is how it orders strings: binary (SQLite,
	// the embedded store, PostgreSQL's C collation; the default) or
	// nocase (MySQL's *_ci collations). Merged listings need every region
	// to order alike; a mix is a start-up error.
	Nulls     string `yaml:"nulls"`
	Collation string `yaml:"collation"`
	// MaxPage is the most images one listing request to the region
	// returns: the region's api_limit_max. Default 1000 (Glance's).
	MaxPage int `yaml:"max_page"`
}

// Cache configures the caches of remote (glance) regions' metadata and data;
// an embedded region needs none.
type Cache struct {
	// Dir holds cached image data. Default ./data/cache (not ./cache: in a checkout that is the cache package).
	Dir string `yaml:"dir"`
	// MaxSize bounds the image data cache on disk, e.g. 50GiB. Default
	// 50GiB; 0 means no image data cache. SIGHUP applies a new bound (and
	// new watermarks) to a running cache.
	MaxSize Size `yaml:"max_size"`
	// MetadataTTL is how long image metadata from a remote region is
	// served from cache. Default 30s; 0 means metadata is not cached.
	MetadataTTL time.Duration `yaml:"metadata_ttl"`
	// StaleIfError is how long past metadata_ttl a cached record is still
	// served while its region cannot be reached. Default 5m; 0: never.
	StaleIfError time.Duration `yaml:"stale_if_error"`
	// VerdictTTL is how long a membership answer from a region (is this
	// project a member of that shared image) is remembered. Default 5s.
	VerdictTTL time.Duration `yaml:"verdict_ttl"`
	// HighWatermark and LowWatermark are fractions of max_size: when the
	// image data cache grows past the high one, least recently used entries
	// are evicted down to the low one. Defaults 0.9 and 0.8.
	HighWatermark float64 `yaml:"high_watermark"`
	LowWatermark  float64 `yaml:"low_watermark"`
}

// Redis is the tier shared between gateway instances.
type Redis struct {
	// Addr is host:port of a Redis server. Empty (the default) means no
	// shared tier: each gateway instance caches alone.
	Addr string `yaml:"addr"`
	// Timeout bounds every Redis call; a slow or dead Redis is a miss,
	// never an error, and a circuit breaker stops asking it for a while.
	// Default 100ms.
	Timeout time.Duration `yaml:"timeout"`
}

// Telemetry configures metrics and traces. Not used yet.
type Telemetry struct {
	// Metrics enables Prometheus metrics. Default true.
	Metrics bool `yaml:"metrics"`
	// TracesEndpoint is an OTLP/HTTP endpoint URL for traces. Empty (the
	// default) means no tracing.
	TracesEndpoint string `yaml:"traces_endpoint"`
}

// Admin is the operators' listener, separate from the Images API so that
// it can stay on a private address.
type Admin struct {
	// Listen is its TCP address, host:port. Default 127.0.0.1:9293; port 0
	// picks a free port; "off" means no admin listener.
	// Env SPYGLASS_ADMIN_LISTEN; flag --admin-listen.
	Listen string `yaml:"listen"`
}

// Log configures the process's log, written to stderr with log/slog. Every
// line about a request carries its request_id (the x-openstack-request-id
// the client got).
type Log struct {
	// Format is text (logfmt-style key=value, the default) or json (one
	// object per line).
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
	msg := notFoundRe.ReplaceAllString(err.Error(), "line $1: unknown key \"$2\" (in $3); check the spelling against the README's configuration section")
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
	if c.Redis.Addr != "" {
		if err := checkHostPort(c.Redis.Addr); err != nil {
			bad("redis.addr", "%v; e.g. 127.0.0.1:6379, or empty for no shared tier", err)
		}
	}
	if c.Redis.Timeout <= 0 {
		bad("redis.timeout", "must be positive; e.g. 100ms")
	}
	if c.Telemetry.TracesEndpoint != "" {
		if err := checkURL(c.Telemetry.TracesEndpoint); err != nil {
			bad("telemetry.traces_endpoint", "%v; e.g. http://127.0.0.1:4318, or empty for no traces", err)
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

func validInterface(s string) bool {
	return s == InterfacePublic || s == InterfaceInternal || s == InterfaceAdmin
}
