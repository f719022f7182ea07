package local

import (
	"context"
	"fmt"
	"strconv"
	"strings"

	"github.com/spyglass-gateway/spyglass/backends"
)

// column is the images table's column for an attribute (the columns are
// named as the attributes: backends.LookupAttribute), or nil when the
// attribute has no column of its own (tags, stores, custom properties).
func column(name string) *backends.Attribute {
	if a := backends.LookupAttribute(name); a != nil && a.Scalar() {
		return a
	}
	return nil
}

// ListImages evaluates q with one SQL query that selects ids, and answers
// with the snapshots. Visibility follows Glance's image_get_all; the marker
// predicate is NULL-aware, so paging neither skips nor repeats images whose
// sort values are NULL (where Glance does).
func (s *Store) ListImages(ctx context.Context, q *backends.ListQuery) ([]*backends.Image, error) {
	query, args, err := s.buildList(backends.CallerOf(ctx), q)
	if err != nil {
		return nil, err
	}
	rows, err := s.rdb.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := make([]*backends.Image, 0, min(max(q.Limit, 0), 1000))
	s.mu.RLock()
	defer s.mu.RUnlock()
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			return nil, err
		}
		// An image deleted between the query and now is left out.
		if img := s.images[id]; img != nil {
			out = append(out, img)
		}
	}
	return out, rows.Err()
}

func (s *Store) buildList(who backends.Caller, q *backends.ListQuery) (string, []any, error) {
	var b strings.Builder
	var args []any
	b.WriteString("SELECT i.id FROM images i WHERE 1=1")
	project := who.Project

	// Visibility, as _select_images_query. It must agree with
	// backends.Visible, the Go callers' visibility (but for ownerless
	// images, which Glance lists as owned by nobody and shows to all):
	// TestListingVisibilityIsVisible checks it. The unary + keeps SQLite from
	// answering these ORs with a multi-index scan plus a sort of every
	// visible image: walking the ORDER BY index and stopping at LIMIT is
	// what keeps a page cheap at 100k images.
	if !who.Admin {
		b.WriteString(" AND (+i.visibility IN ('public','community')")
		if project != "" {
			b.WriteString(" OR +i.owner = ? OR (+i.visibility = 'shared' AND EXISTS (SELECT 1 FROM image_members m WHERE m.image_id = i.id AND m.member = ?")
			args = append(args, project, project)
			ms := q.MemberStatus
			if ms == "" {
				ms = backends.MemberAccepted
			}
			if ms != "all" {
				b.WriteString(" AND m.status = ?")
				args = append(args, ms)
			}
			b.WriteString("))")
		}
		// Anonymous callers: Glance's database would add shared images
		// with any member, which its API layer then filters out again as
		// not visible; leaving them out here gives the same pages.
		b.WriteString(")")
	}
	switch {
	case q.Visibility != "" && q.Visibility != "all":
		b.WriteString(" AND i.visibility = ?")
		args = append(args, q.Visibility)
	case q.Visibility == "all":
	case project == "":
		b.WriteString(" AND i.visibility != 'community'")
	default:
		b.WriteString(" AND (+i.owner = ? OR +i.visibility != 'community')")
		args = append(args, project)
	}

	for _, f := range q.Filters {
		var err error
		args, err = appendFilter(&b, args, f)
		if err != nil {
			return "", nil, err
		}
	}
	for _, t := range q.Tags {
		// LIMIT 1 (here and in property filters) keeps each EXISTS a
		// correlated probe of the (image_id, value) index: without it
		// SQLite turns the EXISTS terms into joins, and planning a join
		// of 60 tables (a listing may carry 60 filters) cost 0.5 s of CPU
		// per request, 15 s under -race, on a store of 4 images.
		b.WriteString(" AND EXISTS (SELECT 1 FROM image_tags t WHERE t.image_id = i.id AND t.value = ? LIMIT 1)")
		args = append(args, t)
	}

	sortKeys := q.Sort
	if len(sortKeys) == 0 {
		sortKeys = []backends.SortKey{{Key: "created_at", Desc: true}, {Key: "id", Desc: true}}
	}
	for _, k := range sortKeys {
		if column(k.Key) == nil {
			return "", nil, backends.Errorf(backends.ErrBadRequest, fmt.Sprintf("Unsupported sort key: %s", k.Key))
		}
	}

	if q.Marker != "" {
		s.mu.RLock()
		m := s.images[q.Marker]
		var visible bool
		if m != nil {
			visible = s.markerVisible(who, m)
		}
		s.mu.RUnlock()
		if m == nil {
			return "", nil, backends.Errorf(backends.ErrMarkerNotFound, fmt.Sprintf("No image found with ID %s", q.Marker))
		}
		if !visible {
			// Glance's _image_get raises Forbidden, which index answers 403.
			return "", nil, backends.Errorf(backends.ErrForbidden, fmt.Sprintf("Forbidding request, image %s not visible", q.Marker))
		}
		b.WriteString(" AND ")
		args = appendAfter(&b, args, sortKeys, m)
		// A redundant bound on the first key lets SQLite seek its index
		// instead of walking it from the start up to the marker.
		k := sortKeys[0]
		col := column(k.Key)
		switch v := sortValue(m, col); {
		case v == nil && k.Desc:
			b.WriteString(" AND i." + k.Key + " IS NULL")
		case v != nil && !k.Desc:
			b.WriteString(" AND i." + k.Key + " >= ?")
			args = append(args, v)
		case v != nil && !col.Nullable:
			b.WriteString(" AND i." + k.Key + " <= ?")
			args = append(args, v)
		}
	}

	b.WriteString(" ORDER BY ")
	for i, k := range sortKeys {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString("i." + k.Key)
		if k.Desc {
			b.WriteString(" DESC")
		}
	}
	if q.Limit > 0 {
		b.WriteString(" LIMIT ?")
		args = append(args, q.Limit)
	}
	return b.String(), args, nil
}

