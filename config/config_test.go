package config

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
)

func TestDefaultIsValid(t *testing.T) {
	c := Default()
	if err := c.Validate(); err != nil {
		t.Fatalf("Default().Validate(): %v", err)
	}
	if got, want := c.Listen, "127.0.0.1:9292"; got != want {
		t.Errorf("Listen = %q, want %q", got, want)
	}
	if got, want := c.Cache.MaxSize, Size(50<<30); got != want {
		t.Errorf("Cache.MaxSize = %d, want %d", got, want)
	}
	if got, want := c.Cache.MetadataTTL, 30*time.Second; got != want {
		t.Errorf("Cache.MetadataTTL = %v, want %v", got, want)
	}
}

func TestParse(t *testing.T) {
	full := `
listen: 0.0.0.0:9393
auth:
  mode: trusted
  keystone: {auth_url: "http://k:5000/v3", username: u, password: p, project_name: service, user_domain_name: Default, project_domain_name: Default}
policy: {defaults: legacy, file: testdata/policy.yaml}
api: {enable_v1: off}
regions:
  - {name: edge, kind: local, data_dir: /var/lib/spyglass}
default_region: edge
project_regions: {p1: edge}
federation: {on_region_failure: fail, cursor_ttl: 1m}
cache: {dir: /var/cache/spyglass, max_size: 1.5TiB, metadata_ttl: 1m}
redis: {addr: "127.0.0.1:6379", password: pw, db: 2}
telemetry: {metrics: false, traces_endpoint: "http://127.0.0.1:4318"}
log: {format: json, level: warn}
image_size_cap: 10GiB
shutdown_timeout: 2m
`
	c, err := Parse([]byte(full))
	if err != nil {
		t.Fatal(err)
	}
	want := Config{
		Listen: "0.0.0.0:9393",
		Auth: Auth{Mode: "trusted", Keystone: Keystone{AuthURL: "http://k:5000/v3", Username: "u", Password: "p",
			ProjectName: "service", UserDomainName: "Default", ProjectDomainName: "Default",
			TokenCacheTTL: 5 * time.Minute, InvalidTokenTTL: 5 * time.Second, Timeout: 5 * time.Second, Interface: "public"}},
		Policy:          Policy{Defaults: "legacy", File: "testdata/policy.yaml"},
		API:             API{EnableV1: false},
		Regions:         []Region{{Name: "edge", Kind: "local", DataDir: "/var/lib/spyglass"}},
		DefaultRegion:   "edge",
		ProjectRegions:  map[string]string{"p1": "edge"},
		Federation:      Federation{OnRegionFailure: "fail", CursorTTL: time.Minute},
		Cache:           Cache{Dir: "/var/cache/spyglass", MaxSize: 3 << 39, MetadataTTL: time.Minute, StaleIfError: 5 * time.Minute, VerdictTTL: 5 * time.Second, HighWatermark: 0.9, LowWatermark: 0.8},
		Redis:           Redis{Addr: "127.0.0.1:6379", Password: "pw", DB: 2, Timeout: 100 * time.Millisecond},
		Telemetry:       Telemetry{Metrics: false, TracesEndpoint: "http://127.0.0.1:4318"},
		Admin:           Admin{Listen: "127.0.0.1:9293"},
		ImportFiltering: Default().ImportFiltering,
		Transfers:       Default().Transfers,
		Log:             Log{Format: "json", Level: "warn"},
		ImageSizeCap:    10 << 30,
		ShutdownTimeout: 2 * time.Minute,
	}
	if !reflect.DeepEqual(settings(c), want) {
		t.Errorf("Parse:\n got %+v\nwant %+v", c, want)
	}
	if err := c.Validate(); err != nil {
		t.Errorf("Validate: %v", err)
	}
}

