package mock

import (
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"math"
	"net/http"
	"strings"
	"testing"
)

func TestEmbeddings(t *testing.T) {
	_, ts := newServer(t, Options{})
	type embOut struct {
		Data []struct {
			Index     int             `json:"index"`
			Embedding json.RawMessage `json:"embedding"`
		} `json:"data"`
		Model string `json:"model"`
		Usage struct {
			PromptTokens int `json:"prompt_tokens"`
			TotalTokens  int `json:"total_tokens"`
		} `json:"usage"`
	}
	vectors := func(t *testing.T, out embOut, b64 bool) [][]float32 {
		var vs [][]float32
		for _, d := range out.Data {
			var v []float32
			if b64 {
				var s string
				decodeInto(t, d.Embedding, &s)
				raw, err := base64.StdEncoding.DecodeString(s)
				if err != nil || len(raw)%4 != 0 {
					t.Fatalf("base64 embedding: %v (len %d)", err, len(raw))
				}
				for i := 0; i < len(raw); i += 4 {
					v = append(v, math.Float32frombits(binary.LittleEndian.Uint32(raw[i:])))
				}
			} else {
				decodeInto(t, d.Embedding, &v)
			}
			vs = append(vs, v)
		}
		return vs
	}
	tests := []struct {
		name       string
		body       map[string]any
		wantN      int
		wantDims   int
		wantTokens int
	}{
		{"string", map[string]any{"model": "text-embedding-3-small", "input": "hello world, hello"}, 1, 1536, 4},
		{"strings", map[string]any{"model": "text-embedding-3-large", "input": []string{"a", "hello world, hello"}}, 2, 3072, 5},
		{"tokens", map[string]any{"input": []int{1, 2, 3}}, 1, 1536, 3},
		{"token arrays", map[string]any{"input": [][]int{{1, 2}, {3}}}, 2, 1536, 3},
		{"dimensions", map[string]any{"input": "x", "dimensions": 256}, 1, 256, 1},
		{"base64", map[string]any{"input": []string{"hello world, hello", "b"}, "encoding_format": "base64", "dimensions": 64}, 2, 64, 5},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			b := mustOK(t, ts, req{path: "/v1/embeddings", body: tc.body})
			b64 := tc.body["encoding_format"] == "base64"
			if !b64 { // the spec types embedding as a number array only
				validate(t, "CreateEmbeddingResponse", b)
			}
			var out embOut
			decodeInto(t, b, &out)
			vs := vectors(t, out, b64)
			if len(vs) != tc.wantN || out.Usage.PromptTokens != tc.wantTokens || out.Usage.TotalTokens != tc.wantTokens {
				t.Fatalf("%d vectors, usage %+v", len(vs), out.Usage)
			}
			for i, v := range vs {
				if len(v) != tc.wantDims || out.Data[i].Index != i {
					t.Fatalf("vector %d: dims %d index %d", i, len(v), out.Data[i].Index)
				}
				var norm float64
				for _, x := range v {
					norm += float64(x) * float64(x)
				}
				if math.Abs(norm-1) > 1e-3 {
					t.Fatalf("vector %d norm² %f, want 1", i, norm)
				}
			}
		})
	}
	// Same input → same vector, in either encoding; different input → different vector.
	get := func(input string, enc string) []float32 {
		var out embOut
		decodeInto(t, mustOK(t, ts, req{path: "/v1/embeddings", body: map[string]any{"input": input, "encoding_format": enc, "dimensions": 32}}), &out)
		return vectors(t, out, enc == "base64")[0]
	}
	a, a2, b := get("same", "float"), get("same", "base64"), get("other", "float")
	for i := range a {
		if a[i] != a2[i] {
			t.Fatalf("float and base64 vectors differ at %d: %v vs %v", i, a[i], a2[i])
		}
	}
	if a[0] == b[0] && a[1] == b[1] {
		t.Fatalf("different inputs gave the same vector")
	}
	if resp, _ := do(t, ts, req{path: "/v1/embeddings", body: map[string]any{"input": map[string]any{"x": 1}}}); resp.StatusCode != http.StatusBadRequest {
		t.Fatalf("bad input: status %d", resp.StatusCode)
	}
}

