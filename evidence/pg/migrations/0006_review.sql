-- Review: transcode job progress on the item, markers (bookmarks with
-- notes at a media time), playback view de-duplication, and indexes that
-- keep the supervisors' search fast at 100,000+ items.

-- Progress of the proxy job (0..100), shown while proxy_status is
-- 'processing'; proxy_attempts counts worker attempts so the UI can say
-- "retrying".
ALTER TABLE evidence_items
    ADD COLUMN proxy_progress   real NOT NULL DEFAULT 0 CHECK (proxy_progress >= 0 AND proxy_progress <= 100),
    ADD COLUMN proxy_attempts   integer NOT NULL DEFAULT 0,
    ADD COLUMN proxy_updated_at timestamptz;

-- Markers are reviewers' bookmarks. They are annotations, not evidence:
-- the custody chain records each one (marker_added) with its time and note,
-- so a marker row may later be hidden (deleted_at) without losing history.
CREATE TABLE evidence_markers (
    id          uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    evidence_id uuid NOT NULL REFERENCES evidence_items(id),
    at_seconds  double precision NOT NULL CHECK (at_seconds >= 0),
    note        text NOT NULL DEFAULT '' CHECK (length(note) <= 2000),
    created_by  uuid REFERENCES users(id),
    actor       text NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now(),
    deleted_at  timestamptz
);
CREATE INDEX evidence_markers_item ON evidence_markers(evidence_id, at_seconds);

-- One "viewed" custody event per playback session and item: the player
-- asks for the proxy many times (range requests, seeks), and the chain
-- should say "watched", not count HTTP requests. session_key is a hash of
-- the web session (or token principal and hour), never the cookie itself.
CREATE TABLE playback_views (
    session_key bytea NOT NULL,
    evidence_id uuid NOT NULL REFERENCES evidence_items(id),
    viewed_at   timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (session_key, evidence_id)
);

-- Search: array filters (category, tag) use GIN; flagged and failed
-- proxies are small partial indexes for the dashboard.
CREATE INDEX evidence_items_tags ON evidence_items USING gin (tags);
CREATE INDEX evidence_items_categories ON evidence_items USING gin (categories);
CREATE INDEX evidence_items_flagged ON evidence_items(recorded_at DESC) WHERE flagged;
CREATE INDEX evidence_items_proxy_failed ON evidence_items(updated_at DESC) WHERE proxy_status = 'failed';
CREATE INDEX evidence_items_recorded ON evidence_items(recorded_at DESC NULLS LAST, id);
CREATE INDEX evidence_items_ingested ON evidence_items(ingested_at DESC);

DO $$
BEGIN
    IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'opendems_app') THEN
        GRANT SELECT, INSERT, UPDATE ON evidence_markers TO opendems_app;
        GRANT SELECT, INSERT ON playback_views TO opendems_app;
    END IF;
END $$;
