package outbound

import (
	"errors"
	"fmt"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
)

// Filter is Glance's [import_filtering_opts]: which URLs a tenant may make
// Spyglass fetch. For each of schemes, hosts and ports, an allowed list
// that is not empty wins and its disallowed list is ignored, as in Glance.
type Filter struct {
	// AllowedSchemes are the only schemes fetched. Empty: any scheme not
	// in DisallowedSchemes. Only http and https can be fetched at all.
	AllowedSchemes []string
	// DisallowedSchemes are refused when AllowedSchemes is empty.
	DisallowedSchemes []string
	// AllowedHosts are the only hosts fetched (names or IP addresses, as
	// written in URLs). Empty: any host not in DisallowedHosts. A host
	// listed here may also be, or resolve to, a loopback, link-local or
	// unspecified address, which is otherwise refused.
	AllowedHosts []string
	// DisallowedHosts are refused when AllowedHosts is empty: names, IP
	// addresses, or CIDR prefixes (10.0.0.0/8, fc00::/7). An address or a
	// prefix is also checked against every address a name resolves to.
	DisallowedHosts []string
	// AllowedPorts are the only ports fetched. Empty: any port not in
	// DisallowedPorts. A URL without a port is checked with its scheme's
	// (80 or 443).
	AllowedPorts []int
	// DisallowedPorts are refused when AllowedPorts is empty.
	DisallowedPorts []int
}

// GlanceDefaults is Glance 25's [import_filtering_opts]: schemes http and
// https, ports 80 and 443, any host.
func GlanceDefaults() Filter {
	return Filter{AllowedSchemes: []string{"http", "https"}, AllowedPorts: []int{80, 443}}
}

// hostSet is a list of hosts: names (lower case, no trailing dot),
// addresses (unmapped) and prefixes.
type hostSet struct {
	names    map[string]bool
	addrs    map[netip.Addr]bool
	prefixes []netip.Prefix
}

func (s *hostSet) empty() bool {
	return len(s.names) == 0 && len(s.addrs) == 0 && len(s.prefixes) == 0
}

func (s *hostSet) hasHost(h host) bool {
	if h.addr.IsValid() {
		return s.hasAddr(h.addr)
	}
	return s.names[h.name]
}

