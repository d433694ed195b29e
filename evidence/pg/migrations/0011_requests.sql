-- Public access requests (package evidence/request): intake, state, the
-- statutory clock's pauses and extensions, the timeline, clips of evidence
-- linked to a request, redaction spec versions per clip, withheld items and
-- the outputs of redaction jobs.
--
-- History is never rewritten: the timeline, extensions, spec versions and
-- job outputs are append-only (the triggers below refuse UPDATE, DELETE and
-- TRUNCATE whoever connects, and pg.appGrants revokes those privileges from
-- opendems_app). Requests, pauses, clips and withheld items change state
-- (a clip is removed by setting removed_at) but are never deleted: the
-- application role has no DELETE on them either.

-- Tracking numbers: <prefix>-<year>-<sequence>, one sequence per year.
CREATE TABLE access_request_counters (
    year  integer PRIMARY KEY CHECK (year BETWEEN 2000 AND 9999),
    last  bigint NOT NULL CHECK (last >= 0)
);

CREATE TABLE access_requests (
    id                uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    tracking_number   text NOT NULL UNIQUE CHECK (tracking_number ~ '^[A-Z]{1,10}-[0-9]{4}-[0-9]{6,}$'),
    -- SHA-256 of the public status code (80 random bits shown once).
    status_code_hash  bytea NOT NULL CHECK (length(status_code_hash) = 32),
    requester_name    text NOT NULL CHECK (requester_name <> ''),
    requester_type    text NOT NULL CHECK (requester_type IN ('public', 'media', 'subject', 'attorney')),
    contact           text NOT NULL,
    description       text NOT NULL,
    date_from         timestamptz,
    date_to           timestamptz,
    place             text NOT NULL DEFAULT '',
    incident          text NOT NULL DEFAULT '',
    channel           text NOT NULL CHECK (channel IN ('web', 'email', 'mail', 'phone', 'in_person', 'portal')),
    received_at       timestamptz NOT NULL,
    state             text NOT NULL DEFAULT 'received' CHECK (state IN ('received', 'assigned', 'searching',
                          'redacting', 'in_review', 'approved', 'released', 'closed', 'awaiting_requester',
                          'denied', 'withdrawn')),
    -- the state awaiting_requester returns to
    paused_from       text,
    assignee          text NOT NULL DEFAULT '',
    -- exemption codes cited for a denial
    exemptions        text[] NOT NULL DEFAULT '{}',
    created_by        text NOT NULL,
    created_at        timestamptz NOT NULL DEFAULT now(),
    updated_at        timestamptz NOT NULL DEFAULT now(),
    version           bigint NOT NULL DEFAULT 1 CHECK (version >= 1),
    CHECK ((state = 'awaiting_requester') = (paused_from IS NOT NULL))
);
CREATE INDEX access_requests_open ON access_requests(received_at)
    WHERE state NOT IN ('released', 'denied', 'withdrawn', 'closed');
CREATE INDEX access_requests_state ON access_requests(state, received_at DESC);

-- The timeline: one gap-free sequence per request (the request row is
-- locked by every append).
CREATE TABLE access_request_events (
    request_id  uuid NOT NULL REFERENCES access_requests(id),
    seq         bigint NOT NULL CHECK (seq >= 1),
    at          timestamptz NOT NULL,
    actor       text NOT NULL,
    kind        text NOT NULL,
    details     jsonb NOT NULL DEFAULT '{}',
    PRIMARY KEY (request_id, seq)
);

CREATE TABLE access_request_pauses (
    id          bigserial PRIMARY KEY,
    request_id  uuid NOT NULL REFERENCES access_requests(id),
    kind        text NOT NULL CHECK (kind IN ('requester', 'fee')),
    reason      text NOT NULL CHECK (reason <> ''),
    paused_at   timestamptz NOT NULL,
    paused_by   text NOT NULL,
    resumed_at  timestamptz,
    resumed_by  text,
    CHECK (resumed_at IS NULL OR resumed_at >= paused_at)
);
CREATE UNIQUE INDEX access_request_pauses_open ON access_request_pauses(request_id) WHERE resumed_at IS NULL;
CREATE INDEX access_request_pauses_request ON access_request_pauses(request_id, paused_at);

CREATE TABLE access_request_extensions (
    id          bigserial PRIMARY KEY,
    request_id  uuid NOT NULL REFERENCES access_requests(id),
    days        integer NOT NULL CHECK (days >= 1),
    reason      text NOT NULL CHECK (reason <> ''),
    granted_at  timestamptz NOT NULL,
    granted_by  text NOT NULL
);
CREATE INDEX access_request_extensions_request ON access_request_extensions(request_id, granted_at);