func TestParsePartial(t *testing.T) {
	tests := []struct {
		name string
		yaml string
		want func(*Config)
	}{
		{"empty file", "", func(*Config) {}},
		{"comment only", "# nothing\n", func(*Config) {}},
		{"listen only", "listen: 127.0.0.1:1\n", func(c *Config) { c.Listen = "127.0.0.1:1" }},
		{"cache keeps other defaults", "cache: {max_size: 1GiB}\n", func(c *Config) { c.Cache.MaxSize = 1 << 30 }},
		{"empty regions get the default", "regions: []\n", func(*Config) {}},
		{"one region becomes the default region", "regions: [{name: a, kind: local, data_dir: d}]\n", func(c *Config) {
			c.Regions = []Region{{Name: "a", Kind: "local", DataDir: "d"}}
			c.DefaultRegion = "a"
		}},
		{"byte count", "image_size_cap: 1024\n", func(c *Config) { c.ImageSizeCap = 1024 }},
		{"transfers", "transfers: {max_active: 4, per_project: 2}\n", func(c *Config) { c.Transfers.MaxActive, c.Transfers.PerProject = 4, 2 }},
		{"redis sentinel", "redis: {sentinel: {master_name: m, addrs: [10.0.0.1:26379, 10.0.0.2:26379]}}\n", func(c *Config) {
			c.Redis.Sentinel = Sentinel{MasterName: "m", Addrs: []string{"10.0.0.1:26379", "10.0.0.2:26379"}}
		}},
		{"redis cluster", "redis: {cluster: [10.0.0.1:6379]}\n", func(c *Config) { c.Redis.Cluster = []string{"10.0.0.1:6379"} }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Parse([]byte(tt.yaml))
			if err != nil {
				t.Fatal(err)
			}
			want := Default()
			tt.want(&want)
			if !reflect.DeepEqual(settings(got), want) {
				t.Errorf("got %+v\nwant %+v", got, want)
			}
		})
	}
}

