package relay

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"sync/atomic"
	"time"

	"github.com/switchyard/switchyard/internal/apierror"
	"github.com/switchyard/switchyard/internal/config"
	"github.com/switchyard/switchyard/internal/sse"
)

// ChatCall is one client chat completion request in OpenAI shape.
type ChatCall struct {
	RequestID     string
	Body          []byte // the client's raw JSON body; adapters must not modify it
	Model         string // the model the client asked for; answers carry this name
	UpstreamModel string // after the channel's model_map; set per attempt
	Stream        bool
	IncludeUsage  bool // the client asked for stream_options.include_usage
}

// Target is one (channel, credential) pair an attempt goes to.
type Target struct {
	Channel   *config.Channel
	Cred      *config.Credential
	CredIndex int
	client    *http.Client
}

// Secret is the credential's value (an API key or an access token).
func (t *Target) Secret() string {
	if t.Cred.Key != "" {
		return t.Cred.Key.Value()
	}
	return t.Cred.AccessToken.Value()
}

// Usage is what the upstream reported for one request.
type Usage struct {
	PromptTokens     int
	CompletionTokens int
	CachedTokens     int
	ReasoningTokens  int
	// Estimated is set when the upstream reported no usage and the relay
	// counted the tokens itself (see usage.go).
	Estimated bool
}

// ChatAdapter speaks one upstream type for chat completions.
type ChatAdapter interface {
	// NewChatRequest builds the upstream request for call on t. An error
	// for which provider.IsClientError holds is the client's to fix.
	NewChatRequest(ctx context.Context, t *Target, call *ChatCall) (*http.Request, error)
	// ChatResponse turns a 2xx non-stream upstream body into OpenAI chat
	// completion JSON carrying call.Model.
	ChatResponse(body []byte, call *ChatCall) ([]byte, Usage, error)
	// NewChatStream returns the translator for one 2xx stream.
	NewChatStream(call *ChatCall) ChatStream
}

// ChatStream turns upstream stream events into OpenAI chunk payloads.
type ChatStream interface {
	// Feed handles one upstream event; emit gets each chunk's JSON, valid
	// only during the call.
	Feed(ev sse.Event, emit func(data []byte) error) error
	// Finish is called at the end of the upstream stream; an error means
	// the stream was truncated.
	Finish(emit func(data []byte) error) error
	Usage() Usage
}

// Result describes a finished request, for billing and logs.
type Result struct {
	RequestID string
	Model     string // as the client asked
	Upstream  string // model name sent upstream
	Channel   string // "" when no upstream was reached
	CredIndex int
	Stream    bool
	Status    int // what the client got; 499 when it went away mid-stream
	Usage     Usage
	Attempts  int
	TTFB      time.Duration
	Duration  time.Duration
	Err       error // nil on success
}

// Options configures a Relay.
type Options struct {
	Logger      *slog.Logger
	Channels    []config.Channel
	Scheduler   config.Scheduler
	Upstream    config.Upstream
	Adapters    map[string]ChatAdapter // by channel type
	Metrics     *Metrics               // nil: no relay metrics
	OnDone      func(ctx context.Context, r Result)
	MaxSSELine  int // longest upstream SSE line; 0 → sse.DefaultMaxLine
	transportFn func(proxy string) (*http.Client, error)
}

// Relay is the chat pipeline.
type Relay struct {
	log         *slog.Logger
	router      *Router
	adapters    map[string]ChatAdapter
	maxAttempts int
	streamIdle  time.Duration
	metrics     *Metrics
	onDone      func(context.Context, Result)
	maxLine     int
	// reportsUsage remembers, per channel name, whether its last stream
	// reported usage; such channels skip exact counting (see usage.go).
	reportsUsage map[string]*atomic.Bool
}

// New builds a Relay; it fails on a channel whose type has no adapter or
// whose proxy URL is invalid.
func New(opts Options) (*Relay, error) {
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	transports := NewTransports(opts.Upstream)
	rt, err := NewRouter(opts.Channels, transports)
	if err != nil {
		return nil, err
	}
	for _, ch := range opts.Channels {
		if _, ok := opts.Adapters[ch.Type]; !ok && !ch.Disabled {
			return nil, fmt.Errorf("channel %s: no adapter for type %q", ch.Name, ch.Type)
		}
	}
	r := &Relay{
		log: opts.Logger, router: rt, adapters: opts.Adapters,
		maxAttempts: opts.Scheduler.MaxAttempts, streamIdle: opts.Upstream.StreamIdle,
		metrics: opts.Metrics, onDone: opts.OnDone, maxLine: opts.MaxSSELine,
	}
	r.reportsUsage = make(map[string]*atomic.Bool, len(opts.Channels))
	for _, ch := range opts.Channels {
		r.reportsUsage[ch.Name] = new(atomic.Bool)
	}
	if r.maxAttempts <= 0 {
		r.maxAttempts = 3
	}
	return r, nil
}

// HasModel reports whether any enabled channel serves model.
func (r *Relay) HasModel(model string) bool { return r.router.Has(model) }

// Models lists every model some enabled channel serves, sorted.
func (r *Relay) Models() []string { return r.router.Models() }

// attemptError is one failed attempt, classified.
type attemptError struct {
	status     int // upstream status, 0 for a transport error
	retryAfter time.Duration
	msg        string // upstream's error message, only shown for 4xx client errors
	err        error
}

func (e *attemptError) Error() string {
	if e.status != 0 {
		return fmt.Sprintf("upstream status %d: %v", e.status, e.err)
	}
	return e.err.Error()
}

