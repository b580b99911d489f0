package openai

import (
	"math"

	"github.com/switchyard/switchyard/internal/api"
	"github.com/switchyard/switchyard/internal/apierror"
)

// The members each endpoint judges (api.PeekJSON): what decides the key's
// allowlist, the route and the reservation. The upstream gets the client's
// bytes, so these are read strictly: exact names, no duplicates, no case
// variants, the right type.
var (
	memberModel  = api.Judged{Name: "model", Kind: api.KindString}
	memberStream = api.Judged{Name: "stream", Kind: api.KindBool}
	// stream_options.include_usage is forced on upstream for a stream;
	// the client's own choice decides whether it sees the usage chunk.
	memberStreamOptions = api.Judged{Name: "stream_options", Kind: api.KindObject}
	// Token caps: OpenAI takes a positive integer; int32 bounds the
	// reservation's arithmetic.
	memberMaxTokens           = api.Judged{Name: "max_tokens", Kind: api.KindInt, Min: 1, Max: math.MaxInt32}
	memberMaxCompletionTokens = api.Judged{Name: "max_completion_tokens", Kind: api.KindInt, Min: 1, Max: math.MaxInt32}
	memberMaxOutputTokens     = api.Judged{Name: "max_output_tokens", Kind: api.KindInt, Min: 1, Max: math.MaxInt32}
	// Choices multiply the output; OpenAI accepts n up to 128 and
	// best_of up to 20.
	memberN      = api.Judged{Name: "n", Kind: api.KindInt, Min: 1, Max: 128}
	memberBestOf = api.Judged{Name: "best_of", Kind: api.KindInt, Min: 1, Max: 20}

	// The prompt: counted when an upstream reports no usage, and decoded
	// by the translators, both with encoding/json. Its type is the
	// upstream's to judge; one plainly named copy keeps every reader on
	// the same text.
	memberMessages     = api.Judged{Name: "messages", Kind: api.KindAny}
	memberTools        = api.Judged{Name: "tools", Kind: api.KindAny}
	memberPrompt       = api.Judged{Name: "prompt", Kind: api.KindAny}
	memberInput        = api.Judged{Name: "input", Kind: api.KindAny}
	memberInstructions = api.Judged{Name: "instructions", Kind: api.KindAny}

	chatMembers = []api.Judged{memberModel, memberStream, memberStreamOptions, memberMaxTokens, memberMaxCompletionTokens, memberN,
		memberMessages, memberTools}
	completionsMembers = []api.Judged{memberModel, memberStream, memberStreamOptions, memberMaxTokens, memberN, memberBestOf,
		memberPrompt}
	responsesMembers  = []api.Judged{memberModel, memberStream, memberMaxOutputTokens, memberInput, memberInstructions, memberTools}
	embeddingsMembers = []api.Judged{memberModel, memberStream, memberInput}

	streamOptionsMembers = []api.Judged{{Name: "include_usage", Kind: api.KindBool}}
)

// chatPeek is what the gateway reads of an OpenAI-shaped body; members an
// endpoint does not judge stay zero.
type chatPeek struct {
	Model        string
	Stream       bool
	IncludeUsage bool // stream_options.include_usage
	// Output caps, 0 when absent: max_tokens (chat, deprecated there;
	// completions), max_completion_tokens (chat), max_output_tokens
	// (responses).
	MaxTokens, MaxCompletionTokens, MaxOutputTokens int
	N, BestOf                                       int // 0 when absent
	HasMessages                                     bool
}

// peekBody reads body's judged members; a body without a model is a 400.
func peekBody(body []byte, members []api.Judged) (chatPeek, error) {
	var vals [10]api.Peeked
	out := vals[:len(members)]
	var p chatPeek
	if err := api.PeekJSON(body, members, out); err != nil {
		return p, err
	}
	for i := range members {
		v := &out[i]
		switch members[i].Name {
		case "model":
			p.Model = v.Str
		case "stream":
			p.Stream = v.Bool
		case "stream_options":
			if v.Present() {
				var u [1]api.Peeked
				if err := api.PeekObject(v.Raw, "stream_options.", streamOptionsMembers, u[:]); err != nil {
					return p, err
				}
				p.IncludeUsage = u[0].Bool
			}
		case "max_tokens":
			p.MaxTokens = int(v.Int)
		case "max_completion_tokens":
			p.MaxCompletionTokens = int(v.Int)
		case "max_output_tokens":
			p.MaxOutputTokens = int(v.Int)
		case "n":
			p.N = int(v.Int)
		case "best_of":
			p.BestOf = int(v.Int)
		case "messages":
			p.HasMessages = v.Present()
		}
	}
	if p.Model == "" {
		return p, apierror.InvalidRequest("The model field is required.", "model")
	}
	return p, nil
}
