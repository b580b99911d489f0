package anthropic_test

import (
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/switchyard/switchyard/internal/app"
	"github.com/switchyard/switchyard/internal/app/apptest"
	"github.com/switchyard/switchyard/internal/config"
	"github.com/switchyard/switchyard/internal/mock"
	"github.com/switchyard/switchyard/internal/sse"
)

const testKey = "sk-test-messages-0123456789"

// gateway is a real app.App on a loopback port in front of a mock upstream.
type gateway struct {
	base string
	mock *mock.Server
	app  *app.App
}

func startGateway(t testing.TB, mutate func(cfg *config.Config)) *gateway {
	t.Helper()
	m := mock.New(mock.Options{})
	up := httptest.NewServer(m)
	t.Cleanup(up.Close)

	cfg := apptest.Config(t)
	// Every test model is free: these tests are about relaying, not billing.
	cfg.Pricing = map[string]config.Price{"*": {Free: true}}
	cfg.Channels = []config.Channel{
		{Name: "oa", Type: "openai", BaseURL: up.URL, Models: []string{"gpt-4o-mini"},
			Credentials: []config.Credential{{Key: "oa-1"}}},
		{Name: "az", Type: "azure", BaseURL: up.URL, APIVersion: "2024-10-21", Models: []string{"az-deploy"},
			Credentials: []config.Credential{{Key: "az-1"}}},
		{Name: "an", Type: "anthropic", BaseURL: up.URL, Models: []string{"claude-test"},
			ModelMap: map[string]string{"claude-alias": "claude-test"}, Credentials: []config.Credential{{Key: "an-1"}}},
		{Name: "ge", Type: "gemini", BaseURL: up.URL, Models: []string{"gemini-test"},
			Credentials: []config.Credential{{Key: "ge-1"}}},
		{Name: "fo", Type: "anthropic", BaseURL: up.URL + "/v1", Models: []string{"claude-failover"},
			Credentials: []config.Credential{{Key: "fo-a"}, {Key: "fo-b"}}},
	}
	cfg.Keys = []config.Key{{Name: "all", Key: testKey}}
	if mutate != nil {
		mutate(cfg)
	}
	a := apptest.Start(t, cfg)
	return &gateway{base: "http://" + a.Addr(), mock: m, app: a}
}

// post sends body to path with the given headers (x-api-key by default).
func (g *gateway) post(t testing.TB, path string, header map[string]string, body any) *http.Response {
	t.Helper()
	b, err := json.Marshal(body)
	if err != nil {
		t.Fatal(err)
	}
	req, err := http.NewRequest(http.MethodPost, g.base+path, strings.NewReader(string(b)))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("x-api-key", testKey)
	for k, v := range header {
		if v == "" {
			req.Header.Del(k)
			continue
		}
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("POST %s: %v", path, err)
	}
	t.Cleanup(func() { resp.Body.Close() })
	return resp
}

// message is what a client assembled from an answer, stream or not.
type message struct {
	ID         string
	Model      string
	Text       string
	ToolID     string
	ToolName   string
	ToolInput  string
	StopReason string
	Input      int
	Output     int
	Events     []string
}

