-- +goose Up
-- Console accounts (internal/auth): sessions, TOTP two-factor, recovery
-- codes and admin access tokens. Secrets are stored as SHA-256 hashes
-- (tokens, recovery codes) or sealed with the node's keyring (TOTP secret,
-- base64). totp_last_step is the last accepted 30 s step, so a code is
-- refused the second time. users.password_hash (00001) now holds argon2id
-- PHC strings.
ALTER TABLE users ADD COLUMN totp_secret VARCHAR(255) NOT NULL DEFAULT '';
ALTER TABLE users ADD COLUMN totp_enabled BOOLEAN NOT NULL DEFAULT FALSE;
ALTER TABLE users ADD COLUMN totp_last_step BIGINT NOT NULL DEFAULT 0;

CREATE TABLE sessions (
    id           VARCHAR(32) CHARACTER SET ascii COLLATE ascii_bin NOT NULL PRIMARY KEY,
    user_id      BIGINT NOT NULL,
    hash         CHAR(64) CHARACTER SET ascii COLLATE ascii_bin NOT NULL UNIQUE,
    created_at   DATETIME(6) NOT NULL,
    last_seen_at DATETIME(6) NOT NULL,
    expires_at   DATETIME(6) NOT NULL,
    ip           VARCHAR(64) NOT NULL DEFAULT '',
    user_agent   VARCHAR(255) NOT NULL DEFAULT '',
    step_up_at   DATETIME(6) NULL,
    FOREIGN KEY (user_id) REFERENCES users (id) ON DELETE CASCADE
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;
CREATE INDEX sessions_user_id_idx ON sessions (user_id);

CREATE TABLE recovery_codes (
    id      BIGINT NOT NULL AUTO_INCREMENT PRIMARY KEY,
    user_id BIGINT NOT NULL,
    hash    CHAR(64) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
    used_at DATETIME(6) NULL,
    UNIQUE (user_id, hash),
    FOREIGN KEY (user_id) REFERENCES users (id) ON DELETE CASCADE
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

CREATE TABLE admin_tokens (
    id           BIGINT NOT NULL AUTO_INCREMENT PRIMARY KEY,
    user_id      BIGINT NOT NULL,
    name         VARCHAR(191) NOT NULL,
    prefix       VARCHAR(32) NOT NULL,
    hash         CHAR(64) CHARACTER SET ascii COLLATE ascii_bin NOT NULL UNIQUE,
    scope        VARCHAR(16) NOT NULL,
    expires_at   DATETIME(6) NULL,
    last_used_at DATETIME(6) NULL,
    created_at   DATETIME(6) NOT NULL,
    FOREIGN KEY (user_id) REFERENCES users (id) ON DELETE CASCADE
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

-- +goose Down
DROP TABLE admin_tokens;
DROP TABLE recovery_codes;
DROP TABLE sessions;
ALTER TABLE users DROP COLUMN totp_last_step;
ALTER TABLE users DROP COLUMN totp_enabled;
ALTER TABLE users DROP COLUMN totp_secret;
