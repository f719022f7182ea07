package main

import (
	"bytes"
	"context"
	"os"
	"strings"
	"testing"
)

func TestRunUsage(t *testing.T) {
	tests := []struct {
		name       string
		args       []string
		wantCode   int
		wantStdout string
		wantStderr string
	}{
		{"no command", nil, 2, "", "usage: spyglass"},
		{"unknown command", []string{"serv"}, 2, "", `unknown command "serv"`},
		{"help", []string{"help"}, 0, "usage: spyglass", ""},
		{"-h", []string{"-h"}, 0, "usage: spyglass", ""},
		{"version", []string{"version"}, 0, "spyglass dev", ""},
		{"version with argument", []string{"version", "x"}, 2, "", "takes no arguments"},
		{"serve bad flag", []string{"serve", "--lisen", "x"}, 2, "", "flag provided but not defined: -lisen"},
		{"serve bad flag prints usage", []string{"serve", "--bogus"}, 2, "", "usage: spyglass serve"},
		{"serve -h", []string{"serve", "-h"}, 0, "", "-data-dir"},
		{"serve extra argument", []string{"serve", "now"}, 2, "", `unexpected argument "now"`},
		{"serve keystone without credentials", []string{"serve", "--auth", "keystone"}, 2, "", "auth.keystone.auth_url: required when auth.mode is keystone"},
		{"serve bad auth", []string{"serve", "--auth", "kerberos"}, 2, "", `auth.mode: unknown mode "kerberos"`},
		{"serve bad listen", []string{"serve", "--listen", "nowhere"}, 2, "", "listen:"},
		{"serve missing config", []string{"serve", "--config", "/nonexistent/spyglass.yaml"}, 2, "", "/nonexistent/spyglass.yaml"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			code := run(context.Background(), func() {}, tt.args, &stdout, &stderr)
			if got, want := code, tt.wantCode; got != want {
				t.Errorf("exit code = %d, want %d; stderr:\n%s", got, want, stderr.String())
			}
			if !strings.Contains(stdout.String(), tt.wantStdout) {
				t.Errorf("stdout %q does not contain %q", stdout.String(), tt.wantStdout)
			}
			if !strings.Contains(stderr.String(), tt.wantStderr) {
				t.Errorf("stderr %q does not contain %q", stderr.String(), tt.wantStderr)
			}
		})
	}
}

func TestHowToTalk(t *testing.T) {
	if got := howToTalk("0.0.0.0:9292", "noauth"); !strings.Contains(got, "http://127.0.0.1:9292/v2/images") {
		t.Errorf("howToTalk(0.0.0.0) = %q, want a loopback URL", got)
	}
	if got := howToTalk("127.0.0.1:9292", "trusted"); !strings.Contains(got, "X-Identity-Status: Confirmed") {
		t.Errorf("howToTalk(trusted) = %q, want the trusted headers", got)
	}
}

