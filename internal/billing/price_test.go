package billing

import (
	"math"
	"strings"
	"testing"

	"github.com/switchyard/switchyard/internal/config"
)

const x1 = 1_000_000 // ratioPPM of ×1

func mustPrices(t *testing.T, m map[string]config.Price) *Prices {
	t.Helper()
	p, err := NewPrices(m)
	if err != nil {
		t.Fatalf("NewPrices: %v", err)
	}
	return p
}

func TestNewPricesConverts(t *testing.T) {
	p := mustPrices(t, map[string]config.Price{
		"gpt-4o-mini": {Input: 0.15, Output: 0.60, CachedInput: 0.075},
		"no-cache":    {Input: 2.5, Output: 10},
		"big":         {Input: 1_000_000, PerRequest: 0.000001},
		"gpt-image-1": {PerRequest: 0.01, PerImage: map[string]float64{"1024x1024": 0.042, "default": 0.063}},
	})
	tests := []struct {
		model string
		want  Price
	}{
		{"gpt-4o-mini", Price{Input: 150_000, CachedInput: 75_000, Output: 600_000}},
		{"no-cache", Price{Input: 2_500_000, CachedInput: 2_500_000, Output: 10_000_000}}, // cached_input defaults to input
		{"big", Price{Input: 1_000_000_000_000, CachedInput: 1_000_000_000_000, PerRequest: 1}},
		{"gpt-image-1", Price{PerRequest: 10_000, PerImage: map[string]Micros{"1024x1024": 42_000, "default": 63_000}}},
	}
	for _, tt := range tests {
		got, ok := p.Lookup(tt.model)
		if !ok {
			t.Errorf("Lookup(%q) found nothing", tt.model)
			continue
		}
		if got.Input != tt.want.Input || got.CachedInput != tt.want.CachedInput || got.Output != tt.want.Output ||
			got.PerRequest != tt.want.PerRequest || len(got.PerImage) != len(tt.want.PerImage) {
			t.Errorf("Lookup(%q) = %+v, want %+v", tt.model, got, tt.want)
		}
		for k, v := range tt.want.PerImage {
			if got.PerImage[k] != v {
				t.Errorf("Lookup(%q).PerImage[%q] = %d, want %d", tt.model, k, got.PerImage[k], v)
			}
		}
	}
}

func TestNewPricesRefuses(t *testing.T) {
	tests := []struct {
		name   string
		prices map[string]config.Price
		want   string // start of the error
	}{
		{"finer than a micro per 1M", map[string]config.Price{"m": {Input: 0.0000001}}, "pricing.m.input: 0.0000001 is not a whole number of micro-USD per 1M tokens"},
		{"finer per request", map[string]config.Price{"m": {PerRequest: 0.0000015}}, "pricing.m.per_request: 0.0000015 is not a whole number of micro-USD"},
		{"negative", map[string]config.Price{"m": {Output: -1}}, "pricing.m.output: -1 must be a finite price"},
		{"NaN", map[string]config.Price{"m": {CachedInput: math.NaN()}}, "pricing.m.cached_input: NaN"},
		{"infinite", map[string]config.Price{"m": {Input: math.Inf(1)}}, "pricing.m.input: +Inf"},
		{"too large", map[string]config.Price{"m": {Input: 1e13}}, "pricing.m.input: amount"},
		{"dotted model", map[string]config.Price{"gpt-3.5-turbo": {Output: 0.12345678}}, `pricing["gpt-3.5-turbo"].output:`},
		{"image price", map[string]config.Price{"img": {PerImage: map[string]float64{"1024x1024/hd": 0.0400001}}}, "pricing.img.per_image.1024x1024/hd:"},
		{"web search price", map[string]config.Price{"m": {PerWebSearch: 0.0100001}}, "pricing.m.per_web_search: 0.0100001 is not a whole number of micro-USD"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := NewPrices(tt.prices)
			if err == nil || !strings.HasPrefix(err.Error(), tt.want) {
				t.Fatalf("NewPrices = %v, %v; want error starting %q", p, err, tt.want)
			}
		})
	}
}

