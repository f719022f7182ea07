package config

import (
	"math"
	"testing"
)

func TestParseSize(t *testing.T) {
	tests := []struct {
		in      string
		want    Size
		wantErr bool
	}{
		{in: "0", want: 0},
		{in: "1048576", want: 1 << 20},
		{in: "50GiB", want: 50 << 30},
		{in: "50gib", want: 50 << 30},
		{in: "50 GiB", want: 50 << 30},
		{in: " 50GiB ", want: 50 << 30},
		{in: "50Gi", want: 50 << 30},
		{in: "50G", want: 50 << 30},
		{in: "1.5KiB", want: 1536},
		{in: "1.5TiB", want: 3 << 39},
		{in: "500MB", want: 500e6},
		{in: "1kB", want: 1000},
		{in: "1KB", want: 1000},
		{in: "7B", want: 7},
		{in: "8191PiB", want: 8191 << 50},
		{in: "9223372036854775807", want: math.MaxInt64},
		{in: "9223372036854775808", wantErr: true},
		{in: "8192PiB", wantErr: true},
		{in: "1.5B", wantErr: true},
		{in: "0.1KiB", wantErr: true}, // 102.4 bytes
		{in: "", wantErr: true},
		{in: "GiB", wantErr: true},
		{in: "-1", wantErr: true},
		{in: "-1GiB", wantErr: true},
		{in: "1..5GiB", wantErr: true},
		{in: ".5GiB", wantErr: true},
		{in: "5.GiB", wantErr: true},
		{in: "1.2.3", wantErr: true},
		{in: "50XB", wantErr: true},
		{in: "50 GiB extra", wantErr: true},
		{in: "1e9", wantErr: true},
		{in: "0x10", wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := ParseSize(tt.in)
			if tt.wantErr {
				if err == nil {
					t.Fatalf("ParseSize(%q) = %d, want an error", tt.in, got)
				}
				return
			}
			if err != nil {
				t.Fatalf("ParseSize(%q): %v", tt.in, err)
			}
			if got != tt.want {
				t.Errorf("ParseSize(%q) = %d, want %d", tt.in, got, tt.want)
			}
		})
	}
}

func TestSizeString(t *testing.T) {
	tests := []struct {
		in   Size
		want string
	}{
		{0, "0"},
		{1, "1"},
		{1024, "1KiB"},
		{1536, "1536"},
		{50 << 30, "50GiB"},
		{3 << 39, "1536GiB"},
		{1 << 50, "1PiB"},
	}
	for _, tt := range tests {
		if got, want := tt.in.String(), tt.want; got != want {
			t.Errorf("Size(%d).String() = %q, want %q", int64(tt.in), got, want)
		}
	}
}

// FuzzParseSize checks that no input panics, that accepted sizes are never
// negative, and that String round-trips.
func FuzzParseSize(f *testing.F) {
	for _, s := range []string{"0", "50GiB", "1.5 TiB", "500MB", "9223372036854775807", "8192PiB", "1.", ".", "1.5B", "99999999999999999999999999999999999PiB"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if len(s) > 1000 {
			return // big.Rat on megabyte numbers is slow, not wrong
		}
		n, err := ParseSize(s)
		if err != nil {
			return
		}
		if n < 0 {
			t.Fatalf("ParseSize(%q) = %d < 0", s, n)
		}
		back, err := ParseSize(n.String())
		if err != nil || back != n {
			t.Fatalf("ParseSize(%q) = %d; String %q parses to %d, %v", s, n, n.String(), back, err)
		}
	})
}
