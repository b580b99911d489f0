package relay

import (
	"cmp"
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"

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
	// SignedReasoning: the inbound surface carries signed reasoning back
	// to its client (Messages thinking signatures, Responses reasoning
	// items), so an adapter that has it puts it into the pivot's
	// reasoning_blocks and reasoning_signature; chat clients never see them.
	SignedReasoning bool
	Route           Route
	Estimate        Estimate // for the Meter's reservation
	// Admission is the handler's deferred admission (ExchangeCall's).
	Admission Admission
}

// Usage is what the upstream reported for one request.
type Usage struct {
	PromptTokens     int
	CompletionTokens int
	CachedTokens     int
	ReasoningTokens  int
	// Images is the number of images delivered (image endpoints); the
	// relay copies it to Result.Images.
	Images int
	// WebSearches is the number of web searches the upstream ran and
	// bills (Anthropic's web search server tool).
	WebSearches int
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
	Group     string
	Channel   string // "" when no upstream was reached
	// Credential is the database id of the last credential tried, 0 if none.
	Credential int64
	Stream     bool
	Status     int // what the client got; 499 when it went away mid-stream
	Usage      Usage
	// Images is the number of images returned (image endpoints).
	Images int
	// Relayed is set when some of the answer reached the client: the
	// non-stream body was written or the stream committed.
	Relayed bool
	// Cost is the micro-USD charged and Charge the id of the charge's
	// ledger rows, both set by the Meter's Hold.
	Cost     int64
	Charge   string
	Attempts int
	// Failovers holds every attempt that failed, in order: those followed
	// by another and, when the request failed, the last. It stays nil for
	// a request served by its first attempt, the common case, so that
	// case allocates nothing for it.
	Failovers []Attempt
	// LastStart is when the last attempt began, counted from the start
	// of the request.
	LastStart time.Duration
	TTFB      time.Duration
	Duration  time.Duration
	Err       error // nil on success

	attemptTTFB time.Duration   // of the last attempt alone, for the scheduler's latency average
	hold        Hold            // the Meter's reservation, until settled
	counted     bool            // OnCounted has run
	adm         Admission       // the call's, for its TokenCharger
	lease       Lease           // of the current attempt
	released    bool            // the lease was ended with the settle (settleAll)
	detached    context.Context // the request's context detached (detachOnce)
	// contentLength holds a non-stream answer's Content-Length header value.
	contentLength [1]string
}

// detachOnce is detach(ctx), made once per request: the settle and the
// request's end both need it.
func (res *Result) detachOnce(ctx context.Context) context.Context {
	if res.detached == nil {
		res.detached = detach(ctx)
	}
	return res.detached
}

// Attempt is one upstream attempt that failed: the routing story of a
// request that failed over.
type Attempt struct {
	Channel    string
	Credential int64
	Status     int           // the upstream's HTTP status; 0 when none came back
	Start      time.Duration // since the start of the request
	Latency    time.Duration // from its start to its failure
	Reason     string        // why it failed ("upstream status 429: Too Many Requests")
}

// String is the attempt as the access log shows it.
func (a Attempt) String() string {
	return "channel " + a.Channel + " credential " + strconv.FormatInt(a.Credential, 10) + ": " + a.Reason
}

// Route is the request's every attempt in order: the failed ones and,
// when the last attempt answered, that one with the request's status and
// no reason. It is empty when no upstream was reached.
func (r *Result) Route() []Attempt {
	out := make([]Attempt, 0, r.Attempts)
	out = append(out, r.Failovers...)
	if len(r.Failovers) < r.Attempts {
		out = append(out, Attempt{Channel: r.Channel, Credential: r.Credential, Status: r.Status,
			Start: r.LastStart, Latency: max(r.Duration-r.LastStart, 0)})
	}
	return out
}

// DefaultMaxResponse is ten 4K images in base64 with room to spare; a
// larger non-stream answer is an upstream fault, not something to buffer.
const DefaultMaxResponse = 256 << 20

