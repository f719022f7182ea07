package config

import (
	"bytes"
	"fmt"
	"os"
	"reflect"
	"strings"
	"testing"
	"time"
)

const regenerate = "regenerate it from the repository root with: go generate ./config"

// TestReferenceIsCurrent: docs/config.md and the README's configuration
// table are what the generator writes from config.go's field comments and
// Default(); a key added, removed or re-documented without regenerating
// fails here.
func TestReferenceIsCurrent(t *testing.T) {
	want, err := ReferenceMarkdown()
	if err != nil {
		t.Fatal(err)
	}
	got, err := os.ReadFile("../docs/config.md")
	if err != nil {
		t.Fatalf("%v; %s", err, regenerate)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("docs/config.md differs from the config structs' reference (%s); %s", firstLineDiff(got, want), regenerate)
	}

	readme, err := os.ReadFile("../README.md")
	if err != nil {
		t.Fatal(err)
	}
	table, err := ReadmeTable()
	if err != nil {
		t.Fatal(err)
	}
	wantReadme, err := SpliceReadme(readme, table)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(readme, wantReadme) {
		t.Errorf("README.md's configuration table differs from the config structs' reference (%s); %s", firstLineDiff(readme, wantReadme), regenerate)
	}
}

func firstLineDiff(have, generated []byte) string {
	h, g := strings.Split(string(have), "\n"), strings.Split(string(generated), "\n")
	for i := range max(len(h), len(g)) {
		var hl, gl string
		if i < len(h) {
			hl = h[i]
		}
		if i < len(g) {
			gl = g[i]
		}
		if hl != gl {
			return fmt.Sprintf("line %d: committed %.100q, generated %.100q", i+1, hl, gl)
		}
	}
	return "no line differs"
}

// TestReferenceCoversEveryKey: every key the YAML decoder accepts has a
// row, with its type and the default Default() gives it.
func TestReferenceCoversEveryKey(t *testing.T) {
	keys, _, err := Reference()
	if err != nil {
		t.Fatal(err)
	}
	byKey := map[string]KeyDoc{}
	for _, k := range keys {
		byKey[k.Key] = k
	}
	for _, tt := range []struct{ key, typ, def, env, flag string }{
		{"listen", "string", "127.0.0.1:9292", EnvListen, "--listen"},
		{"auth.mode", "string", "noauth", EnvAuth, "--auth"},
		{"admin.listen", "string", "127.0.0.1:9293", EnvAdmin, "--admin-listen"},
		{"regions[].data_dir", "string", "", EnvDataDir, "--data-dir"},
		{"regions", "list", "[{name: local, kind: local, data_dir: ./data}]", "", ""},
		{"regions[].read_timeout", "duration", "30s", "", ""},
		{"cache.max_size", "size", "50GiB", "", ""},
		{"cache.metadata_ttl", "duration", "30s", "", ""},
		{"auth.keystone.token_cache_ttl", "duration", "5m", "", ""},
		{"redis.timeout", "duration", "100ms", "", ""},
		{"redis.cluster", "list of strings", "empty", "", ""},
		{"redis.sentinel.master_name", "string", "empty", "", ""},
		{"project_regions", "map of string to string", "empty", "", ""},
		{"image_size_cap", "size", "0", "", ""},
		{"telemetry.metrics", "bool", "true", "", ""},
		{"cache.high_watermark", "number", "0.9", "", ""},
	} {
		k, ok := byKey[tt.key]
		if !ok {
			t.Errorf("no row for %s", tt.key)
			continue
		}
		if k.Type != tt.typ || k.Default != tt.def || k.Env != tt.env || k.Flag != tt.flag {
			t.Errorf("%s: type %q default %q env %q flag %q; want %q %q %q %q", tt.key, k.Type, k.Default, k.Env, k.Flag, tt.typ, tt.def, tt.env, tt.flag)
		}
		if k.Doc == "" {
			t.Errorf("%s: no meaning", tt.key)
		}
	}
	// Every key a file may set, whatever the walk's own idea of keys.
	var walk func(t reflect.Type, prefix string)
	n := 0
	walk = func(typ reflect.Type, prefix string) {
		for i := range typ.NumField() {
			f := typ.Field(i)
			name := strings.Split(f.Tag.Get("yaml"), ",")[0]
			if name == "" || name == "-" {
				continue // not a key: where the values came from, or set from the environment
			}
			key := prefix + name
			switch {
			case f.Type.Kind() == reflect.Struct && f.Type.PkgPath() == typ.PkgPath():
				walk(f.Type, key+".")
				continue
			case f.Type.Kind() == reflect.Slice && f.Type.Elem().Kind() == reflect.Struct:
				walk(f.Type.Elem(), key+"[].")
			}
			n++
			if _, ok := byKey[key]; !ok {
				t.Errorf("no row for %s", key)
			}
		}
	}
	walk(reflect.TypeOf(Config{}), "")
	if n != len(keys) {
		t.Errorf("%d rows for %d keys", len(keys), n)
	}
}

