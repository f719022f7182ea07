package gateway

import (
	"strconv"
	"strings"

	"github.com/valyala/fasthttp"

	"github.com/spyglass-gateway/spyglass/backends"
)

// The Images API v1 listing (GET /v1/images and /v1/images/detail) as
// Glance Queens answered it: the API server validated a few filters
// (glance/api/v1/images.py, Controller._get_filters, and
// glance/api/v1/filters.py), the registry parsed the rest
// (glance/registry/api/v1/images.py, Controller._get_query_params) and the
// database evaluated it (glance/db/sqlalchemy/api.py, image_get_all).
// Line numbers below are of those files at tag queens-eol.

// V1ListQuery is a parsed v1 listing.
type V1ListQuery struct {
	// Query is the listing for the catalog: the filters, the order (the
	// sort key, then created_at and id, all in the one direction), the
	// marker and the page size (never 0: a v1 limit=0 is an empty page).
	Query backends.ListQuery
	// Empty: limit=0 asked for no image at all.
	Empty bool
	// AsUser: an admin's listing without is_public=none/false, answered as
	// the admin's project would see it as a regular user
	// (registry/api/v1/images.py:117-119, admin_as_user).
	AsUser bool
	// NotPublic: an admin's is_public=false, every image that is not
	// public (db/sqlalchemy/api.py:442-446); the catalog has no such
	// filter, so the handler drops the public ones.
	NotPublic bool
}

// v1Filters are api/v1/__init__.py's SUPPORTED_FILTERS: the query
// parameters the API server validates and passes to the registry.
var v1Filters = []string{"name", "status", "container_format", "disk_format", "min_ram", "min_disk",
	"size_min", "size_max", "is_public", "changes-since", "protected"}

// v1Statuses are the database's statuses (db/sqlalchemy/models.py
// STATUSES) but killed: an undeleted listing shows no killed image
// (db/sqlalchemy/api.py:463-466).
var v1Statuses = []string{"active", "saving", "queued", "pending_delete", "deleted", "deactivated", "uploading", "importing"}

// v1Defaults are Glance Queens' limit_param_default and api_limit_max.
const (
	v1LimitDefault = 25
	v1LimitMax     = 1000
)

// ParseV1ListQuery parses a v1 listing's query string as Queens' API
// server, registry and database did, with their 400s; admin is the
// caller's is_admin (only an admin's is_public and deleted count).
func ParseV1ListQuery(args *fasthttp.Args, admin bool) (*V1ListQuery, error) {
	// webob's req.params.get: the last value of a key.
	var p lqParams
	args.VisitAll(func(k, v []byte) { p = append(p, struct{ k, v string }{string(k), string(v)}) })

	// api/v1/images.py:429-445 with api/v1/filters.py: the API server
	// refuses a bad size_min, size_max, min_ram, protected or is_public
	// first, in the query's order.
	seen := map[string]bool{}
	for _, kv := range p {
		if seen[kv.k] || !(contains(v1Filters, kv.k) || strings.HasPrefix(kv.k, "property-")) {
			continue
		}
		seen[kv.k] = true
		v, _ := p.last(kv.k)
		if !v1FilterValid(kv.k, v) {
			return nil, badRequest("Bad value passed to filter " + kv.k + " got " + v)
		}
	}

	out := &V1ListQuery{}
	q := &out.Query
	q.MemberStatus = "all" // api/v1/images.py:424-426 and registry 233-235: LP #1132294

	// registry/api/v1/images.py:238-282, _get_filters.
	changesSince := false
	for _, kv := range p {
		k := kv.k
		if seen[k+"\x00"] {
			continue
		}
		seen[k+"\x00"] = true
		v, _ := p.last(k)
		switch {
		case strings.HasPrefix(k, "property-"):
			q.Filters = append(q.Filters, backends.Filter{Key: k[len("property-"):], Property: true, Op: backends.OpEq, Values: []string{v}})
		case k == "changes-since":
			t, err := parseISOTime(v)
			if err != nil {
				return nil, badRequest("Unrecognized changes-since value")
			}
			// db/sqlalchemy/api.py:456-460: updated_at > changes-since.
			q.Filters = append(q.Filters, backends.Filter{Key: "updated_at", Op: backends.OpGt, Time: t})
			changesSince = true
		case k == "protected":
			b, ok := v1Bool(v)
			if !ok {
				return nil, badRequest("protected must be True, or False")
			}
			q.Filters = append(q.Filters, backends.Filter{Key: "protected", Op: backends.OpEq, Values: []string{strconv.FormatBool(b)}})
		case k == "size_min" || k == "size_max":
			// db/sqlalchemy/api.py:480-493: size >= / <= the value (an
			// integer: the API server checked it).
			op := backends.OpGte
			if k == "size_max" {
				op = backends.OpLte
			}
			n, _ := v1Int(v)
			q.Filters = append(q.Filters, backends.Filter{Key: "size", Op: op, Values: []string{strconv.Itoa(n)}})
		case k == "min_ram" || k == "min_disk":
			// db/sqlalchemy/api.py:522-524: plain equality.
			n, ok := v1Int(v)
			if !ok {
				// A column compared with what is not a number matches
				// nothing.
				n = -1
			}
			q.Filters = append(q.Filters, backends.Filter{Key: k, Op: backends.OpEq, Values: []string{strconv.Itoa(n)}})
		case k == "name" || k == "status" || k == "container_format" || k == "disk_format":
			// db/sqlalchemy/api.py:506-519: "in:" or "eq:" (or none).
			f, err := inOrEqFilter(k, v)
			if err != nil {
				return nil, err
			}
			q.Filters = append(q.Filters, f)
		}
	}

	// registry/api/v1/images.py:284-294, _get_limit.
	out.Query.Limit = v1LimitDefault
	if v, ok := p.last("limit"); ok {
		n, err := strconv.Atoi(strings.TrimSpace(v))
		if err != nil {
			return nil, badRequest("limit param must be an integer")
		}
		if n < 0 {
			return nil, badRequest("limit param must be positive")
		}
		out.Query.Limit = min(n, v1LimitMax)
	}
	out.Empty = out.Query.Limit == 0
	// 306-313, _get_sort_key; 315-322, _get_sort_dir.
	key, _ := p.last("sort_key")
	if _, ok := p.last("sort_key"); !ok {
		key = "created_at"
	}
	if !contains(sortKeys, key) {
		return nil, badRequest("Unsupported sort_key. Acceptable values: " + strings.Join(sortKeys, ", "))
	}
	dir, ok := p.last("sort_dir")
	if !ok {
		dir = "desc"
	}
	if dir != "asc" && dir != "desc" {
		return nil, badRequest("Unsupported sort_dir. Acceptable values: asc, desc")
	}
	// db/sqlalchemy/api.py:675-678: created_at and id follow, in the
	// same direction.
	q.Sort = append(q.Sort, backends.SortKey{Key: key, Desc: dir == "desc"})
	for _, k := range []string{"created_at", "id"} {
		if k != key {
			q.Sort = append(q.Sort, backends.SortKey{Key: k, Desc: dir == "desc"})
		}
	}
	// 296-304, _get_marker.
	if m, _ := p.last("marker"); m != "" {
		if !uuidLike(m) {
			return nil, badRequest("Invalid marker format")
		}
		q.Marker = m
	}

	// 269-277: only an admin filters on deleted; everyone else, and an
	// admin who does not ask, sees undeleted images only, but with
	// changes-since, which shows deleted ones too. The catalog keeps no
	// deleted image, so "deleted" only narrows: deleted=true finds none.
	if admin {
		if v, ok := p.last("deleted"); ok && pyBoolFromString(v) {
			out.Empty = true
		}
	}
	if !changesSince {
		// db/sqlalchemy/api.py:463-466: no killed image when undeleted.
		// A status the caller asks for is narrowed in place, one filter
		// on the key: a region's query string holds one status.
		v1NarrowStatus(out)
	}

	// 223-225 and 333-349: is_public, for an admin only; absent means
	// True, which for an admin means "as a regular user" (117-119).
	if admin {
		out.AsUser = true
		if v, ok := p.last("is_public"); ok {
			if strings.ToLower(v) == "none" {
				out.AsUser = false
			} else if b, ok := v1Bool(v); !ok {
				return nil, badRequest("is_public must be None, True, or False")
			} else if !b {
				out.AsUser, out.NotPublic = false, true
			}
		}
	}
	return out, nil
}

