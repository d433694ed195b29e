-- Retention, legal holds and purge (see evidence/retention).
--
-- evidence_items.retain_until / legal_hold (0001) are the values
-- evidence/retention computes and mirrors to storage; the columns added
-- here say how and when they were computed. Legal holds themselves live in
-- legal_holds (0005) next to cases. This file may only reference tables of
-- 0001 and 0002: on a fresh database it runs before 0004 and 0005.

ALTER TABLE evidence_items
    -- true: kept indefinitely (retain_until is then NULL)
    ADD COLUMN retention_indefinite  boolean NOT NULL DEFAULT false,
    -- policy.Schedule.RetainUntil's explanation of retain_until
    ADD COLUMN retention_explanation text NOT NULL DEFAULT '',
    -- NULL: never computed (e.g. just ingested); the sweep computes it
    ADD COLUMN retention_computed_at timestamptz,
    -- SHA-256 of the retention schedule the value was computed with, so a
    -- sweep recomputes items after the agency edits retention.yaml
    ADD COLUMN retention_version     text NOT NULL DEFAULT '',
    -- set when the item's bytes were destroyed; the row stays as a tombstone
    ADD COLUMN purged_at             timestamptz;

-- The sweep's candidates: computed, finite, not held, not yet purged.
CREATE INDEX evidence_items_purge_candidates ON evidence_items(retain_until)
    WHERE NOT legal_hold AND NOT retention_indefinite AND state NOT IN ('purged', 'purge_scheduled');

-- A subject of a recording (or their representative) asked that it be
-- kept; each request keeps the item at least the schedule's
-- subject_request period after requested_at.
CREATE TABLE subject_requests (
    id            uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    evidence_id   uuid NOT NULL REFERENCES evidence_items(id),
    requested_at  timestamptz NOT NULL,
    requester     text NOT NULL DEFAULT '',
    note          text NOT NULL DEFAULT '',
    recorded_by   text NOT NULL,            -- actor, e.g. user:rita
    created_at    timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX subject_requests_item ON subject_requests(evidence_id);

-- Open public access (FOIA) requests that name an item hold it
-- indefinitely until they close. request_ref is the request's number or id
-- in whatever system tracks requests (the release workflow, or a records
-- system outside OpenDEMS).
CREATE TABLE access_request_holds (
    id            uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    evidence_id   uuid NOT NULL REFERENCES evidence_items(id),
    request_ref   text NOT NULL CHECK (request_ref <> ''),
    opened_at     timestamptz NOT NULL DEFAULT now(),
    opened_by     text NOT NULL,
    closed_at     timestamptz,
    closed_by     text
);
CREATE UNIQUE INDEX access_request_holds_open ON access_request_holds(evidence_id, request_ref)
    WHERE closed_at IS NULL;

-- Purge schedule: one row per scheduling of an item's destruction.
--   scheduled: waiting for due_at (the grace period); cancellable
--   cancelled: an authorized user cancelled it (suppresses automatic
--              rescheduling for the same retain_until)
--   blocked:   re-decided at due time (or on a change) and refused
--   purged:    carried out; certificate holds the certificate of destruction
CREATE TABLE purge_schedule (
    id             uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    evidence_id    uuid NOT NULL REFERENCES evidence_items(id),
    state          text NOT NULL DEFAULT 'scheduled'
                   CHECK (state IN ('scheduled', 'cancelled', 'blocked', 'purged')),
    prior_state    text NOT NULL,            -- item state to restore on cancel
    retain_until   timestamptz,              -- the deadline that had passed
    rule           text NOT NULL,            -- purge policy row that allowed it
    rule_source    text NOT NULL DEFAULT '',
    reason         text NOT NULL DEFAULT '',
    scheduled_by   text NOT NULL,            -- actor: system:retention-sweep or user:...
    scheduled_at   timestamptz NOT NULL DEFAULT now(),
    due_at         timestamptz NOT NULL,
    closed_by      text,                     -- who cancelled, blocked or purged it
    closed_at      timestamptz,
    close_reason   text NOT NULL DEFAULT '',
    certificate    jsonb
);
CREATE UNIQUE INDEX purge_schedule_active ON purge_schedule(evidence_id) WHERE state = 'scheduled';
CREATE INDEX purge_schedule_due ON purge_schedule(due_at) WHERE state = 'scheduled';
CREATE INDEX purge_schedule_item ON purge_schedule(evidence_id, scheduled_at DESC);

-- The application never deletes retention records: a cancelled or carried
-- out purge is a state change, so the history stays.
GRANT SELECT, INSERT, UPDATE ON subject_requests, access_request_holds, purge_schedule TO opendems_app;
REVOKE DELETE, TRUNCATE ON subject_requests, access_request_holds, purge_schedule FROM opendems_app, PUBLIC;
