package config

import (
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
)

// TestLoadReportsEveryProblem: each bad file gives, in one pass, the exact
// list of its problems: file:line, key path, what was expected, and for an
// unknown key the nearest known one.
func TestLoadReportsEveryProblem(t *testing.T) {
	tests := []struct {
		name string
		yaml string
		want []string
	}{
		{"several problems in one file", `listne: 127.0.0.1:9292
cache:
  max_sise: 1GiB
  metadata_ttl: 30
regions:
  - {name: a, kind: local, data_dir: /tmp/a}
  - name: b
    kind: glance
    endpont: http://127.0.0.1:9292
log: {level: loud}
`, []string{
			"spyglass.yaml:1: listne: unknown key; did you mean listen?",
			"spyglass.yaml:3: cache.max_sise: unknown key; did you mean cache.max_size?",
			"spyglass.yaml:4: cache.metadata_ttl: expected a duration like 30s, got 30; add a unit: 30s, 5m, 100ms",
			"spyglass.yaml:7: regions[1].endpoint: required for kind glance (or region_name, to find it in the Keystone catalog); e.g. http://127.0.0.1:9292",
			"spyglass.yaml:9: regions[1].endpont: unknown key; did you mean regions[1].endpoint?",
			`spyglass.yaml:10: log.level: unknown level "loud"; debug, info, warn or error`,
			"spyglass.yaml: default_region: required when there is more than one region; name one of regions[].name",
		}},

		// A type error of each kind: the expectation, not yaml.v3's words.
		{"duration: a bare number", "shutdown_timeout: 30\n", []string{
			"spyglass.yaml:1: shutdown_timeout: expected a duration like 30s, got 30; add a unit: 30s, 5m, 100ms"}},
		{"duration: a word", "cache:\n  stale_if_error: forever\n", []string{
			"spyglass.yaml:2: cache.stale_if_error: expected a duration like 30s, got forever; a number with a unit: ms, s, m or h"}},
		{"duration: a list", "auth: {keystone: {timeout: [5s]}}\n", []string{
			"spyglass.yaml:1: auth.keystone.timeout: expected a duration like 30s, got a list"}},
		{"size: unknown unit", "cache: {max_size: 50 gigs}\n", []string{
			`spyglass.yaml:1: cache.max_size: expected a size like 50GiB, got "50 gigs"; unknown unit "gigs": use B, KiB, MiB, GiB, TiB, PiB (1024) or kB, MB, GB, TB, PB (1000)`}},
		{"size: a fraction of a byte", "image_size_cap: 1.5B\n", []string{
			"spyglass.yaml:1: image_size_cap: expected a size like 50GiB, got 1.5B; not a whole number of bytes"}},
		{"bool", "telemetry:\n  metrics: maybe\n", []string{
			"spyglass.yaml:2: telemetry.metrics: expected true or false, got maybe"}},
		{"int", "redis: {db: first}\n", []string{
			"spyglass.yaml:1: redis.db: expected a whole number, got first"}},
		{"int in a list element", "regions:\n  - {name: a, kind: local, data_dir: d, max_page: 1e9x}\n", []string{
			"spyglass.yaml:2: regions[0].max_page: expected a whole number, got 1e9x"}},
		{"number", "cache: {high_watermark: high}\n", []string{
			"spyglass.yaml:1: cache.high_watermark: expected a number like 0.9, got high"}},
		{"string", "listen: {host: x}\n", []string{
			"spyglass.yaml:1: listen: expected a string, got a mapping"}},
		{"list of strings", "redis:\n  cluster: 10.0.0.1:6379\n", []string{
			"spyglass.yaml:2: redis.cluster: expected a list like [a, b], got 10.0.0.1:6379"}},
		{"list element", "redis: {cluster: [10.0.0.1:6379, [10.0.0.2:6379]]}\n", []string{
			"spyglass.yaml:1: redis.cluster[1]: expected a string, got a list"}},
		{"list of regions", "regions: {name: a}\n", []string{
			"spyglass.yaml:1: regions: expected a list of mappings with keys like name, kind, …, got a mapping"}},
		{"region not a mapping", "regions:\n  - {name: a, kind: local, data_dir: d}\n  - b\ndefault_region: a\n", []string{
			"spyglass.yaml:3: regions[1]: expected a mapping with keys like name, kind, …, got b"}},
		{"map", "project_regions: [p1, local]\n", []string{
			"spyglass.yaml:1: project_regions: expected a mapping of names to values like {name: value}, got a list"}},
		{"map value", "project_regions: {p1: [local]}\n", []string{
			"spyglass.yaml:1: project_regions.p1: expected a string, got a list"}},
		{"section", "cache: 50GiB\n", []string{
			"spyglass.yaml:1: cache: expected a mapping with keys like dir, max_size, …, got 50GiB"}},
		{"enum", "auth:\n  mode: [keystone]\n", []string{
			"spyglass.yaml:2: auth.mode: expected one of noauth, trusted, keystone, got a list"}},
		{"enum in a list element", "regions:\n  - {name: a, kind: {local: true}, data_dir: d}\n", []string{
			"spyglass.yaml:2: regions[0].kind: expected one of local, glance, got a mapping"}},
		{"enum value", "log:\n  format: yaml\n", []string{
			`spyglass.yaml:2: log.format: unknown format "yaml"; text or json`}},

		// Unknown keys.
		{"unknown section", "cahce: {dir: /tmp}\n", []string{"spyglass.yaml:1: cahce: unknown key; did you mean cache?"}},
		{"a word of a key", "regions:\n  - {name: a, kind: local, dir: d}\n", []string{
			"spyglass.yaml:2: regions[0].dir: unknown key; did you mean regions[0].data_dir?",
			"spyglass.yaml:2: regions[0].data_dir: required for kind local; e.g. ./data",
		}},
		{"a key in the wrong section", "max_size: 1GiB\n", []string{"spyglass.yaml:1: max_size: unknown key; did you mean cache.max_size?"}},
		{"a word of a key at the top level", "timeout: 1s\n", []string{
			"spyglass.yaml:1: timeout: unknown key; did you mean shutdown_timeout?"}},
		{"a key of several sections", "password: secret\n", []string{
			"spyglass.yaml:1: password: unknown key; did you mean auth.keystone.password or redis.sentinel.password or redis.password?"}},
		{"a key in the wrong subsection", "auth:\n  keystone: {mode: keystone}\n", []string{
			"spyglass.yaml:2: auth.keystone.mode: unknown key; did you mean auth.mode?"}},
		{"nothing near", "log:\n  colour: true\n", []string{
			"spyglass.yaml:2: log.colour: unknown key; log takes format, level"}},
		{"a key given twice", "listen: 127.0.0.1:1\nlisten: 127.0.0.1:2\n", []string{
			"spyglass.yaml:2: listen: given twice (also at line 1); keep one"}},

		// Validation problems are placed at their key, or at the nearest
		// enclosing key the file has.
		{"validation at the key", "admin:\n  advertise: 0.0.0.0:9293\n", []string{
			`spyglass.yaml:2: admin.advertise: "0.0.0.0:9293" names no host to dial; the host:port the other instances reach this one's admin listener at, e.g. 10.0.0.5:9293`}},
		{"validation of a key the file leaves out", "auth:\n  mode: keystone\n", []string{
			"spyglass.yaml:1: auth.keystone.auth_url: required when auth.mode is keystone; Keystone's v3 URL, e.g. http://127.0.0.1:5000/v3",
			"spyglass.yaml:1: auth.keystone.username: required when auth.mode is keystone; the gateway's service user, e.g. glance",
			"spyglass.yaml:1: auth.keystone.password: required when auth.mode is keystone; the service user's password",
			"spyglass.yaml:1: auth.keystone.project_name: required when auth.mode is keystone; the service user's project, e.g. service",
		}},
		{"validation of a list element", "redis:\n  cluster:\n    - 10.0.0.1:6379\n    - 10.0.0.2\n", []string{
			`spyglass.yaml:4: redis.cluster[1]: "10.0.0.2" is not host:port; a seed node of the cluster, e.g. 10.0.0.1:6379`}},

		// The file as a whole.
		{"not YAML", "listen: [\n", []string{"spyglass.yaml:1: not valid YAML: did not find expected node content"}},
		{"not a mapping", "- listen\n", []string{"spyglass.yaml:1: expected a mapping of keys (listen, auth, policy, …), got a list"}},
		{"two documents", "listen: 127.0.0.1:1\n---\nlisten: 127.0.0.1:2\n", []string{
			"spyglass.yaml:2: a second YAML document (after ---); the configuration is one document"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := loadProblems(t, tt.yaml); !slices.Equal(got, tt.want) {
				t.Errorf("problems:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(tt.want, "\n"))
			}
		})
	}
}

// TestLoadAcceptsWhatYAMLAllows: anchors, aliases and merge keys decode as
// yaml.v3 decodes them, a bare 0 is a duration (the reference says 0 turns
// a TTL off), null empties a list and leaves a section's defaults.
func TestLoadAcceptsWhatYAMLAllows(t *testing.T) {
	tests := []struct {
		name string
		yaml string
		want func(*Config)
	}{
		{"merge keys", `
regions:
  - &glance {kind: glance, read_timeout: 1m, max_page: 500, name: a, endpoint: "http://127.0.0.1:1"}
  - <<: [*glance, {max_page: 9}]
    name: b
    max_page: 20
    endpoint: "http://127.0.0.1:2"
default_region: a
`, nil},
		{"duration zero", "cache: {metadata_ttl: 0, stale_if_error: 0s}\n", func(c *Config) { c.Cache.MetadataTTL, c.Cache.StaleIfError = 0, 0 }},
		{"null section keeps its defaults", "cache:\n  # max_size: 1GiB\n", func(*Config) {}},
		{"null list empties it", "redis: {cluster: ~}\n", func(*Config) {}},
		{"null scalar keeps its default", "listen:\n", func(*Config) {}},
		{"yaml 1.1 booleans", "telemetry: {metrics: off}\n", func(c *Config) { c.Telemetry.Metrics = false }},
		{"alias of a scalar", "listen: &l 127.0.0.1:1\nredis: {addr: *l}\n", func(c *Config) { c.Listen, c.Redis.Addr = "127.0.0.1:1", "127.0.0.1:1" }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			clearEnv(t)
			path := writeConfig(t, tt.yaml)
			c, err := Load(path)
			if err != nil {
				t.Fatal(err)
			}
			if tt.want == nil {
				return
			}
			want := Default()
			tt.want(&want)
			if !reflect.DeepEqual(settings(c), want) {
				t.Errorf("got %+v\nwant %+v", c, want)
			}
		})
	}

	c, err := Parse([]byte(tests[0].yaml))
	if err != nil {
		t.Fatal(err)
	}
	a := Region{Name: "a", Kind: KindGlance, Endpoint: "http://127.0.0.1:1", ReadTimeout: time.Minute, ConnectTimeout: 5 * time.Second, MaxPage: 500}
	b := Region{Name: "b", Kind: KindGlance, Endpoint: "http://127.0.0.1:2", ReadTimeout: time.Minute, ConnectTimeout: 5 * time.Second, MaxPage: 20}
	if got, want := c.Regions, []Region{a, b}; !reflect.DeepEqual(got, want) {
		t.Errorf("merged regions = %+v, want %+v", got, want)
	}
}

