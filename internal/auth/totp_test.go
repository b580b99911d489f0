package auth

import (
	"encoding/base32"
	"strings"
	"testing"
	"time"
)

// RFC 6238 appendix B, SHA-1 rows: the 20-byte ASCII key "1234567890…",
// 8 digits.
func TestTOTPVectors(t *testing.T) {
	key := []byte("12345678901234567890")
	for _, c := range []struct {
		unix int64
		want string
	}{
		{59, "94287082"},
		{1111111109, "07081804"},
		{1111111111, "14050471"},
		{1234567890, "89005924"},
		{2000000000, "69279037"},
		{20000000000, "65353130"},
	} {
		if got := hotp(key, totpStep(time.Unix(c.unix, 0)), 8); got != c.want {
			t.Errorf("T=%d: got %s, want %s", c.unix, got, c.want)
		}
	}
}

func TestMatchTOTP(t *testing.T) {
	secret := base32.StdEncoding.WithPadding(base32.NoPadding).EncodeToString([]byte("12345678901234567890"))
	now := time.Unix(1111111111, 0) // step 37037037, code 050471 (6 digits)
	step := totpStep(now)
	code := hotp([]byte("12345678901234567890"), step, 6)
	if code != "050471" {
		t.Fatalf("6-digit code %s, want the last 6 digits of the RFC vector", code)
	}
	cases := []struct {
		name     string
		code     string
		at       time.Time
		lastStep int64
		want     int64
	}{
		{"now", code, now, 0, step},
		{"with spaces", " 050 471 ", now, 0, step},
		{"one step late", code, now.Add(30 * time.Second), 0, step},
		{"one step early", code, now.Add(-30 * time.Second), 0, step},
		{"two steps late", code, now.Add(60 * time.Second), 0, 0},
		{"step already used", code, now, step, 0},
		{"wrong", "123456", now, 0, 0},
		{"short", "05047", now, 0, 0},
	}
	for _, c := range cases {
		if got := matchTOTP(secret, c.code, c.at, c.lastStep); got != c.want {
			t.Errorf("%s: got step %d, want %d", c.name, got, c.want)
		}
	}
}

func TestOTPAuthURL(t *testing.T) {
	u := otpauthURL("Switchyard", "a@example.com", "ABC")
	if !strings.HasPrefix(u, "otpauth://totp/Switchyard:a@example.com?") || !strings.Contains(u, "secret=ABC") || !strings.Contains(u, "issuer=Switchyard") {
		t.Errorf("otpauth URL %s", u)
	}
}

func TestRecoveryCodes(t *testing.T) {
	seen := map[string]bool{}
	for range 200 {
		c := newRecoveryCode()
		if len(c) != 11 || c[5] != '-' || strings.ContainsAny(c, "01ilo") {
			t.Fatalf("recovery code %q", c)
		}
		if seen[c] {
			t.Fatalf("repeated recovery code %q", c)
		}
		seen[c] = true
		if canonicalRecovery(strings.ToUpper(strings.ReplaceAll(c, "-", ""))) != c {
			t.Errorf("canonical form of %q", c)
		}
	}
	if canonicalRecovery("abc") != "" {
		t.Error("short code accepted")
	}
}
