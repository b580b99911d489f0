package mock

import (
	"math"
	"net/http"
	"strconv"
	"strings"
)

// Gemini image output (generateContent with responseModalities IMAGE) and
// Imagen's :predict. Both answer solid PNGs of the asked aspect ratio, with
// the fault knobs of the OpenAI images API: ImageBytes pads each image,
// ImagesDelivered answers fewer than sampleCount.

// geminiImage answers an image-output generateContent call: one image
// part after a short text part, as the image models do, one per reference
// image turn counted into the prompt tokens.
func (s *Server) geminiImage(c *call, model string, req *geminiRequest, gc *geminiGenCfg, stream bool) {
	if stream {
		c.fail(http.StatusBadRequest, "the mock answers image output without streaming")
		return
	}
	if !strings.Contains(model, "image") {
		c.fail(http.StatusBadRequest, "Model "+model+" does not support the requested response modalities: image")
		return
	}
	ratio := ""
	if gc.ImageConfig != nil {
		ratio = gc.ImageConfig.AspectRatio
	}
	w, h, ok := ratioSize(ratio)
	if !ok {
		c.fail(http.StatusBadRequest, "* GenerationConfig.image_config.aspect_ratio: unsupported aspect ratio "+ratio)
		return
	}
	img, err := s.images.get("png", w, h, c.fault.ImageBytes)
	if err != nil {
		c.fail(http.StatusInternalServerError, err.Error())
		return
	}
	prompt, refs := 0, 0
	for _, ct := range req.Contents {
		for _, p := range ct.Parts {
			switch {
			case p.Text != nil:
				prompt += max(1, len(*p.Text)/4)
			case p.InlineData != nil || p.InlineSnake != nil:
				refs++
			}
		}
	}
	// Google bills an input image as 258 tokens and an output image of
	// up to 1024x1024 as 1290.
	prompt += 258 * refs
	text := "Here is your image."
	resp := map[string]any{
		"candidates": []map[string]any{{
			"content": map[string]any{"role": "model", "parts": []map[string]any{
				{"text": text},
				{"inlineData": map[string]string{"mimeType": img.contentType, "data": img.b64}},
			}},
			"finishReason": "STOP", "index": 0,
		}},
		"usageMetadata": map[string]int{"promptTokenCount": prompt, "candidatesTokenCount": 1290,
			"totalTokenCount": prompt + 1290},
		"modelVersion": model, "responseId": s.newID(""),
	}
	c.reply(resp)
}

// imagenPredict answers Imagen's :predict.
func (s *Server) imagenPredict(c *call, model string) {
	var req struct {
		Instances []struct {
			Prompt string `json:"prompt"`
		} `json:"instances"`
		Parameters struct {
			SampleCount int    `json:"sampleCount"`
			AspectRatio string `json:"aspectRatio"`
		} `json:"parameters"`
	}
	if !c.decode(&req) {
		return
	}
	if !strings.HasPrefix(model, "imagen") {
		c.fail(http.StatusBadRequest, "models/"+model+" is not found for API version v1beta, or is not supported for predict.")
		return
	}
	if len(req.Instances) == 0 || strings.TrimSpace(req.Instances[0].Prompt) == "" {
		c.fail(http.StatusBadRequest, "* instances[0].prompt: a prompt is required")
		return
	}
	n := req.Parameters.SampleCount
	if n == 0 {
		n = 4 // Imagen's default
	}
	if n < 1 || n > 4 {
		c.fail(http.StatusBadRequest, "sampleCount must be from 1 to 4; got "+strconv.Itoa(n))
		return
	}
	w, h, ok := ratioSize(req.Parameters.AspectRatio)
	if !ok || (req.Parameters.AspectRatio != "" && !strings.Contains("1:1 3:4 4:3 9:16 16:9", req.Parameters.AspectRatio)) {
		c.fail(http.StatusBadRequest, "aspectRatio "+req.Parameters.AspectRatio+" is not supported")
		return
	}
	if d := c.fault.ImagesDelivered; d > 0 && d < n {
		n = d
	}
	img, err := s.images.get("png", w, h, c.fault.ImageBytes)
	if err != nil {
		c.fail(http.StatusInternalServerError, err.Error())
		return
	}
	preds := make([]map[string]string, n)
	for i := range preds {
		preds[i] = map[string]string{"bytesBase64Encoded": img.b64, "mimeType": img.contentType}
	}
	c.reply(map[string]any{"predictions": preds})
}

// ratioSize is the pixel size of an aspect ratio "W:H" with the long side
// 1024 (small enough to keep tests quick); "" is square.
func ratioSize(ratio string) (w, h int, ok bool) {
	if ratio == "" {
		return 1024, 1024, true
	}
	a, b, found := strings.Cut(ratio, ":")
	x, err1 := strconv.Atoi(a)
	y, err2 := strconv.Atoi(b)
	if !found || err1 != nil || err2 != nil || x < 1 || y < 1 || x > 32 || y > 32 {
		return 0, 0, false
	}
	if x >= y {
		return 1024, int(math.Round(1024 * float64(y) / float64(x))), true
	}
	return int(math.Round(1024 * float64(x) / float64(y))), 1024, true
}
