package images

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/switchyard/switchyard/internal/secret"
)

// urlPurpose names the keyring subkey that signs image URLs (HKDF info
// "switchyard/images/url/v1"). The version lets the scheme change later
// without old and new signatures ever verifying under each other's rules.
const urlPurpose = "images/url/v1"

// messageTag starts every signed message, so a MAC made here can never be
// mistaken for one over some other structure, even if the subkey were
// reused by mistake.
const messageTag = "switchyard image url v1\x00"

const (
	// MaxTaskLen is the longest task id a URL may name.
	MaxTaskLen = 64
	// MaxIndex is the highest image index a URL may name (n is at most 10
	// today; the margin costs nothing).
	MaxIndex = 9999
	// PathPrefix starts every signed image path.
	PathPrefix = "/p/img/"
)

var (
	// ErrBadSignature is returned for a URL that was not signed by this
	// key for this task, index and expiry, or whose parameters are
	// malformed. The caller answers 403 and says no more.
	ErrBadSignature = errors.New("image url: invalid signature")
	// ErrExpired is returned for a genuine URL whose expiry has passed.
	ErrExpired = errors.New("image url: expired")
)

// Signer makes and checks signed image URLs. Its key is derived from the
// gateway's secret_key, so every node and every restart agrees on it. It
// is safe for concurrent use.
type Signer struct {
	key []byte
}

// NewSigner returns a Signer keyed by kr's image-URL subkey.
func NewSigner(kr *secret.Keyring) *Signer {
	return &Signer{key: kr.Subkey(urlPurpose)}
}

// String keeps the key out of logs and error messages.
func (s *Signer) String() string { return "images.Signer" }

// GoString covers %#v.
func (s *Signer) GoString() string { return s.String() }

// Sign returns the query string ("exp=…&sig=…") that authorises GET of
// image index of task until exp (truncated to the second).
func (s *Signer) Sign(task string, index int, exp time.Time) (string, error) {
	if err := checkTaskIndex(task, index); err != nil {
		return "", err
	}
	e := exp.Unix()
	if e <= 0 {
		return "", fmt.Errorf("sign image url: expiry %v is not after 1970", exp)
	}
	return "exp=" + strconv.FormatInt(e, 10) + "&sig=" + s.mac(task, index, e), nil
}

// URL returns base + Path(task, index) + "?" + the signed query. base is
// the node's public URL (server.public_url); a trailing slash is ignored.
func (s *Signer) URL(base, task string, index int, exp time.Time) (string, error) {
	q, err := s.Sign(task, index, exp)
	if err != nil {
		return "", err
	}
	return strings.TrimRight(base, "/") + Path(task, index) + "?" + q, nil
}

// Verify checks the exp and sig query parameters of a request for image
// index of task. It returns nil only for exactly the parameters Sign
// produced for that task, index and expiry, and only before the expiry;
// otherwise ErrBadSignature (possibly wrapped with the reason, which is
// for logs, not for the client) or ErrExpired. The signature is checked
// before the expiry, so ErrExpired always means a link this gateway made.
func (s *Signer) Verify(task string, index int, expParam, sigParam string, now time.Time) error {
	if err := checkTaskIndex(task, index); err != nil {
		return fmt.Errorf("%w: %v", ErrBadSignature, err)
	}
	e, ok := parseCanonicalUint(expParam)
	if !ok || e == 0 {
		return fmt.Errorf("%w: exp is not a unix time in canonical decimal", ErrBadSignature)
	}
	// Comparing the encoded forms, rather than decoding sig, means no
	// second spelling of a valid signature is accepted (base64 decoders
	// skip newlines and may ignore padding bits).
	if !hmac.Equal([]byte(s.mac(task, index, e)), []byte(sigParam)) {
		return ErrBadSignature
	}
	if now.Unix() >= e {
		return ErrExpired
	}
	return nil
}

// mac is base64url(HMAC-SHA256(key, message)) without padding. The
// message is fixed-width or length-prefixed in every field, so no two
// (task, index, exp) triples share one, whatever the fields contain.
func (s *Signer) mac(task string, index int, exp int64) string {
	msg := make([]byte, 0, len(messageTag)+2+len(task)+4+8)
	msg = append(msg, messageTag...)
	msg = binary.BigEndian.AppendUint16(msg, uint16(len(task)))
	msg = append(msg, task...)
	msg = binary.BigEndian.AppendUint32(msg, uint32(index))
	msg = binary.BigEndian.AppendUint64(msg, uint64(exp))
	m := hmac.New(sha256.New, s.key)
	m.Write(msg)
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

// Path returns the request path of image index of task, without query.
func Path(task string, index int) string {
	return PathPrefix + task + "/" + strconv.Itoa(index)
}

// ParsePath splits a request path made by Path. It accepts only the
// canonical form, so one image has exactly one URL.
func ParsePath(p string) (task string, index int, err error) {
	rest, ok := strings.CutPrefix(p, PathPrefix)
	if !ok {
		return "", 0, fmt.Errorf("%w: path does not start with %s", ErrBadSignature, PathPrefix)
	}
	task, idx, ok := strings.Cut(rest, "/")
	if !ok {
		return "", 0, fmt.Errorf("%w: path has no image index", ErrBadSignature)
	}
	if index, err = ParseIndex(idx); err != nil {
		return "", 0, err
	}
	if err := ValidTask(task); err != nil {
		return "", 0, fmt.Errorf("%w: %v", ErrBadSignature, err)
	}
	return task, index, nil
}

// ParseIndex parses the index path segment: decimal, no sign, no leading
// zero, at most MaxIndex.
func ParseIndex(s string) (int, error) {
	n, ok := parseCanonicalUint(s)
	if !ok || n > MaxIndex {
		return 0, fmt.Errorf("%w: image index %q is not a number from 0 to %d", ErrBadSignature, s, MaxIndex)
	}
	return int(n), nil
}

// ValidTask reports whether task may appear in an image URL and a storage
// key: 1 to MaxTaskLen characters from [A-Za-z0-9_-]. Nothing that could
// need escaping, start a path segment like "..", or be read as a
// separator.
func ValidTask(task string) error {
	if task == "" || len(task) > MaxTaskLen {
		return fmt.Errorf("task id must be 1 to %d characters", MaxTaskLen)
	}
	for i := 0; i < len(task); i++ {
		c := task[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '_' || c == '-') {
			return fmt.Errorf("task id may hold only letters, digits, '_' and '-'")
		}
	}
	return nil
}

func checkTaskIndex(task string, index int) error {
	if err := ValidTask(task); err != nil {
		return err
	}
	if index < 0 || index > MaxIndex {
		return fmt.Errorf("image index %d is outside 0..%d", index, MaxIndex)
	}
	return nil
}

// parseCanonicalUint accepts only the spelling strconv.FormatInt gives a
// non-negative int64: digits, no sign, no leading zero, no overflow.
func parseCanonicalUint(s string) (int64, bool) {
	if s == "" || len(s) > 19 || (s[0] == '0' && len(s) > 1) {
		return 0, false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return 0, false
		}
	}
	n, err := strconv.ParseInt(s, 10, 64)
	return n, err == nil
}
