package billing

import (
	"math"
	"testing"
)

func TestFromUSD(t *testing.T) {
	tests := []struct {
		usd  float64
		want Micros
		err  bool
	}{
		{0, 0, false},
		{1, 1_000_000, false},
		{1.234567, 1_234_567, false},
		{0.1, 100_000, false},
		{-2.5, -2_500_000, false},
		{0.0000005, 1, false},   // half away from zero
		{-0.0000005, -1, false}, // half away from zero
		{0.0000004, 0, false},
		{0.0000015, 2, false},
		{9_000_000_000_000, 9_000_000_000_000_000_000, false},
		{1e13, 0, true},
		{-1e13, 0, true},
		{math.NaN(), 0, true},
		{math.Inf(1), 0, true},
		{math.Inf(-1), 0, true},
	}
	for _, tt := range tests {
		got, err := FromUSD(tt.usd)
		if (err != nil) != tt.err || got != tt.want {
			t.Errorf("FromUSD(%v) = %d, %v; want %d, error %v", tt.usd, got, err, tt.want, tt.err)
		}
	}
}

func TestParseUSD(t *testing.T) {
	tests := []struct {
		in   string
		want Micros
		err  bool
	}{
		{"1", 1_000_000, false},
		{"0.1", 100_000, false},
		{"$3", 3_000_000, false},
		{"-0.25", -250_000, false},
		{"+.5", 500_000, false},
		{"1.", 1_000_000, false},
		{"0.0000005", 1, false},
		{"-0.0000005", -1, false},
		{"0.00000049", 0, false},
		{"1.2345678", 1_234_568, false},
		{"", 0, true},
		{".", 0, true},
		{"abc", 0, true},
		{"1e3", 0, true},
		{"1.2.3", 0, true},
		{"99999999999999999", 0, true},
	}
	for _, tt := range tests {
		got, err := ParseUSD(tt.in)
		if (err != nil) != tt.err || got != tt.want {
			t.Errorf("ParseUSD(%q) = %d, %v; want %d, error %v", tt.in, got, err, tt.want, tt.err)
		}
	}
}

func TestMicrosString(t *testing.T) {
	tests := map[Micros]string{
		0:                  "$0.000000",
		1_234_567:          "$1.234567",
		-1:                 "-$0.000001",
		-2_500_000:         "-$2.500000",
		math.MinInt64:      "-$9223372036854.775808",
		math.MaxInt64:      "$9223372036854.775807",
		100 * MicrosPerUSD: "$100.000000",
	}
	for m, want := range tests {
		if got := m.String(); got != want {
			t.Errorf("Micros(%d).String() = %q, want %q", int64(m), got, want)
		}
	}
}
