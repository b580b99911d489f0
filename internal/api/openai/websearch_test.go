package openai_test

import (
	"context"
	"encoding/json"
	"io"
	"slices"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/switchyard/switchyard/internal/app/apptest"
	"github.com/switchyard/switchyard/internal/billing"
	"github.com/switchyard/switchyard/internal/config"
	"github.com/switchyard/switchyard/internal/mock"
)

// webSearchResponse is what a client reads of a Responses answer that
// searched the web.
type webSearchResponse struct {
	Status string `json:"status"`
	Output []struct {
		Type   string `json:"type"`
		ID     string `json:"id"`
		Status string `json:"status"`
		Action *struct {
			Type    string `json:"type"`
			Query   string `json:"query"`
			Sources []struct{ Type, URL string }
		} `json:"action"`
		Content []struct {
			Type        string `json:"type"`
			Text        string `json:"text"`
			Annotations []struct {
				Type       string `json:"type"`
				StartIndex int    `json:"start_index"`
				EndIndex   int    `json:"end_index"`
				URL        string `json:"url"`
				Title      string `json:"title"`
			} `json:"annotations"`
		} `json:"content"`
	} `json:"output"`
	Usage struct {
		InputTokens  int64 `json:"input_tokens"`
		OutputTokens int64 `json:"output_tokens"`
	} `json:"usage"`
}

// check asserts the answer has the mock's search as a web_search_call
// item and a message whose text cites the mock's result (Anthropic's
// search comes before the text, Gemini's grounding after it in a stream).
func (r *webSearchResponse) check(t *testing.T, query string) {
	t.Helper()
	if r.Status != "completed" || len(r.Output) != 2 {
		t.Fatalf("response %+v", r)
	}
	ws, msg := r.Output[0], r.Output[1]
	if msg.Type == "web_search_call" {
		ws, msg = msg, ws
	}
	if ws.Type != "web_search_call" || ws.Status != "completed" || ws.Action == nil || ws.Action.Type != "search" ||
		ws.Action.Query != query || len(ws.Action.Sources) != 1 || ws.Action.Sources[0].URL != mock.MockSearchURL {
		t.Fatalf("web_search_call %+v", ws)
	}
	if msg.Type != "message" || len(msg.Content) != 1 || len(msg.Content[0].Annotations) != 1 {
		t.Fatalf("message %+v", msg)
	}
	a, text := msg.Content[0].Annotations[0], msg.Content[0].Text
	if a.Type != "url_citation" || a.URL != mock.MockSearchURL || a.Title != mock.MockSearchTitle ||
		a.StartIndex != 0 || a.EndIndex != utf8.RuneCountInString(text) || !strings.HasPrefix(text, "Mock reply to: ") {
		t.Fatalf("annotation %+v over %q", a, text)
	}
}

