package images

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	mrand "math/rand/v2"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/switchyard/switchyard/internal/netguard"
)

// Headers of a task-completion callback.
const (
	// SignatureHeader carries "t=<unix seconds>,v1=<hex HMAC-SHA256>".
	SignatureHeader = "X-Switchyard-Signature"
	// DeliveryHeader carries an id that stays the same across the retries
	// of one delivery, so a receiver can drop duplicates.
	DeliveryHeader = "X-Switchyard-Delivery"
)

// DefaultWebhookTolerance is how far a signature's timestamp may be from
// the receiver's clock when VerifyWebhook is given no tolerance.
const DefaultWebhookTolerance = 5 * time.Minute

var (
	// ErrWebhookSignature is wrapped by VerifyWebhook when the header is
	// malformed or no v1 signature matches.
	ErrWebhookSignature = errors.New("webhook signature does not match")
	// ErrWebhookStale is wrapped by VerifyWebhook when the signature is
	// genuine but its timestamp is outside the tolerance (a replay).
	ErrWebhookStale = errors.New("webhook timestamp outside tolerance")
)

// SignWebhook returns the SignatureHeader value for body sent at t:
//
//	t=<unix seconds>,v1=<hex(HMAC-SHA256(secret, "<unix seconds>." + body))>
//
// The timestamp is inside the MAC so a captured delivery cannot be
// replayed later with a fresh one.
func SignWebhook(secret []byte, t time.Time, body []byte) string {
	ts := strconv.FormatInt(t.Unix(), 10)
	return "t=" + ts + ",v1=" + hex.EncodeToString(webhookMAC(secret, ts, body))
}

func webhookMAC(secret []byte, ts string, body []byte) []byte {
	m := hmac.New(sha256.New, secret)
	m.Write([]byte(ts))
	m.Write([]byte{'.'})
	m.Write(body)
	return m.Sum(nil)
}

// VerifyWebhook is what a receiver does with a callback: it recomputes the
// MAC of the raw body under secret and accepts the header if any of its v1
// values matches (several are allowed so a sender can sign with an old and
// a new secret while they are rotated), then refuses a timestamp further
// than tolerance from now in either direction (≤ 0: the default of five
// minutes). Keys other than t and v1 are ignored, for later versions.
// The signature is checked before the timestamp, so ErrWebhookStale is
// only ever said of a genuine delivery.
func VerifyWebhook(secret []byte, header string, body []byte, now time.Time, tolerance time.Duration) error {
	var ts string
	var sawTS bool
	var sigs []string
	for part := range strings.SplitSeq(header, ",") {
		k, v, ok := strings.Cut(strings.TrimSpace(part), "=")
		if !ok {
			return fmt.Errorf("%w: malformed header", ErrWebhookSignature)
		}
		switch k {
		case "t":
			if sawTS {
				return fmt.Errorf("%w: more than one timestamp", ErrWebhookSignature)
			}
			ts, sawTS = v, true
		case "v1":
			sigs = append(sigs, v)
		}
	}
	sec, err := strconv.ParseInt(ts, 10, 64)
	if err != nil || sec < 0 || strconv.FormatInt(sec, 10) != ts {
		return fmt.Errorf("%w: missing or malformed timestamp", ErrWebhookSignature)
	}
	if len(sigs) == 0 {
		return fmt.Errorf("%w: no v1 signature", ErrWebhookSignature)
	}
	want := webhookMAC(secret, ts, body)
	matched := false
	for _, s := range sigs {
		got, err := hex.DecodeString(s)
		if err == nil && hmac.Equal(got, want) {
			matched = true
		}
	}
	if !matched {
		return ErrWebhookSignature
	}
	if tolerance <= 0 {
		tolerance = DefaultWebhookTolerance
	}
	if age := now.Sub(time.Unix(sec, 0)); age > tolerance || age < -tolerance {
		return fmt.Errorf("%w: signed %s ago, tolerance %s", ErrWebhookStale, age.Round(time.Second), tolerance)
	}
	return nil
}

// WebhookSender makes single delivery attempts; the caller owns retries
// (see WebhookBackoff) and the delivery id that ties them together.
type WebhookSender struct {
	// Client should come from netguard.NewClient: webhook URLs are chosen
	// by users and must not reach the gateway's own network. nil uses a
	// client with the strictest guard.
	Client    *http.Client
	UserAgent string // "" sends "Switchyard-Webhook/1"
	MaxBody   int64  // response bytes read (and discarded); ≤ 0 is 64 KiB
}

// WebhookError is a failed delivery attempt. Permanent means retrying the
// same URL cannot help (the receiver said 410 Gone, the URL is invalid or
// is refused by the network guard); otherwise the caller should retry.
type WebhookError struct {
	Host      string // the URL's host; never the whole URL, which may hold a token
	Status    int    // the HTTP status, 0 when there was no response
	Permanent bool
	Err       error
}

func (e *WebhookError) Error() string {
	kind := "retryable"
	if e.Permanent {
		kind = "permanent"
	}
	if e.Host == "" {
		return fmt.Sprintf("webhook delivery (%s): %v", kind, e.Err)
	}
	return fmt.Sprintf("webhook delivery to %s (%s): %v", e.Host, kind, e.Err)
}

