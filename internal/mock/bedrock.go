package mock

import (
	"encoding/json"
	"errors"
	"net/http"
	"strings"

	"github.com/switchyard/switchyard/internal/sigv4"
)

// AWSSecret is the secret access key the mock expects with an access key
// id: any id is accepted, and a request signed with another secret fails
// SigV4 verification, as a real endpoint's would.
func AWSSecret(accessKeyID string) string { return "mock-secret/" + accessKeyID }

// AWSKey is a bedrock channel credential (sigv4.Credentials.Key form) the
// mock accepts for accessKeyID.
func AWSKey(accessKeyID string) string {
	return sigv4.Credentials{AccessKeyID: accessKeyID, SecretAccessKey: AWSSecret(accessKeyID)}.Key()
}

// bedrockVerifier checks signatures for service "bedrock" in any region.
var bedrockVerifier = sigv4.Signer{Service: "bedrock"}

// bedrockAccessKey is the access key id of a SigV4 Authorization header:
// the mock's credential for counters, records and faults.
func bedrockAccessKey(r *http.Request) string {
	_, rest, ok := strings.Cut(r.Header.Get("Authorization"), "Credential=")
	if !ok {
		return ""
	}
	id, _, _ := strings.Cut(rest, "/")
	return id
}

// verifySigV4 answers 403 as Bedrock does for a request whose signature
// does not hold; false means it answered.
func (c *call) verifySigV4() bool {
	lookup := func(id string) (sigv4.Credentials, bool) {
		return sigv4.Credentials{AccessKeyID: id, SecretAccessKey: AWSSecret(id),
			SessionToken: c.r.Header.Get("X-Amz-Security-Token")}, true
	}
	err := bedrockVerifier.Verify(c.r, c.body, lookup, c.s.now())
	switch {
	case err == nil:
		return true
	case errors.Is(err, sigv4.ErrSignatureMismatch):
		c.failCode(http.StatusForbidden, "The request signature we calculated does not match the signature you provided.", "InvalidSignatureException")
	case errors.Is(err, sigv4.ErrExpired):
		c.failCode(http.StatusForbidden, "Signature expired.", "InvalidSignatureException")
	default:
		c.failCode(http.StatusForbidden, "The security token included in the request is invalid.", "UnrecognizedClientException")
	}
	return false
}

// bedrockErrorType is the exception Bedrock names for a status.
func bedrockErrorType(status int) string {
	switch status {
	case http.StatusBadRequest:
		return "ValidationException"
	case http.StatusUnauthorized, http.StatusForbidden:
		return "AccessDeniedException"
	case http.StatusNotFound:
		return "ResourceNotFoundException"
	case http.StatusRequestTimeout:
		return "ModelTimeoutException"
	case http.StatusTooManyRequests:
		return "ThrottlingException"
	case http.StatusServiceUnavailable:
		return "ServiceUnavailableException"
	}
	return "InternalServerException"
}

// Converse's request, as far as the mock reads it.
type bedrockRequest struct {
	Messages []struct {
		Role    string         `json:"role"`
		Content []bedrockBlock `json:"content"`
	} `json:"messages"`
	System []struct {
		Text string `json:"text"`
	} `json:"system"`
	AdditionalModelRequestFields json.RawMessage `json:"additionalModelRequestFields"`
	ToolConfig                   *struct {
		Tools []struct {
			ToolSpec struct {
				Name        string `json:"name"`
				InputSchema struct {
					JSON json.RawMessage `json:"json"`
				} `json:"inputSchema"`
			} `json:"toolSpec"`
		} `json:"tools"`
		ToolChoice *struct {
			Any  json.RawMessage `json:"any"`
			Tool *struct {
				Name string `json:"name"`
			} `json:"tool"`
		} `json:"toolChoice"`
	} `json:"toolConfig"`
}