func (s *hostSet) hasAddr(a netip.Addr) bool {
	if s.addrs[a] {
		return true
	}
	for _, p := range s.prefixes {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// rules is a compiled Filter.
type rules struct {
	allowSchemes, denySchemes map[string]bool
	allowHosts, denyHosts     hostSet
	allowPorts, denyPorts     map[int]bool
}

// compile validates f and returns its rules; an error names the list, the
// entry and what would be valid.
func compile(f Filter) (*rules, error) {
	var errs []error
	bad := func(list string, i int, format string, args ...any) {
		errs = append(errs, fmt.Errorf("%s[%d]: %s", list, i, fmt.Sprintf(format, args...)))
	}
	schemes := func(list string, in []string) map[string]bool {
		m := map[string]bool{}
		for i, s := range in {
			s = strings.ToLower(s)
			if s != "http" && s != "https" && list == "allowed_schemes" {
				bad(list, i, "%q cannot be fetched; only http and https", s)
			}
			m[s] = true
		}
		return m
	}
	hosts := func(list string, in []string, prefixes bool) hostSet {
		s := hostSet{names: map[string]bool{}, addrs: map[netip.Addr]bool{}}
		for i, e := range in {
			if p, err := netip.ParsePrefix(e); err == nil && prefixes {
				s.prefixes = append(s.prefixes, p.Masked())
				continue
			}
			bare := strings.TrimSuffix(strings.TrimPrefix(e, "["), "]")
			h, why := parseHost(bare, strings.Contains(bare, ":"))
			switch {
			case why != "":
				extra := ""
				if prefixes {
					extra = ", an IP address or a CIDR prefix"
				}
				bad(list, i, "%q: %s; a host name%s as written in URLs, e.g. mirror.example.com, 192.0.2.10", e, why, extra)
			case h.addr.IsValid():
				s.addrs[h.addr] = true
			default:
				s.names[h.name] = true
			}
		}
		return s
	}
	ports := func(list string, in []int) map[int]bool {
		m := map[int]bool{}
		for i, p := range in {
			if p < 1 || p > 65535 {
				bad(list, i, "%d is not a port; 1 to 65535", p)
			}
			m[p] = true
		}
		return m
	}
	r := &rules{
		allowSchemes: schemes("allowed_schemes", f.AllowedSchemes),
		denySchemes:  schemes("disallowed_schemes", f.DisallowedSchemes),
		allowHosts:   hosts("allowed_hosts", f.AllowedHosts, false),
		denyHosts:    hosts("disallowed_hosts", f.DisallowedHosts, true),
		allowPorts:   ports("allowed_ports", f.AllowedPorts),
		denyPorts:    ports("disallowed_ports", f.DisallowedPorts),
	}
	return r, errors.Join(errs...)
}

// host is a URL's host, normalized.
type host struct {
	name string     // lower case, no trailing dot; an address's text form
	addr netip.Addr // an IP literal, unmapped and without zone; else invalid
}

// parseHost normalizes a URL's host (without brackets) or says why it is
// refused. Any form Glance's normalize_hostname refuses is refused without
// DNS: what Glance finds out by failing to resolve "0x7f000001." is decided
// here by syntax, so that a resolver that would read such names as
// addresses (glibc's inet_aton) is never asked.
func parseHost(s string, bracketed bool) (host, string) {
	if s == "" {
		return host{}, "no host"
	}
	if a, err := netip.ParseAddr(s); err == nil {
		switch {
		case a.Zone() != "":
			return host{}, "an IPv6 zone is not a host"
		case a.Is6() != bracketed:
			return host{}, "an encoded IP address"
		}
		a = a.Unmap()
		return host{name: a.String(), addr: a}, ""
	}
	if bracketed {
		return host{}, "not an IPv6 address"
	}
	name := strings.ToLower(strings.TrimSuffix(s, "."))
	if len(name) == 0 || len(name) > 253 {
		return host{}, "not a host name"
	}
	labels := strings.Split(name, ".")
	for _, l := range labels {
		if l == "" || len(l) > 63 {
			return host{}, "not a host name"
		}
		for i := 0; i < len(l); i++ {
			c := l[i]
			if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
				return host{}, "not a host name"
			}
		}
	}
	// A name whose last label is a number is an address in a form other
	// than dotted decimal (2130706433, 127.1, 0x7f000001, 0177.0.0.1,
	// 127.0.0.1.), as the URL standard reads hosts: refused.
	if last := labels[len(labels)-1]; isNumber(last) {
		return host{}, "an encoded IP address"
	}
	return host{name: name}, ""
}

// isNumber reports whether a label reads as a number: decimal digits, or
// 0x followed by hex digits.
func isNumber(l string) bool {
	if len(l) >= 2 && l[0] == '0' && (l[1] == 'x' || l[1] == 'X') {
		for i := 2; i < len(l); i++ {
			if !isHex(l[i]) {
				return false
			}
		}
		return true
	}
	for i := 0; i < len(l); i++ {
		if l[i] < '0' || l[i] > '9' {
			return false
		}
	}
	return true
}

func isHex(c byte) bool {
	return c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F'
}

// isLocalhost reports names that are loopback by definition (RFC 6761).
func isLocalhost(name string) bool {
	return name == "localhost" || strings.HasSuffix(name, ".localhost")
}

// checkRaw checks a URL as a tenant wrote it: the parsed URL, and that the
// host was not percent-encoded (Go decodes it; Glance refuses it).
func (r *rules) checkRaw(raw string) (*url.URL, error) {
	u, err := url.Parse(raw)
	if err != nil {
		return nil, refused(redactRaw(raw), "not a URL")
	}
	if strings.ContainsRune(rawAuthority(raw), '%') {
		return nil, refused(u.Redacted(), "a percent-encoded host")
	}
	if err := r.check(u); err != nil {
		return nil, err
	}
	return u, nil
}

// redactRaw hides the credentials of a URL that does not parse.
func redactRaw(raw string) string {
	i := strings.Index(raw, "//")
	if i < 0 {
		return raw
	}
	end := len(raw)
	if j := strings.IndexAny(raw[i+2:], "/?#"); j >= 0 {
		end = i + 2 + j
	}
	if at := strings.LastIndexByte(raw[i+2:end], '@'); at >= 0 {
		return raw[:i+2] + "xxxxx" + raw[i+2+at:]
	}
	return raw
}

// rawAuthority is the host[:port] part of a URL as written.
func rawAuthority(raw string) string {
	_, rest, ok := strings.Cut(raw, "//")
	if !ok {
		return ""
	}
	if i := strings.IndexAny(rest, "/?#"); i >= 0 {
		rest = rest[:i]
	}
	if i := strings.LastIndexByte(rest, '@'); i >= 0 {
		rest = rest[i+1:]
	}
	return rest
}

// check is Glance's validate_import_uri on a parsed URL, without DNS,
// plus the refusal of internal addresses and encoded forms.
func (r *rules) check(u *url.URL) error {
	scheme := strings.ToLower(u.Scheme)
	switch {
	case u.Opaque != "" || u.Host == "":
		return refused(u.Redacted(), "no host")
	case len(r.allowSchemes) > 0 && !r.allowSchemes[scheme], len(r.allowSchemes) == 0 && r.denySchemes[scheme]:
		return refused(u.Redacted(), "scheme "+strconv.Quote(scheme)+" is not allowed")
	case scheme != "http" && scheme != "https":
		return refused(u.Redacted(), "only http and https can be fetched")
	}
	h, why := parseHost(u.Hostname(), strings.HasPrefix(u.Host, "["))
	if why != "" {
		return refused(u.Redacted(), "host "+strconv.Quote(u.Hostname())+" is "+why)
	}
	if err := r.checkHost(u, h); err != nil {
		return err
	}
	port, err := effectivePort(u)
	if err != nil {
		return refused(u.Redacted(), err.Error())
	}
	if len(r.allowPorts) > 0 && !r.allowPorts[port] || len(r.allowPorts) == 0 && r.denyPorts[port] {
		return refused(u.Redacted(), "port "+strconv.Itoa(port)+" is not allowed")
	}
	return nil
}

func (r *rules) checkHost(u *url.URL, h host) error {
	allowed := r.allowHosts.hasHost(h)
	switch {
	case !r.allowHosts.empty() && !allowed:
		return refused(u.Redacted(), "host "+h.name+" is not in allowed_hosts")
	case r.allowHosts.empty() && r.denyHosts.hasHost(h):
		return refused(u.Redacted(), "host "+h.name+" is disallowed")
	case allowed:
		return nil
	case h.addr.IsValid():
		if kind := internal(h.addr); kind != "" {
			return refused(u.Redacted(), "host "+h.name+" is a "+kind+" address")
		}
	case isLocalhost(h.name):
		return refused(u.Redacted(), "host "+h.name+" is a loopback name")
	}
	return nil
}

func effectivePort(u *url.URL) (int, error) {
	p := u.Port()
	if p == "" {
		if strings.EqualFold(u.Scheme, "https") {
			return 443, nil
		}
		return 80, nil
	}
	n, err := strconv.Atoi(p)
	if err != nil || n < 1 || n > 65535 {
		return 0, fmt.Errorf("port %q is not a port", p)
	}
	return n, nil
}

// checkAddr is the check of one address a connection to host would reach
// (host as in the URL: a name or an address).
func (r *rules) checkAddr(hostname string, a netip.Addr) error {
	a = a.WithZone("").Unmap()
	h, why := parseHost(hostname, strings.Contains(hostname, ":"))
	if why != "" {
		return refused(hostname, "host is "+why)
	}
	switch allowed := r.allowHosts.hasHost(h); {
	case allowed:
		return nil
	case !r.allowHosts.empty():
		return refused(hostname, "host "+h.name+" is not in allowed_hosts")
	}
	if kind := internal(a); kind != "" {
		return refused(hostname, "it resolves to "+a.String()+", a "+kind+" address")
	}
	if r.allowHosts.empty() && r.denyHosts.hasAddr(a) {
		return refused(hostname, "it resolves to "+a.String()+", a disallowed address")
	}
	return nil
}