func (e *WebhookError) Unwrap() error { return e.Err }

var (
	defaultGuardedOnce   sync.Once
	defaultGuardedClient *http.Client
)

// guardedClient is the client used when a caller supplies none: the
// strictest guard, so forgetting to configure one fails closed.
func guardedClient() *http.Client {
	defaultGuardedOnce.Do(func() {
		defaultGuardedClient = netguard.NewClient(&netguard.Guard{}, 60*time.Second)
	})
	return defaultGuardedClient
}

// Send POSTs body (JSON) to rawURL once, signed with secret at the current
// time. deliveryID goes in DeliveryHeader; "" generates one, but a caller
// that retries should pass the same id to every attempt. Any 2xx is
// success; every failure is a *WebhookError.
func (s *WebhookSender) Send(ctx context.Context, rawURL, deliveryID string, secret, body []byte) error {
	u, err := url.Parse(rawURL)
	if err != nil {
		// url.Error would repeat the whole URL, which may hold a token.
		return &WebhookError{Permanent: true, Err: errors.New("invalid URL")}
	}
	if (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return &WebhookError{Host: u.Host, Permanent: true, Err: fmt.Errorf("invalid URL: want an http or https URL with a host")}
	}
	fail := func(status int, permanent bool, err error) error {
		return &WebhookError{Host: u.Host, Status: status, Permanent: permanent, Err: err}
	}

	req, err := http.NewRequestWithContext(ctx, http.MethodPost, u.String(), bytes.NewReader(body))
	if err != nil {
		return fail(0, true, fmt.Errorf("build request: %w", err))
	}
	if deliveryID == "" {
		deliveryID = rand.Text()
	}
	ua := s.UserAgent
	if ua == "" {
		ua = "Switchyard-Webhook/1"
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", ua)
	req.Header.Set(DeliveryHeader, deliveryID)
	req.Header.Set(SignatureHeader, SignWebhook(secret, time.Now(), body))

	client := s.Client
	if client == nil {
		client = guardedClient()
	}
	resp, err := client.Do(req)
	if err != nil {
		var blocked *netguard.BlockedError
		if errors.As(err, &blocked) {
			// Wrapped, so a caller can point at the setting that allows it.
			return fail(0, true, fmt.Errorf("URL resolves to a refused address: %w", blocked))
		}
		if errors.Is(err, netguard.ErrInvalidURL) {
			return fail(0, true, err)
		}
		// Network errors, timeouts and our own cancellation (shutdown)
		// may all go away; *url.Error is unwrapped so the message does
		// not repeat the URL.
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		return fail(0, false, err)
	}
	defer resp.Body.Close()
	// Read a bounded amount so the connection can be reused, without
	// letting a receiver stream an endless reply into the gateway.
	maxBody := s.MaxBody
	if maxBody <= 0 {
		maxBody = 64 << 10
	}
	_, _ = io.CopyN(io.Discard, resp.Body, maxBody)

	switch code := resp.StatusCode; {
	case code >= 200 && code <= 299:
		return nil
	case code == http.StatusGone:
		// The receiver's explicit "stop sending to this URL".
		return fail(code, true, fmt.Errorf("receiver answered %s", resp.Status))
	case code >= 300 && code <= 399:
		// Redirects are not followed (the target would escape the guard's
		// check of the URL); retryable because, like a 4xx, it is usually
		// a receiver-side setup the user can fix before retries run out.
		return fail(code, false, fmt.Errorf("receiver answered %s redirecting to %s; redirects are not followed", resp.Status, locationHost(resp)))
	default:
		// 408, 429 and 5xx are transient by definition. Other 4xx are
		// retried too: a 401 after a secret rotation or a 404 during a
		// receiver's deploy is often fixed within the retry window, and
		// the retries are bounded, so giving up at once would lose
		// deliveries for little gain.
		return fail(code, false, fmt.Errorf("receiver answered %s", resp.Status))
	}
}

// locationHost names where a redirect points, for error messages: the
// host only, not a URL that may carry a token.
func locationHost(resp *http.Response) string {
	loc, err := resp.Location()
	switch {
	case errors.Is(err, http.ErrNoLocation):
		return "nowhere (no Location header)"
	case err != nil:
		return "an unparsable Location"
	case loc.Host == "":
		return "a location without a host"
	}
	return loc.Host
}

// WebhookBackoff is the delay before retry number attempt (1 for the
// first retry): base·2^(attempt−1), capped at max (≤ 0: no cap), then
// jittered uniformly over its upper half, so receivers recovering from an
// outage are not hit by every gateway at once, while no retry comes
// sooner than half the schedule says. base ≤ 0 gives 0.
func WebhookBackoff(attempt int, base, max time.Duration) time.Duration {
	if base <= 0 {
		return 0
	}
	if max > 0 && base > max {
		base = max
	}
	d := base
	for i := 1; i < attempt; i++ {
		if d > (1<<63-1)/2 || (max > 0 && d >= max) {
			break
		}
		d *= 2
	}
	if max > 0 && d > max {
		d = max
	}
	half := d / 2
	return d - half + mrand.N(half+1)
}