// retryable reports whether another target may succeed where this failed.
func (e *attemptError) retryable() bool {
	switch {
	case e.status == 0, e.status == http.StatusUnauthorized, e.status == http.StatusForbidden,
		e.status == http.StatusNotFound, e.status == http.StatusRequestTimeout,
		e.status == http.StatusTooManyRequests, e.status >= 500:
		return true
	}
	return false
}

// clientError maps the last failure to what the client sees.
func (e *attemptError) clientError(saw429 bool, retryAfter time.Duration) *apierror.Error {
	switch {
	case !e.retryable():
		msg := e.msg
		if msg == "" {
			msg = "The upstream provider rejected the request."
		}
		ae := apierror.InvalidRequest(msg, "")
		if e.status != 0 && e.status < 500 {
			ae.Status = e.status
		}
		return ae
	case e.status == http.StatusTooManyRequests || saw429:
		return apierror.NoAvailableChannel(retryAfter)
	}
	return apierror.UpstreamError("")
}

// Chat serves one chat completion. It writes the answer to w and returns
// nil, or returns an error (an *apierror.Error in its chain) when nothing
// was written, for the caller to answer in its own shape. It is the
// Exchange loop with the chat adapters as the translators.
func (r *Relay) Chat(ctx context.Context, w http.ResponseWriter, call *ChatCall) error {
	x := &chatExchange{call: call, adapters: r.adapters, reportsUsage: r.reportsUsage}
	return r.Exchange(ctx, w, &ExchangeCall{RequestID: call.RequestID, Model: call.Model, Stream: call.Stream}, x)
}

// chatExchange adapts the per-channel-type ChatAdapter to Exchange.
type chatExchange struct {
	call         *ChatCall
	adapters     map[string]ChatAdapter // by channel type
	reportsUsage map[string]*atomic.Bool
}

func (x *chatExchange) Accepts(*Target) bool { return true }

func (x *chatExchange) NewRequest(ctx context.Context, t *Target, adapter ChatAdapter, upstreamModel string) (*http.Request, error) {
	x.call.UpstreamModel = upstreamModel
	return adapter.NewChatRequest(ctx, t, x.call)
}

func (x *chatExchange) Response(t *Target, body []byte) ([]byte, Usage, error) {
	out, u, err := x.adapter(t).ChatResponse(body, x.call)
	if err == nil && u.unreported() {
		out, u = estimateChatResponse(out, x.call)
	}
	return out, u, err
}

func (x *chatExchange) NewStream(t *Target) EventStream {
	c := newCountingChat(x.adapter(t).NewChatStream(x.call), x.call)
	c.learned = x.reportsUsage[t.Channel.Name]
	c.cheap = c.learned != nil && c.learned.Load()
	return c
}

func (x *chatExchange) adapter(t *Target) ChatAdapter { return x.adapters[t.Channel.Type] }

// chatEvents writes chat chunks as unnamed events and ends a complete
// stream with OpenAI's [DONE] marker.
type chatEvents struct{ st ChatStream }

var doneMarker = []byte("[DONE]")

func (c chatEvents) Feed(ev sse.Event, emit func(string, []byte) error) error {
	return c.st.Feed(ev, func(d []byte) error { return emit("", d) })
}

func (c chatEvents) Finish(emit func(string, []byte) error) error {
	if err := c.st.Finish(func(d []byte) error { return emit("", d) }); err != nil {
		return err
	}
	return emit("", doneMarker)
}

func (c chatEvents) Usage() Usage { return c.st.Usage() }

// Abort is the event sent when a committed stream cannot finish: the OpenAI
// SDKs raise an error for a data payload carrying "error".
func (c chatEvents) Abort() (string, []byte) { return "", streamAbort }

var streamAbort = []byte(`{"error":{"message":"The upstream stream ended unexpectedly.","type":"upstream_error","code":"upstream_error"}}`)

func (r *Relay) done(ctx context.Context, res *Result, start time.Time) {
	res.Duration = time.Since(start)
	r.metrics.done(res)
	if r.log.Enabled(ctx, slog.LevelDebug) {
		r.log.LogAttrs(ctx, slog.LevelDebug, "relay done",
			slog.String("request_id", res.RequestID), slog.String("model", res.Model),
			slog.String("channel", res.Channel), slog.Int("status", res.Status),
			slog.Int("attempts", res.Attempts), slog.Bool("stream", res.Stream),
			slog.Int("prompt_tokens", res.Usage.PromptTokens),
			slog.Int("completion_tokens", res.Usage.CompletionTokens),
			slog.Int("cached_tokens", res.Usage.CachedTokens),
			slog.Int("reasoning_tokens", res.Usage.ReasoningTokens),
			slog.Duration("ttfb", res.TTFB), slog.Duration("duration", res.Duration))
	}
	if r.onDone != nil {
		r.onDone(ctx, *res)
	}
}

// upstreamFailure reads a non-2xx answer into an attemptError, keeping the
// upstream's message (OpenAI, Azure, Anthropic and Gemini all use
// {"error":{"message":…}}) to pass on for a client error.
func upstreamFailure(resp *http.Response) *attemptError {
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	e := &attemptError{status: resp.StatusCode, retryAfter: parseRetryAfter(resp.Header),
		err: fmt.Errorf("%s", http.StatusText(resp.StatusCode))}
	e.msg = errorMessage(b)
	return e
}

func upstreamModel(ch *config.Channel, model string) string {
	if m, ok := ch.ModelMap[model]; ok && m != "" {
		return m
	}
	return model
}
