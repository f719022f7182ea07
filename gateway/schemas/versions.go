package schemas

import "strings"

// Version is one entry of the versions document.
type Version struct {
	// ID is "v2.N".
	ID string
	// Status is CURRENT (exactly one, the newest), SUPPORTED or DEPRECATED.
	Status string
}

// APIVersions are the Images API versions Spyglass serves when it serves
// the cache-management API (it caches image data), newest first, as its
// versions document lists them and as version negotiation accepts them
// (a URL prefix "/v2.N/" or "Accept: application/vnd.openstack.images-v2.N").
// It is Glance25Versions plus the two minor versions later Glance releases
// added (2.17, 2.18); nothing is DEPRECATED, as in every Glance since v1's
// removal.
var APIVersions = []Version{
	{"v2.18", "CURRENT"},
	{"v2.17", "SUPPORTED"},
	{"v2.16", "SUPPORTED"},
	{"v2.15", "SUPPORTED"},
	{"v2.14", "SUPPORTED"},
	{"v2.13", "SUPPORTED"},
	{"v2.12", "SUPPORTED"},
	{"v2.11", "SUPPORTED"},
	{"v2.10", "SUPPORTED"},
	{"v2.9", "SUPPORTED"},
	{"v2.8", "SUPPORTED"},
	{"v2.7", "SUPPORTED"},
	{"v2.6", "SUPPORTED"},
	{"v2.5", "SUPPORTED"},
	{"v2.4", "SUPPORTED"},
	{"v2.3", "SUPPORTED"},
	{"v2.2", "SUPPORTED"},
	{"v2.1", "SUPPORTED"},
	{"v2.0", "SUPPORTED"},
}

// NoCacheVersions are the versions Spyglass serves when it caches no image
// data, so that /v2/cache answers "Caching via API is not supported at
// this site.": exactly what Glance 25 lists and accepts without
// image_cache_dir (and with enabled_backends, as Spyglass's regions are
// stores) — v2.15 CURRENT, no v2.14 and v2.16 (the cache API's versions),
// nor 2.17/2.18 (2.18 is the cache API's clean and prune).
var NoCacheVersions = append([]Version{{"v2.15", "CURRENT"}}, APIVersions[5:]...)

// Glance25Versions is what Glance 25 (glance/api/versions.py) lists when
// image_cache_dir is set (a stock install) and enabled_backends is set
// (multi-store, as Spyglass's regions are). Without image_cache_dir Glance
// 25 lists NoCacheVersions; without enabled_backends it lists v2.9 alone
// in place of v2.8 to v2.13. Kept for the conformance tests and as the
// record of the oracle.
var Glance25Versions = append([]Version{{"v2.16", "CURRENT"}}, APIVersions[3:]...)

// V1Versions are the Images API v1 entries Glance Queens listed after its
// v2 ones while enable_v1_api was on (glance/api/versions.py at
// queens-eol, build_version_object(1.1, 'v1', 'DEPRECATED') and 1.0),
// their links pointing at /v1/. Negotiation accepts them and "v1".
var V1Versions = []Version{
	{"v1.1", "DEPRECATED"},
	{"v1.0", "DEPRECATED"},
}

// Versions is the body of GET / (status 300) and GET /versions (status 200)
// — Glance sends the same bytes for both — listing APIVersions; the
// gateway renders the list it serves with VersionsDocument.
//
// baseURL is what Glance calls the request's application_url: scheme and
// host as the client sent them ("http://" + Host header, or the
// X-Forwarded-Proto/Forwarded scheme when http_proxy_to_wsgi applies),
// plus any script prefix, without the path. Every link is
// baseURL + "/v2/" (Glance points every minor version at /v2/), a v1
// entry's baseURL + "/v1/". A trailing slash on baseURL is ignored. Glance's public_endpoint option, when set,
// replaces baseURL.
func Versions(baseURL string) []byte { return VersionsDocument(baseURL, APIVersions) }

// VersionsDocument renders a versions document for any version list, in
// Glance's exact byte layout (Python json.dumps with ", " and ": ").
func VersionsDocument(baseURL string, versions []Version) []byte {
	base := strings.TrimRight(baseURL, "/")
	href, hrefV1 := jsonString(base+"/v2/"), jsonString(base+"/v1/")
	b := make([]byte, 0, 64+len(versions)*(64+len(href)))
	b = append(b, `{"versions": [`...)
	for i, v := range versions {
		if i > 0 {
			b = append(b, ", "...)
		}
		b = append(b, `{"id": "`...)
		b = append(b, v.ID...)
		b = append(b, `", "status": "`...)
		b = append(b, v.Status...)
		b = append(b, `", "links": [{"rel": "self", "href": `...)
		if strings.HasPrefix(v.ID, "v1") {
			b = append(b, hrefV1...)
		} else {
			b = append(b, href...)
		}
		b = append(b, "}]}"...)
	}
	return append(b, "]}"...)
}

// jsonString quotes s as Python's json.dumps does (ensure_ascii: non-ASCII
// as \uXXXX), which matters only for odd Host headers.
func jsonString(s string) string {
	const hex = "0123456789abcdef"
	var sb strings.Builder
	sb.WriteByte('"')
	for _, r := range s {
		switch {
		case r == '"':
			sb.WriteString(`\"`)
		case r == '\\':
			sb.WriteString(`\\`)
		case r == '\n':
			sb.WriteString(`\n`)
		case r == '\r':
			sb.WriteString(`\r`)
		case r == '\t':
			sb.WriteString(`\t`)
		case r == '\b':
			sb.WriteString(`\b`)
		case r == '\f':
			sb.WriteString(`\f`)
		case r < 0x20 || r > 0x7e:
			if r > 0xffff {
				r -= 0x10000
				hi, lo := 0xd800+(r>>10), 0xdc00+(r&0x3ff)
				for _, u := range []rune{hi, lo} {
					sb.WriteString(`\u`)
					sb.WriteByte(hex[u>>12&0xf])
					sb.WriteByte(hex[u>>8&0xf])
					sb.WriteByte(hex[u>>4&0xf])
					sb.WriteByte(hex[u&0xf])
				}
				continue
			}
			sb.WriteString(`\u`)
			sb.WriteByte(hex[r>>12&0xf])
			sb.WriteByte(hex[r>>8&0xf])
			sb.WriteByte(hex[r>>4&0xf])
			sb.WriteByte(hex[r&0xf])
		default:
			sb.WriteRune(r)
		}
	}
	sb.WriteByte('"')
	return sb.String()
}
