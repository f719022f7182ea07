package gateway

import (
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/valyala/fasthttp"

	"github.com/spyglass-gateway/spyglass/backends"
)

// Listing defaults: Glance's limit_param_default and api_limit_max.
const (
	defaultListLimit = 25
	maxListLimit     = 1000
)

// maxListJoins bounds the tag and property filters of one listing. Glance's
// database joins one more table per tag and per property filter, and its
// databases refuse a join of too many tables with a 500: SQLite past 64
// (Glance answers 500 from 64 tags on), MySQL past 61 — images and 60
// more. Spyglass answers a clear 400 past 60 on every topology, so the
// embedded store's query stays small and a Glance region is never sent a
// listing it cannot answer. Within the bound, a listing is Glance's.
const maxListJoins = 60

// sortKeys are Glance's, from the attribute table, in its order.
var sortKeys = backends.SortKeys

func badRequest(msg string) error { return backends.Errorf(backends.ErrBadRequest, msg) }

// lqParams is webob's MultiDict view of a query string: ordered pairs,
// popped by key.
type lqParams []struct{ k, v string }

func (p *lqParams) has(k string) bool {
	for _, kv := range *p {
		if kv.k == k {
			return true
		}
	}
	return false
}

// pop removes and returns the first value for k.
func (p *lqParams) pop(k string) (string, bool) {
	for i, kv := range *p {
		if kv.k == k {
			*p = append((*p)[:i], (*p)[i+1:]...)
			return kv.v, true
		}
	}
	return "", false
}

// last is dict(params)[k]: the last value for k.
func (p *lqParams) last(k string) (string, bool) {
	v, ok := "", false
	for _, kv := range *p {
		if kv.k == k {
			v, ok = kv.v, true
		}
	}
	return v, ok
}