func TestCost(t *testing.T) {
	mini := Price{Input: 150_000, CachedInput: 75_000, Output: 600_000}
	img := Price{PerRequest: 10_000, PerImage: map[string]Micros{"1024x1024": 42_000, "1024x1024/hd": 80_000, "default": 63_000}}
	const maxM = Micros(math.MaxInt64)
	tests := []struct {
		name  string
		price Price
		u     Usage
		ratio int64
		want  Micros
	}{
		{"exact: (600×150000 + 400×75000 + 500×600000)/1e6", mini,
			Usage{PromptTokens: 1000, CachedTokens: 400, CompletionTokens: 500}, x1, 420},
		{"one token rounds up to 1 micro", mini, Usage{PromptTokens: 1}, x1, 1},
		{"1.5 micro-USD worth rounds up to 2", Price{Input: 1_500_000}, Usage{PromptTokens: 1}, x1, 2},
		{"whole micros are not rounded", Price{Input: 1_000_000}, Usage{PromptTokens: 3}, x1, 3},
		{"parts summed before rounding", mini, Usage{PromptTokens: 2, CachedTokens: 1, CompletionTokens: 1}, x1, 1}, // 0.825 micro
		{"ratio 1.5", mini, Usage{PromptTokens: 1000, CachedTokens: 400, CompletionTokens: 500}, 1_500_000, 630},
		{"ratio rounds up", mini, Usage{PromptTokens: 1}, 1_500_000, 2},
		{"ratio 0 is free", mini, Usage{PromptTokens: 1000, CompletionTokens: 500}, 0, 0},
		{"negative ratio is free", mini, Usage{PromptTokens: 1000}, -x1, 0},
		{"ratio 0.000001", Price{PerRequest: 1_000_000}, Usage{}, 1, 1},
		{"free", Price{Free: true, Input: 150_000, PerRequest: 5}, Usage{PromptTokens: 1 << 40, Images: 3}, x1, 0},
		{"zero price", Price{}, Usage{PromptTokens: 1000}, x1, 0},
		{"cached more than prompt: uncached is 0", mini, Usage{PromptTokens: 100, CachedTokens: 200}, x1, 15},
		{"negative counts are 0", mini, Usage{PromptTokens: -5, CachedTokens: -5, CompletionTokens: -5, Images: -2}, x1, 0},
		{"negative prices are 0", Price{Input: -150_000, PerRequest: -7}, Usage{PromptTokens: 1000}, x1, 0},
		{"per request", Price{Input: 150_000, PerRequest: 10_000}, Usage{PromptTokens: 1}, x1, 10_001},
		{"images size/quality", img, Usage{Images: 2, ImageSize: "1024x1024", ImageQuality: "hd"}, x1, 170_000},
		{"images size", img, Usage{Images: 2, ImageSize: "1024x1024", ImageQuality: "standard"}, x1, 94_000},
		{"images default", img, Usage{Images: 1, ImageSize: "512x512"}, x1, 73_000},
		{"images without a price cost 0", Price{PerRequest: 3, PerImage: map[string]Micros{"1024x1024": 9}}, Usage{Images: 4, ImageSize: "256x256"}, x1, 3},
		{"images and ratio", img, Usage{Images: 1, ImageSize: "1024x1024"}, 1_500_000, 78_000},
		{"web searches", Price{Input: 150_000, PerWebSearch: 10_000}, Usage{PromptTokens: 1, WebSearches: 3}, x1, 30_001},
		{"web searches and ratio", Price{PerWebSearch: 10_000}, Usage{WebSearches: 1}, 1_500_000, 15_000},
		{"web searches without a price cost 0", Price{PerRequest: 3}, Usage{WebSearches: 5}, x1, 3},
		{"negative web searches are 0", Price{PerWebSearch: 10_000}, Usage{WebSearches: -2}, x1, 0},
		{"saturates web searches", Price{PerWebSearch: maxM}, Usage{WebSearches: math.MaxInt64}, x1, maxM},
		{"saturates tokens", Price{Input: maxM, CachedInput: maxM, Output: maxM},
			Usage{PromptTokens: math.MaxInt64, CachedTokens: math.MaxInt64 / 2, CompletionTokens: math.MaxInt64}, x1, maxM},
		{"saturates images", Price{PerRequest: maxM, PerImage: map[string]Micros{"default": maxM}}, Usage{Images: math.MaxInt64}, x1, maxM},
		{"saturates ratio", Price{PerRequest: maxM/2 + 1}, Usage{}, 2 * x1, maxM},
		{"huge ratio on a small cost", Price{PerRequest: 1}, Usage{}, math.MaxInt64, 9_223_372_036_855},
		{"largest cost at ×1 is exact", Price{PerRequest: maxM}, Usage{}, x1, maxM},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.price.Cost(tt.u, tt.ratio); got != tt.want {
				t.Errorf("Cost = %d, want %d", got, tt.want)
			}
		})
	}
}

