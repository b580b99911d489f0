package secret

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"testing"
)

func newKeyring(t testing.TB) (*Keyring, []byte) {
	t.Helper()
	master := make([]byte, KeySize)
	if _, err := rand.Read(master); err != nil {
		t.Fatal(err)
	}
	k, err := New(master)
	if err != nil {
		t.Fatal(err)
	}
	return k, master
}

func TestSealOpenRoundTrip(t *testing.T) {
	k, _ := newKeyring(t)
	cases := []struct {
		name       string
		plain, aad []byte
	}{
		{"api key", []byte("sk-proj-abcdef0123456789"), []byte("channel:7")},
		{"empty plaintext", []byte{}, []byte("x")},
		{"nil aad", []byte("token"), nil},
		{"large", bytes.Repeat([]byte{0xAB}, 64<<10), []byte("big")},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			sealed, err := k.Seal(c.plain, c.aad)
			if err != nil {
				t.Fatal(err)
			}
			if len(sealed) != len(c.plain)+sealOverhead || sealed[0] != sealVersion {
				t.Errorf("sealed is %d bytes with version %d; want %d bytes, version %d", len(sealed), sealed[0], len(c.plain)+sealOverhead, sealVersion)
			}
			if len(c.plain) >= 8 && bytes.Contains(sealed, c.plain[:8]) {
				t.Error("sealed value contains the plaintext")
			}
			got, err := k.Open(sealed, c.aad)
			if err != nil {
				t.Fatalf("Open: %v", err)
			}
			if !bytes.Equal(got, c.plain) {
				t.Errorf("Open = %x, want %x", got, c.plain)
			}
			again, _ := k.Seal(c.plain, c.aad)
			if bytes.Equal(again, sealed) {
				t.Error("two seals of the same value are identical: the nonce is not random")
			}
		})
	}
}

func TestOpenRejects(t *testing.T) {
	k, _ := newKeyring(t)
	other, _ := newKeyring(t)
	plain, aad := []byte("sk-secret-value"), []byte("channel:1")
	sealed, err := k.Seal(plain, aad)
	if err != nil {
		t.Fatal(err)
	}

	// Every single flipped bit, in every position, must be caught.
	for i := range sealed {
		for bit := range 8 {
			bad := bytes.Clone(sealed)
			bad[i] ^= 1 << bit
			if got, err := k.Open(bad, aad); err == nil {
				t.Fatalf("byte %d bit %d flipped: Open succeeded with %q", i, bit, got)
			}
		}
	}

	cases := []struct {
		name    string
		k       *Keyring
		sealed  []byte
		aad     []byte
		wantErr error // nil: any error
	}{
		{"wrong aad", k, sealed, []byte("channel:2"), ErrOpen},
		{"missing aad", k, sealed, nil, ErrOpen},
		{"different keyring", other, sealed, aad, ErrOpen},
		{"truncated tag", k, sealed[:len(sealed)-1], aad, ErrOpen},
		{"appended byte", k, append(bytes.Clone(sealed), 0), aad, ErrOpen},
		{"nil", k, nil, aad, nil},
		{"version only", k, []byte{sealVersion}, aad, nil},
		{"one short of minimum", k, make([]byte, sealOverhead-1), aad, nil},
		{"unknown version", k, append([]byte{9}, sealed[1:]...), aad, nil},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got, err := c.k.Open(c.sealed, c.aad)
			if err == nil {
				t.Fatalf("Open succeeded with %q", got)
			}
			if c.wantErr != nil && !errors.Is(err, c.wantErr) {
				t.Errorf("err = %v, want %v", err, c.wantErr)
			}
		})
	}
}

