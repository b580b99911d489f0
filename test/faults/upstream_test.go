package faults_test

import (
	"encoding/json"
	"fmt"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/switchyard/switchyard/internal/config"
	"github.com/switchyard/switchyard/internal/mock"
)

// Case 1: error bursts on one credential are failed over; on every
// credential they reach the client as the gateway's own error, at no cost.
func TestStatusBursts(t *testing.T) {
	for _, tc := range []struct {
		status int
		// what the client gets when every credential answers status
		want int
		code string
	}{
		{429, 429, "no_available_channel"},
		{500, 502, "upstream_error"},
		{502, 502, "upstream_error"},
		{503, 502, "upstream_error"},
	} {
		t.Run(fmt.Sprint(tc.status), func(t *testing.T) {
			n := startNode(t, nil)
			n.up.mock.SetFault("k1", mock.Fault{Status: tc.status, Times: 3})
			const burst = 4
			for i := range burst {
				if a := n.send("burst", i%2 == 1); a.status != 200 {
					t.Fatalf("request %d during a burst on k1: %d %s, want 200 via k2", i, a.status, a.body)
				}
			}
			if got := n.up.mock.Counters().Status[fmt.Sprint(tc.status)]; got == 0 {
				t.Fatalf("k1 never answered %d: the burst was not exercised", tc.status)
			}

			n.up.mock.SetFault("k1", mock.Fault{Status: tc.status})
			n.up.mock.SetFault("k2", mock.Fault{Status: tc.status})
			for _, stream := range []bool{false, true} {
				a := n.send("everything fails", stream)
				n.wantError(fmt.Sprintf("stream %v, every credential %d", stream, tc.status), a, tc.want, tc.code)
			}
			rows := n.settle(burst + 2)
			for _, r := range rows[:burst] {
				if r.Status != 200 || r.CostMicros <= 0 {
					t.Errorf("failed-over request logged with status %d cost %d", r.Status, r.CostMicros)
				}
			}
			for _, r := range rows[burst:] {
				n.wantFree(r, tc.want)
			}
			n.audit()
			n.checkLeaks()
		})
	}
}

// closedPort returns a loopback address nothing listens on.
func closedPort(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr
}

// Case 2: a channel whose upstream refuses connections.
func TestConnectRefused(t *testing.T) {
	const dead = "m-dead"
	n := startNode(t, func(cfg *config.Config) {
		cfg.Channels = append(cfg.Channels, config.Channel{Name: "dead", Type: "openai", BaseURL: "http://" + closedPort(t),
			Models: []string{dead}, Credentials: []config.Credential{{Key: "k3"}, {Key: "k4"}}})
		cfg.Pricing[dead] = config.Price{Input: 1, Output: 2}
	})
	for _, stream := range []bool{false, true} {
		a := n.sendFor(dead, "hello", stream)
		n.wantError(fmt.Sprintf("stream %v, connection refused", stream), a, 502, "upstream_error")
		if a.took > 2*time.Second {
			t.Errorf("stream %v: refused connections answered in %v, want fast", stream, a.took)
		}
	}
	for _, r := range n.settle(2) {
		n.wantFree(r, 502)
	}
	n.audit()
	n.checkLeaks()
}

// Case 3: an upstream slower to answer than upstream.first_byte_timeout.
func TestSlowFirstByte(t *testing.T) {
	const timeout = 300 * time.Millisecond
	n := startNode(t, func(cfg *config.Config) { cfg.Upstream.FirstByteTimeout = timeout })
	for _, stream := range []bool{false, true} {
		a := n.send("[[mock latency=5s]] are you there", stream)
		n.wantError(fmt.Sprintf("stream %v, first byte after 5s", stream), a, 502, "upstream_error")
		// Three attempts of 300 ms each, and some slack for -race.
		if a.took > 3*time.Second {
			t.Errorf("stream %v: answered in %v, want about 3 × %v", stream, a.took, timeout)
		}
	}
	for _, r := range n.settle(2) {
		n.wantFree(r, 502)
	}
	n.audit()
	n.checkLeaks()
}

