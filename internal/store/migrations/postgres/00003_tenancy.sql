-- +goose Up
-- Per-group rate limits (0 = no limit) for the limiter, and api_keys.updated_at
-- for the console.
ALTER TABLE user_groups ADD COLUMN rpm INTEGER NOT NULL DEFAULT 0;
ALTER TABLE user_groups ADD COLUMN tpm BIGINT NOT NULL DEFAULT 0;
ALTER TABLE user_groups ADD COLUMN daily_requests INTEGER NOT NULL DEFAULT 0;
ALTER TABLE api_keys ADD COLUMN updated_at TIMESTAMPTZ NOT NULL DEFAULT now();

-- +goose Down
ALTER TABLE api_keys DROP COLUMN updated_at;
ALTER TABLE user_groups DROP COLUMN daily_requests;
ALTER TABLE user_groups DROP COLUMN tpm;
ALTER TABLE user_groups DROP COLUMN rpm;
