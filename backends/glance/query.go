package glance

import (
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/spyglass-gateway/spyglass/backends"
)

// apiLimitMax is Glance's api_limit_max default: a region never returns
// more than this per request, whatever limit it is asked for.
const apiLimitMax = 1000

// encodeListQuery writes q as the query string of GET /v2/images that makes
// a Glance evaluate the same listing: gateway.ParseListQuery of the result
// gives q back (the tests check the round trip). limit is the page size to
// ask for (q.Limit may exceed what one request returns).
func encodeListQuery(q *backends.ListQuery, marker string, limit int) string {
	v := url.Values{}
	v.Set("limit", strconv.Itoa(limit))
	if marker != "" {
		v.Set("marker", marker)
	}
	if q.MemberStatus != "" {
		v.Set("member_status", q.MemberStatus)
	}
	if q.Visibility != "" {
		v.Set("visibility", q.Visibility)
	}
	for _, t := range q.Tags {
		v.Add("tag", t)
	}
	for _, f := range q.Filters {
		k, val := encodeFilter(f)
		v.Set(k, val)
	}
	if len(q.Sort) > 0 {
		var b strings.Builder
		for i, s := range q.Sort {
			if i > 0 {
				b.WriteByte(',')
			}
			b.WriteString(s.Key)
			if s.Desc {
				b.WriteString(":desc")
			} else {
				b.WriteString(":asc")
			}
		}
		v.Set("sort", b.String())
	}
	return encodeQuery(v)
}

// maxRequestLine is eventlet.wsgi's MAX_REQUEST_LINE, which Glance serves
// with: a request line of this many bytes or more, CRLF included, is
// answered 414.
const maxRequestLine = 8192

// checkRequestLine refuses a request line a Glance would refuse: the
// gateway bounds the client's own line at maxRequestLine, and the listing
// sent on is longer by the parameters Spyglass spells out (limit, the
// member status, the tie-break sort keys, os_hidden, "eq:" before a value)
// and by any byte the client sent raw that must travel escaped.
func (r *Region) checkRequestLine(method, pathAndQuery string) error {
	prefix := 0 // the endpoint's own path, as in http://host/image
	if u, err := url.Parse(r.base); err == nil {
		prefix = len(u.EscapedPath())
	}
	line := len(method) + 1 + prefix + len(pathAndQuery) + len(" HTTP/1.1\r\n")
	if line < maxRequestLine {
		return nil
	}
	return backends.Errorf(backends.ErrBadRequest, "The listing's filters are too long to send on to region "+r.name+
		" ("+strconv.Itoa(line)+" bytes of request line; Glance takes fewer than "+strconv.Itoa(maxRequestLine)+"): use fewer or shorter filters.")
}

// encodeQuery is url.Values.Encode that leaves ':', ',' and '/' as they
// are: a query component may hold them (RFC 3986) and Glance's parser
// (webob, urllib's parse_qsl) splits only on '&' and '=', while escaping
// them would triple an in: filter's list on its way to the region.
func encodeQuery(v url.Values) string {
	keys := make([]string, 0, len(v))
	for k := range v {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	var b strings.Builder
	for _, k := range keys {
		for _, val := range v[k] {
			if b.Len() > 0 {
				b.WriteByte('&')
			}
			queryEscape(&b, k)
			b.WriteByte('=')
			queryEscape(&b, val)
		}
	}
	return b.String()
}

func queryEscape(b *strings.Builder, s string) {
	const hex = "0123456789ABCDEF"
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9',
			c == '-', c == '_', c == '.', c == '~', c == ':', c == ',', c == '/':
			b.WriteByte(c)
		case c == ' ':
			b.WriteByte('+')
		default:
			b.WriteByte('%')
			b.WriteByte(hex[c>>4])
			b.WriteByte(hex[c&15])
		}
	}
}

var opNames = map[backends.FilterOp]string{
	backends.OpEq: "eq", backends.OpNeq: "neq", backends.OpGt: "gt",
	backends.OpGte: "gte", backends.OpLt: "lt", backends.OpLte: "lte",
}

// encodeFilter is the inverse of the gateway's filter parsing, by the
// filter class of the attribute filtered on (backends.Attribute.Filter).
func encodeFilter(f backends.Filter) (key, value string) {
	if f.Property {
		return f.Key, first(f.Values)
	}
	a := backends.LookupAttribute(f.Key)
	if a == nil {
		return f.Key, first(f.Values)
	}
	switch a.Filter {
	case backends.FilterTime:
		return f.Key, opNames[f.Op] + ":" + f.Time.UTC().Format(time.RFC3339Nano)
	case backends.FilterRange:
		switch f.Op {
		case backends.OpGte:
			return f.Key + "_min", first(f.Values)
		case backends.OpLte:
			return f.Key + "_max", first(f.Values)
		}
		return f.Key, first(f.Values)
	case backends.FilterInOrEq:
		if f.Op == backends.OpIn {
			parts := make([]string, len(f.Values))
			for i, s := range f.Values {
				parts[i] = quoteInValue(s)
			}
			return f.Key, "in:" + strings.Join(parts, ",")
		}
		// Always spell the operator: a value that looks like "in:x" or
		// contains ':' must not be read as one.
		return f.Key, "eq:" + first(f.Values)
	}
	return f.Key, first(f.Values)
}

// quoteInValue quotes one alternative of an in: filter when it holds a
// comma, or is empty (unquoted, a last empty alternative would vanish:
// "in:a," is ["a"]). A quote in an alternative the gateway's parser made
// is always escaped with a backslash, which keeps it from opening or
// closing anything, quoted or not: such an alternative goes as it is
// (quoting one that ends in a backslash would escape the closing quote).
// Inside quotes Glance's split_filter_value_for_quotes keeps a backslash
// and the character after it as they are, so the value goes in unescaped:
// that is how the parser produced it.
func quoteInValue(s string) string {
	if s != "" && !strings.Contains(s, ",") {
		return s
	}
	return `"` + s + `"`
}

func first(vs []string) string {
	if len(vs) == 0 {
		return ""
	}
	return vs[0]
}
