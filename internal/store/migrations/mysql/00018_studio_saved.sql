-- +goose Up
-- The image studio's presets and prompt snippets, per user (see
-- internal/studio). A preset is a named set of parameters (JSON); names
-- are unique per user compared trimmed and case-insensitive (name_key).
-- A snippet is a piece of prompt text, unique per user by its SHA-256
-- (text_hash); saving it again moves it to the top (used_at). How many a
-- user may keep, and how large each is, the studio package bounds.
CREATE TABLE studio_presets (
    id         BIGINT NOT NULL AUTO_INCREMENT PRIMARY KEY,
    user_id    BIGINT NOT NULL,
    name       VARCHAR(64) NOT NULL,
    name_key   VARCHAR(64) NOT NULL,
    params     TEXT NOT NULL,
    updated_at DATETIME(6) NOT NULL
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;
CREATE UNIQUE INDEX studio_presets_user_name_idx ON studio_presets (user_id, name_key);

CREATE TABLE studio_snippets (
    id        BIGINT NOT NULL AUTO_INCREMENT PRIMARY KEY,
    user_id   BIGINT NOT NULL,
    text      TEXT NOT NULL,
    text_hash CHAR(64) NOT NULL,
    used_at   DATETIME(6) NOT NULL
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;
CREATE UNIQUE INDEX studio_snippets_user_text_idx ON studio_snippets (user_id, text_hash);

-- +goose Down
DROP TABLE studio_snippets;
DROP TABLE studio_presets;
