package extent

import "sort"

// Set is a sorted set of disjoint, non-adjacent half-open intervals
// [start, end) of bytes. The zero Set is empty.
type Set []([2]int64)

// Add puts [a, b) in the set, merging it with the intervals it overlaps or
// touches. An empty interval (a >= b) changes nothing.
func (x *Set) Add(a, b int64) {
	if a >= b {
		return
	}
	s := *x
	i := sort.Search(len(s), func(i int) bool { return s[i][1] >= a })
	j := i
	for j < len(s) && s[j][0] <= b {
		a, b = min(a, s[j][0]), max(b, s[j][1])
		j++
	}
	s = append(s[:i], append([][2]int64{{a, b}}, s[j:]...)...)
	*x = s
}

// At returns the end of the interval holding p; ok is false when none
// does.
func (x Set) At(p int64) (end int64, ok bool) {
	i := sort.Search(len(x), func(i int) bool { return x[i][1] > p })
	if i < len(x) && x[i][0] <= p {
		return x[i][1], true
	}
	return 0, false
}

// NextStart returns the start of the first interval after p.
func (x Set) NextStart(p int64) (int64, bool) {
	i := sort.Search(len(x), func(i int) bool { return x[i][0] > p })
	if i < len(x) {
		return x[i][0], true
	}
	return 0, false
}

// Covers reports whether one interval holds all of [a, b) (an empty
// [a, b) is always covered).
func (x Set) Covers(a, b int64) bool {
	end, ok := x.At(a)
	return a >= b || (ok && end >= b)
}

// Total is the number of bytes the intervals hold.
func (x Set) Total() int64 {
	var n int64
	for _, r := range x {
		n += r[1] - r[0]
	}
	return n
}

// Clone returns a copy that later Adds to x do not change.
func (x Set) Clone() Set { return append(Set(nil), x...) }

// Pairs returns the intervals as [start, end) pairs, in order (for a
// record on disk).
func (x Set) Pairs() [][2]int64 { return [][2]int64(x) }
