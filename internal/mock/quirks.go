package mock

import (
	"net/http"
	"strings"
)

// OpenAI-compatible servers that are only mostly OpenAI-shaped, served at
// /quirks/{list}/v1/chat/completions, so that a channel's base_url picks
// the behaviour ({mock}/quirks/reasoning,no_usage) and every other part of
// the mock (faults, counters, recorded requests) works as on /v1. The list
// is comma-separated:
//
//   - reasoning: answers carry reasoning_content before the text, in
//     messages and stream deltas (DeepSeek, Qwen, vLLM reasoning parsers).
//   - no_stream_options: a request with stream_options is refused with a
//     400 (older llama.cpp and vLLM builds, many proxies).
//   - no_max_completion_tokens: a request with max_completion_tokens is
//     refused with a 400 (servers that know only max_tokens).
//   - no_usage: answers carry no usage, whatever the request asked.
//   - keyless: no credential is needed (Ollama, a local vLLM); requests
//     without one are counted under the credential "local".
type quirks struct {
	reasoning, noStreamOptions, noMaxCompletion, noUsage, keyless bool
}

// LocalCredential is the credential keyless requests are counted under.
const LocalCredential = "local"

// reasoningText is the reasoning_content of a quirky answer.
const reasoningText = "The user wants a reply. I will answer briefly."

func parseQuirks(r *http.Request) quirks {
	var q quirks
	for name := range strings.SplitSeq(r.PathValue("quirks"), ",") {
		switch strings.TrimSpace(name) {
		case "reasoning":
			q.reasoning = true
		case "no_stream_options":
			q.noStreamOptions = true
		case "no_max_completion_tokens":
			q.noMaxCompletion = true
		case "no_usage":
			q.noUsage = true
		case "keyless":
			q.keyless = true
		}
	}
	return q
}

// refuseQuirk answers a request the quirky server would reject, as such
// servers do (an OpenAI-shaped 400), and reports whether it did.
func (c *call) refuseQuirk(req *chatRequest) bool {
	switch {
	case c.quirks.noStreamOptions && req.StreamOptions != nil:
		c.fail(http.StatusBadRequest, "Unrecognized request argument supplied: stream_options")
		return true
	case c.quirks.noMaxCompletion && req.MaxCompletionTokens != nil:
		c.fail(http.StatusBadRequest, "Unrecognized request argument supplied: max_completion_tokens")
		return true
	}
	return false
}
