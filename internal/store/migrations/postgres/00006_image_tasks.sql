-- +goose Up
-- Image generation tasks (see internal/images/tasks.go). Every image
-- request has one: a synchronous request is created 'running' on the node
-- serving it, an asynchronous one 'queued' until a node's runner claims it.
-- A runner bumps heartbeat_at while it works; a running task whose
-- heartbeat is stale belonged to a node that stopped and is queued again
-- (or failed once attempts run out). params is the lead handler's opaque
-- JSON to run the task again; outputs and inputs are JSON arrays of
-- storage keys; stored says the outputs are still in storage (the sweeper
-- deletes them after the retention time and clears it, keeping outputs as
-- history; inputs are deleted when the task ends, or by the sweeper when
-- nobody ran it). finished_at is set exactly when status is final. No
-- foreign keys, as for usage_logs: a task's history outlives its user and
-- key. webhook_state is '' (none), pending, delivered or failed.
CREATE TABLE image_tasks (
    id               VARCHAR(40) NOT NULL PRIMARY KEY,
    user_id          BIGINT NOT NULL,
    key_id           BIGINT NOT NULL,
    request_id       VARCHAR(128) NOT NULL DEFAULT '',
    kind             VARCHAR(16) NOT NULL,
    model            VARCHAR(191) NOT NULL DEFAULT '',
    async            BOOLEAN NOT NULL DEFAULT FALSE,
    status           VARCHAR(16) NOT NULL,
    progress         INTEGER NOT NULL DEFAULT 0,
    n                INTEGER NOT NULL DEFAULT 1,
    delivered        INTEGER NOT NULL DEFAULT 0,
    response_format  VARCHAR(16) NOT NULL DEFAULT '',
    params           TEXT NOT NULL DEFAULT '',
    outputs          TEXT NOT NULL DEFAULT '[]',
    inputs           TEXT NOT NULL DEFAULT '[]',
    stored           BOOLEAN NOT NULL DEFAULT FALSE,
    error_code       VARCHAR(64) NOT NULL DEFAULT '',
    error_message    VARCHAR(1000) NOT NULL DEFAULT '',
    cost_micros      BIGINT NOT NULL DEFAULT 0,
    attempts         INTEGER NOT NULL DEFAULT 0,
    node             VARCHAR(64) NOT NULL DEFAULT '',
    heartbeat_at     TIMESTAMPTZ NULL,
    created_at       TIMESTAMPTZ NOT NULL,
    started_at       TIMESTAMPTZ NULL,
    finished_at      TIMESTAMPTZ NULL,
    webhook_url      VARCHAR(2048) NOT NULL DEFAULT '',
    webhook_state    VARCHAR(16) NOT NULL DEFAULT '',
    webhook_attempts INTEGER NOT NULL DEFAULT 0,
    webhook_next_at  TIMESTAMPTZ NULL,
    webhook_error    VARCHAR(500) NOT NULL DEFAULT ''
);
CREATE INDEX image_tasks_claim_idx ON image_tasks (status, created_at);
CREATE INDEX image_tasks_user_idx ON image_tasks (user_id, created_at);
CREATE INDEX image_tasks_sweep_idx ON image_tasks (stored, finished_at);
CREATE INDEX image_tasks_webhook_idx ON image_tasks (webhook_state, webhook_next_at);
CREATE INDEX image_tasks_stale_idx ON image_tasks (status, heartbeat_at);

-- +goose Down
DROP TABLE image_tasks;
