package federation

import (
	"fmt"
	"strings"

	"github.com/spyglass-gateway/spyglass/backends"
)

// Order is how a region's database orders a listing, so the merge can
// order the union the way one Glance holding every image would. Glance
// hands ORDER BY to its database, and databases disagree on two points.
type Order struct {
	// NullsLast: NULL sorts after every value ascending (PostgreSQL);
	// false: before (SQLite, MySQL, the embedded store).
	NullsLast bool
	// Collation of string sort keys: "binary" (byte order: SQLite, the
	// embedded store, PostgreSQL with the C collation) or "nocase" (ASCII
	// case folded, MySQL's *_ci collations as far as image names go).
	Collation string
}

// Validate names what is wrong with o.
func (o Order) Validate() error {
	switch o.Collation {
	case "", "binary", "nocase":
		return nil
	}
	return fmt.Errorf("collation %q: want binary or nocase", o.Collation)
}

func (o Order) nocase() bool { return o.Collation == "nocase" }

// orderKey is a sort key resolved to its attribute: once per listing, not
// per comparison (the merge compares on every image it takes).
type orderKey struct {
	attr *backends.Attribute // nil: not an attribute, compares equal
	desc bool
}

// ordering is an Order over one listing's sort keys.
type ordering struct {
	Order
	keys []orderKey
	// coalesced are the keys whose empty values Glance's marker predicate
	// confuses with NULL (see pagesFrom): strings that may be NULL, and
	// integers.
	coalesced backends.Blanks
}

// over resolves keys for the comparisons of one listing.
func (o Order) over(keys []backends.SortKey) *ordering {
	ord := &ordering{Order: o, keys: make([]orderKey, len(keys))}
	for i, k := range keys {
		a := backends.LookupAttribute(k.Key)
		ord.keys[i] = orderKey{attr: a, desc: k.Desc}
		if a != nil && (a.Kind == backends.KindString && a.Nullable || a.Kind == backends.KindInt) {
			ord.coalesced |= backends.BlanksOf(a)
		}
	}
	return ord
}

// compare orders image a, listed by region ra, and b, listed by rb, in the
// merged listing's order over its keys (which hold Glance's tie-breaks,
// created_at and id): negative when a comes first.
//
// Glance renders times to the second but its database orders them by the
// microsecond, so within a second a region's order is its own and cannot
// be recomputed from what it returns: images of two regions that tie up to
// the second of a time key are ordered by region (the merged order is one
// that hidden microseconds could have given), and two of one region are
// left in the region's order (0). Keys after that time key decide nothing.
// Every stream is then sorted by this order, so merging them, and placing a
// marker of one region in another's listing, is exact.
func (o *ordering) compare(a *backends.Image, ra int, b *backends.Image, rb int) int {
	for _, k := range o.keys {
		if k.attr == nil {
			continue
		}
		c := o.compareKey(a, b, k.attr)
		if k.desc {
			c = -c
		}
		if c != 0 {
			return c
		}
		if k.attr.Kind == backends.KindTime {
			return ints(int64(ra), int64(rb))
		}
	}
	return 0
}

// compareKey compares one sort key ascending.
func (o *ordering) compareKey(a, b *backends.Image, attr *backends.Attribute) int {
	switch attr.Kind {
	case backends.KindString:
		return o.nullableStrings(attr.Str(a), attr.Str(b))
	case backends.KindInt:
		return o.nullableInts(attr.Int(a), attr.Int(b))
	case backends.KindTime:
		// To the second, as Glance renders them: Unix is the time
		// truncated to its second, and far cheaper than Truncate.
		return ints(attr.Time(a).Unix(), attr.Time(b).Unix())
	case backends.KindBool:
		return bools(*attr.Bool(a), *attr.Bool(b))
	}
	return 0
}

func (o Order) strings(a, b string) int {
	if o.nocase() {
		return strings.Compare(strings.ToLower(a), strings.ToLower(b))
	}
	return strings.Compare(a, b)
}

// nulls orders a NULL against a value: a NULL is the smallest value unless
// the database puts NULLs last.
func (o Order) nulls(aNull, bNull bool) (int, bool) {
	switch {
	case aNull && bNull:
		return 0, true
	case aNull != bNull:
		c := -1
		if bNull {
			c = 1
		}
		if o.NullsLast {
			c = -c
		}
		return c, true
	}
	return 0, false
}

func (o Order) nullableStrings(a, b *string) int {
	if c, done := o.nulls(a == nil, b == nil); done {
		return c
	}
	return o.strings(*a, *b)
}

func (o Order) nullableInts(a, b *int64) int {
	if c, done := o.nulls(a == nil, b == nil); done {
		return c
	}
	return ints(*a, *b)
}

// bools orders as the databases store booleans: false (0) first.
func bools(a, b bool) int {
	switch {
	case a == b:
		return 0
	case b:
		return -1
	}
	return 1
}

func ints(a, b int64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// pagesFrom reports whether a Glance pages correctly after img as its
// marker. Glance's marker predicate (glance/db/sqlalchemy/api.py
// _paginate_query) replaces a NULL marker value with ” and compares the
// columns through CASE … ELSE <0 or ”>, while ORDER BY sorts the NULLs
// themselves: a marker whose value is NULL (an integer column then compares
// against a string and nothing follows it: Glance 25's empty page after
// sort=size:asc) or equals the coalesced default (NULL and ”/0 rows become
// indistinguishable) can skip or repeat images. Such a marker is never
// handed to a region; the walk re-reads from an earlier safe one.
func (o *ordering) pagesFrom(img *backends.Image) bool {
	return !o.coalesced.Any(img)
}
