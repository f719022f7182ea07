package logctx_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/spyglass-gateway/spyglass/logctx"
)

func TestRedact(t *testing.T) {
	tests := []struct{ in, want string }{
		// Nothing to redact: s itself.
		{"", ""},
		{"GET /v2/images/0b7d4c1e?limit=2&marker=x", "GET /v2/images/0b7d4c1e?limit=2&marker=x"},
		{"keystone: cannot validate a token: keystone answered 500", "keystone: cannot validate a token: keystone answered 500"},
		{"mail me at alice@example.com", "mail me at alice@example.com"},
		{"http://[::1]:9292/v2", "http://[::1]:9292/v2"},
		{"token_cache_ttl=5m", "token_cache_ttl=5m"},
		{`curl -H "X-Auth-Token: $(openstack token issue -f value -c id)" http://h/v2/images`, `curl -H "X-Auth-Token: $(openstack token issue -f value -c id)" http://h/v2/images`},
		{"X-Auth-Token: $OS_TOKEN", "X-Auth-Token: $OS_TOKEN"},
		{"password=$ecret", "password=***"},

		// URLs: userinfo whole, signing and token parameters.
		{"fetching http://alice:s3cret@example.com/img.qcow2: 404", "fetching http://***@example.com/img.qcow2: 404"},
		{"http://gAAAAAtoken@host/x", "http://***@host/x"},
		{"http://u:p@ss@host/x", "http://***@host/x"},
		{"http://u:p@[::1]:80/", "http://***@[::1]:80/"},
		{`Get "https://u:pw@h/x": EOF`, `Get "https://***@h/x": EOF`},
		{"/v1/AUTH_a/c/o?temp_url_sig=da39a3ee&temp_url_expires=1", "/v1/AUTH_a/c/o?temp_url_sig=***&temp_url_expires=1"},
		{"https://b.s3.amazonaws.com/k?X-Amz-Credential=AKIA%2F2024&X-Amz-Signature=abc123&X-Amz-Expires=60",
			"https://b.s3.amazonaws.com/k?X-Amz-Credential=***&X-Amz-Signature=***&X-Amz-Expires=60"},
		{"https://a.blob.core.windows.net/c/b?sv=2020&sig=AbC%2B%3D#frag", "https://a.blob.core.windows.net/c/b?sv=2020&sig=***#frag"},
		{"/v2/images?token=abc;x=1", "/v2/images?token=***;x=1"},
		{"password=hunter2 user=bob", "password=*** user=bob"},
		{"password=\"hunter 2\" user=bob", "password=\"***\" user=bob"},

		// Header dumps, raw and quoted.
		{"X-Auth-Token: gAAAAAB\r\nHost: x\r\n", "X-Auth-Token: ***\r\nHost: x\r\n"},
		{`"GET / HTTP/1.1\r\nx-auth-token:gAAAAAB\r\nBad Header\r\n"`, `"GET / HTTP/1.1\r\nx-auth-token:***\r\nBad Header\r\n"`},
		{"Authorization: Bearer eyJhbGci.x.y\nHost: x", "Authorization: ***\nHost: x"},
		{`{"X-Subject-Token": "gAAAA", "password": "pw", "user": "u"}`, `{"X-Subject-Token": "***", "password": "***", "user": "u"}`},
		{"map[Cookie:[a=b] X-Storage-Token:[tok]]", "map[Cookie:[***] X-Storage-Token:[***]]"},
		{`X-Auth-Token: CANARY\x01`, `X-Auth-Token: ***\x01`},
	}
	for _, tt := range tests {
		if got := logctx.Redact(tt.in); got != tt.want {
			t.Errorf("Redact(%q)\n got %q\nwant %q", tt.in, got, tt.want)
		}
	}
}

func TestRedactQuoted(t *testing.T) {
	tests := []struct{ in, want string }{
		{"no quotes", "no quotes"},
		{`invalid header value "CANARY\x01": buffer size=62`, `invalid header value [7 bytes]: buffer size=62`},
		{`error when serving connection "1.2.3.4:5"<->"x": unsupported http version "HTTP/1.1 x" in "GET /?sig=s HTTP/1.1 x\r\n"`,
			`error when serving connection [9 bytes]<->[1 bytes]: unsupported http version [10 bytes] in [24 bytes]`},
		{`an "unterminated quote`, `an "unterminated quote`},
	}
	for _, tt := range tests {
		if got := logctx.RedactQuoted(tt.in); got != tt.want {
			t.Errorf("RedactQuoted(%q)\n got %q\nwant %q", tt.in, got, tt.want)
		}
	}
}

// TestRedactCleanAllocatesNothing: the log handler runs Redact over every
// string of every line; a clean one must cost no allocation.
func TestRedactCleanAllocatesNothing(t *testing.T) {
	s := "GET http://127.0.0.1:9292/v2/images?limit=20&sort=name:asc&marker=0b7d4c1e status=200"
	if n := testing.AllocsPerRun(100, func() { _ = logctx.Redact(s) }); n != 0 {
		t.Errorf("%v allocations for a clean string", n)
	}
}

