package openai

import "github.com/switchyard/switchyard/internal/relay"

var _ relay.Warner = (*responsesExchange)(nil)

// Warnings implements relay.Warner: the hosted tools (Codex's web_search,
// …) the current attempt's translation left out for a channel that cannot
// run them (config hosted_tools: drop).
func (x *responsesExchange) Warnings() []string {
	out := make([]string, len(x.dropped))
	for i, d := range x.dropped {
		out[i] = "dropped " + d + ": this upstream cannot run it"
	}
	return out
}