// Case 4: a stream that stops mid-way for longer than
// upstream.stream_idle_timeout.
func TestStreamStall(t *testing.T) {
	const idle = 300 * time.Millisecond
	n := startNode(t, func(cfg *config.Config) { cfg.Upstream.StreamIdle = idle })
	// The role chunk and three pieces of text, then nothing for 10 s.
	n.up.stall(4, 10*time.Second)
	const chunks = 40
	a := n.send(fmt.Sprintf("[[mock chunks=%d]] tell me a story", chunks), true)
	if !a.aborted() {
		t.Fatalf("stalled stream: %d %s, want 200 ending with the abort event", a.status, a.body)
	}
	if a.took > 3*time.Second {
		t.Errorf("stalled stream ended after %v, want about %v", a.took, idle)
	}
	noGoError(t, "stalled stream", a.body)
	rows := n.settle(1)
	n.wantRelayedOnly(rows[0], 502, chunks)
	n.audit()
	n.checkLeaks()
}

// Case 5: the upstream connection is dropped mid-stream, or before any
// byte of the answer.
func TestConnectionDropped(t *testing.T) {
	t.Run("mid-stream", func(t *testing.T) {
		n := startNode(t, nil)
		const chunks = 40
		a := n.send(fmt.Sprintf("[[mock chunks=%d drop_after=6]] tell me a story", chunks), true)
		if !a.aborted() {
			t.Fatalf("dropped stream: %d %s, want 200 ending with the abort event", a.status, a.body)
		}
		noGoError(t, "dropped stream", a.body)
		rows := n.settle(1)
		n.wantRelayedOnly(rows[0], 502, chunks)
		n.audit()
		n.checkLeaks()
	})
	t.Run("before-any-byte", func(t *testing.T) {
		n := startNode(t, nil)
		for _, content := range []string{"[[mock hangup]] hello", "[[mock drop_after=1]] hello"} {
			for _, stream := range []bool{false, true} {
				if strings.Contains(content, "drop_after") && stream {
					continue // mid-stream, above
				}
				a := n.send(content, stream)
				n.wantError(fmt.Sprintf("%s stream %v", content, stream), a, 502, "upstream_error")
			}
		}
		for _, r := range n.settle(3) {
			n.wantFree(r, 502)
		}
		n.audit()
		n.checkLeaks()
	})
}

// Case 6: the upstream answers 200 with a body that does not parse.
func TestMalformedUpstream(t *testing.T) {
	t.Run("json", func(t *testing.T) {
		n := startNode(t, nil)
		a := n.send("[[mock malformed]] hello", false)
		n.wantError("truncated JSON body", a, 502, "upstream_error")
		n.wantFree(n.settle(1)[0], 502)
		n.audit()
		n.checkLeaks()
	})
	t.Run("sse", func(t *testing.T) {
		n := startNode(t, nil)
		// One corrupt data line after the first event (the role chunk):
		// the stream has committed, so the client must get the abort
		// event, and nothing was relayed that could be charged.
		a := n.send("[[mock malformed chunks=10]] hello", true)
		if a.status == 500 {
			t.Fatalf("malformed stream answered 500: %s", a.body)
		}
		noGoError(t, "malformed stream", a.body)
		var corrupt string
		for _, ev := range a.events() {
			if ev != "[DONE]" && !json.Valid([]byte(ev)) {
				corrupt = ev
			}
		}
		rows := n.settle(1)
		n.audit()
		n.checkLeaks()
		if corrupt != "" && strings.Contains(a.body, "[DONE]") {
			t.Fatalf("a corrupt upstream SSE data line was relayed (%.60q…) and the stream ended as complete "+
				"([DONE], usage status %d, cost %d) instead of with the abort event", corrupt, rows[0].Status, rows[0].CostMicros)
		}
		if !a.aborted() {
			t.Fatalf("malformed stream: %d %s, want 200 ending with the abort event", a.status, a.body)
		}
		n.wantFree(rows[0], 502)
	})
}
