package pool

import (
	"context"
	"log/slog"
	"path/filepath"
	"testing"

	"github.com/switchyard/switchyard/internal/config"
	"github.com/switchyard/switchyard/internal/relay"
	"github.com/switchyard/switchyard/internal/secret"
	"github.com/switchyard/switchyard/internal/store"
)

func TestMaxImages(t *testing.T) {
	ctx := context.Background()
	db, err := store.Open(ctx, "sqlite://"+filepath.Join(t.TempDir(), "sy.db"), slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	if _, err := db.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	kr, err := secret.New(testKey)
	if err != nil {
		t.Fatal(err)
	}
	channel := func(name string, maxImages int, models []string, modelMap map[string]string) config.Channel {
		return config.Channel{Name: name, Type: "openai", BaseURL: "http://127.0.0.1:1", Models: models, ModelMap: modelMap,
			Groups: []string{config.DefaultGroup}, Weight: 1, MaxImages: maxImages,
			Credentials: []config.Credential{{Key: config.Secret("sk-" + name + "-0123456789abcdef"), Weight: 1}}}
	}
	chs := []config.Channel{
		channel("a", 0, []string{"gpt-image-1", "dall-e-3", "gpt-4o"}, map[string]string{"dalle": "dall-e-3-hd", "img": "gpt-image-1"}),
		channel("b", 4, []string{"gpt-image-1"}, nil),
		channel("c", 2, []string{"gpt-image-1"}, nil), // disabled below: not counted
		channel("d", 5, []string{"dall-e-3", "sdxl"}, nil),
	}
	chs[2].Disabled = true
	st := NewStore(db, kr)
	if err := st.ApplyConfig(ctx, chs); err != nil {
		t.Fatal(err)
	}
	p, err := New(ctx, Options{Store: st, State: NewMemoryState(), Clients: relay.NewTransports(config.Upstream{}).Client,
		Scheduler: config.Scheduler{Strategy: string(RoundRobin)}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(p.Close)
	want := map[string]int{
		"gpt-image-1": 4,  // a: 10, b: 4 (c is disabled)
		"dall-e-3":    1,  // a: the dall-e-3 default (1) beats d's explicit 5
		"dalle":       1,  // a maps it to dall-e-3-hd upstream
		"img":         10, // a maps it to gpt-image-1: the default 10
		"gpt-4o":      10,
		"sdxl":        5,  // only d
		"unknown":     10, // no channel serves it
	}
	for model, n := range want {
		if got := p.MaxImages(model); got != n {
			t.Errorf("MaxImages(%q) = %d, want %d", model, got, n)
		}
	}

	// A changed channel is seen at the next reload.
	chs[1].MaxImages = 3
	chs[2].Disabled = false
	if err := st.ApplyConfig(ctx, chs); err != nil {
		t.Fatal(err)
	}
	if err := p.Reload(ctx); err != nil {
		t.Fatal(err)
	}
	if got := p.MaxImages("gpt-image-1"); got != 2 {
		t.Errorf("after reload MaxImages(gpt-image-1) = %d, want 2 (c enabled with max_images 2)", got)
	}
}
