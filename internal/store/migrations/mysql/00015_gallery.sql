-- +goose Up
-- The gallery (see internal/gallery): one row per image a user made that
-- is kept in image storage, through the console's studio or the API, or
-- imported. storage_key is the image's object in image storage, owned by
-- the gallery from the row's creation: the image task sweeper leaves it
-- alone, and deleting the row deletes it. thumb_state is pending until the
-- thumbnailer has read the image (width, height, thumb_key), then ready or
-- failed. task_id is '' for an imported image. No foreign key to users, as
-- for image_tasks. prompt is case-insensitive, for LIKE searches.
CREATE TABLE gallery_images (
    id           BIGINT NOT NULL AUTO_INCREMENT PRIMARY KEY,
    user_id      BIGINT NOT NULL,
    task_id      VARCHAR(40) NOT NULL DEFAULT '',
    output_index INTEGER NOT NULL DEFAULT 0,
    prompt       TEXT CHARACTER SET utf8mb4 COLLATE utf8mb4_general_ci NOT NULL DEFAULT (''),
    model        VARCHAR(191) NOT NULL DEFAULT '',
    size         VARCHAR(32) NOT NULL DEFAULT '',
    quality      VARCHAR(16) NOT NULL DEFAULT '',
    storage_key  VARCHAR(255) NOT NULL,
    bytes        BIGINT NOT NULL DEFAULT 0,
    mime         VARCHAR(64) NOT NULL DEFAULT '',
    width        INTEGER NOT NULL DEFAULT 0,
    height       INTEGER NOT NULL DEFAULT 0,
    favourite    BOOLEAN NOT NULL DEFAULT FALSE,
    thumb_key    VARCHAR(255) NOT NULL DEFAULT '',
    thumb_state  VARCHAR(16) NOT NULL DEFAULT 'pending',
    created_at   DATETIME(6) NOT NULL
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;
CREATE UNIQUE INDEX gallery_images_key_idx ON gallery_images (storage_key);
-- Listings page newest first by id (keyset); date filters use the
-- created_at indexes.
CREATE INDEX gallery_images_user_idx ON gallery_images (user_id, id);
CREATE INDEX gallery_images_user_time_idx ON gallery_images (user_id, created_at);
CREATE INDEX gallery_images_fav_idx ON gallery_images (user_id, favourite, id);
CREATE INDEX gallery_images_time_idx ON gallery_images (created_at);
CREATE INDEX gallery_images_thumb_idx ON gallery_images (thumb_state, id);
-- Prompt search: on MySQL a FULLTEXT index with the ngram parser (CJK
-- text has no spaces to split words at). MariaDB has no ngram parser, and
-- its word parser would not find a substring, so there the index is not
-- created and searches use LIKE (internal/gallery looks for the index).
-- +goose StatementBegin
SET @gallery_ft = IF(VERSION() LIKE '%MariaDB%', 'DO 0',
    'ALTER TABLE gallery_images ADD FULLTEXT INDEX gallery_images_prompt_ft (prompt) WITH PARSER ngram');
-- +goose StatementEnd
PREPARE gallery_ft FROM @gallery_ft;
EXECUTE gallery_ft;
DEALLOCATE PREPARE gallery_ft;

-- +goose Down
DROP TABLE gallery_images;
