package openai_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/switchyard/switchyard/internal/mock"
	"github.com/switchyard/switchyard/internal/sse"
)

func postTo(t testing.TB, url, key, body string) *http.Response {
	t.Helper()
	req, err := http.NewRequestWithContext(context.Background(), http.MethodPost, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	if key != "" {
		req.Header.Set("Authorization", "Bearer "+key)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("POST %s: %v", url, err)
	}
	t.Cleanup(func() { resp.Body.Close() })
	return resp
}

func mustStatus(t testing.TB, resp *http.Response, want int) {
	t.Helper()
	if resp.StatusCode != want {
		b, _ := io.ReadAll(resp.Body)
		t.Fatalf("status %d, want %d: %s", resp.StatusCode, want, b)
	}
}

func TestEmbeddings(t *testing.T) {
	g := startGateway(t, nil)
	cases := []struct {
		name, model string
		format      string
		dims        int
		wantDims    int
	}{
		{"openai float", "gpt-4o-mini", "float", 0, 1536},
		{"openai base64", "gpt-4o-mini", "base64", 64, 64},
		{"azure float", "az-deploy", "", 32, 32},
		{"gemini float", "gemini-test", "float", 0, 768},
		{"gemini base64", "gemini-test", "base64", 16, 16},
		{"gemini dims", "gemini-test", "", 100, 100},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			req := map[string]any{"model": tc.model, "input": []string{"first text", "second, longer text"}}
			if tc.format != "" {
				req["encoding_format"] = tc.format
			}
			if tc.dims != 0 {
				req["dimensions"] = tc.dims
			}
			resp := postTo(t, g.base+"/v1/embeddings", testKey, mustJSON(t, req))
			mustStatus(t, resp, 200)
			var out struct {
				Object string `json:"object"`
				Model  string `json:"model"`
				Data   []struct {
					Object    string          `json:"object"`
					Index     int             `json:"index"`
					Embedding json.RawMessage `json:"embedding"`
				} `json:"data"`
				Usage struct {
					PromptTokens int `json:"prompt_tokens"`
					TotalTokens  int `json:"total_tokens"`
				} `json:"usage"`
			}
			if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
				t.Fatal(err)
			}
			if out.Object != "list" || out.Model != tc.model || len(out.Data) != 2 {
				t.Fatalf("object %q model %q with %d items", out.Object, out.Model, len(out.Data))
			}
			if out.Usage.PromptTokens <= 0 || out.Usage.TotalTokens < out.Usage.PromptTokens {
				t.Fatalf("usage %+v", out.Usage)
			}
			var vecs [2][]float32
			for i, d := range out.Data {
				if d.Object != "embedding" || d.Index != i {
					t.Fatalf("item %d: object %q index %d", i, d.Object, d.Index)
				}
				if tc.format == "base64" {
					var s string
					if err := json.Unmarshal(d.Embedding, &s); err != nil {
						t.Fatalf("base64 embedding is not a string: %.80s", d.Embedding)
					}
					raw, err := base64.StdEncoding.DecodeString(s)
					if err != nil || len(raw) != 4*tc.wantDims {
						t.Fatalf("base64 embedding: %d bytes, err %v; want %d", len(raw), err, 4*tc.wantDims)
					}
					vecs[i] = make([]float32, tc.wantDims)
					continue
				}
				if err := json.Unmarshal(d.Embedding, &vecs[i]); err != nil {
					t.Fatalf("float embedding: %v", err)
				}
				if len(vecs[i]) != tc.wantDims {
					t.Fatalf("vector %d has %d dims, want %d", i, len(vecs[i]), tc.wantDims)
				}
			}
		})
	}
	t.Run("anthropic only", func(t *testing.T) {
		resp := postTo(t, g.base+"/v1/embeddings", testKey, `{"model":"claude-test","input":"x"}`)
		mustStatus(t, resp, 400)
		b, _ := io.ReadAll(resp.Body)
		if !strings.Contains(string(b), "anthropic") {
			t.Fatalf("error does not name the channel type: %s", b)
		}
	})
	t.Run("gemini token arrays refused", func(t *testing.T) {
		resp := postTo(t, g.base+"/v1/embeddings", testKey, `{"model":"gemini-test","input":[[1,2,3]]}`)
		mustStatus(t, resp, 400)
	})
}

