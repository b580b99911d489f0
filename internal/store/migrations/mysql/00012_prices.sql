-- +goose Up
-- The price list. model is an exact model name or a pattern ("gpt-4o*"),
-- compared byte for byte (utf8mb4_bin) as the gateway compares model names.
-- price is the entry as JSON in integer micro-USD (token prices per 1M
-- tokens), the form billing.PriceSpec encodes. Entries from the file's
-- pricing: are written at every start with managed_by_file set, and only
-- the file changes them; the others are the console's.
CREATE TABLE prices (
    model           VARCHAR(191) NOT NULL PRIMARY KEY,
    price           TEXT NOT NULL,
    managed_by_file BOOLEAN NOT NULL DEFAULT FALSE,
    updated_at      DATETIME(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

-- +goose Down
DROP TABLE prices;
