// Package auth identifies the caller of an API request by its key.
//
// For now keys come only from the configuration file's keys: section. Each
// key value is hashed with SHA-256 once at start and only the hash is kept;
// a request's key is hashed and looked up in a map, then the hashes are
// compared in constant time (the map lookup already matched them; the
// comparison keeps the check honest if the index ever changes to a prefix).
// SHA-256 without salt is right here: API keys are long random strings,
// not passwords, and the lookup must cost microseconds.
package auth

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"fmt"
	"net/http"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/switchyard/switchyard/internal/apierror"
	"github.com/switchyard/switchyard/internal/config"
)

// Key is an authenticated API key: its limits, never its value.
type Key struct {
	Name      string
	User      string
	Group     string   // the user's group; channels must serve it
	Models    []string // nil = every model
	IPAllow   []netip.Prefix
	ExpiresAt time.Time
	Admin     bool
	hash      [sha256.Size]byte
}

// Keys is the in-memory key index. It is read-only after New.
type Keys struct {
	byHash map[[sha256.Size]byte]*Key
	now    func() time.Time
}

// New indexes the configured keys; each key's group is its user's (the
// default group for a user the file does not declare). now may be nil
// (time.Now).
func New(keys []config.Key, users []config.User, now func() time.Time) (*Keys, error) {
	if now == nil {
		now = time.Now
	}
	groups := make(map[string]string, len(users))
	for _, u := range users {
		groups[u.Email] = u.Group
	}
	ks := &Keys{byHash: make(map[[sha256.Size]byte]*Key, len(keys)), now: now}
	for i, k := range keys {
		if k.Key == "" {
			return nil, fmt.Errorf("keys[%d] (%s): empty key", i, k.Name)
		}
		key := &Key{Name: k.Name, User: k.User, Group: groups[k.User], Models: k.Models, ExpiresAt: k.ExpiresAt,
			Admin: k.Admin, hash: sha256.Sum256([]byte(k.Key.Value()))}
		if key.Group == "" {
			key.Group = config.DefaultGroup
		}
		for _, s := range k.IPAllow {
			p, err := parsePrefix(s)
			if err != nil {
				return nil, fmt.Errorf("keys[%d] (%s).ip_allow: %w", i, k.Name, err)
			}
			key.IPAllow = append(key.IPAllow, p)
		}
		if _, dup := ks.byHash[key.hash]; dup {
			return nil, fmt.Errorf("keys[%d] (%s): same value as another key", i, k.Name)
		}
		ks.byHash[key.hash] = key
	}
	return ks, nil
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

// Authenticate returns the request's key, checked for expiry and the
// client's address. Errors are *apierror.Error.
func (ks *Keys) Authenticate(r *http.Request, clientIP netip.Addr) (*Key, error) {
	presented := PresentedKey(r)
	if presented == "" {
		return nil, apierror.InvalidAPIKey()
	}
	h := sha256.Sum256([]byte(presented))
	k, ok := ks.byHash[h]
	if !ok || subtle.ConstantTimeCompare(k.hash[:], h[:]) != 1 {
		return nil, apierror.InvalidAPIKey()
	}
	if !k.ExpiresAt.IsZero() && !ks.now().Before(k.ExpiresAt) {
		return nil, apierror.InvalidAPIKey()
	}
	if len(k.IPAllow) > 0 && !k.allowsIP(clientIP) {
		return nil, apierror.IPNotAllowed()
	}
	return k, nil
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
	if k.Models != nil && !slices.Contains(k.Models, model) {
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
