// Package auth identifies the caller of an API request by its key, and
// keeps the users, groups and keys it checks against.
//
// Users, groups and keys live in the database (Store); the configuration
// file's groups:, users: and keys: are applied to it at every start. The hot
// path never reads the database: a Directory holds every active key in an
// immutable in-memory index, swapped atomically when the database changes
// (see directory.go for how soon a change is seen on each node).
//
// Key values are stored as their SHA-256 (hex) and a short visible prefix,
// never in plaintext. A request's key is hashed and looked up in the map,
// then the hashes are compared in constant time (the map lookup already
// matched them; the comparison keeps the check honest if the index ever
// changes to a prefix). SHA-256 without salt is right here: API keys are
// long random strings, not passwords, and the lookup must cost microseconds.
package auth

import (
	"context"
	"crypto/sha256"
	"fmt"
	"log/slog"
	"net/http"
	"net/netip"
	"strconv"
	"strings"
	"time"

	"github.com/switchyard/switchyard/internal/apierror"
	"github.com/switchyard/switchyard/internal/config"
)

// NoQuota is Key.QuotaMicros for a key without a spending cap.
const NoQuota int64 = -1

// Key is an authenticated API key: its owner, its group and its limits,
// never its value. A Key from a Directory is shared and must not be
// modified. Limits of 0 mean none.
type Key struct {
	ID        int64
	Name      string
	UserID    int64
	User      string   // the owner's email
	Group     string   // the owner's group; channels must serve it
	Models    []string // nil = every model
	IPAllow   []netip.Prefix
	ExpiresAt time.Time // zero = never
	Admin     bool

	// QuotaMicros is the key's spending cap in micro-USD, NoQuota for none.
	QuotaMicros   int64
	RPM           int
	TPM           int64
	DailyRequests int

	GroupRatioPPM      int64 // the group's price ratio × 1e6
	GroupRPM           int
	GroupTPM           int64
	GroupDailyRequests int

	// ImageResponseFormat is the response_format of the key's image
	// requests that send none: the key's own, else its group's; "" when
	// neither sets one (images.response_format applies).
	ImageResponseFormat string
	// WebhookURL receives the key's finished async image tasks; "" = none.
	// It is set only together with WebhookSecret, the HMAC key that signs
	// each delivery, unsealed at load; neither may be logged.
	WebhookURL    string
	WebhookSecret SecretBytes

	// Disabled is a key its owner or an admin turned off for now: it is
	// kept in the Directory so that a request with it is told so
	// (apierror.KeyDisabled) rather than that the key is unknown.
	Disabled bool

	hash [sha256.Size]byte
	// used is when the key last authenticated a request (Unix seconds),
	// shared by every Key value of the same id across reloads, so that a
	// reload between a request and the flush loses nothing.
	used *lastUse
}

func parsePrefix(s string) (netip.Prefix, error) {
	if strings.Contains(s, "/") {
		p, err := netip.ParsePrefix(s)
		if err != nil {
			return netip.Prefix{}, fmt.Errorf("%q is not a CIDR", s)
		}
		return p.Masked(), nil
	}
	a, err := netip.ParseAddr(s)
	if err != nil {
		return netip.Prefix{}, fmt.Errorf("%q is not an IP address", s)
	}
	return netip.PrefixFrom(a.Unmap(), a.Unmap().BitLen()), nil
}

// PresentedKey reads the key from Authorization: Bearer or x-api-key.
func PresentedKey(r *http.Request) string {
	if a := r.Header.Get("Authorization"); len(a) > 7 && strings.EqualFold(a[:7], "Bearer ") {
		return strings.TrimSpace(a[7:])
	}
	return strings.TrimSpace(r.Header.Get("x-api-key"))
}

func (k *Key) allowsIP(ip netip.Addr) bool {
	ip = ip.Unmap()
	for _, p := range k.IPAllow {
		if p.Contains(ip) {
			return true
		}
	}
	return false
}

// AllowModel returns an *apierror.Error when the key may not use model.
func (k *Key) AllowModel(model string) error {
	if k.Models != nil && !config.MatchAny(k.Models, model) {
		return apierror.ModelNotAllowed(model)
	}
	return nil
}

// The routing headers an admin key may send to force a route.
const (
	ChannelHeader    = "X-Switchyard-Channel"
	CredentialHeader = "X-Switchyard-Credential"
)

// Route is the key's group and any route forced by the routing headers,
// which only an admin key may send. Errors are *apierror.Error.
func (k *Key) Route(r *http.Request) (group, channel string, credential int64, err error) {
	channel = strings.TrimSpace(r.Header.Get(ChannelHeader))
	cred := strings.TrimSpace(r.Header.Get(CredentialHeader))
	if channel == "" && cred == "" {
		return k.Group, "", 0, nil
	}
	if !k.Admin {
		h := ChannelHeader
		if channel == "" {
			h = CredentialHeader
		}
		return "", "", 0, apierror.PinNotAllowed(h)
	}
	if cred != "" {
		credential, err = strconv.ParseInt(cred, 10, 64)
		if err != nil || credential <= 0 {
			return "", "", 0, apierror.InvalidRequest(CredentialHeader+": want a credential id (a positive integer), as `switchyard credentials list` shows.", "")
		}
	}
	return k.Group, channel, credential, nil
}

type ctxKey struct{}

// WithKey returns ctx carrying k, for handlers further down.
func WithKey(ctx context.Context, k *Key) context.Context { return context.WithValue(ctx, ctxKey{}, k) }

// FromContext returns the key put by WithKey, or nil.
func FromContext(ctx context.Context) *Key {
	k, _ := ctx.Value(ctxKey{}).(*Key)
	return k
}

// SecretBytes is key material that never prints: fmt and slog show
// "[redacted]", so logging a *Key cannot leak its webhook secret.
type SecretBytes []byte

func (SecretBytes) String() string       { return "[redacted]" }
func (SecretBytes) GoString() string     { return "[redacted]" }
func (SecretBytes) LogValue() slog.Value { return slog.StringValue("[redacted]") }