func TestCompletions(t *testing.T) {
	g := startGateway(t, nil)
	for _, model := range []string{"gpt-4o-mini", "az-deploy"} {
		t.Run(model+"/json", func(t *testing.T) {
			resp := postTo(t, g.base+"/v1/completions", testKey, `{"model":"`+model+`","prompt":"Say hi"}`)
			mustStatus(t, resp, 200)
			var out struct {
				Object  string `json:"object"`
				Model   string `json:"model"`
				Choices []struct {
					Text string `json:"text"`
				} `json:"choices"`
				Usage map[string]any `json:"usage"`
			}
			if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
				t.Fatal(err)
			}
			if out.Object != "text_completion" || out.Model != model || len(out.Choices) != 1 || out.Choices[0].Text == "" || out.Usage["prompt_tokens"] == nil {
				t.Fatalf("completion %+v", out)
			}
		})
		for _, withUsage := range []bool{false, true} {
			t.Run(model+"/stream", func(t *testing.T) {
				body := `{"model":"` + model + `","prompt":"Say hi","stream":true}`
				if withUsage {
					body = `{"model":"` + model + `","prompt":"Say hi","stream":true,"stream_options":{"include_usage":true}}`
				}
				resp := postTo(t, g.base+"/v1/completions", testKey, body)
				mustStatus(t, resp, 200)
				text, usage, done := "", false, false
				rd := sse.NewReader(resp.Body, 0)
				for {
					ev, err := rd.Next()
					if errors.Is(err, io.EOF) {
						break
					}
					if err != nil {
						t.Fatal(err)
					}
					if string(ev.Data) == "[DONE]" {
						done = true
						continue
					}
					var ch struct {
						Object  string `json:"object"`
						Model   string `json:"model"`
						Choices []struct {
							Text string `json:"text"`
						} `json:"choices"`
						Usage map[string]any `json:"usage"`
					}
					if err := json.Unmarshal(ev.Data, &ch); err != nil {
						t.Fatalf("chunk %s: %v", ev.Data, err)
					}
					if ch.Object != "text_completion" || ch.Model != model {
						t.Fatalf("chunk object %q model %q", ch.Object, ch.Model)
					}
					for _, c := range ch.Choices {
						text += c.Text
					}
					if ch.Usage != nil {
						usage = true
					}
				}
				if !done || text == "" || usage != withUsage {
					t.Fatalf("done %v text %q usage chunk %v (asked %v)", done, text, usage, withUsage)
				}
			})
		}
	}
	for _, model := range []string{"claude-test", "gemini-test"} {
		resp := postTo(t, g.base+"/v1/completions", testKey, `{"model":"`+model+`","prompt":"x"}`)
		mustStatus(t, resp, 400)
	}
}

// respEvent is one Responses stream event as the client saw it.
type respEvent struct {
	name string
	typ  string
	seq  int
	raw  []byte
}

func readResponsesStream(t testing.TB, resp *http.Response) []respEvent {
	t.Helper()
	if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "text/event-stream") {
		t.Fatalf("Content-Type %q", ct)
	}
	var out []respEvent
	rd := sse.NewReader(resp.Body, 0)
	for {
		ev, err := rd.Next()
		if errors.Is(err, io.EOF) {
			return out
		}
		if err != nil {
			t.Fatal(err)
		}
		var head struct {
			Type string `json:"type"`
			Seq  *int   `json:"sequence_number"`
		}
		if err := json.Unmarshal(ev.Data, &head); err != nil {
			t.Fatalf("event %q is not JSON: %.200s", ev.Name, ev.Data)
		}
		if head.Seq == nil {
			t.Fatalf("event %s has no sequence_number", head.Type)
		}
		out = append(out, respEvent{name: ev.Name, typ: head.Type, seq: *head.Seq, raw: append([]byte(nil), ev.Data...)})
	}
}

