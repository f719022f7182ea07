package federation

import (
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/spyglass-gateway/spyglass/backends"
)

// TestImportBookIsGlancesBookkeeping: the lists as Glance's
// ImportActionWrapper keeps them (merge_store_list: a sorted set,
// comma-joined, "" when empty), seeded from the region's own values.
func TestImportBookIsGlancesBookkeeping(t *testing.T) {
	for _, tc := range []struct {
		name               string
		steps              func(b *importBook)
		importing, failed  string
		status, wantStatus string
		stores, wantStores []string
	}{
		{name: "begin lists every store, sorted",
			steps:     func(b *importBook) { b.begin("i", nil, []string{"z", "a", "m", "a"}, "", false) },
			importing: "a,m,z", status: "active", wantStatus: "active", stores: []string{"a", "m"}, wantStores: nil},
		{name: "landed and failed stores leave the importing list",
			steps: func(b *importBook) {
				b.begin("i", nil, []string{"a", "b", "c"}, "", false)
				b.done("i", "a")
				b.failedIn("i", "c")
			},
			importing: "b", failed: "c", status: "active", wantStatus: "active", stores: []string{"a", "b"}, wantStores: []string{"a"}},
		{name: "a new import clears its stores' failures and keeps the others'",
			steps: func(b *importBook) {
				b.begin("i", &backends.Image{Properties: map[string]string{failedKey: "b,,x"}}, []string{"b"}, "", false)
			},
			importing: "b", failed: "x", status: "active", wantStatus: "active"},
		{name: "an import shows importing while its first store imports",
			steps:     func(b *importBook) { b.begin("i", nil, []string{"a", "b"}, "a", false) },
			importing: "a,b", status: "uploading", wantStatus: "importing"},
		{name: "without hold, active once the first store landed",
			steps: func(b *importBook) {
				b.begin("i", nil, []string{"a", "b"}, "a", false)
				b.done("i", "a")
			},
			importing: "b", status: "active", wantStatus: "active"},
		{name: "with hold, importing until the last store",
			steps: func(b *importBook) {
				b.begin("i", nil, []string{"a", "b"}, "a", true)
				b.done("i", "a")
			},
			importing: "b", status: "active", wantStatus: "importing"},
		{name: "done everywhere: empty lists",
			steps: func(b *importBook) {
				b.begin("i", nil, []string{"a", "b"}, "a", true)
				b.done("i", "a")
				b.done("i", "b")
			},
			status: "active", wantStatus: "active", stores: []string{"a", "b"}, wantStores: []string{"a", "b"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var b importBook
			tc.steps(&b)
			img := &backends.Image{ID: "i", Status: tc.status, Stores: tc.stores}
			out := b.render(img)
			if got, want := out.Properties[importingKey], tc.importing; got != want {
				t.Errorf("importing %q, want %q", got, want)
			}
			if got, want := out.Properties[failedKey], tc.failed; got != want {
				t.Errorf("failed %q, want %q", got, want)
			}
			if got, want := out.Status, tc.wantStatus; got != want {
				t.Errorf("status %q, want %q", got, want)
			}
			if tc.stores != nil && !slices.Equal(out.Stores, tc.wantStores) {
				t.Errorf("stores %q, want %q", out.Stores, tc.wantStores)
			}
			if img.Properties != nil || img.Status != tc.status {
				t.Errorf("the record laid over was modified")
			}
			if again := b.render(img); again != out {
				t.Errorf("a second rendering of the same record is a new record")
			}
			if other := b.render(&backends.Image{ID: "j"}); other.Properties != nil {
				t.Errorf("an image without marks got some")
			}
		})
	}
}

// TestImportBookIsBounded: past maxImportMarks images the oldest go.
func TestImportBookIsBounded(t *testing.T) {
	var b importBook
	for i := range maxImportMarks + 10 {
		b.begin("img-"+strconv.Itoa(i), nil, []string{"a"}, "", false)
	}
	if n := int(b.n.Load()); n > maxImportMarks {
		t.Fatalf("%d images with marks, at most %d", n, maxImportMarks)
	}
}

// FuzzStoreList: whatever a region holds in a bookkeeping property, the
// list is a sorted set of non-empty names that joins back to itself.
func FuzzStoreList(f *testing.F) {
	for _, s := range []string{"", ",", "a", "b,a", "a,,a", "x, y", ",,z,"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, v string) {
		l := storeList(v)
		if !slices.IsSorted(l) || len(slices.Compact(slices.Clone(l))) != len(l) || slices.Contains(l, "") {
			t.Fatalf("storeList(%q) = %q: not a sorted set of names", v, l)
		}
		if again := storeList(strings.Join(l, ",")); !slices.Equal(again, l) {
			t.Fatalf("storeList(%q) = %q, and parsed again %q", v, l, again)
		}
	})
}
