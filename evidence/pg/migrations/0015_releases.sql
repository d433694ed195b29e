-- Approval, releases and share links (package evidence/release).
--
-- redaction_reviews  maker-checker: one clip's spec version and rendered
--                    output submitted for review, then approved, rejected
--                    or voided (a later spec save or render voids it).
-- releases           a built release package (stored object, SHA-256).
-- release_clips      what a release contains: the approved reviews.
-- release_events     the release's own hash chain (keyed by release id),
--                    append-only; it goes into the package.
-- release_shares     share links: the token's SHA-256 only, expiry,
--                    passcode hash, download limit, revocation.
-- release_share_events every view and download of a link; append-only.
--
-- The database is the backstop for the rules the Go code enforces first:
-- a request reaches approved only when every clip it releases has a live
-- approval; a spec save or a render voids a live review and sends the
-- request back to redacting; a request reaches released only through a
-- release row.

CREATE TABLE redaction_reviews (
    id             uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    request_id     uuid NOT NULL REFERENCES access_requests(id),
    clip_id        uuid NOT NULL REFERENCES request_clips(id),
    spec_version   integer NOT NULL CHECK (spec_version >= 1),
    output_id      uuid NOT NULL REFERENCES redaction_job_outputs(id),
    output_sha256  bytea NOT NULL CHECK (length(output_sha256) = 32),
    submitted_by   text NOT NULL,
    submitted_at   timestamptz NOT NULL,
    note           text NOT NULL DEFAULT '',
    state          text NOT NULL CHECK (state IN ('pending', 'approved', 'rejected', 'voided')),
    decided_by     text,
    decided_at     timestamptz,
    comment        text NOT NULL DEFAULT '',
    -- per region or time range: [{"region": "face-1", "start": 1.5, "end": 3, "text": "..."}]
    comments       jsonb NOT NULL DEFAULT '[]',
    void_reason    text NOT NULL DEFAULT '',
    CHECK (state NOT IN ('approved', 'rejected') OR decided_by IS NOT NULL),
    CHECK (state <> 'pending' OR decided_by IS NULL)
);
-- One live review per clip.
CREATE UNIQUE INDEX redaction_reviews_live ON redaction_reviews(clip_id) WHERE state IN ('pending', 'approved');
CREATE INDEX redaction_reviews_request ON redaction_reviews(request_id, submitted_at);

CREATE TABLE releases (
    id              uuid PRIMARY KEY,
    request_id      uuid NOT NULL REFERENCES access_requests(id),
    state           text NOT NULL CHECK (state IN ('building', 'released', 'failed')),
    created_by      text NOT NULL,
    created_at      timestamptz NOT NULL,
    released_at     timestamptz,
    package_name    text NOT NULL DEFAULT '',
    package_sha256  bytea CHECK (package_sha256 IS NULL OR length(package_sha256) = 32),
    package_size    bigint,
    retain_until    timestamptz,
    key_id          text NOT NULL DEFAULT '',
    -- the package's payload: [{"path", "size", "sha256"}], for the share page
    files           jsonb NOT NULL DEFAULT '[]',
    error           text NOT NULL DEFAULT '',
    CHECK ((state = 'released') = (package_sha256 IS NOT NULL))
);
CREATE INDEX releases_request ON releases(request_id, created_at);

CREATE TABLE release_clips (
    release_id     uuid NOT NULL REFERENCES releases(id),
    clip_id        uuid NOT NULL REFERENCES request_clips(id),
    review_id      uuid NOT NULL REFERENCES redaction_reviews(id),
    evidence_id    uuid NOT NULL REFERENCES evidence_items(id),
    PRIMARY KEY (release_id, clip_id)
);

CREATE TABLE release_withheld (
    release_id     uuid NOT NULL REFERENCES releases(id),
    withheld_id    uuid NOT NULL REFERENCES request_withheld(id),
    PRIMARY KEY (release_id, withheld_id)
);

CREATE TABLE release_events (
    release_id  uuid NOT NULL REFERENCES releases(id),
    seq         bigint NOT NULL CHECK (seq >= 1),
    at          timestamptz NOT NULL,
    actor       text NOT NULL,
    action      text NOT NULL,
    details     text NOT NULL,
    prev_hash   bytea NOT NULL CHECK (length(prev_hash) = 32),
    hash        bytea NOT NULL CHECK (length(hash) = 32),
    PRIMARY KEY (release_id, seq)
);

CREATE TABLE release_shares (
    id              uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    release_id      uuid NOT NULL REFERENCES releases(id),
    token_sha256    bytea NOT NULL UNIQUE CHECK (length(token_sha256) = 32),
    recipient       text NOT NULL CHECK (recipient <> ''),
    passcode_hash   text NOT NULL DEFAULT '',
    max_downloads   integer CHECK (max_downloads IS NULL OR max_downloads >= 1),
    downloads       integer NOT NULL DEFAULT 0,
    expires_at      timestamptz NOT NULL,
    created_by      text NOT NULL,
    created_at      timestamptz NOT NULL,
    revoked_at      timestamptz,
    revoked_by      text,
    revoke_reason   text NOT NULL DEFAULT '',
    failed_passcodes integer NOT NULL DEFAULT 0,
    locked_until    timestamptz
);
CREATE INDEX release_shares_release ON release_shares(release_id, created_at);

