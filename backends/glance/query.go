package glance

import (
	"net/url"
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
	return v.Encode()
}

var opNames = map[backends.FilterOp]string{
	backends.OpEq: "eq", backends.OpNeq: "neq", backends.OpGt: "gt",
	backends.OpGte: "gte", backends.OpLt: "lt", backends.OpLte: "lte",
}

// encodeFilter is the inverse of the gateway's filter parsing.
func encodeFilter(f backends.Filter) (key, value string) {
	if f.Property {
		return f.Key, first(f.Values)
	}
	switch f.Key {
	case "created_at", "updated_at":
		return f.Key, opNames[f.Op] + ":" + f.Time.UTC().Format(time.RFC3339Nano)
	case "size", "virtual_size", "min_ram", "min_disk":
		switch f.Op {
		case backends.OpGte:
			return f.Key + "_min", first(f.Values)
		case backends.OpLte:
			return f.Key + "_max", first(f.Values)
		}
		return f.Key, first(f.Values)
	case "name", "id", "status", "container_format", "disk_format":
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
// comma or a quote. Inside quotes Glance's split_filter_value_for_quotes
// keeps a backslash and the character after it as they are, so the value
// goes in unescaped: that is how the gateway's parser produced it.
func quoteInValue(s string) string {
	if !strings.ContainsAny(s, `,"`) {
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
