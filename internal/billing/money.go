package billing

import (
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
)

// Micros is an amount of money in micro-USD (1 USD = 1,000,000). Balances
// and ledger amounts are only ever added and compared as integers; floats
// appear only where a human or a configuration file writes dollars, and are
// converted once by FromUSD.
type Micros int64

// MicrosPerUSD is one dollar.
const MicrosPerUSD Micros = 1_000_000

// FromUSD converts dollars into Micros, rounding half away from zero
// (0.0000005 → 1, −0.0000005 → −1). NaN, infinities and amounts beyond what
// an int64 of micros holds (about ±9.2 trillion USD) are refused.
func FromUSD(usd float64) (Micros, error) {
	if math.IsNaN(usd) || math.IsInf(usd, 0) {
		return 0, fmt.Errorf("amount %v is not a number of dollars", usd)
	}
	m := math.Round(usd * 1e6) // math.Round rounds half away from zero
	// float64(math.MaxInt64) rounds up to 2^63, which itself overflows.
	if m >= math.MaxInt64 || m < math.MinInt64 {
		return 0, fmt.Errorf("amount %v USD is too large", usd)
	}
	return Micros(m), nil
}

// ParseUSD reads a dollar amount as written on a command line ("1.5",
// "-0.25", "$3"). The text is parsed as a decimal, not through a float, so
// "0.1" is exactly 100000 micros; more than 6 decimals are rounded half
// away from zero.
func ParseUSD(s string) (Micros, error) {
	t := s
	neg := false
	if t != "" && (t[0] == '-' || t[0] == '+') {
		neg = t[0] == '-'
		t = t[1:]
	}
	if t != "" && t[0] == '$' {
		t = t[1:]
	}
	whole, frac, _ := strings.Cut(t, ".")
	if whole == "" && frac == "" {
		return 0, fmt.Errorf("amount %q is not a number of dollars", s)
	}
	if !digits(whole) || !digits(frac) {
		return 0, fmt.Errorf("amount %q is not a number of dollars", s)
	}
	var w int64
	if whole != "" {
		var err error
		if w, err = strconv.ParseInt(whole, 10, 64); err != nil || w > math.MaxInt64/int64(MicrosPerUSD)-1 {
			return 0, fmt.Errorf("amount %q is too large", s)
		}
	}
	var f int64
	for i := range 6 {
		f *= 10
		if i < len(frac) {
			f += int64(frac[i] - '0')
		}
	}
	if len(frac) > 6 && frac[6] >= '5' {
		f++
	}
	m := w*int64(MicrosPerUSD) + f
	if neg {
		m = -m
	}
	return Micros(m), nil
}

func digits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// String formats m as dollars with all six decimals: "$1.234567",
// "-$0.000001".
func (m Micros) String() string {
	sign := ""
	u := uint64(m)
	if m < 0 {
		sign = "-"
		u = uint64(-(m + 1)) + 1 // no overflow for MinInt64
	}
	return fmt.Sprintf("%s$%d.%06d", sign, u/1_000_000, u%1_000_000)
}

// add returns a+b, or an error when the sum does not fit in an int64.
func add(a, b Micros) (Micros, error) {
	s := a + b
	if (b > 0 && s < a) || (b < 0 && s > a) {
		return 0, errors.New("balance would overflow")
	}
	return s, nil
}
