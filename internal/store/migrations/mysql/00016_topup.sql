-- +goose Up
-- Top-up: packages an operator offers and the orders users pay for them.
-- Prices are in the currency's smallest unit (cents; yen for JPY); credit
-- and bonus in micro-USD. An order's credit reaches the ledger once, as
-- the topup row with request id 'topup:<ref>' (the ledger's unique
-- (request_id, kind) makes that post idempotent), so a crash between
-- 'paid' and 'credited' is finished by posting again.
CREATE TABLE topup_packages (
    id             BIGINT NOT NULL AUTO_INCREMENT PRIMARY KEY,
    name           VARCHAR(64) NOT NULL,
    price_minor    BIGINT NOT NULL CHECK (price_minor > 0),
    currency       VARCHAR(3) NOT NULL,
    credit_micros  BIGINT NOT NULL CHECK (credit_micros > 0),
    bonus_micros   BIGINT NOT NULL DEFAULT 0 CHECK (bonus_micros >= 0),
    per_user_limit INTEGER NOT NULL DEFAULT 0 CHECK (per_user_limit >= 0),
    enabled        BOOLEAN NOT NULL DEFAULT TRUE,
    created_at     DATETIME(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6),
    updated_at     DATETIME(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

-- status: pending, paid, credited, expired, cancelled, refunded. flags is
-- a comma-separated list for the admin: late (paid after it expired or was
-- cancelled), amount_mismatch (paid another amount: not credited), forced
-- (marked paid by an admin). notify_log keeps the raw notifications, with
-- secrets removed, newest last and bounded in length.
CREATE TABLE topup_orders (
    id             BIGINT NOT NULL AUTO_INCREMENT PRIMARY KEY,
    ref            VARCHAR(40) NOT NULL UNIQUE,
    user_id        BIGINT NOT NULL,
    package_id     BIGINT NULL,
    provider       VARCHAR(32) NOT NULL,
    status         VARCHAR(16) NOT NULL CHECK (status IN ('pending', 'paid', 'credited', 'expired', 'cancelled', 'refunded')),
    flags          VARCHAR(64) NOT NULL DEFAULT '',
    currency       VARCHAR(3) NOT NULL,
    price_minor    BIGINT NOT NULL,
    credit_micros  BIGINT NOT NULL,
    bonus_micros   BIGINT NOT NULL DEFAULT 0,
    provider_ref   VARCHAR(255) NOT NULL DEFAULT '',
    pay_url        VARCHAR(2048) NOT NULL DEFAULT '',
    paid_minor     BIGINT NULL,
    paid_currency  VARCHAR(3) NOT NULL DEFAULT '',
    note           VARCHAR(255) NOT NULL DEFAULT '',
    notify_log     MEDIUMTEXT NULL,
    created_at     DATETIME(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6),
    expires_at     DATETIME(6) NOT NULL,
    paid_at        DATETIME(6) NULL,
    credited_at    DATETIME(6) NULL,
    refunded_at    DATETIME(6) NULL,
    updated_at     DATETIME(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6),
    FOREIGN KEY (user_id) REFERENCES users (id) ON DELETE CASCADE,
    FOREIGN KEY (package_id) REFERENCES topup_packages (id) ON DELETE SET NULL
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;
CREATE INDEX topup_orders_user_idx ON topup_orders (user_id, id);
CREATE INDEX topup_orders_status_idx ON topup_orders (status, expires_at);
CREATE INDEX topup_orders_package_idx ON topup_orders (package_id, user_id);

-- +goose Down
DROP TABLE topup_orders;
DROP TABLE topup_packages;