type responseObj struct {
	ID     string `json:"id"`
	Object string `json:"object"`
	Status string `json:"status"`
	Model  string `json:"model"`
	Output []struct {
		Type    string `json:"type"`
		Name    string `json:"name"`
		CallID  string `json:"call_id"`
		Args    string `json:"arguments"`
		Content []struct {
			Type string `json:"type"`
			Text string `json:"text"`
		} `json:"content"`
	} `json:"output"`
	Usage *struct {
		InputTokens  int `json:"input_tokens"`
		OutputTokens int `json:"output_tokens"`
	} `json:"usage"`
}

func (r *responseObj) text() string {
	s := ""
	for _, o := range r.Output {
		for _, c := range o.Content {
			s += c.Text
		}
	}
	return s
}

func checkLifecycle(t testing.TB, evs []respEvent, model string) responseObj {
	t.Helper()
	if len(evs) < 4 {
		t.Fatalf("only %d events", len(evs))
	}
	for i, e := range evs {
		if e.seq != i {
			t.Fatalf("event %d (%s) has sequence_number %d", i, e.typ, e.seq)
		}
		if e.name != e.typ {
			t.Fatalf("event line %q for type %q", e.name, e.typ)
		}
	}
	if evs[0].typ != "response.created" || evs[1].typ != "response.in_progress" {
		t.Fatalf("stream starts %s, %s", evs[0].typ, evs[1].typ)
	}
	last := evs[len(evs)-1]
	if last.typ != "response.completed" {
		t.Fatalf("stream ends with %s", last.typ)
	}
	var done struct {
		Response responseObj `json:"response"`
	}
	if err := json.Unmarshal(last.raw, &done); err != nil {
		t.Fatal(err)
	}
	r := done.Response
	if r.Object != "response" || r.Status != "completed" || r.Model != model || r.Usage == nil || r.Usage.InputTokens <= 0 || r.Usage.OutputTokens <= 0 {
		t.Fatalf("final response %+v", r)
	}
	return r
}

