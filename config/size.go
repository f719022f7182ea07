package config

import (
	"fmt"
	"math"
	"math/big"
	"strings"

	"gopkg.in/yaml.v3"
)

// Size is a byte count written in configuration as a plain integer (bytes)
// or a number with a unit: "50GiB", "1.5 TiB", "500MB". Binary units (KiB,
// MiB, GiB, TiB, PiB, and the short forms Ki, Mi, Gi, Ti, Pi) are powers of
// 1024; decimal units (kB/KB, MB, GB, TB, PB) are powers of 1000, as on a
// disk label. Units are case-insensitive. The zero Size is 0 bytes.
type Size int64

var sizeUnits = map[string]int64{
	"":    1,
	"b":   1,
	"k":   1 << 10,
	"ki":  1 << 10,
	"kib": 1 << 10,
	"m":   1 << 20,
	"mi":  1 << 20,
	"mib": 1 << 20,
	"g":   1 << 30,
	"gi":  1 << 30,
	"gib": 1 << 30,
	"t":   1 << 40,
	"ti":  1 << 40,
	"tib": 1 << 40,
	"p":   1 << 50,
	"pi":  1 << 50,
	"pib": 1 << 50,
	"kb":  1e3,
	"mb":  1e6,
	"gb":  1e9,
	"tb":  1e12,
	"pb":  1e15,
}

// ParseSize parses a size such as "50GiB", "1.5TiB", "500MB" or "1048576".
// A fraction must come to a whole number of bytes ("1.5KiB" is 1536, "1.5B"
// is an error). Negative sizes and sizes above math.MaxInt64 bytes are
// errors. The single-letter units K, M, G, T, P are binary, like the
// GNU tools' K/M/G.
func ParseSize(s string) (Size, error) {
	n, why := parseSize(s)
	if why != "" {
		return 0, fmt.Errorf("size %q: %s", s, why)
	}
	return n, nil
}

// parseSize is ParseSize with, instead of an error, why s is not a size
// ("" when it is).
func parseSize(s string) (Size, string) {
	s = strings.TrimSpace(s)
	if s == "" {
		return 0, "empty; write bytes or a number with a unit, e.g. 50GiB"
	}
	i := 0
	for i < len(s) && (s[i] >= '0' && s[i] <= '9' || s[i] == '.') {
		i++
	}
	num, unit := s[:i], strings.ToLower(strings.TrimSpace(s[i:]))
	if num == "" || strings.Count(num, ".") > 1 || num == "." || num[0] == '.' || num[len(num)-1] == '.' {
		return 0, "not a number with an optional unit, e.g. 50GiB, 500MB, 1048576"
	}
	mult, ok := sizeUnits[unit]
	if !ok {
		return 0, fmt.Sprintf("unknown unit %q: use B, KiB, MiB, GiB, TiB, PiB (1024) or kB, MB, GB, TB, PB (1000)", strings.TrimSpace(s[i:]))
	}
	// 19 digits hold any int64; a fraction needs at most 50 digits to come
	// to whole bytes with PiB (2^50). Anything longer is a typo, and would
	// cost big-number arithmetic on untrusted length.
	if len(num) > 72 {
		return 0, "number too long"
	}
	r, ok := new(big.Rat).SetString(num)
	if !ok {
		return 0, "not a number"
	}
	r.Mul(r, new(big.Rat).SetInt64(mult))
	if !r.IsInt() {
		return 0, "not a whole number of bytes"
	}
	n := r.Num()
	if !n.IsInt64() || n.Int64() > math.MaxInt64 {
		return 0, fmt.Sprintf("too large (max %d bytes)", int64(math.MaxInt64))
	}
	return Size(n.Int64()), ""
}

// String formats s with the largest binary unit that divides it exactly, so
// that ParseSize(s.String()) == s.
func (s Size) String() string {
	if s == 0 {
		return "0"
	}
	for _, u := range []struct {
		name string
		n    int64
	}{{"PiB", 1 << 50}, {"TiB", 1 << 40}, {"GiB", 1 << 30}, {"MiB", 1 << 20}, {"KiB", 1 << 10}} {
		if int64(s)%u.n == 0 {
			return fmt.Sprintf("%d%s", int64(s)/u.n, u.name)
		}
	}
	return fmt.Sprintf("%d", int64(s))
}

// UnmarshalYAML accepts an integer (bytes) or a string with a unit.
func (s *Size) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind != yaml.ScalarNode {
		return fmt.Errorf("line %d: expected a size such as 50GiB", n.Line)
	}
	v, err := ParseSize(n.Value)
	if err != nil {
		return fmt.Errorf("line %d: %w", n.Line, err)
	}
	*s = v
	return nil
}

// MarshalYAML writes the String form.
func (s Size) MarshalYAML() (any, error) { return s.String(), nil }
