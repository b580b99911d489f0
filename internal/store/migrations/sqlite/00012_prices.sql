-- +goose Up
-- The price list. model is an exact model name or a pattern ("gpt-4o*").
-- price is the entry as JSON in integer micro-USD (token prices per 1M
-- tokens), the form billing.PriceSpec encodes. Entries from the file's
-- pricing: are written at every start with managed_by_file set, and only
-- the file changes them; the others are the console's.
CREATE TABLE prices (
    model           VARCHAR(191) NOT NULL PRIMARY KEY,
    price           TEXT NOT NULL,
    managed_by_file BOOLEAN NOT NULL DEFAULT FALSE,
    updated_at      TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP
);

-- +goose Down
DROP TABLE prices;
