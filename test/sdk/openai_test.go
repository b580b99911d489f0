package sdk

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"image/png"
	"io"
	"math"
	"net/http"
	"strings"
	"testing"

	"github.com/openai/openai-go/v3"
	"github.com/openai/openai-go/v3/option"
	"github.com/openai/openai-go/v3/responses"
	"github.com/openai/openai-go/v3/shared"
)

// TestOpenAIChat: a chat completion and its stream, accumulated by the
// SDK's ChatCompletionAccumulator, carry the mock's text and the same
// usage on every channel type.
func TestOpenAIChat(t *testing.T) {
	g := startGateway(t)
	c := g.openai(testKey)
	for _, ct := range channelTypes {
		t.Run(ct.typ, func(t *testing.T) {
			ctx := testContext(t)
			text := prompt(ct, "chat")
			params := openai.ChatCompletionNewParams{
				Model:    ct.chat,
				Messages: []openai.ChatCompletionMessageParamUnion{openai.UserMessage(text)},
			}
			resp, err := c.Chat.Completions.New(ctx, params)
			if err != nil {
				t.Fatalf("chat: %v", err)
			}
			if len(resp.Choices) != 1 {
				t.Fatalf("%d choices, want 1", len(resp.Choices))
			}
			ch := resp.Choices[0]
			if !strings.HasPrefix(ch.Message.Content, mockReply(text)) {
				t.Errorf("content %q, want the mock's reply to %q", ch.Message.Content, text)
			}
			if ch.FinishReason != "stop" || ch.Message.Role != "assistant" {
				t.Errorf("finish_reason %q role %q, want stop, assistant", ch.FinishReason, ch.Message.Role)
			}
			checkChatUsage(t, resp.Usage)
			if resp.ID == "" || resp.Model == "" {
				t.Errorf("id %q model %q: want both", resp.ID, resp.Model)
			}

			params.StreamOptions = openai.ChatCompletionStreamOptionsParam{IncludeUsage: openai.Bool(true)}
			stream := c.Chat.Completions.NewStreaming(ctx, params)
			var acc openai.ChatCompletionAccumulator
			chunks, finished := 0, ""
			for stream.Next() {
				chunks++
				if !acc.AddChunk(stream.Current()) {
					t.Fatalf("chunk %d refused by the accumulator: %s", chunks, stream.Current().RawJSON())
				}
				if s, ok := acc.JustFinishedContent(); ok {
					finished = s
				}
			}
			if err := stream.Err(); err != nil {
				t.Fatalf("stream: %v", err)
			}
			if chunks < 3 {
				t.Errorf("%d chunks: not a stream", chunks)
			}
			if len(acc.Choices) != 1 {
				t.Fatalf("accumulated %d choices, want 1", len(acc.Choices))
			}
			got := acc.Choices[0].Message.Content
			if got != ch.Message.Content {
				t.Errorf("stream text %q, non-stream %q: want the same", got, ch.Message.Content)
			}
			if finished != got {
				t.Errorf("JustFinishedContent %q, want %q", finished, got)
			}
			if acc.Choices[0].FinishReason != "stop" {
				t.Errorf("stream finish_reason %q, want stop", acc.Choices[0].FinishReason)
			}
			checkChatUsage(t, acc.Usage)
			if acc.Usage.PromptTokens != resp.Usage.PromptTokens || acc.Usage.CompletionTokens != resp.Usage.CompletionTokens {
				t.Errorf("stream usage %d+%d, non-stream %d+%d: want the same", acc.Usage.PromptTokens,
					acc.Usage.CompletionTokens, resp.Usage.PromptTokens, resp.Usage.CompletionTokens)
			}
		})
	}
}

func checkChatUsage(t *testing.T, u openai.CompletionUsage) {
	t.Helper()
	if u.PromptTokens <= 0 || u.CompletionTokens <= 0 || u.TotalTokens != u.PromptTokens+u.CompletionTokens {
		t.Errorf("usage prompt %d completion %d total %d: want both > 0 and total their sum",
			u.PromptTokens, u.CompletionTokens, u.TotalTokens)
	}
}

