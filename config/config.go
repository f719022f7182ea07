package config

import "time"

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
	// API configures which Images API versions are served.
	API API `yaml:"api"`
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
	// ImportFiltering is Glance's `[import_filtering_opts]`: the URLs
	// tenants may make Spyglass fetch (web-download, into every kind of
	// region: Spyglass runs it for its Glance regions too; import tasks;
	// v1 external sources). Same
	// keys and defaults as Glance; stronger: encoded IP forms
	// (`2130706433`, `0x7f000001`, `127.1`) are always refused; loopback,
	// link-local (169.254.169.254) and unspecified addresses and
	// `localhost` unless the host is in `allowed_hosts`; every address a
	// name resolves to is checked and only those are connected to; every
	// redirect is checked the same way; proxy environment variables are
	// not used.
	ImportFiltering ImportFiltering `yaml:"import_filtering"`
	// Transfers bounds the outbound transfers tenants make Spyglass run:
	// v1 copy-from copies, the web-download imports and import tasks of
	// embedded regions, and the web-download and glance-download imports
	// Spyglass runs into Glance regions (fetched by Spyglass, staged in
	// the region, imported there with glance-direct). Each is size-capped
	// (`image_size_cap`); these bound how many run and wait, so that a
	// tenant creating many images cannot make the gateway fetch any
	// number of URLs at once. A transfer waiting for a slot keeps its
	// image queued (copy-from) or importing with its task pending
	// (web-download), as in Glance waiting for a taskflow worker. One
	// refused (its project is at `per_project`, or `max_queued` wait
	// already) fails as its method fails: a copy-from's image is killed;
	// a web-download's task fails with Glance's message for a project
	// over its `image_count_uploading` limit ("The request returned a 413
	// Request Entity Too Large...") and its image goes back to queued.
	// On shutdown the waiting ones fail the same way (a web-download as
	// a failed import: its store in `os_glance_failed_import`).
	Transfers Transfers `yaml:"transfers"`
	// ImageSizeCap is the largest image accepted on upload, Glance's
	// `image_size_cap`; larger uploads get 413. A size (`1TiB`); `0`:
	// Glance's default, 1 TiB.
	ImageSizeCap Size `yaml:"image_size_cap"`
	// Log configures the process's log (stderr).
	Log Log `yaml:"log"`
	// I18n configures the localization of the API's messages.
	I18n I18n `yaml:"i18n"`
	// ShutdownTimeout is, on SIGTERM or SIGINT, how long to wait for
	// requests in flight (uploads included) to finish before exiting; `0`:
	// do not wait.
	ShutdownTimeout time.Duration `yaml:"shutdown_timeout"`

	// src says where each value came from (file:line, a variable, a
	// flag), for Validate's messages.
	src sources
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