// ParseListQuery parses GET /v2/images as Glance's RequestDeserializer.index,
// ImagesController.index and the database layer do, and refuses with
// Glance's 400s what they refuse. The result's Sort carries Glance's
// tie-breaks (created_at, then id).
func ParseListQuery(args *fasthttp.Args) (*backends.ListQuery, error) {
	if !validQuery(args) {
		return nil, errUndecodable
	}
	var p lqParams
	args.VisitAll(func(k, v []byte) {
		p = append(p, struct{ k, v string }{string(k), string(v)})
	})
	q := &backends.ListQuery{Limit: defaultListLimit, MemberStatus: backends.MemberAccepted}

	if v, ok := p.pop("limit"); ok {
		n, err := strconv.Atoi(strings.TrimSpace(v))
		if err != nil {
			return nil, badRequest("limit param must be an integer")
		}
		if n < 0 {
			return nil, badRequest("limit param must be positive")
		}
		q.Limit = min(n, maxListLimit)
	}
	if v, ok := p.pop("marker"); ok {
		q.Marker = v
	}
	if v, ok := p.pop("member_status"); ok {
		switch v {
		case "pending", "accepted", "rejected", "all":
			q.MemberStatus = v
		default:
			return nil, badRequest("Invalid status: " + v)
		}
	}
	for {
		v, ok := p.pop("tag")
		if !ok {
			break
		}
		// A tag asked twice is asked once: the image must carry it either
		// way, and Glance would join its tags table once more for nothing.
		if v = strings.TrimSpace(v); !slices.Contains(q.Tags, v) {
			q.Tags = append(q.Tags, v)
		}
	}
	// _get_filters looks at the remaining params (dict: last value wins).
	if v, ok := p.last("visibility"); ok && v != "" {
		switch v {
		case "community", "public", "private", "shared", "all":
		default:
			return nil, badRequest("Invalid visibility value: " + v)
		}
	}
	if v, ok := p.last("changes-since"); ok && v != "" {
		return nil, badRequest(`The "changes-since" filter is no longer available on v2.`)
	}
	keys, dirs, err := lqSorting(&p)
	if err != nil {
		return nil, err
	}

	// The remaining params are filters, one value per key (the last).
	seen := map[string]bool{}
	var filterKeys []string
	for _, kv := range p {
		if !seen[kv.k] {
			seen[kv.k] = true
			filterKeys = append(filterKeys, kv.k)
		}
	}
	hidden := "false"
	for _, k := range filterKeys {
		v, _ := p.last(k)
		// visibility and os_hidden have a syntax only they have (the
		// table's FilterOwn): spelled out here. The sort parameters
		// left over were consumed by lqSorting.
		switch k {
		case "visibility":
			q.Visibility = v
			continue
		case "os_hidden":
			hidden = strings.ToLower(v)
			if hidden != "true" && hidden != "false" {
				return nil, badRequest("Invalid value '" + hidden + "' for 'os_hidden' filter. Valid values are 'true' or 'false'.")
			}
			continue
		case "sort", "sort_key", "sort_dir":
			continue
		}
		f, ok, err := attrFilter(k, v)
		if err != nil {
			return nil, err
		}
		if ok {
			q.Filters = append(q.Filters, f)
		}
	}
	q.Filters = append(q.Filters, backends.Filter{Key: "os_hidden", Op: backends.OpEq, Values: []string{hidden}})
	joins := len(q.Tags)
	for _, f := range q.Filters {
		if f.Property {
			joins++
		}
	}
	if joins > maxListJoins {
		return nil, badRequest("Too many tag and property filters: " + strconv.Itoa(joins) + ". A listing takes at most " + strconv.Itoa(maxListJoins) + ".")
	}

	// The database layer's direction rule: no direction → desc for all;
	// one direction → it for every key and the tie-breaks; otherwise the
	// tie-breaks are desc.
	defaultDir := "desc"
	switch {
	case len(dirs) == 0:
		dirs = make([]string, len(keys))
		for i := range dirs {
			dirs[i] = defaultDir
		}
	case len(dirs) == 1:
		defaultDir = dirs[0]
		for len(dirs) < len(keys) {
			dirs = append(dirs, defaultDir)
		}
	}
	for len(dirs) < len(keys) {
		dirs = append(dirs, defaultDir)
	}
	for _, tie := range []string{"created_at", "id"} {
		found := false
		for _, k := range keys {
			if k == tie {
				found = true
			}
		}
		if !found {
			keys = append(keys, tie)
			dirs = append(dirs, defaultDir)
		}
	}
	for i, k := range keys {
		// A key sorted on again orders nothing more (the images it would
		// order are equal on it already): it goes, so the order is the
		// same and its cost does not grow with the request. Glance's
		// marker predicate grows with the square of the keys: 500 of
		// them with a marker take a Glance minutes and gigabytes.
		if slices.ContainsFunc(q.Sort, func(s backends.SortKey) bool { return s.Key == k }) {
			continue
		}
		q.Sort = append(q.Sort, backends.SortKey{Key: k, Desc: dirs[i] == "desc"})
	}
	return q, nil
}

