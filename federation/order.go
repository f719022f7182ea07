package federation

import (
	"fmt"
	"strings"
	"time"

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

// compare orders image a, listed by region ra, and b, listed by rb, in the
// merged listing's order over keys (which hold Glance's tie-breaks,
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
func (o Order) compare(a *backends.Image, ra int, b *backends.Image, rb int, keys []backends.SortKey) int {
	for _, k := range keys {
		c := o.compareKey(a, b, k.Key)
		if k.Desc {
			c = -c
		}
		if c != 0 {
			return c
		}
		if k.Key == "created_at" || k.Key == "updated_at" {
			return ints(int64(ra), int64(rb))
		}
	}
	return 0
}

// compareKey compares one sort key ascending.
func (o Order) compareKey(a, b *backends.Image, key string) int {
	switch key {
	case "id":
		return o.strings(a.ID, b.ID)
	case "status":
		return o.strings(a.Status, b.Status)
	case "name":
		return o.nullableStrings(a.Name, b.Name)
	case "container_format":
		return o.nullableStrings(a.ContainerFormat, b.ContainerFormat)
	case "disk_format":
		return o.nullableStrings(a.DiskFormat, b.DiskFormat)
	case "size":
		return o.nullableInts(a.Size, b.Size)
	case "virtual_size":
		return o.nullableInts(a.VirtualSize, b.VirtualSize)
	case "min_disk":
		return ints(a.MinDisk, b.MinDisk)
	case "min_ram":
		return ints(a.MinRAM, b.MinRAM)
	case "visibility":
		return o.strings(a.Visibility, b.Visibility)
	case "created_at":
		return seconds(a.CreatedAt).Compare(seconds(b.CreatedAt))
	case "updated_at":
		return seconds(a.UpdatedAt).Compare(seconds(b.UpdatedAt))
	}
	return 0
}

// seconds is a time as Glance renders it.
func seconds(t time.Time) time.Time { return t.Truncate(time.Second) }

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
func pagesFrom(img *backends.Image, keys []backends.SortKey) bool {
	str := func(p *string) bool { return p != nil && *p != "" }
	num := func(p *int64) bool { return p != nil && *p != 0 }
	for _, k := range keys {
		switch k.Key {
		case "name":
			if !str(img.Name) {
				return false
			}
		case "container_format":
			if !str(img.ContainerFormat) {
				return false
			}
		case "disk_format":
			if !str(img.DiskFormat) {
				return false
			}
		case "size":
			if !num(img.Size) {
				return false
			}
		case "virtual_size":
			if !num(img.VirtualSize) {
				return false
			}
		case "min_disk":
			if img.MinDisk == 0 {
				return false
			}
		case "min_ram":
			if img.MinRAM == 0 {
				return false
			}
		}
	}
	return true
}
