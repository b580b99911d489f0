package openai_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/switchyard/switchyard/internal/app"
	"github.com/switchyard/switchyard/internal/config"
	"github.com/switchyard/switchyard/internal/images"
	"github.com/switchyard/switchyard/internal/mock"
)

// An async task that asks for partial_images streams from the upstream
// (each part of a fanned-out one too), stores and bills the completed
// images as a non-streamed task would, and a task cancelled before its
// first image costs nothing.
func TestImageAsyncPartialsStreamUpstream(t *testing.T) {
	m := mock.New(mock.Options{})
	up := httptest.NewServer(m)
	t.Cleanup(up.Close)
	cfg := imageNodeConfig(t, up.URL)
	cfg.Channels[0].MaxImages = 1 // n=2 is two calls
	cfg.Pricing = map[string]config.Price{"gpt-image-1": {PerImage: map[string]float64{"default": 0.04}}}
	cfg.Users = append(cfg.Users, config.User{Email: "payer@example.com", Credit: 10})
	cfg.Keys = append(cfg.Keys, config.Key{Name: "payer", User: "payer@example.com", Key: payerKey})
	g, _ := runNode(t, cfg, app.WithImageRunner(func(o *images.RunnerOptions) {
		o.HeartbeatInterval = 50 * time.Millisecond
		o.PollInterval = 20 * time.Millisecond
	}))
	calls := func() []mock.RecordedRequest { return m.Requests("img-1") }

	resp, _ := g.imagePost(t, "/v1/images/generations", payerKey, "application/json",
		strings.NewReader(`{"model":"gpt-image-1","prompt":"a fox","n":2,"partial_images":2,"async":true}`), nil)
	if resp.StatusCode != http.StatusAccepted {
		t.Fatalf("submit: %d", resp.StatusCode)
	}
	tj := g.waitTaskAs(t, payerKey, resp.Header.Get("X-Switchyard-Task-Id"), finished)
	if tj.Status != "succeeded" || tj.Delivered != 2 || len(tj.Data) != 2 || tj.CostMicros != 80_000 {
		t.Fatalf("task: %+v", tj)
	}
	gen := calls()
	if len(gen) != 2 {
		t.Fatalf("upstream calls: %d", len(gen))
	}
	for _, c := range gen {
		if !strings.Contains(c.Body, `"stream":true`) || !strings.Contains(c.Body, `"partial_images":2`) || !strings.Contains(c.Body, `"n":1`) {
			t.Errorf("upstream body: %s", c.Body)
		}
	}
	for _, d := range tj.Data {
		if r, _ := get(t, d.URL, ""); r.StatusCode != http.StatusOK {
			t.Errorf("stored image %d: %d", d.Index, r.StatusCode)
		}
	}

	// A multipart edit streams too.
	body, ctype := multipartBody(t, [][2]string{{"model", "gpt-image-1"}, {"prompt", "a hat"}, {"partial_images", "1"}, {"async", "true"}},
		[]formFile{{"image", "a.png", "image/png", pngBytes(t, 30, 30, 0)}})
	resp, _ = g.imagePost(t, "/v1/images/edits", payerKey, ctype, body, nil)
	if resp.StatusCode != http.StatusAccepted {
		t.Fatalf("edit: %d", resp.StatusCode)
	}
	if tj := g.waitTaskAs(t, payerKey, resp.Header.Get("X-Switchyard-Task-Id"), finished); tj.Status != "succeeded" || tj.CostMicros != 40_000 {
		t.Fatalf("edit task: %+v", tj)
	}
	edit := calls()[len(gen)]
	stream := false
	for _, p := range edit.Parts {
		stream = stream || (p.Field == "stream" && p.Value == "true")
	}
	if !stream {
		t.Errorf("the edit was not streamed: %+v", edit.Parts)
	}

	// Cancelled while the upstream sends previews: nothing stored or billed.
	resp, _ = g.imagePost(t, "/v1/images/generations", payerKey, "application/json",
		strings.NewReader(`{"model":"gpt-image-1","prompt":"[[mock chunk_delay=1s]] slow","partial_images":2,"async":true}`), nil)
	task := resp.Header.Get("X-Switchyard-Task-Id")
	g.waitTaskAs(t, payerKey, task, func(tj taskJSON) bool { return tj.Status == "running" })
	req, _ := http.NewRequestWithContext(context.Background(), http.MethodDelete, g.base+"/v1/images/tasks/"+task, nil)
	req.Header.Set("Authorization", "Bearer "+payerKey)
	dresp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	dresp.Body.Close()
	// Past the time the upstream's image would have come: a run that
	// kept going would have stored and billed it (KeepCancelled).
	time.Sleep(2500 * time.Millisecond)
	tj = g.waitTaskAs(t, payerKey, task, finished)
	if tj.Status != "cancelled" || tj.CostMicros != 0 || len(tj.Data) != 0 {
		t.Fatalf("cancelled task: %+v", tj)
	}
}
