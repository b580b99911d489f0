package mock

import (
	"bytes"
	"encoding/json"
	"strconv"
	"strings"
	"testing"
)

type geminiOut struct {
	Candidates []struct {
		Content struct {
			Role  string `json:"role"`
			Parts []struct {
				Text         *string `json:"text,omitempty"`
				FunctionCall *struct {
					Name string          `json:"name"`
					Args json.RawMessage `json:"args"`
				} `json:"functionCall,omitempty"`
			} `json:"parts"`
		} `json:"content"`
		FinishReason string `json:"finishReason,omitempty"`
		Index        int    `json:"index"`
	} `json:"candidates"`
	UsageMetadata struct {
		PromptTokenCount        int `json:"promptTokenCount"`
		CandidatesTokenCount    int `json:"candidatesTokenCount"`
		TotalTokenCount         int `json:"totalTokenCount"`
		CachedContentTokenCount int `json:"cachedContentTokenCount"`
	} `json:"usageMetadata"`
	ModelVersion string `json:"modelVersion"`
	ResponseID   string `json:"responseId"`
}

// geminiAssemble joins the chunks of a stream as a client would.
func geminiAssemble(chunks []geminiOut) (text, fn, args, finish string, prompt, cand int) {
	for _, c := range chunks {
		for _, p := range c.Candidates[0].Content.Parts {
			if p.Text != nil {
				text += *p.Text
			}
			if p.FunctionCall != nil {
				fn, args = p.FunctionCall.Name, string(p.FunctionCall.Args)
			}
		}
		if c.Candidates[0].FinishReason != "" {
			finish = c.Candidates[0].FinishReason
		}
		prompt, cand = c.UsageMetadata.PromptTokenCount, c.UsageMetadata.CandidatesTokenCount
	}
	return
}

