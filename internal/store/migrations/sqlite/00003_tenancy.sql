-- +goose Up
-- Per-group rate limits (0 = no limit) for the limiter, and api_keys.updated_at
-- for the console. SQLite cannot ADD COLUMN with a non-constant default such
-- as CURRENT_TIMESTAMP, so existing rows get their created_at copied in and
-- the application writes updated_at on every insert and update.
ALTER TABLE user_groups ADD COLUMN rpm INTEGER NOT NULL DEFAULT 0;
ALTER TABLE user_groups ADD COLUMN tpm BIGINT NOT NULL DEFAULT 0;
ALTER TABLE user_groups ADD COLUMN daily_requests INTEGER NOT NULL DEFAULT 0;
ALTER TABLE api_keys ADD COLUMN updated_at TIMESTAMP NOT NULL DEFAULT '1970-01-01 00:00:00+00:00';
UPDATE api_keys SET updated_at = created_at;

-- +goose Down
ALTER TABLE api_keys DROP COLUMN updated_at;
ALTER TABLE user_groups DROP COLUMN daily_requests;
ALTER TABLE user_groups DROP COLUMN tpm;
ALTER TABLE user_groups DROP COLUMN rpm;