// markerVisible is Glance's is_image_visible with any member status.
// Callers hold s.mu.
func (s *Store) markerVisible(c backends.Caller, img *backends.Image) bool {
	var m *backends.Member
	if backends.NeedsMembership(img, c.Admin, c.Project) {
		m = s.members[img.ID][c.Project]
	}
	return backends.Visible(img, c.Admin, c.Project, m, "")
}

func appendFilter(b *strings.Builder, args []any, f backends.Filter) ([]any, error) {
	if f.Property {
		b.WriteString(" AND EXISTS (SELECT 1 FROM image_properties p WHERE p.image_id = i.id AND p.name = ? AND p.value")
		args = append(args, f.Key)
		var err error
		args, err = appendOp(b, args, f, backends.KindString)
		b.WriteString(" LIMIT 1)")
		return args, err
	}
	col := column(f.Key)
	if col == nil {
		return nil, backends.Errorf(backends.ErrBadRequest, fmt.Sprintf("Invalid filter: %s", f.Key))
	}
	b.WriteString(" AND i." + f.Key)
	return appendOp(b, args, f, col.Kind)
}

func filterValue(kind backends.AttrKind, f backends.Filter, v string) (any, error) {
	switch kind {
	case backends.KindInt:
		n, err := strconv.ParseInt(strings.TrimSpace(v), 10, 64)
		if err != nil {
			return nil, backends.Errorf(backends.ErrBadRequest, fmt.Sprintf("Unable to filter on a range with a non-numeric value."))
		}
		return n, nil
	case backends.KindBool:
		switch strings.ToLower(v) {
		case "true":
			return 1, nil
		case "false":
			return 0, nil
		}
		return nil, backends.Errorf(backends.ErrBadRequest, fmt.Sprintf("Invalid value '%s' for '%s' filter. Valid values are 'true' or 'false'.", v, f.Key))
	case backends.KindTime:
		return micros(f.Time), nil
	}
	return v, nil
}

func appendOp(b *strings.Builder, args []any, f backends.Filter, kind backends.AttrKind) ([]any, error) {
	vals := f.Values
	if kind == backends.KindTime {
		vals = []string{""}
	}
	if len(vals) == 0 {
		b.WriteString(" IS NULL AND 0") // nothing matches an empty value list
		return args, nil
	}
	if f.Op == backends.OpIn {
		if kind == backends.KindTime {
			return nil, backends.Errorf(backends.ErrBadRequest, "Unable to filter by unknown operator 'in'.")
		}
		b.WriteString(" IN (")
		for i, v := range vals {
			if i > 0 {
				b.WriteString(",")
			}
			b.WriteString("?")
			x, err := filterValue(kind, f, v)
			if err != nil {
				return nil, err
			}
			args = append(args, x)
		}
		b.WriteString(")")
		return args, nil
	}
	ops := map[backends.FilterOp]string{
		backends.OpEq: " = ?", backends.OpNeq: " != ?", backends.OpGt: " > ?",
		backends.OpGte: " >= ?", backends.OpLt: " < ?", backends.OpLte: " <= ?",
	}
	op, ok := ops[f.Op]
	if !ok {
		return nil, backends.Errorf(backends.ErrBadRequest, "Unable to filter by unknown operator.")
	}
	x, err := filterValue(kind, f, vals[0])
	if err != nil {
		return nil, err
	}
	b.WriteString(op)
	return append(args, x), nil
}

// sortValue is img's value of column a as stored; nil for NULL.
func sortValue(img *backends.Image, a *backends.Attribute) any {
	switch a.Kind {
	case backends.KindString:
		if p := a.Str(img); p != nil {
			return *p
		}
	case backends.KindInt:
		if p := a.Int(img); p != nil {
			return *p
		}
	case backends.KindBool:
		if *a.Bool(img) {
			return int64(1)
		}
		return int64(0)
	case backends.KindTime:
		return micros(*a.Time(img))
	}
	return nil
}

// appendAfter writes the keyset predicate "sorts after the marker", NULL
// aware as SQLite orders NULLs: first ascending, last descending.
//
//	after(k1..kn) = after1 OR (equal1 AND after(k2..kn))
func appendAfter(b *strings.Builder, args []any, keys []backends.SortKey, m *backends.Image) []any {
	k := keys[0]
	col := "i." + k.Key
	v := sortValue(m, column(k.Key))
	b.WriteString("(")
	switch {
	case !k.Desc && v == nil:
		b.WriteString(col + " IS NOT NULL")
	case !k.Desc:
		b.WriteString(col + " > ?")
		args = append(args, v)
	case v == nil:
		b.WriteString("0")
	default:
		b.WriteString("(" + col + " < ? OR " + col + " IS NULL)")
		args = append(args, v)
	}
	if len(keys) > 1 {
		b.WriteString(" OR (")
		if v == nil {
			b.WriteString(col + " IS NULL")
		} else {
			b.WriteString(col + " = ?")
			args = append(args, v)
		}
		b.WriteString(" AND ")
		args = appendAfter(b, args, keys[1:], m)
		b.WriteString(")")
	}
	b.WriteString(")")
	return args
}
