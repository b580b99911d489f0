package relay

import (
	"context"
	"fmt"
	"io"
	"strconv"

	"github.com/switchyard/switchyard/internal/jsonw"
)

// ProbeError is a probe the upstream answered with a non-2xx status (0: it
// did not answer at all).
type ProbeError struct {
	Status int
	// Upstream is the upstream's error object (the credential's value
	// removed), for telling a refused credential from a refused request.
	Upstream UpstreamError
	Err      error
}

func (e *ProbeError) Error() string {
	if e.Status == 0 {
		return "probe: " + e.Err.Error()
	}
	return "probe: upstream status " + strconv.Itoa(e.Status) + ": " + e.Err.Error()
}

func (e *ProbeError) Unwrap() error { return e.Err }

// Probe sends the smallest useful chat request for model (one user word,
// max_tokens 1) to t through its channel's adapter, and returns nil when the
// upstream accepts it. The scheduler's periodic test uses it to revive a
// disabled credential; it is a real request so that it proves what traffic
// needs (auth, model access), at the cost of a token or two.
func (r *Relay) Probe(ctx context.Context, t *Target, model string) error {
	adapter := r.adapters[t.Channel.Type]
	if adapter == nil {
		return &ProbeError{Err: fmt.Errorf("no adapter for channel type %q", t.Channel.Type)}
	}
	body := jsonw.String([]byte(`{"model":`), model)
	body = append(body, `,"messages":[{"role":"user","content":"ping"}],"max_tokens":1}`...)
	call := &ChatCall{RequestID: "probe", Body: body, Model: model, UpstreamModel: upstreamModel(t.Channel, model)}
	req, err := adapter.NewChatRequest(ctx, t, call)
	if err != nil {
		return &ProbeError{Err: fmt.Errorf("build probe request: %w", err)}
	}
	resp, err := send(t.client, req)
	if err != nil {
		return &ProbeError{Err: err}
	}
	defer resp.Body.Close()
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		f := upstreamFailure(resp, t, adapter)
		if f.upstream.Message != "" {
			f.err = fmt.Errorf("%s", f.upstream.Message)
		}
		return &ProbeError{Status: f.status, Upstream: f.upstream, Err: f.err}
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<20))
	return nil
}
