package federation

import (
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/spyglass-gateway/spyglass/backends"
)

// TestTaskListingOrder: a listing keeps a region's order among tasks the
// region renders in the same second (its database knew the microseconds),
// puts the gateway's task after the region's of its second, newest first,
// and before them oldest first, and orders by the sort key first.
func TestTaskListingOrder(t *testing.T) {
	at := func(s string) time.Time {
		tm, err := time.Parse(time.RFC3339Nano, "2026-12-07T11:05:"+s+"Z")
		if err != nil {
			t.Fatal(err)
		}
		return tm
	}
	task := func(id, status, created string) *backends.Task {
		return &backends.Task{ID: id, Status: status, CreatedAt: at(created), UpdatedAt: at(created)}
	}
	// The region's, newest first as it sorted them, to the second.
	region := []*backends.Task{task("r3", "processing", "58"), task("r2", "failure", "58"), task("r1", "failure", "57")}
	ours := task("g", "failure", "58.900")
	for _, tc := range []struct {
		name string
		q    backends.TaskQuery
		in   []*backends.Task // the region's, in its order for q
		want string
	}{
		{"newest first", backends.TaskQuery{SortKey: "created_at", Desc: true}, region, "r3,r2,g,r1"},
		{"default", backends.TaskQuery{}, region, "r3,r2,g,r1"},
		{"oldest first", backends.TaskQuery{SortKey: "created_at"}, []*backends.Task{region[2], region[1], region[0]}, "r1,g,r2,r3"},
		{"by status", backends.TaskQuery{SortKey: "status"}, []*backends.Task{region[2], region[1], region[0]}, "r1,g,r2,r3"},
		{"by status, desc", backends.TaskQuery{SortKey: "status", Desc: true}, region, "r3,r2,g,r1"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			all := append(append([]*backends.Task{}, tc.in...), ours)
			n := len(tc.in)
			idx := []int{0, 1, 2, 3}
			sort.SliceStable(idx, func(a, b int) bool {
				return taskBefore(&tc.q, all[idx[a]], all[idx[b]], idx[a] >= n, idx[b] >= n)
			})
			var ids []string
			for _, i := range idx {
				ids = append(ids, all[i].ID)
			}
			if got := strings.Join(ids, ","); got != tc.want {
				t.Errorf("order %s, want %s", got, tc.want)
			}
		})
	}
}