type bedrockBlock struct {
	Text       *string         `json:"text,omitempty"`
	Image      json.RawMessage `json:"image,omitempty"`
	Document   json.RawMessage `json:"document,omitempty"`
	ToolUse    *bedrockToolUse `json:"toolUse,omitempty"`
	ToolResult *struct {
		Content []struct {
			Text string          `json:"text"`
			JSON json.RawMessage `json:"json"`
		} `json:"content"`
	} `json:"toolResult,omitempty"`
	ReasoningContent *bedrockReasoning `json:"reasoningContent,omitempty"`
}

type bedrockToolUse struct {
	ToolUseID string          `json:"toolUseId"`
	Name      string          `json:"name"`
	Input     json.RawMessage `json:"input"`
}

func (req *bedrockRequest) convo() *convo {
	cv := &convo{}
	for _, s := range req.System {
		cv.text(s.Text)
	}
	for i, m := range req.Messages {
		var b strings.Builder
		var result *string
		for _, bl := range m.Content {
			switch {
			case bl.Text != nil:
				b.WriteString(*bl.Text)
			case bl.Image != nil || bl.Document != nil:
				cv.images++
			case bl.ToolUse != nil:
				b.Write(bl.ToolUse.Input)
			case bl.ToolResult != nil:
				var t strings.Builder
				for _, c := range bl.ToolResult.Content {
					t.WriteString(c.Text)
					t.Write(c.JSON)
				}
				s := t.String()
				b.WriteString(s)
				result = &s
			}
		}
		cv.text(b.String())
		switch {
		case result != nil:
			if i == len(req.Messages)-1 {
				cv.afterTool, cv.toolResult = true, *result
			}
		case m.Role == "user":
			cv.lastUser = b.String()
		}
	}
	if tc := req.ToolConfig; tc != nil {
		for _, t := range tc.Tools {
			cv.tools = append(cv.tools, toolDecl{name: t.ToolSpec.Name, schema: t.ToolSpec.InputSchema.JSON})
		}
		if ch := tc.ToolChoice; ch != nil {
			switch {
			case ch.Tool != nil:
				cv.choice = ch.Tool.Name
			case ch.Any != nil:
				cv.choice = "required"
			}
		}
	}
	return cv
}

type bedrockUsage struct {
	InputTokens           int `json:"inputTokens"`
	OutputTokens          int `json:"outputTokens"`
	TotalTokens           int `json:"totalTokens"`
	CacheReadInputTokens  int `json:"cacheReadInputTokens,omitempty"`
	CacheWriteInputTokens int `json:"cacheWriteInputTokens,omitempty"`
}

// bedrock is Converse's usage: like Anthropic's, inputTokens leaves out
// the cached tokens.
func (u usage) bedrock() bedrockUsage {
	in := u.prompt - u.cached - u.cacheWrite
	return bedrockUsage{InputTokens: in, OutputTokens: u.completion, TotalTokens: u.prompt + u.completion,
		CacheReadInputTokens: u.cached, CacheWriteInputTokens: u.cacheWrite}
}

