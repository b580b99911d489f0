package openai_test

import (
	"context"
	"testing"

	"github.com/switchyard/switchyard/internal/config"
	"github.com/switchyard/switchyard/internal/live"
	"github.com/switchyard/switchyard/internal/settings"
)

// The console's image default replaces images.response_format from the
// next request, without a restart.
func TestImageDefaultFollowsSettings(t *testing.T) {
	g := imageGateway(t, func(cfg *config.Config) { cfg.Images.ResponseFormat = "url" })
	const body = `{"model":"gpt-image-1","prompt":"a lighthouse"}`
	_, a := g.generate(t, body)
	if len(a.Data) != 1 || a.Data[0].URL == "" || a.Data[0].B64JSON != "" {
		t.Fatalf("with images.response_format url: %+v", a)
	}
	format := "b64_json"
	if _, err := g.app.Settings().Update(context.Background(), settings.Patch{ImageResponseFormat: &format}); err != nil {
		t.Fatal(err)
	}
	if err := g.app.Live().Publish(context.Background(), live.Settings); err != nil {
		t.Fatal(err)
	}
	_, a = g.generate(t, body)
	if len(a.Data) != 1 || a.Data[0].B64JSON == "" || a.Data[0].URL != "" {
		t.Fatalf("after the console set b64_json: %+v", a)
	}
}
