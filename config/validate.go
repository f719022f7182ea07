package config

import (
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"regexp"
	"strconv"
	"strings"
)

// choices says, for each key that takes one of a few words, which: for
// Validate's messages and the decoder's.
var choices = map[string]string{
	"auth.mode":                    "one of noauth, trusted, keystone",
	"auth.keystone.interface":      "one of public, internal, admin",
	"policy.defaults":              "current (Glance's secure-RBAC defaults) or legacy (a stock Glance 25's)",
	"regions[].kind":               "one of local, glance",
	"regions[].interface":          "one of public, internal, admin",
	"regions[].nulls":              "first (SQLite, MySQL) or last (PostgreSQL)",
	"regions[].collation":          "binary (SQLite, PostgreSQL C) or nocase (MySQL *_ci)",
	"federation.on_region_failure": "answer or fail",
	"log.format":                   "text or json",
	"log.level":                    "debug, info, warn or error",
}

var regionNameRe = regexp.MustCompile(`^[A-Za-z0-9._-]+$`)

// Validate checks the whole configuration and reports every problem, each
// naming the key and the fix. Its error is Problems, each placed where the
// value came from: the line of the key in the file Read (or Load) read, the
// variable or flag that set it.
func (c *Config) Validate() error {
	var ps Problems
	bad := func(key, format string, args ...any) {
		ps = append(ps, c.src.problem(key, fmt.Sprintf(format, args...)))
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
		// ReadToken's errors start with where the token came from.
		from, msg, _ := strings.Cut(err.Error(), ": ")
		if from == EnvAdminToken {
			ps = append(ps, Problem{Override: EnvAdminToken, Message: msg})
		} else {
			bad("admin.token_file", "%s", msg)
		}
	} else if token == "" {
		// Whoever reaches the listener lists every cached image id,
		// evicts, and streams any image's bytes from the peer route.
		// An address already reported as malformed is not reported again.
		listen, advertise := c.Admin.Listen, c.Admin.Advertise
		if listen == AdminOff || checkHostPort(listen) != nil {
			listen = ""
		}
		if checkAdvertise(advertise) != nil {
			advertise = ""
		}
		for _, a := range [][2]string{{"admin.listen", listen}, {"admin.advertise", advertise}} {
			if key, addr := a[0], a[1]; addr != "" && !isLoopback(addr) {
				bad("admin.token_file", "required: %s %s is not a loopback address, and without a token the admin listener serves the cache's image ids and image data to whoever reaches it; put a token in a file (openssl rand -hex 32 > /etc/spyglass/admin.token) and name it here, or set %s, or bind admin.listen to 127.0.0.1", key, addr, EnvAdminToken)
				break
			}
		}
	}

	switch c.Policy.Defaults {
	case PolicyCurrent, PolicyLegacy:
	case "":
		bad("policy.defaults", "required; %s", choices["policy.defaults"])
	default:
		bad("policy.defaults", "unknown rule set %q; %s", c.Policy.Defaults, choices["policy.defaults"])
	}
	if c.Policy.File != "" {
		if st, err := os.Stat(c.Policy.File); err != nil {
			bad("policy.file", "%v; give the path of an oslo.policy YAML or JSON file, or leave it empty", err)
		} else if st.IsDir() {
			bad("policy.file", "%s is a directory; give the path of an oslo.policy YAML or JSON file", c.Policy.File)
		}
	}
	if c.I18n.LocaleDir != "" {
		// The catalogs themselves are read (and their errors named) when
		// the server starts or reloads.
		if st, err := os.Stat(c.I18n.LocaleDir); err != nil {
			bad("i18n.locale_dir", "%v; give a directory of <lang>/LC_MESSAGES/glance.mo catalogs (Glance's glance/locale, compiled with msgfmt), or leave it empty for English only", err)
		} else if !st.IsDir() {
			bad("i18n.locale_dir", "%s is not a directory; give a directory of <lang>/LC_MESSAGES/glance.mo catalogs, or leave it empty", c.I18n.LocaleDir)
		}
	}

	switch c.Auth.Mode {
	case AuthNoAuth, AuthTrusted:
	case AuthKeystone:
		c.Auth.Keystone.validateCredentials("auth.mode is keystone", bad)
	case "":
		bad("auth.mode", "required; %s", choices["auth.mode"])
	default:
		bad("auth.mode", "unknown mode %q; %s", c.Auth.Mode, choices["auth.mode"])
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
				bad(key+".interface", "unknown interface %q; %s", r.Interface, choices["regions[].interface"])
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
			bad(key+".kind", "required; %s", choices["regions[].kind"])
		default:
			bad(key+".kind", "unknown kind %q; %s", r.Kind, choices["regions[].kind"])
		}
	}

	order := ""
	for i, r := range c.Regions {
		key := fmt.Sprintf("regions[%d]", i)
		switch r.Nulls {
		case "", "first", "last":
		default:
			bad(key+".nulls", "unknown %q; %s", r.Nulls, choices["regions[].nulls"])
		}
		switch r.Collation {
		case "", "binary", "nocase":
		default:
			bad(key+".collation", "unknown %q; %s", r.Collation, choices["regions[].collation"])
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
		bad("federation.on_region_failure", "unknown %q; %s", c.Federation.OnRegionFailure, choices["federation.on_region_failure"])
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
	c.ImportFiltering.validate(bad)
	for _, f := range []struct {
		key string
		v   int
		eg  string
	}{{"transfers.max_active", c.Transfers.MaxActive, "10"}, {"transfers.per_project", c.Transfers.PerProject, "5"}, {"transfers.max_queued", c.Transfers.MaxQueued, "100"}} {
		if f.v < 1 {
			bad(f.key, "must be at least 1; e.g. %s", f.eg)
		}
	}
	if c.ImageSizeCap < 0 {
		bad("image_size_cap", "must not be negative; e.g. 1TiB, or 0 for Glance's default")
	}
	switch c.Log.Format {
	case LogText, LogJSON:
	default:
		bad("log.format", "unknown format %q; %s", c.Log.Format, choices["log.format"])
	}
	switch c.Log.Level {
	case LogDebug, LogInfo, LogWarn, LogError:
	default:
		bad("log.level", "unknown level %q; %s", c.Log.Level, choices["log.level"])
	}
	if c.ShutdownTimeout < 0 {
		bad("shutdown_timeout", "must not be negative; e.g. 30s")
	}
	return ps.sorted().err()
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
		bad("auth.keystone.interface", "unknown interface %q; %s", k.Interface, choices["auth.keystone.interface"])
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

var hostRe = regexp.MustCompile(`^(\[[0-9A-Fa-f:.]+\]|[0-9A-Fa-f:.]+|[A-Za-z0-9_-]+(\.[A-Za-z0-9_-]+)*\.?)(/[0-9]+)?$`)

// validate checks the lists' syntax; the backend refuses the rest
// (encoded addresses) at start-up, naming the entry.
func (f *ImportFiltering) validate(bad func(key, format string, args ...any)) {
	for i, s := range f.AllowedSchemes {
		if s != "http" && s != "https" {
			bad(fmt.Sprintf("import_filtering.allowed_schemes[%d]", i), "%q cannot be fetched; http or https", s)
		}
	}
	for _, l := range []struct {
		key   string
		hosts []string
	}{{"allowed_hosts", f.AllowedHosts}, {"disallowed_hosts", f.DisallowedHosts}} {
		for i, h := range l.hosts {
			if m := hostRe.FindStringSubmatch(h); m == nil || m[len(m)-1] != "" && l.key == "allowed_hosts" {
				bad(fmt.Sprintf("import_filtering.%s[%d]", l.key, i), "%q is not a host name or an IP address (or, disallowed only, a CIDR prefix); e.g. mirror.example.com, 127.0.0.1", h)
			}
		}
	}
	for _, l := range []struct {
		key   string
		ports []int
	}{{"allowed_ports", f.AllowedPorts}, {"disallowed_ports", f.DisallowedPorts}} {
		for i, p := range l.ports {
			if p < 1 || p > 65535 {
				bad(fmt.Sprintf("import_filtering.%s[%d]", l.key, i), "%d is not a port; 1 to 65535", p)
			}
		}
	}
}

func validInterface(s string) bool {
	return s == InterfacePublic || s == InterfaceInternal || s == InterfaceAdmin
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
