package openai_test

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"image/png"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/switchyard/switchyard/internal/app/apptest"
	"github.com/switchyard/switchyard/internal/billing"
	"github.com/switchyard/switchyard/internal/config"
	"github.com/switchyard/switchyard/internal/mock"
)

// geminiImageNode is a node with a gemini channel serving an image-output
// model and Imagen on the mock, both priced per image, and a payer key.
func geminiImageNode(t *testing.T) (*gateway, *mock.Server, func() billing.Micros) {
	t.Helper()
	m := mock.New(mock.Options{})
	up := httptest.NewServer(m)
	t.Cleanup(up.Close)
	cfg := apptest.Config(t)
	cfg.Channels = []config.Channel{{Name: "gem", Type: "gemini", BaseURL: up.URL,
		Models:      []string{"gemini-2.5-flash-image", "imagen-4.0-generate-001"},
		Credentials: []config.Credential{{Key: "gem-1"}}}}
	cfg.Keys = []config.Key{{Name: "all", Key: testKey}}
	pricedImages(cfg)
	cfg.Pricing["gemini-2.5-flash-image"] = config.Price{PerImage: map[string]float64{"default": 0.039}}
	cfg.Pricing["imagen-4.0-generate-001"] = config.Price{PerImage: map[string]float64{"default": 0.04}}
	g, _ := runNode(t, cfg)
	return g, m, apptest.Balance(t, g.app, "payer@example.com")
}

// TestGeminiImages: the images API over a gemini channel, billed per
// image delivered: an image-output model (one generateContent call per
// image, fanned out for n=2) and Imagen (:predict with sampleCount), the
// size sent as the nearest aspect ratio; an edit with a reference image;
// an async task; a mask refused with an OpenAI-shaped 400.
func TestGeminiImages(t *testing.T) {
	g, m, balance := geminiImageNode(t)
	post := func(t *testing.T, path, body string, hdr map[string]string) (*http.Response, imagesAnswer) {
		return g.imagePost(t, path, payerKey, "application/json", strings.NewReader(body), hdr)
	}
	cases := []struct {
		name, path, body string
		images           int
		cost             billing.Micros
		upstream         []string // in the last upstream body
	}{
		{"image model, landscape", "/v1/images/generations",
			`{"model":"gemini-2.5-flash-image","prompt":"a lighthouse","size":"1536x1024","n":2}`, 2, 78_000,
			[]string{`"responseModalities":["TEXT","IMAGE"]`, `"aspectRatio":"3:2"`}},
		{"imagen", "/v1/images/generations",
			`{"model":"imagen-4.0-generate-001","prompt":"a lighthouse","size":"1792x1024","n":3}`, 3, 120_000,
			[]string{`"sampleCount":3`, `"aspectRatio":"16:9"`, `"prompt":"a lighthouse"`}},
		{"edit with a reference image", "/v1/images/edits",
			`{"model":"gemini-2.5-flash-image","prompt":"make it night","images":[{"image_url":"data:image/png;base64,` +
				base64.StdEncoding.EncodeToString(uniformPNG(8, 8, 8)) + `"}]}`, 1, 39_000,
			[]string{`"inlineData":{"mimeType":"image/png"`, `"text":"make it night"`}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			m.Reset()
			before := balance()
			resp, a := post(t, c.path, c.body, nil)
			if resp.StatusCode != http.StatusOK || len(a.Data) != c.images {
				t.Fatalf("status %d, %d images: %+v", resp.StatusCode, len(a.Data), a.Error)
			}
			raw, err := base64.StdEncoding.DecodeString(a.Data[0].B64JSON)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := png.Decode(bytes.NewReader(raw)); err != nil {
				t.Errorf("image: %v", err)
			}
			if got := before - balance(); got != c.cost {
				t.Errorf("charged %d micro-USD, want %d", got, c.cost)
			}
			reqs := m.Requests("gem-1")
			if len(reqs) == 0 {
				t.Fatal("no upstream request")
			}
			last := reqs[len(reqs)-1]
			for _, want := range c.upstream {
				if !strings.Contains(last.Body, want) {
					t.Errorf("upstream body lacks %s:\n%.400s", want, last.Body)
				}
			}
		})
	}

	t.Run("multipart edit with two reference images", func(t *testing.T) {
		m.Reset()
		before := balance()
		body, ctype := multipartBody(t, [][2]string{{"model", "gemini-2.5-flash-image"}, {"prompt", "merge them"}, {"size", "1024x1792"}},
			[]formFile{{"image[]", "a.png", "image/png", pngBytes(t, 32, 32, 0)}, {"image[]", "b.png", "image/png", pngBytes(t, 16, 16, 0)}})
		resp, a := g.imagePost(t, "/v1/images/edits", payerKey, ctype, body, nil)
		if resp.StatusCode != http.StatusOK || len(a.Data) != 1 {
			t.Fatalf("status %d, %d images: %+v", resp.StatusCode, len(a.Data), a.Error)
		}
		if got := before - balance(); got != 39_000 {
			t.Errorf("charged %d, want 39000", got)
		}
		last := m.Requests("gem-1")[0].Body
		if n := strings.Count(last, `"inlineData"`); n != 2 || !strings.Contains(last, `"aspectRatio":"9:16"`) || !strings.Contains(last, "merge them") {
			t.Errorf("upstream body (%d inlineData): %.300s", n, last)
		}
	})

	t.Run("async task with links", func(t *testing.T) {
		before := balance()
		resp, _ := post(t, "/v1/images/generations",
			`{"model":"imagen-4.0-generate-001","prompt":"a lighthouse","n":2,"response_format":"url"}`,
			map[string]string{"Prefer": "respond-async"})
		if resp.StatusCode != http.StatusAccepted {
			t.Fatalf("submit: %d", resp.StatusCode)
		}
		tj := g.waitTaskAs(t, payerKey, resp.Header.Get("X-Switchyard-Task-Id"), finished)
		if tj.Status != "succeeded" || tj.Delivered != 2 || len(tj.Data) != 2 {
			t.Fatalf("task: %+v", tj)
		}
		if r, b := get(t, tj.Data[1].URL, ""); r.StatusCode != http.StatusOK || r.Header.Get("Content-Type") != "image/png" || len(b) == 0 {
			t.Errorf("signed link: %d %s", r.StatusCode, r.Header.Get("Content-Type"))
		}
		if got := before - balance(); got != 80_000 {
			t.Errorf("charged %d, want 80000", got)
		}
	})

	refused := []struct{ name, path, body, param string }{
		{"mask", "/v1/images/edits", `{"model":"gemini-2.5-flash-image","prompt":"x","images":[{"image_url":"data:image/png;base64,` +
			base64.StdEncoding.EncodeToString(uniformPNG(8, 8, 8)) + `"}],"mask":{"image_url":"data:image/png;base64,` +
			base64.StdEncoding.EncodeToString(uniformPNG(8, 8, 8)) + `"}}`, "mask"},
		{"imagen edit", "/v1/images/edits", `{"model":"imagen-4.0-generate-001","prompt":"x","images":[{"image_url":"data:image/png;base64,` +
			base64.StdEncoding.EncodeToString(uniformPNG(8, 8, 8)) + `"}]}`, "image"},
		{"http reference", "/v1/images/edits", `{"model":"gemini-2.5-flash-image","prompt":"x","images":[{"image_url":"https://example.com/a.png"}]}`, "images[0]"},
		{"stream", "/v1/images/generations", `{"model":"gemini-2.5-flash-image","prompt":"x","stream":true}`, "stream"},
	}
	for _, c := range refused {
		t.Run("refused "+c.name, func(t *testing.T) {
			before := balance()
			resp, a := post(t, c.path, c.body, nil)
			if resp.StatusCode != http.StatusBadRequest || a.Error == nil || a.Error.Param != c.param {
				b, _ := json.Marshal(a)
				t.Fatalf("status %d: %s", resp.StatusCode, b)
			}
			if got := before - balance(); got != 0 {
				t.Errorf("charged %d for a refused request", got)
			}
		})
	}
}