func TestSubkeys(t *testing.T) {
	k, master := newKeyring(t)
	same, err := New(master)
	if err != nil {
		t.Fatal(err)
	}
	other, _ := newKeyring(t)
	purposes := []string{"credentials", "fingerprint", "image-urls", "sessions", ""}
	seen := map[string]string{}
	for _, p := range purposes {
		a := k.Subkey(p)
		if len(a) != 32 {
			t.Fatalf("Subkey(%q) is %d bytes", p, len(a))
		}
		if !bytes.Equal(a, same.Subkey(p)) || !bytes.Equal(a, k.Subkey(p)) {
			t.Errorf("Subkey(%q) is not deterministic", p)
		}
		if bytes.Equal(a, other.Subkey(p)) {
			t.Errorf("Subkey(%q) is the same under two master keys", p)
		}
		if bytes.Equal(a, master) {
			t.Errorf("Subkey(%q) is the master key", p)
		}
		if q, dup := seen[string(a)]; dup {
			t.Errorf("purposes %q and %q share a subkey", q, p)
		}
		seen[string(a)] = p
	}
	// The caller may scribble on its copy without harming the cache.
	s := k.Subkey("image-urls")
	clear(s)
	if bytes.Equal(k.Subkey("image-urls"), s) {
		t.Error("Subkey returned the cached slice itself")
	}
}

func TestSubkeyConcurrent(t *testing.T) {
	k, _ := newKeyring(t)
	want := k.Subkey("p0")
	var wg sync.WaitGroup
	for i := range 16 {
		wg.Go(func() {
			for j := range 100 {
				if got := k.Subkey(fmt.Sprint("p", j%4)); j%4 == 0 && !bytes.Equal(got, want) {
					t.Errorf("goroutine %d: subkey changed", i)
					return
				}
			}
		})
	}
	wg.Wait()
}

func TestFingerprint(t *testing.T) {
	// A fixed vector, computed independently with Python's hmac/hashlib
	// (RFC 5869 HKDF by hand): the fingerprint is stored by nodes, so its
	// derivation must never change silently.
	master, _ := hex.DecodeString("000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f")
	k, err := New(master)
	if err != nil {
		t.Fatal(err)
	}
	fp := k.Fingerprint()
	if len(fp) != 32 {
		t.Fatalf("fingerprint %q is not 32 hex characters", fp)
	}
	if want := "77caba3e6994c659d53660340621b937"; fp != want {
		t.Errorf("fingerprint = %s, want %s", fp, want)
	}
	other, _ := newKeyring(t)
	if other.Fingerprint() == fp {
		t.Error("two keys share a fingerprint")
	}
}

func TestKeyringNeverPrintsKey(t *testing.T) {
	k, master := newKeyring(t)
	var logged bytes.Buffer
	slog.New(slog.NewJSONHandler(&logged, nil)).Info("loaded", "keyring", k)
	outputs := map[string]string{
		"%v":   fmt.Sprintf("%v", k),
		"%+v":  fmt.Sprintf("%+v", k),
		"%#v":  fmt.Sprintf("%#v", k),
		"%s":   fmt.Sprintf("%s", k),
		"%x":   fmt.Sprintf("%x", k),
		"slog": logged.String(),
	}
	forbidden := []string{hex.EncodeToString(master), string(master), fmt.Sprint(master)}
	for verb, out := range outputs {
		for _, f := range forbidden {
			if strings.Contains(out, f) {
				t.Errorf("%s prints the key: %s", verb, out)
			}
		}
		if verb != "%x" && !strings.Contains(out, k.Fingerprint()) {
			t.Errorf("%s = %q, want it to show the fingerprint", verb, out)
		}
	}
}

func TestNewRejectsBadLength(t *testing.T) {
	for _, n := range []int{0, 16, 31, 33, 64} {
		if _, err := New(make([]byte, n)); err == nil {
			t.Errorf("New accepted a %d-byte key", n)
		}
	}
}

func BenchmarkSeal(b *testing.B) {
	k, _ := newKeyring(b)
	plain, aad := bytes.Repeat([]byte("k"), 64), []byte("channel:1")
	b.SetBytes(int64(len(plain)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := k.Seal(plain, aad); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkOpen(b *testing.B) {
	k, _ := newKeyring(b)
	plain, aad := bytes.Repeat([]byte("k"), 64), []byte("channel:1")
	sealed, _ := k.Seal(plain, aad)
	b.SetBytes(int64(len(plain)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := k.Open(sealed, aad); err != nil {
			b.Fatal(err)
		}
	}
}
