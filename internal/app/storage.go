package app

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"

	"github.com/redis/go-redis/v9"

	"github.com/switchyard/switchyard/internal/config"
	"github.com/switchyard/switchyard/internal/secret"
	"github.com/switchyard/switchyard/internal/store"
)

// Storage is what a node keeps its state in: the migrated database, Redis
// when configured, and the secret keyring pinned to that database. The
// server and the command-line tools that touch stored credentials open it
// the same way, so a tool can never seal with a key the server would refuse.
type Storage struct {
	DB      *store.DB
	Redis   *redis.Client // nil when redis.url is not set
	Keyring *secret.Keyring
}

// OpenStorage creates the data dir, opens and migrates the database,
// connects Redis when configured, and loads (or, single-node, generates)
// the secret key, checking it against the fingerprint the database was
// initialised with. Its errors name what failed and never carry a secret.
// On success the caller must Close the Storage.
func OpenStorage(ctx context.Context, cfg *config.Config, log *slog.Logger) (st *Storage, err error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	// The data dir holds the SQLite file, the generated key and images:
	// nobody else on the machine needs to read it.
	if err := os.MkdirAll(cfg.Server.DataDir, 0o700); err != nil {
		return nil, fmt.Errorf("create data dir %s: %w", cfg.Server.DataDir, err)
	}
	st = &Storage{}
	defer func() {
		if err != nil {
			_ = st.Close()
			st = nil
		}
	}()
	if st.DB, err = store.Open(ctx, cfg.Database.URL.Value(), log); err != nil {
		return st, err
	}
	st.DB.SetPoolLimits(cfg.Database.MaxOpenConns, cfg.Database.ConnMaxIdle)
	// store logs each migration it applies.
	if _, err = st.DB.Migrate(ctx); err != nil {
		return st, err
	}
	if cfg.Redis.URL != "" {
		store.SetRedisLogger(log)
		if st.Redis, err = store.OpenRedis(ctx, cfg.Redis.URL.Value()); err != nil {
			return st, err
		}
	}
	if st.Keyring, err = loadKeyring(ctx, cfg, st.DB, log); err != nil {
		return st, err
	}
	return st, nil
}

// Close releases Redis and the database. It is safe on a partly opened
// Storage.
func (st *Storage) Close() error {
	var errs []error
	if st.Redis != nil {
		if err := st.Redis.Close(); err != nil {
			errs = append(errs, fmt.Errorf("close redis: %w", err))
		}
	}
	if st.DB != nil {
		if err := st.DB.Close(); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// loadKeyring loads (or, single-node, generates) the secret key and pins its
// fingerprint in the database, so a node started with another key refuses to
// run instead of failing later on every sealed credential.
func loadKeyring(ctx context.Context, cfg *config.Config, db *store.DB, log *slog.Logger) (*secret.Keyring, error) {
	kr, generated, err := secret.Load(cfg.SecretKey.Value(), cfg.Server.DataDir, cfg.MultiNode())
	if err != nil {
		return nil, fmt.Errorf("load secret key: %w", err)
	}
	if generated {
		log.Warn("generated a new secret key at "+filepath.Join(cfg.Server.DataDir, secret.FileName)+
			"; back it up with the database, or set secret_key", "fingerprint", kr.Fingerprint())
	}
	fp := kr.Fingerprint()
	stored, err := db.SetSettingIfAbsent(ctx, FingerprintSetting, fp)
	if err != nil {
		return nil, fmt.Errorf("record secret key fingerprint: %w", err)
	}
	if stored != fp {
		log.Error("secret key mismatch", "configured_fingerprint", fp, "database_fingerprint", stored)
		return nil, ErrSecretKeyMismatch
	}
	return kr, nil
}
