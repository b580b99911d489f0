package auth

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base32"
	"encoding/binary"
	"encoding/hex"
	"net/url"
	"strings"
	"time"
)

// TOTP as RFC 6238 with the parameters every authenticator app supports:
// HMAC-SHA-1, 6 digits, 30-second steps. A code is accepted one step either
// side of now (clock drift, a code typed as it turned), and a step once
// accepted is never accepted again (totp_last_step).

const (
	totpPeriod    = 30 // seconds
	totpDigits    = 6
	totpSkew      = 1 // steps either side
	totpSecretLen = 20
)

var b32 = base32.StdEncoding.WithPadding(base32.NoPadding)

// newTOTPSecret returns a random secret in the base32 form apps take.
func newTOTPSecret() string {
	b := make([]byte, totpSecretLen)
	_, _ = rand.Read(b)
	return b32.EncodeToString(b)
}

// totpStep is the RFC 6238 time step of t.
func totpStep(t time.Time) int64 { return t.Unix() / totpPeriod }

// hotp is RFC 4226's HOTP of key at counter, as totpDigits decimal digits.
func hotp(key []byte, counter int64, digits int) string {
	var msg [8]byte
	binary.BigEndian.PutUint64(msg[:], uint64(counter))
	m := hmac.New(sha1.New, key)
	m.Write(msg[:])
	sum := m.Sum(nil)
	off := sum[len(sum)-1] & 0x0f
	v := binary.BigEndian.Uint32(sum[off:off+4]) & 0x7fffffff
	mod := uint32(1)
	for range digits {
		mod *= 10
	}
	s := make([]byte, digits)
	v %= mod
	for i := digits - 1; i >= 0; i-- {
		s[i] = byte('0' + v%10)
		v /= 10
	}
	return string(s)
}

// TOTPCode returns the 6-digit code of a base32 secret at t, as an
// authenticator app shows it ("" for a malformed secret).
func TOTPCode(secret string, t time.Time) string {
	key, err := b32.DecodeString(strings.ToUpper(secret))
	if err != nil {
		return ""
	}
	return hotp(key, totpStep(t), totpDigits)
}

// matchTOTP returns the step within ±totpSkew of now whose code is code,
// and which is after lastStep, or 0. Every candidate is compared, in
// constant time, so the time taken says nothing about which matched.
func matchTOTP(secret, code string, now time.Time, lastStep int64) int64 {
	code = strings.ReplaceAll(strings.TrimSpace(code), " ", "")
	key, err := b32.DecodeString(strings.ToUpper(secret))
	if err != nil || len(code) != totpDigits {
		return 0
	}
	cur := totpStep(now)
	var found int64
	for s := cur - totpSkew; s <= cur+totpSkew; s++ {
		ok := subtle.ConstantTimeCompare([]byte(hotp(key, s, totpDigits)), []byte(code)) == 1
		if ok && s > lastStep && found == 0 {
			found = s
		}
	}
	return found
}

// otpauthURL is the URL an authenticator app reads from a QR code.
func otpauthURL(issuer, account, secret string) string {
	v := url.Values{}
	v.Set("secret", secret)
	v.Set("issuer", issuer)
	v.Set("algorithm", "SHA1")
	v.Set("digits", "6")
	v.Set("period", "30")
	return "otpauth://totp/" + url.PathEscape(issuer+":"+account) + "?" + v.Encode()
}

// Recovery codes: 10 per enrolment, each "xxxxx-xxxxx" (about 50 random bits
// from 31 letters and digits without look-alikes), single use, stored as SHA-256.
// They are random enough that a fast hash is safe.

const (
	recoveryCount    = 10
	recoveryAlphabet = "abcdefghjkmnpqrstuvwxyz23456789" // no 0/o/1/l/i
)

func newRecoveryCode() string {
	const n = len(recoveryAlphabet)
	const reject = 256 - 256%n // bytes from here up are drawn again: uniform
	out := make([]byte, 0, 11)
	var buf [32]byte
	for len(out) < 11 {
		_, _ = rand.Read(buf[:])
		for _, b := range buf {
			if int(b) >= reject || len(out) == 11 {
				continue
			}
			if len(out) == 5 {
				out = append(out, '-')
			}
			out = append(out, recoveryAlphabet[int(b)%n])
		}
	}
	return string(out)
}

// canonicalRecovery reads a recovery code as typed: any case, dash or not.
func canonicalRecovery(s string) string {
	s = strings.ToLower(strings.NewReplacer("-", "", " ", "").Replace(strings.TrimSpace(s)))
	if len(s) != 10 {
		return ""
	}
	return s[:5] + "-" + s[5:]
}

// hashSecret is the stored form of a random secret (session token, admin
// token, recovery code, setup token): hex SHA-256.
func hashSecret(s string) string {
	h := sha256.Sum256([]byte(s))
	return hex.EncodeToString(h[:])
}