// v1FilterValid is api/v1/filters.py's validate.
func v1FilterValid(k, v string) bool {
	switch k {
	case "size_max", "size_min", "min_ram":
		n, ok := v1Int(v)
		return ok && n >= 0
	case "protected", "is_public":
		switch strings.ToLower(v) {
		case "none", "true", "false", "1", "0":
			return true
		}
		return false
	}
	return true
}

// v1Int is Python's int() of a query value: surrounding spaces and a sign
// allowed.
func v1Int(v string) (int, bool) {
	n, err := strconv.Atoi(strings.TrimSpace(v))
	return n, err == nil
}

// v1Bool is the registry's _get_bool (registry/api/v1/images.py:324-331).
func v1Bool(v string) (b, ok bool) {
	switch strings.ToLower(v) {
	case "true", "1":
		return true, true
	case "false", "0":
		return false, true
	}
	return false, false
}

// pyBoolFromString is oslo's strutils.bool_from_string (not strict).
func pyBoolFromString(v string) bool {
	switch strings.ToLower(strings.TrimSpace(v)) {
	case "1", "t", "true", "on", "y", "yes":
		return true
	}
	return false
}

// uuidLike is oslo's uuidutils.is_uuid_like: what is left once "urn:",
// "uuid:", surrounding braces and hyphens are dropped is 32 hex digits.
func uuidLike(v string) bool {
	s := strings.ReplaceAll(strings.ReplaceAll(v, "urn:", ""), "uuid:", "")
	s = strings.ReplaceAll(strings.Trim(s, "{}"), "-", "")
	if len(s) != 32 {
		return false
	}
	for i := 0; i < len(s); i++ {
		if !isHex(s[i]) {
			return false
		}
	}
	return true
}

// v1NarrowStatus keeps the listing to v1Statuses: the caller's status
// filter, if any, loses the statuses not among them (nothing left: an
// empty page), else one is added.
func v1NarrowStatus(out *V1ListQuery) {
	q := &out.Query
	for i := range q.Filters {
		f := &q.Filters[i]
		if f.Key != "status" || f.Property {
			continue
		}
		var keep []string
		for _, v := range f.Values {
			if contains(v1Statuses, v) {
				keep = append(keep, v)
			}
		}
		if len(keep) == 0 {
			out.Empty = true
			keep = f.Values
		}
		f.Values = keep
		return
	}
	q.Filters = append(q.Filters, backends.Filter{Key: "status", Op: backends.OpIn, Values: v1Statuses})
}
