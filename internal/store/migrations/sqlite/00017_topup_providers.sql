-- +goose Up
-- Payment providers configured in the console (a provider the file
-- declares is never stored here). settings is the JSON of what is not
-- secret (gateway, pid, api_base, instructions); sealed is the JSON of the
-- secrets (Stripe's API key and webhook signing secrets, the EPay merchant
-- key) sealed with the node's keyring, bound to the provider's name.
CREATE TABLE topup_providers (
    name       VARCHAR(32) PRIMARY KEY,
    enabled    BOOLEAN NOT NULL DEFAULT TRUE,
    settings   TEXT NOT NULL,
    sealed     BLOB NULL,
    updated_at TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP
);

-- +goose Down
DROP TABLE topup_providers;