// TestOverridesAreNamed: a bad value from the environment or a flag names
// the variable or the flag, not a line of the file.
func TestOverridesAreNamed(t *testing.T) {
	path := writeConfig(t, "auth:\n  mode: trusted\nlisten: 127.0.0.1:9393\n")
	t.Run("environment", func(t *testing.T) {
		clearEnv(t)
		t.Setenv(EnvAuth, "kerberos")
		t.Setenv(EnvAdmin, "nowhere")
		want := []string{
			`SPYGLASS_ADMIN_LISTEN: admin.listen: "nowhere" is not host:port; e.g. 127.0.0.1:9293, or off`,
			`SPYGLASS_AUTH: auth.mode: unknown mode "kerberos"; one of noauth, trusted, keystone`,
		}
		if got := problemsOf(t, path, Overrides{}); !slices.Equal(got, want) {
			t.Errorf("problems:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
		}
	})
	t.Run("flags over the environment", func(t *testing.T) {
		clearEnv(t)
		t.Setenv(EnvAuth, "kerberos")
		want := []string{
			`--listen: listen: "nowhere" is not host:port; e.g. 127.0.0.1:9292`,
			`--auth: auth.mode: unknown mode "ldap"; one of noauth, trusted, keystone`,
		}
		if got := problemsOf(t, path, Overrides{Auth: "ldap", Listen: "nowhere"}); !slices.Equal(got, want) {
			t.Errorf("problems:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
		}
	})
	t.Run("a flag over a key the file got wrong", func(t *testing.T) {
		clearEnv(t)
		bad := writeConfig(t, "auth: {mode: [trusted]}\n")
		want := []string{
			"spyglass.yaml:1: auth.mode: expected one of noauth, trusted, keystone, got a list",
			`--auth: auth.mode: unknown mode "ldap"; one of noauth, trusted, keystone`,
		}
		if got := problemsOf(t, bad, Overrides{Auth: "ldap"}); !slices.Equal(got, want) {
			t.Errorf("problems:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
		}
	})
	t.Run("data dir of a glance default region", func(t *testing.T) {
		clearEnv(t)
		glance := writeConfig(t, "regions: [{name: g, kind: glance, endpoint: 'http://127.0.0.1:1'}]\n")
		want := []string{`--data-dir: regions[].data_dir: "/srv": the default region "g" is not a local region; set data_dir on a local region in the file instead`}
		if got := problemsOf(t, glance, Overrides{DataDir: "/srv"}); !slices.Equal(got, want) {
			t.Errorf("problems:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
		}
	})
	t.Run("a copy keeps its own sources", func(t *testing.T) {
		clearEnv(t)
		c, err := Read(path)
		if err != nil {
			t.Fatal(err)
		}
		flagged := c
		if err := flagged.Apply(Overrides{Listen: "nowhere"}); err != nil {
			t.Fatal(err)
		}
		c.Listen = "nowhere"
		if got, want := c.Validate().Error(), `spyglass.yaml:3: listen: "nowhere" is not host:port; e.g. 127.0.0.1:9292`; !strings.HasSuffix(got, want) {
			t.Errorf("Validate of the copy without the flag = %q, want it to end in %q", got, want)
		}
	})
}

// TestSuggest covers the distance thresholds of "did you mean".
func TestSuggest(t *testing.T) {
	cache := yamlNames(reflect.TypeOf(Cache{}))
	for _, tt := range []struct{ name, section, want string }{
		{"max_sise", "cache", "cache.max_size"},
		{"maxsize", "cache", "cache.max_size"},
		{"metdata_tll", "cache", "cache.metadata_ttl"},
		{"dri", "cache", "cache.dir"},
		{"ttl", "cache", "cache.metadata_ttl or cache.verdict_ttl"},
		{"password", "cache", "auth.keystone.password or redis.sentinel.password or redis.password"},
		{"size", "cache", "cache.max_size"},
		{"x", "cache", ""},
		{"completely_different", "cache", ""},
		{strings.Repeat("a", 100), "cache", ""},
	} {
		if got := suggest(tt.name, tt.section, cache); got != tt.want {
			t.Errorf("suggest(%q in %s) = %q, want %q", tt.name, tt.section, got, tt.want)
		}
	}
	for _, tt := range []struct {
		a, b string
		want int
	}{{"", "", 0}, {"abc", "", 3}, {"cahce", "cache", 1}, {"listne", "listen", 1}, {"kitten", "sitting", 3}, {"ca", "abc", 3}} {
		if got := editDistance(tt.a, tt.b); got != tt.want {
			t.Errorf("editDistance(%q, %q) = %d, want %d", tt.a, tt.b, got, tt.want)
		}
	}
}

// TestDecodeBoundsAliases: a few lines of aliases and merge keys that
// expand exponentially, or merge themselves, end with a problem rather
// than run out of time or memory.
func TestDecodeBoundsAliases(t *testing.T) {
	var b strings.Builder
	b.WriteString("x0: &a0 {name: n, kind: local, data_dir: d}\n")
	for i := 1; i <= 40; i++ {
		b.WriteString("x" + strconv.Itoa(i) + ": &a" + strconv.Itoa(i) + " {<<: [*a" + strconv.Itoa(i-1) + ", *a" + strconv.Itoa(i-1) + "]}\n")
	}
	b.WriteString("regions: [*a40]\n")
	_, err := Parse([]byte(b.String()))
	if err == nil || !strings.Contains(err.Error(), "regions[0]: aliases and merge keys expand to more than a million values") {
		t.Errorf("Parse(exponential merges) error = %v", err)
	}

	c, err := Parse([]byte("cache: &c {max_size: 1GiB, <<: *c}\n"))
	if err != nil {
		t.Fatalf("Parse(self-merge): %v", err)
	}
	if got, want := c.Cache.MaxSize, Size(1<<30); got != want {
		t.Errorf("cache.max_size = %v, want %v", got, want)
	}
}

// loadProblems writes yaml to spyglass.yaml in a fresh directory, loads it
// with no environment and returns its problems, the directory cut.
func loadProblems(t *testing.T, yaml string) []string {
	t.Helper()
	clearEnv(t)
	return problemsOf(t, writeConfig(t, yaml))
}

func problemsOf(t *testing.T, path string, flags ...Overrides) []string {
	t.Helper()
	_, err := Load(path, flags...)
	if err == nil {
		return nil
	}
	var ps Problems
	if !errors.As(err, &ps) {
		t.Fatalf("Load error %v (%T) is not Problems", err, err)
	}
	var out []string
	for _, p := range ps {
		out = append(out, strings.TrimPrefix(p.Error(), filepath.Dir(path)+string(filepath.Separator)))
	}
	return out
}

func writeConfig(t *testing.T, yaml string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "spyglass.yaml")
	if err := os.WriteFile(path, []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// clearEnv unsets the SPYGLASS_* variables Load reads, for the test.
func clearEnv(t *testing.T) {
	t.Helper()
	for _, v := range []string{EnvListen, EnvAuth, EnvDataDir, EnvAdmin, EnvLogLevel, EnvLogFormat, EnvLocaleDir} {
		t.Setenv(v, "")
	}
}