// I18n configures the localization of the API's messages.
type I18n struct {
	// LocaleDir holds gettext message catalogs in Glance's layout,
	// `<dir>/<lang>/LC_MESSAGES/glance.mo` (or `glance.po`): Glance's own,
	// from its source tree's `glance/locale` compiled with `msgfmt`. A
	// client sending `Accept-Language` then gets the API's messages in
	// the best language it accepts that has a catalog (README,
	// "Localized messages"); without the header, or with no match, they
	// stay English. Read at start and on SIGHUP. Empty: English only.
	// Env SPYGLASS_I18N_LOCALE_DIR.
	LocaleDir string `yaml:"locale_dir"`
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

// Cache configures the caches of remote (glance) regions' metadata and
// data, and the image data cache the cache-management API (/v2/cache)
// manages.
type Cache struct {
	// Dir is the directory of the image data cache: remote regions' image
	// data, and the images prefetched through the cache-management API
	// (`PUT /v2/cache/{id}`, also of embedded regions). Left out of the
	// file, with a local default region: its `data_dir` + `/cache`
	// (`--data-dir` moves it along). The default is not `./cache`: in a
	// checkout that is the cache package.
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
	// other instance's memory before it answers too (pub/sub, each instance
	// acknowledging; one that does not within 250ms is not waited for): a
	// read through any instance right after a write is the write's result;
	// versioned keys keep a slow read that began before a write from
	// putting the old record back on any instance. Instances must name
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

// API configures which Images API versions are served.
type API struct {
	// EnableV1 serves the Images API v1 (Glance Queens' `enable_v1_api`)
	// over the same catalog as v2: `GET /v1/images`, `GET
	// /v1/images/detail`, `HEAD` and `GET /v1/images/{id}`, and the writes
	// `POST /v1/images`, `PUT` and `DELETE /v1/images/{id}`, and the
	// members (`/v1/images/{id}/members`, `/v1/shared-images/{member}`),
	// and the external sources (`x-image-meta-location`,
	// `x-glance-api-copy-from`, through `import_filtering`), also under
	// `/v1.0/` and `/v1.1/`, with v1.1 and v1.0 listed DEPRECATED in
	// the versions document. Default true; false: a /v1 path is an unknown
	// version (300), as in every Glance since Rocky.
	EnableV1 bool `yaml:"enable_v1"`
	// ShowMultipleLocations is Glance's `show_multiple_locations`: v2
	// image bodies carry `locations` (each `url` and `metadata`), and a
	// PATCH may add, replace and remove them (`/locations`, http(s) URLs
	// served read-only from the embedded store, or by a Glance region
	// that holds them: see v1's `x-image-meta-location`). Default false, as
	// Glance: no `locations`, and a patch of them is a 403. The URLs may
	// carry credentials: every caller who can see an image sees them.
	ShowMultipleLocations bool `yaml:"show_multiple_locations"`
	// ShowImageDirectURL is Glance's `show_image_direct_url`: v2 image
	// bodies of an image with a location carry `direct_url`, its first
	// location's URL. Default false, as Glance.
	ShowImageDirectURL bool `yaml:"show_image_direct_url"`
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

// ImportFiltering is Glance's `[import_filtering_opts]`, with its key
// names and defaults. For schemes, hosts and ports alike, an allowed list
// that is not empty wins and its disallowed list is ignored, as in Glance.
type ImportFiltering struct {
	// AllowedSchemes are the only URL schemes fetched; only `http` and
	// `https` can be. Empty: any scheme not disallowed.
	AllowedSchemes []string `yaml:"allowed_schemes"`
	// DisallowedSchemes are refused when `allowed_schemes` is empty.
	DisallowedSchemes []string `yaml:"disallowed_schemes"`
	// AllowedHosts are the only hosts fetched (names or IP addresses as
	// written in URLs, e.g. `[mirror.example.com, 127.0.0.1]`); a host
	// listed may also be a loopback or link-local address. Empty: any
	// host not disallowed.
	AllowedHosts []string `yaml:"allowed_hosts"`
	// DisallowedHosts are refused when `allowed_hosts` is empty: names, IP
	// addresses or CIDR prefixes (`10.0.0.0/8`), the latter two also
	// checked against the addresses names resolve to.
	DisallowedHosts []string `yaml:"disallowed_hosts"`
	// AllowedPorts are the only ports fetched; a URL without a port has
	// its scheme's (80, 443). Empty: any port not disallowed.
	AllowedPorts []int `yaml:"allowed_ports"`
	// DisallowedPorts are refused when `allowed_ports` is empty.
	DisallowedPorts []int `yaml:"disallowed_ports"`
}

// Transfers bounds the outbound transfers tenants start (Config.Transfers).
type Transfers struct {
	// MaxActive is how many transfers run at once, gateway-wide (all
	// regions and copy-from together): Glance's `[taskflow_executor]
	// max_workers`, and its default. The others wait their turn.
	MaxActive int `yaml:"max_active"`
	// PerProject is how many transfers one project may have running or
	// waiting; one more is refused. The default, 5, keeps one project
	// from filling the queue or taking more than half of `max_active`.
	// Slots that free go to the waiting projects in turn. Glance has no
	// such default; its operators set `image_count_uploading` in
	// Keystone's unified limits.
	PerProject int `yaml:"per_project"`
	// MaxQueued is how many transfers may wait for a slot, all projects
	// together; one more is refused.
	MaxQueued int `yaml:"max_queued"`
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

// Region returns the region with this name, or nil.
func (c *Config) Region(name string) *Region {
	for i := range c.Regions {
		if c.Regions[i].Name == name {
			return &c.Regions[i]
		}
	}
	return nil
}
