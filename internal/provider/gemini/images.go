package gemini

import (
	"encoding/json"
	"fmt"
	"math"
	"strconv"
	"strings"

	"github.com/switchyard/switchyard/internal/provider"
)

// Images: the OpenAI images API over Gemini's two ways of making pictures.
//
//   - Gemini image-output models (gemini-2.5-flash-image and kin) through
//     generateContent with responseModalities [TEXT, IMAGE]: the prompt and
//     any reference images (edits) are one user turn, and every inlineData
//     part of the answer is an image. One call makes one image, so the
//     pool splits n (see pool's maxImages).
//   - Imagen models (names starting "imagen") through :predict with
//     instances[].prompt and parameters.sampleCount/aspectRatio; the
//     answer's predictions[].bytesBase64Encoded are the images. The Gemini
//     API offers Imagen generation only, so an Imagen edit is refused.
//
// Neither takes a mask on the Gemini API (Gemini edits from the prompt and
// the reference images; Imagen's masked editing is Vertex-only, through
// its capability models, which the gateway does not drive), so a mask is
// refused rather than silently ignored, on vertex channels too, which send
// these same bodies.
//
// size becomes the aspect ratio nearest to WxH among those the model
// family accepts (AspectRatio); "" and "auto" leave the model's default.
// The answer is OpenAI images JSON with b64_json data, so the gateway's
// image pipeline (storage, signed links, per-image billing) handles it as
// it does OpenAI's.

// ImageRequest is one OpenAI images call as the Gemini translations need it.
type ImageRequest struct {
	Prompt string
	N      int
	Size   string // "", "auto" or WxH
	// Images are the reference images of an edit, in order.
	Images []Blob
	// Mask is set when the client sent a mask (never forwarded).
	Mask bool
}

// IsImagen reports whether model is served by :predict rather than
// generateContent.
func IsImagen(model string) bool { return strings.HasPrefix(model, "imagen") }

// MaxImagesPerCall is how many images one upstream call for model makes:
// Imagen's sampleCount goes up to 4, an image-output model makes one.
func MaxImagesPerCall(model string) int {
	if IsImagen(model) {
		return 4
	}
	return 1
}

// PredictURL is {base}/v1beta/models/{model}:predict.
func PredictURL(base, model string) string {
	u := GenerateURL(base, model, false)
	return strings.TrimSuffix(u, ":generateContent") + ":predict"
}

// ImageURL is the endpoint for an image call to model.
func ImageURL(base, model string) string {
	if IsImagen(model) {
		return PredictURL(base, model)
	}
	return GenerateURL(base, model, false)
}

// PredictRequest is an Imagen :predict body.
type PredictRequest struct {
	Instances  []PredictInstance `json:"instances"`
	Parameters PredictParameters `json:"parameters"`
}

// PredictInstance is one prompt.
type PredictInstance struct {
	Prompt string `json:"prompt"`
}

// PredictParameters are Imagen's generation options.
type PredictParameters struct {
	SampleCount int    `json:"sampleCount"`
	AspectRatio string `json:"aspectRatio,omitempty"`
}

// PredictResponse is Imagen's answer.
type PredictResponse struct {
	Predictions []Prediction `json:"predictions"`
}

// Prediction is one image, or the reason it was filtered out.
type Prediction struct {
	BytesBase64Encoded string `json:"bytesBase64Encoded,omitempty"`
	MimeType           string `json:"mimeType,omitempty"`
	RaiFilteredReason  string `json:"raiFilteredReason,omitempty"`
}

// Aspect ratios each family accepts, as documented by Google.
var (
	imagenRatios = []string{"1:1", "3:4", "4:3", "9:16", "16:9"}
	geminiRatios = []string{"1:1", "2:3", "3:2", "3:4", "4:3", "4:5", "5:4", "9:16", "16:9", "21:9"}
)

// AspectRatio maps an OpenAI size to the accepted ratio nearest to it (by
// the ratio's logarithm, so 2:1 is as far from 1:1 as 1:2), or "" for ""
// and "auto". 1024x1024 is 1:1, 1536x1024 3:2 (4:3 on Imagen), 1024x1536
// 2:3 (3:4 on Imagen), 1792x1024 16:9.
func AspectRatio(size string, imagen bool) string {
	ws, hs, ok := strings.Cut(size, "x")
	w, err1 := strconv.Atoi(ws)
	h, err2 := strconv.Atoi(hs)
	if !ok || err1 != nil || err2 != nil || w <= 0 || h <= 0 {
		return ""
	}
	ratios := geminiRatios
	if imagen {
		ratios = imagenRatios
	}
	want := logRatio(float64(w), float64(h))
	best, bestD := "", 0.0
	for _, r := range ratios {
		a, b, _ := strings.Cut(r, ":")
		x, _ := strconv.Atoi(a)
		y, _ := strconv.Atoi(b)
		d := want - logRatio(float64(x), float64(y))
		if d < 0 {
			d = -d
		}
		if best == "" || d < bestD {
			best, bestD = r, d
		}
	}
	return best
}

func logRatio(w, h float64) float64 { return math.Log(w / h) }

