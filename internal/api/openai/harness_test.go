package openai_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/switchyard/switchyard/internal/app"
	"github.com/switchyard/switchyard/internal/app/apptest"
	"github.com/switchyard/switchyard/internal/config"
	"github.com/switchyard/switchyard/internal/mock"
	"github.com/switchyard/switchyard/internal/sse"
)

const (
	testKey    = "sk-test-relay-0123456789"
	limitedKey = "sk-test-limited-0123456789"
	expiredKey = "sk-test-expired-0123456789"
	ipKey      = "sk-test-ip-0123456789"
)

// gateway is a real app.App on a loopback port in front of a mock upstream.
type gateway struct {
	base string
	up   string // the mock's base URL, for benchmarks that measure it alone
	mock *mock.Server
	app  *app.App
}

// startGateway runs the mock and the whole gateway with channels of every
// upstream type; mutate may adjust the configuration first.
func startGateway(t testing.TB, mutate func(cfg *config.Config)) *gateway {
	t.Helper()
	return startGatewayWith(t, mock.Options{}, mutate)
}

func startGatewayWith(t testing.TB, mopts mock.Options, mutate func(cfg *config.Config)) *gateway {
	t.Helper()
	return startGatewayUpstream(t, mock.New(mopts), nil, mutate)
}

// startGatewayUpstream is startGatewayWith with the mock m, seen by the
// gateway through wrap when it is set, and app options.
func startGatewayUpstream(t testing.TB, m *mock.Server, wrap func(http.Handler) http.Handler, mutate func(cfg *config.Config), opts ...app.Option) *gateway {
	t.Helper()
	var h http.Handler = m
	if wrap != nil {
		h = wrap(m)
	}
	up := httptest.NewServer(h)
	t.Cleanup(up.Close)

	cfg := apptest.Config(t)
	// Every test model is free: these tests are about relaying, not billing.
	cfg.Pricing = map[string]config.Price{"*": {Free: true}}
	cfg.Channels = []config.Channel{
		{Name: "oa", Type: "openai", BaseURL: up.URL, Models: []string{"gpt-4o-mini"},
			ModelMap: map[string]string{"alias-mini": "gpt-4o-mini"}, Credentials: []config.Credential{{Key: "oa-1"}}},
		{Name: "az", Type: "azure", BaseURL: up.URL, APIVersion: "2024-10-21", Models: []string{"az-deploy"},
			Credentials: []config.Credential{{Key: "az-1"}}},
		{Name: "an", Type: "anthropic", BaseURL: up.URL, Models: []string{"claude-test"},
			Credentials: []config.Credential{{Key: "an-1"}}},
		{Name: "ge", Type: "gemini", BaseURL: up.URL, Models: []string{"gemini-test"},
			Credentials: []config.Credential{{Key: "ge-1"}}},
		{Name: "fo", Type: "openai", BaseURL: up.URL + "/v1", Models: []string{"failover-model"},
			Credentials: []config.Credential{{Key: "fo-a"}, {Key: "fo-b"}}},
		{Name: "rl", Type: "openai", BaseURL: up.URL, Models: []string{"limited-model"},
			Credentials: []config.Credential{{Key: "rl-a"}, {Key: "rl-b"}}},
	}
	cfg.Keys = []config.Key{
		{Name: "all", Key: testKey},
		{Name: "limited", Key: limitedKey, Models: []string{"gpt-4o-mini"}},
		{Name: "expired", Key: expiredKey, ExpiresAt: time.Now().Add(-time.Hour)},
		{Name: "ip", Key: ipKey, IPAllow: []string{"10.0.0.0/8"}},
	}
	if mutate != nil {
		mutate(cfg)
	}
	a := apptest.StartWith(t, cfg, nil, opts...)
	return &gateway{base: "http://" + a.Addr(), up: up.URL, mock: m, app: a}
}

func (g *gateway) post(t testing.TB, key string, body string) *http.Response {
	t.Helper()
	return g.postCtx(t, context.Background(), key, body)
}

func (g *gateway) postCtx(t testing.TB, ctx context.Context, key string, body string) *http.Response {
	t.Helper()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, g.base+"/v1/chat/completions", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	if key != "" {
		req.Header.Set("Authorization", "Bearer "+key)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("POST: %v", err)
	}
	return resp
}

// chatResult is what a client assembled from a response, stream or not.
type chatResult struct {
	Model     string
	Content   string
	ToolName  string
	ToolID    string
	ToolArgs  string
	Finish    string
	Usage     map[string]any
	Chunks    int
	Done      bool
	ErrorSeen bool
}

