package config

import (
	"reflect"
	"slices"
	"strings"
	"sync"
)

// suggest names what an unknown key name in section was probably meant to
// be: the key of section (whose keys are names) nearest to it, if it is
// near enough to be a typo; else the keys of section it is a word of (dir:
// data_dir); else the keys elsewhere that it is a typo of or the same as
// (a key put in the wrong section); else "".
func suggest(name, section string, names []string) string {
	if len(name) > 64 { // no typo of a key is that long; spare the work
		return ""
	}
	best, bestDist := "", -1
	for _, n := range names {
		if d := editDistance(name, n); d <= typoDistance(n) && (bestDist < 0 || d < bestDist) {
			best, bestDist = n, d
		}
	}
	if best != "" {
		return joinKey(section, best)
	}
	var words []string // dir for data_dir, size for max_size
	for _, n := range names {
		if slices.Contains(strings.Split(n, "_"), name) {
			words = append(words, joinKey(section, n))
		}
	}
	if len(words) > 0 && len(words) <= 3 {
		return strings.Join(words, " or ")
	}
	var elsewhere []string
	for _, k := range allKeys() {
		last := k[strings.LastIndexAny(k, ".]")+1:]
		if editDistance(name, last) <= typoDistance(last) && parentKey(k) != genericKey(section) {
			elsewhere = append(elsewhere, k)
		}
	}
	if len(elsewhere) > 3 {
		return ""
	}
	return strings.Join(elsewhere, " or ")
}

// typoDistance is how far from a key a name may be and still be taken for
// a typo of it: one slip in a short key, two in a longer one, three in a
// long one.
func typoDistance(key string) int {
	switch n := len(key); {
	case n <= 4:
		return 1
	case n <= 10:
		return 2
	}
	return 3
}

// editDistance is the optimal-string-alignment distance between a and b:
// insertions, deletions, substitutions and swaps of adjacent letters.
func editDistance(a, b string) int {
	ra, rb := []rune(a), []rune(b)
	prev2 := make([]int, len(rb)+1)
	prev := make([]int, len(rb)+1)
	cur := make([]int, len(rb)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(ra); i++ {
		cur[0] = i
		for j := 1; j <= len(rb); j++ {
			cost := 1
			if ra[i-1] == rb[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
			if i > 1 && j > 1 && ra[i-1] == rb[j-2] && ra[i-2] == rb[j-1] {
				cur[j] = min(cur[j], prev2[j-2]+1)
			}
		}
		prev2, prev, cur = prev, cur, prev2
	}
	return prev[len(rb)]
}

// allKeys lists every key path of Config as the reference writes them
// (regions[].data_dir), sections included.
var allKeys = sync.OnceValue(func() []string {
	var keys []string
	var walk func(t reflect.Type, prefix string)
	walk = func(t reflect.Type, prefix string) {
		for i := range t.NumField() {
			name := yamlName(t.Field(i))
			if name == "" {
				continue
			}
			key := prefix + name
			keys = append(keys, key)
			switch ft := t.Field(i).Type; {
			case ft.Kind() == reflect.Struct && ft != durationType && ft != sizeType:
				walk(ft, key+".")
			case ft.Kind() == reflect.Slice && ft.Elem().Kind() == reflect.Struct:
				walk(ft.Elem(), key+"[].")
			}
		}
	}
	walk(reflect.TypeOf(Config{}), "")
	return keys
})