-- A clip: part of an evidence item (milliseconds on the item's timeline)
-- linked to a request.
CREATE TABLE request_clips (
    id             uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    request_id     uuid NOT NULL REFERENCES access_requests(id),
    evidence_id    uuid NOT NULL REFERENCES evidence_items(id),
    in_ms          bigint NOT NULL CHECK (in_ms >= 0),
    out_ms         bigint NOT NULL CHECK (out_ms > in_ms),
    linked_by      text NOT NULL,
    linked_at      timestamptz NOT NULL,
    removed_at     timestamptz,
    removed_by     text,
    remove_reason  text NOT NULL DEFAULT ''
);
CREATE INDEX request_clips_request ON request_clips(request_id, linked_at);
CREATE INDEX request_clips_evidence ON request_clips(evidence_id);

-- Redaction spec versions of a clip, numbered 1, 2, 3... The spec is kept
-- as the exact bytes saved (text, not jsonb) so its SHA-256 can be bound by
-- an approval.
CREATE TABLE redaction_spec_versions (
    clip_id       uuid NOT NULL REFERENCES request_clips(id),
    version       integer NOT NULL CHECK (version >= 1),
    base_version  integer NOT NULL CHECK (base_version >= 0 AND base_version < version),
    spec          text NOT NULL,
    spec_sha256   bytea NOT NULL CHECK (length(spec_sha256) = 32),
    origin        text NOT NULL CHECK (origin IN ('editor', 'detect', 'api', 'tracking')),
    author        text NOT NULL,
    created_at    timestamptz NOT NULL,
    PRIMARY KEY (clip_id, version)
);

-- Items kept back from a release, each with its exemption codes.
CREATE TABLE request_withheld (
    id           uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    request_id   uuid NOT NULL REFERENCES access_requests(id),
    evidence_id  uuid NOT NULL REFERENCES evidence_items(id),
    exemptions   text[] NOT NULL CHECK (cardinality(exemptions) >= 1),
    note         text NOT NULL DEFAULT '',
    withheld_by  text NOT NULL,
    withheld_at  timestamptz NOT NULL,
    ended_at     timestamptz,
    ended_by     text
);
CREATE UNIQUE INDEX request_withheld_open ON request_withheld(request_id, evidence_id) WHERE ended_at IS NULL;

-- Files the redaction jobs produced: what they were made from (source
-- SHA-256, spec version) and what they are (object key, SHA-256).
CREATE TABLE redaction_job_outputs (
    id             uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    clip_id        uuid NOT NULL REFERENCES request_clips(id),
    kind           text NOT NULL CHECK (kind IN ('detect', 'preview', 'render', 'leak_check')),
    spec_version   integer NOT NULL CHECK (spec_version >= 0),
    object_key     text NOT NULL,
    sha256         bytea NOT NULL CHECK (length(sha256) = 32),
    size           bigint NOT NULL CHECK (size >= 0),
    source_sha256  bytea NOT NULL CHECK (length(source_sha256) = 32),
    job_id         bigint,
    details        jsonb NOT NULL DEFAULT '{}',
    created_by     text NOT NULL,
    created_at     timestamptz NOT NULL
);
CREATE INDEX redaction_job_outputs_clip ON redaction_job_outputs(clip_id, created_at);

-- Append-only, whoever connects (opendems_reject_change is from 0002).
CREATE TRIGGER access_request_events_append_only BEFORE UPDATE OR DELETE ON access_request_events
    FOR EACH ROW EXECUTE FUNCTION opendems_reject_change();
CREATE TRIGGER access_request_events_no_truncate BEFORE TRUNCATE ON access_request_events
    FOR EACH STATEMENT EXECUTE FUNCTION opendems_reject_change();
CREATE TRIGGER access_request_extensions_append_only BEFORE UPDATE OR DELETE ON access_request_extensions
    FOR EACH ROW EXECUTE FUNCTION opendems_reject_change();
CREATE TRIGGER access_request_extensions_no_truncate BEFORE TRUNCATE ON access_request_extensions
    FOR EACH STATEMENT EXECUTE FUNCTION opendems_reject_change();
CREATE TRIGGER redaction_spec_versions_append_only BEFORE UPDATE OR DELETE ON redaction_spec_versions
    FOR EACH ROW EXECUTE FUNCTION opendems_reject_change();
CREATE TRIGGER redaction_spec_versions_no_truncate BEFORE TRUNCATE ON redaction_spec_versions
    FOR EACH STATEMENT EXECUTE FUNCTION opendems_reject_change();
CREATE TRIGGER redaction_job_outputs_append_only BEFORE UPDATE OR DELETE ON redaction_job_outputs
    FOR EACH ROW EXECUTE FUNCTION opendems_reject_change();
CREATE TRIGGER redaction_job_outputs_no_truncate BEFORE TRUNCATE ON redaction_job_outputs
    FOR EACH STATEMENT EXECUTE FUNCTION opendems_reject_change();

-- Redaction jobs (detect, preview, render) of a clip: the river job's id
-- and what the UI shows while it runs. river_job holds the queue state
-- (available, running, retryable, completed, cancelled, discarded).
CREATE TABLE redaction_jobs (
    job_id        bigint PRIMARY KEY,
    clip_id       uuid NOT NULL REFERENCES request_clips(id),
    kind          text NOT NULL CHECK (kind IN ('detect', 'preview', 'render')),
    spec_version  integer NOT NULL DEFAULT 0 CHECK (spec_version >= 0),
    requested_by  text NOT NULL,
    requested_at  timestamptz NOT NULL,
    progress      real NOT NULL DEFAULT 0 CHECK (progress BETWEEN 0 AND 100),
    message       text NOT NULL DEFAULT '',
    updated_at    timestamptz NOT NULL
);
CREATE INDEX redaction_jobs_clip ON redaction_jobs(clip_id, requested_at DESC);

-- Attempts on the public intake and status pages, per client address, for
-- the rate limit shared by every demsd process; rows older than the
-- window are deleted as new attempts arrive.
CREATE TABLE public_request_attempts (
    addr     text NOT NULL,
    purpose  text NOT NULL CHECK (purpose IN ('intake', 'status')),
    at       timestamptz NOT NULL
);
CREATE INDEX public_request_attempts_addr ON public_request_attempts(addr, purpose, at);
CREATE INDEX public_request_attempts_at ON public_request_attempts(at);
