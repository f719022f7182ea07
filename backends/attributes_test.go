package backends

import (
	"slices"
	"strings"
	"testing"
	"time"
)

// TestAttributeTable: every attribute with a value has the accessor of its
// kind and no other, NULL exactly where it is nullable, and Blanks (tests
// switch kept for speed) agrees with the accessors on a blank and a filled
// record.
func TestAttributeTable(t *testing.T) {
	s, n := "x", int64(3)
	full := &Image{ID: "i", Name: &s, Status: "active", Visibility: "public", Protected: true, OSHidden: true,
		Owner: &s, Checksum: &s, OSHashAlgo: &s, OSHashValue: &s, Size: &n, VirtualSize: &n, MinDisk: 1, MinRAM: 1,
		ContainerFormat: &s, DiskFormat: &s, CreatedAt: time.Unix(1, 0), UpdatedAt: time.Unix(1, 0)}
	empty := &Image{}
	for i := range attributes {
		a := &attributes[i]
		t.Run(a.Name, func(t *testing.T) {
			if got := LookupAttribute(a.Name); got != a {
				t.Fatalf("LookupAttribute(%q) = %p, want the table's %p", a.Name, got, a)
			}
			has := map[AttrKind]bool{KindString: a.Str != nil, KindInt: a.Int != nil, KindBool: a.Bool != nil, KindTime: a.Time != nil}
			for k, set := range has {
				if got, want := set, k == a.Kind; got != want {
					t.Errorf("accessor of kind %d set: %v, want %v", k, got, want)
				}
			}
			if (a.field == fNone) == a.Scalar() {
				t.Errorf("field %d for a scalar: %v", a.field, a.Scalar())
			}
			var null, blank bool
			switch a.Kind {
			case KindString:
				null = a.Str(empty) == nil
				blank = null || *a.Str(empty) == ""
				if p := a.Str(full); p == nil || *p == "" {
					t.Errorf("Str of a filled record: %v", p)
				}
			case KindInt:
				null = a.Int(empty) == nil
				blank = null || *a.Int(empty) == 0
				if p := a.Int(full); p == nil || *p == 0 {
					t.Errorf("Int of a filled record: %v", p)
				}
			case KindBool:
				null = a.Bool(empty) == nil
			case KindTime:
				null = a.Time(empty) == nil
			}
			if null != a.Nullable {
				t.Errorf("NULL on an empty record: %v, Nullable: %v", null, a.Nullable)
			}
			if got := BlanksOf(a).Any(empty); got != blank {
				t.Errorf("BlanksOf(a).Any(empty) = %v, want %v", got, blank)
			}
			if BlanksOf(a).Any(full) {
				t.Errorf("BlanksOf(a).Any(filled) = true")
			}
		})
	}
}

// TestSortKeys: Glance's sort keys in its order (its "Invalid sort key"
// message lists them so).
func TestSortKeys(t *testing.T) {
	if got, want := strings.Join(SortKeys, ", "), "name, status, container_format, disk_format, size, id, created_at, updated_at"; got != want {
		t.Errorf("SortKeys = %s, want %s", got, want)
	}
}

// TestAttributeClasses: every attribute of the table says how the listing
// filters on it, how a policy target reads it and what create does with it
// (an attribute added without them fails here), and each class fits the
// attribute's kind: the parsers and the policy read values by class and
// kind and trust that they fit.
func TestAttributeClasses(t *testing.T) {
	filterKinds := map[FilterClass][]AttrKind{
		FilterInOrEq: {KindString}, FilterEq: {KindString}, FilterRange: {KindInt},
		FilterTime: {KindTime}, FilterBool: {KindBool},
		FilterOwn: {KindString, KindBool}, FilterProperty: {KindNone, KindList}, FilterIgnored: {KindNone},
	}
	targetKinds := map[TargetClass][]AttrKind{
		TargetValue: {KindString, KindInt, KindBool}, TargetUnsupported: {KindTime, KindList},
		TargetProperty: {KindNone},
	}
	for _, a := range Attributes() {
		t.Run(a.Name, func(t *testing.T) {
			if kinds, ok := filterKinds[a.Filter]; !ok {
				t.Errorf("no filter class (Filter %d): say how Glance's listing filters on %s", a.Filter, a.Name)
			} else if !slices.Contains(kinds, a.Kind) {
				t.Errorf("filter class %d on kind %d", a.Filter, a.Kind)
			}
			if kinds, ok := targetKinds[a.Target]; !ok {
				t.Errorf("no policy target class (Target %d): say how a rule's %%(%s)s reads it", a.Target, a.Name)
			} else if !slices.Contains(kinds, a.Kind) {
				t.Errorf("target class %d on kind %d", a.Target, a.Kind)
			}
			if a.Create < CreateSet || a.Create > CreateReserved {
				t.Errorf("no create class (Create %d): say what POST /v2/images does with %s", a.Create, a.Name)
			}
			if a.Create == CreateReserved && a.patch != attrReserved || a.patch == attrReserved && a.Create != CreateReserved {
				t.Errorf("reserved to create (%v) but not to a patch, or the reverse", a.Create == CreateReserved)
			}
		})
	}
}
