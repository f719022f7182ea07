package main

import (
	"bytes"
	"context"
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
