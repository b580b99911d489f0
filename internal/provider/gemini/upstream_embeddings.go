package gemini

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"math"
	"net/http"
	"net/url"
	"strings"

	"github.com/switchyard/switchyard/internal/jsonw"
	"github.com/switchyard/switchyard/internal/provider"
	"github.com/switchyard/switchyard/internal/relay"
	"github.com/switchyard/switchyard/internal/tokens"
)

// OpenAI embeddings are served by batchEmbedContents: one request per input
// string, the answer's vectors in input order. Gemini reports no usage, so
// the prompt tokens are counted locally with the model's tokenizer
// approximation. encoding_format "base64" is done here, as OpenAI does it:
// little-endian float32s.

// EmbeddingsRequest is a decoded OpenAI embeddings request.
type EmbeddingsRequest struct {
	Inputs     []string
	Base64     bool
	Dimensions int
}

// BatchEmbedURL is {base}/v1beta/models/{model}:batchEmbedContents.
func BatchEmbedURL(base, model string) string {
	u := strings.TrimSuffix(strings.TrimRight(base, "/"), "/v1beta")
	return u + "/v1beta/models/" + url.PathEscape(model) + ":batchEmbedContents"
}

// DecodeEmbeddings reads an OpenAI embeddings body. Token-array inputs have
// no Gemini equivalent and are refused.
func DecodeEmbeddings(body []byte) (*EmbeddingsRequest, error) {
	var in struct {
		Input          json.RawMessage `json:"input"`
		EncodingFormat string          `json:"encoding_format"`
		Dimensions     int             `json:"dimensions"`
	}
	if err := json.Unmarshal(body, &in); err != nil {
		return nil, provider.Invalid("body", err.Error())
	}
	out := &EmbeddingsRequest{Dimensions: in.Dimensions}
	switch in.EncodingFormat {
	case "", "float":
	case "base64":
		out.Base64 = true
	default:
		return nil, provider.Invalid("encoding_format", `must be "float" or "base64"`)
	}
	var s string
	if err := json.Unmarshal(in.Input, &s); err == nil {
		out.Inputs = []string{s}
		return out, nil
	}
	if err := json.Unmarshal(in.Input, &out.Inputs); err != nil || len(out.Inputs) == 0 {
		return nil, provider.Unsupported("input", "this upstream embeds strings or arrays of strings, not token arrays")
	}
	return out, nil
}

type embedPart struct {
	Text string `json:"text"`
}

type embedContent struct {
	Parts []embedPart `json:"parts"`
}

type embedRequest struct {
	Model                string       `json:"model"`
	Content              embedContent `json:"content"`
	OutputDimensionality int          `json:"outputDimensionality,omitempty"`
}

// NewEmbeddingsRequest builds the batchEmbedContents request for er.
func NewEmbeddingsRequest(ctx context.Context, t *relay.Target, er *EmbeddingsRequest, upstreamModel string) (*http.Request, error) {
	var body struct {
		Requests []embedRequest `json:"requests"`
	}
	body.Requests = make([]embedRequest, len(er.Inputs))
	for i, s := range er.Inputs {
		body.Requests[i] = embedRequest{Model: "models/" + upstreamModel, Content: embedContent{Parts: []embedPart{{Text: s}}},
			OutputDimensionality: er.Dimensions}
	}
	b, err := json.Marshal(body)
	if err != nil {
		return nil, fmt.Errorf("encode batchEmbedContents request: %w", err)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, BatchEmbedURL(t.Channel.BaseURL, upstreamModel), bytes.NewReader(b))
	if err != nil {
		return nil, fmt.Errorf("build batchEmbedContents request: %w", err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("x-goog-api-key", t.Secret())
	return req, nil
}

// EmbeddingsResponse turns a batchEmbedContents answer into OpenAI's list.
func EmbeddingsResponse(body []byte, er *EmbeddingsRequest, model string) ([]byte, relay.Usage, error) {
	var in struct {
		Embeddings []struct {
			Values []float32 `json:"values"`
		} `json:"embeddings"`
	}
	if err := json.Unmarshal(body, &in); err != nil {
		return nil, relay.Usage{}, fmt.Errorf("decode batchEmbedContents response: %w", err)
	}
	if len(in.Embeddings) != len(er.Inputs) {
		return nil, relay.Usage{}, fmt.Errorf("batchEmbedContents returned %d embeddings for %d inputs", len(in.Embeddings), len(er.Inputs))
	}
	enc := tokens.ForModel(model)
	prompt := 0
	for _, s := range er.Inputs {
		prompt += enc.Count(s)
	}
	vecs := make([][]float32, len(in.Embeddings))
	for i, e := range in.Embeddings {
		vecs[i] = e.Values
	}
	b, err := EmbeddingsList(vecs, er.Base64, model, prompt)
	return b, relay.Usage{PromptTokens: prompt}, err
}

// EmbeddingsList is OpenAI's embeddings answer for vecs, in order, as
// float arrays or (b64) OpenAI's base64 of little-endian float32s; Vertex
// shares it.
func EmbeddingsList(vecs [][]float32, b64 bool, model string, prompt int) ([]byte, error) {
	var b []byte
	b = append(b, `{"object":"list","data":[`...)
	for i, v := range vecs {
		if i > 0 {
			b = append(b, ',')
		}
		b = fmt.Appendf(b, `{"object":"embedding","index":%d,"embedding":`, i)
		if b64 {
			b = append(b, '"')
			b = appendFloat32Base64(b, v)
			b = append(b, '"')
		} else {
			vb, err := json.Marshal(v)
			if err != nil {
				return nil, fmt.Errorf("encode embedding: %w", err)
			}
			b = append(b, vb...)
		}
		b = append(b, '}')
	}
	b = append(b, `],"model":`...)
	b = jsonw.String(b, model)
	b = fmt.Appendf(b, `,"usage":{"prompt_tokens":%d,"total_tokens":%d}}`, prompt, prompt)
	return b, nil
}

func appendFloat32Base64(dst []byte, v []float32) []byte {
	raw := make([]byte, 4*len(v))
	for i, f := range v {
		binary.LittleEndian.PutUint32(raw[4*i:], math.Float32bits(f))
	}
	return base64.StdEncoding.AppendEncode(dst, raw)
}
