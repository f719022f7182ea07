package extent_test

import (
	"reflect"
	"testing"

	"github.com/spyglass-gateway/spyglass/cache/blob/extent"
)

func TestSetAdd(t *testing.T) {
	tests := []struct {
		name string
		adds [][2]int64
		want [][2]int64
	}{
		{"empty interval", [][2]int64{{5, 5}, {7, 3}}, nil},
		{"disjoint, out of order", [][2]int64{{10, 20}, {0, 5}}, [][2]int64{{0, 5}, {10, 20}}},
		{"touching merge", [][2]int64{{0, 5}, {5, 10}}, [][2]int64{{0, 10}}},
		{"overlap merges several", [][2]int64{{0, 2}, {4, 6}, {8, 10}, {1, 9}}, [][2]int64{{0, 10}}},
		{"inside changes nothing", [][2]int64{{0, 10}, {3, 4}}, [][2]int64{{0, 10}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var s extent.Set
			for _, a := range tt.adds {
				s.Add(a[0], a[1])
			}
			if got := s.Pairs(); !reflect.DeepEqual(got, tt.want) && !(len(got) == 0 && len(tt.want) == 0) {
				t.Errorf("got %v, want %v", got, tt.want)
			}
		})
	}
}

func TestSetQueries(t *testing.T) {
	var s extent.Set
	s.Add(0, 10)
	s.Add(20, 30)
	if end, ok := s.At(5); !ok || end != 10 {
		t.Errorf("At(5) = %d, %v; want 10, true", end, ok)
	}
	if _, ok := s.At(10); ok {
		t.Error("At(10): the end of an interval is not in it")
	}
	if start, ok := s.NextStart(10); !ok || start != 20 {
		t.Errorf("NextStart(10) = %d, %v; want 20, true", start, ok)
	}
	if _, ok := s.NextStart(20); ok {
		t.Error("NextStart(20): no interval starts after 20")
	}
	if !s.Covers(2, 10) || s.Covers(5, 25) || !s.Covers(40, 40) {
		t.Error("Covers: want [2,10) covered, [5,25) not, an empty range covered")
	}
	if got, want := s.Total(), int64(20); got != want {
		t.Errorf("Total = %d, want %d", got, want)
	}
	c := s.Clone()
	s.Add(10, 20)
	if got, want := c.Total(), int64(20); got != want {
		t.Errorf("a clone changed with its original: Total = %d, want %d", got, want)
	}
}
