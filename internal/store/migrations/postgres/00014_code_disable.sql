-- +goose Up
-- An operator can disable a redemption or invite code before it is used
-- up; NULL = enabled. Redeem claims a use only while it is NULL.
ALTER TABLE redemption_codes ADD COLUMN disabled_at TIMESTAMPTZ NULL;

-- +goose Down
ALTER TABLE redemption_codes DROP COLUMN disabled_at;