// A Responses web_search tool runs as the upstream's own search: on an
// anthropic channel (even one set to refuse hosted tools) as
// web_search_20250305, on a gemini channel, when it is the only tool, as
// Google Search grounding. No warning; the answer has a web_search_call
// and url citations; each search is charged at per_web_search besides the
// tokens.
func TestResponsesWebSearch(t *testing.T) {
	const payerKey = "sk-test-payer-0123456789"
	g := startGateway(t, func(cfg *config.Config) {
		cfg.Pricing["claude-test"] = config.Price{Input: 1, Output: 2, PerWebSearch: 0.01}
		cfg.Pricing["gemini-test"] = config.Price{Input: 1, Output: 2, PerWebSearch: 0.01}
		cfg.Users = append(cfg.Users, config.User{Email: "payer@example.com", Credit: 10})
		cfg.Keys = append(cfg.Keys, config.Key{Name: "payer", User: "payer@example.com", Key: payerKey})
		for i := range cfg.Channels {
			if cfg.Channels[i].Name == "an" {
				cfg.Channels[i].HostedTools = config.HostedToolsRefuse // translated, so not refused
			}
		}
	})
	balance := apptest.Balance(t, g.app, "payer@example.com")
	const query = "What happened in Go news today?"
	anthropicTool := map[string]any{"type": "web_search", "filters": map[string]any{"allowed_domains": []string{"go.dev"}},
		"user_location": map[string]any{"type": "approximate", "country": "DE"}}
	for _, up := range []struct {
		name, model, cred string
		tool              map[string]any
		upstream          []string // in the upstream request
	}{
		{"anthropic", "claude-test", "an-1", anthropicTool, []string{`"type":"web_search_20250305"`, `"allowed_domains":["go.dev"]`,
			`"user_location":{"type":"approximate","country":"DE"}`}},
		{"gemini", "gemini-test", "ge-1", map[string]any{"type": "web_search_preview"}, []string{`{"googleSearch":{}}`}},
	} {
		for _, stream := range []bool{false, true} {
			t.Run(up.name+map[bool]string{false: "/json", true: "/stream"}[stream], func(t *testing.T) {
				before := balance()
				req := map[string]any{"model": up.model, "input": query, "stream": stream, "tools": []any{up.tool}}
				resp := postTo(t, g.base+"/v1/responses", payerKey, mustJSON(t, req))
				mustStatus(t, resp, 200)
				if w := resp.Header.Values("X-Switchyard-Warning"); len(w) != 0 {
					t.Fatalf("warnings %q", w)
				}
				var r webSearchResponse
				if !stream {
					b, _ := io.ReadAll(resp.Body)
					if err := json.Unmarshal(b, &r); err != nil {
						t.Fatal(err)
					}
				} else {
					evs := readResponsesStream(t, resp)
					var types []string
					for _, e := range evs {
						types = append(types, e.typ)
					}
					for _, want := range []string{"response.web_search_call.in_progress", "response.web_search_call.searching",
						"response.web_search_call.completed", "response.output_text.annotation.added"} {
						if !slices.Contains(types, want) {
							t.Fatalf("no %s in %v", want, types)
						}
					}
					var done struct {
						Type     string            `json:"type"`
						Response webSearchResponse `json:"response"`
					}
					if err := json.Unmarshal(evs[len(evs)-1].raw, &done); err != nil || done.Type != "response.completed" {
						t.Fatalf("last event %s: %v", evs[len(evs)-1].raw, err)
					}
					r = done.Response
				}
				r.check(t, query)
				recs := g.mock.Requests(up.cred)
				body := recs[len(recs)-1].Body
				for _, want := range up.upstream {
					if !strings.Contains(body, want) {
						t.Fatalf("upstream body %s lacks %s", body, want)
					}
				}
				// 1 micro-USD per input token, 2 per output token, 10000 per search
				want := billing.Micros(r.Usage.InputTokens + 2*r.Usage.OutputTokens + 10_000)
				if got := before - balance(); got != want || r.Usage.InputTokens == 0 {
					t.Fatalf("charged %d micro-USD, want %d (usage %+v)", got, want, r.Usage)
				}
			})
		}
	}
	// chat's web_search_options on the same channel: annotations, the
	// searches and their usage in the answer, and the same charge.
	t.Run("chat", func(t *testing.T) {
		before := balance()
		resp := postTo(t, g.base+"/v1/chat/completions", payerKey, `{"model":"claude-test",`+
			`"messages":[{"role":"user","content":"`+query+`"}],"web_search_options":{"search_context_size":"low"}}`)
		mustStatus(t, resp, 200)
		var c struct {
			Choices []struct {
				Message struct {
					Content     string `json:"content"`
					Annotations []struct {
						Type        string `json:"type"`
						URLCitation struct {
							StartIndex int    `json:"start_index"`
							EndIndex   int    `json:"end_index"`
							URL        string `json:"url"`
						} `json:"url_citation"`
					} `json:"annotations"`
					WebSearchCalls []struct {
						Query string `json:"query"`
					} `json:"web_search_calls"`
				} `json:"message"`
			} `json:"choices"`
			Usage struct {
				PromptTokens      int64 `json:"prompt_tokens"`
				CompletionTokens  int64 `json:"completion_tokens"`
				WebSearchRequests int   `json:"web_search_requests"`
			} `json:"usage"`
		}
		b, _ := io.ReadAll(resp.Body)
		if err := json.Unmarshal(b, &c); err != nil || len(c.Choices) != 1 {
			t.Fatalf("%s: %v", b, err)
		}
		m := c.Choices[0].Message
		if len(m.Annotations) != 1 || m.Annotations[0].Type != "url_citation" || m.Annotations[0].URLCitation.URL != mock.MockSearchURL ||
			m.Annotations[0].URLCitation.EndIndex != utf8.RuneCountInString(m.Content) ||
			len(m.WebSearchCalls) != 1 || m.WebSearchCalls[0].Query != query || c.Usage.WebSearchRequests != 1 {
			t.Fatalf("answer %s", b)
		}
		want := billing.Micros(c.Usage.PromptTokens + 2*c.Usage.CompletionTokens + 10_000)
		if got := before - balance(); got != want {
			t.Fatalf("charged %d micro-USD, want %d", got, want)
		}
	})
	if errs, err := billing.NewLedger(g.app.DB(), time.Now).Audit(context.Background()); err != nil || len(errs) != 0 {
		t.Errorf("ledger audit: %v %v", errs, err)
	}
}