// attrFilter is the filter of query parameter k=v, by the filter class of
// the attribute it names (backends.Attribute.Filter): a range bound
// (size_min), an attribute, or else a custom property. ok is false for a
// parameter Glance drops.
func attrFilter(k, v string) (f backends.Filter, ok bool, err error) {
	a := backends.LookupAttribute(k)
	if a == nil {
		if stem, isMin := strings.CutSuffix(k, "_min"); isMin {
			a = rangeAttr(stem)
		} else if stem, isMax := strings.CutSuffix(k, "_max"); isMax {
			a = rangeAttr(stem)
		}
		if a != nil {
			n, err := strconv.ParseInt(strings.TrimSpace(v), 10, 64)
			if err != nil {
				return f, false, badRequest("Unable to filter on a range with a non-numeric value.")
			}
			op := backends.OpGte
			if strings.HasSuffix(k, "_max") {
				op = backends.OpLte
			}
			return backends.Filter{Key: a.Name, Op: op, Values: []string{strconv.FormatInt(n, 10)}}, true, nil
		}
		return backends.Filter{Key: k, Property: true, Op: backends.OpEq, Values: []string{v}}, true, nil
	}
	switch a.Filter {
	case backends.FilterBool:
		if v != "true" && v != "false" {
			return f, false, badRequest("Invalid value '" + v + "' for '" + k + "' filter. Valid values are 'true' or 'false'.")
		}
		return backends.Filter{Key: k, Op: backends.OpEq, Values: []string{v}}, true, nil
	case backends.FilterTime:
		f, err := lqTimeFilter(k, v)
		return f, err == nil, err
	case backends.FilterInOrEq:
		f, err := inOrEqFilter(k, v)
		return f, err == nil, err
	case backends.FilterEq, backends.FilterRange:
		// A range attribute's own name is an equality; an integer column
		// compared with a non-number matches nothing, in Glance as here.
		return backends.Filter{Key: k, Op: backends.OpEq, Values: []string{v}}, true, nil
	case backends.FilterIgnored:
		// "deleted" is forced false by Glance.
		return f, false, nil
	}
	// FilterProperty, and FilterOwn keys the caller did not spell out.
	return backends.Filter{Key: k, Property: true, Op: backends.OpEq, Values: []string{v}}, true, nil
}

func rangeAttr(name string) *backends.Attribute {
	if a := backends.LookupAttribute(name); a != nil && a.Filter == backends.FilterRange {
		return a
	}
	return nil
}

// lqSorting is _get_sorting_params: both syntaxes, validated.
func lqSorting(p *lqParams) (keys, dirs []string, err error) {
	validKey := func(k string) error {
		for _, sk := range sortKeys {
			if k == sk {
				return nil
			}
		}
		return badRequest("Invalid sort key: " + k + ". It must be one of the following: " + strings.Join(sortKeys, ", ") + ".")
	}
	validDir := func(d string) error {
		if d != "asc" && d != "desc" {
			return badRequest("Invalid sort direction: " + d)
		}
		return nil
	}
	if p.has("sort") {
		if p.has("sort_key") || p.has("sort_dir") {
			return nil, nil, badRequest("Old and new sorting syntax cannot be combined")
		}
		v, _ := p.pop("sort")
		for _, item := range strings.Split(strings.TrimSpace(v), ",") {
			key, dir, _ := strings.Cut(item, ":")
			if dir == "" {
				dir = "desc"
			}
			key, dir = strings.TrimSpace(key), strings.TrimSpace(dir)
			if err := validKey(key); err != nil {
				return nil, nil, err
			}
			if err := validDir(dir); err != nil {
				return nil, nil, err
			}
			keys = append(keys, key)
			dirs = append(dirs, dir)
		}
		// Further "sort" params are left as (ignored-by-Glance) filters.
		for p.has("sort") {
			p.pop("sort")
		}
	} else {
		for {
			v, ok := p.pop("sort_key")
			if !ok {
				break
			}
			v = strings.TrimSpace(v)
			if err := validKey(v); err != nil {
				return nil, nil, err
			}
			keys = append(keys, v)
		}
		for {
			v, ok := p.pop("sort_dir")
			if !ok {
				break
			}
			v = strings.TrimSpace(v)
			if err := validDir(v); err != nil {
				return nil, nil, err
			}
			dirs = append(dirs, v)
		}
		if len(dirs) > 1 && len(dirs) != len(keys) {
			return nil, nil, badRequest("Number of sort dirs does not match the number of sort keys")
		}
	}
	if len(keys) == 0 {
		keys = []string{"created_at"}
	}
	return keys, dirs, nil
}

// lqSplitOp is utils.split_filter_op: "op:value", or "eq" when the
// expression has no operator or is itself an ISO 8601 time.
func lqSplitOp(expr string) (op, value string) {
	left, right, found := strings.Cut(expr, ":")
	if !found {
		return "eq", expr
	}
	if _, err := parseISOTime(expr); err == nil {
		return "eq", expr
	}
	return left, right
}