// TestGeminiImageFailover: a gemini credential that answers an image call
// with 429 rests, and the request is served by the channel's next
// credential before the client sees a byte: every request succeeds,
// charged once (one usage row, 200 at the image's price), and the
// throttled credential is tried once.
func TestGeminiImageFailover(t *testing.T) {
	m := mock.New(mock.Options{})
	up := httptest.NewServer(m)
	t.Cleanup(up.Close)
	cfg := apptest.Config(t)
	cfg.Channels = []config.Channel{{Name: "gem", Type: "gemini", BaseURL: up.URL,
		Models: []string{"gemini-2.5-flash-image", "imagen-4.0-generate-001"}, Strategy: "round_robin",
		Credentials: []config.Credential{{Key: "gem-hot"}, {Key: "gem-cool"}}}}
	cfg.Keys = []config.Key{{Name: "all", Key: testKey}}
	pricedImages(cfg)
	cfg.Pricing["gemini-2.5-flash-image"] = config.Price{PerImage: map[string]float64{"default": 0.039}}
	cfg.Pricing["imagen-4.0-generate-001"] = config.Price{PerImage: map[string]float64{"default": 0.04}}
	g, _ := runNode(t, cfg)
	balance := apptest.Balance(t, g.app, "payer@example.com")
	m.SetFault("gem-hot", mock.Fault{Status: http.StatusTooManyRequests, RetryAfter: 60})

	bodies := []struct {
		body string
		cost billing.Micros
	}{
		{`{"model":"gemini-2.5-flash-image","prompt":"a lighthouse"}`, 39_000},
		{`{"model":"imagen-4.0-generate-001","prompt":"a lighthouse","n":2}`, 80_000},
		{`{"model":"gemini-2.5-flash-image","prompt":"a harbour"}`, 39_000},
	}
	// Round robin over two credentials: the hot one is picked first by
	// one of the first two requests.
	for i, b := range bodies {
		before := balance()
		resp, a := g.imagePost(t, "/v1/images/generations", payerKey, "application/json", strings.NewReader(b.body), nil)
		if resp.StatusCode != http.StatusOK || len(a.Data) == 0 || a.Data[0].B64JSON == "" {
			t.Fatalf("request %d: status %d: %+v", i, resp.StatusCode, a.Error)
		}
		if got := before - balance(); got != b.cost {
			t.Errorf("request %d: charged %d micro-USD, want %d once", i, got, b.cost)
		}
		var paid []string
		for _, r := range usageRowsOf(t, g, balance, resp.Header.Get("X-Request-Id"), 1) {
			if !strings.HasSuffix(r, ":0") {
				paid = append(paid, r)
			}
		}
		if want := fmt.Sprintf("200:%d", b.cost); strings.Join(paid, " ") != want {
			t.Errorf("request %d: charged usage rows %v, want [%s]", i, paid, want)
		}
	}
	hot := m.Requests("gem-hot")
	if len(hot) != 1 || hot[0].Status != http.StatusTooManyRequests {
		t.Fatalf("the throttled credential got %+v, want one 429 and then rest", hot)
	}
	cool := m.Requests("gem-cool")
	if len(cool) != len(bodies) {
		t.Errorf("the next credential served %d calls, want %d", len(cool), len(bodies))
	}
	for _, r := range cool {
		if r.Status != http.StatusOK {
			t.Errorf("next credential's %s answered %d", r.Path, r.Status)
		}
	}
}
