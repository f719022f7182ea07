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
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.q.Limit = 25
			sq, args, err := s.buildList(tt.who, &tt.q)
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
