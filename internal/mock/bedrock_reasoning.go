package mock

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"strconv"
)

// Claude's extended thinking on Converse, as far as a gateway can get it
// wrong. With additionalModelRequestFields.thinking enabled the answer
// starts with a reasoningContent block whose signature the mock can check
// later (bedrockSignature), and, as Claude does, a request is refused when
// an earlier assistant turn that called a tool does not start with its
// reasoning, or when a reasoningText's signature is not the one the mock
// gave (edited or invented reasoning). redactedContent must be base64.

// bedrockReasoning is a reasoningContent block of a request.
type bedrockReasoning struct {
	ReasoningText *struct {
		Text      string `json:"text"`
		Signature string `json:"signature"`
	} `json:"reasoningText,omitempty"`
	RedactedContent *string `json:"redactedContent,omitempty"`
}

// bedrockSignature is the signature the mock gives reasoning text.
func bedrockSignature(text string) string {
	sum := sha256.Sum256([]byte("mock-bedrock-thinking\x00" + text))
	return base64.StdEncoding.EncodeToString(sum[:18])
}

// bedrockThinking reports whether the request enables Claude's thinking.
func bedrockThinking(raw json.RawMessage) bool {
	var f struct {
		Thinking *struct {
			Type string `json:"type"`
		} `json:"thinking"`
	}
	return len(raw) > 0 && json.Unmarshal(raw, &f) == nil && f.Thinking != nil && f.Thinking.Type == "enabled"
}

// checkReasoning answers 400 as Bedrock does for earlier reasoning it
// would refuse; false means the answer is written.
func (req *bedrockRequest) checkReasoning(c *call, thinking bool) bool {
	for i, m := range req.Messages {
		where := "messages." + strconv.Itoa(i) + ".content"
		usesTool := false
		for j, b := range m.Content {
			if b.ToolUse != nil {
				usesTool = true
			}
			r := b.ReasoningContent
			if r == nil {
				continue
			}
			if m.Role != "assistant" {
				c.fail(http.StatusBadRequest, where+"."+strconv.Itoa(j)+": reasoning is only allowed in assistant messages")
				return false
			}
			switch {
			case r.ReasoningText != nil:
				if r.ReasoningText.Signature != bedrockSignature(r.ReasoningText.Text) {
					c.fail(http.StatusBadRequest, where+"."+strconv.Itoa(j)+".reasoningContent: Invalid `signature` in `thinking` block")
					return false
				}
			case r.RedactedContent != nil:
				if _, err := base64.StdEncoding.DecodeString(*r.RedactedContent); err != nil {
					c.fail(http.StatusBadRequest, where+"."+strconv.Itoa(j)+".reasoningContent.redactedContent: not base64")
					return false
				}
			default:
				c.fail(http.StatusBadRequest, where+"."+strconv.Itoa(j)+".reasoningContent: one of reasoningText or redactedContent is required")
				return false
			}
		}
		if thinking && m.Role == "assistant" && usesTool && (len(m.Content) == 0 || m.Content[0].ReasoningContent == nil) {
			c.fail(http.StatusBadRequest, "Expected `thinking` or `redacted_thinking`, but found `tool_use`. When `thinking` is enabled, "+
				"a final `assistant` message must start with a thinking block (preceeding the lastmost set of `tool_use` and `tool_result` blocks).")
			return false
		}
	}
	return true
}

// bedrockThought is the mock's reasoning for a conversation.
func bedrockThought(cv *convo) string { return "Mock thinking about: " + cv.lastUser }
