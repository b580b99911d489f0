package openai

// The usage fallback for /v1/responses and /v1/completions: an upstream
// that reports no usage gets its tokens counted with internal/tokens
// through relay.CountUsage, the answer's usage slot filled with the
// estimate. Upstreams that report usage cost one check per event.

import (
	"bytes"
	"encoding/json"

	oaup "github.com/switchyard/switchyard/internal/provider/openai"
	"github.com/switchyard/switchyard/internal/relay"
	"github.com/switchyard/switchyard/internal/tokens"
)

var (
	keyDelta = []byte(`"delta":"`)
	keyText  = []byte(`"text":"`)
)

// responsesPrompt counts a Responses body's input through its chat
// translation; a body that does not translate counts as zero.
func responsesPrompt(enc tokens.Encoding, body []byte, call *relay.ExchangeCall) int {
	_, cc, err := oaup.ResponsesChatCall(body, call.RequestID, call.Model, call.Model)
	if err != nil {
		return 0
	}
	return relay.ChatPromptTokens(enc, cc.Body)
}

func responsesUsageJSON(u relay.Usage) []byte {
	b, _ := json.Marshal(oaup.ResponseUsageFromChat(oaup.Usage{PromptTokens: u.PromptTokens, CompletionTokens: u.CompletionTokens}))
	return b
}

// countResponses wraps a passthrough Responses stream: text is every
// *.delta event's delta, the estimate goes into response.completed (or
// .incomplete).
func countResponses(st relay.EventStream, enc tokens.Encoding, prompt func() int) relay.EventStream {
	return relay.CountUsage(st, relay.UsageCounter{
		Encoding: enc,
		Text: func(event string, data []byte, write func(string)) {
			if len(event) > 6 && event[len(event)-6:] == ".delta" {
				relay.JSONStrings(data, write, keyDelta)
			}
		},
		Prompt: prompt,
		Emit: func(event string, data []byte, usage func() relay.Usage, emit func(string, []byte) error) error {
			if event == "response.completed" || event == "response.incomplete" {
				if rs, re, ok, _ := oaup.FindMember(data, "response"); ok {
					if r, err := oaup.SetMember(data[rs:re], "usage", responsesUsageJSON(usage())); err == nil {
						data = append(append(append([]byte(nil), data[:rs]...), r...), data[re:]...)
					}
				}
			}
			return emit(event, data)
		},
	})
}

// estimateResponse fills in usage for a non-stream Responses answer.
func estimateResponse(out []byte, enc tokens.Encoding, prompt func() int) ([]byte, relay.Usage) {
	var resp struct {
		Output []struct {
			Arguments string `json:"arguments"`
			Content   []struct {
				Text    string `json:"text"`
				Refusal string `json:"refusal"`
			} `json:"content"`
			Summary []struct {
				Text string `json:"text"`
			} `json:"summary"`
		} `json:"output"`
	}
	if json.Unmarshal(out, &resp) != nil {
		return out, relay.Usage{}
	}
	var texts []string
	for _, o := range resp.Output {
		texts = append(texts, o.Arguments)
		for _, c := range o.Content {
			texts = append(texts, c.Text, c.Refusal)
		}
		for _, s := range o.Summary {
			texts = append(texts, s.Text)
		}
	}
	u := relay.EstimateUsage(enc, prompt(), texts...)
	if b, err := oaup.SetMember(out, "usage", responsesUsageJSON(u)); err == nil {
		out = b
	}
	return out, u
}

// completionsExchange is chatShaped with the usage fallback.
type completionsExchange struct{ chatShaped }

func (x *completionsExchange) enc() tokens.Encoding {
	if x.call.UpstreamModel != "" {
		return tokens.ForModel(x.call.UpstreamModel)
	}
	return tokens.ForModel(x.call.Model)
}

// prompt counts a completions prompt: a string or an array of strings
// (token arrays count as zero).
func (x *completionsExchange) prompt() int {
	var req struct {
		Prompt json.RawMessage `json:"prompt"`
	}
	if json.Unmarshal(x.call.Body, &req) != nil {
		return 0
	}
	var one string
	if json.Unmarshal(req.Prompt, &one) == nil {
		return x.enc().Count(one)
	}
	var many []string
	_ = json.Unmarshal(req.Prompt, &many)
	n := 0
	for _, s := range many {
		n += x.enc().Count(s)
	}
	return n
}

func (x *completionsExchange) Response(t *relay.Target, body []byte) ([]byte, relay.Usage, error) {
	out, u, err := x.chatShaped.Response(t, body)
	if err != nil || !u.Unreported() {
		return out, u, err
	}
	var resp struct {
		Choices []struct {
			Text string `json:"text"`
		} `json:"choices"`
	}
	if json.Unmarshal(out, &resp) != nil {
		return out, u, nil
	}
	var texts []string
	for _, c := range resp.Choices {
		texts = append(texts, c.Text)
	}
	u = relay.EstimateUsage(x.enc(), x.prompt(), texts...)
	if b, err := oaup.SetMember(out, "usage", relay.OpenAIUsageJSON(u)); err == nil {
		out = b
	}
	return out, u, nil
}

// NewStream counts each chunk's text; a client that asked for
// include_usage gets a usage chunk before [DONE].
func (x *completionsExchange) NewStream(t *relay.Target) relay.EventStream {
	var id, created []byte
	return relay.CountUsage(x.chatShaped.NewStream(t), relay.UsageCounter{
		Encoding: x.enc(),
		Text: func(_ string, data []byte, write func(string)) {
			if id == nil {
				if s, e, ok, _ := oaup.FindMember(data, "id"); ok {
					id = bytes.Clone(data[s:e])
				}
				if s, e, ok, _ := oaup.FindMember(data, "created"); ok {
					created = bytes.Clone(data[s:e])
				}
			}
			relay.JSONStrings(data, write, keyText)
		},
		Prompt: x.prompt,
		Emit: func(event string, data []byte, usage func() relay.Usage, emit func(string, []byte) error) error {
			if x.call.IncludeUsage && bytes.Equal(data, doneData) {
				if err := emit("", x.usageChunk(id, created, usage())); err != nil {
					return err
				}
			}
			return emit(event, data)
		},
	})
}

func (x *completionsExchange) usageChunk(id, created []byte, u relay.Usage) []byte {
	if id == nil {
		id = []byte(`""`)
	}
	if created == nil {
		created = []byte("0")
	}
	b := append([]byte(`{"id":`), id...)
	b = append(b, `,"object":"text_completion","created":`...)
	b = append(b, created...)
	m, _ := json.Marshal(x.call.Model)
	b = append(append(b, `,"model":`...), m...)
	b = append(b, `,"choices":[],"usage":`...)
	b = append(b, relay.OpenAIUsageJSON(u)...)
	return append(b, '}')
}
