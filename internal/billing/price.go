package billing

import (
	"errors"
	"fmt"
	"maps"
	"math"
	"math/bits"
	"slices"
	"strconv"
	"strings"

	"github.com/switchyard/switchyard/internal/config"
)

// Prices is the operator's price list compiled from config.Pricing. It is
// read-only once built, so any number of requests may look prices up at
// once without a lock.
type Prices struct {
	exact    map[string]Price
	patterns []pricePattern // longest pattern first
}

type pricePattern struct {
	glob  string
	price Price
}

// Price is one model's compiled price. Token prices are micro-USD per 1M
// tokens (USD per 1M tokens × 1e6), so that 0.075 USD per 1M is the integer
// 75000 and no float is needed to charge a request.
type Price struct {
	Free                       bool
	Input, CachedInput, Output Micros // per 1M tokens
	PerRequest                 Micros
	PerWebSearch               Micros
	PerImage                   map[string]Micros // "1024x1024", "1024x1024/hd", "default"; shared, do not modify
}

// Usage is what one request consumed, as the upstream reported it.
// PromptTokens includes CachedTokens.
type Usage struct {
	PromptTokens, CachedTokens, CompletionTokens int64
	Images                                       int64
	ImageSize, ImageQuality                      string
	WebSearches                                  int64 // web searches the upstream billed
}

// NewPrices compiles the configured prices. A value that is negative, not
// finite, or finer than a whole micro-USD (more than 6 decimals of USD) is
// refused rather than rounded, as is a pattern key path.Match cannot read;
// each error names the setting ("pricing.gpt-4o.input"). cached_input 0
// (or absent) means the input price.
func NewPrices(m map[string]config.Price) (*Prices, error) {
	specs, err := SpecsFromConfig(m)
	if err != nil {
		return nil, err
	}
	return buildPrices(specs), nil
}

// SpecsFromConfig converts the configured prices to their exact micro-USD
// form, with NewPrices's checks and error messages.
func SpecsFromConfig(m map[string]config.Price) (map[string]PriceSpec, error) {
	out := make(map[string]PriceSpec, len(m))
	var errs []error
	for _, model := range slices.Sorted(maps.Keys(m)) {
		spec, err := specFromConfig(keyPath("pricing", model), m[model])
		if err != nil {
			errs = append(errs, err)
			continue
		}
		out[model] = spec
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return out, nil
}

// buildPrices compiles checked specs into a price list.
func buildPrices(specs map[string]PriceSpec) *Prices {
	p := &Prices{exact: make(map[string]Price, len(specs))}
	for _, model := range slices.Sorted(maps.Keys(specs)) {
		pr := specs[model].compile()
		p.exact[model] = pr
		if config.IsModelPattern(model) {
			p.patterns = append(p.patterns, pricePattern{glob: model, price: pr})
		}
	}
	// Keys are sorted already, so a stable sort by length leaves patterns
	// of equal length in name order and Lookup is deterministic.
	slices.SortStableFunc(p.patterns, func(a, b pricePattern) int { return config.ComparePatterns(a.glob, b.glob) })
	return p
}

func specFromConfig(at string, c config.Price) (PriceSpec, error) {
	const perM = "micro-USD per 1M tokens"
	var errs []error
	conv := func(field string, usd float64, unit string) int64 {
		m, err := priceMicros(usd, unit)
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", field, err))
		}
		return int64(m)
	}
	s := PriceSpec{
		Free:               c.Free,
		InputMicros:        conv(at+".input", c.Input, perM),
		OutputMicros:       conv(at+".output", c.Output, perM),
		CachedInputMicros:  conv(at+".cached_input", c.CachedInput, perM),
		PerRequestMicros:   conv(at+".per_request", c.PerRequest, "micro-USD"),
		PerWebSearchMicros: conv(at+".per_web_search", c.PerWebSearch, "micro-USD"),
	}
	if len(c.PerImage) > 0 {
		s.PerImageMicros = make(map[string]int64, len(c.PerImage))
		for _, k := range slices.Sorted(maps.Keys(c.PerImage)) {
			s.PerImageMicros[k] = conv(keyPath(at+".per_image", k), c.PerImage[k], "micro-USD")
		}
	}
	return s, errors.Join(errs...)
}

// priceMicros converts a configured USD amount exactly: the shortest
// decimal that reads back as usd (what the operator wrote, for any sane
// input) must have at most 6 decimals, so 0.075 becomes 75000 while
// 0.0000001 is refused instead of silently charged as 0.
func priceMicros(usd float64, unit string) (Micros, error) {
	if math.IsNaN(usd) || math.IsInf(usd, 0) || usd < 0 {
		return 0, fmt.Errorf("%v must be a finite price of 0 or more", usd)
	}
	s := strconv.FormatFloat(usd, 'f', -1, 64)
	if _, frac, _ := strings.Cut(s, "."); len(frac) > 6 {
		return 0, fmt.Errorf("%s is not a whole number of %s; use at most 6 decimals", s, unit)
	}
	return ParseUSD(s)
}

// PricingField names model's entry in the configuration file
// ("pricing.gpt-4o", `pricing["gpt-4.1"]`), for errors about a file entry.
func PricingField(model string) string { return keyPath("pricing", model) }

