-- +goose Up
-- When each API key last authenticated a request, to the second or so.
-- It is written off the request path: every node keeps the newest time per
-- key in memory and flushes it in one batch every few seconds (see
-- internal/auth, LastUsed), never moving it backwards, so that nodes
-- flushing in any order keep the latest. NULL = never used.
ALTER TABLE api_keys ADD COLUMN last_used_at TIMESTAMPTZ NULL;

-- +goose Down
ALTER TABLE api_keys DROP COLUMN last_used_at;
