package openai_test

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/switchyard/switchyard/internal/billing"
	"github.com/switchyard/switchyard/internal/config"
)

// TestImageBilling: images are charged as delivered, per image at the
// size's price (or by tokens when the model is priced so), times the
// group ratio, and a short batch pays only for what arrived.
func TestImageBilling(t *testing.T) {
	g := imageGateway(t, func(cfg *config.Config) {
		cfg.Pricing = map[string]config.Price{
			"gpt-image-1": {PerImage: map[string]float64{"1024x1024": 0.04, "1024x1024/high": 0.17, "default": 0.06}},
			"dall-e-3":    {PerImage: map[string]float64{"default": 0.08}},
			"dall-e-2":    {Input: 5, Output: 40, PerImage: map[string]float64{"default": 0.02}},
			"tok-image":   {Input: 5, Output: 40, PerImage: map[string]float64{"default": 0.5}},
		}
		img := &cfg.Channels[len(cfg.Channels)-1]
		img.ModelMap = map[string]string{"tok-image": "gpt-image-1"}
		img.Models = append(img.Models, "tok-image")
		cfg.Users = append(cfg.Users, config.User{Email: "payer@example.com", Credit: 10})
		cfg.Keys = append(cfg.Keys, config.Key{Name: "payer", User: "payer@example.com", Key: "sk-test-payer-0123456789"})
	})
	ctx := context.Background()
	ledger := billing.NewLedger(g.app.DB(), time.Now)
	uid, err := ledger.UserID(ctx, "payer@example.com")
	if err != nil {
		t.Fatal(err)
	}
	balance := func() billing.Micros {
		t.Helper()
		if err := g.app.Meter().Drain(ctx); err != nil {
			t.Fatal(err)
		}
		b, err := ledger.Balance(ctx, uid)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	cases := []struct {
		name      string
		body      string
		delivered int
		cost      billing.Micros
	}{
		{"four at the size price", `{"model":"gpt-image-1","prompt":"a","n":4,"size":"1024x1024"}`, 4, 160_000},
		{"size and quality price", `{"model":"gpt-image-1","prompt":"a","n":1,"size":"1024x1024","quality":"high"}`, 1, 170_000},
		{"default price", `{"model":"gpt-image-1","prompt":"a","n":2,"size":"1536x1024"}`, 2, 120_000},
		{"short batch pays what arrived", `{"model":"gpt-image-1","prompt":"a [[mock images_delivered=2]]","n":5,"size":"1024x1024"}`, 2, 80_000},
		{"fanned out", `{"model":"dall-e-3","prompt":"a","n":3}`, 3, 240_000},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			before := balance()
			resp, a := g.imagePost(t, "/v1/images/generations", "sk-test-payer-0123456789", "application/json", strings.NewReader(c.body), nil)
			if resp.StatusCode != http.StatusOK || len(a.Data) != c.delivered {
				t.Fatalf("status %d, %d images: %+v", resp.StatusCode, len(a.Data), a.Error)
			}
			if got := before - balance(); got != c.cost {
				t.Errorf("charged %d micro-USD, want %d", got, c.cost)
			}
		})
	}
	// Token-priced: the upstream's usage is charged, not the per-image price.
	before := balance()
	resp, a := g.imagePost(t, "/v1/images/generations", "sk-test-payer-0123456789", "application/json",
		strings.NewReader(`{"model":"dall-e-2","prompt":"abcdefgh","n":1,"size":"1024x1024","quality":"low"}`), nil)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("token-priced: %d %+v", resp.StatusCode, a.Error)
	}
	charged := before - balance()
	// The mock reports no usage for dall-e models, so the image price applies.
	if charged != 20_000 {
		t.Errorf("dall-e-2 without usage: charged %d, want the per-image 20000", charged)
	}
	// With usage reported (the mock's gpt-image usage: 2 prompt tokens for
	// 8 characters, 272 output tokens for one low 1024x1024 image), tokens
	// are charged: 2×5 + 272×40 micro-USD, not the 0.5 USD image price.
	before = balance()
	resp, a = g.imagePost(t, "/v1/images/generations", "sk-test-payer-0123456789", "application/json",
		strings.NewReader(`{"model":"tok-image","prompt":"abcdefgh","n":1,"size":"1024x1024","quality":"low"}`), nil)
	if resp.StatusCode != http.StatusOK || a.Usage == nil || a.Usage.OutputTokens != 272 {
		t.Fatalf("token-priced: %d %+v %+v", resp.StatusCode, a.Error, a.Usage)
	}
	if charged := before - balance(); charged != 10_890 {
		t.Errorf("token-priced image: charged %d, want 10890", charged)
	}
	if errs, err := ledger.Audit(ctx); err != nil || len(errs) != 0 {
		t.Errorf("ledger audit: %v %v", errs, err)
	}
}
