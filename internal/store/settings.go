package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"
)

// The settings table holds small named values the nodes must agree on, such
// as the fingerprint of the secret key. Values are not secret.

// GetSetting returns the value stored under name; ok is false when there is none.
func (db *DB) GetSetting(ctx context.Context, name string) (value string, ok bool, err error) {
	err = db.read.QueryRowContext(ctx, db.dialect.Rebind("SELECT value FROM settings WHERE name = ?"), name).Scan(&value)
	if errors.Is(err, sql.ErrNoRows) {
		return "", false, nil
	}
	if err != nil {
		return "", false, fmt.Errorf("get setting %s: %w", name, err)
	}
	return value, true, nil
}

// SetSettingIfAbsent stores value under name unless a value is already
// there, and returns what is stored after the call. Under concurrency,
// from one node or many, exactly one caller's value wins and every caller
// gets that value back.
func (db *DB) SetSettingIfAbsent(ctx context.Context, name, value string) (stored string, err error) {
	q := db.dialect.InsertIgnore("settings", []string{"name", "value", "updated_at"}, []string{"name"})
	if _, err := db.write.ExecContext(ctx, q, name, value, time.Now().UTC()); err != nil {
		return "", fmt.Errorf("set setting %s: %w", name, err)
	}
	// The insert either committed our row or found a committed one (the
	// conflict check waits for a concurrent inserter), so this read sees the
	// winner. It uses the write pool so that it can never be served by a
	// reader that lags behind, should the read pool ever point elsewhere.
	err = db.write.QueryRowContext(ctx, db.dialect.Rebind("SELECT value FROM settings WHERE name = ?"), name).Scan(&stored)
	if err != nil {
		return "", fmt.Errorf("read back setting %s: %w", name, err)
	}
	return stored, nil
}

// SetSetting stores value under name, replacing any previous value.
func (db *DB) SetSetting(ctx context.Context, name, value string) error {
	q := db.dialect.Upsert("settings", []string{"name", "value", "updated_at"}, []string{"name"}, []string{"value", "updated_at"})
	if _, err := db.write.ExecContext(ctx, q, name, value, time.Now().UTC()); err != nil {
		return fmt.Errorf("set setting %s: %w", name, err)
	}
	return nil
}
