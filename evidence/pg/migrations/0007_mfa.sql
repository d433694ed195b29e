-- Second factor (TOTP, RFC 6238): a secret waits in totp_pending until the
-- user proves they hold it; recovery codes are stored as SHA-256 hashes and
-- each works once.
ALTER TABLE users ADD COLUMN totp_pending text;
ALTER TABLE users ADD COLUMN totp_last_step bigint NOT NULL DEFAULT 0;

CREATE TABLE mfa_recovery_codes (
    user_id    uuid NOT NULL REFERENCES users(id),
    code_hash  bytea NOT NULL,
    used_at    timestamptz,
    PRIMARY KEY (user_id, code_hash)
);