func weatherTool() openai.ChatCompletionToolUnionParam {
	return openai.ChatCompletionFunctionTool(shared.FunctionDefinitionParam{
		Name:        toolName,
		Description: openai.String("Current weather in a city"),
		Parameters:  shared.FunctionParameters(weatherSchema),
	})
}

// checkCityArgs: the mock synthesises the required "city" as a string.
func checkCityArgs(t *testing.T, args string) {
	t.Helper()
	var a map[string]any
	if err := json.Unmarshal([]byte(args), &a); err != nil {
		t.Fatalf("tool arguments %q: %v", args, err)
	}
	if _, ok := a["city"].(string); !ok {
		t.Errorf("tool arguments %q lack the required string city", args)
	}
}

// TestOpenAITools: a request declaring a tool gets a call to it (id, name,
// arguments from its schema), in a completion and in a stream; sending the
// tool's result back gets text about that result. On every channel type.
func TestOpenAITools(t *testing.T) {
	g := startGateway(t)
	c := g.openai(testKey)
	for _, ct := range channelTypes {
		t.Run(ct.typ, func(t *testing.T) {
			ctx := testContext(t)
			params := openai.ChatCompletionNewParams{
				Model:    ct.chat,
				Messages: []openai.ChatCompletionMessageParamUnion{openai.UserMessage(prompt(ct, "tools"))},
				Tools:    []openai.ChatCompletionToolUnionParam{weatherTool()},
			}
			resp, err := c.Chat.Completions.New(ctx, params)
			if err != nil {
				t.Fatalf("chat with tools: %v", err)
			}
			msg := resp.Choices[0].Message
			if resp.Choices[0].FinishReason != "tool_calls" || len(msg.ToolCalls) != 1 {
				t.Fatalf("finish_reason %q, %d tool calls: want tool_calls, 1 (%s)",
					resp.Choices[0].FinishReason, len(msg.ToolCalls), resp.RawJSON())
			}
			call := msg.ToolCalls[0]
			if call.ID == "" || call.Type != "function" || call.Function.Name != toolName {
				t.Errorf("tool call id %q type %q name %q, want an id, function, %s", call.ID, call.Type, call.Function.Name, toolName)
			}
			checkCityArgs(t, call.Function.Arguments)
			checkChatUsage(t, resp.Usage)

			// The same call, streamed and put together by the accumulator.
			stream := c.Chat.Completions.NewStreaming(ctx, params)
			var acc openai.ChatCompletionAccumulator
			var finished []openai.FinishedChatCompletionToolCall
			for stream.Next() {
				if !acc.AddChunk(stream.Current()) {
					t.Fatalf("chunk refused by the accumulator: %s", stream.Current().RawJSON())
				}
				if tc, ok := acc.JustFinishedToolCall(); ok {
					finished = append(finished, tc)
				}
			}
			if err := stream.Err(); err != nil {
				t.Fatalf("stream with tools: %v", err)
			}
			if len(acc.Choices) != 1 || len(acc.Choices[0].Message.ToolCalls) != 1 {
				t.Fatalf("stream accumulated %+v, want one choice with one tool call", acc.Choices)
			}
			sc := acc.Choices[0].Message.ToolCalls[0]
			if sc.ID == "" || sc.Function.Name != toolName || acc.Choices[0].FinishReason != "tool_calls" {
				t.Errorf("streamed call id %q name %q finish %q, want an id, %s, tool_calls",
					sc.ID, sc.Function.Name, acc.Choices[0].FinishReason, toolName)
			}
			checkCityArgs(t, sc.Function.Arguments)
			if len(finished) != 1 || finished[0].Name != toolName || finished[0].ID != sc.ID || finished[0].Arguments != sc.Function.Arguments {
				t.Errorf("JustFinishedToolCall gave %+v, want the one call %s %s", finished, sc.ID, toolName)
			}

			// Round trip: the assistant's call, then the tool's result.
			params.Messages = append(params.Messages, msg.ToParam(), openai.ToolMessage(toolResult, call.ID))
			resp2, err := c.Chat.Completions.New(ctx, params)
			if err != nil {
				t.Fatalf("chat with the tool result: %v", err)
			}
			got := resp2.Choices[0].Message
			if !isToolResultReply(ct, got.Content) || len(got.ToolCalls) != 0 {
				t.Errorf("after the tool result: content %q, %d tool calls; want the mock's reply to the result",
					got.Content, len(got.ToolCalls))
			}
			if resp2.Choices[0].FinishReason != "stop" {
				t.Errorf("after the tool result: finish_reason %q, want stop", resp2.Choices[0].FinishReason)
			}
			checkChatUsage(t, resp2.Usage)
		})
	}
}

