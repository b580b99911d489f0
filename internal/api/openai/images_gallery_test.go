package openai_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/switchyard/switchyard/internal/gallery"
	"github.com/switchyard/switchyard/internal/mock"
)

// TestImageGallery: the images an async task and a synchronous URL
// request store land in the gallery with their prompt, model, size and
// quality, and get thumbnails; a base64 answer stores nothing.
func TestImageGallery(t *testing.T) {
	m := mock.New(mock.Options{})
	up := httptest.NewServer(m)
	t.Cleanup(up.Close)
	cfg := imageNodeConfig(t, up.URL)
	g, _ := runNode(t, cfg)

	resp, _ := g.imagePost(t, "/v1/images/generations", testKey, "application/json",
		strings.NewReader(`{"model":"gpt-image-1","prompt":"雪地里的红色狐狸","n":2,"size":"1024x1024","quality":"low"}`),
		map[string]string{"Prefer": "respond-async"})
	if resp.StatusCode != http.StatusAccepted {
		t.Fatalf("submit: %d", resp.StatusCode)
	}
	if tj := g.waitTask(t, resp.Header.Get("X-Switchyard-Task-Id"), finished); tj.Status != "succeeded" {
		t.Fatalf("task: %+v", tj)
	}
	if resp, _ := g.imagePost(t, "/v1/images/generations", testKey, "application/json",
		strings.NewReader(`{"model":"gpt-image-1","prompt":"a lighthouse","response_format":"url"}`), nil); resp.StatusCode != http.StatusOK {
		t.Fatalf("sync url: %d", resp.StatusCode)
	}
	if resp, _ := g.imagePost(t, "/v1/images/generations", testKey, "application/json",
		strings.NewReader(`{"model":"gpt-image-1","prompt":"base64 only","response_format":"b64_json"}`), nil); resp.StatusCode != http.StatusOK {
		t.Fatalf("sync b64: %d", resp.StatusCode)
	}

	gal, err := gallery.New(context.Background(), mustOpenDB(t, cfg), nil, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(15 * time.Second)
	for {
		p, err := gal.List(context.Background(), gallery.Filter{})
		if err != nil {
			t.Fatal(err)
		}
		ready := len(p.Images) == 3
		for _, im := range p.Images {
			ready = ready && im.ThumbState == gallery.ThumbReady
		}
		if ready {
			if im := p.Images[0]; im.Prompt != "a lighthouse" || im.Model != "gpt-image-1" || im.UserID == 0 {
				t.Fatalf("sync image: %+v", im)
			}
			if im := p.Images[2]; im.Prompt != "雪地里的红色狐狸" || im.Size != "1024x1024" || im.Quality != "low" ||
				im.Width == 0 || im.TaskID == "" {
				t.Fatalf("async image: %+v", im)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("gallery: %+v", p.Images)
		}
		time.Sleep(50 * time.Millisecond)
	}
	if p, _ := gal.List(context.Background(), gallery.Filter{Query: "红色狐狸"}); len(p.Images) != 2 {
		t.Fatalf("search: %d", len(p.Images))
	}
}