// Options configures a Relay.
type Options struct {
	Logger    *slog.Logger
	Pool      Scheduler
	Scheduler config.Scheduler
	Upstream  config.Upstream
	Adapters  map[string]ChatAdapter // by channel type
	Metrics   *Metrics               // nil: no relay metrics
	// Meter reserves each request's cost before its first attempt and
	// settles it; nil means no billing.
	Meter Meter
	// OnDone receives every request's Result once it is over, with a
	// context that carries the request's values but is not cancelled when
	// the client goes away (it may have its whole answer already).
	OnDone func(ctx context.Context, r Result)
	// OnCounted receives a request's Result once its usage is final, with
	// the settle: before a complete answer's last bytes reach the client,
	// or when the request ends. The gateway charges the key's token limits
	// there, so that a client with its answer cannot send the next request
	// before this one's tokens count. Same context as OnDone.
	// A request whose Admission is a TokenCharger charges its tokens
	// through it instead, in the settle's script batch.
	OnCounted func(ctx context.Context, r Result)
	// InFlight, when set, is called with +1 as a request starts and -1
	// as it ends, always paired, with the request's context: the
	// console's live view counts requests in flight with it.
	InFlight   func(ctx context.Context, delta int)
	MaxSSELine int // longest upstream SSE line; 0 → sse.DefaultMaxLine
	// MaxResponse caps a non-stream upstream answer, which is read whole
	// to be translated; 0 → DefaultMaxResponse.
	MaxResponse int64
	// Redis, when set, is the client that runs a request's admission,
	// reservation and first lease as one script call (a luabatch), if the
	// Meter and the Pool can queue theirs (pipeline.go).
	Redis redis.UniversalClient
}

// Relay is the chat pipeline.
type Relay struct {
	log         *slog.Logger
	sched       Scheduler
	adapters    map[string]ChatAdapter
	maxAttempts int
	cooldown429 time.Duration // the scheduler's rest after a 429 without Retry-After
	streamIdle  time.Duration
	metrics     *Metrics
	meter       Meter
	rdb         redis.UniversalClient // nil: no pipelining
	pmeter      PipelineMeter         // meter, when it pipelines
	psched      PipelineScheduler     // sched, when it pipelines
	pipes       sync.Pool             // of *luabatch.Batch, empty
	onDone      func(context.Context, Result)
	onCounted   func(context.Context, Result)
	inFlight    func(context.Context, int)
	maxLine     int
	maxResponse int64
	// reportsUsage remembers, per channel name, whether its last stream
	// reported usage; such channels skip exact counting (see usage.go).
	reportsUsage *usageMemo
}

// New builds a Relay; it fails on a channel type without an adapter.
func New(opts Options) (*Relay, error) {
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.Pool == nil {
		return nil, fmt.Errorf("relay: no scheduler")
	}
	r := &Relay{
		log: opts.Logger, sched: opts.Pool, adapters: opts.Adapters,
		maxAttempts: opts.Scheduler.MaxAttempts, cooldown429: opts.Scheduler.Cooldown429, streamIdle: opts.Upstream.StreamIdle,
		metrics: opts.Metrics, meter: opts.Meter, onDone: opts.OnDone, onCounted: opts.OnCounted, inFlight: opts.InFlight,
		maxLine:      opts.MaxSSELine,
		maxResponse:  cmp.Or(opts.MaxResponse, DefaultMaxResponse),
		reportsUsage: &usageMemo{},
	}
	if r.maxAttempts <= 0 {
		r.maxAttempts = 3
	}
	if opts.Redis != nil {
		pm, mok := opts.Meter.(PipelineMeter)
		ps, sok := opts.Pool.(PipelineScheduler)
		if mok && pm.Pipelines() {
			r.pmeter = pm
		}
		if sok && ps.Pipelines() && (opts.Meter == nil || r.pmeter != nil) {
			r.rdb, r.psched = opts.Redis, ps
		}
	}
	return r, nil
}

// HasModel reports whether any enabled channel serves model.
func (r *Relay) HasModel(model string) bool { return len(r.sched.ChannelTypes(model)) > 0 }

// Models lists, sorted, every model some enabled channel serves to group.
func (r *Relay) Models(group string) []string { return r.sched.Models(group) }

// ServesModel reports whether some enabled channel serves model to group.
func (r *Relay) ServesModel(model, group string) bool { return r.sched.ServesModel(model, group) }

