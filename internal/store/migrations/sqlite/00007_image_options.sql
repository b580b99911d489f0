-- +goose Up
-- Per-group and per-key image defaults and per-key webhooks. '' means unset:
-- a key's image_response_format falls back to its group's, the group's to
-- images.response_format. webhook_secret holds the secret sealed with
-- secret_key (base64), bound to the key's id, and NULL when the key has no
-- webhook.
ALTER TABLE user_groups ADD COLUMN image_response_format VARCHAR(16) NOT NULL DEFAULT '';
ALTER TABLE api_keys ADD COLUMN image_response_format VARCHAR(16) NOT NULL DEFAULT '';
ALTER TABLE api_keys ADD COLUMN webhook_url VARCHAR(2048) NOT NULL DEFAULT '';
ALTER TABLE api_keys ADD COLUMN webhook_secret TEXT NULL;

-- +goose Down
ALTER TABLE api_keys DROP COLUMN webhook_secret;
ALTER TABLE api_keys DROP COLUMN webhook_url;
ALTER TABLE api_keys DROP COLUMN image_response_format;
ALTER TABLE user_groups DROP COLUMN image_response_format;
