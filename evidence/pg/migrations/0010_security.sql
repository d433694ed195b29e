-- Security hardening (issue 11).
--
-- audit_anchors: Ed25519-signed anchors over the head of the audit hash
--   chain (seq, hash), made every few seconds when the log moved. Deleting
--   or rewriting audit records an anchor covers no longer verifies, even
--   for a database superuser who disables the append-only triggers: the
--   forger would need the signing key. Append-only like the log itself.
CREATE SEQUENCE audit_anchor_id;

CREATE TABLE audit_anchors (
    id          bigint PRIMARY KEY,
    created_at  timestamptz NOT NULL,
    seq         bigint NOT NULL CHECK (seq >= 1),
    hash        bytea NOT NULL CHECK (length(hash) = 32),
    public_key  bytea NOT NULL CHECK (length(public_key) = 32),
    signature   bytea NOT NULL CHECK (length(signature) = 64)
);

CREATE TRIGGER audit_anchors_append_only BEFORE UPDATE OR DELETE ON audit_anchors
    FOR EACH ROW EXECUTE FUNCTION opendems_reject_change();
CREATE TRIGGER audit_anchors_no_truncate BEFORE TRUNCATE ON audit_anchors
    FOR EACH STATEMENT EXECUTE FUNCTION opendems_reject_change();

-- Second-factor attempt limits: wrong codes per account (mfa_failures)
-- lock the second factor until mfa_locked_until; every further lock
-- doubles its length (mfa_lockouts counts them, reset by a good code).
-- Wrong codes per web session end the session.
ALTER TABLE users ADD COLUMN mfa_failures integer NOT NULL DEFAULT 0;
ALTER TABLE users ADD COLUMN mfa_locked_until timestamptz;
ALTER TABLE users ADD COLUMN mfa_lockouts integer NOT NULL DEFAULT 0;
ALTER TABLE web_sessions ADD COLUMN mfa_failures integer NOT NULL DEFAULT 0;

-- Upload attribution: on what basis the uploader named the recording's
-- officer (own badge, the dock's unit, a policy rule), written into the
-- ingested custody event.
ALTER TABLE ingest_sessions ADD COLUMN attribution text NOT NULL DEFAULT '';
