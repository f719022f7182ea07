// Package outbound fetches URLs that tenants give Spyglass (web-download
// imports, import tasks' import_from, http locations) only where the
// operator's import filtering allows — Glance's [import_filtering_opts],
// made safe against server-side request forgery. (glance-download reads
// endpoints of the Keystone catalog, not tenants' URLs: backends/glancedownload.)
//
// One Fetcher does it all, for every such fetch:
//
//   - CheckURL is Glance's validate_import_uri, answerable at request time
//     without DNS: scheme, host and port against the allowed and disallowed
//     lists (an allowed list, when not empty, wins over its disallowed list,
//     as in Glance); encoded IP forms (2130706433, 0x7f000001, 127.1,
//     0177.0.0.1, percent-encoded hosts) are always refused; loopback,
//     link-local and unspecified addresses, and localhost, unless the host
//     is in AllowedHosts.
//   - Every connection resolves the host once, checks every address it
//     got (internal addresses unless the host is allowed, disallowed
//     addresses and prefixes) and dials only those checked addresses, so a
//     DNS answer that changes between the check and the connect (DNS
//     rebinding) reaches nothing it should not. Proxies from the
//     environment are ignored: a proxy would resolve the host itself.
//   - Every redirect hop is checked as the first URL was, at most
//     MaxRedirects of them, and a token header (X-Auth-Token) is not sent
//     on to another host.
//
// Usage:
//
//	f, err := outbound.New(outbound.Options{Filter: outbound.GlanceDefaults()})
//	if err != nil { ... } // a Filter entry that is not valid, named
//	if err := f.CheckURL(uri); err != nil { ... } // 400 at request time
//	resp, err := f.Get(ctx, uri) // later, in the task: checked again, then fetched
//	if errors.Is(err, outbound.ErrRefused) { ... } // the filter refused a hop or an address
//	defer resp.Body.Close()
package outbound
