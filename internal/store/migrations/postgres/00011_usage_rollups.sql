-- +goose Up
-- Usage rollups for the console's analytics (see internal/usage/rollup.go),
-- written by the usage log's batched writer in the transaction that stores
-- the usage rows, so they always equal an aggregate of the log. One table
-- per bucket width: minutes (kept about 25 h), hours (kept about 32 days)
-- and days (kept about 400 days; long-range breakdowns read whole days).
-- bucket is the bucket's start in Unix seconds (UTC). scope is 0 for the
-- whole gateway, or a user id for that user's own figures. dim says what
-- val is: 0 the total (val ''), 1 model, 2 channel, 3 credential id, 4 key
-- id, 5 user id (ids in decimal; '' for none). The primary key puts the
-- rows of one (scope, dim) in time order, so a series, a total or a
-- breakdown over a range is one index range scan. lat_0..lat_11 count
-- requests by duration (bounds in rollup.go), so percentiles can be
-- estimated after buckets are merged. There is no index on bucket alone:
-- PostgreSQL would prefer it to the primary key and read every scope's
-- rows of a range; retention pruning walks the primary key instead.
CREATE TABLE usage_rollup_minute (
    bucket            BIGINT NOT NULL,
    scope             BIGINT NOT NULL,
    dim               SMALLINT NOT NULL,
    val               VARCHAR(191) NOT NULL,
    requests          BIGINT NOT NULL DEFAULT 0,
    errors            BIGINT NOT NULL DEFAULT 0,
    prompt_tokens     BIGINT NOT NULL DEFAULT 0,
    completion_tokens BIGINT NOT NULL DEFAULT 0,
    cost_micros       BIGINT NOT NULL DEFAULT 0,
    lat_0             BIGINT NOT NULL DEFAULT 0,
    lat_1             BIGINT NOT NULL DEFAULT 0,
    lat_2             BIGINT NOT NULL DEFAULT 0,
    lat_3             BIGINT NOT NULL DEFAULT 0,
    lat_4             BIGINT NOT NULL DEFAULT 0,
    lat_5             BIGINT NOT NULL DEFAULT 0,
    lat_6             BIGINT NOT NULL DEFAULT 0,
    lat_7             BIGINT NOT NULL DEFAULT 0,
    lat_8             BIGINT NOT NULL DEFAULT 0,
    lat_9             BIGINT NOT NULL DEFAULT 0,
    lat_10            BIGINT NOT NULL DEFAULT 0,
    lat_11            BIGINT NOT NULL DEFAULT 0,
    PRIMARY KEY (scope, dim, bucket, val)
);
CREATE TABLE usage_rollup_hour (
    bucket            BIGINT NOT NULL,
    scope             BIGINT NOT NULL,
    dim               SMALLINT NOT NULL,
    val               VARCHAR(191) NOT NULL,
    requests          BIGINT NOT NULL DEFAULT 0,
    errors            BIGINT NOT NULL DEFAULT 0,
    prompt_tokens     BIGINT NOT NULL DEFAULT 0,
    completion_tokens BIGINT NOT NULL DEFAULT 0,
    cost_micros       BIGINT NOT NULL DEFAULT 0,
    lat_0             BIGINT NOT NULL DEFAULT 0,
    lat_1             BIGINT NOT NULL DEFAULT 0,
    lat_2             BIGINT NOT NULL DEFAULT 0,
    lat_3             BIGINT NOT NULL DEFAULT 0,
    lat_4             BIGINT NOT NULL DEFAULT 0,
    lat_5             BIGINT NOT NULL DEFAULT 0,
    lat_6             BIGINT NOT NULL DEFAULT 0,
    lat_7             BIGINT NOT NULL DEFAULT 0,
    lat_8             BIGINT NOT NULL DEFAULT 0,
    lat_9             BIGINT NOT NULL DEFAULT 0,
    lat_10            BIGINT NOT NULL DEFAULT 0,
    lat_11            BIGINT NOT NULL DEFAULT 0,
    PRIMARY KEY (scope, dim, bucket, val)
);
CREATE TABLE usage_rollup_day (
    bucket            BIGINT NOT NULL,
    scope             BIGINT NOT NULL,
    dim               SMALLINT NOT NULL,
    val               VARCHAR(191) NOT NULL,
    requests          BIGINT NOT NULL DEFAULT 0,
    errors            BIGINT NOT NULL DEFAULT 0,
    prompt_tokens     BIGINT NOT NULL DEFAULT 0,
    completion_tokens BIGINT NOT NULL DEFAULT 0,
    cost_micros       BIGINT NOT NULL DEFAULT 0,
    lat_0             BIGINT NOT NULL DEFAULT 0,
    lat_1             BIGINT NOT NULL DEFAULT 0,
    lat_2             BIGINT NOT NULL DEFAULT 0,
    lat_3             BIGINT NOT NULL DEFAULT 0,
    lat_4             BIGINT NOT NULL DEFAULT 0,
    lat_5             BIGINT NOT NULL DEFAULT 0,
    lat_6             BIGINT NOT NULL DEFAULT 0,
    lat_7             BIGINT NOT NULL DEFAULT 0,
    lat_8             BIGINT NOT NULL DEFAULT 0,
    lat_9             BIGINT NOT NULL DEFAULT 0,
    lat_10            BIGINT NOT NULL DEFAULT 0,
    lat_11            BIGINT NOT NULL DEFAULT 0,
    PRIMARY KEY (scope, dim, bucket, val)
);

-- +goose Down
DROP TABLE usage_rollup_minute;
DROP TABLE usage_rollup_hour;
DROP TABLE usage_rollup_day;
