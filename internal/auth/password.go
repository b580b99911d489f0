package auth

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"unicode/utf8"

	"golang.org/x/crypto/argon2"
)

// Passwords are hashed with argon2id and stored as PHC strings,
//
//	$argon2id$v=19$m=19456,t=2,p=1$<salt>$<hash>
//
// (salt and hash in unpadded standard base64), so that the parameters travel
// with each hash: raising them later only makes NeedsRehash true for the
// old hashes, which are replaced at the next successful login.

// PasswordParams are argon2id's cost parameters.
type PasswordParams struct {
	Memory  uint32 // KiB
	Time    uint32 // passes
	Threads uint8
}

// DefaultPasswordParams are OWASP's recommended minimum for argon2id
// (19 MiB, 2 passes, 1 thread): about 30 ms on a server core.
var DefaultPasswordParams = PasswordParams{Memory: 19 * 1024, Time: 2, Threads: 1}

// MinPasswordLength is the fewest characters a password may have; the same
// rule as config's admin.password.
const MinPasswordLength = 12

// maxPasswordBytes bounds what is hashed: argon2 takes any length, but a
// megabyte "password" would be a cheap way to burn CPU.
const maxPasswordBytes = 1024

const (
	saltLen = 16
	hashLen = 32
)

// ErrWeakPassword is returned for a password that breaks CheckPassword.
var ErrWeakPassword = fmt.Errorf("password must have at least %d characters", MinPasswordLength)

// CheckPassword reports whether pw is acceptable as a new password.
func CheckPassword(pw string) error {
	if utf8.RuneCountInString(pw) < MinPasswordLength {
		return ErrWeakPassword
	}
	if len(pw) > maxPasswordBytes {
		return fmt.Errorf("password must be at most %d bytes", maxPasswordBytes)
	}
	return nil
}

// HashPassword returns the PHC string of pw under DefaultPasswordParams.
func HashPassword(pw string) string { return hashWith(pw, DefaultPasswordParams) }

func hashWith(pw string, p PasswordParams) string {
	salt := make([]byte, saltLen)
	_, _ = rand.Read(salt) // never fails (crypto/rand panics instead)
	sum := argon2.IDKey([]byte(pw), salt, p.Time, p.Memory, p.Threads, hashLen)
	enc := base64.RawStdEncoding
	return fmt.Sprintf("$argon2id$v=%d$m=%d,t=%d,p=%d$%s$%s", argon2.Version, p.Memory, p.Time, p.Threads,
		enc.EncodeToString(salt), enc.EncodeToString(sum))
}

// phc is a parsed PHC string.
type phc struct {
	params     PasswordParams
	salt, hash []byte
}

var errBadHash = errors.New("stored password hash is not an argon2id PHC string")

func parsePHC(s string) (phc, error) {
	// "", "argon2id", "v=19", "m=…,t=…,p=…", salt, hash
	parts := strings.Split(s, "$")
	if len(parts) != 6 || parts[0] != "" || parts[1] != "argon2id" || parts[2] != "v="+strconv.Itoa(argon2.Version) {
		return phc{}, errBadHash
	}
	var out phc
	for _, kv := range strings.Split(parts[3], ",") {
		k, v, _ := strings.Cut(kv, "=")
		n, err := strconv.ParseUint(v, 10, 32)
		if err != nil {
			return phc{}, errBadHash
		}
		switch k {
		case "m":
			out.params.Memory = uint32(n)
		case "t":
			out.params.Time = uint32(n)
		case "p":
			if n > 255 {
				return phc{}, errBadHash
			}
			out.params.Threads = uint8(n)
		default:
			return phc{}, errBadHash
		}
	}
	// Refuse parameters no hash of ours has, rather than let a tampered row
	// make a login allocate gigabytes.
	if out.params.Memory < 8 || out.params.Memory > 1<<21 || out.params.Time < 1 || out.params.Time > 64 || out.params.Threads < 1 {
		return phc{}, errBadHash
	}
	var err error
	if out.salt, err = base64.RawStdEncoding.DecodeString(parts[4]); err != nil || len(out.salt) < 8 {
		return phc{}, errBadHash
	}
	if out.hash, err = base64.RawStdEncoding.DecodeString(parts[5]); err != nil || len(out.hash) < 16 {
		return phc{}, errBadHash
	}
	return out, nil
}

// VerifyPassword reports whether pw matches the PHC string stored, in time
// independent of where they differ. An empty or malformed stored value
// matches nothing.
func VerifyPassword(stored, pw string) bool {
	h, err := parsePHC(stored)
	if err != nil || len(pw) > maxPasswordBytes {
		return false
	}
	sum := argon2.IDKey([]byte(pw), h.salt, h.params.Time, h.params.Memory, h.params.Threads, uint32(len(h.hash)))
	return subtle.ConstantTimeCompare(sum, h.hash) == 1
}

// NeedsRehash reports whether stored was made with weaker parameters than
// DefaultPasswordParams (or is not one of our hashes at all).
func NeedsRehash(stored string) bool {
	h, err := parsePHC(stored)
	if err != nil {
		return true
	}
	d := DefaultPasswordParams
	return h.params.Memory < d.Memory || h.params.Time < d.Time || h.params.Threads < d.Threads || len(h.hash) < hashLen
}

// dummyHash is verified against when the email is unknown, so that an
// unknown email costs the same argon2 run as a wrong password.
var dummyHash = sync.OnceValue(func() string {
	var b [24]byte
	_, _ = rand.Read(b[:])
	return HashPassword(base64.RawURLEncoding.EncodeToString(b[:]))
})
