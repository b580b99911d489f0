-- +goose Up
-- Console accounts (internal/auth): sessions, TOTP two-factor, recovery
-- codes and admin access tokens. Secrets are stored as SHA-256 hashes
-- (tokens, recovery codes) or sealed with the node's keyring (TOTP secret,
-- base64). totp_last_step is the last accepted 30 s step, so a code is
-- refused the second time. users.password_hash (00001) now holds argon2id
-- PHC strings.
ALTER TABLE users ADD COLUMN totp_secret TEXT NOT NULL DEFAULT '';
ALTER TABLE users ADD COLUMN totp_enabled BOOLEAN NOT NULL DEFAULT FALSE;
ALTER TABLE users ADD COLUMN totp_last_step BIGINT NOT NULL DEFAULT 0;

CREATE TABLE sessions (
    id           VARCHAR(32) NOT NULL PRIMARY KEY,
    user_id      BIGINT NOT NULL,
    hash         CHAR(64) NOT NULL UNIQUE,
    created_at   TIMESTAMP NOT NULL,
    last_seen_at TIMESTAMP NOT NULL,
    expires_at   TIMESTAMP NOT NULL,
    ip           VARCHAR(64) NOT NULL DEFAULT '',
    user_agent   VARCHAR(255) NOT NULL DEFAULT '',
    step_up_at   TIMESTAMP NULL,
    FOREIGN KEY (user_id) REFERENCES users (id) ON DELETE CASCADE
);
CREATE INDEX sessions_user_id_idx ON sessions (user_id);

CREATE TABLE recovery_codes (
    id      INTEGER PRIMARY KEY AUTOINCREMENT,
    user_id BIGINT NOT NULL,
    hash    CHAR(64) NOT NULL,
    used_at TIMESTAMP NULL,
    UNIQUE (user_id, hash),
    FOREIGN KEY (user_id) REFERENCES users (id) ON DELETE CASCADE
);

CREATE TABLE admin_tokens (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    user_id      BIGINT NOT NULL,
    name         VARCHAR(191) NOT NULL,
    prefix       VARCHAR(32) NOT NULL,
    hash         CHAR(64) NOT NULL UNIQUE,
    scope        VARCHAR(16) NOT NULL,
    expires_at   TIMESTAMP NULL,
    last_used_at TIMESTAMP NULL,
    created_at   TIMESTAMP NOT NULL,
    FOREIGN KEY (user_id) REFERENCES users (id) ON DELETE CASCADE
);

-- +goose Down
DROP TABLE admin_tokens;
DROP TABLE recovery_codes;
DROP TABLE sessions;
ALTER TABLE users DROP COLUMN totp_last_step;
ALTER TABLE users DROP COLUMN totp_enabled;
ALTER TABLE users DROP COLUMN totp_secret;
