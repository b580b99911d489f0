package images

import (
	"bytes"
	"errors"
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/switchyard/switchyard/internal/secret"
)

func testKeyring(t testing.TB, fill byte) *secret.Keyring {
	t.Helper()
	kr, err := secret.New(bytes.Repeat([]byte{fill}, secret.KeySize))
	if err != nil {
		t.Fatal(err)
	}
	return kr
}

// signedParams signs and splits the query into exp and sig.
func signedParams(t testing.TB, s *Signer, task string, index int, exp time.Time) (string, string) {
	t.Helper()
	q, err := s.Sign(task, index, exp)
	if err != nil {
		t.Fatal(err)
	}
	v, err := url.ParseQuery(q)
	if err != nil {
		t.Fatal(err)
	}
	if len(v) != 2 {
		t.Fatalf("query %q has %d parameters, want exp and sig", q, len(v))
	}
	return v.Get("exp"), v.Get("sig")
}

func TestVerify(t *testing.T) {
	now := time.Unix(1_800_000_000, 0)
	exp := now.Add(time.Hour)
	s := NewSigner(testKeyring(t, 1))
	expP, sig := signedParams(t, s, "task_1-A", 3, exp)
	flip := func(c byte) byte {
		if c == 'A' {
			return 'B'
		}
		return 'A'
	}
	tamperedSig := sig[:10] + string(flip(sig[10])) + sig[11:]
	later := strconv.FormatInt(exp.Unix()+3600, 10)

	cases := []struct {
		name     string
		task     string
		index    int
		exp, sig string
		now      time.Time
		want     error
	}{
		{"valid", "task_1-A", 3, expP, sig, now, nil},
		{"valid one second before expiry", "task_1-A", 3, expP, sig, exp.Add(-time.Second), nil},
		{"expired at the second", "task_1-A", 3, expP, sig, exp, ErrExpired},
		{"expired long ago", "task_1-A", 3, expP, sig, exp.Add(240 * time.Hour), ErrExpired},
		{"tampered sig", "task_1-A", 3, expP, tamperedSig, now, ErrBadSignature},
		{"tampered exp (extended)", "task_1-A", 3, later, sig, now, ErrBadSignature},
		{"tampered exp, and expired", "task_1-A", 3, "1000", sig, now, ErrBadSignature},
		{"other task", "task_1-B", 3, expP, sig, now, ErrBadSignature},
		{"task prefix", "task_1-", 3, expP, sig, now, ErrBadSignature},
		{"other index", "task_1-A", 4, expP, sig, now, ErrBadSignature},
		{"exp leading zero", "task_1-A", 3, "0" + expP, sig, now, ErrBadSignature},
		{"exp with sign", "task_1-A", 3, "+" + expP, sig, now, ErrBadSignature},
		{"exp negative", "task_1-A", 3, "-1", sig, now, ErrBadSignature},
		{"exp zero", "task_1-A", 3, "0", sig, now, ErrBadSignature},
		{"exp not a number", "task_1-A", 3, "tomorrow", sig, now, ErrBadSignature},
		{"exp overflow", "task_1-A", 3, "99999999999999999999", sig, now, ErrBadSignature},
		{"exp empty", "task_1-A", 3, "", sig, now, ErrBadSignature},
		{"sig empty", "task_1-A", 3, expP, "", now, ErrBadSignature},
		{"sig truncated", "task_1-A", 3, expP, sig[:len(sig)-1], now, ErrBadSignature},
		{"sig padded", "task_1-A", 3, expP, sig + "=", now, ErrBadSignature},
		{"sig with newline", "task_1-A", 3, expP, sig[:20] + "\n" + sig[20:], now, ErrBadSignature},
		{"sig as hex", "task_1-A", 3, expP, strings.Repeat("ab", 32), now, ErrBadSignature},
		{"bad task charset", "task/1", 3, expP, sig, now, ErrBadSignature},
		{"dot-dot task", "..", 3, expP, sig, now, ErrBadSignature},
		{"empty task", "", 3, expP, sig, now, ErrBadSignature},
		{"negative index", "task_1-A", -1, expP, sig, now, ErrBadSignature},
		{"index too high", "task_1-A", MaxIndex + 1, expP, sig, now, ErrBadSignature},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			err := s.Verify(c.task, c.index, c.exp, c.sig, c.now)
			if c.want == nil && err != nil || c.want != nil && !errors.Is(err, c.want) {
				t.Fatalf("Verify = %v, want %v", err, c.want)
			}
			if errors.Is(err, ErrExpired) && errors.Is(err, ErrBadSignature) {
				t.Fatalf("error %v is both expired and bad", err)
			}
		})
	}
}

func TestVerifyAcrossKeys(t *testing.T) {
	now := time.Unix(1_800_000_000, 0)
	exp := now.Add(time.Hour)
	signer := NewSigner(testKeyring(t, 1))
	expP, sig := signedParams(t, signer, "abc", 0, exp)

	// A restart builds a new Keyring and Signer from the same secret_key;
	// another node does the same.
	restarted := NewSigner(testKeyring(t, 1))
	if err := restarted.Verify("abc", 0, expP, sig, now); err != nil {
		t.Errorf("URL does not survive a restart: %v", err)
	}
	other := NewSigner(testKeyring(t, 2))
	if err := other.Verify("abc", 0, expP, sig, now); !errors.Is(err, ErrBadSignature) {
		t.Errorf("URL signed under another secret_key: Verify = %v, want ErrBadSignature", err)
	}
	// The signing key is a purpose-specific subkey, not one shared with
	// other uses of the keyring.
	kr := testKeyring(t, 1)
	if bytes.Equal(kr.Subkey(urlPurpose), kr.Subkey("credential-fingerprint")) {
		t.Error("image URL subkey equals another purpose's subkey")
	}
}