func TestGemini(t *testing.T) {
	_, ts := newServer(t, Options{})
	decl := map[string]any{"name": "get_weather", "parameters": map[string]any{"type": "OBJECT",
		"properties": map[string]any{"city": map[string]any{"type": "STRING"}, "days": map[string]any{"type": "INTEGER"}}, "required": []string{"city", "days"}}}
	user := map[string]any{"role": "user", "parts": []map[string]any{{"text": "Explain how AI works in a few words"}, {"inlineData": map[string]any{"mimeType": "image/png", "data": "iVBORw0KGgo="}}}}
	tests := []struct {
		name     string
		body     map[string]any
		wantFn   string
		wantArgs string
		wantText string
	}{
		{"text", map[string]any{"contents": []any{user}, "systemInstruction": map[string]any{"parts": []map[string]any{{"text": "sys"}}}}, "", "", "Mock reply to: Explain how AI works in a few words"},
		{"snake_case", map[string]any{"contents": []any{map[string]any{"role": "user", "parts": []map[string]any{{"text": "hi"}, {"inline_data": map[string]any{"mime_type": "image/png", "data": "AA=="}}}}},
			"tools": []any{map[string]any{"function_declarations": []any{decl}}}, "tool_config": map[string]any{"functionCallingConfig": map[string]any{"mode": "NONE"}}}, "", "", "Mock reply to: hi"},
		{"function call", map[string]any{"contents": []any{user}, "tools": []any{map[string]any{"functionDeclarations": []any{decl}}}}, "get_weather", `{"city":"mock","days":1}`, ""},
		{"after function response", map[string]any{"contents": []any{user,
			map[string]any{"role": "model", "parts": []any{map[string]any{"functionCall": map[string]any{"name": "get_weather", "args": map[string]any{"city": "x"}}}}},
			map[string]any{"role": "user", "parts": []any{map[string]any{"functionResponse": map[string]any{"name": "get_weather", "response": map[string]any{"temp": 20}}}}}},
			"tools": []any{map[string]any{"functionDeclarations": []any{decl}}}}, "", "", `Mock reply to tool result: {"temp":20}`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			b := mustOK(t, ts, req{path: "/v1beta/models/gemini-2.5-flash:generateContent", body: tc.body})
			var one geminiOut
			strictDecode(t, b, &one)
			text, fn, args, finish, prompt, cand := geminiAssemble([]geminiOut{one})
			if fn != tc.wantFn || args != tc.wantArgs || !strings.HasPrefix(text, tc.wantText) || finish != "STOP" || one.ModelVersion != "gemini-2.5-flash" {
				t.Fatalf("got fn %q args %s text %q finish %q: %s", fn, args, text, finish, b)
			}
			if one.UsageMetadata.TotalTokenCount != prompt+cand || cand < 1 || one.Candidates[0].Content.Role != "model" {
				t.Fatalf("usage %+v", one.UsageMetadata)
			}

			// alt=sse: CRLF-separated data events.
			sb := mustOK(t, ts, req{path: "/v1beta/models/gemini-2.5-flash:streamGenerateContent?alt=sse", body: tc.body})
			if !bytes.Contains(sb, []byte("\r\n\r\n")) {
				t.Fatalf("SSE not CRLF-separated")
			}
			var chunks []geminiOut
			for _, ev := range parseSSE(t, sb) {
				var c geminiOut
				strictDecode(t, []byte(ev.data), &c)
				chunks = append(chunks, c)
			}
			// Without alt=sse: one JSON array, streamed.
			ab := mustOK(t, ts, req{path: "/v1beta/models/gemini-2.5-flash:streamGenerateContent", body: tc.body})
			var arr []geminiOut
			strictDecode(t, ab, &arr)
			for _, got := range [][]geminiOut{chunks, arr} {
				if fn == "" && len(got) != defaultChunks {
					t.Fatalf("%d chunks", len(got))
				}
				for i, c := range got {
					u := c.UsageMetadata
					if u.TotalTokenCount != u.PromptTokenCount+u.CandidatesTokenCount || u.CandidatesTokenCount < 1 ||
						(i > 0 && u.CandidatesTokenCount <= got[i-1].UsageMetadata.CandidatesTokenCount) {
						t.Fatalf("chunk %d usage %+v is not a running count", i, u)
					}
				}
				st, sfn, sargs, sfinish, sprompt, scand := geminiAssemble(got)
				if st != text || sfn != fn || sargs != args || sfinish != finish || sprompt != prompt || scand != cand {
					t.Fatalf("stream (%q %q %s %s %d %d) differs from non-stream (%q %q %s %s %d %d)", st, sfn, sargs, sfinish, sprompt, scand, text, fn, args, finish, prompt, cand)
				}
			}
		})
	}
}