// TestOpenAIEmbeddings: on the channel types that serve embeddings, a
// batch of two inputs answers two vectors of the asked dimensions, in
// order, in the float form and in the base64 form the SDK decodes.
func TestOpenAIEmbeddings(t *testing.T) {
	g := startGateway(t)
	c := g.openai(testKey)
	for _, ct := range channelTypes {
		if ct.embed == "" {
			continue // anthropic serves no embeddings
		}
		t.Run(ct.typ, func(t *testing.T) {
			ctx := testContext(t)
			var vectors [2][][]float64
			for i, format := range []openai.EmbeddingNewParamsEncodingFormat{openai.EmbeddingNewParamsEncodingFormatFloat, openai.EmbeddingNewParamsEncodingFormatBase64} {
				resp, err := c.Embeddings.New(ctx, openai.EmbeddingNewParams{
					Model:          ct.embed,
					Input:          openai.EmbeddingNewParamsInputUnion{OfArrayOfStrings: []string{"first text " + ct.typ, "second, different text"}},
					Dimensions:     openai.Int(16),
					EncodingFormat: format,
				})
				if err != nil {
					t.Fatalf("embeddings (%s): %v", format, err)
				}
				if len(resp.Data) != 2 {
					t.Fatalf("%s: %d embeddings, want 2", format, len(resp.Data))
				}
				for j, e := range resp.Data {
					if e.Index != int64(j) || len(e.Embedding) != 16 {
						t.Errorf("%s: embedding %d has index %d and %d dimensions, want %d and 16", format, j, e.Index, len(e.Embedding), j)
					}
					var norm float64
					for _, x := range e.Embedding {
						norm += x * x
					}
					if math.Abs(norm-1) > 1e-3 {
						t.Errorf("%s: embedding %d has norm² %v, want a unit vector", format, j, norm)
					}
					vectors[i] = append(vectors[i], e.Embedding)
				}
				if resp.Usage.PromptTokens <= 0 || resp.Usage.TotalTokens < resp.Usage.PromptTokens {
					t.Errorf("%s: usage prompt %d total %d", format, resp.Usage.PromptTokens, resp.Usage.TotalTokens)
				}
			}
			if equalVec(vectors[0][0], vectors[0][1]) {
				t.Error("two different texts got the same vector")
			}
			for j := range 2 {
				if !closeVec(vectors[0][j], vectors[1][j]) {
					t.Errorf("embedding %d differs between float and base64: %v vs %v", j, vectors[0][j], vectors[1][j])
				}
			}
		})
	}
}

func equalVec(a, b []float64) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// closeVec allows for base64 carrying float32.
func closeVec(a, b []float64) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if math.Abs(a[i]-b[i]) > 1e-6 {
			return false
		}
	}
	return true
}

