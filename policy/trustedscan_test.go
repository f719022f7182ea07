package policy

import (
	"bufio"
	"bytes"
	"strings"
	"testing"

	"github.com/valyala/fasthttp"
)

// The one-pass scan of the raw header block must read exactly what
// fasthttp's Peek reads, for any request fasthttp accepts.
func FuzzTrustedHeadersScanMatchesPeek(f *testing.F) {
	f.Add("X-Identity-Status: Confirmed\r\nX-Project-Id: p1\r\nX-Roles: admin, Member\r\n")
	f.Add("x-identity-status:Confirmed\r\nX-USER-ID:  u \r\nx-tenant: t\r\nX-Project-Id:\r\nX-Project-Id: second\r\n")
	f.Add("X-Domain-Id: d\r\nOpenstack-System-Scope: all\r\nX-Openstack-Request-Id: req-1\r\n")
	f.Fuzz(func(t *testing.T, headers string) {
		var req fasthttp.Request
		raw := "GET /v2/images HTTP/1.1\r\nHost: h\r\n" + headers + "\r\n"
		if err := req.Read(bufio.NewReader(strings.NewReader(raw))); err != nil {
			return
		}
		var scanned, peeked trustedHeaders
		if !scanned.scan(req.Header.RawHeaders()) {
			return
		}
		peeked.peek(&req.Header)
		for i := range trustedNames {
			if !bytes.Equal(scanned.v[i], peeked.v[i]) { // empty and absent are alike to Authenticate
				t.Fatalf("%s: scan %q (nil %v), Peek %q (nil %v) (headers %q, raw %q)", trustedNames[i], scanned.v[i], scanned.v[i] == nil, peeked.v[i], peeked.v[i] == nil, headers, req.Header.RawHeaders())
			}
		}
	})
}
