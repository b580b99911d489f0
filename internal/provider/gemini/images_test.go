package gemini

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/switchyard/switchyard/internal/provider"
	"github.com/switchyard/switchyard/internal/provider/internal/golden"
)

func TestImageBodyGolden(t *testing.T) {
	golden.Run(t, "testdata/images_request", ".json", ".json", func(t *testing.T, in []byte) []byte {
		c := golden.Decode[struct {
			Model   string
			Request ImageRequest
		}](t, in)
		b, err := NewImageBody(c.Model, &c.Request)
		if err != nil {
			t.Fatal(err)
		}
		var v any
		if err := json.Unmarshal(b, &v); err != nil {
			t.Fatal(err)
		}
		return golden.JSON(t, v)
	})
}

func TestImagesAnswerGolden(t *testing.T) {
	golden.Run(t, "testdata/images_answer", ".json", ".json", func(t *testing.T, in []byte) []byte {
		c := golden.Decode[struct {
			Model string
			Body  json.RawMessage
		}](t, in)
		b, err := ToImagesAnswer(c.Model, c.Body, 1700000000)
		if err != nil {
			t.Fatal(err)
		}
		var v any
		if err := json.Unmarshal(b, &v); err != nil {
			t.Fatal(err)
		}
		return golden.JSON(t, v)
	})
}

func TestAspectRatio(t *testing.T) {
	cases := []struct {
		size          string
		gemini, image string
	}{
		{"", "", ""}, {"auto", "", ""}, {"bad", "", ""},
		{"1024x1024", "1:1", "1:1"},
		{"1536x1024", "3:2", "4:3"},
		{"1024x1536", "2:3", "3:4"},
		{"1792x1024", "16:9", "16:9"},
		{"1024x1792", "9:16", "9:16"},
		{"2560x1080", "21:9", "16:9"},
		{"1280x1024", "5:4", "4:3"},
		{"512x512", "1:1", "1:1"},
	}
	for _, c := range cases {
		if got := AspectRatio(c.size, false); got != c.gemini {
			t.Errorf("gemini %q: %q, want %q", c.size, got, c.gemini)
		}
		if got := AspectRatio(c.size, true); got != c.image {
			t.Errorf("imagen %q: %q, want %q", c.size, got, c.image)
		}
	}
}

func TestImageRefusals(t *testing.T) {
	cases := []struct {
		model   string
		r       ImageRequest
		feature string
	}{
		{"gemini-2.5-flash-image", ImageRequest{Prompt: "x", Mask: true}, "mask"},
		{"imagen-4.0-generate-001", ImageRequest{Prompt: "x", Images: []Blob{{MimeType: "image/png", Data: "AA=="}}}, "image"},
		{"gemini-2.5-flash-image", ImageRequest{Prompt: "x", N: 2}, "n"},
	}
	for _, c := range cases {
		_, err := NewImageBody(c.model, &c.r)
		if u, ok := errors.AsType[*provider.UnsupportedError](err); !ok || u.Feature != c.feature {
			t.Errorf("%s %+v: %v, want unsupported %s", c.model, c.r, err, c.feature)
		}
	}
	// An answer without an image says why.
	_, err := ToImagesAnswer("gemini-2.5-flash-image",
		[]byte(`{"candidates":[{"content":{"parts":[{"text":"I can't draw that."}]},"finishReason":"STOP"}]}`), 1)
	if err == nil || !strings.Contains(err.Error(), "I can't draw that.") {
		t.Errorf("refusal: %v", err)
	}
	_, err = ToImagesAnswer("imagen-4.0-generate-001", []byte(`{"predictions":[{"raiFilteredReason":"unsafe"}]}`), 1)
	if err == nil || !strings.Contains(err.Error(), "unsafe") {
		t.Errorf("imagen filtered: %v", err)
	}
}