func TestValidate(t *testing.T) {
	dir := t.TempDir()
	tokenFile, emptyFile := filepath.Join(dir, "admin.token"), filepath.Join(dir, "empty")
	os.WriteFile(tokenFile, []byte("0123456789abcdef0123\n"), 0o600)
	os.WriteFile(emptyFile, []byte("\n"), 0o600)
	tests := []struct {
		name   string
		change func(*Config)
		want   []string // substrings; nil means valid
	}{
		{"default", func(*Config) {}, nil},
		{"trusted", func(c *Config) { c.Auth.Mode = "trusted" }, nil},
		{"keystone", func(c *Config) { c.Auth.Mode = "keystone"; withServiceUser(c) }, nil},
		{"glance from the catalog", func(c *Config) {
			withServiceUser(c)
			c.Regions = append(c.Regions, Region{Name: "two", Kind: "glance", RegionName: "RegionTwo", Interface: "internal"})
		}, nil},
		{"port zero", func(c *Config) { c.Listen = "127.0.0.1:0" }, nil},
		{"all interfaces", func(c *Config) { c.Listen = ":9292" }, nil},
		{"ipv6", func(c *Config) { c.Listen = "[::1]:9292" }, nil},
		{"listen empty", func(c *Config) { c.Listen = "" }, []string{"listen: required"}},
		{"listen no port", func(c *Config) { c.Listen = "127.0.0.1" }, []string{"listen:", "host:port", "e.g. 127.0.0.1:9292"}},
		{"admin listen no port", func(c *Config) { c.Admin.Listen = "localhost" }, []string{"admin.listen:", "host:port", "or off"}},
		{"admin listen on the API's address", func(c *Config) { c.Admin.Listen = c.Listen }, []string{"admin.listen: the same address as listen"}},
		{"admin advertise", func(c *Config) {
			c.Admin.Listen, c.Admin.Advertise, c.Admin.TokenFile = "0.0.0.0:9293", "10.0.0.5:9293", tokenFile
		}, nil},
		{"admin advertise a name", func(c *Config) { c.Admin.Advertise, c.Admin.TokenFile = "gw1.site.example:9293", tokenFile }, nil},
		{"admin on every address without a token", func(c *Config) { c.Admin.Listen = "0.0.0.0:9293" }, []string{
			"admin.token_file: required: admin.listen 0.0.0.0:9293 is not a loopback address", "openssl rand -hex 32", "SPYGLASS_ADMIN_TOKEN", "127.0.0.1"}},
		{"admin on an empty host without a token", func(c *Config) { c.Admin.Listen = ":9293" }, []string{"admin.token_file: required: admin.listen :9293"}},
		{"admin on a network address without a token", func(c *Config) { c.Admin.Listen = "10.0.0.5:9293" }, []string{"admin.token_file: required"}},
		{"admin on a host name without a token", func(c *Config) { c.Admin.Listen = "gw1.site.example:9293" }, []string{"admin.token_file: required"}},
		{"admin advertised without a token", func(c *Config) { c.Admin.Advertise = "10.0.0.5:9293" }, []string{
			"admin.token_file: required: admin.advertise 10.0.0.5:9293 is not a loopback address"}},
		{"admin on loopback without a token", func(c *Config) { c.Admin.Listen = "127.0.0.2:0" }, nil},
		{"admin on ipv6 loopback without a token", func(c *Config) { c.Admin.Listen = "[::1]:9293" }, nil},
		{"admin on localhost without a token", func(c *Config) { c.Admin.Listen = "localhost:9293" }, nil},
		{"admin off without a token", func(c *Config) { c.Admin.Listen = "off" }, nil},
		{"admin on every address with a token file", func(c *Config) { c.Admin.Listen, c.Admin.TokenFile = "0.0.0.0:9293", tokenFile }, nil},
		{"admin on every address with a token from the environment", func(c *Config) {
			c.Admin.Listen, c.Admin.Token = "0.0.0.0:9293", "0123456789abcdef0123"
		}, nil},
		{"admin token file missing", func(c *Config) { c.Admin.TokenFile = filepath.Join(dir, "nothing") }, []string{"admin.token_file:", "no such file", "openssl rand -hex 32 >"}},
		{"admin token file empty", func(c *Config) { c.Admin.TokenFile = emptyFile }, []string{"admin.token_file: the admin token must be at least 16 characters"}},
		{"admin token too short", func(c *Config) { c.Admin.Token = "short" }, []string{"SPYGLASS_ADMIN_TOKEN: the admin token must be at least 16 characters"}},
		{"admin token with a space", func(c *Config) { c.Admin.Token = "0123456789 abcdef0123" }, []string{"SPYGLASS_ADMIN_TOKEN: the admin token must be", "without spaces"}},
		{"admin advertise every address", func(c *Config) { c.Admin.Advertise = "0.0.0.0:9293" }, []string{"admin.advertise:", "names no host", "e.g. 10.0.0.5:9293"}},
		{"admin advertise no host", func(c *Config) { c.Admin.Advertise = ":9293" }, []string{"admin.advertise:", "names no host"}},
		{"admin advertise port 0", func(c *Config) { c.Admin.Advertise = "10.0.0.5:0" }, []string{"admin.advertise:", "port 0"}},
		{"admin advertise no port", func(c *Config) { c.Admin.Advertise = "10.0.0.5" }, []string{"admin.advertise:", "host:port"}},
		{"admin advertise with admin off", func(c *Config) { c.Admin.Listen, c.Admin.Advertise = "off", "10.0.0.5:9293" }, []string{"admin.advertise: set while admin.listen is off"}},
		{"listen named port", func(c *Config) { c.Listen = "127.0.0.1:http" }, []string{"listen:", "port must be a number"}},
		{"listen port too big", func(c *Config) { c.Listen = "127.0.0.1:65536" }, []string{"listen:", "port must be a number"}},
		{"auth keystone without credentials", func(c *Config) { c.Auth.Mode = "keystone" }, []string{
			"auth.keystone.auth_url: required when auth.mode is keystone", "auth.keystone.username: required",
			"auth.keystone.password: required", "auth.keystone.project_name: required"}},
		{"auth keystone bad settings", func(c *Config) {
			c.Auth.Keystone.TokenCacheTTL, c.Auth.Keystone.InvalidTokenTTL, c.Auth.Keystone.Timeout = 0, -time.Second, 0
			c.Auth.Keystone.WWWAuthenticateURI, c.Auth.Keystone.Interface = "keystone:5000", "private"
		}, []string{"auth.keystone.token_cache_ttl: must be positive", "auth.keystone.invalid_token_ttl: must be positive",
			"auth.keystone.timeout: must be positive", "auth.keystone.www_authenticate_uri:", `auth.keystone.interface: unknown interface "private"`}},
		{"auth keystone bad auth_url", func(c *Config) {
			c.Auth.Mode = "keystone"
			c.Auth.Keystone = Default().Auth.Keystone
			c.Auth.Keystone.AuthURL, c.Auth.Keystone.Username, c.Auth.Keystone.Password, c.Auth.Keystone.ProjectName = "keystone:5000", "u", "p", "service"
		}, []string{"auth.keystone.auth_url:", "not an http:// or https:// URL"}},
		{"glance region_name without credentials", func(c *Config) {
			c.Regions = append(c.Regions, Region{Name: "two", Kind: "glance", RegionName: "RegionTwo", Interface: "internal"})
		}, []string{"auth.keystone.auth_url: required when regions[1].region_name is set"}},
		{"glance endpoint and region_name", func(c *Config) {
			c.Regions = append(c.Regions, Region{Name: "two", Kind: "glance", Endpoint: "http://127.0.0.1:9292", RegionName: "RegionTwo"})
		}, []string{"regions[1].region_name: set endpoint or region_name, not both"}},
		{"glance interface without region_name", func(c *Config) {
			c.Regions = append(c.Regions, Region{Name: "two", Kind: "glance", Endpoint: "http://127.0.0.1:9292", Interface: "admin"})
		}, []string{"regions[1].interface: only with region_name"}},
		{"glance bad interface", func(c *Config) {
			c.Regions = append(c.Regions, Region{Name: "two", Kind: "glance", RegionName: "RegionTwo", Interface: "private"})
		}, []string{`regions[1].interface: unknown interface "private"`}},
		{"local with region_name", func(c *Config) { c.Regions[0].RegionName = "RegionOne" }, []string{"regions[0].region_name: only for kind glance"}},
		{"auth unknown", func(c *Config) { c.Auth.Mode = "oauth" }, []string{`auth.mode: unknown mode "oauth"`, "noauth, trusted"}},
		{"auth empty", func(c *Config) { c.Auth.Mode = "" }, []string{"auth.mode: required"}},
		{"policy defaults unknown", func(c *Config) { c.Policy.Defaults = "new" }, []string{`policy.defaults: unknown rule set "new"`, "current", "legacy"}},
		{"policy defaults empty", func(c *Config) { c.Policy.Defaults = "" }, []string{"policy.defaults: required"}},
		{"policy file missing", func(c *Config) { c.Policy.File = "/nonexistent/policy.yaml" }, []string{"policy.file:", "no such file"}},
		{"policy file a directory", func(c *Config) { c.Policy.File = "." }, []string{"policy.file: . is a directory"}},
		{"no regions", func(c *Config) { c.Regions = nil }, []string{"regions: at least one region"}},
		{"region without name", func(c *Config) { c.Regions[0].Name = "" }, []string{"regions[0].name: required"}},
		{"region bad name", func(c *Config) { c.Regions[0].Name = "a b"; c.DefaultRegion = "a b" }, []string{"regions[0].name:", "letters, digits"}},
		{"duplicate region", func(c *Config) {
			c.Regions = append(c.Regions, Region{Name: "local", Kind: "local", DataDir: "x"})
		}, []string{`regions[1].name: "local" is also the name of regions[0]`}},
		{"local without data_dir", func(c *Config) { c.Regions[0].DataDir = "" }, []string{"regions[0].data_dir: required for kind local; e.g. ./data"}},
		{"local with endpoint", func(c *Config) { c.Regions[0].Endpoint = "http://x:1" }, []string{"regions[0].endpoint: only for kind glance"}},
		{"glance without endpoint", func(c *Config) {
			c.Regions = append(c.Regions, Region{Name: "two", Kind: "glance"})
		}, []string{"regions[1].endpoint: required for kind glance (or region_name"}},
		{"glance bad endpoint", func(c *Config) {
			c.Regions = append(c.Regions, Region{Name: "two", Kind: "glance", Endpoint: "127.0.0.1:9292"})
		}, []string{"regions[1].endpoint:", "not an http:// or https:// URL"}},
		{"glance with a negative timeout", func(c *Config) {
			c.Regions = append(c.Regions, Region{Name: "two", Kind: "glance", Endpoint: "http://127.0.0.1:19292", ReadTimeout: -time.Second})
		}, []string{"regions[1].read_timeout: must not be negative"}},
		{"watermarks upside down", func(c *Config) { c.Cache.HighWatermark, c.Cache.LowWatermark = 0.5, 0.7 }, []string{"cache.high_watermark: need 0 < low_watermark (0.7) < high_watermark (0.5) <= 1"}},
		{"kind empty", func(c *Config) { c.Regions[0].Kind = "" }, []string{"regions[0].kind: required"}},
		{"kind unknown", func(c *Config) { c.Regions[0].Kind = "s3" }, []string{`regions[0].kind: unknown kind "s3"`}},
		{"default region unknown", func(c *Config) { c.DefaultRegion = "nowhere" }, []string{`default_region: "nowhere" is not the name of a region; use one of "local"`}},
		{"default region needed", func(c *Config) {
			c.Regions = append(c.Regions, Region{Name: "two", Kind: "local", DataDir: "x"})
			c.DefaultRegion = ""
		}, []string{"default_region: required when there is more than one region"}},
		{"two local regions", func(c *Config) {
			c.Regions = append(c.Regions, Region{Name: "two", Kind: "local", DataDir: "x"})
		}, nil},
		{"negative cache size", func(c *Config) { c.Cache.MaxSize = -1 }, []string{"cache.max_size: must not be negative"}},
		{"cache without dir", func(c *Config) { c.Cache.Dir = "" }, []string{"cache.dir: required when cache.max_size is not 0"}},
		{"no cache", func(c *Config) { c.Cache.Dir = ""; c.Cache.MaxSize = 0 }, nil},
		{"negative ttl", func(c *Config) { c.Cache.MetadataTTL = -time.Second }, []string{"cache.metadata_ttl: must not be negative"}},
		{"redis", func(c *Config) { c.Redis.Addr = "127.0.0.1:6379" }, nil},
		{"redis bad", func(c *Config) { c.Redis.Addr = "localhost" }, []string{"redis.addr:", "e.g. 127.0.0.1:6379"}},
		{"redis cluster", func(c *Config) { c.Redis.Cluster = []string{"10.0.0.1:6379", "10.0.0.2:6379"}; c.Redis.Password = "p" }, nil},
		{"redis cluster bad node", func(c *Config) { c.Redis.Cluster = []string{"10.0.0.1:6379", "10.0.0.2"} }, []string{"redis.cluster[1]:", "host:port"}},
		{"redis cluster with a db", func(c *Config) { c.Redis.Cluster = []string{"10.0.0.1:6379"}; c.Redis.DB = 2 }, []string{"redis.db: a Redis Cluster has only database 0"}},
		{"redis sentinel", func(c *Config) {
			c.Redis.Sentinel = Sentinel{MasterName: "mymaster", Addrs: []string{"10.0.0.1:26379"}, Password: "s"}
			c.Redis.DB = 3
		}, nil},
		{"redis sentinel without master", func(c *Config) { c.Redis.Sentinel.Addrs = []string{"10.0.0.1:26379"} }, []string{"redis.sentinel.master_name: required"}},
		{"redis sentinel without addrs", func(c *Config) { c.Redis.Sentinel.MasterName = "mymaster" }, []string{"redis.sentinel.addrs: required"}},
		{"redis sentinel bad addr", func(c *Config) {
			c.Redis.Sentinel = Sentinel{MasterName: "m", Addrs: []string{"x"}}
		}, []string{"redis.sentinel.addrs[0]:", "host:port"}},
		{"redis addr and cluster", func(c *Config) { c.Redis.Addr = "127.0.0.1:6379"; c.Redis.Cluster = []string{"10.0.0.1:6379"} }, []string{
			"redis.cluster: redis.addr and redis.cluster are both set", "keep one"}},
		{"redis cluster and sentinel", func(c *Config) {
			c.Redis.Cluster = []string{"10.0.0.1:6379"}
			c.Redis.Sentinel = Sentinel{MasterName: "m", Addrs: []string{"10.0.0.1:26379"}}
		}, []string{"redis.sentinel: redis.cluster and redis.sentinel are both set"}},
		{"redis negative db", func(c *Config) { c.Redis.Addr = "127.0.0.1:6379"; c.Redis.DB = -1 }, []string{"redis.db: must not be negative"}},
		{"traces bad", func(c *Config) { c.Telemetry.TracesEndpoint = "localhost:4318" }, []string{"telemetry.traces_endpoint:"}},
		{"traces ok", func(c *Config) { c.Telemetry.TracesEndpoint = "https://collector.example:4318/v1/traces" }, nil},
		{"traces no host", func(c *Config) { c.Telemetry.TracesEndpoint = "http:///v1/traces" },
			[]string{`telemetry.traces_endpoint: "http:///v1/traces" is not an http:// or https:// URL`, "e.g. http://127.0.0.1:4318"}},
		{"traces grpc scheme", func(c *Config) { c.Telemetry.TracesEndpoint = "grpc://127.0.0.1:4317" },
			[]string{"telemetry.traces_endpoint:", "OTLP/HTTP", "e.g. http://127.0.0.1:4318"}},
		{"negative size cap", func(c *Config) { c.ImageSizeCap = -1 }, []string{"image_size_cap: must not be negative"}},
		{"negative shutdown", func(c *Config) { c.ShutdownTimeout = -1 }, []string{"shutdown_timeout: must not be negative"}},
		{"no transfer slot", func(c *Config) { c.Transfers.MaxActive = 0 }, []string{"transfers.max_active: must be at least 1; e.g. 10"}},
		{"transfers per project and queue", func(c *Config) { c.Transfers.PerProject, c.Transfers.MaxQueued = 0, -1 }, []string{
			"transfers.max_queued: must be at least 1; e.g. 100", "transfers.per_project: must be at least 1; e.g. 5"}},
		{"log json debug", func(c *Config) { c.Log.Format, c.Log.Level = "json", "debug" }, nil},
		{"log format unknown", func(c *Config) { c.Log.Format = "yaml" }, []string{`log.format: unknown format "yaml"; text or json`}},
		{"log level unknown", func(c *Config) { c.Log.Level = "trace" }, []string{`log.level: unknown level "trace"; debug, info, warn or error`}},
		{"log level empty", func(c *Config) { c.Log.Level = "" }, []string{`log.level: unknown level ""`}},
		{"every error reported", func(c *Config) { c.Listen = ""; c.Auth.Mode = "x" }, []string{"listen:", "auth.mode:"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := Default()
			tt.change(&c)
			err := c.Validate()
			if tt.want == nil {
				if err != nil {
					t.Fatalf("Validate: %v", err)
				}
				return
			}
			if err == nil {
				t.Fatal("Validate succeeded, want an error")
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not contain %q", err, w)
				}
			}
		})
	}
}