func readJSONResult(t testing.TB, resp *http.Response) chatResult {
	t.Helper()
	var body struct {
		Object  string `json:"object"`
		Model   string `json:"model"`
		Choices []struct {
			Message struct {
				Content   *string `json:"content"`
				ToolCalls []struct {
					ID       string `json:"id"`
					Type     string `json:"type"`
					Function struct {
						Name      string `json:"name"`
						Arguments string `json:"arguments"`
					} `json:"function"`
				} `json:"tool_calls"`
			} `json:"message"`
			FinishReason string `json:"finish_reason"`
		} `json:"choices"`
		Usage map[string]any `json:"usage"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
		t.Fatalf("decode chat completion: %v", err)
	}
	if body.Object != "chat.completion" || len(body.Choices) != 1 {
		t.Fatalf("object %q with %d choices", body.Object, len(body.Choices))
	}
	c := body.Choices[0]
	r := chatResult{Model: body.Model, Finish: c.FinishReason, Usage: body.Usage}
	if c.Message.Content != nil {
		r.Content = *c.Message.Content
	}
	if len(c.Message.ToolCalls) > 0 {
		tc := c.Message.ToolCalls[0]
		r.ToolName, r.ToolID, r.ToolArgs = tc.Function.Name, tc.ID, tc.Function.Arguments
	}
	return r
}

func readStreamResult(t testing.TB, resp *http.Response) chatResult {
	t.Helper()
	if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "text/event-stream") {
		t.Fatalf("Content-Type %q", ct)
	}
	var r chatResult
	rd := sse.NewReader(resp.Body, 0)
	for {
		ev, err := rd.Next()
		if errors.Is(err, io.EOF) {
			return r
		}
		if err != nil {
			t.Fatalf("read stream: %v", err)
		}
		if r.Done {
			t.Fatalf("event after [DONE]: %s", ev.Data)
		}
		if string(ev.Data) == "[DONE]" {
			r.Done = true
			continue
		}
		var ch struct {
			Object  string          `json:"object"`
			Model   string          `json:"model"`
			Error   json.RawMessage `json:"error"`
			Choices []struct {
				Delta struct {
					Content   *string `json:"content"`
					ToolCalls []struct {
						ID       string `json:"id"`
						Function struct {
							Name      string `json:"name"`
							Arguments string `json:"arguments"`
						} `json:"function"`
					} `json:"tool_calls"`
				} `json:"delta"`
				FinishReason *string `json:"finish_reason"`
			} `json:"choices"`
			Usage map[string]any `json:"usage"`
		}
		if err := json.Unmarshal(ev.Data, &ch); err != nil {
			t.Fatalf("chunk is not JSON: %v: %.200s", err, ev.Data)
		}
		if ch.Error != nil {
			r.ErrorSeen = true
			continue
		}
		r.Chunks++
		if ch.Object != "chat.completion.chunk" {
			t.Fatalf("chunk object %q", ch.Object)
		}
		if ch.Model != "" {
			if r.Model != "" && r.Model != ch.Model {
				t.Fatalf("model changed mid-stream: %q then %q", r.Model, ch.Model)
			}
			r.Model = ch.Model
		}
		if ch.Usage != nil {
			if len(ch.Choices) != 0 {
				t.Errorf("usage chunk with %d choices", len(ch.Choices))
			}
			r.Usage = ch.Usage
		}
		for _, c := range ch.Choices {
			if c.Delta.Content != nil {
				r.Content += *c.Delta.Content
			}
			for _, tc := range c.Delta.ToolCalls {
				if tc.Function.Name != "" {
					r.ToolName = tc.Function.Name
				}
				if tc.ID != "" {
					r.ToolID = tc.ID
				}
				r.ToolArgs += tc.Function.Arguments
			}
			if c.FinishReason != nil {
				r.Finish = *c.FinishReason
			}
		}
	}
}

func errorCode(t testing.TB, resp *http.Response) string {
	t.Helper()
	var body struct {
		Error struct {
			Code    string `json:"code"`
			Message string `json:"message"`
		} `json:"error"`
	}
	b, _ := io.ReadAll(resp.Body)
	if err := json.Unmarshal(b, &body); err != nil {
		t.Fatalf("error body is not JSON: %v: %s", err, b)
	}
	return body.Error.Code
}

func mustJSON(t testing.TB, v any) string {
	t.Helper()
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		t.Fatal(err)
	}
	return buf.String()
}

// readStreamCounting reads a stream without keeping it, calling each after
// every event.
func readStreamCounting(t testing.TB, resp *http.Response, each func(n int)) int {
	t.Helper()
	rd := sse.NewReader(resp.Body, 0)
	n := 0
	for {
		_, err := rd.Next()
		if errors.Is(err, io.EOF) {
			return n
		}
		if err != nil {
			t.Fatalf("read stream: %v", err)
		}
		n++
		each(n)
	}
}
