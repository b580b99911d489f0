// Package secret holds the gateway's master key and what is derived from it:
// the key that seals upstream credentials at rest, the keys that sign URLs,
// and a fingerprint that lets nodes notice they were started with different
// keys.
//
// The master key is never used directly. Every use gets its own subkey,
// HKDF-SHA256 with info "switchyard/<purpose>", so a key that leaks from one
// use (a signing key in a debugger, say) reveals nothing about the others,
// and new purposes need no new configuration.
//
// Sealing is AES-256-GCM with a random 96-bit nonce (stdlib
// cipher.NewGCMWithRandomNonce). Random nonces are safe for far more than
// the few thousand credentials a gateway stores (the limit is 2^32 seals per
// key). A sealed value is a version byte, the nonce, then the ciphertext
// and tag; the version byte leaves room to rotate the scheme later. The
// caller's additional data binds a sealed value to its context (for
// example the credential's channel), so a value copied to another row fails
// to open.
package secret

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/hkdf"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"sync"
)

// KeySize is the length of the master key in bytes.
const KeySize = 32

const (
	sealVersion  = 1
	nonceSize    = 12
	tagSize      = 16
	sealOverhead = 1 + nonceSize + tagSize

	purposeSeal        = "credentials"
	purposeFingerprint = "fingerprint"
)

// ErrOpen is returned when a sealed value fails authentication: it was
// sealed under another key or other additional data, or it was altered.
var ErrOpen = errors.New("sealed value failed authentication (different secret_key, wrong context, or corrupted data)")

// Keyring is a master key and its derived keys. It is safe for concurrent
// use. It never prints its key: fmt and slog show only its fingerprint.
type Keyring struct {
	master      [KeySize]byte
	aead        cipher.AEAD
	fingerprint string
	subkeys     sync.Map // purpose → []byte
}

// New returns a Keyring for a 32-byte master key. The key is copied.
func New(master []byte) (*Keyring, error) {
	if len(master) != KeySize {
		return nil, fmt.Errorf("secret key: want %d bytes, got %d", KeySize, len(master))
	}
	k := &Keyring{}
	copy(k.master[:], master)
	block, err := aes.NewCipher(k.Subkey(purposeSeal))
	if err != nil {
		return nil, fmt.Errorf("secret key: %w", err)
	}
	if k.aead, err = cipher.NewGCMWithRandomNonce(block); err != nil {
		return nil, fmt.Errorf("secret key: %w", err)
	}
	mac := hmac.New(sha256.New, k.Subkey(purposeFingerprint))
	mac.Write([]byte("switchyard-key-check"))
	k.fingerprint = hex.EncodeToString(mac.Sum(nil)[:16])
	return k, nil
}

// Subkey returns the 32-byte key derived for purpose. The same master key
// and purpose always give the same subkey; different purposes give
// unrelated ones. The returned slice is the caller's own copy.
func (k *Keyring) Subkey(purpose string) []byte {
	if v, ok := k.subkeys.Load(purpose); ok {
		return append([]byte(nil), v.([]byte)...)
	}
	sub, err := hkdf.Key(sha256.New, k.master[:], nil, "switchyard/"+purpose, KeySize)
	if err != nil {
		// Only possible for an output longer than 255 hash blocks.
		panic("secret: hkdf: " + err.Error())
	}
	v, _ := k.subkeys.LoadOrStore(purpose, sub)
	return append([]byte(nil), v.([]byte)...)
}

// Seal encrypts and authenticates plaintext, binding it to aad (which is
// authenticated but not stored; Open needs the same aad).
func (k *Keyring) Seal(plaintext, aad []byte) ([]byte, error) {
	out := make([]byte, 1, sealOverhead+len(plaintext))
	out[0] = sealVersion
	return k.aead.Seal(out, nil, plaintext, aad), nil
}

// Open reverses Seal. It returns ErrOpen when sealed was made with another
// key or aad, or was altered, and a format error when it is not a sealed
// value at all.
func (k *Keyring) Open(sealed, aad []byte) ([]byte, error) {
	if len(sealed) < sealOverhead {
		return nil, fmt.Errorf("open sealed value: %d bytes is too short to be one", len(sealed))
	}
	if sealed[0] != sealVersion {
		return nil, fmt.Errorf("open sealed value: unknown format version %d", sealed[0])
	}
	plain, err := k.aead.Open(nil, nil, sealed[1:], aad)
	if err != nil {
		return nil, ErrOpen
	}
	return plain, nil
}

// Fingerprint identifies the key without revealing it: hex of the first 16
// bytes of HMAC-SHA256(Subkey("fingerprint"), "switchyard-key-check"). Nodes
// store it in the database and refuse to start when theirs differs.
func (k *Keyring) Fingerprint() string { return k.fingerprint }

// String shows the fingerprint only, so a Keyring in a log line or an error
// cannot leak the key.
func (k *Keyring) String() string { return "secret.Keyring(" + k.fingerprint + ")" }

// GoString covers %#v, which would otherwise print the struct's fields.
func (k *Keyring) GoString() string { return k.String() }

// LogValue covers slog, which would otherwise reflect over the struct.
func (k *Keyring) LogValue() slog.Value {
	return slog.GroupValue(slog.String("fingerprint", k.fingerprint))
}