// An undocumented key is named in Reference's error.
func TestReferenceRefusesAnUndocumentedKey(t *testing.T) {
	type undocumented struct { // declared in a test file: no comments reach the reference
		Shiny string `yaml:"shiny"`
	}
	_, _, err := referenceOf(reflect.TypeOf(undocumented{}), reflect.ValueOf(undocumented{}))
	if err == nil || !strings.Contains(err.Error(), "shiny") || !strings.Contains(err.Error(), "go generate ./config") {
		t.Errorf("referenceOf(undocumented) error = %v, want one naming shiny and how to regenerate", err)
	}
}

// The `default` tags of list elements say what fillDefaults does.
func TestElementDefaultTagsAreTrue(t *testing.T) {
	c, err := Parse([]byte("regions: [{name: g, kind: glance, endpoint: 'http://127.0.0.1:1'}]\n"))
	if err != nil {
		t.Fatal(err)
	}
	v := reflect.ValueOf(c.Regions[0])
	checked := 0
	for i := range v.NumField() {
		tag := v.Type().Field(i).Tag.Get("default")
		if tag == "" || v.Field(i).IsZero() {
			continue // nothing given, or a default the code applies where it reads the field
		}
		checked++
		if got := formatValue(v.Field(i)); got != tag {
			t.Errorf("regions[].%s: default tag %q, but a region gets %q", v.Type().Field(i).Tag.Get("yaml"), tag, got)
		}
	}
	if checked == 0 {
		t.Error("no default tag checked")
	}
}

func TestFormatValue(t *testing.T) {
	for _, tt := range []struct {
		v    any
		want string
	}{
		{30 * time.Second, "30s"},
		{5 * time.Minute, "5m"},
		{90 * time.Minute, "90m"},
		{2 * time.Hour, "2h"},
		{100 * time.Millisecond, "100ms"},
		{1500 * time.Millisecond, "1500ms"},
		{time.Duration(0), "0"},
		{Size(50 << 30), "50GiB"},
		{Size(1000), "1000"},
		{Size(0), "0"},
		{"", "empty"},
		{[]string(nil), "empty"},
		{[]string{"a:1", "b:2"}, "[a:1, b:2]"},
		{map[string]string{"p2": "b", "p1": "a"}, "{p1: a, p2: b}"},
		{0.8, "0.8"},
		{(*bool)(nil), "empty"},
		{new(int), "0"},
		{true, "true"},
	} {
		if got := formatValue(reflect.ValueOf(tt.v)); got != tt.want {
			t.Errorf("formatValue(%#v) = %q, want %q", tt.v, got, tt.want)
		}
	}
	for _, d := range []time.Duration{30 * time.Second, 5 * time.Minute, 100 * time.Millisecond, 1500 * time.Millisecond, 3 * time.Hour} {
		if back, err := time.ParseDuration(formatDuration(d)); err != nil || back != d {
			t.Errorf("formatDuration(%v) = %q does not parse back: %v, %v", d, formatDuration(d), back, err)
		}
	}
}

func TestDropSubject(t *testing.T) {
	for _, tt := range []struct{ doc, name, want string }{
		{"Listen is the TCP address.", "Listen", "The TCP address."},
		{"Regions are the image stores.", "Regions", "The image stores."},
		{"Timeout bounds every call.", "Timeout", "Bounds every call."},
		{"DataDir is, for local, the directory.", "DataDir", "For local, the directory."},
		{"Something else entirely.", "Listen", "Something else entirely."},
	} {
		if got := dropSubject(tt.doc, tt.name); got != tt.want {
			t.Errorf("dropSubject(%q) = %q, want %q", tt.doc, got, tt.want)
		}
	}
}

func TestCodeNames(t *testing.T) {
	for _, tt := range []struct{ in, want string }{
		{"Env SPYGLASS_LISTEN; flag --listen.", "Env `SPYGLASS_LISTEN`; flag `--listen`."},
		{"Env `SPYGLASS_LISTEN`, flag `--listen`.", "Env `SPYGLASS_LISTEN`, flag `--listen`."},
		{"SPYGLASS_DATA_DIR and --data-dir set it", "`SPYGLASS_DATA_DIR` and `--data-dir` set it"},
		{"read-only --- not a flag, x--y neither", "read-only --- not a flag, x--y neither"},
	} {
		if got := codeNames(tt.in); got != tt.want {
			t.Errorf("codeNames(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestSpliceReadmeNeedsMarkers(t *testing.T) {
	if _, err := SpliceReadme([]byte("# no markers\n"), []byte("| t |\n")); err == nil {
		t.Error("SpliceReadme without markers succeeded")
	}
	got, err := SpliceReadme([]byte("a\n"+ReadmeBegin+"\nold\n"+ReadmeEnd+"\nb\n"), []byte("new\n"))
	if err != nil {
		t.Fatal(err)
	}
	if want := "a\n" + ReadmeBegin + "\nnew\n" + ReadmeEnd + "\nb\n"; string(got) != want {
		t.Errorf("SpliceReadme = %q, want %q", got, want)
	}
}