func readMessage(t testing.TB, resp *http.Response) message {
	t.Helper()
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(resp.Body)
		t.Fatalf("status %d: %s", resp.StatusCode, b)
	}
	var body struct {
		ID      string `json:"id"`
		Type    string `json:"type"`
		Role    string `json:"role"`
		Model   string `json:"model"`
		Content []struct {
			Type  string          `json:"type"`
			Text  string          `json:"text"`
			ID    string          `json:"id"`
			Name  string          `json:"name"`
			Input json.RawMessage `json:"input"`
		} `json:"content"`
		StopReason string `json:"stop_reason"`
		Usage      struct {
			InputTokens  int `json:"input_tokens"`
			OutputTokens int `json:"output_tokens"`
		} `json:"usage"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
		t.Fatalf("decode message: %v", err)
	}
	if body.Type != "message" || body.Role != "assistant" || !strings.HasPrefix(body.ID, "msg_") {
		t.Fatalf("not a Message: type %q role %q id %q", body.Type, body.Role, body.ID)
	}
	m := message{ID: body.ID, Model: body.Model, StopReason: body.StopReason,
		Input: body.Usage.InputTokens, Output: body.Usage.OutputTokens}
	for _, c := range body.Content {
		switch c.Type {
		case "text":
			m.Text += c.Text
		case "tool_use":
			m.ToolID, m.ToolName, m.ToolInput = c.ID, c.Name, string(c.Input)
		}
	}
	return m
}

// readStream assembles a Messages event stream, checking its grammar:
// message_start first, blocks opened, filled and closed in order,
// message_delta, then message_stop last.
func readStream(t testing.TB, resp *http.Response) message {
	t.Helper()
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(resp.Body)
		t.Fatalf("status %d: %s", resp.StatusCode, b)
	}
	if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "text/event-stream") {
		t.Fatalf("Content-Type %q", ct)
	}
	var m message
	open := -1
	rd := sse.NewReader(resp.Body, 0)
	for {
		ev, err := rd.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatalf("read stream: %v", err)
		}
		if ev.Name == "ping" {
			continue
		}
		var e struct {
			Type    string `json:"type"`
			Index   int    `json:"index"`
			Message *struct {
				ID    string `json:"id"`
				Model string `json:"model"`
				Usage struct {
					InputTokens int `json:"input_tokens"`
				} `json:"usage"`
			} `json:"message"`
			ContentBlock *struct {
				Type string `json:"type"`
				ID   string `json:"id"`
				Name string `json:"name"`
			} `json:"content_block"`
			Delta *struct {
				Type        string `json:"type"`
				Text        string `json:"text"`
				PartialJSON string `json:"partial_json"`
				StopReason  string `json:"stop_reason"`
			} `json:"delta"`
			Usage *struct {
				InputTokens  int `json:"input_tokens"`
				OutputTokens int `json:"output_tokens"`
			} `json:"usage"`
		}
		if err := json.Unmarshal(ev.Data, &e); err != nil {
			t.Fatalf("event %s is not JSON: %v: %.200s", ev.Name, err, ev.Data)
		}
		if e.Type != ev.Name {
			t.Fatalf("event name %q carries type %q", ev.Name, e.Type)
		}
		if len(m.Events) == 0 && e.Type != "message_start" {
			t.Fatalf("first event %q", e.Type)
		}
		if len(m.Events) > 0 && m.Events[len(m.Events)-1] == "message_stop" {
			t.Fatalf("event %q after message_stop", e.Type)
		}
		m.Events = append(m.Events, e.Type)
		switch e.Type {
		case "message_start":
			m.ID, m.Model, m.Input = e.Message.ID, e.Message.Model, e.Message.Usage.InputTokens
		case "content_block_start":
			if open >= 0 {
				t.Fatalf("block %d opened while %d is open", e.Index, open)
			}
			open = e.Index
			if e.ContentBlock.Type == "tool_use" {
				m.ToolID, m.ToolName = e.ContentBlock.ID, e.ContentBlock.Name
			}
		case "content_block_delta":
			if e.Index != open {
				t.Fatalf("delta for block %d while %d is open", e.Index, open)
			}
			m.Text += e.Delta.Text
			m.ToolInput += e.Delta.PartialJSON
		case "content_block_stop":
			if e.Index != open {
				t.Fatalf("stop for block %d while %d is open", e.Index, open)
			}
			open = -1
		case "message_delta":
			m.StopReason = e.Delta.StopReason
			if e.Usage != nil {
				m.Output = e.Usage.OutputTokens
				if e.Usage.InputTokens > 0 {
					m.Input = e.Usage.InputTokens
				}
			}
		case "error":
			t.Fatalf("error event: %s", ev.Data)
		}
	}
	if len(m.Events) == 0 || m.Events[len(m.Events)-1] != "message_stop" {
		t.Fatalf("stream did not end with message_stop: %v", m.Events)
	}
	return m
}

// errorType reads an Anthropic error body and returns error.type.
func errorType(t testing.TB, resp *http.Response) string {
	t.Helper()
	var body struct {
		Type  string `json:"type"`
		Error struct {
			Type    string `json:"type"`
			Message string `json:"message"`
		} `json:"error"`
	}
	b, _ := io.ReadAll(resp.Body)
	if err := json.Unmarshal(b, &body); err != nil || body.Type != "error" || body.Error.Message == "" {
		t.Fatalf("not an Anthropic error body (%v): %s", err, b)
	}
	return body.Error.Type
}
