package outbound

import (
	"errors"
	"net/netip"
	"net/url"
	"strings"
	"testing"
)

// Glance's answers below were asked of a real Glance 25 (Debian's
// 2:25.1.0-2+deb12u3, with the OSSA-2026-004 patch) with its default
// [import_filtering_opts], POST /v2/images/{id}/import web-download: "400"
// is "URI for web-download does not pass filtering", "202" an accepted
// import (whose task then fetches the URL: Glance does not refuse
// loopback or link-local addresses, and fetched from a loopback server),
// "500" an error of Glance's. Glance resolves names at request time (400
// when they do not resolve); Spyglass does not, so that an unreachable
// URL ends as a failed import (Tempest's
// test_image_web_download_import_with_bad_url), and refuses encoded forms
// by syntax instead.
func TestCheckURL(t *testing.T) {
	tests := []struct {
		uri    string
		glance string
		ok     bool
	}{
		// The reproductions of the issue.
		{"http://127.0.0.1/", "202", false},
		{"http://localhost/", "202", false},
		{"http://169.254.169.254/latest/meta-data/", "202", false},
		{"http://2130706433/", "400", false},
		{"http://0x7f000001/", "400", false},
		{"http://127.1/", "400", false},
		// Other encodings of 127.0.0.1.
		{"http://017700000001/", "400", false},
		{"http://127.0x0.0.1/", "400", false},
		{"http://0177.0.0.1/", "", false},
		{"http://127.000.000.001/", "", false},
		{"http://0X7F.1/", "", false},
		{"http://127.0.0.1./", "400", false},
		{"http://%31%32%37.0.0.1/", "400", false},
		{"http://0/", "400", false},
		{"http://0x/", "", false},
		// Loopback, link-local, unspecified and the like, as literals.
		{"HTTP://127.0.0.1/", "202", false},
		{"https://127.0.0.1:443/", "202", false},
		{"http://user:pw@127.0.0.1/", "202", false},
		{"http://127.8.9.10/", "", false},
		{"http://LOCALHOST/", "202", false},
		{"http://localhost./", "202", false},
		{"http://foo.localhost/", "400", false},
		{"http://[::1]/", "202", false},
		{"http://[::ffff:127.0.0.1]/", "202", false},
		{"http://[::ffff:7f00:1]/", "202", false},
		{"http://[::7f00:1]/", "", false},
		{"http://[64:ff9b::7f00:1]/", "", false},
		{"http://[2002:7f00:1::]/", "", false},
		{"http://[2002:a9fe:a9fe::]/", "", false},
		{"http://[fe80::1]/", "202", false},
		{"http://[fe80::1%25lo]/", "202", false},
		{"http://[::]/", "202", false},
		{"http://0.0.0.0/", "202", false},
		{"http://0.1.2.3/", "", false},
		{"http://224.0.0.1/", "", false},
		{"http://255.255.255.255/", "", false},
		{"http://169.254.0.1/", "", false},
		// Schemes, hosts and ports Glance's filter refuses.
		{"http://127.0.0.1:19430/v2/images", "400", false},
		{"ftp://example.com/", "400", false},
		{"file:///etc/passwd", "400", false},
		{"http:///x", "400", false},
		{"http://example.com:8080/", "400", false},
		{"http://example.com:0/", "202", false},
		{"http://example.com:65536/", "500", false},
		{"http://example.com:abc/", "500", false},
		{"http://[::1/", "500", false},
		{"http://[127.0.0.1]/", "", false},
		{" http://example.com/", "202", false},
		{"", "400", false},
		{"not a uri", "400", false},
		{"http:example.com", "", false},
		{"http://exa mple.com/", "", false},
		{"http://a..b/", "", false},
		{"http://ex%61mple.com/", "", false},
		{"http://" + strings.Repeat("a", 64) + ".com/", "", false},
		// Accepted.
		{"http://example.com/", "", true},
		{"https://example.com/x?y=1#z", "", true},
		{"http://example.com:80/", "", true},
		{"https://example.com:443/", "", true},
		{"http://example.com:443/", "", true},
		{"HTTPS://EXAMPLE.COM/", "", true},
		{"http://example.com./", "", true},
		{"http://user:pw@example.com/", "", true},
		{"http://does-not.exist/no/possible/way", "400", true},
		{"http://exa_mple.com/", "", true},
		{"http://1e100.net/", "", true},
		{"http://10.0.0.1/", "202", true},
		{"http://192.168.1.1/", "", true},
		{"http://203.0.113.7/", "", true},
		{"http://[2001:db8::1]/", "", true},
	}
	f := mustNew(t, GlanceDefaults())
	for _, tt := range tests {
		t.Run(tt.uri, func(t *testing.T) {
			err := f.CheckURL(tt.uri)
			if got, want := err == nil, tt.ok; got != want {
				t.Fatalf("CheckURL(%q) = %v; want ok=%v (Glance 25: %s)", tt.uri, err, want, tt.glance)
			}
			if err != nil && !errors.Is(err, ErrRefused) {
				t.Fatalf("CheckURL(%q) = %v, not ErrRefused", tt.uri, err)
			}
			if err != nil && strings.Contains(err.Error(), "pw@") {
				t.Fatalf("CheckURL(%q) = %v: the password is in the error", tt.uri, err)
			}
		})
	}
}

