package local

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/spyglass-gateway/spyglass/backends"
)

// TestListPlansUseIndexes: the common listings walk an index in ORDER BY
// order (no sort of every visible image) and the marker seeks.
func TestListPlansUseIndexes(t *testing.T) {
	s, _ := open(t, Options{})
	create(t, s, "m", "p7", "public")
	user := backends.Caller{Project: "p7"}
	def := []backends.SortKey{{Key: "created_at", Desc: true}, {Key: "id", Desc: true}}
	byName := []backends.SortKey{{Key: "name"}, {Key: "created_at"}, {Key: "id"}}
	eq := func(k, v string) []backends.Filter {
		return []backends.Filter{{Key: k, Op: backends.OpEq, Values: []string{v}}}
	}
	tests := []struct {
		name string
		who  backends.Caller
		q    backends.ListQuery
	}{
		{"default", user, backends.ListQuery{Sort: def}},
		{"default marker", user, backends.ListQuery{Sort: def, Marker: "m"}},
		{"admin", backends.Caller{Admin: true}, backends.ListQuery{Sort: def}},
		{"anonymous", backends.Caller{}, backends.ListQuery{Sort: def}},
		{"name", user, backends.ListQuery{Sort: byName}},
		{"name marker", user, backends.ListQuery{Sort: byName, Marker: "m"}},
		{"created asc", user, backends.ListQuery{Sort: []backends.SortKey{{Key: "created_at"}, {Key: "id"}}}},
		{"updated", user, backends.ListQuery{Sort: []backends.SortKey{{Key: "updated_at", Desc: true}, {Key: "created_at", Desc: true}, {Key: "id", Desc: true}}}},
		{"status", user, backends.ListQuery{Sort: def, Filters: eq("status", "active")}},
		{"owner", user, backends.ListQuery{Sort: def, Filters: eq("owner", "p1")}},
		{"visibility", user, backends.ListQuery{Sort: def, Visibility: "public"}},
		{"tags", user, backends.ListQuery{Sort: def, Tags: []string{"a", "b", "c"}}},
		{"property", user, backends.ListQuery{Sort: def, Filters: []backends.Filter{{Key: "os_distro", Property: true, Op: backends.OpEq, Values: []string{"cirros"}}}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.q.Limit = 25
			sq, all := explainList(t, s, tt.who, &tt.q)
			if strings.Contains(all, "TEMP B-TREE") || !strings.Contains(all, "INDEX") {
				t.Fatalf("plan sorts or scans the table:\n%s\n%s", sq, all)
			}
		})
	}
}

// TestListManyFiltersAreProbes: the tag and property filters stay
// correlated probes, one index search per image walked. Folded into a
// join of up to 61 tables, they cost SQLite's planner 0.5 s of CPU per
// listing (15 s under -race), whatever the store's size: a tenant's
// 60-tag listing was a cheap way to burn a core.
func TestListManyFiltersAreProbes(t *testing.T) {
	s, _ := open(t, Options{})
	create(t, s, "m", "p7", "public")
	user := backends.Caller{Project: "p7"}
	var tags []string
	var props []backends.Filter
	for i := range 60 {
		tags = append(tags, fmt.Sprintf("t%d", i))
		props = append(props, backends.Filter{Key: fmt.Sprintf("p%d", i), Property: true, Op: backends.OpEq, Values: []string{"v"}})
	}
	for _, q := range []backends.ListQuery{
		{Tags: tags},
		{Filters: props},
		{Tags: tags[:30], Filters: props[:30], Marker: "m"},
	} {
		q.Limit = 25
		sq, plan := explainList(t, s, user, &q)
		// SQLite names a subquery it flattened into the join "SEARCH t
		// EXISTS USING ..." (p for properties).
		if strings.Contains(plan, " EXISTS USING") {
			t.Errorf("%d tags, %d property filters: the filters are planned as a join:\n%s\n%.2000s", len(q.Tags), len(q.Filters), sq, plan)
		}
	}
}

// explainList is the query buildList makes for q and SQLite's plan for it.
func explainList(t *testing.T, s *Store, who backends.Caller, q *backends.ListQuery) (query, plan string) {
	t.Helper()
	sq, args, err := s.buildList(who, q)
	if err != nil {
		t.Fatal(err)
	}
	rows, err := s.rdb.QueryContext(context.Background(), "EXPLAIN QUERY PLAN "+sq, args...)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var lines []string
	for rows.Next() {
		var id, parent, unused int
		var detail string
		if err := rows.Scan(&id, &parent, &unused, &detail); err != nil {
			t.Fatal(err)
		}
		lines = append(lines, detail)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return sq, strings.Join(lines, "\n")
}