func TestModels(t *testing.T) {
	_, ts := newServer(t, Options{})
	b := mustOK(t, ts, req{method: "GET", path: "/v1/models"})
	validate(t, "ListModelsResponse", b)
	b = mustOK(t, ts, req{method: "GET", path: "/v1/models/gpt-4o-mini"})
	validate(t, "Model", b)
	resp, eb := do(t, ts, req{method: "GET", path: "/v1/models", noAuth: true})
	var ae openAIErrBody
	strictDecode(t, eb, &ae)
	if resp.StatusCode != http.StatusUnauthorized || ae.Error.Code == nil || *ae.Error.Code != "invalid_api_key" || ae.Error.Message == "" {
		t.Fatalf("no key: %d %s", resp.StatusCode, eb)
	}
	resp, eb = do(t, ts, req{method: "GET", path: "/v1/models/nope"})
	var e openAIErrBody
	strictDecode(t, eb, &e)
	if resp.StatusCode != http.StatusNotFound || e.Error.Code == nil || *e.Error.Code != "model_not_found" {
		t.Fatalf("unknown model: %d %s", resp.StatusCode, eb)
	}
}

func TestResponsesNonStream(t *testing.T) {
	_, ts := newServer(t, Options{})
	b := mustOK(t, ts, req{path: "/v1/responses", body: map[string]any{"model": "gpt-4.1", "input": "Tell me a three sentence bedtime story."}})
	validate(t, "Response", b)
	var out struct {
		Status string `json:"status"`
		Output []struct {
			Type    string `json:"type"`
			Content []struct {
				Type string `json:"type"`
				Text string `json:"text"`
			} `json:"content"`
		} `json:"output"`
		Usage struct {
			InputTokens  int `json:"input_tokens"`
			OutputTokens int `json:"output_tokens"`
			TotalTokens  int `json:"total_tokens"`
		} `json:"usage"`
	}
	decodeInto(t, b, &out)
	text := out.Output[0].Content[0].Text
	if out.Status != "completed" || out.Output[0].Type != "message" || !strings.HasPrefix(text, "Mock reply to: Tell me a three sentence bedtime story.") {
		t.Fatalf("response: %s", b)
	}
	if out.Usage.OutputTokens != len(strings.Fields(text)) || out.Usage.TotalTokens != out.Usage.InputTokens+out.Usage.OutputTokens {
		t.Fatalf("usage %+v", out.Usage)
	}
}

// responsesStream checks the event lifecycle and returns the events by type.
func responsesStream(t *testing.T, body []byte, wantOrder []string) map[string][]map[string]any {
	t.Helper()
	evs := parseSSE(t, body)
	byType := map[string][]map[string]any{}
	var order []string
	for i, ev := range evs {
		var m map[string]any
		decodeInto(t, []byte(ev.data), &m)
		typ, _ := m["type"].(string)
		if typ != ev.name {
			t.Fatalf("event %d: SSE name %q, type %q", i, ev.name, typ)
		}
		if seq, _ := m["sequence_number"].(float64); int(seq) != i {
			t.Fatalf("event %d (%s): sequence_number %v", i, typ, m["sequence_number"])
		}
		if len(order) == 0 || order[len(order)-1] != typ {
			order = append(order, typ)
		}
		byType[typ] = append(byType[typ], m)
	}
	if strings.Join(order, ",") != strings.Join(wantOrder, ",") {
		t.Fatalf("event order:\n got %v\nwant %v", order, wantOrder)
	}
	// Every item id mentioned refers to the item that was added.
	added := byType["response.output_item.added"][0]["item"].(map[string]any)["id"]
	for typ, list := range byType {
		for _, m := range list {
			if id, ok := m["item_id"]; ok && id != added {
				t.Fatalf("%s item_id %v, added item %v", typ, id, added)
			}
		}
	}
	created := byType["response.created"][0]["response"].(map[string]any)
	done := byType["response.completed"][0]["response"].(map[string]any)
	if created["id"] != done["id"] || created["status"] != "in_progress" || done["status"] != "completed" {
		t.Fatalf("response ids/status: created %v %v, completed %v %v", created["id"], created["status"], done["id"], done["status"])
	}
	for _, typ := range []string{"response.created", "response.completed"} {
		r, _ := json.Marshal(byType[typ][0]["response"])
		validate(t, "Response", r)
	}
	return byType
}