func TestEstimate(t *testing.T) {
	mini := Price{Input: 150_000, CachedInput: 75_000, Output: 600_000}
	img := Price{PerRequest: 10_000, PerImage: map[string]Micros{"1024x1024/hd": 80_000, "default": 63_000}}
	tests := []struct {
		name                   string
		price                  Price
		prompt, maxOut, images int64
		size, quality          string
		ratio                  int64
		want                   Micros
	}{
		{"prompt all uncached + max output", mini, 1000, 500, 0, "", "", x1, 450},
		{"rounds up", mini, 1, 0, 0, "", "", x1, 1},
		{"ratio", mini, 1000, 500, 0, "", "", 1_500_000, 675},
		{"cached price above input bounds it", Price{Input: 1_000_000, CachedInput: 2_000_000}, 10, 0, 0, "", "", x1, 20},
		{"images", img, 0, 0, 3, "1024x1024", "hd", x1, 250_000},
		{"free", Price{Free: true, Input: 1}, 1000, 1000, 1, "", "", x1, 0},
		{"not saturated: 0.75 × MaxInt64", mini, math.MaxInt64, math.MaxInt64, 0, "", "", x1, 6_917_529_027_641_081_856},
		{"saturates", Price{Input: 2_000_000}, math.MaxInt64, 0, 0, "", "", x1, math.MaxInt64},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := tt.price.Estimate(tt.prompt, tt.maxOut, tt.images, tt.size, tt.quality, tt.ratio)
			if got != tt.want {
				t.Fatalf("Estimate = %d, want %d", got, tt.want)
			}
			// The estimate bounds the cost of any usage within it.
			for _, cached := range []int64{0, tt.prompt / 2, tt.prompt} {
				u := Usage{PromptTokens: tt.prompt, CachedTokens: cached, CompletionTokens: tt.maxOut,
					Images: tt.images, ImageSize: tt.size, ImageQuality: tt.quality}
				if c := tt.price.Cost(u, tt.ratio); c > got {
					t.Errorf("Cost(%+v) = %d exceeds the estimate %d", u, c, got)
				}
			}
		})
	}
}