func TestSignRefuses(t *testing.T) {
	s := NewSigner(testKeyring(t, 1))
	exp := time.Unix(1_800_000_000, 0)
	for _, c := range []struct {
		task  string
		index int
		exp   time.Time
	}{
		{"", 0, exp},
		{"a/b", 0, exp},
		{"a.b", 0, exp},
		{strings.Repeat("a", MaxTaskLen+1), 0, exp},
		{"a", -1, exp},
		{"a", MaxIndex + 1, exp},
		{"a", 0, time.Unix(0, 0)},
		{"a", 0, time.Time{}},
	} {
		if q, err := s.Sign(c.task, c.index, c.exp); err == nil {
			t.Errorf("Sign(%q, %d, %v) = %q, want an error", c.task, c.index, c.exp, q)
		}
	}
}

func TestURLAndParsePath(t *testing.T) {
	s := NewSigner(testKeyring(t, 1))
	now := time.Unix(1_800_000_000, 0)
	for _, base := range []string{"https://gw.example.com", "https://gw.example.com/", "http://127.0.0.1:8080"} {
		raw, err := s.URL(base, "T123", 7, now.Add(time.Minute))
		if err != nil {
			t.Fatal(err)
		}
		u, err := url.Parse(raw)
		if err != nil {
			t.Fatal(err)
		}
		if want := strings.TrimSuffix(base, "/") + "/p/img/T123/7?"; !strings.HasPrefix(raw, want) {
			t.Errorf("URL = %q, want prefix %q", raw, want)
		}
		task, index, err := ParsePath(u.Path)
		if err != nil || task != "T123" || index != 7 {
			t.Fatalf("ParsePath(%q) = %q, %d, %v", u.Path, task, index, err)
		}
		q := u.Query()
		if err := s.Verify(task, index, q.Get("exp"), q.Get("sig"), now); err != nil {
			t.Errorf("URL from %q does not verify: %v", base, err)
		}
	}
	for _, p := range []string{
		"/p/img/T123", "/p/img/T123/", "/p/img/T123/07", "/p/img/T123/-1", "/p/img/T123/7/x",
		"/p/img/../7", "/p/img//7", "/x/img/T123/7", "/p/img/T%2F1/7", "/p/img/T123/1e3",
	} {
		if task, index, err := ParsePath(p); !errors.Is(err, ErrBadSignature) {
			t.Errorf("ParsePath(%q) = %q, %d, %v; want ErrBadSignature", p, task, index, err)
		}
	}
}

func TestSignerDoesNotPrintKey(t *testing.T) {
	s := NewSigner(testKeyring(t, 1))
	for _, out := range []string{fmt.Sprint(s), fmt.Sprintf("%v %+v %#v %s", s, s, s, s)} {
		if strings.Contains(out, "[") || strings.Contains(out, fmt.Sprint(s.key)) {
			t.Errorf("Signer prints %q", out)
		}
	}
}

// FuzzVerify checks that Verify never panics and accepts nothing but what
// Sign produced for exactly that task, index and expiry.
func FuzzVerify(f *testing.F) {
	s := NewSigner(testKeyring(f, 1))
	now := time.Unix(1_800_000_000, 0)
	expP, sig := signedParams(f, s, "task1", 2, now.Add(time.Hour))
	f.Add("task1", 2, now.Add(time.Hour).Unix(), "task1", 2, expP, sig)
	f.Add("task1", 2, now.Add(time.Hour).Unix(), "task1", 3, expP, sig)
	f.Add("a", 0, int64(1), "a", 0, "1", "")
	f.Add("a-b_c", MaxIndex, int64(1)<<40, "a-b_", MaxIndex, "0"+expP, sig+"=")
	f.Fuzz(func(t *testing.T, task string, index int, exp int64, task2 string, index2 int, expParam, sigParam string) {
		// Whatever the parameters, acceptance means they are exactly
		// what Sign gives for them.
		if err := s.Verify(task2, index2, expParam, sigParam, now); err == nil || errors.Is(err, ErrExpired) {
			e, perr := strconv.ParseInt(expParam, 10, 64)
			if perr != nil {
				t.Fatalf("accepted exp %q that is not a number", expParam)
			}
			q, serr := s.Sign(task2, index2, time.Unix(e, 0))
			if serr != nil || q != "exp="+expParam+"&sig="+sigParam {
				t.Fatalf("accepted (%q, %d, %q, %q), which Sign did not produce (%q, %v)", task2, index2, expParam, sigParam, q, serr)
			}
		}
		// A genuine signature verifies for its own task and index only.
		q, err := s.Sign(task, index, time.Unix(exp, 0))
		if err != nil {
			return
		}
		v, _ := url.ParseQuery(q)
		err = s.Verify(task2, index2, v.Get("exp"), v.Get("sig"), now)
		same := task == task2 && index == index2
		switch {
		case !same && (err == nil || errors.Is(err, ErrExpired)):
			t.Fatalf("signature for (%q, %d) accepted for (%q, %d): %v", task, index, task2, index2, err)
		case same && exp > now.Unix() && err != nil:
			t.Fatalf("genuine unexpired URL refused: %v", err)
		case same && exp <= now.Unix() && !errors.Is(err, ErrExpired):
			t.Fatalf("genuine expired URL: %v, want ErrExpired", err)
		}
	})
}
