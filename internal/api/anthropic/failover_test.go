package anthropic_test

import (
	"encoding/json"
	"errors"
	"io"
	"testing"

	"github.com/switchyard/switchyard/internal/mock"
	"github.com/switchyard/switchyard/internal/sse"
)

func TestMessagesFailoverAndErrors(t *testing.T) {
	cases := []struct {
		name       string
		faultA     mock.Fault
		faultB     mock.Fault
		stream     bool
		wantStatus int
		wantType   string
	}{
		{"500 fails over", mock.Fault{Status: 500}, mock.Fault{}, false, 200, ""},
		{"500 fails over stream", mock.Fault{Status: 500}, mock.Fault{}, true, 200, ""},
		{"hangup fails over", mock.Fault{Hangup: true}, mock.Fault{}, true, 200, ""},
		{"all 429", mock.Fault{Status: 429, RetryAfter: 7}, mock.Fault{Status: 429, RetryAfter: 3}, false, 429, "rate_limit_error"},
		{"400 not retried", mock.Fault{Status: 400}, mock.Fault{Status: 400}, false, 400, "invalid_request_error"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			g := startGateway(t, nil)
			g.mock.SetFault("fo-a", c.faultA)
			g.mock.SetFault("fo-b", c.faultB)
			req := map[string]any{"model": "claude-failover", "max_tokens": 16, "stream": c.stream,
				"messages": []any{map[string]any{"role": "user", "content": "hi"}}}
			for i := range 2 { // round robin: one of the two starts on fo-a
				resp := g.post(t, "/v1/messages", nil, req)
				if resp.StatusCode != c.wantStatus {
					t.Fatalf("request %d: status %d, want %d", i, resp.StatusCode, c.wantStatus)
				}
				if c.wantStatus == 200 {
					if m := read(t, resp, c.stream); m.Model != "claude-failover" || m.Text == "" {
						t.Fatalf("request %d: %+v", i, m)
					}
					continue
				}
				if typ := errorType(t, resp); typ != c.wantType {
					t.Fatalf("error type %q, want %q", typ, c.wantType)
				}
				// Rate limited everywhere: wait for the first credential back
				// (fo-b's 3 s), on the request that met the 429s and the next.
				if c.wantStatus == 429 && (resp.Header.Get("Retry-After") != "3" || resp.Header.Get("X-Should-Retry") != "true") {
					t.Fatalf("request %d: headers %v", i, resp.Header)
				}
			}
			if n := g.mock.Counters().ByCredential["fo-a"]; n < 1 {
				t.Fatalf("the faulty credential was never tried (%d)", n)
			}
		})
	}
}

// A stream that broke after its first event reached the client is not
// retried; the client gets an Anthropic error event instead of message_stop.
func TestMessagesStreamDroppedNotRetried(t *testing.T) {
	for _, model := range []string{"claude-failover", "gpt-4o-mini"} {
		t.Run(model, func(t *testing.T) {
			g := startGateway(t, nil)
			req := map[string]any{"model": model, "max_tokens": 16, "stream": true,
				"messages": []any{map[string]any{"role": "user", "content": "hi [[mock drop_after=4]]"}}}
			resp := g.post(t, "/v1/messages", nil, req)
			if resp.StatusCode != 200 {
				t.Fatalf("status %d", resp.StatusCode)
			}
			var names []string
			rd := sse.NewReader(resp.Body, 0)
			for {
				ev, err := rd.Next()
				if errors.Is(err, io.EOF) {
					break
				}
				if err != nil {
					t.Fatalf("read: %v", err)
				}
				names = append(names, ev.Name)
				if ev.Name == "error" {
					var e struct {
						Type  string                `json:"type"`
						Error struct{ Type string } `json:"error"`
					}
					if err := json.Unmarshal(ev.Data, &e); err != nil || e.Type != "error" || e.Error.Type == "" {
						t.Fatalf("error event %s: %v", ev.Data, err)
					}
				}
			}
			if len(names) < 2 || names[0] != "message_start" || names[len(names)-1] != "error" {
				t.Fatalf("events %v", names)
			}
			if c := g.mock.Counters(); c.Total != 1 {
				t.Fatalf("upstream attempts %d, want 1", c.Total)
			}
		})
	}
}
