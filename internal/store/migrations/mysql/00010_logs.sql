-- +goose Up
-- The routing story of a request that failed over: every attempt as
-- compact JSON, [{"channel","credential_id","status","latency_ms","error"}].
-- NULL for a request served by its first attempt (most of them): the row's
-- own channel, credential_id and status tell it, and nothing is stored.
ALTER TABLE usage_logs ADD COLUMN route TEXT NULL;
-- The console's per-credential drill-down ("why does this one fail").
CREATE INDEX usage_logs_credential_id_idx ON usage_logs (credential_id, id);

-- Writes made through the console API and the CLI (see internal/audit).
-- Never updated or deleted by the application. actor_id is NULL for the
-- CLI; before_json/after_json hold the values with secrets removed.
CREATE TABLE audit_log (
    id          BIGINT NOT NULL AUTO_INCREMENT PRIMARY KEY,
    created_at  DATETIME(6) NOT NULL,
    actor_id    BIGINT NULL,
    actor_email VARCHAR(191) NOT NULL DEFAULT '',
    via         VARCHAR(16) NOT NULL DEFAULT '',
    ip          VARCHAR(64) NOT NULL DEFAULT '',
    method      VARCHAR(16) NOT NULL DEFAULT '',
    route       VARCHAR(191) NOT NULL DEFAULT '',
    action      VARCHAR(64) NOT NULL DEFAULT '',
    target      VARCHAR(191) NOT NULL DEFAULT '',
    status      INTEGER NOT NULL DEFAULT 0,
    before_json TEXT NULL,
    after_json  TEXT NULL,
    request_id  VARCHAR(128) NOT NULL DEFAULT ''
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;
CREATE INDEX audit_log_actor_idx ON audit_log (actor_id, id);
CREATE INDEX audit_log_action_idx ON audit_log (action, id);
CREATE INDEX audit_log_target_idx ON audit_log (target, id);

-- The admin's list of every user's image tasks, newest first.
CREATE INDEX image_tasks_created_at_idx ON image_tasks (created_at);

-- +goose Down
DROP INDEX image_tasks_created_at_idx ON image_tasks;
DROP TABLE audit_log;
DROP INDEX usage_logs_credential_id_idx ON usage_logs;
ALTER TABLE usage_logs DROP COLUMN route;