func TestCheckURLFilters(t *testing.T) {
	tests := []struct {
		name   string
		filter Filter
		uri    string
		ok     bool
	}{
		{"allowed loopback host", Filter{AllowedHosts: []string{"127.0.0.1"}, AllowedPorts: []int{8080}}, "http://127.0.0.1:8080/x", true},
		{"allowed host, other port", Filter{AllowedHosts: []string{"127.0.0.1"}, AllowedPorts: []int{8080}}, "http://127.0.0.1/x", false},
		{"host not in allowed_hosts", Filter{AllowedHosts: []string{"127.0.0.1"}, AllowedPorts: []int{8080}}, "http://localhost:8080/x", false},
		{"encoded form of an allowed host", Filter{AllowedHosts: []string{"127.0.0.1"}}, "http://127.1/", false},
		{"allowed localhost", Filter{AllowedHosts: []string{"LocalHost."}}, "http://LOCALHOST./", true},
		{"allowed IPv6 loopback", Filter{AllowedHosts: []string{"::1"}}, "http://[::1]/", true},
		{"allowed IPv6 loopback, bracketed", Filter{AllowedHosts: []string{"[::1]"}}, "http://[::1]/", true},
		{"allowed mapped IPv4", Filter{AllowedHosts: []string{"127.0.0.1"}}, "http://[::ffff:127.0.0.1]/", true},
		{"allowed wins over disallowed", Filter{AllowedHosts: []string{"a.example"}, DisallowedHosts: []string{"a.example"}}, "http://a.example/", true},
		{"disallowed name", Filter{DisallowedHosts: []string{"evil.example"}}, "http://EVIL.example./", false},
		{"disallowed address", Filter{DisallowedHosts: []string{"192.0.2.1"}}, "http://192.0.2.1/", false},
		{"disallowed prefix", Filter{DisallowedHosts: []string{"10.0.0.0/8"}}, "http://10.1.2.3/", false},
		{"disallowed prefix, mapped", Filter{DisallowedHosts: []string{"10.0.0.0/8"}}, "http://[::ffff:10.1.2.3]/", false},
		{"other host", Filter{DisallowedHosts: []string{"evil.example", "10.0.0.0/8"}}, "http://good.example/", true},
		{"disallowed scheme", Filter{DisallowedSchemes: []string{"http"}}, "http://example.com/", false},
		{"scheme not disallowed", Filter{DisallowedSchemes: []string{"http"}}, "https://example.com/", true},
		{"no scheme list: still http(s) only", Filter{}, "ftp://example.com/", false},
		{"no port list: any port", Filter{}, "http://example.com:9999/", true},
		{"disallowed port", Filter{DisallowedPorts: []int{8080}}, "http://example.com:8080/", false},
		{"disallowed default port", Filter{DisallowedPorts: []int{80}}, "http://example.com/", false},
		{"port not disallowed", Filter{DisallowedPorts: []int{8080}}, "http://example.com/", true},
		{"allowed ports win", Filter{AllowedPorts: []int{8080}, DisallowedPorts: []int{8080}}, "http://example.com:8080/", true},
		{"default port not allowed", Filter{AllowedPorts: []int{8080}}, "http://example.com/", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := mustNew(t, tt.filter).CheckURL(tt.uri)
			if got, want := err == nil, tt.ok; got != want {
				t.Fatalf("CheckURL(%q) with %+v = %v; want ok=%v", tt.uri, tt.filter, err, want)
			}
		})
	}
}

