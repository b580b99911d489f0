package sdk

import (
	"bytes"
	"encoding/base64"
	"image"
	"image/color"
	"image/png"
	"slices"
	"strings"
	"testing"

	"github.com/anthropics/anthropic-sdk-go"
	"github.com/openai/openai-go/v3"
)

// tinyPNG is a 4×4 PNG, base64, for image inputs.
func tinyPNG(t *testing.T) string {
	t.Helper()
	img := image.NewRGBA(image.Rect(0, 0, 4, 4))
	for i := range img.Pix {
		img.Pix[i] = 0xff
	}
	img.Set(1, 1, color.RGBA{R: 0xff, A: 0xff})
	var b bytes.Buffer
	if err := png.Encode(&b, img); err != nil {
		t.Fatal(err)
	}
	return base64.StdEncoding.EncodeToString(b.Bytes())
}

// imageTokens is what the mock adds to the prompt tokens per image.
const imageTokens = 85

// TestOpenAIImageInput: a user message with a text part and a data-URL
// image part reaches every channel type as an image (the mock counts 85
// prompt tokens for it) and the text is answered.
func TestOpenAIImageInput(t *testing.T) {
	g := startGateway(t)
	c := g.openai(testKey)
	dataURL := "data:image/png;base64," + tinyPNG(t)
	for _, ct := range channelTypes {
		t.Run(ct.typ, func(t *testing.T) {
			ctx := testContext(t)
			text := prompt(ct, "vision")
			plain, err := c.Chat.Completions.New(ctx, openai.ChatCompletionNewParams{Model: ct.chat,
				Messages: []openai.ChatCompletionMessageParamUnion{openai.UserMessage(text)}})
			if err != nil {
				t.Fatalf("chat: %v", err)
			}
			resp, err := c.Chat.Completions.New(ctx, openai.ChatCompletionNewParams{Model: ct.chat,
				Messages: []openai.ChatCompletionMessageParamUnion{openai.UserMessage([]openai.ChatCompletionContentPartUnionParam{
					openai.TextContentPart(text),
					openai.ImageContentPart(openai.ChatCompletionContentPartImageImageURLParam{URL: dataURL}),
				})}})
			if err != nil {
				t.Fatalf("chat with an image: %v", err)
			}
			if got := resp.Choices[0].Message.Content; !strings.HasPrefix(got, mockReply(text)) {
				t.Errorf("content %q, want the mock's reply to %q", got, text)
			}
			if d := resp.Usage.PromptTokens - plain.Usage.PromptTokens; d < imageTokens {
				t.Errorf("prompt tokens %d with the image, %d without: the image did not reach the upstream as one",
					resp.Usage.PromptTokens, plain.Usage.PromptTokens)
			}
		})
	}
}

// TestAnthropicImageInputAndSystem: a top-level system prompt and a base64
// image block reach every channel type: the text is answered, the image
// counts as one, and the system text adds prompt tokens.
func TestAnthropicImageInputAndSystem(t *testing.T) {
	g := startGateway(t)
	c := g.anthropic(testKey)
	img := tinyPNG(t)
	for _, ct := range channelTypes {
		t.Run(ct.typ, func(t *testing.T) {
			ctx := testContext(t)
			text := prompt(ct, "vision")
			plain, err := c.Messages.New(ctx, anthropic.MessageNewParams{Model: anthropic.Model(ct.chat), MaxTokens: 64,
				Messages: userMessages(text)})
			if err != nil {
				t.Fatalf("messages: %v", err)
			}
			msg, err := c.Messages.New(ctx, anthropic.MessageNewParams{Model: anthropic.Model(ct.chat), MaxTokens: 64,
				System: []anthropic.TextBlockParam{{Text: strings.Repeat("You answer briefly and politely. ", 8)}},
				Messages: []anthropic.MessageParam{anthropic.NewUserMessage(
					anthropic.NewTextBlock(text), anthropic.NewImageBlockBase64("image/png", img))}})
			if err != nil {
				t.Fatalf("messages with a system prompt and an image: %v", err)
			}
			if len(msg.Content) != 1 || !strings.HasPrefix(msg.Content[0].Text, mockReply(text)) {
				t.Errorf("content %s, want the mock's reply to %q", msg.RawJSON(), text)
			}
			// 85 for the image, about 66 for the system text.
			if d := msg.Usage.InputTokens - plain.Usage.InputTokens; d < imageTokens+40 {
				t.Errorf("input tokens %d with system and image, %d without: want at least %d more",
					msg.Usage.InputTokens, plain.Usage.InputTokens, imageTokens+40)
			}
		})
	}
}

// TestOpenAIModels: the SDK's auto-pager lists every model the key may use
// and retrieves one; an unknown one is a typed 404.
func TestOpenAIModels(t *testing.T) {
	g := startGateway(t)
	c := g.openai(testKey)
	ctx := testContext(t)
	var ids []string
	pager := c.Models.ListAutoPaging(ctx)
	for pager.Next() {
		m := pager.Current()
		if m.Object != "model" || m.OwnedBy == "" {
			t.Errorf("model %s: object %q owned_by %q", m.ID, m.Object, m.OwnedBy)
		}
		ids = append(ids, m.ID)
	}
	if err := pager.Err(); err != nil {
		t.Fatalf("list models: %v", err)
	}
	want := []string{imageModel}
	for _, ct := range channelTypes {
		want = append(want, ct.chat)
		if ct.embed != "" {
			want = append(want, ct.embed)
		}
	}
	for _, w := range want {
		if !slices.Contains(ids, w) {
			t.Errorf("models %v lack %s", ids, w)
		}
	}
	if len(ids) != len(want) {
		t.Errorf("models %v, want exactly %v", ids, want)
	}
	m, err := c.Models.Get(ctx, "claude-haiku-4-5")
	if err != nil || m.ID != "claude-haiku-4-5" {
		t.Fatalf("get model: %v %+v", err, m)
	}
	_, err = c.Models.Get(ctx, "no-such-model")
	if e := asOpenAIError(t, err); e.StatusCode != 404 || e.Code != "model_not_found" {
		t.Errorf("get unknown model: status %d code %q, want 404 model_not_found", e.StatusCode, e.Code)
	}
}
