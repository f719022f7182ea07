package outbound

import (
	"errors"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
	"testing"
)

// FuzzCheckURL: whatever a tenant writes, CheckURL does not panic, refuses
// with ErrRefused and never a password, and what it accepts is an http(s)
// URL whose host no resolver reads as an internal address or as an
// address in another form than dotted decimal.
func FuzzCheckURL(f *testing.F) {
	for _, s := range []string{
		"http://127.0.0.1/", "http://localhost/", "http://169.254.169.254/latest/meta-data/",
		"http://2130706433/", "http://0x7f000001/", "http://127.1/", "http://017700000001/",
		"http://127.0x0.0.1/", "http://[::ffff:127.0.0.1]/", "http://[fe80::1%25lo]/",
		"http://%31%32%37.0.0.1/", "http://user:pw@example.com:80/x?y#z", "https://example.com./",
		"http://[64:ff9b::7f00:1]/", "http://example.com:0/", "ftp://example.com/", "file:///etc/passwd",
	} {
		f.Add(s)
	}
	fe := mustNew(f, GlanceDefaults())
	f.Fuzz(func(t *testing.T, raw string) {
		err := fe.CheckURL(raw)
		if err != nil {
			if !errors.Is(err, ErrRefused) {
				t.Fatalf("CheckURL(%q) = %v, not ErrRefused", raw, err)
			}
			if u, perr := url.Parse(raw); perr == nil && u.User != nil {
				if pw, set := u.User.Password(); set && len(pw) > 3 && strings.Contains(err.Error(), pw) {
					t.Fatalf("CheckURL(%q) = %v: the password is in the error", raw, err)
				}
			}
			return
		}
		u, perr := url.Parse(raw)
		if perr != nil {
			t.Fatalf("accepted %q, which does not parse: %v", raw, perr)
		}
		if u.Scheme != "http" && u.Scheme != "https" {
			t.Fatalf("accepted %q: scheme %q", raw, u.Scheme)
		}
		host := strings.ToLower(strings.TrimSuffix(u.Hostname(), "."))
		if host == "" || isLocalhost(host) {
			t.Fatalf("accepted %q: host %q", raw, host)
		}
		a, literal := netip.ParseAddr(host)
		if literal == nil && internal(a) != "" {
			t.Fatalf("accepted %q: %s is %s", raw, a, internal(a))
		}
		if lenient, ok := inetAton(host); ok && (literal != nil || lenient != a.Unmap()) {
			t.Fatalf("accepted %q: a resolver reads %q as %s", raw, host, lenient)
		}
		if p := u.Port(); p != "" && p != "80" && p != "443" {
			t.Fatalf("accepted %q: port %s", raw, p)
		}
	})
}

// inetAton is glibc's inet_aton: 1 to 4 parts, each decimal, octal (0...)
// or hex (0x...), the last filling the remaining bytes.
func inetAton(s string) (netip.Addr, bool) {
	parts := strings.Split(s, ".")
	if len(parts) > 4 {
		return netip.Addr{}, false
	}
	var vals []uint64
	for _, p := range parts {
		base, digits := 10, p
		switch {
		case len(p) > 1 && (p[:2] == "0x" || p[:2] == "0X"):
			base, digits = 16, p[2:]
			if digits == "" {
				digits = "0"
			}
		case len(p) > 1 && p[0] == '0':
			base, digits = 8, p[1:]
		}
		v, err := strconv.ParseUint(digits, base, 32)
		if p == "" || err != nil {
			return netip.Addr{}, false
		}
		vals = append(vals, v)
	}
	var n uint64
	for i, v := range vals[:len(vals)-1] {
		if v > 255 {
			return netip.Addr{}, false
		}
		n |= v << (24 - 8*i)
	}
	last := vals[len(vals)-1]
	if last >= 1<<(8*(5-len(vals))) {
		return netip.Addr{}, false
	}
	n |= last
	return netip.AddrFrom4([4]byte{byte(n >> 24), byte(n >> 16), byte(n >> 8), byte(n)}), true
}
