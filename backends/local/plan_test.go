package local

import (
	"context"
	"strings"
	"testing"

	"github.com/spyglass-gateway/spyglass/backends"
)

// TestListPlansUseIndexes: the common listings walk an index in ORDER BY
// order (no sort of every visible image) and the marker seeks.
func TestListPlansUseIndexes(t *testing.T) {
	ctx := context.Background()
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
		q    backends.ListQuery
	}{
		{"default", backends.ListQuery{Caller: user, Sort: def}},
		{"default marker", backends.ListQuery{Caller: user, Sort: def, Marker: "m"}},
		{"admin", backends.ListQuery{Caller: backends.Caller{Admin: true}, Sort: def}},
		{"anonymous", backends.ListQuery{Sort: def}},
		{"name", backends.ListQuery{Caller: user, Sort: byName}},
		{"name marker", backends.ListQuery{Caller: user, Sort: byName, Marker: "m"}},
		{"created asc", backends.ListQuery{Caller: user, Sort: []backends.SortKey{{Key: "created_at"}, {Key: "id"}}}},
		{"updated", backends.ListQuery{Caller: user, Sort: []backends.SortKey{{Key: "updated_at", Desc: true}, {Key: "created_at", Desc: true}, {Key: "id", Desc: true}}}},
		{"status", backends.ListQuery{Caller: user, Sort: def, Filters: eq("status", "active")}},
		{"owner", backends.ListQuery{Caller: user, Sort: def, Filters: eq("owner", "p1")}},
		{"visibility", backends.ListQuery{Caller: user, Sort: def, Visibility: "public"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.q.Limit = 25
			sq, args, err := s.buildList(&tt.q)
			if err != nil {
				t.Fatal(err)
			}
			rows, err := s.rdb.QueryContext(ctx, "EXPLAIN QUERY PLAN "+sq, args...)
			if err != nil {
				t.Fatal(err)
			}
			defer rows.Close()
			var plan []string
			for rows.Next() {
				var id, parent, unused int
				var detail string
				if err := rows.Scan(&id, &parent, &unused, &detail); err != nil {
					t.Fatal(err)
				}
				plan = append(plan, detail)
			}
			all := strings.Join(plan, "\n")
			if strings.Contains(all, "TEMP B-TREE") || !strings.Contains(all, "INDEX") {
				t.Fatalf("plan sorts or scans the table:\n%s\n%s", sq, all)
			}
		})
	}
}