func TestLoad(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "spyglass.yaml")
	if err := os.WriteFile(path, []byte("listen: 127.0.0.1:1000\nauth: {mode: trusted}\n"), 0o644); err != nil {
		t.Fatal(err)
	}

	t.Run("file", func(t *testing.T) {
		c, err := Load(path)
		if err != nil {
			t.Fatal(err)
		}
		if got, want := c.Listen, "127.0.0.1:1000"; got != want {
			t.Errorf("Listen = %q, want %q", got, want)
		}
		if got, want := c.Auth.Mode, "trusted"; got != want {
			t.Errorf("Auth.Mode = %q, want %q", got, want)
		}
	})
	t.Run("no file", func(t *testing.T) {
		c, err := Load("")
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(settings(c), Default()) {
			t.Errorf("Load(\"\") = %+v, want Default()", c)
		}
	})
	t.Run("missing file", func(t *testing.T) {
		_, err := Load(filepath.Join(dir, "nope.yaml"))
		if err == nil || !strings.Contains(err.Error(), "nope.yaml") {
			t.Errorf("Load(missing) error = %v, want one naming the file", err)
		}
	})
	t.Run("environment over file", func(t *testing.T) {
		t.Setenv(EnvListen, "127.0.0.1:2000")
		t.Setenv(EnvAuth, "noauth")
		t.Setenv(EnvDataDir, "/srv/images")
		t.Setenv(EnvAdmin, "off")
		t.Setenv(EnvLogLevel, "debug")
		t.Setenv(EnvLogFormat, "json")
		c, err := Load(path)
		if err != nil {
			t.Fatal(err)
		}
		if got, want := c.Log, (Log{Format: "json", Level: "debug"}); got != want {
			t.Errorf("Log = %+v, want %+v", got, want)
		}
		if got, want := c.Admin.Listen, "off"; got != want {
			t.Errorf("Admin.Listen = %q, want %q", got, want)
		}
		if got, want := c.Listen, "127.0.0.1:2000"; got != want {
			t.Errorf("Listen = %q, want %q", got, want)
		}
		if got, want := c.Auth.Mode, "noauth"; got != want {
			t.Errorf("Auth.Mode = %q, want %q", got, want)
		}
		if got, want := c.Regions[0].DataDir, "/srv/images"; got != want {
			t.Errorf("Regions[0].DataDir = %q, want %q", got, want)
		}
	})
	t.Run("invalid environment", func(t *testing.T) {
		t.Setenv(EnvAuth, "keystone")
		_, err := Load(path)
		if err == nil || !strings.Contains(err.Error(), "auth.keystone.auth_url: required when auth.mode is keystone") {
			t.Errorf("Load error = %v, want auth.keystone.auth_url required", err)
		}
	})
}