func TestResponsesStream(t *testing.T) {
	_, ts := newServer(t, Options{})
	input := []map[string]any{{"role": "user", "content": []map[string]any{{"type": "input_text", "text": "hello there"}, {"type": "input_image", "image_url": "https://example.com/a.png"}}}}
	nb := mustOK(t, ts, req{path: "/v1/responses", body: map[string]any{"input": input}})
	var non struct {
		Usage map[string]any `json:"usage"`
	}
	decodeInto(t, nb, &non)
	b := mustOK(t, ts, req{path: "/v1/responses", body: map[string]any{"input": input, "stream": true}})
	ev := responsesStream(t, b, []string{"response.created", "response.in_progress", "response.output_item.added",
		"response.content_part.added", "response.output_text.delta", "response.output_text.done", "response.content_part.done",
		"response.output_item.done", "response.completed"})
	var text string
	for _, d := range ev["response.output_text.delta"] {
		text += d["delta"].(string)
	}
	if len(ev["response.output_text.delta"]) != defaultChunks || text != ev["response.output_text.done"][0]["text"] ||
		!strings.HasPrefix(text, "Mock reply to: hello there") {
		t.Fatalf("deltas %d, text %q, done %v", len(ev["response.output_text.delta"]), text, ev["response.output_text.done"][0]["text"])
	}
	usage := ev["response.completed"][0]["response"].(map[string]any)["usage"].(map[string]any)
	if usage["input_tokens"] != non.Usage["input_tokens"] || usage["output_tokens"] != non.Usage["output_tokens"] {
		t.Fatalf("stream usage %v, non-stream %v", usage, non.Usage)
	}
	if usage["input_tokens"].(float64) != float64(len("hello there")/4+imageTokens) {
		t.Fatalf("input tokens %v", usage["input_tokens"])
	}
}

func TestResponsesFunctionCall(t *testing.T) {
	_, ts := newServer(t, Options{})
	tools := []map[string]any{{"type": "function", "name": "get_weather", "parameters": weatherTool()}}
	body := map[string]any{"input": "weather?", "tools": tools}
	b := mustOK(t, ts, req{path: "/v1/responses", body: body})
	validate(t, "Response", b)
	var out struct {
		Output []functionCallItem `json:"output"`
	}
	decodeInto(t, b, &out)
	if len(out.Output) != 1 || out.Output[0].Type != "function_call" || out.Output[0].Name != "get_weather" || out.Output[0].Arguments != weatherArgs || out.Output[0].CallID == "" {
		t.Fatalf("function call output: %s", b)
	}
	body["stream"] = true
	ev := responsesStream(t, mustOK(t, ts, req{path: "/v1/responses", body: body}), []string{"response.created", "response.in_progress",
		"response.output_item.added", "response.function_call_arguments.delta", "response.function_call_arguments.done",
		"response.output_item.done", "response.completed"})
	var args string
	for _, d := range ev["response.function_call_arguments.delta"] {
		args += d["delta"].(string)
	}
	if args != weatherArgs || ev["response.function_call_arguments.done"][0]["arguments"] != weatherArgs {
		t.Fatalf("streamed args %s", args)
	}
	// After the function's output, the model answers in text.
	follow := mustOK(t, ts, req{path: "/v1/responses", body: map[string]any{"tools": tools, "input": []map[string]any{
		{"role": "user", "content": "weather?"},
		{"type": "function_call", "call_id": out.Output[0].CallID, "name": "get_weather", "arguments": weatherArgs},
		{"type": "function_call_output", "call_id": out.Output[0].CallID, "output": "rain all week"},
	}}})
	if !strings.Contains(string(follow), "Mock reply to tool result: rain all week") {
		t.Fatalf("follow-up: %s", follow)
	}
}
