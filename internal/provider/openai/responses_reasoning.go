package openai

import "strings"

// Signed reasoning in the Responses API. Claude's thinking (on Bedrock)
// must go back to the upstream with its signature in later turns, and a
// Responses client sends earlier reasoning back as the reasoning items it
// was given. So a signed block becomes a reasoning item whose summary is
// the thinking and whose encrypted_content is the signature (or the
// redacted reasoning) behind a prefix naming the gateway; only items with
// that prefix are sent back, never OpenAI's own encrypted reasoning, which
// no other upstream can read.
const (
	signaturePrefix = "switchyard.anthropic.signature:"
	redactedPrefix  = "switchyard.anthropic.redacted:"
)

// encryptedReasoning is the encrypted_content of a signed block.
func encryptedReasoning(rb ReasoningBlock) string {
	if rb.Redacted != "" {
		return redactedPrefix + rb.Redacted
	}
	return signaturePrefix + rb.Signature
}

// signedReasoning reads a reasoning item the gateway signed.
func signedReasoning(it *InputItem) (ReasoningBlock, bool) {
	if data, ok := strings.CutPrefix(it.EncryptedContent, redactedPrefix); ok && data != "" {
		return ReasoningBlock{Redacted: data}, true
	}
	sig, ok := strings.CutPrefix(it.EncryptedContent, signaturePrefix)
	if !ok || sig == "" {
		return ReasoningBlock{}, false
	}
	var text strings.Builder
	for _, s := range it.Summary {
		text.WriteString(s.Text)
	}
	return ReasoningBlock{Text: text.String(), Signature: sig}, true
}

// appendReasoning adds rb to the assistant turn being built, or starts one
// with it: the turn's text and calls, in the items that follow, join it.
func appendReasoning(dst []ChatMessage, rb ReasoningBlock) []ChatMessage {
	if n := len(dst); n > 0 && reasoningOnly(&dst[n-1]) {
		dst[n-1].ReasoningBlocks = append(dst[n-1].ReasoningBlocks, rb)
		return dst
	}
	return append(dst, ChatMessage{Role: "assistant", Content: Content{Kind: ContentNull}, ReasoningBlocks: []ReasoningBlock{rb}})
}

// reasoningOnly reports an assistant turn holding only signed reasoning so
// far.
func reasoningOnly(m *ChatMessage) bool {
	return m.Role == "assistant" && len(m.ReasoningBlocks) > 0 && m.Content.Kind == ContentNull && len(m.ToolCalls) == 0
}