func TestGeminiOtherMethods(t *testing.T) {
	_, ts := newServer(t, Options{})
	contents := []any{map[string]any{"role": "user", "parts": []any{map[string]any{"text": "twelve chars"}}}}
	var ct map[string]int
	strictDecode(t, mustOK(t, ts, req{path: "/v1beta/models/gemini-2.5-flash:countTokens", body: map[string]any{"contents": contents}}), &ct)
	if ct["totalTokens"] != 3 {
		t.Fatalf("countTokens %v", ct)
	}
	strictDecode(t, mustOK(t, ts, req{path: "/v1beta/models/gemini-2.5-flash:countTokens", body: map[string]any{"generateContentRequest": map[string]any{"contents": contents}}}), &ct)
	if ct["totalTokens"] != 3 {
		t.Fatalf("countTokens (generateContentRequest) %v", ct)
	}
	var emb struct {
		Embedding struct {
			Values []float32 `json:"values"`
		} `json:"embedding"`
	}
	strictDecode(t, mustOK(t, ts, req{path: "/v1beta/models/text-embedding-004:embedContent", body: map[string]any{"content": contents[0]}}), &emb)
	if len(emb.Embedding.Values) != 768 {
		t.Fatalf("embedContent dims %d", len(emb.Embedding.Values))
	}
	var batch struct {
		Embeddings []struct {
			Values []float32 `json:"values"`
		} `json:"embeddings"`
	}
	strictDecode(t, mustOK(t, ts, req{path: "/v1beta/models/text-embedding-004:batchEmbedContents", body: map[string]any{"requests": []any{
		map[string]any{"content": contents[0], "outputDimensionality": 16}, map[string]any{"content": contents[0]}}}}), &batch)
	if len(batch.Embeddings) != 2 || len(batch.Embeddings[0].Values) != 16 || batch.Embeddings[1].Values[0] != emb.Embedding.Values[0] {
		t.Fatalf("batch embeddings: %d", len(batch.Embeddings))
	}
	var models struct {
		Models []geminiModel `json:"models"`
	}
	strictDecode(t, mustOK(t, ts, req{method: "GET", path: "/v1beta/models"}), &models)
	if len(models.Models) == 0 || !strings.HasPrefix(models.Models[0].Name, "models/") {
		t.Fatalf("models %+v", models)
	}
	mustOK(t, ts, req{method: "GET", path: "/v1beta/models/gemini-2.5-flash"})

	// Key in the query string; no key at all; unknown method.
	if resp, _ := do(t, ts, req{path: "/v1beta/models/g:generateContent?key=qk", noAuth: true, body: map[string]any{"contents": contents}}); resp.StatusCode != 200 {
		t.Fatalf("?key=: %d", resp.StatusCode)
	}
	for _, tc := range []struct {
		r      req
		status int
		gstat  string
	}{
		{req{path: "/v1beta/models/g:generateContent", noAuth: true, body: map[string]any{"contents": contents}}, 401, "UNAUTHENTICATED"},
		{req{path: "/v1beta/models/g:nope", body: map[string]any{}}, 404, "NOT_FOUND"},
		{req{path: "/v1beta/models/g:generateContent", body: map[string]any{}}, 400, "INVALID_ARGUMENT"},
		{req{path: "/v1beta/models/g:generateContent", header: map[string]string{"X-Mock-Fault": "status=503"}, body: map[string]any{"contents": contents}}, 503, "UNAVAILABLE"},
	} {
		resp, b := do(t, ts, tc.r)
		var e struct {
			Error struct {
				Code    int    `json:"code"`
				Message string `json:"message"`
				Status  string `json:"status"`
			} `json:"error"`
		}
		strictDecode(t, b, &e)
		if resp.StatusCode != tc.status || e.Error.Code != tc.status || e.Error.Status != tc.gstat || e.Error.Message == "" {
			t.Fatalf("%s: %d %s", tc.r.path, resp.StatusCode, b)
		}
	}
}

