package outbound

import "net/netip"

var (
	thisNetwork = netip.MustParsePrefix("0.0.0.0/8")
	broadcast   = netip.MustParseAddr("255.255.255.255")
	v4Compat    = netip.MustParsePrefix("::/96")        // deprecated IPv4-compatible IPv6
	nat64       = netip.MustParsePrefix("64:ff9b::/96") // RFC 6052 well-known prefix
	sixToFour   = netip.MustParsePrefix("2002::/16")    // RFC 3056
)

// internal names the kind of a (unmapped) address that reaches the host
// Spyglass runs on or its link rather than a server: loopback, link-local
// (169.254.169.254, the cloud metadata service, among them), unspecified
// (0.0.0.0 and :: connect to the host itself), multicast and broadcast;
// IPv6 forms that carry such an IPv4 address count as it. "" for any other
// address. Private ranges (10/8, fc00::/7, ...) are not in it: internal
// mirrors live there, and Glance fetches from them; an operator refuses
// them with DisallowedHosts prefixes.
func internal(a netip.Addr) string {
	a = a.Unmap()
	switch {
	case a.IsLoopback():
		return "loopback"
	case a.IsLinkLocalUnicast(), a.IsLinkLocalMulticast():
		return "link-local"
	case a.IsUnspecified(), a.Is4() && thisNetwork.Contains(a):
		return "unspecified"
	case a.IsMulticast(), a.IsInterfaceLocalMulticast():
		return "multicast"
	case a == broadcast:
		return "broadcast"
	case a.Is6() && (v4Compat.Contains(a) || nat64.Contains(a)):
		b := a.As16()
		return internal(netip.AddrFrom4([4]byte(b[12:16])))
	case a.Is6() && sixToFour.Contains(a):
		b := a.As16()
		return internal(netip.AddrFrom4([4]byte(b[2:6])))
	}
	return ""
}
