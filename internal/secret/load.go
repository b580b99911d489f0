package secret

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"strings"
)

// FileName is the key file Load reads and writes inside the data directory.
const FileName = "secret.key"

const (
	errBadHex = "secret_key: must be 64 hex characters (32 bytes); generate one with: openssl rand -hex 32"
	errShared = "secret_key: required when several nodes share state (redis.url or a PostgreSQL/MySQL database is set); " +
		"set SWITCHYARD_SECRET_KEY to 64 hex characters generated with: openssl rand -hex 32"
)

// Load returns the gateway's keyring.
//
//   - hexKey set (from secret_key / SWITCHYARD_SECRET_KEY): it must be 64
//     hex characters.
//   - otherwise, when multiNode: an error, because nodes that generated
//     their own keys could not open each other's sealed credentials.
//   - otherwise the key in <dataDir>/secret.key, which must not be readable
//     by group or others; when there is none, a new random key is written
//     there (owner-only) and generated is true.
//
// The file holds the key as hex, the same form as the setting, so a
// single-node install can move to several nodes by copying it into
// SWITCHYARD_SECRET_KEY.
func Load(hexKey string, dataDir string, multiNode bool) (k *Keyring, generated bool, err error) {
	if hexKey = strings.TrimSpace(hexKey); hexKey != "" {
		k, err := parseHex(hexKey)
		if err != nil {
			return nil, false, errors.New(errBadHex)
		}
		return k, false, nil
	}
	if multiNode {
		return nil, false, errors.New(errShared)
	}
	path := filepath.Join(dataDir, FileName)
	k, err = readKeyFile(path)
	if !errors.Is(err, fs.ErrNotExist) {
		return k, false, err
	}
	return generateKeyFile(dataDir, path)
}

func parseHex(s string) (*Keyring, error) {
	if len(s) != 2*KeySize {
		return nil, errors.New("wrong length")
	}
	b, err := hex.DecodeString(s)
	if err != nil {
		return nil, err
	}
	return New(b)
}

// readKeyFile returns an error wrapping fs.ErrNotExist when there is no file.
func readKeyFile(path string) (*Keyring, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return nil, fmt.Errorf("secret key file: %w", err)
	}
	// Windows has no Unix permission bits; its ACLs are the owner's business.
	if perm := fi.Mode().Perm(); perm&0o077 != 0 && runtime.GOOS != "windows" {
		return nil, fmt.Errorf("secret key file %s is readable by group or others (mode %04o); restrict it with: chmod 600 %s",
			path, perm, path)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("secret key file: %w", err)
	}
	k, err := parseHex(strings.TrimSpace(string(b)))
	if err != nil {
		// Never echo the content: it is (most of) a key.
		return nil, fmt.Errorf("secret key file %s: must hold 64 hex characters (32 bytes)", path)
	}
	return k, nil
}

// generateKeyFile writes a new random key to path without ever exposing a
// partial file or replacing an existing one: the key is written to a
// temporary file and hard-linked into place, which fails if path exists. A
// process that loses that race uses the winner's key.
func generateKeyFile(dataDir, path string) (*Keyring, bool, error) {
	var key [KeySize]byte
	if _, err := rand.Read(key[:]); err != nil {
		return nil, false, fmt.Errorf("generate secret key: %w", err)
	}
	k, err := New(key[:])
	if err != nil {
		return nil, false, err
	}
	if err := os.MkdirAll(dataDir, 0o700); err != nil {
		return nil, false, fmt.Errorf("generate secret key: create data directory: %w", err)
	}
	tmp, err := os.CreateTemp(dataDir, ".secret.key-*") // created 0600
	if err != nil {
		return nil, false, fmt.Errorf("generate secret key: %w", err)
	}
	defer os.Remove(tmp.Name())
	_, err = tmp.WriteString(hex.EncodeToString(key[:]) + "\n")
	if err == nil {
		err = tmp.Sync() // the key must be on disk before anything is sealed with it
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return nil, false, fmt.Errorf("generate secret key: write %s: %w", tmp.Name(), err)
	}

	err = os.Link(tmp.Name(), path)
	switch {
	case err == nil:
	case errors.Is(err, fs.ErrExist):
		k, err := readKeyFile(path)
		return k, false, err
	default:
		// Some filesystems have no hard links; rename may replace a file
		// created in the instant since Load looked, which is the lesser risk
		// than failing to start.
		if _, serr := os.Stat(path); serr == nil {
			k, err := readKeyFile(path)
			return k, false, err
		}
		if err := os.Rename(tmp.Name(), path); err != nil {
			return nil, false, fmt.Errorf("generate secret key: %w", err)
		}
	}
	syncDir(dataDir)
	return k, true, nil
}

// syncDir makes the new directory entry durable. Best effort: not every
// platform can fsync a directory, and the file itself is already synced.
func syncDir(dir string) {
	if d, err := os.Open(dir); err == nil {
		_ = d.Sync()
		d.Close()
	}
}
