package config

import "slices"

// OpenAI-compatible servers differ from OpenAI in a few known ways. A
// channel of type openai names its server with flavor, which implies a set
// of quirks, and may add quirks of its own; the openai provider reads them
// per request (Channel.HasQuirk). reasoning_content (DeepSeek, Qwen, vLLM
// reasoning parsers) needs no quirk: it is relayed, and translated to
// thinking blocks and reasoning items, on every channel.
const (
	// QuirkNoStreamOptions: the server rejects stream_options, so it is
	// removed from streams and their usage is counted with the tokenizer.
	QuirkNoStreamOptions = "no_stream_options"
	// QuirkMaxTokens: the server rejects max_completion_tokens, so it is
	// sent as max_tokens.
	QuirkMaxTokens = "max_tokens"
	// QuirkKeyless: the server takes no key (a local Ollama, vLLM or
	// llama.cpp); credentials may be omitted or have an empty key, and no
	// Authorization header is sent for those.
	QuirkKeyless = "keyless"
	// QuirkNoResponses: the server has no Responses API, so /v1/responses
	// requests reach it through the chat translation instead of passing
	// through. Every flavor but openai implies it.
	QuirkNoResponses = "no_responses"
)

// Quirks are the quirk names channels[].quirks accepts.
var Quirks = []string{QuirkNoStreamOptions, QuirkMaxTokens, QuirkKeyless, QuirkNoResponses}

// Flavors maps each channels[].flavor to the quirks it implies. They are
// conservative: max_tokens is accepted by every server that takes
// max_completion_tokens, and a stream counted with the tokenizer is billed
// within a few tokens.
var Flavors = map[string][]string{
	"openai":   nil,
	"deepseek": {QuirkMaxTokens, QuirkNoResponses},
	"qwen":     {QuirkMaxTokens, QuirkNoResponses},
	"ollama":   {QuirkKeyless, QuirkMaxTokens, QuirkNoResponses},
	"vllm":     {QuirkKeyless, QuirkNoResponses},
	"llamacpp": {QuirkKeyless, QuirkNoStreamOptions, QuirkMaxTokens, QuirkNoResponses},
	// legacy is an OpenAI-shaped server of before stream_options and
	// max_completion_tokens (2024), with a key.
	"legacy": {QuirkNoStreamOptions, QuirkMaxTokens, QuirkNoResponses},
}

// HasQuirk reports whether the channel's flavor or quirks include q.
func (ch *Channel) HasQuirk(q string) bool {
	if ch.Flavor == "" && len(ch.Quirks) == 0 {
		return false // the common case, without a map lookup
	}
	return slices.Contains(ch.Quirks, q) || slices.Contains(Flavors[ch.Flavor], q)
}
