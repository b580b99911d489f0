-- +goose Up
-- kind: 'key' (an API key) or 'oauth' (an access/refresh token pair).
-- options: JSON of the per-credential settings (daily limits, proxy, weight).
-- version: bumped on every change of the sealed secret, so that two nodes
-- refreshing the same OAuth token can compare-and-swap instead of
-- overwriting each other's rotated refresh token.
ALTER TABLE credentials ADD COLUMN kind VARCHAR(16) NOT NULL DEFAULT 'key';
ALTER TABLE credentials ADD COLUMN options TEXT NOT NULL DEFAULT ('{}');
ALTER TABLE credentials ADD COLUMN version BIGINT NOT NULL DEFAULT 0;

-- +goose Down
ALTER TABLE credentials DROP COLUMN version;
ALTER TABLE credentials DROP COLUMN options;
ALTER TABLE credentials DROP COLUMN kind;