func TestNewRefusesBadFilters(t *testing.T) {
	tests := []struct {
		filter Filter
		want   string
	}{
		{Filter{AllowedSchemes: []string{"ftp"}}, `allowed_schemes[0]: "ftp" cannot be fetched`},
		{Filter{AllowedPorts: []int{80, 0}}, "allowed_ports[1]: 0 is not a port"},
		{Filter{DisallowedPorts: []int{70000}}, "disallowed_ports[0]: 70000 is not a port"},
		{Filter{AllowedHosts: []string{"a b"}}, `allowed_hosts[0]: "a b": not a host name`},
		{Filter{AllowedHosts: []string{"127.1"}}, `allowed_hosts[0]: "127.1": an encoded IP address`},
		{Filter{AllowedHosts: []string{"10.0.0.0/8"}}, `allowed_hosts[0]: "10.0.0.0/8"`},
		{Filter{DisallowedHosts: []string{""}}, `disallowed_hosts[0]: "": no host`},
	}
	for _, tt := range tests {
		_, err := New(Options{Filter: tt.filter})
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("New(%+v) = %v; want an error containing %q", tt.filter, err, tt.want)
		}
	}
	if _, err := New(Options{Filter: Filter{DisallowedSchemes: []string{"ftp"}, DisallowedHosts: []string{"10.0.0.0/8", "[fc00::1]", "x.example"}}}); err != nil {
		t.Errorf("a valid filter: %v", err)
	}
}

func TestCheckAddr(t *testing.T) {
	def := mustNew(t, GlanceDefaults()).rules
	mirror := mustNew(t, Filter{AllowedHosts: []string{"mirror.internal"}}).rules
	noTen := mustNew(t, Filter{DisallowedHosts: []string{"10.0.0.0/8", "192.0.2.7"}}).rules
	tests := []struct {
		name  string
		rules *rules
		host  string
		addr  string
		ok    bool
	}{
		{"public", def, "example.com", "93.184.216.34", true},
		{"private is not internal", def, "example.com", "10.1.2.3", true},
		{"loopback", def, "example.com", "127.0.0.1", false},
		{"loopback v6", def, "example.com", "::1", false},
		{"mapped loopback", def, "example.com", "::ffff:127.0.0.1", false},
		{"metadata", def, "example.com", "169.254.169.254", false},
		{"link-local with zone", def, "example.com", "fe80::1%eth0", false},
		{"unspecified", def, "example.com", "0.0.0.0", false},
		{"NAT64 loopback", def, "example.com", "64:ff9b::7f00:1", false},
		{"allowed host may be internal", mirror, "mirror.internal", "127.0.0.1", true},
		{"allowed host, trailing dot", mirror, "MIRROR.internal.", "169.254.1.1", true},
		{"other host with allowed_hosts", mirror, "other.internal", "192.0.2.1", false},
		{"disallowed prefix", noTen, "example.com", "10.9.9.9", false},
		{"disallowed address", noTen, "example.com", "192.0.2.7", false},
		{"not disallowed", noTen, "example.com", "192.0.2.8", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.rules.checkAddr(tt.host, netip.MustParseAddr(tt.addr))
			if got, want := err == nil, tt.ok; got != want {
				t.Fatalf("checkAddr(%q, %s) = %v; want ok=%v", tt.host, tt.addr, err, want)
			}
		})
	}
}

func TestConnectsTo(t *testing.T) {
	control := connectsTo(netip.MustParseAddr("203.0.113.10"))
	if err := control("tcp4", "203.0.113.10:80", nil); err != nil {
		t.Fatalf("the checked address: %v", err)
	}
	for _, addr := range []string{"127.0.0.1:80", "[::1]:80", "nonsense"} {
		if err := control("tcp", addr, nil); !errors.Is(err, ErrRefused) {
			t.Errorf("connect to %s: %v; want ErrRefused", addr, err)
		}
	}
}

func mustNew(t testing.TB, f Filter) *Fetcher {
	t.Helper()
	fe, err := New(Options{Filter: f})
	if err != nil {
		t.Fatal(err)
	}
	return fe
}

// BenchmarkCheckURL against url.Parse alone: what the filter adds to an
// import request.
func BenchmarkCheckURL(b *testing.B) {
	const uri = "https://cloud-images.example.com/releases/24.04/release/ubuntu-24.04-server-cloudimg-amd64.img"
	f := mustNew(b, GlanceDefaults())
	b.Run("CheckURL", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if err := f.CheckURL(uri); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("url.Parse", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := url.Parse(uri); err != nil {
				b.Fatal(err)
			}
		}
	})
}