// NewImageBody is the upstream body for r on model: a generateContent
// request for an image-output model, a :predict one for Imagen. A mask, or
// reference images for Imagen, is a *provider.UnsupportedError.
func NewImageBody(model string, r *ImageRequest) ([]byte, error) {
	if r.Mask {
		return nil, provider.Unsupported("mask", "the gateway sends Gemini and Imagen models no mask; describe the change in the prompt")
	}
	n := max(r.N, 1)
	if IsImagen(model) {
		if len(r.Images) > 0 {
			return nil, provider.Unsupported("image", "the gateway uses Imagen to generate only; use a Gemini image model to edit")
		}
		b, err := json.Marshal(PredictRequest{Instances: []PredictInstance{{Prompt: r.Prompt}},
			Parameters: PredictParameters{SampleCount: n, AspectRatio: AspectRatio(r.Size, true)}})
		if err != nil {
			return nil, fmt.Errorf("encode predict request: %w", err)
		}
		return b, nil
	}
	if n > 1 {
		return nil, provider.Unsupported("n", "a Gemini image model makes one image per call")
	}
	parts := make([]Part, 0, len(r.Images)+1)
	for i := range r.Images {
		parts = append(parts, Part{InlineData: &r.Images[i]})
	}
	parts = append(parts, Part{Text: r.Prompt})
	gc := &GenerationConfig{ResponseModalities: []string{"TEXT", "IMAGE"}}
	if ar := AspectRatio(r.Size, false); ar != "" {
		gc.ImageConfig = &ImageConfig{AspectRatio: ar}
	}
	b, err := json.Marshal(GenerateRequest{Contents: []Content{{Role: "user", Parts: parts}}, GenerationConfig: gc})
	if err != nil {
		return nil, fmt.Errorf("encode generateContent image request: %w", err)
	}
	return b, nil
}

// ImagesAnswer is an OpenAI images answer: b64_json data and, for
// image-output models, token usage.
type ImagesAnswer struct {
	Created int64        `json:"created"`
	Data    []ImageDatum `json:"data"`
	Usage   *ImagesUsage `json:"usage,omitempty"`
	refusal string       // the model's text when it made no image
}

// ImageDatum is one image.
type ImageDatum struct {
	B64JSON       string `json:"b64_json"`
	RevisedPrompt string `json:"revised_prompt,omitempty"`
}

// ImagesUsage is the images API's token usage.
type ImagesUsage struct {
	TotalTokens  int `json:"total_tokens"`
	InputTokens  int `json:"input_tokens"`
	OutputTokens int `json:"output_tokens"`
}

// ToImagesAnswer reads model's upstream answer (generateContent or
// :predict) as OpenAI images JSON. An answer with no image is an error
// carrying the model's text or block reason, for the relay to report.
func ToImagesAnswer(model string, body []byte, created int64) ([]byte, error) {
	a, err := imagesAnswer(model, body)
	if err != nil {
		return nil, err
	}
	if len(a.Data) == 0 {
		return nil, fmt.Errorf("the upstream answered with no image: %s", a.refusal)
	}
	a.Created = created
	b, err := json.Marshal(a)
	if err != nil {
		return nil, fmt.Errorf("encode images answer: %w", err)
	}
	return b, nil
}

func imagesAnswer(model string, body []byte) (*ImagesAnswer, error) {
	a := &ImagesAnswer{Data: []ImageDatum{}}
	if IsImagen(model) {
		var pr PredictResponse
		if err := json.Unmarshal(body, &pr); err != nil {
			return nil, fmt.Errorf("decode predict response: %w", err)
		}
		for _, p := range pr.Predictions {
			if p.BytesBase64Encoded != "" {
				a.Data = append(a.Data, ImageDatum{B64JSON: p.BytesBase64Encoded})
			} else if p.RaiFilteredReason != "" {
				a.refusal = p.RaiFilteredReason
			}
		}
		if a.refusal == "" {
			a.refusal = "no predictions"
		}
		return a, nil
	}
	var gr GenerateResponse
	if err := json.Unmarshal(body, &gr); err != nil {
		return nil, fmt.Errorf("decode generateContent image response: %w", err)
	}
	var text strings.Builder
	for _, c := range gr.Candidates {
		for _, p := range c.Content.Parts {
			switch {
			case p.Thought:
			case p.InlineData != nil && strings.HasPrefix(p.InlineData.MimeType, "image/"):
				a.Data = append(a.Data, ImageDatum{B64JSON: p.InlineData.Data})
			case p.Text != "":
				text.WriteString(p.Text)
			}
		}
		if c.FinishReason != "" && c.FinishReason != "STOP" && text.Len() == 0 {
			text.WriteString("finish reason " + c.FinishReason)
		}
	}
	if gr.PromptFeedback != nil && gr.PromptFeedback.BlockReason != "" {
		text.WriteString("prompt blocked: " + gr.PromptFeedback.BlockReason)
	}
	// The model's words beside the picture are what OpenAI calls a
	// revised prompt: the nearest field a client will show.
	if t := strings.TrimSpace(text.String()); t != "" && len(a.Data) > 0 {
		a.Data[0].RevisedPrompt = t
	}
	a.refusal = strings.TrimSpace(text.String())
	if a.refusal == "" {
		a.refusal = "no image part"
	}
	if um := gr.UsageMetadata; um != nil {
		out := um.CandidatesTokenCount + um.ThoughtsTokenCount
		a.Usage = &ImagesUsage{InputTokens: um.PromptTokenCount, OutputTokens: out, TotalTokens: um.PromptTokenCount + out}
	}
	return a, nil
}