func TestApplyDataDirNeedsLocalDefault(t *testing.T) {
	c := Default()
	c.Regions = []Region{{Name: "two", Kind: "glance", Endpoint: "http://127.0.0.1:1"}}
	c.DefaultRegion = "two"
	err := c.Apply(Overrides{DataDir: "/x"})
	if err == nil || !strings.Contains(err.Error(), `default region "two" is not a local region`) {
		t.Errorf("Apply(DataDir) error = %v", err)
	}
}

// TestImportFiltering: Glance's keys; an empty allowed list given in the
// file replaces the default (so that the disallowed list applies, as in
// Glance), and bad entries are named.
func TestImportFiltering(t *testing.T) {
	c, err := Parse([]byte("import_filtering: {allowed_ports: [], disallowed_ports: [22], allowed_hosts: [mirror.internal, 127.0.0.1, \"[::1]\"]}"))
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	if got, want := len(c.ImportFiltering.AllowedPorts), 0; got != want {
		t.Errorf("allowed_ports has %d entries, want %d", got, want)
	}
	if got, want := c.ImportFiltering.AllowedSchemes, []string{"http", "https"}; !reflect.DeepEqual(got, want) {
		t.Errorf("allowed_schemes = %v, want the default %v", got, want)
	}
	c, _ = Parse([]byte("import_filtering: {allowed_schemes: [ftp], allowed_ports: [0], allowed_hosts: [10.0.0.0/8, a b], disallowed_hosts: [10.0.0.0/8]}"))
	err = c.Validate()
	for _, want := range []string{"import_filtering.allowed_schemes[0]", "import_filtering.allowed_ports[0]", "import_filtering.allowed_hosts[0]", "import_filtering.allowed_hosts[1]"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("Validate: %v; want an error for %s", err, want)
		}
	}
	if err != nil && strings.Contains(err.Error(), "disallowed_hosts") {
		t.Errorf("Validate: %v; a CIDR prefix is a valid disallowed host", err)
	}
}

