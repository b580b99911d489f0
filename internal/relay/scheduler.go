package relay

import (
	"context"
	"errors"
	"net/http"
	"time"

	"github.com/switchyard/switchyard/internal/config"
)

// Scheduler chooses the target of each attempt. internal/pool implements
// it; the relay only asks for the next target and reports how it went.
type Scheduler interface {
	// Pick leases a target for q. It returns ErrNoRoute when no enabled
	// channel serves the model, ErrGroupDenied when channels serve it but
	// none to q.Group, *NoTargetError when every candidate is resting or
	// already tried, and another error when the scheduler itself failed.
	Pick(ctx context.Context, q *PickQuery) (Lease, error)
	// Models lists, sorted, every model some enabled channel serves to
	// group ("" is the default group): what a key of that group may be
	// routed to.
	Models(group string) []string
	// ServesModel reports whether some enabled channel serves model, by
	// name or pattern, to group.
	ServesModel(model, group string) bool
	// ChannelTypes lists the types of the enabled channels serving model.
	ChannelTypes(model string) []string
}

// PickQuery is one request for a target.
type PickQuery struct {
	Model string
	Group string
	// Accept filters channel types (an exchange that needs a passthrough
	// to one upstream type); nil accepts all.
	Accept func(channelType string) bool
	// Exclude lists the credential ids already tried by this request.
	Exclude []int64
	// PinChannel and PinCredential force a route (admin keys testing an
	// account): the model and group rules are skipped, and for a pinned
	// credential its health too.
	PinChannel    string
	PinCredential int64
}

// Lease is a target held for one attempt. Done must be called exactly once.
type Lease interface {
	Target() *Target
	// Done releases the lease with what the attempt taught. It reports
	// whether the same credential may be tried again at once (an OAuth
	// token refreshed after a 401); the relay then does not exclude it.
	Done(ctx context.Context, o Outcome) (again bool)
}

// Outcome is the raw result of one attempt; the scheduler classifies it.
type Outcome struct {
	Status     int           // upstream HTTP status; 0 when none was received
	RetryAfter time.Duration // from the upstream's Retry-After headers
	ClientGone bool          // the client went away: nothing learned
	Committed  bool          // the answer (or part of it) reached the client
	TTFB       time.Duration // time to the upstream's response headers, on success
	Model      string        // the model the client asked for (pricing)
	Usage      Usage
	Err        string // what went wrong, for last_error; "" on success
	// Upstream is the error object of a non-2xx answer (the credential's
	// value removed), from which the scheduler tells a refused credential
	// from a refused request.
	Upstream UpstreamError
}

// Target is one (channel, credential) pair an attempt goes to.
type Target struct {
	Channel *config.Channel
	// CredentialID is the credential's database id.
	CredentialID int64
	secret       string
	client       *http.Client
}

// NewTarget builds a target; client carries the credential's proxy.
func NewTarget(ch *config.Channel, credID int64, secret string, client *http.Client) *Target {
	return &Target{Channel: ch, CredentialID: credID, secret: secret, client: client}
}

// Secret is the credential's value (an API key or an access token).
func (t *Target) Secret() string { return t.secret }

// Client is the HTTP client for this target (the credential's proxy).
func (t *Target) Client() *http.Client { return t.client }

// ErrNoRoute: no enabled channel serves the model.
var ErrNoRoute = errors.New("no channel serves this model")

// ErrGroupDenied: channels serve the model, but none to the caller's group.
var ErrGroupDenied = errors.New("no channel serves this model to the caller's group")

// NoTargetError: channels serve the model but no credential can take the
// request now (cooling down, resting, disabled, open circuit, or tried).
type NoTargetError struct {
	RetryAt time.Time // earliest time one becomes usable; zero if unknown
	// RateLimited is set when some credential rests only until a rate
	// limit passes (a 429 cooldown, min_interval), rather than being
	// disabled or behind an open circuit: the client is told to wait (429)
	// instead of that the service is unavailable (503).
	RateLimited bool
}

func (e *NoTargetError) Error() string { return "no credential can take the request now" }
