-- +goose Up
-- Leases held by one owner at a time, renewed by it (see
-- internal/billing/lease.go). 'billing' names the hot state that keeps the
-- wallets between drains: one node without Redis ("node:<id>") or the
-- nodes sharing one Redis prefix ("redis:<prefix>"). expires_at is Unix
-- milliseconds; 0 is free.
CREATE TABLE leases (
    name       VARCHAR(64) NOT NULL PRIMARY KEY,
    holder     VARCHAR(191) NOT NULL DEFAULT '',
    expires_at BIGINT NOT NULL DEFAULT 0
);
INSERT INTO leases (name, holder, expires_at) VALUES ('billing', '', 0);

-- +goose Down
DROP TABLE leases;
