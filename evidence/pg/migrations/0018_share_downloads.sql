-- Share link downloads counted by the bytes actually served
-- (evidence/release, docs/releases.md "Share links").
--
-- A download counts once when the bytes served through the link cover the
-- whole file, in one response or across any number of ranges: one row per
-- (link, file) keeps the byte ranges of the download under way. A new
-- download (no download of that file active within the session window)
-- is admitted only while completed + active downloads stay under the
-- link's limit; an active one may always be resumed.
CREATE TABLE release_share_downloads (
    share_id     uuid NOT NULL REFERENCES release_shares(id),
    -- 'package' or the payload file's path (data/...)
    file         text NOT NULL CHECK (file <> ''),
    size         bigint NOT NULL CHECK (size >= 0),
    -- the bytes of the current download served so far; emptied when
    -- they cover [0, size) and the download is counted
    covered      int8multirange NOT NULL DEFAULT '{}',
    -- bytes sent and requests served for the current download
    -- (overlapping ranges count every time they are sent)
    bytes_sent   bigint NOT NULL DEFAULT 0 CHECK (bytes_sent >= 0),
    requests     integer NOT NULL DEFAULT 0,
    -- when the current download was admitted; NULL when none is open
    started_at   timestamptz,
    -- the last request of the current download (admission or end)
    last_at      timestamptz,
    completed    integer NOT NULL DEFAULT 0 CHECK (completed >= 0),
    PRIMARY KEY (share_id, file)
);

-- Views reach the custody of the source items and the request's timeline
-- once per session window (every view stays in the audit log and the
-- link's events).
ALTER TABLE release_shares ADD COLUMN view_recorded_at timestamptz;

-- A completed download is its own event in the link's activity.
ALTER TABLE release_share_events DROP CONSTRAINT release_share_events_kind_check;
ALTER TABLE release_share_events ADD CONSTRAINT release_share_events_kind_check
    CHECK (kind IN ('view', 'download', 'download_completed', 'passcode_failed', 'refused', 'revoked'));
