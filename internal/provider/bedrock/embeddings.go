package bedrock

import (
	"context"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"math"
	"net/http"
	"strings"

	"github.com/switchyard/switchyard/internal/jsonw"
	"github.com/switchyard/switchyard/internal/provider"
	"github.com/switchyard/switchyard/internal/provider/openai"
	"github.com/switchyard/switchyard/internal/relay"
	"github.com/switchyard/switchyard/internal/tokens"
)

// OpenAI embeddings are served through InvokeModel with the model family's
// own body, as Converse has no embeddings: Amazon Titan Text Embeddings
// ({"inputText"}, one input per call) and Cohere Embed ({"texts"}, a batch).
// Titan reports its token count; for Cohere, whose count travels only in a
// response header, the prompt is counted locally.

// EmbeddingsUpstream is the embeddings adapter for "bedrock" channels,
// shaped as a relay.ChatAdapter as the OpenAI-shaped embeddings upstreams
// are.
type EmbeddingsUpstream struct{ Upstream }

var _ relay.ChatAdapter = EmbeddingsUpstream{}

// NewEmbeddingsUpstream returns the embeddings adapter.
func NewEmbeddingsUpstream() EmbeddingsUpstream { return EmbeddingsUpstream{} }

type embeddingsRequest struct {
	inputs     []string
	base64     bool
	dimensions int
}

func decodeEmbeddings(body []byte) (*embeddingsRequest, error) {
	var in struct {
		Input          json.RawMessage `json:"input"`
		EncodingFormat string          `json:"encoding_format"`
		Dimensions     int             `json:"dimensions"`
	}
	if err := json.Unmarshal(body, &in); err != nil {
		return nil, provider.Invalid("body", err.Error())
	}
	out := &embeddingsRequest{dimensions: in.Dimensions}
	switch in.EncodingFormat {
	case "", "float":
	case "base64":
		out.base64 = true
	default:
		return nil, provider.Invalid("encoding_format", `must be "float" or "base64"`)
	}
	var s string
	if json.Unmarshal(in.Input, &s) == nil {
		out.inputs = []string{s}
		return out, nil
	}
	if err := json.Unmarshal(in.Input, &out.inputs); err != nil || len(out.inputs) == 0 {
		return nil, provider.Unsupported("input", "this upstream embeds strings or arrays of strings, not token arrays")
	}
	return out, nil
}

func isTitan(model string) bool  { return strings.Contains(model, "titan-embed") }
func isCohere(model string) bool { return strings.Contains(model, "cohere.embed") }

// NewChatRequest builds the InvokeModel request for an OpenAI embeddings
// body.
func (EmbeddingsUpstream) NewChatRequest(ctx context.Context, t *relay.Target, call *relay.ChatCall) (*http.Request, error) {
	er, err := decodeEmbeddings(call.Body)
	if err != nil {
		return nil, err
	}
	var body any
	switch m := call.UpstreamModel; {
	case isTitan(m):
		if len(er.inputs) > 1 {
			return nil, provider.Unsupported("input", "Titan embeddings take one input per request")
		}
		b := map[string]any{"inputText": er.inputs[0]}
		if er.dimensions > 0 {
			b["dimensions"] = er.dimensions
		}
		body = b
	case isCohere(m):
		if er.dimensions > 0 {
			return nil, provider.Unsupported("dimensions", "Cohere Embed on this upstream")
		}
		body = map[string]any{"texts": er.inputs, "input_type": "search_document"}
	default:
		return nil, provider.Unsupported("model", "embeddings on bedrock channels need an Amazon Titan or Cohere Embed model")
	}
	b, err := json.Marshal(body)
	if err != nil {
		return nil, fmt.Errorf("encode invoke request: %w", err)
	}
	return newSigned(ctx, t.Channel, t.Secret(), call.UpstreamModel, "invoke", b)
}

// ChatResponse turns a Titan or Cohere answer into OpenAI's embeddings list.
func (EmbeddingsUpstream) ChatResponse(body []byte, call *relay.ChatCall) ([]byte, relay.Usage, error) {
	er, err := decodeEmbeddings(call.Body)
	if err != nil {
		return nil, relay.Usage{}, err
	}
	var in struct {
		Embedding           []float32   `json:"embedding"`
		InputTextTokenCount int         `json:"inputTextTokenCount"`
		Embeddings          [][]float32 `json:"embeddings"`
	}
	if err := json.Unmarshal(body, &in); err != nil {
		return nil, relay.Usage{}, fmt.Errorf("decode invoke response: %w", err)
	}
	vecs, prompt := in.Embeddings, in.InputTextTokenCount
	if in.Embedding != nil {
		vecs = [][]float32{in.Embedding}
	}
	if len(vecs) != len(er.inputs) {
		return nil, relay.Usage{}, fmt.Errorf("invoke returned %d embeddings for %d inputs", len(vecs), len(er.inputs))
	}
	if prompt == 0 {
		enc := tokens.ForModel(call.Model)
		for _, s := range er.inputs {
			prompt += enc.Count(s)
		}
	}
	b := []byte(`{"object":"list","data":[`)
	for i, v := range vecs {
		if i > 0 {
			b = append(b, ',')
		}
		b = fmt.Appendf(b, `{"object":"embedding","index":%d,"embedding":`, i)
		if er.base64 {
			raw := make([]byte, 4*len(v))
			for k, f := range v {
				binary.LittleEndian.PutUint32(raw[4*k:], math.Float32bits(f))
			}
			b = append(b, '"')
			b = base64.StdEncoding.AppendEncode(b, raw)
			b = append(b, '"')
		} else {
			vb, err := json.Marshal(v)
			if err != nil {
				return nil, relay.Usage{}, fmt.Errorf("encode embedding: %w", err)
			}
			b = append(b, vb...)
		}
		b = append(b, '}')
	}
	b = append(b, `],"model":`...)
	b = jsonw.String(b, call.Model)
	b = fmt.Appendf(b, `,"usage":{"prompt_tokens":%d,"total_tokens":%d}}`, prompt, prompt)
	return b, relay.Usage{PromptTokens: prompt}, nil
}

// NewChatStream is never used: embeddings do not stream.
func (EmbeddingsUpstream) NewChatStream(call *relay.ChatCall) relay.ChatStream {
	return openai.NewChunkStream(NewStreamToChat(call.Model, false))
}
