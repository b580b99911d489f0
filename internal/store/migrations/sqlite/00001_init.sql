-- +goose Up
-- SQLite: INTEGER PRIMARY KEY is the rowid (64-bit); AUTOINCREMENT keeps ids
-- from being reused, as BIGSERIAL/AUTO_INCREMENT do. VARCHAR(n) is documentation
-- only here (lengths are enforced by MySQL/PostgreSQL, so the app keeps to them).
-- TIMESTAMP columns hold UTC text written by the driver; BOOLEAN holds 0/1.

CREATE TABLE settings (
    name       VARCHAR(191) NOT NULL PRIMARY KEY,
    value      TEXT NOT NULL,
    updated_at TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP
);

CREATE TABLE user_groups (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    name            VARCHAR(191) NOT NULL UNIQUE,
    ratio_ppm       BIGINT NOT NULL DEFAULT 1000000 CHECK (ratio_ppm >= 0),
    managed_by_file BOOLEAN NOT NULL DEFAULT FALSE,
    created_at      TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP
);

CREATE TABLE users (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    email           VARCHAR(191) NOT NULL UNIQUE,
    name            VARCHAR(191) NOT NULL DEFAULT '',
    group_id        BIGINT NOT NULL,
    role            VARCHAR(16) NOT NULL DEFAULT 'user',
    status          VARCHAR(16) NOT NULL DEFAULT 'active',
    password_hash   VARCHAR(255) NOT NULL DEFAULT '',
    balance_micros  BIGINT NOT NULL DEFAULT 0,
    managed_by_file BOOLEAN NOT NULL DEFAULT FALSE,
    created_at      TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP,
    updated_at      TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP,
    FOREIGN KEY (group_id) REFERENCES user_groups (id)
);
CREATE INDEX users_group_id_idx ON users (group_id);

CREATE TABLE api_keys (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    user_id         BIGINT NOT NULL,
    name            VARCHAR(191) NOT NULL,
    prefix          VARCHAR(32) NOT NULL,
    hash            CHAR(64) NOT NULL UNIQUE,
    status          VARCHAR(16) NOT NULL DEFAULT 'active',
    expires_at      TIMESTAMP NULL,
    quota_micros    BIGINT NULL,
    used_micros     BIGINT NOT NULL DEFAULT 0,
    models          TEXT NOT NULL DEFAULT '[]',
    ip_allow        TEXT NOT NULL DEFAULT '[]',
    rpm             INTEGER NOT NULL DEFAULT 0,
    tpm             BIGINT NOT NULL DEFAULT 0,
    daily_requests  INTEGER NOT NULL DEFAULT 0,
    is_admin        BOOLEAN NOT NULL DEFAULT FALSE,
    managed_by_file BOOLEAN NOT NULL DEFAULT FALSE,
    created_at      TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP,
    UNIQUE (user_id, name),
    FOREIGN KEY (user_id) REFERENCES users (id) ON DELETE CASCADE
);

CREATE TABLE ledger (
    id                   INTEGER PRIMARY KEY AUTOINCREMENT,
    user_id              BIGINT NOT NULL,
    key_id               BIGINT NULL,
    request_id           VARCHAR(64) NULL,
    kind                 VARCHAR(16) NOT NULL,
    amount_micros        BIGINT NOT NULL,
    balance_after_micros BIGINT NOT NULL,
    note                 VARCHAR(255) NOT NULL DEFAULT '',
    created_at           TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP,
    UNIQUE (request_id, kind),
    FOREIGN KEY (user_id) REFERENCES users (id),
    FOREIGN KEY (key_id) REFERENCES api_keys (id) ON DELETE SET NULL
);
CREATE INDEX ledger_user_id_idx ON ledger (user_id, id);
CREATE INDEX ledger_key_id_idx ON ledger (key_id);

CREATE TABLE channels (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    name            VARCHAR(191) NOT NULL UNIQUE,
    type            VARCHAR(32) NOT NULL,
    config          TEXT NOT NULL DEFAULT '{}',
    managed_by_file BOOLEAN NOT NULL DEFAULT FALSE,
    created_at      TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP,
    updated_at      TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP
);

CREATE TABLE credentials (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    channel_id      BIGINT NOT NULL,
    fingerprint     CHAR(64) NOT NULL,
    sealed          BLOB NOT NULL,
    status          VARCHAR(16) NOT NULL DEFAULT 'active',
    last_error      TEXT NOT NULL DEFAULT '',
    email           VARCHAR(191) NOT NULL DEFAULT '',
    managed_by_file BOOLEAN NOT NULL DEFAULT FALSE,
    created_at      TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP,
    updated_at      TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP,
    UNIQUE (channel_id, fingerprint),
    FOREIGN KEY (channel_id) REFERENCES channels (id) ON DELETE CASCADE
);

-- +goose Down
DROP TABLE credentials;
DROP TABLE channels;
DROP TABLE ledger;
DROP TABLE api_keys;
DROP TABLE users;
DROP TABLE user_groups;
DROP TABLE settings;
