package federation

import "github.com/spyglass-gateway/spyglass/backends"

// What the merge calls, for the benchmarks: resolved once per listing
// (benchOrder), called per image.

func benchOrder(o Order, keys []backends.SortKey) *ordering { return o.over(keys) }

func benchCompare(st *ordering, a *backends.Image, ra int, b *backends.Image, rb int) int {
	return st.compare(a, ra, b, rb)
}

func benchPagesFrom(st *ordering, img *backends.Image) bool { return st.pagesFrom(img) }