// ChannelTypes lists the types of the enabled channels serving model;
// handlers use it to pick a local answer when no channel of the needed type
// serves the model.
func (r *Relay) ChannelTypes(model string) []string { return r.sched.ChannelTypes(model) }

// attemptError is one failed attempt, classified.
type attemptError struct {
	status     int // upstream status, 0 for a transport error
	retryAfter time.Duration
	// upstream is the upstream's error object with the credential's value
	// removed, for the log and the scheduler; client is the same scrubbed
	// for the client (see ScrubUpstreamText), shown only for 4xx client
	// errors.
	upstream, client UpstreamError
	err              error
	answered         bool // the exchange answered the client itself (LocalFallback)
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
		// The upstream's type, code and param pass as they are (they are
		// identifiers), its message scrubbed.
		c := e.client
		ae := apierror.InvalidRequest(cmp.Or(c.Message, "The upstream provider rejected the request."), c.Param)
		ae.Type, ae.Code = cmp.Or(c.Type, ae.Type), cmp.Or(c.Code, ae.Code)
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
//
// The relay works on its own copy of call (attempts set UpstreamModel),
// held with the exchange and its state in one allocation; the caller's
// stays its own.
func (r *Relay) Chat(ctx context.Context, w http.ResponseWriter, call *ChatCall) error {
	c := &chatCall{chat: *call}
	c.x = chatExchange{call: &c.chat, adapters: r.adapters, reportsUsage: r.reportsUsage}
	c.ex = ExchangeCall{RequestID: call.RequestID, Model: call.Model, Stream: call.Stream,
		Route: call.Route, Estimate: call.Estimate, Admission: call.Admission}
	return r.exchange(ctx, w, &c.ex, &c.x, &c.st)
}

// chatCall is what Chat hands to Exchange.
type chatCall struct {
	chat ChatCall
	x    chatExchange
	ex   ExchangeCall
	st   exchangeState
}

// chatExchange adapts the per-channel-type ChatAdapter to Exchange.
type chatExchange struct {
	call         *ChatCall
	adapters     map[string]ChatAdapter // by channel type
	reportsUsage *usageMemo
}

func (x *chatExchange) Accepts(string) bool { return true }

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
	c.learned = x.reportsUsage.of(t.Channel.Name)
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

// done ends a request: it settles the hold unless the answer already did,
// then reports the result.
func (r *Relay) done(ctx context.Context, res *Result, start time.Time) {
	res.Duration = time.Since(start)
	r.settle(ctx, res)
	res.Duration = time.Since(start)
	r.metrics.done(res)
	if r.log.Enabled(ctx, slog.LevelDebug) {
		r.log.LogAttrs(ctx, slog.LevelDebug, "relay done",
			slog.String("request_id", res.RequestID), slog.String("model", res.Model),
			slog.String("channel", res.Channel), slog.Int64("credential", res.Credential), slog.Int("status", res.Status),
			slog.Int("attempts", res.Attempts), slog.Bool("stream", res.Stream),
			slog.Int("prompt_tokens", res.Usage.PromptTokens),
			slog.Int("completion_tokens", res.Usage.CompletionTokens),
			slog.Int("cached_tokens", res.Usage.CachedTokens),
			slog.Int("reasoning_tokens", res.Usage.ReasoningTokens),
			slog.Duration("ttfb", res.TTFB), slog.Duration("duration", res.Duration))
	}
	if r.onDone != nil {
		r.onDone(res.detachOnce(ctx), *res)
	}
}

func upstreamModel(ch *config.Channel, model string) string { return ch.UpstreamModel(model) }

// usageMemo holds, per channel name, whether the channel's last stream
// reported usage. Channels come and go with the pool, so cells are created
// on first use.
type usageMemo struct{ m sync.Map } // channel name → *atomic.Bool

func (u *usageMemo) of(channel string) *atomic.Bool {
	if v, ok := u.m.Load(channel); ok {
		return v.(*atomic.Bool)
	}
	v, _ := u.m.LoadOrStore(channel, new(atomic.Bool))
	return v.(*atomic.Bool)
}
