package relay

import (
	"testing"
	"time"
)

func TestResultRoute(t *testing.T) {
	failed := Attempt{Channel: "main", Credential: 1, Status: 503, Start: 0, Latency: 20 * time.Millisecond,
		Reason: "upstream status 503: Service Unavailable"}
	for _, c := range []struct {
		name string
		res  Result
		want []Attempt
	}{
		{"no upstream reached", Result{Status: 404}, []Attempt{}},
		{"first attempt answered", Result{Attempts: 1, Channel: "main", Credential: 2, Status: 200, Duration: time.Second},
			[]Attempt{{Channel: "main", Credential: 2, Status: 200, Latency: time.Second}}},
		{"failed over", Result{Attempts: 2, Channel: "main", Credential: 2, Status: 200, Failovers: []Attempt{failed},
			LastStart: 25 * time.Millisecond, Duration: 125 * time.Millisecond},
			[]Attempt{failed, {Channel: "main", Credential: 2, Status: 200, Start: 25 * time.Millisecond, Latency: 100 * time.Millisecond}}},
		{"every attempt failed", Result{Attempts: 1, Channel: "main", Credential: 1, Status: 502, Failovers: []Attempt{failed}},
			[]Attempt{failed}},
	} {
		got := c.res.Route()
		if len(got) != len(c.want) {
			t.Errorf("%s: %+v, want %+v", c.name, got, c.want)
			continue
		}
		for i := range got {
			if got[i] != c.want[i] {
				t.Errorf("%s: attempt %d %+v, want %+v", c.name, i, got[i], c.want[i])
			}
		}
	}
	if s := failed.String(); s != "channel main credential 1: upstream status 503: Service Unavailable" {
		t.Errorf("access log form %q", s)
	}
}
