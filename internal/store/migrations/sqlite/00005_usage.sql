-- +goose Up
-- One row per request, written in batches by the billing journal's drainer
-- (see internal/usage). charge_id is the request's billing charge: a batch
-- written again after a crash or a timeout stores each row once. There are
-- no foreign keys on purpose: the log outlives deleted users and keys, and
-- a row must never be refused because its key went away meanwhile.
-- created_at is when the request started; token counts are as billed.
CREATE TABLE usage_logs (
    id                INTEGER PRIMARY KEY AUTOINCREMENT,
    charge_id         VARCHAR(40) NOT NULL UNIQUE,
    request_id        VARCHAR(128) NOT NULL,
    created_at        TIMESTAMP NOT NULL,
    user_id           BIGINT NULL,
    key_id            BIGINT NULL,
    model             VARCHAR(191) NOT NULL DEFAULT '',
    served_model      VARCHAR(191) NOT NULL DEFAULT '',
    channel           VARCHAR(191) NOT NULL DEFAULT '',
    credential_id     BIGINT NULL,
    attempts          INTEGER NOT NULL DEFAULT 0,
    stream            BOOLEAN NOT NULL DEFAULT FALSE,
    status            INTEGER NOT NULL DEFAULT 0,
    error             VARCHAR(500) NOT NULL DEFAULT '',
    prompt_tokens     BIGINT NOT NULL DEFAULT 0,
    completion_tokens BIGINT NOT NULL DEFAULT 0,
    cached_tokens     BIGINT NOT NULL DEFAULT 0,
    reasoning_tokens  BIGINT NOT NULL DEFAULT 0,
    images            INTEGER NOT NULL DEFAULT 0,
    estimated         BOOLEAN NOT NULL DEFAULT FALSE,
    cost_micros       BIGINT NOT NULL DEFAULT 0,
    ttfb_ms           BIGINT NOT NULL DEFAULT 0,
    duration_ms       BIGINT NOT NULL DEFAULT 0,
    client_ip         VARCHAR(64) NOT NULL DEFAULT ''
);
CREATE INDEX usage_logs_user_id_idx ON usage_logs (user_id, id);
CREATE INDEX usage_logs_key_id_idx ON usage_logs (key_id, id);
CREATE INDEX usage_logs_created_at_idx ON usage_logs (created_at);
CREATE INDEX usage_logs_request_id_idx ON usage_logs (request_id);

-- +goose Down
DROP TABLE usage_logs;
