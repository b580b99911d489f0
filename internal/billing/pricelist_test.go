package billing

import (
	"errors"
	"testing"

	"github.com/switchyard/switchyard/internal/config"
	"github.com/switchyard/switchyard/internal/testenv"
)

func TestPriceStore(t *testing.T) {
	testenv.EachDatabase(t, func(t *testing.T, url string) {
		ctx := t.Context()
		s := NewPriceStore(openDB(t, url), nil, nil)
		file := map[string]config.Price{
			"gpt-4o":  {Input: 2.5, Output: 10},
			"claude*": {Input: 3, Output: 15, PerImage: map[string]float64{"default": 0.04}},
			"gone":    {Free: true},
		}
		if err := s.ApplyConfig(ctx, file); err != nil {
			t.Fatal(err)
		}
		// A console entry, then one that the file later takes over.
		if _, created, err := s.Put(ctx, "gpt-4o-mini", PriceSpec{InputMicros: 150_000, OutputMicros: 600_000}); err != nil || !created {
			t.Fatalf("Put = %v, created %v", err, created)
		}
		if _, created, err := s.Put(ctx, "gpt-4o-mini", PriceSpec{InputMicros: 200_000, OutputMicros: 600_000}); err != nil || created {
			t.Fatalf("second Put = %v, created %v", err, created)
		}
		if _, _, err := s.Put(ctx, "taken", PriceSpec{Free: true}); err != nil {
			t.Fatal(err)
		}
		if _, _, err := s.Put(ctx, "gpt-4o", PriceSpec{}); !errors.Is(err, ErrManagedByFile) {
			t.Fatalf("Put on a file entry = %v, want ErrManagedByFile", err)
		}
		if err := s.Delete(ctx, "claude*"); !errors.Is(err, ErrManagedByFile) {
			t.Fatalf("Delete of a file entry = %v, want ErrManagedByFile", err)
		}
		if err := s.Delete(ctx, "nothing"); !errors.Is(err, ErrPriceNotFound) {
			t.Fatalf("Delete of nothing = %v, want ErrPriceNotFound", err)
		}
		delete(file, "gone")
		file["taken"] = config.Price{Input: 1}
		if err := s.ApplyConfig(ctx, file); err != nil {
			t.Fatal(err)
		}
		list, err := s.List(ctx)
		if err != nil {
			t.Fatal(err)
		}
		got := map[string]bool{}
		for _, e := range list {
			got[e.Model] = e.ManagedByFile
		}
		want := map[string]bool{"claude*": true, "gpt-4o": true, "gpt-4o-mini": false, "taken": true}
		if len(got) != len(want) {
			t.Fatalf("entries %v, want %v", got, want)
		}
		for m, f := range want {
			if g, ok := got[m]; !ok || g != f {
				t.Errorf("entry %s: managed_by_file %v (present %v), want %v", m, g, ok, f)
			}
		}

		p, err := s.Load(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if pr, ok := p.Lookup("gpt-4o-mini"); !ok || pr.Input != 200_000 || pr.CachedInput != 200_000 {
			t.Errorf("gpt-4o-mini = %+v, %v", pr, ok)
		}
		if pr, ok := p.Lookup("claude-opus-4"); !ok || pr.Output != 15_000_000 || pr.PerImage["default"] != 40_000 {
			t.Errorf("claude-opus-4 (by pattern) = %+v, %v", pr, ok)
		}
		if _, ok := p.Lookup("gone"); ok {
			t.Error("a price that left the file is still charged")
		}
		if err := s.Delete(ctx, "gpt-4o-mini"); err != nil {
			t.Fatal(err)
		}
		if _, err := s.Get(ctx, "gpt-4o-mini"); !errors.Is(err, ErrPriceNotFound) {
			t.Errorf("Get after Delete = %v", err)
		}
	})
}

// The stored form compiles to the very Price the file's form does.
func TestSpecCompilesLikeConfig(t *testing.T) {
	m := map[string]config.Price{
		"a": {Input: 0.075, Output: 0.3, PerRequest: 0.001, PerWebSearch: 0.01,
			PerImage: map[string]float64{"1024x1024": 0.04, "1024x1024/hd": 0.08, "default": 0.02}},
		"b*": {Input: 1, CachedInput: 0.5, Free: true},
	}
	direct, err := NewPrices(m)
	if err != nil {
		t.Fatal(err)
	}
	specs, err := SpecsFromConfig(m)
	if err != nil {
		t.Fatal(err)
	}
	stored := buildPrices(specs)
	for _, model := range []string{"a", "b*", "bx"} {
		d, _ := direct.Lookup(model)
		s, _ := stored.Lookup(model)
		u := Usage{PromptTokens: 1234, CachedTokens: 200, CompletionTokens: 99, Images: 2, ImageSize: "1024x1024", ImageQuality: "hd", WebSearches: 3}
		if d.Cost(u, 1_250_000) != s.Cost(u, 1_250_000) || d.Free != s.Free || d.CachedInput != s.CachedInput {
			t.Errorf("%s: stored %+v, direct %+v", model, s, d)
		}
	}
}

func TestValidatePrice(t *testing.T) {
	for _, c := range []struct {
		model, field string
		spec         PriceSpec
	}{
		{"", "model", PriceSpec{}},
		{" x", "model", PriceSpec{}},
		{"x", "input_micros", PriceSpec{InputMicros: -1}},
		{"x", "cached_input_micros", PriceSpec{CachedInputMicros: -1}},
		{"x", "output_micros", PriceSpec{OutputMicros: -1}},
		{"x", "per_request_micros", PriceSpec{PerRequestMicros: -1}},
		{"x", "per_web_search_micros", PriceSpec{PerWebSearchMicros: -1}},
		{"x", "per_image_micros.big", PriceSpec{PerImageMicros: map[string]int64{"big": 1}}},
		{"x", "per_image_micros.default", PriceSpec{PerImageMicros: map[string]int64{"default": -1}}},
	} {
		var fe *FieldError
		if err := ValidatePrice(c.model, c.spec); !errors.As(err, &fe) || fe.Field != c.field {
			t.Errorf("ValidatePrice(%q, %+v) = %v, want a field error on %s", c.model, c.spec, err, c.field)
		}
	}
}
