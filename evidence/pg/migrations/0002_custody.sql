-- Custody and audit (package evidence/custody).
--
-- custody_events: one hash chain per evidence item (see
--   evidence/custody/chain for the exact bytes hashed). Append-only.
-- custody_heads: the head of each chain, locked FOR UPDATE by every append
--   so appends on one item are ordered and gap-free while appends on
--   different items never wait for each other.
-- custody_checkpoints: Ed25519-signed Merkle roots over all chain heads.
-- custody_fixity: when each original was last re-hashed (mutable state).
-- audit_log / audit_head: the system audit log (CJIS 5.4.1.1), one global
--   hash chain. Append-only.
--
-- Deployments connect as a LOGIN role that is granted opendems_app; that
-- role can INSERT and SELECT the append-only tables but never UPDATE,
-- DELETE or TRUNCATE them, and the triggers below refuse those statements
-- even to a table owner.

DO $$
BEGIN
    CREATE ROLE opendems_app NOLOGIN;
EXCEPTION WHEN duplicate_object OR unique_violation THEN
    NULL; -- exists already (roles are cluster-wide; several databases share one)
END
$$;

CREATE TABLE custody_heads (
    evidence_id  uuid PRIMARY KEY REFERENCES evidence_items(id),
    seq          bigint NOT NULL CHECK (seq >= 0),
    hash         bytea NOT NULL CHECK (length(hash) = 32),
    updated_at   timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE custody_events (
    evidence_id  uuid NOT NULL REFERENCES evidence_items(id),
    seq          bigint NOT NULL CHECK (seq >= 1),
    at           timestamptz NOT NULL,
    actor        text NOT NULL,
    action       text NOT NULL,
    -- Canonical JSON, stored as text because it is hashed byte for byte
    -- (jsonb would reorder keys and reformat numbers).
    details      text NOT NULL,
    prev_hash    bytea NOT NULL CHECK (length(prev_hash) = 32),
    hash         bytea NOT NULL CHECK (length(hash) = 32),
    PRIMARY KEY (evidence_id, seq)
);
CREATE INDEX custody_events_action_at ON custody_events(action, at);
CREATE INDEX custody_events_case ON custody_events(((details::jsonb) ->> 'case_id'))
    WHERE action IN ('case_added', 'case_removed');

CREATE SEQUENCE custody_checkpoint_id;

CREATE TABLE custody_checkpoints (
    id             bigint PRIMARY KEY,
    created_at     timestamptz NOT NULL,
    tree_size      bigint NOT NULL CHECK (tree_size >= 0),
    root           bytea NOT NULL CHECK (length(root) = 32),
    public_key     bytea NOT NULL CHECK (length(public_key) = 32),
    signature      bytea NOT NULL CHECK (length(signature) = 64),
    -- Concatenated leaves (evidence_id 16 bytes || seq 8 bytes big endian
    -- || head hash 32 bytes), sorted by evidence id: what inclusion proofs
    -- are computed from. The same bytes are in the storage object.
    leaves         bytea NOT NULL,
    object_sha256  bytea NOT NULL CHECK (length(object_sha256) = 32)
);

CREATE TABLE custody_fixity (
    evidence_id  uuid PRIMARY KEY REFERENCES evidence_items(id),
    checked_at   timestamptz NOT NULL,
    ok           boolean NOT NULL,
    error        text NOT NULL DEFAULT ''
);
CREATE INDEX custody_fixity_checked ON custody_fixity(checked_at);

CREATE TABLE audit_log (
    seq          bigint PRIMARY KEY CHECK (seq >= 1),
    at           timestamptz NOT NULL,
    component    text NOT NULL,
    event_type   text NOT NULL,
    actor        text NOT NULL,          -- "user:jdoe", "dock:station-3", "anonymous:<name given>"
    user_id      uuid,                   -- no foreign key: the record outlives the account
    outcome      text NOT NULL CHECK (outcome IN ('success', 'failure', 'denied')),
    source_addr  text NOT NULL DEFAULT '',
    evidence_id  uuid,                   -- the item it concerns, if any
    details      text NOT NULL,          -- canonical JSON, hashed byte for byte
    prev_hash    bytea NOT NULL CHECK (length(prev_hash) = 32),
    hash         bytea NOT NULL CHECK (length(hash) = 32)
);
CREATE INDEX audit_log_at ON audit_log(at);
CREATE INDEX audit_log_actor_at ON audit_log(actor, at);
CREATE INDEX audit_log_type_at ON audit_log(event_type, at);
CREATE INDEX audit_log_evidence ON audit_log(evidence_id) WHERE evidence_id IS NOT NULL;

-- The single head of the global audit chain, locked FOR UPDATE by every
-- append.
CREATE TABLE audit_head (
    id    boolean PRIMARY KEY DEFAULT true CHECK (id),
    seq   bigint NOT NULL CHECK (seq >= 0),
    hash  bytea NOT NULL CHECK (length(hash) = 32)
);
INSERT INTO audit_head (id, seq, hash) VALUES (true, 0, decode(repeat('00', 32), 'hex'));

-- Append-only enforcement inside the database, whoever connects.
CREATE FUNCTION opendems_reject_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION '% on % refused: the table is append-only', TG_OP, TG_TABLE_NAME
        USING ERRCODE = 'insufficient_privilege',
              HINT = 'custody and audit records are never changed or removed';
END
$$;

CREATE TRIGGER custody_events_append_only BEFORE UPDATE OR DELETE ON custody_events
    FOR EACH ROW EXECUTE FUNCTION opendems_reject_change();
CREATE TRIGGER custody_events_no_truncate BEFORE TRUNCATE ON custody_events
    FOR EACH STATEMENT EXECUTE FUNCTION opendems_reject_change();
CREATE TRIGGER custody_checkpoints_append_only BEFORE UPDATE OR DELETE ON custody_checkpoints
    FOR EACH ROW EXECUTE FUNCTION opendems_reject_change();
CREATE TRIGGER custody_checkpoints_no_truncate BEFORE TRUNCATE ON custody_checkpoints
    FOR EACH STATEMENT EXECUTE FUNCTION opendems_reject_change();
CREATE TRIGGER audit_log_append_only BEFORE UPDATE OR DELETE ON audit_log
    FOR EACH ROW EXECUTE FUNCTION opendems_reject_change();
CREATE TRIGGER audit_log_no_truncate BEFORE TRUNCATE ON audit_log
    FOR EACH STATEMENT EXECUTE FUNCTION opendems_reject_change();

-- Heads only ever move forward by one (or stay, when an append locks the
-- row before moving it); they are never deleted.
CREATE FUNCTION opendems_head_forward() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP <> 'UPDATE' THEN
        RAISE EXCEPTION '% on % refused: chain heads are never removed', TG_OP, TG_TABLE_NAME
            USING ERRCODE = 'insufficient_privilege';
    END IF;
    IF NEW.seq <> OLD.seq AND NEW.seq <> OLD.seq + 1 THEN
        RAISE EXCEPTION 'chain head on % may only advance by one (from % to %)', TG_TABLE_NAME, OLD.seq, NEW.seq
            USING ERRCODE = 'insufficient_privilege';
    END IF;
    RETURN NEW;
END
$$;
CREATE TRIGGER custody_heads_forward BEFORE UPDATE OR DELETE ON custody_heads
    FOR EACH ROW EXECUTE FUNCTION opendems_head_forward();
CREATE TRIGGER custody_heads_no_truncate BEFORE TRUNCATE ON custody_heads
    FOR EACH STATEMENT EXECUTE FUNCTION opendems_reject_change();
CREATE TRIGGER audit_head_forward BEFORE UPDATE OR DELETE ON audit_head
    FOR EACH ROW EXECUTE FUNCTION opendems_head_forward();
CREATE TRIGGER audit_head_no_truncate BEFORE TRUNCATE ON audit_head
    FOR EACH STATEMENT EXECUTE FUNCTION opendems_reject_change();

-- Grants: the application may append and read, never rewrite.
GRANT SELECT, INSERT ON custody_events, custody_checkpoints, audit_log TO opendems_app;
GRANT SELECT, INSERT, UPDATE ON custody_heads, audit_head, custody_fixity TO opendems_app;
GRANT USAGE, SELECT ON SEQUENCE custody_checkpoint_id TO opendems_app;
REVOKE UPDATE, DELETE, TRUNCATE ON custody_events, custody_checkpoints, audit_log FROM opendems_app, PUBLIC;
REVOKE DELETE, TRUNCATE ON custody_heads, audit_head FROM opendems_app, PUBLIC;
