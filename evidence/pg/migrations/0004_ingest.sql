-- Ingest: resumable upload sessions and their parts (see evidence/ingest).
-- A session is the server's durable memory of one upload: the declared
-- SHA-256 and size, the metadata, the storage upload it writes into, and the
-- durable offset. Each part row keeps the backend's part id and the
-- marshalled whole-file SHA-256 state after that part, so a server restart
-- continues hashing without re-reading what is stored.

CREATE TABLE ingest_sessions (
    id             uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    -- open: receiving chunks; completing: storage Complete may have run,
    -- the evidence item may not exist yet (reconciled, never dropped);
    -- committed: item exists (evidence_id); failed: verification failed,
    -- data discarded; aborted: abandoned or cancelled, data discarded.
    state          text NOT NULL DEFAULT 'open'
                   CHECK (state IN ('open','completing','committed','failed','aborted')),
    sha256         bytea NOT NULL CHECK (length(sha256) = 32),
    size           bigint NOT NULL CHECK (size > 0),
    chunk_size     bigint NOT NULL CHECK (chunk_size > 0),
    received       bigint NOT NULL DEFAULT 0 CHECK (received >= 0 AND received <= size),
    filename       text NOT NULL DEFAULT '',
    content_type   text NOT NULL DEFAULT '',
    metadata       jsonb NOT NULL DEFAULT '{}',
    actor_kind     text NOT NULL CHECK (actor_kind IN ('dock','user')),
    actor_id       uuid NOT NULL,          -- docks.id or users.id
    actor          text NOT NULL,          -- e.g. dock:station-3, for custody
    dock_id        uuid REFERENCES docks(id),
    user_id        uuid REFERENCES users(id),
    unit_id        uuid NOT NULL REFERENCES units(id),
    backend        text NOT NULL,
    upload_id      text NOT NULL,
    retain_until   timestamptz,
    evidence_id    uuid REFERENCES evidence_items(id),
    duplicate      boolean NOT NULL DEFAULT false,
    error_code     text NOT NULL DEFAULT '',
    error_message  text NOT NULL DEFAULT '',
    created_at     timestamptz NOT NULL DEFAULT now(),
    updated_at     timestamptz NOT NULL DEFAULT now(),
    finished_at    timestamptz
);
-- One live session per caller and file: a create for the same bytes by the
-- same caller resumes it.
CREATE UNIQUE INDEX ingest_sessions_live ON ingest_sessions(actor_id, sha256)
    WHERE state IN ('open','completing');
CREATE INDEX ingest_sessions_idle ON ingest_sessions(updated_at)
    WHERE state IN ('open','completing');

CREATE TABLE ingest_parts (
    session_id     uuid NOT NULL REFERENCES ingest_sessions(id) ON DELETE CASCADE,
    number         integer NOT NULL CHECK (number >= 1),
    "offset"       bigint NOT NULL CHECK ("offset" >= 0),
    size           bigint NOT NULL CHECK (size > 0),
    etag           text NOT NULL,
    hash_state     bytea NOT NULL,
    chunk_sha256   bytea NOT NULL CHECK (length(chunk_sha256) = 32),
    created_at     timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (session_id, number)
);