// TestAdminReadToken: SPYGLASS_ADMIN_TOKEN wins over admin.token_file,
// whose first line is the token, surrounding spaces dropped; Read takes the
// variable from the environment.
func TestAdminReadToken(t *testing.T) {
	file := filepath.Join(t.TempDir(), "admin.token")
	if err := os.WriteFile(file, []byte("  from-the-file-0123456789 \nsecond line\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	a := Admin{TokenFile: file}
	if got, err := a.ReadToken(); err != nil || got != "from-the-file-0123456789" {
		t.Errorf("ReadToken from the file = %q, %v", got, err)
	}
	t.Setenv(EnvAdminToken, "from-the-environment-0123")
	c, err := Read("")
	if err != nil {
		t.Fatal(err)
	}
	c.Admin.TokenFile = file
	if got, err := c.Admin.ReadToken(); err != nil || got != "from-the-environment-0123" {
		t.Errorf("ReadToken with %s set = %q, %v; want the variable's", EnvAdminToken, got, err)
	}
	if got, err := (Admin{}).ReadToken(); err != nil || got != "" {
		t.Errorf("ReadToken with neither = %q, %v; want none", got, err)
	}
}

// TestREADMEExampleIsDefault checks that the configuration example in the
// README, which shows every key with its default, parses to Default().
func TestREADMEExampleIsDefault(t *testing.T) {
	b, err := os.ReadFile("../README.md")
	if err != nil {
		t.Skipf("no README: %v", err)
	}
	readme := string(b)
	i := strings.Index(readme, "## Configuration")
	if i < 0 {
		t.Fatal("README.md has no ## Configuration section")
	}
	start := strings.Index(readme[i:], "```yaml\n")
	if start < 0 {
		t.Fatal("README.md's configuration section has no ```yaml example")
	}
	example := readme[i+start+len("```yaml\n"):]
	example = example[:strings.Index(example, "```")]
	got, err := Parse([]byte(example))
	if err != nil {
		t.Fatalf("README example: %v", err)
	}
	if want := Default(); !reflect.DeepEqual(settings(got), want) {
		t.Errorf("README example parses to\n %+v\nwant Default()\n %+v", got, want)
	}
}

// settings is c without the record of where its values came from, to
// compare with a Config built in code.
func settings(c Config) Config {
	c.src = sources{}
	return c
}

// withServiceUser sets complete Keystone service credentials.
func withServiceUser(c *Config) {
	k := &c.Auth.Keystone
	k.AuthURL, k.Username, k.Password, k.ProjectName = "http://127.0.0.1:5000/v3", "glance", "secret", "service"
}

// TestLocaleDir: i18n.locale_dir from the file or SPYGLASS_I18N_LOCALE_DIR,
// checked to be a directory; empty (the default) means English only.
func TestLocaleDir(t *testing.T) {
	clearEnv(t)
	if got := Default().I18n.LocaleDir; got != "" {
		t.Fatalf("default i18n.locale_dir %q, want empty", got)
	}
	locale := t.TempDir()
	file := filepath.Join(locale, "not-a-dir")
	os.WriteFile(file, nil, 0o644)

	c, err := Load(writeConfig(t, "i18n:\n  locale_dir: "+locale+"\n"))
	if err != nil {
		t.Fatal(err)
	}
	if got := c.I18n.LocaleDir; got != locale {
		t.Errorf("from the file: %q, want %q", got, locale)
	}
	t.Setenv(EnvLocaleDir, locale)
	if c, err = Load(""); err != nil || c.I18n.LocaleDir != locale {
		t.Errorf("from %s: %q, %v; want %q", EnvLocaleDir, c.I18n.LocaleDir, err, locale)
	}
	for _, tc := range []struct{ dir, want string }{
		{filepath.Join(locale, "missing"), "i18n.locale_dir: stat " + filepath.Join(locale, "missing") + ": no such file or directory; give a directory of <lang>/LC_MESSAGES/glance.mo catalogs"},
		{file, "i18n.locale_dir: " + file + " is not a directory"},
	} {
		t.Setenv(EnvLocaleDir, tc.dir)
		_, err := Load("")
		if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), EnvLocaleDir) {
			t.Errorf("locale_dir %s: %v, want an error from %s with %q", tc.dir, err, EnvLocaleDir, tc.want)
		}
	}
}