var timeOps = map[string]backends.FilterOp{
	"eq": backends.OpEq, "neq": backends.OpNeq, "gt": backends.OpGt,
	"gte": backends.OpGte, "lt": backends.OpLt, "lte": backends.OpLte,
}

func lqTimeFilter(key, v string) (backends.Filter, error) {
	op, val := lqSplitOp(v)
	t, err := parseISOTime(val)
	if err != nil {
		return backends.Filter{}, badRequest(`Bad "` + key + `" query filter format. Use ISO 8601 DateTime notation.`)
	}
	fop, ok := timeOps[op]
	if !ok {
		return backends.Filter{}, badRequest("Unable to filter on a unknown operator.")
	}
	return backends.Filter{Key: key, Op: fop, Time: t}, nil
}

// parseISOTime accepts what oslo's timeutils.parse_isotime (iso8601)
// accepts in practice: a date, or a date and time with optional fraction
// and zone; no zone means UTC.
func parseISOTime(s string) (time.Time, error) {
	layouts := []string{
		time.RFC3339Nano, "2006-01-02T15:04:05.999999999", "2006-01-02T15:04:05Z0700",
		"2006-01-02T15:04Z07:00", "2006-01-02T15:04", "2006-01-02 15:04:05Z07:00",
		"2006-01-02 15:04:05", "2006-01-02", "20060102T150405Z", "20060102",
	}
	var err error
	for _, l := range layouts {
		var t time.Time
		if t, err = time.Parse(l, s); err == nil {
			return t.UTC(), nil
		}
	}
	return time.Time{}, err
}

// lqSplitQuoted is utils.split_filter_value_for_quotes with validate_quotes.
func lqSplitQuoted(v string) ([]string, error) {
	open := true
	for i := 0; i < len(v); i++ {
		if v[i] != '"' {
			continue
		}
		if i > 0 && v[i-1] == '\\' {
			continue
		}
		if open {
			if i > 0 && v[i-1] != ',' {
				return nil, badRequest("Invalid filter value " + v + ". There is no comma before opening quotation mark.")
			}
		} else if i+1 != len(v) && v[i+1] != ',' {
			return nil, badRequest("Invalid filter value " + v + ". There is no comma after closing quotation mark.")
		}
		open = !open
	}
	if !open {
		return nil, badRequest("Invalid filter value " + v + ". The quote is not closed.")
	}
	var out []string
	for i := 0; i < len(v); {
		switch {
		case v[i] == '"':
			j := i + 1
			var b strings.Builder
			for j < len(v) && v[j] != '"' {
				if v[j] == '\\' && j+1 < len(v) {
					b.WriteByte(v[j])
					j++
				}
				b.WriteByte(v[j])
				j++
			}
			out = append(out, b.String())
			i = j + 1
			if i < len(v) && v[i] == ',' {
				i++
			}
		case v[i] == ',':
			out = append(out, "")
			i++
		default:
			j := strings.IndexByte(v[i:], ',')
			if j < 0 {
				out = append(out, v[i:])
				i = len(v)
			} else {
				out = append(out, v[i:i+j])
				i += j + 1
			}
		}
	}
	return out, nil
}

// inOrEqFilter is Glance's filter on key k with an "in:" or "eq:" operator
// (or none: eq), v2's and v1's alike.
func inOrEqFilter(k, v string) (backends.Filter, error) {
	op, val := lqSplitOp(v)
	switch op {
	case "in":
		vals, err := lqSplitQuoted(val)
		if err != nil {
			return backends.Filter{}, err
		}
		return backends.Filter{Key: k, Op: backends.OpIn, Values: vals}, nil
	case "eq":
		return backends.Filter{Key: k, Op: backends.OpEq, Values: []string{val}}, nil
	}
	return backends.Filter{}, badRequest("Unable to filter by unknown operator '" + op + "'.")
}