// TestOpenAIImages: an image generation on the openai channel answers a
// decodable PNG inline (b64_json) and, asked for a URL, a link the
// gateway serves.
func TestOpenAIImages(t *testing.T) {
	g := startGateway(t)
	c := g.openai(testKey)
	ctx := testContext(t)

	resp, err := c.Images.Generate(ctx, openai.ImageGenerateParams{
		Model: imageModel, Prompt: "a red square", N: openai.Int(2), Size: "256x256",
		ResponseFormat: openai.ImageGenerateParamsResponseFormatB64JSON,
	})
	if err != nil {
		t.Fatalf("images b64_json: %v", err)
	}
	if len(resp.Data) != 2 || resp.Created == 0 {
		t.Fatalf("%d images, created %d: want 2 and a time", len(resp.Data), resp.Created)
	}
	for i, im := range resp.Data {
		b, err := base64.StdEncoding.DecodeString(im.B64JSON)
		if err != nil || im.URL != "" {
			t.Fatalf("image %d: b64_json not base64 (%v) or a url %q too", i, err, im.URL)
		}
		checkPNG(t, b)
	}

	resp, err = c.Images.Generate(ctx, openai.ImageGenerateParams{
		Model: imageModel, Prompt: "a blue square", Size: "256x256",
		ResponseFormat: openai.ImageGenerateParamsResponseFormatURL,
	})
	if err != nil {
		t.Fatalf("images url: %v", err)
	}
	if len(resp.Data) != 1 || resp.Data[0].URL == "" || resp.Data[0].B64JSON != "" {
		t.Fatalf("want one image as a url: %s", resp.RawJSON())
	}
	r, err := http.Get(resp.Data[0].URL)
	if err != nil {
		t.Fatalf("GET the image url: %v", err)
	}
	defer r.Body.Close()
	b, _ := io.ReadAll(r.Body)
	if r.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %d %.200s", resp.Data[0].URL, r.StatusCode, b)
	}
	checkPNG(t, b)
}

func checkPNG(t *testing.T, b []byte) {
	t.Helper()
	cfg, err := png.DecodeConfig(bytes.NewReader(b))
	if err != nil {
		t.Fatalf("not a PNG (%d bytes): %v", len(b), err)
	}
	if cfg.Width != 256 || cfg.Height != 256 {
		t.Errorf("image %dx%d, want 256x256", cfg.Width, cfg.Height)
	}
}

// TestOpenAIResponses: the Responses API, non-stream and streamed, on every
// channel type (passed through to openai and azure, translated through chat
// for anthropic and gemini): output text, status, usage, and a stream whose
// deltas add up to the text of its response.completed event.
func TestOpenAIResponses(t *testing.T) {
	g := startGateway(t)
	c := g.openai(testKey)
	for _, ct := range channelTypes {
		t.Run(ct.typ, func(t *testing.T) {
			ctx := testContext(t)
			text := prompt(ct, "responses")
			params := responses.ResponseNewParams{
				Model: ct.chat,
				Input: responses.ResponseNewParamsInputUnion{OfString: openai.String(text)},
			}
			resp, err := c.Responses.New(ctx, params)
			if err != nil {
				t.Fatalf("responses: %v", err)
			}
			out := resp.OutputText()
			if !strings.HasPrefix(out, mockReply(text)) {
				t.Errorf("output text %q, want the mock's reply to %q", out, text)
			}
			if resp.Status != responses.ResponseStatusCompleted || resp.ID == "" || resp.Object != "response" {
				t.Errorf("status %q id %q object %q, want completed, an id, response", resp.Status, resp.ID, resp.Object)
			}
			checkResponsesUsage(t, resp.Usage)

			stream := c.Responses.NewStreaming(ctx, params)
			var deltas strings.Builder
			var types []string
			var completed *responses.Response
			for stream.Next() {
				ev := stream.Current()
				types = append(types, ev.Type)
				switch ev.Type {
				case "response.output_text.delta":
					deltas.WriteString(ev.AsResponseOutputTextDelta().Delta)
				case "response.completed":
					r := ev.AsResponseCompleted().Response
					completed = &r
				}
			}
			if err := stream.Err(); err != nil {
				t.Fatalf("responses stream: %v", err)
			}
			if len(types) == 0 || types[0] != "response.created" {
				t.Errorf("stream events %v, want response.created first", types)
			}
			if completed == nil {
				t.Fatalf("no response.completed in %v", types)
			}
			if deltas.String() != out || completed.OutputText() != out {
				t.Errorf("stream deltas %q, completed text %q, non-stream %q: want all the same",
					deltas.String(), completed.OutputText(), out)
			}
			if completed.Status != responses.ResponseStatusCompleted {
				t.Errorf("completed status %q", completed.Status)
			}
			checkResponsesUsage(t, completed.Usage)
			if completed.Usage.InputTokens != resp.Usage.InputTokens || completed.Usage.OutputTokens != resp.Usage.OutputTokens {
				t.Errorf("stream usage %d+%d, non-stream %d+%d: want the same", completed.Usage.InputTokens,
					completed.Usage.OutputTokens, resp.Usage.InputTokens, resp.Usage.OutputTokens)
			}
		})
	}
}

