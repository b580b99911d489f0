package vertex

import (
	"context"
	"net/http"

	"github.com/switchyard/switchyard/internal/provider/gemini"
	"github.com/switchyard/switchyard/internal/relay"
)

// NewImageRequest posts an image body made by gemini.NewImageBody to the
// publisher model: Imagen's :predict, or :generateContent for a Gemini
// image-output model; Vertex takes both bodies as the Gemini API does.
func NewImageRequest(ctx context.Context, t *relay.Target, model string, body []byte) (*http.Request, error) {
	method := "generateContent"
	if gemini.IsImagen(model) {
		method = "predict"
	}
	return newPost(ctx, ModelURL(t.Channel, model, method), body, t.Secret())
}
