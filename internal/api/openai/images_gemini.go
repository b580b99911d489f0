package openai

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"mime"
	"net/http"
	"strings"

	"github.com/switchyard/switchyard/internal/provider"
	"github.com/switchyard/switchyard/internal/provider/gemini"
	"github.com/switchyard/switchyard/internal/provider/vertex"
	"github.com/switchyard/switchyard/internal/relay"
)

// Gemini channels serve the images API through the gemini package's
// translations (image-output models and Imagen), and so do Vertex channels,
// whose bodies are the same and only the URL (the publisher model's
// :generateContent or :predict) and the bearer token differ; the answer is turned into
// OpenAI images JSON before the usual Response, so storage, signed links
// and per-image billing are the same as for OpenAI channels.

// geminiRequest builds the generateContent or :predict call for this part.
func (x *imageExchange) geminiRequest(ctx context.Context, t *relay.Target, upstreamModel string) (*http.Request, error) {
	if x.job.Stream {
		return nil, provider.Unsupported("stream", "Gemini image models do not stream images; drop stream")
	}
	if x.previewing() {
		return nil, provider.Unsupported("partial_images", "Gemini image models do not stream partial images; drop partial_images")
	}
	if t.Channel.Type == "vertex" && vertex.IsAnthropic(upstreamModel) {
		return nil, provider.Unsupported("model", "Claude on Vertex makes no images")
	}
	ir, err := x.geminiImageRequest(ctx)
	if err != nil {
		return nil, err
	}
	body, err := gemini.NewImageBody(upstreamModel, ir)
	if err != nil {
		return nil, err
	}
	if t.Channel.Type == "vertex" {
		return vertex.NewImageRequest(ctx, t, upstreamModel, body)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, gemini.ImageURL(t.Channel.BaseURL, upstreamModel), bytes.NewReader(body))
	if err != nil {
		return nil, fmt.Errorf("build gemini image request: %w", err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("x-goog-api-key", t.Secret())
	return req, nil
}

// geminiImageRequest gathers the prompt, size and reference images of the
// job, from a JSON body or a multipart form.
func (x *imageExchange) geminiImageRequest(ctx context.Context) (*gemini.ImageRequest, error) {
	j := x.job
	ir := &gemini.ImageRequest{N: x.n, Size: j.Size}
	if !j.Multipart {
		_ = json.Unmarshal(j.Body["prompt"], &ir.Prompt)
		if raw, ok := j.Body["mask"]; ok && string(raw) != "null" {
			ir.Mask = true
		}
		var refs []struct {
			ImageURL string `json:"image_url"`
			FileID   string `json:"file_id"`
		}
		if raw, ok := j.Body["images"]; ok {
			if err := json.Unmarshal(raw, &refs); err != nil {
				return nil, provider.Invalid("images", "must be an array of {\"image_url\"} objects")
			}
		}
		for i, r := range refs {
			blob, err := dataURLBlob(r.ImageURL)
			if err != nil {
				return nil, provider.Unsupported(fmt.Sprintf("images[%d]", i), "a gemini channel takes input images as data: URLs or uploads only: "+err.Error())
			}
			ir.Images = append(ir.Images, blob)
		}
		return ir, nil
	}
	for _, f := range j.Form {
		if f.Name == "prompt" {
			ir.Prompt = f.Value
		}
	}
	for _, in := range j.Files {
		if in.Field == "mask" {
			ir.Mask = true
			continue
		}
		src, err := x.h.openInput(ctx, in)
		if err != nil {
			return nil, err
		}
		raw, err := io.ReadAll(src)
		src.Close()
		if err != nil {
			return nil, fmt.Errorf("read input image %s: %w", in.Filename, err)
		}
		ir.Images = append(ir.Images, gemini.Blob{MimeType: in.ContentType, Data: base64.StdEncoding.EncodeToString(raw)})
	}
	return ir, nil
}

// dataURLBlob splits a base64 data: URL into Gemini inline data; the
// request's inspection has already checked its bytes.
func dataURLBlob(u string) (gemini.Blob, error) {
	rest, ok := strings.CutPrefix(u, "data:")
	if !ok {
		return gemini.Blob{}, fmt.Errorf("not a data: URL")
	}
	meta, data, ok := strings.Cut(rest, ",")
	mt, params, _ := strings.Cut(meta, ";")
	if !ok || params != "base64" {
		return gemini.Blob{}, fmt.Errorf("not a base64 data: URL")
	}
	if _, _, err := mime.ParseMediaType(mt); err != nil {
		return gemini.Blob{}, fmt.Errorf("media type: %w", err)
	}
	return gemini.Blob{MimeType: mt, Data: data}, nil
}
