-- +goose Up
-- Redemption and invite codes. A code is stored as the hex SHA-256 of its
-- canonical text and shown once; prefix is its first characters, to tell
-- codes apart in listings. uses < max_uses is claimed by one conditional
-- UPDATE, so concurrent redemptions of one code cannot both win.
CREATE TABLE redemption_codes (
    id                   INTEGER PRIMARY KEY AUTOINCREMENT,
    hash                 CHAR(64) NOT NULL UNIQUE,
    prefix               VARCHAR(16) NOT NULL,
    kind                 VARCHAR(8) NOT NULL CHECK (kind IN ('credit', 'invite')),
    value_micros         BIGINT NOT NULL CHECK (value_micros >= 0),
    inviter_bonus_micros BIGINT NOT NULL DEFAULT 0 CHECK (inviter_bonus_micros >= 0),
    inviter_user_id      BIGINT NULL,
    batch                VARCHAR(64) NOT NULL DEFAULT '',
    note                 VARCHAR(255) NOT NULL DEFAULT '',
    expires_at           TIMESTAMP NULL,
    max_uses             INTEGER NOT NULL DEFAULT 1,
    uses                 INTEGER NOT NULL DEFAULT 0,
    created_at           TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP,
    FOREIGN KEY (inviter_user_id) REFERENCES users (id) ON DELETE CASCADE
);
CREATE INDEX redemption_codes_batch_idx ON redemption_codes (batch, id);

-- One row per (code, user). invite_user_id is the user again when the code
-- is an invite and NULL otherwise: its unique index lets a user redeem at
-- most one invite code ever (NULLs never collide).
CREATE TABLE redemptions (
    id             INTEGER PRIMARY KEY AUTOINCREMENT,
    code_id        BIGINT NOT NULL,
    user_id        BIGINT NOT NULL,
    invite_user_id BIGINT NULL UNIQUE,
    created_at     TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP,
    UNIQUE (code_id, user_id),
    FOREIGN KEY (code_id) REFERENCES redemption_codes (id) ON DELETE CASCADE,
    FOREIGN KEY (user_id) REFERENCES users (id) ON DELETE CASCADE
);
CREATE INDEX redemptions_user_id_idx ON redemptions (user_id);

-- +goose Down
DROP TABLE redemptions;
DROP TABLE redemption_codes;