func TestResponses(t *testing.T) {
	g := startGateway(t, nil)
	// The mock's own answer is the reference for the passthrough event order.
	ref := httptest.NewServer(mock.New(mock.Options{}))
	t.Cleanup(ref.Close)
	upstreams := []struct{ name, model string }{
		{"openai", "gpt-4o-mini"}, {"azure", "az-deploy"}, {"anthropic", "claude-test"}, {"gemini", "gemini-test"},
	}
	tool := []any{map[string]any{"type": "function", "name": "get_weather", "description": "Weather for a city",
		"parameters": map[string]any{"type": "object", "properties": map[string]any{"city": map[string]any{"type": "string"}}, "required": []string{"city"}}}}
	for _, up := range upstreams {
		for _, withTool := range []bool{false, true} {
			req := map[string]any{"model": up.model, "input": "Hello there, relay"}
			if withTool {
				req["tools"] = tool
			}
			t.Run(up.name+"/json", func(t *testing.T) {
				resp := postTo(t, g.base+"/v1/responses", testKey, mustJSON(t, req))
				mustStatus(t, resp, 200)
				var r responseObj
				if err := json.NewDecoder(resp.Body).Decode(&r); err != nil {
					t.Fatal(err)
				}
				if r.Object != "response" || r.Status != "completed" || r.Model != up.model || !strings.HasPrefix(r.ID, "resp_") {
					t.Fatalf("response %+v", r)
				}
				if r.Usage == nil || r.Usage.InputTokens <= 0 || r.Usage.OutputTokens <= 0 {
					t.Fatalf("usage %+v", r.Usage)
				}
				checkOutput(t, &r, withTool)
			})
			t.Run(up.name+"/stream", func(t *testing.T) {
				sreq := map[string]any{"stream": true}
				for k, v := range req {
					sreq[k] = v
				}
				resp := postTo(t, g.base+"/v1/responses", testKey, mustJSON(t, sreq))
				mustStatus(t, resp, 200)
				evs := readResponsesStream(t, resp)
				r := checkLifecycle(t, evs, up.model)
				checkOutput(t, &r, withTool)
				if up.name != "openai" {
					return
				}
				want := readResponsesStream(t, postTo(t, ref.URL+"/v1/responses", "oa-1", mustJSON(t, sreq)))
				if len(want) != len(evs) {
					t.Fatalf("%d events, the mock sent %d", len(evs), len(want))
				}
				for i := range want {
					if want[i].typ != evs[i].typ || want[i].name != evs[i].name || want[i].seq != evs[i].seq {
						t.Fatalf("event %d: got %s/%s/%d, mock sent %s/%s/%d", i, evs[i].name, evs[i].typ, evs[i].seq, want[i].name, want[i].typ, want[i].seq)
					}
				}
			})
		}
	}
	t.Run("model alias renamed", func(t *testing.T) {
		resp := postTo(t, g.base+"/v1/responses", testKey, `{"model":"alias-mini","input":"hi","stream":true}`)
		mustStatus(t, resp, 200)
		checkLifecycle(t, readResponsesStream(t, resp), "alias-mini")
	})
	errs := []struct {
		name, body string
		status     int
	}{
		{"malformed", `{"model":`, 400},
		{"no model", `{"input":"hi"}`, 400},
		{"unknown model", `{"model":"nope","input":"hi"}`, 404},
		{"bad input for translation", `{"model":"claude-test","input":42}`, 400},
	}
	for _, e := range errs {
		t.Run(e.name, func(t *testing.T) {
			mustStatus(t, postTo(t, g.base+"/v1/responses", testKey, e.body), e.status)
		})
	}
}

func checkOutput(t testing.TB, r *responseObj, withTool bool) {
	t.Helper()
	if !withTool {
		if !strings.Contains(r.text(), "Hello there, relay") {
			t.Fatalf("text %q", r.text())
		}
		return
	}
	for _, o := range r.Output {
		if o.Type == "function_call" {
			if o.Name != "get_weather" || o.CallID == "" || !json.Valid([]byte(o.Args)) {
				t.Fatalf("function call %+v", o)
			}
			return
		}
	}
	t.Fatalf("no function_call in output %+v", r.Output)
}

func TestEndpointsFailoverAndAbort(t *testing.T) {
	g := startGateway(t, nil)
	g.mock.SetFault("fo-a", mock.Fault{Status: 500})
	for _, path := range []string{"/v1/embeddings", "/v1/completions", "/v1/responses"} {
		body := `{"model":"failover-model","input":"hi","prompt":"hi"}`
		resp := postTo(t, g.base+path, testKey, body)
		mustStatus(t, resp, 200)
		_, _ = io.ReadAll(resp.Body)
	}
	if c := g.mock.Counters(); c.ByCredential["fo-b"] != 3 {
		t.Fatalf("fo-b served %d requests, want 3 (after fo-a failed)", c.ByCredential["fo-b"])
	}
	// A stream cut after it reached the client ends with an error event.
	resp := postTo(t, g.base+"/v1/responses", testKey, `{"model":"gpt-4o-mini","stream":true,"input":"hi [[mock drop_after=3]]"}`)
	mustStatus(t, resp, 200)
	b, _ := io.ReadAll(resp.Body)
	if !strings.Contains(string(b), "event: error\n") || strings.Contains(string(b), "response.completed") {
		t.Fatalf("cut stream did not end with an error event:\n%s", b)
	}
}