func TestLookup(t *testing.T) {
	p := mustPrices(t, map[string]config.Price{
		"gpt-4o":       {Input: 5},
		"gpt-4o*":      {Input: 2.5},
		"gpt-4o-mini*": {Input: 0.15},
		"claude-*":     {Input: 3},
		"*":            {Free: true},
		"a*":           {Input: 1},
		"?b":           {Input: 2},
	})
	if _, ok := mustPrices(t, map[string]config.Price{"gpt-*": {Input: 1}}).Lookup("llama"); ok {
		t.Fatal("a pattern matched a model it does not cover")
	}
	tests := []struct {
		model string
		want  Price // compared by Input and Free
		ok    bool
	}{
		{"gpt-4o", Price{Input: 5_000_000}, true},               // exact beats every pattern
		{"gpt-4o-2024-08-06", Price{Input: 2_500_000}, true},    // gpt-4o*
		{"gpt-4o-mini-2024-07-18", Price{Input: 150_000}, true}, // longer pattern beats gpt-4o*
		{"gpt-4o-mini", Price{Input: 150_000}, true},            // * matches the empty suffix
		{"claude-sonnet-4", Price{Input: 3_000_000}, true},      // claude-*
		{"llama-3", Price{Free: true}, true},                    // only *
		{"ab", Price{Input: 2_000_000}, true},                   // equal length: name order, "?b" < "a*"
		{"gpt-4o*", Price{Input: 2_500_000}, true},              // a key is also an exact name
		{"meta/llama", Price{Free: true}, true},                 // * crosses /
		{"claude", Price{Free: true}, true},                     // claude-* needs the dash
	}
	for _, tt := range tests {
		got, ok := p.Lookup(tt.model)
		if ok != tt.ok || got.Input != tt.want.Input || got.Free != tt.want.Free {
			t.Errorf("Lookup(%q) = %+v, %v; want %+v, %v", tt.model, got, ok, tt.want, tt.ok)
		}
	}

	none := mustPrices(t, map[string]config.Price{"gpt-4o": {Input: 5}})
	if _, ok := none.Lookup("gpt-4o-mini"); ok {
		t.Error("Lookup of an unpriced model found a price")
	}
	var nilPrices *Prices
	if _, ok := nilPrices.Lookup("gpt-4o"); ok {
		t.Error("nil Prices found a price")
	}
}

func TestImagePrice(t *testing.T) {
	p := Price{PerImage: map[string]Micros{"1024x1024/hd": 3, "1024x1024": 2, "default": 1, "1792x1024/hd": 5}}
	noDefault := Price{PerImage: map[string]Micros{"1024x1024": 2}}
	tests := []struct {
		name          string
		price         Price
		size, quality string
		want          Micros
		ok            bool
	}{
		{"size/quality first", p, "1024x1024", "hd", 3, true},
		{"then size", p, "1024x1024", "standard", 2, true},
		{"size without quality", p, "1024x1024", "", 2, true},
		{"then default", p, "512x512", "hd", 1, true},
		{"quality alone is not a size", p, "", "hd", 1, true},
		{"size/quality without a plain size entry", p, "1792x1024", "hd", 5, true},
		{"size/quality falls to default", p, "1792x1024", "", 1, true},
		{"none", noDefault, "512x512", "", 0, false},
		{"no image prices", Price{}, "1024x1024", "hd", 0, false},
	}
	for _, tt := range tests {
		got, ok := tt.price.ImagePrice(tt.size, tt.quality)
		if got != tt.want || ok != tt.ok {
			t.Errorf("%s: ImagePrice(%q, %q) = %d, %v; want %d, %v", tt.name, tt.size, tt.quality, got, ok, tt.want, tt.ok)
		}
	}
}

func TestDivCeil(t *testing.T) {
	tests := []struct {
		x    u128
		d    uint64
		want uint64
	}{
		{u128{0, 0}, 1_000_000, 0},
		{u128{0, 1}, 1_000_000, 1},
		{u128{0, 2_000_000}, 1_000_000, 2},
		{u128{0, 2_000_001}, 1_000_000, 3},
		{u128{999_999, math.MaxUint64}, 1_000_000, math.MaxInt64}, // quotient 2^64−1 with a remainder
		{u128{1_000_000, 0}, 1_000_000, math.MaxInt64},
		{u128{0, math.MaxUint64}, 1, math.MaxInt64},
	}
	for _, tt := range tests {
		if got := tt.x.divCeil(tt.d); got != tt.want {
			t.Errorf("%+v.divCeil(%d) = %d, want %d", tt.x, tt.d, got, tt.want)
		}
	}
}
