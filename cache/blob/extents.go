package blob

import "sort"

// extents is a sorted set of disjoint, non-adjacent half-open intervals.
type extents []([2]int64)

func (x *extents) add(a, b int64) {
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

// extentAt returns the end of the extent holding x.
func (x extents) extentAt(p int64) (end int64, ok bool) {
	i := sort.Search(len(x), func(i int) bool { return x[i][1] > p })
	if i < len(x) && x[i][0] <= p {
		return x[i][1], true
	}
	return 0, false
}

// nextStart returns the start of the first extent after p.
func (x extents) nextStart(p int64) (int64, bool) {
	i := sort.Search(len(x), func(i int) bool { return x[i][0] > p })
	if i < len(x) {
		return x[i][0], true
	}
	return 0, false
}

func (x extents) covers(a, b int64) bool {
	end, ok := x.extentAt(a)
	return a >= b || (ok && end >= b)
}

func (x extents) total() int64 {
	var n int64
	for _, r := range x {
		n += r[1] - r[0]
	}
	return n
}

func (x extents) clone() extents { return append(extents(nil), x...) }

func (x extents) pairs() [][2]int64 { return [][2]int64(x) }
