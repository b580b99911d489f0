-- +goose Up
-- MySQL/MariaDB: InnoDB for transactions and foreign keys; utf8mb4_bin so
-- comparisons are exact as on PostgreSQL and SQLite (so the app normalises
-- emails to lower case itself; the database will not fold case anywhere).
-- VARCHAR(191) keeps a utf8mb4 unique index under the old 767-byte limit.
-- DATETIME(6), not TIMESTAMP: TIMESTAMP ends in 2038 and shifts with the
-- session time zone; the driver writes UTC (loc=UTC, time_zone '+00:00').
-- Foreign keys are table constraints: MySQL ignores inline REFERENCES.
-- TEXT defaults use the (expr) form, accepted by MySQL 8.0.13+ and MariaDB 10.2+.

CREATE TABLE settings (
    name       VARCHAR(191) NOT NULL PRIMARY KEY,
    value      TEXT NOT NULL,
    updated_at DATETIME(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

CREATE TABLE user_groups (
    id              BIGINT NOT NULL AUTO_INCREMENT PRIMARY KEY,
    name            VARCHAR(191) NOT NULL UNIQUE,
    ratio_ppm       BIGINT NOT NULL DEFAULT 1000000 CHECK (ratio_ppm >= 0),
    managed_by_file BOOLEAN NOT NULL DEFAULT FALSE,
    created_at      DATETIME(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

CREATE TABLE users (
    id              BIGINT NOT NULL AUTO_INCREMENT PRIMARY KEY,
    email           VARCHAR(191) NOT NULL UNIQUE,
    name            VARCHAR(191) NOT NULL DEFAULT '',
    group_id        BIGINT NOT NULL,
    role            VARCHAR(16) NOT NULL DEFAULT 'user',
    status          VARCHAR(16) NOT NULL DEFAULT 'active',
    password_hash   VARCHAR(255) NOT NULL DEFAULT '',
    balance_micros  BIGINT NOT NULL DEFAULT 0,
    managed_by_file BOOLEAN NOT NULL DEFAULT FALSE,
    created_at      DATETIME(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6),
    updated_at      DATETIME(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6),
    FOREIGN KEY (group_id) REFERENCES user_groups (id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;
CREATE INDEX users_group_id_idx ON users (group_id);

CREATE TABLE api_keys (
    id              BIGINT NOT NULL AUTO_INCREMENT PRIMARY KEY,
    user_id         BIGINT NOT NULL,
    name            VARCHAR(191) NOT NULL,
    prefix          VARCHAR(32) NOT NULL,
    hash            CHAR(64) CHARACTER SET ascii COLLATE ascii_bin NOT NULL UNIQUE,
    status          VARCHAR(16) NOT NULL DEFAULT 'active',
    expires_at      DATETIME(6) NULL,
    quota_micros    BIGINT NULL,
    used_micros     BIGINT NOT NULL DEFAULT 0,
    models          TEXT NOT NULL DEFAULT ('[]'),
    ip_allow        TEXT NOT NULL DEFAULT ('[]'),
    rpm             INTEGER NOT NULL DEFAULT 0,
    tpm             BIGINT NOT NULL DEFAULT 0,
    daily_requests  INTEGER NOT NULL DEFAULT 0,
    is_admin        BOOLEAN NOT NULL DEFAULT FALSE,
    managed_by_file BOOLEAN NOT NULL DEFAULT FALSE,
    created_at      DATETIME(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6),
    UNIQUE (user_id, name),
    FOREIGN KEY (user_id) REFERENCES users (id) ON DELETE CASCADE
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

CREATE TABLE ledger (
    id                   BIGINT NOT NULL AUTO_INCREMENT PRIMARY KEY,
    user_id              BIGINT NOT NULL,
    key_id               BIGINT NULL,
    request_id           VARCHAR(64) NULL,
    kind                 VARCHAR(16) NOT NULL,
    amount_micros        BIGINT NOT NULL,
    balance_after_micros BIGINT NOT NULL,
    note                 VARCHAR(255) NOT NULL DEFAULT '',
    created_at           DATETIME(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6),
    UNIQUE (request_id, kind),
    FOREIGN KEY (user_id) REFERENCES users (id),
    FOREIGN KEY (key_id) REFERENCES api_keys (id) ON DELETE SET NULL
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;
CREATE INDEX ledger_user_id_idx ON ledger (user_id, id);
CREATE INDEX ledger_key_id_idx ON ledger (key_id);

CREATE TABLE channels (
    id              BIGINT NOT NULL AUTO_INCREMENT PRIMARY KEY,
    name            VARCHAR(191) NOT NULL UNIQUE,
    type            VARCHAR(32) NOT NULL,
    config          TEXT NOT NULL DEFAULT ('{}'),
    managed_by_file BOOLEAN NOT NULL DEFAULT FALSE,
    created_at      DATETIME(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6),
    updated_at      DATETIME(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

CREATE TABLE credentials (
    id              BIGINT NOT NULL AUTO_INCREMENT PRIMARY KEY,
    channel_id      BIGINT NOT NULL,
    fingerprint     CHAR(64) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
    sealed          LONGBLOB NOT NULL,
    status          VARCHAR(16) NOT NULL DEFAULT 'active',
    last_error      TEXT NOT NULL DEFAULT (''),
    email           VARCHAR(191) NOT NULL DEFAULT '',
    managed_by_file BOOLEAN NOT NULL DEFAULT FALSE,
    created_at      DATETIME(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6),
    updated_at      DATETIME(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6),
    UNIQUE (channel_id, fingerprint),
    FOREIGN KEY (channel_id) REFERENCES channels (id) ON DELETE CASCADE
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

-- +goose Down
DROP TABLE credentials;
DROP TABLE channels;
DROP TABLE ledger;
DROP TABLE api_keys;
DROP TABLE users;
DROP TABLE user_groups;
DROP TABLE settings;