func TestConfigCheck(t *testing.T) {
	dir := t.TempDir()
	write := func(name, body string) string {
		p := dir + "/" + name
		if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	t.Setenv("SPYGLASS_LISTEN", "")
	t.Setenv("SPYGLASS_AUTH", "")
	t.Setenv("SPYGLASS_DATA_DIR", "")
	good := write("good.yaml", "listen: 127.0.0.1:9393\nregions:\n  - {name: a, kind: local, data_dir: /tmp/a}\n  - {name: b, kind: glance, endpoint: http://127.0.0.1:9292}\ndefault_region: a\n")
	bad := write("bad.yaml", "listen: nowhere\nregions:\n  - {name: a, kind: local, data_dir: /tmp/a}\n  - {name: b, kind: glance}\nfederation: {on_region_failure: maybe}\n")
	unknown := write("unknown.yaml", "listen: 127.0.0.1:9393\ncahce: {dir: /tmp}\n")
	tests := []struct {
		name       string
		args       []string
		wantCode   int
		wantStdout string
		wantStderr []string
	}{
		{"valid", []string{"config", "check", good}, 0, good + ": ok", nil},
		{"every bad key, with its fix", []string{"config", "check", bad}, 1, "", []string{
			"listen: \"nowhere\" is not host:port; e.g. 127.0.0.1:9292",
			"regions[1].endpoint: required for kind glance",
			`federation.on_region_failure: unknown "maybe"; answer or fail`,
			"default_region: required when there is more than one region",
		}},
		{"unknown key", []string{"config", "check", unknown}, 1, "", []string{unknown + ":2: cahce: unknown key; did you mean cache?"}},
		{"missing file", []string{"config", "check", dir + "/none.yaml"}, 1, "", []string{"none.yaml"}},
		{"no file", []string{"config", "check"}, 2, "", []string{"usage: spyglass config check FILE"}},
		{"no subcommand", []string{"config"}, 2, "", []string{"usage: spyglass config check FILE", "spyglass config reference"}},
		{"reference", []string{"config", "reference"}, 0, "| `redis.sentinel.master_name` | string |", nil},
		{"reference takes no argument", []string{"config", "reference", "x"}, 2, "", []string{"usage:"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			if code := run(context.Background(), func() {}, tt.args, &stdout, &stderr); code != tt.wantCode {
				t.Errorf("exit code = %d, want %d; stderr:\n%s", code, tt.wantCode, stderr.String())
			}
			if !strings.Contains(stdout.String(), tt.wantStdout) {
				t.Errorf("stdout %q does not contain %q", stdout.String(), tt.wantStdout)
			}
			for _, w := range tt.wantStderr {
				if !strings.Contains(stderr.String(), w) {
					t.Errorf("stderr %q does not contain %q", stderr.String(), w)
				}
			}
		})
	}
}

// TestServePrintsTheCheckList: serve with a bad file prints the list
// "config check" prints, every problem with its file:line, and exits 2.
func TestServePrintsTheCheckList(t *testing.T) {
	for _, v := range []string{"SPYGLASS_LISTEN", "SPYGLASS_AUTH", "SPYGLASS_DATA_DIR", "SPYGLASS_ADMIN_LISTEN", "SPYGLASS_LOG_LEVEL", "SPYGLASS_LOG_FORMAT"} {
		t.Setenv(v, "")
	}
	path := t.TempDir() + "/spyglass.yaml"
	body := "listen: nowhere\ncache:\n  metadata_ttl: 30\n  max_sise: 1GiB\ntelemetry: {metrics: maybe}\n"
	if err := os.WriteFile(path, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	want := []string{
		path + `:1: listen: "nowhere" is not host:port; e.g. 127.0.0.1:9292`,
		path + ":3: cache.metadata_ttl: expected a duration like 30s, got 30; add a unit: 30s, 5m, 100ms",
		path + ":4: cache.max_sise: unknown key; did you mean cache.max_size?",
		path + ":5: telemetry.metrics: expected true or false, got maybe",
	}
	for _, tt := range []struct {
		args     []string
		wantCode int
		header   string
	}{
		{[]string{"config", "check", path}, 1, path + ": invalid configuration:"},
		{[]string{"serve", "--config", path}, 2, "spyglass serve: invalid configuration:"},
	} {
		var stdout, stderr bytes.Buffer
		if got, want := run(context.Background(), func() {}, tt.args, &stdout, &stderr), tt.wantCode; got != want {
			t.Errorf("%v: exit code = %d, want %d", tt.args, got, want)
		}
		lines := strings.Split(strings.TrimSuffix(stderr.String(), "\n"), "\n")
		if got, want := lines[0], tt.header; got != want {
			t.Errorf("%v: first line %q, want %q", tt.args, got, want)
		}
		if got := lines[1:]; strings.Join(got, "\n") != strings.Join(want, "\n") {
			t.Errorf("%v: problems\n%s\nwant\n%s", tt.args, strings.Join(got, "\n"), strings.Join(want, "\n"))
		}
	}
}