// keyPath names a map entry the way config errors do: pricing.gpt-4o, or
// pricing["gpt-3.5-turbo"] when the key holds a dot or similar.
func keyPath(prefix, key string) string {
	if key == "" || strings.ContainsAny(key, ".[]\" \t\n") {
		return prefix + "[" + strconv.Quote(key) + "]"
	}
	return prefix + "." + key
}

// Lookup finds model's price: its exact name first, else the longest
// pattern key ("gpt-4o*", "claude-*", "*": * is any run of characters,
// slashes included, ? one character) that matches it; ok is false when
// none does. A nil *Prices has no prices.
func (p *Prices) Lookup(model string) (Price, bool) {
	if p == nil {
		return Price{}, false
	}
	if pr, ok := p.exact[model]; ok {
		return pr, true
	}
	for _, pat := range p.patterns {
		if config.MatchModel(pat.glob, model) {
			return pat.price, true
		}
	}
	return Price{}, false
}

// ImagePrice is the price of one image: the "size/quality" entry, else
// "size", else "default". ok is false when none applies, and such images
// then cost nothing (a request still pays per_request).
func (p Price) ImagePrice(size, quality string) (Micros, bool) {
	if quality != "" {
		if m, ok := p.PerImage[size+"/"+quality]; ok {
			return m, true
		}
	}
	if m, ok := p.PerImage[size]; ok {
		return m, true
	}
	m, ok := p.PerImage["default"]
	return m, ok
}

// Cost is what u costs at ratioPPM (the group ratio × 1e6; 1_000_000 is ×1),
// in integer arithmetic only:
//
//  1. the token parts — uncached prompt tokens (prompt − cached, never
//     below zero) × Input, cached tokens × CachedInput, completion tokens
//     × Output — are summed exactly in units of 1e-6 micro-USD, then
//     divided by 1e6 rounding up, so a partial micro-USD is charged as a
//     whole one;
//  2. PerRequest, images × ImagePrice and web searches × PerWebSearch
//     are added;
//  3. the sum is multiplied by ratioPPM / 1e6, rounding up again.
//
// A free price costs 0. Negative counts, prices or ratios count as 0, so a
// cost is never negative, and every step saturates at math.MaxInt64 instead
// of wrapping around.
func (p Price) Cost(u Usage, ratioPPM int64) Micros {
	if p.Free || ratioPPM <= 0 {
		return 0
	}
	prompt, cached := nonNeg(u.PromptTokens), nonNeg(u.CachedTokens)
	uncached := uint64(0)
	if prompt > cached {
		uncached = prompt - cached
	}
	tokens := mul128(uncached, nonNeg(int64(p.Input))).
		add(mul128(cached, nonNeg(int64(p.CachedInput)))).
		add(mul128(nonNeg(u.CompletionTokens), nonNeg(int64(p.Output))))
	total := tokens.divCeil(1_000_000)
	total = satAdd(total, nonNeg(int64(p.PerRequest)))
	if u.Images > 0 {
		if img, ok := p.ImagePrice(u.ImageSize, u.ImageQuality); ok {
			total = satAdd(total, mul128(nonNeg(u.Images), nonNeg(int64(img))).divCeil(1))
		}
	}
	if u.WebSearches > 0 {
		total = satAdd(total, mul128(nonNeg(u.WebSearches), nonNeg(int64(p.PerWebSearch))).divCeil(1))
	}
	return Micros(mul128(total, uint64(ratioPPM)).divCeil(1_000_000))
}

// Estimate is the most a request may cost, to reserve before it is sent:
// all promptTokens at the input price (or the cached price, should that be
// higher), maxOutput completion tokens, images at their image price and the
// per-request price, rounded as Cost rounds. A Cost of no more tokens and
// images is never above it.
func (p Price) Estimate(promptTokens, maxOutput, images int64, size, quality string, ratioPPM int64) Micros {
	q := p
	q.Input = max(p.Input, p.CachedInput)
	return q.Cost(Usage{
		PromptTokens: promptTokens, CompletionTokens: maxOutput,
		Images: images, ImageSize: size, ImageQuality: quality,
	}, ratioPPM)
}

func nonNeg(n int64) uint64 { return uint64(max(n, 0)) }

// satAdd adds two amounts no larger than math.MaxInt64; their sum fits in
// a uint64 and is capped back to math.MaxInt64.
func satAdd(a, b uint64) uint64 { return min(a+b, math.MaxInt64) }

// u128 is an unsigned 128-bit integer: a product of two int64 amounts
// always fits, and three such products still do.
type u128 struct{ hi, lo uint64 }

func mul128(a, b uint64) u128 {
	hi, lo := bits.Mul64(a, b)
	return u128{hi, lo}
}

func (x u128) add(y u128) u128 {
	lo, carry := bits.Add64(x.lo, y.lo, 0)
	hi, over := bits.Add64(x.hi, y.hi, carry)
	if over != 0 {
		return u128{math.MaxUint64, math.MaxUint64}
	}
	return u128{hi, lo}
}

// divCeil is x / d rounded up, capped at math.MaxInt64.
func (x u128) divCeil(d uint64) uint64 {
	if x.hi >= d { // the quotient needs more than 64 bits
		return math.MaxInt64
	}
	q, r := bits.Div64(x.hi, x.lo, d)
	if q >= math.MaxInt64 {
		return math.MaxInt64
	}
	if r != 0 {
		q++
	}
	return q
}
