-- +goose Up
-- The gallery (see internal/gallery): one row per image a user made that
-- is kept in image storage, through the console's studio or the API, or
-- imported. storage_key is the image's object in image storage, owned by
-- the gallery from the row's creation: the image task sweeper leaves it
-- alone, and deleting the row deletes it. thumb_state is pending until the
-- thumbnailer has read the image (width, height, thumb_key), then ready or
-- failed. task_id is '' for an imported image. No foreign key to users, as
-- for image_tasks.
CREATE TABLE gallery_images (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    user_id      BIGINT NOT NULL,
    task_id      VARCHAR(40) NOT NULL DEFAULT '',
    output_index INTEGER NOT NULL DEFAULT 0,
    prompt       TEXT NOT NULL DEFAULT '',
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
    created_at   TIMESTAMP NOT NULL
);
CREATE UNIQUE INDEX gallery_images_key_idx ON gallery_images (storage_key);
-- Listings page newest first by id (keyset); date filters use the
-- created_at indexes.
CREATE INDEX gallery_images_user_idx ON gallery_images (user_id, id);
CREATE INDEX gallery_images_user_time_idx ON gallery_images (user_id, created_at);
CREATE INDEX gallery_images_fav_idx ON gallery_images (user_id, favourite, id);
CREATE INDEX gallery_images_time_idx ON gallery_images (created_at);
CREATE INDEX gallery_images_thumb_idx ON gallery_images (thumb_state, id);
-- Prompt search: an external-content FTS5 index with the trigram
-- tokenizer, so any substring of three characters or more (Chinese
-- included) matches; the triggers keep it in step with the table.
CREATE VIRTUAL TABLE gallery_images_fts USING fts5(prompt, content='gallery_images', content_rowid='id', tokenize='trigram');
-- +goose StatementBegin
CREATE TRIGGER gallery_images_fts_ai AFTER INSERT ON gallery_images BEGIN
    INSERT INTO gallery_images_fts (rowid, prompt) VALUES (new.id, new.prompt);
END;
-- +goose StatementEnd
-- +goose StatementBegin
CREATE TRIGGER gallery_images_fts_ad AFTER DELETE ON gallery_images BEGIN
    INSERT INTO gallery_images_fts (gallery_images_fts, rowid, prompt) VALUES ('delete', old.id, old.prompt);
END;
-- +goose StatementEnd
-- +goose StatementBegin
CREATE TRIGGER gallery_images_fts_au AFTER UPDATE OF prompt ON gallery_images BEGIN
    INSERT INTO gallery_images_fts (gallery_images_fts, rowid, prompt) VALUES ('delete', old.id, old.prompt);
    INSERT INTO gallery_images_fts (rowid, prompt) VALUES (new.id, new.prompt);
END;
-- +goose StatementEnd

-- +goose Down
DROP TRIGGER gallery_images_fts_au;
DROP TRIGGER gallery_images_fts_ad;
DROP TRIGGER gallery_images_fts_ai;
DROP TABLE gallery_images_fts;
DROP TABLE gallery_images;