func checkResponsesUsage(t *testing.T, u responses.ResponseUsage) {
	t.Helper()
	if u.InputTokens <= 0 || u.OutputTokens <= 0 || u.TotalTokens != u.InputTokens+u.OutputTokens {
		t.Errorf("usage input %d output %d total %d: want both > 0 and total their sum", u.InputTokens, u.OutputTokens, u.TotalTokens)
	}
}

// asOpenAIError unwraps err into the SDK's typed error.
func asOpenAIError(t *testing.T, err error) *openai.Error {
	t.Helper()
	var apiErr *openai.Error
	if !errors.As(err, &apiErr) {
		t.Fatalf("error %v (%T) is not an *openai.Error", err, err)
	}
	return apiErr
}

// TestOpenAIErrors: the gateway's errors reach the SDK as *openai.Error
// with the status, type, code and param the gateway documents: a bad key,
// an unknown model, an invalid field, and an upstream's 400 relayed on
// every channel type, from chat, Responses and embeddings.
func TestOpenAIErrors(t *testing.T) {
	g := startGateway(t)
	c := g.openai(testKey)
	chat := func(model, text string) openai.ChatCompletionNewParams {
		return openai.ChatCompletionNewParams{Model: model, Messages: []openai.ChatCompletionMessageParamUnion{openai.UserMessage(text)}}
	}

	t.Run("bad key", func(t *testing.T) {
		bad := g.openai(badKey)
		for _, ct := range channelTypes {
			_, err := bad.Chat.Completions.New(testContext(t), chat(ct.chat, "hi"))
			e := asOpenAIError(t, err)
			if e.StatusCode != http.StatusUnauthorized || e.Code != "invalid_api_key" || e.Message == "" {
				t.Errorf("%s: status %d code %q type %q message %q, want 401 invalid_api_key", ct.typ, e.StatusCode, e.Code, e.Type, e.Message)
			}
		}
		_, err := bad.Responses.New(testContext(t), responses.ResponseNewParams{Model: "gpt-4o-mini",
			Input: responses.ResponseNewParamsInputUnion{OfString: openai.String("hi")}})
		if e := asOpenAIError(t, err); e.StatusCode != http.StatusUnauthorized || e.Code != "invalid_api_key" {
			t.Errorf("responses: status %d code %q, want 401 invalid_api_key", e.StatusCode, e.Code)
		}
	})

	t.Run("unknown model", func(t *testing.T) {
		_, err := c.Chat.Completions.New(testContext(t), chat("no-such-model", "hi"))
		e := asOpenAIError(t, err)
		if e.StatusCode != http.StatusNotFound || e.Code != "model_not_found" || e.Type != "invalid_request_error" || e.Param != "model" {
			t.Errorf("status %d code %q type %q param %q, want 404 model_not_found invalid_request_error model (%s)",
				e.StatusCode, e.Code, e.Type, e.Param, e.RawJSON())
		}
		_, err = c.Embeddings.New(testContext(t), openai.EmbeddingNewParams{Model: "no-such-embedder",
			Input: openai.EmbeddingNewParamsInputUnion{OfString: openai.String("x")}})
		if e := asOpenAIError(t, err); e.StatusCode != http.StatusNotFound || e.Code != "model_not_found" {
			t.Errorf("embeddings: status %d code %q, want 404 model_not_found", e.StatusCode, e.Code)
		}
	})

	t.Run("invalid field", func(t *testing.T) {
		// The SDK sends what the caller sets; a stream flag that is not
		// a boolean must come back as a 400 naming the field.
		_, err := c.Chat.Completions.New(testContext(t), chat("gpt-4o-mini", "hi"), option.WithJSONSet("stream", "yes"))
		e := asOpenAIError(t, err)
		if e.StatusCode != http.StatusBadRequest || e.Type != "invalid_request_error" || e.Param != "stream" {
			t.Errorf("status %d type %q code %q param %q, want 400 invalid_request_error param stream (%s)",
				e.StatusCode, e.Type, e.Code, e.Param, e.RawJSON())
		}
	})

	t.Run("no messages", func(t *testing.T) {
		knownGap(t, "no-messages")
		for _, ct := range channelTypes {
			_, err := c.Chat.Completions.New(testContext(t), openai.ChatCompletionNewParams{Model: ct.chat})
			e := asOpenAIError(t, err)
			if e.StatusCode != http.StatusBadRequest || e.Param != "messages" {
				t.Errorf("%s: status %d code %q param %q, want 400 param messages (%s)", ct.typ, e.StatusCode, e.Code, e.Param, e.RawJSON())
			}
		}
	})

	// What a channel type's format cannot express is refused with a 400
	// naming the field, before anything goes upstream.
	t.Run("unsupported by the channel", func(t *testing.T) {
		cases := []struct {
			name, field string
			call        func() error
		}{
			{"n on anthropic", "n", func() error {
				p := chat("claude-haiku-4-5", "hi")
				p.N = openai.Int(2)
				_, err := c.Chat.Completions.New(testContext(t), p)
				return err
			}},
			{"logprobs on gemini", "logprobs", func() error {
				p := chat("gemini-2.5-flash", "hi")
				p.Logprobs = openai.Bool(true)
				_, err := c.Chat.Completions.New(testContext(t), p)
				return err
			}},
			{"token arrays on gemini", "input", func() error {
				_, err := c.Embeddings.New(testContext(t), openai.EmbeddingNewParams{Model: "gemini-embedding-001",
					Input: openai.EmbeddingNewParamsInputUnion{OfArrayOfTokens: []int64{1, 2, 3}}})
				return err
			}},
		}
		for _, tc := range cases {
			t.Run(tc.name, func(t *testing.T) {
				e := asOpenAIError(t, tc.call())
				if e.StatusCode != http.StatusBadRequest || e.Type != "invalid_request_error" || !strings.Contains(e.Message, tc.field) {
					t.Fatalf("status %d type %q message %q, want 400 invalid_request_error naming %s", e.StatusCode, e.Type, e.Message, tc.field)
				}
				knownGap(t, "translation-param")
				if e.Param != tc.field {
					t.Errorf("param %q, want %q (%s)", e.Param, tc.field, e.RawJSON())
				}
			})
		}
	})

	t.Run("upstream 400", func(t *testing.T) {
		// An upstream's own 400 (the mock's, in each provider's shape) is
		// the caller's fault: no failover, an OpenAI-shaped 400.
		for _, ct := range channelTypes {
			t.Run(ct.typ, func(t *testing.T) {
				_, err := c.Chat.Completions.New(testContext(t), chat(ct.chat, "bad request [[mock status=400]]"))
				e := asOpenAIError(t, err)
				if e.StatusCode != http.StatusBadRequest || e.Type != "invalid_request_error" || e.Message == "" {
					t.Errorf("chat: status %d type %q code %q message %q, want 400 invalid_request_error (%s)",
						e.StatusCode, e.Type, e.Code, e.Message, e.RawJSON())
				}
				// A stream refused before its first byte is the same
				// typed error, from the stream's Err.
				stream := c.Chat.Completions.NewStreaming(testContext(t), chat(ct.chat, "bad stream [[mock status=400]]"))
				for stream.Next() {
					t.Fatalf("chunk %s from a refused stream", stream.Current().RawJSON())
				}
				e = asOpenAIError(t, stream.Err())
				if e.StatusCode != http.StatusBadRequest || e.Type != "invalid_request_error" {
					t.Errorf("chat stream: status %d type %q code %q, want 400 invalid_request_error (%s)",
						e.StatusCode, e.Type, e.Code, e.RawJSON())
				}
				_, err = c.Responses.New(testContext(t), responses.ResponseNewParams{Model: ct.chat,
					Input: responses.ResponseNewParamsInputUnion{OfString: openai.String("bad request [[mock status=400]]")}})
				e = asOpenAIError(t, err)
				if e.StatusCode != http.StatusBadRequest || e.Type != "invalid_request_error" {
					t.Errorf("responses: status %d type %q code %q, want 400 invalid_request_error (%s)",
						e.StatusCode, e.Type, e.Code, e.RawJSON())
				}
			})
		}
	})
}