// bedrockConverse serves POST /model/{model}/converse and converse-stream.
func (s *Server) bedrockConverse(c *call) {
	model := c.r.PathValue("model")
	var stream bool
	switch c.r.PathValue("op") {
	case "converse":
	case "converse-stream":
		stream = true
	case "invoke":
		s.bedrockInvoke(c, model)
		return
	default:
		c.fail(http.StatusNotFound, "unknown operation "+c.r.PathValue("op"))
		return
	}
	var req bedrockRequest
	if !c.decode(&req) {
		return
	}
	if len(req.Messages) == 0 {
		c.fail(http.StatusBadRequest, "A conversation must start with a user message.")
		return
	}
	thinking := bedrockThinking(req.AdditionalModelRequestFields)
	if !req.checkReasoning(c, thinking) {
		return
	}
	cv := req.convo()
	a := c.plan(cv, model)
	stop := "end_turn"
	if a.tool {
		stop = "tool_use"
	}
	thought := bedrockThought(cv)
	if !stream {
		var content []any
		if thinking {
			content = append(content, map[string]any{"reasoningContent": map[string]any{
				"reasoningText": map[string]string{"text": thought, "signature": bedrockSignature(thought)}}})
		}
		if a.tool {
			content = append(content, map[string]any{"toolUse": bedrockToolUse{ToolUseID: a.callID, Name: a.toolName, Input: a.argsMap()}})
		} else {
			content = append(content, map[string]string{"text": a.text()})
		}
		c.reply(map[string]any{
			"output":     map[string]any{"message": map[string]any{"role": "assistant", "content": content}},
			"stopReason": stop, "usage": a.usage.bedrock(), "metrics": map[string]int{"latencyMs": 1},
		})
		return
	}
	st := c.startStream(modeEventStream)
	st.sendJSON("messageStart", map[string]string{"role": "assistant"})
	block := 0
	if thinking {
		// The reasoning in two deltas, then its signature, as Claude sends it.
		half := len(thought) / 2
		for _, part := range []string{thought[:half], thought[half:]} {
			st.sendJSON("contentBlockDelta", map[string]any{"contentBlockIndex": 0, "delta": map[string]any{"reasoningContent": map[string]string{"text": part}}})
		}
		st.sendJSON("contentBlockDelta", map[string]any{"contentBlockIndex": 0,
			"delta": map[string]any{"reasoningContent": map[string]string{"signature": bedrockSignature(thought)}}})
		st.sendJSON("contentBlockStop", map[string]int{"contentBlockIndex": 0})
		block = 1
	}
	if a.tool {
		st.sendJSON("contentBlockStart", map[string]any{"contentBlockIndex": block,
			"start": map[string]any{"toolUse": map[string]string{"toolUseId": a.callID, "name": a.toolName}}})
		for _, p := range a.argPieces() {
			st.sendJSON("contentBlockDelta", map[string]any{"contentBlockIndex": block, "delta": map[string]any{"toolUse": map[string]string{"input": p}}})
		}
	} else {
		t := newTmpl(map[string]any{"contentBlockIndex": block, "delta": map[string]string{"text": holeS}})
		var b []byte
		for i := 0; i < a.n && st.ok(); i++ {
			b = t.fill(b[:0], 0, a.piece(i))
			st.send("contentBlockDelta", b)
		}
	}
	st.sendJSON("contentBlockStop", map[string]int{"contentBlockIndex": block})
	st.sendJSON("messageStop", map[string]string{"stopReason": stop})
	st.sendJSON("metadata", map[string]any{"usage": a.usage.bedrock(), "metrics": map[string]int{"latencyMs": 1}})
}

// bedrockInvoke serves InvokeModel for the embedding models: Amazon Titan
// ({"inputText"} → {"embedding","inputTextTokenCount"}) and Cohere Embed
// ({"texts"} → {"embeddings"}). Other models' native bodies are not
// mocked.
func (s *Server) bedrockInvoke(c *call, model string) {
	var req struct {
		InputText  *string  `json:"inputText"`
		Dimensions int      `json:"dimensions"`
		Texts      []string `json:"texts"`
	}
	if !c.decode(&req) {
		return
	}
	switch {
	case strings.Contains(model, "titan-embed") && req.InputText != nil:
		dims := 1024
		if req.Dimensions > 0 {
			dims = min(req.Dimensions, 8192)
		}
		c.reply(map[string]any{"embedding": embedVector([]byte(*req.InputText), dims),
			"inputTextTokenCount": max(1, len(*req.InputText)/4)})
	case strings.Contains(model, "cohere.embed") && len(req.Texts) > 0:
		out := make([][]float32, len(req.Texts))
		for i, t := range req.Texts {
			out[i] = embedVector([]byte(t), 1024)
		}
		c.reply(map[string]any{"id": s.newID("emb-"), "embeddings": out, "texts": req.Texts, "response_type": "embeddings_floats"})
	default:
		c.fail(http.StatusBadRequest, "Malformed input request: the mock invokes only Titan and Cohere embedding models.")
	}
}