func TestAzure(t *testing.T) {
	_, ts := newServer(t, Options{})
	msgs := []map[string]any{{"role": "user", "content": "hello azure"}}
	const dep = "/openai/deployments/my-gpt4o/"
	const ver = "?api-version=2024-10-21"

	b := mustOK(t, ts, req{path: dep + "chat/completions" + ver, body: map[string]any{"messages": msgs}})
	validate(t, "CreateChatCompletionResponse", b)
	var out struct {
		Model               string            `json:"model"`
		PromptFilterResults []json.RawMessage `json:"prompt_filter_results"`
	}
	decodeInto(t, b, &out)
	if out.Model != "my-gpt4o" || len(out.PromptFilterResults) != 1 {
		t.Fatalf("azure chat: %s", b)
	}

	// The stream opens with Azure's choices-less prompt-filter chunk.
	sb := mustOK(t, ts, req{path: dep + "chat/completions" + ver, body: map[string]any{"messages": msgs, "stream": true}})
	evs := parseSSE(t, sb)
	var first map[string]any
	decodeInto(t, []byte(evs[0].data), &first)
	if c, _ := first["choices"].([]any); len(c) != 0 || first["prompt_filter_results"] == nil {
		t.Fatalf("first azure chunk: %s", evs[0].data)
	}
	if st := collectChat(t, sb, false); st.chunks != defaultChunks || !strings.HasPrefix(st.text, "Mock reply to: hello azure") {
		t.Fatalf("azure stream %+v", st)
	}

	// Bearer instead of api-key; other operations under the deployment.
	mustOK(t, ts, req{path: dep + "embeddings" + ver, noAuth: true, header: map[string]string{"Authorization": "Bearer az"}, body: map[string]any{"input": "x"}})
	mustOK(t, ts, req{path: dep + "completions" + ver, body: map[string]any{"prompt": "x"}})
	var img imagesOut
	decodeInto(t, mustOK(t, ts, req{path: dep + "images/generations" + ver, body: map[string]any{"prompt": "x"}}), &img)
	if len(img.Data) != 1 {
		t.Fatalf("azure image: %+v", img)
	}
	mustOK(t, ts, req{path: "/openai/v1/chat/completions", body: map[string]any{"model": "gpt-4o", "messages": msgs}})
	rb := mustOK(t, ts, req{path: "/openai/v1/responses", body: map[string]any{"model": "gpt-4o", "input": "hi"}})
	validate(t, "Response", rb)

	for _, tc := range []struct {
		name   string
		r      req
		status int
	}{
		{"no api-version", req{path: dep + "chat/completions", body: map[string]any{"messages": msgs}}, 404},
		{"no key", req{path: dep + "chat/completions" + ver, noAuth: true, body: map[string]any{"messages": msgs}}, 401},
		{"unknown op", req{path: dep + "audio/speech" + ver, body: map[string]any{}}, 404},
		{"fault", req{path: dep + "chat/completions" + ver, header: map[string]string{"X-Mock-Fault": "status=429 retry_after=7"}, body: map[string]any{"messages": msgs}}, 429},
	} {
		resp, b := do(t, ts, tc.r)
		var e struct {
			Error struct {
				Code    string `json:"code"`
				Message string `json:"message"`
			} `json:"error"`
		}
		strictDecode(t, b, &e)
		if resp.StatusCode != tc.status || e.Error.Code != strconv.Itoa(tc.status) || e.Error.Message == "" {
			t.Fatalf("%s: %d %s", tc.name, resp.StatusCode, b)
		}
	}
}

// A request declaring googleSearch gets grounding over the whole answer,
// stream or not; a function call answer gets none.
func TestGeminiGrounding(t *testing.T) {
	_, ts := newServer(t, Options{})
	body := map[string]any{"contents": []any{map[string]any{"role": "user", "parts": []any{map[string]any{"text": "Euro 2024 winner?"}}}},
		"tools": []any{map[string]any{"googleSearch": map[string]any{}}}}
	b := mustOK(t, ts, req{path: "/v1beta/models/gemini-2.5-flash:generateContent", body: body})
	var r struct {
		Candidates []struct {
			Content struct {
				Parts []struct{ Text string }
			}
			GroundingMetadata struct {
				WebSearchQueries  []string
				GroundingChunks   []struct{ Web struct{ URI string } }
				GroundingSupports []struct {
					Segment struct{ StartIndex, EndIndex int }
				}
			}
		}
	}
	decodeInto(t, b, &r)
	g := r.Candidates[0].GroundingMetadata
	if len(g.WebSearchQueries) != 1 || g.WebSearchQueries[0] != "Euro 2024 winner?" || len(g.GroundingChunks) != 1 ||
		g.GroundingChunks[0].Web.URI != MockSearchURL || len(g.GroundingSupports) != 1 ||
		g.GroundingSupports[0].Segment.EndIndex != len(r.Candidates[0].Content.Parts[0].Text) {
		t.Fatalf("grounding: %s", b)
	}
	sb := mustOK(t, ts, req{path: "/v1beta/models/gemini-2.5-flash:streamGenerateContent?alt=sse", body: body})
	if n := strings.Count(string(sb), `"groundingMetadata"`); n != 1 {
		t.Fatalf("%d grounding chunks in %s", n, sb)
	}
}