// TestOpenAIResponsesTools: a Responses request declaring a function tool
// gets a function_call item (call_id, name, arguments from the schema),
// non-stream and streamed; sending the call and its function_call_output
// back as input items gets text about the result. On every channel type.
func TestOpenAIResponsesTools(t *testing.T) {
	g := startGateway(t)
	c := g.openai(testKey)
	tool := responses.ToolUnionParam{OfFunction: &responses.FunctionToolParam{
		Name: toolName, Description: openai.String("Current weather in a city"),
		Parameters: weatherSchema, Strict: openai.Bool(false),
	}}
	functionCalls := func(r *responses.Response) []responses.ResponseFunctionToolCall {
		var out []responses.ResponseFunctionToolCall
		for _, item := range r.Output {
			if item.Type == "function_call" {
				out = append(out, item.AsFunctionCall())
			}
		}
		return out
	}
	for _, ct := range channelTypes {
		t.Run(ct.typ, func(t *testing.T) {
			ctx := testContext(t)
			input := responses.ResponseInputParam{
				responses.ResponseInputItemParamOfMessage(prompt(ct, "tools"), responses.EasyInputMessageRoleUser),
			}
			params := responses.ResponseNewParams{
				Model: ct.chat, Tools: []responses.ToolUnionParam{tool},
				Input: responses.ResponseNewParamsInputUnion{OfInputItemList: input},
			}
			resp, err := c.Responses.New(ctx, params)
			if err != nil {
				t.Fatalf("responses with tools: %v", err)
			}
			calls := functionCalls(resp)
			if len(calls) != 1 {
				t.Fatalf("%d function calls, want 1: %s", len(calls), resp.RawJSON())
			}
			call := calls[0]
			if call.CallID == "" || call.Name != toolName {
				t.Errorf("function_call call_id %q name %q, want a call id and %s", call.CallID, call.Name, toolName)
			}
			checkCityArgs(t, call.Arguments)
			checkResponsesUsage(t, resp.Usage)

			stream := c.Responses.NewStreaming(ctx, params)
			var args strings.Builder
			var argsDone string
			var completed *responses.Response
			for stream.Next() {
				ev := stream.Current()
				switch ev.Type {
				case "response.function_call_arguments.delta":
					args.WriteString(ev.AsResponseFunctionCallArgumentsDelta().Delta)
				case "response.function_call_arguments.done":
					argsDone = ev.AsResponseFunctionCallArgumentsDone().Arguments
				case "response.completed":
					r := ev.AsResponseCompleted().Response
					completed = &r
				}
			}
			if err := stream.Err(); err != nil {
				t.Fatalf("responses stream with tools: %v", err)
			}
			if completed == nil {
				t.Fatal("no response.completed")
			}
			sc := functionCalls(completed)
			if len(sc) != 1 || sc[0].Name != toolName || sc[0].CallID == "" {
				t.Fatalf("streamed function calls %+v, want one call of %s", sc, toolName)
			}
			checkCityArgs(t, sc[0].Arguments)
			if args.String() != sc[0].Arguments || argsDone != sc[0].Arguments {
				t.Errorf("argument deltas %q, done %q, completed %q: want the same", args.String(), argsDone, sc[0].Arguments)
			}

			// Round trip, stateless: the call and its output as input items.
			callParam := call.ToParam()
			output := responses.ResponseInputItemParamOfFunctionCallOutput(toolResult)
			output.OfFunctionCallOutput.CallID = openai.String(call.CallID)
			params.Input.OfInputItemList = append(input, responses.ResponseInputItemUnionParam{OfFunctionCall: &callParam}, output)
			resp2, err := c.Responses.New(ctx, params)
			if err != nil {
				t.Fatalf("responses with the function output: %v", err)
			}
			if got := resp2.OutputText(); !isToolResultReply(ct, got) || len(functionCalls(resp2)) != 0 {
				t.Errorf("after the function output: text %q, %d calls; want the mock's reply to the result",
					got, len(functionCalls(resp2)))
			}
			checkResponsesUsage(t, resp2.Usage)
		})
	}
}