// credentialForms are the places a credential is written in; %s is the
// credential.
var credentialForms = []string{
	"X-Auth-Token: %s",
	"x-storage-token:%s",
	"Authorization: Bearer %s",
	"GET http://user:%s@example.com/v2/images HTTP/1.1",
	"http://%s@example.com",
	"https://example.com/o?temp_url_sig=%s&temp_url_expires=1",
	"https://example.com/o?X-Amz-Signature=%s",
	"/v2/images?sig=%s",
	`{"password": "%s"}`,
	"password=%s",
	"Cookie: session=%s",
}

// FuzzRedact: whatever surrounds it, a credential in one of its places is
// gone from Redact's answer, and RedactQuoted never fails on any text.
func FuzzRedact(f *testing.F) {
	f.Add("GET / HTTP/1.1", "Host: x\r\n\r\n", "gAAAAABcanary", uint8(0))
	f.Add(`"buffer`, `\r\n"`, "Zm9vYmFy", uint8(3))
	f.Add("", "", "c4n4ry", uint8(5))
	f.Fuzz(func(t *testing.T, before, after, cred string, form uint8) {
		_ = logctx.RedactQuoted(before + cred + after)
		if len(cred) < 6 || strings.ContainsFunc(cred, func(r rune) bool {
			return !('a' <= r && r <= 'z' || 'A' <= r && r <= 'Z' || '0' <= r && r <= '9')
		}) {
			return
		}
		line := fmt.Sprintf(credentialForms[int(form)%len(credentialForms)], cred)
		// Lines of their own: what comes before or after a line does not
		// change how it is read.
		s := before + "\n" + line + "\n" + after
		got := logctx.Redact(s)
		if strings.Count(got, cred) > strings.Count(before, cred)+strings.Count(after, cred) {
			t.Fatalf("Redact(%q) = %q: the credential is still there", s, got)
		}
	})
}

// TestHandlerRedacts: every part of a line goes through the handler's
// redaction: message, strings, errors, Stringers, groups, WithAttrs, keys
// that name a credential, and the secrets it was given.
func TestHandlerRedacts(t *testing.T) {
	const pw = "Sup3rSecretPassw0rd"
	var buf bytes.Buffer
	log := slog.New(logctx.NewHandler(slog.NewJSONHandler(&buf, nil), pw, "", "short"))
	log = log.With("endpoint", "http://svc:"+pw+"@keystone:5000/v3")
	log.Info("fetching http://u:pw1@h/x failed",
		"url", "https://h/o?temp_url_sig=sig2",
		"err", errors.New("request had X-Auth-Token: tok3"),
		"stringer", stringer("Authorization: Bearer tok4"),
		slog.Group("g", "password", "pw5", "ok", "short"),
		"X-Auth-Token", "tok6",
		"config", fmt.Sprintf("{password: %s}", pw),
		"any", []string{"x", pw},
	)
	line := buf.String()
	for _, secret := range []string{pw, "pw1", "sig2", "tok3", "tok4", "pw5", "tok6"} {
		if strings.Contains(line, secret) {
			t.Errorf("%q logged: %s", secret, line)
		}
	}
	if !strings.Contains(line, `"ok":"short"`) {
		t.Errorf("a secret shorter than MinSecretLen was searched for: %s", line)
	}

	// Nothing to redact: the record passes as it was (an error stays an
	// error for the next handler).
	buf.Reset()
	log.Info("plain", "n", 1, "err", errors.New("EOF"))
	if got, want := buf.String(), `"n":1,"err":"EOF"`; !strings.Contains(got, want) {
		t.Errorf("clean line %s, want it to hold %s", got, want)
	}
}

type stringer string

func (s stringer) String() string { return string(s) }

func TestHandlerQuotedIsRedacted(t *testing.T) {
	// A sanity check of the example in RedactQuoted's doc: what fasthttp
	// logs for a malformed header after the token.
	msg := fmt.Sprintf("error when reading request headers: invalid header value %q: buffer size=%d, contents: %q",
		"canaryTOKEN\x01", 62, "GET / HTTP/1.1\r\nX-Auth-Token: canaryTOKEN\x01\r\n\r\n")
	if got := logctx.RedactQuoted(msg); strings.Contains(got, "canaryTOKEN") {
		t.Errorf("RedactQuoted(%q) = %q", msg, got)
	}
}

// BenchmarkAccessLine is the access log line written through the bare
// JSON handler and through Handler (request id, redaction): the cost of
// keeping credentials out of a clean line.
func BenchmarkAccessLine(b *testing.B) {
	for _, bc := range []struct {
		name string
		h    slog.Handler
	}{
		{"json", slog.NewJSONHandler(io.Discard, nil)},
		{"logctx", logctx.NewHandler(slog.NewJSONHandler(io.Discard, nil), "a-configured-password")},
	} {
		b.Run(bc.name, func(b *testing.B) {
			log := slog.New(bc.h)
			ctx := logctx.WithRequestID(context.Background(), "req-0b7d4c1e-5a8f-4a44-9d0e-5c2f7b1b2a10")
			b.ReportAllocs()
			for b.Loop() {
				log.LogAttrs(ctx, slog.LevelInfo, "request",
					slog.String("method", "GET"),
					slog.String("path", "/v2/images?limit=20&sort=name:asc&marker=0b7d4c1e-5a8f-4a44-9d0e-5c2f7b1b2a10"),
					slog.Int("status", 200), slog.Int("bytes", 1234), slog.Duration("duration", time.Millisecond),
					slog.String("remote", "10.0.0.1"))
			}
		})
	}
}