CREATE TABLE release_share_events (
    id          bigserial PRIMARY KEY,
    share_id    uuid NOT NULL REFERENCES release_shares(id),
    at          timestamptz NOT NULL,
    kind        text NOT NULL CHECK (kind IN ('view', 'download', 'passcode_failed', 'refused', 'revoked')),
    file        text NOT NULL DEFAULT '',
    bytes       bigint NOT NULL DEFAULT 0,
    complete    boolean NOT NULL DEFAULT false,
    range_spec  text NOT NULL DEFAULT '',
    address     text NOT NULL DEFAULT '',
    agent       text NOT NULL DEFAULT '',
    detail      text NOT NULL DEFAULT ''
);
CREATE INDEX release_share_events_share ON release_share_events(share_id, at);

CREATE TRIGGER release_events_append_only BEFORE UPDATE OR DELETE ON release_events
    FOR EACH ROW EXECUTE FUNCTION opendems_reject_change();
CREATE TRIGGER release_events_no_truncate BEFORE TRUNCATE ON release_events
    FOR EACH STATEMENT EXECUTE FUNCTION opendems_reject_change();
CREATE TRIGGER release_share_events_append_only BEFORE UPDATE OR DELETE ON release_share_events
    FOR EACH ROW EXECUTE FUNCTION opendems_reject_change();
CREATE TRIGGER release_share_events_no_truncate BEFORE TRUNCATE ON release_share_events
    FOR EACH STATEMENT EXECUTE FUNCTION opendems_reject_change();
CREATE TRIGGER release_clips_append_only BEFORE UPDATE OR DELETE ON release_clips
    FOR EACH ROW EXECUTE FUNCTION opendems_reject_change();

-- A new spec version or render of a clip voids its live review; a request
-- under review or approved goes back to redacting, with a timeline line.
CREATE FUNCTION opendems_void_reviews() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    what text;
    rv record;
BEGIN
    IF TG_TABLE_NAME = 'redaction_job_outputs' THEN
        IF NEW.kind <> 'render' THEN
            RETURN NEW;
        END IF;
        what := format('rendered again from spec version %s by %s', NEW.spec_version, NEW.created_by);
    ELSE
        what := format('spec version %s saved by %s', NEW.version, NEW.author);
    END IF;
    FOR rv IN UPDATE redaction_reviews SET state = 'voided', void_reason = what
        WHERE clip_id = NEW.clip_id AND state IN ('pending', 'approved') RETURNING id, request_id, state
    LOOP
        PERFORM 1 FROM access_requests WHERE id = rv.request_id FOR UPDATE;
        INSERT INTO access_request_events (request_id, seq, at, actor, kind, details)
            SELECT rv.request_id, coalesce(max(seq), 0) + 1, now(), 'system:review', 'review_voided',
                jsonb_build_object('review_id', rv.id, 'clip_id', NEW.clip_id, 'reason', what)
            FROM access_request_events WHERE request_id = rv.request_id;
        UPDATE access_requests SET state = 'redacting', version = version + 1, updated_at = now()
            WHERE id = rv.request_id AND state IN ('in_review', 'approved');
    END LOOP;
    RETURN NEW;
END;
$$;

CREATE TRIGGER redaction_spec_versions_void_reviews AFTER INSERT ON redaction_spec_versions
    FOR EACH ROW EXECUTE FUNCTION opendems_void_reviews();
CREATE TRIGGER redaction_job_outputs_void_reviews AFTER INSERT ON redaction_job_outputs
    FOR EACH ROW EXECUTE FUNCTION opendems_void_reviews();

-- approved needs a live approval of every clip still linked; released
-- needs a built release of the request.
CREATE FUNCTION opendems_request_release_gate() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    missing integer;
BEGIN
    IF NEW.state = OLD.state THEN
        RETURN NEW;
    END IF;
    IF NEW.state = 'approved' THEN
        SELECT count(*) INTO missing FROM request_clips c
            WHERE c.request_id = NEW.id AND c.removed_at IS NULL
              AND NOT EXISTS (SELECT 1 FROM redaction_reviews r WHERE r.clip_id = c.id AND r.state = 'approved');
        IF missing > 0 OR NOT EXISTS (SELECT 1 FROM request_clips WHERE request_id = NEW.id AND removed_at IS NULL) THEN
            RAISE EXCEPTION 'request % cannot be approved: % clip(s) lack a second reviewer''s approval (submit each clip for review; a reviewer approves it)', NEW.tracking_number, missing
                USING ERRCODE = 'check_violation', HINT = 'opendems:review';
        END IF;
    ELSIF NEW.state = 'released' THEN
        IF NOT EXISTS (SELECT 1 FROM releases WHERE request_id = NEW.id AND state = 'released') THEN
            RAISE EXCEPTION 'request % is released only by building its release package (POST /api/v1/requests/%/releases)', NEW.tracking_number, NEW.id
                USING ERRCODE = 'check_violation', HINT = 'opendems:review';
        END IF;
    END IF;
    RETURN NEW;
END;
$$;

CREATE TRIGGER access_requests_release_gate BEFORE UPDATE OF state ON access_requests
    FOR EACH ROW EXECUTE FUNCTION opendems_request_release_gate();
