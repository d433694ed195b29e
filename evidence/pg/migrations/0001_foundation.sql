-- Foundation: units, people, credentials, docks, evidence items and the
-- objects that hold their bytes. Later migrations add custody (0002),
-- policy/retention (0003), ingest sessions (0004), cases and requests.

CREATE EXTENSION IF NOT EXISTS pgcrypto;

-- Units form a hierarchy (a supervisor of a unit acts on its sub-units).
-- path is the materialized path of slugs, e.g. 'patrol.north', so a subtree
-- query is a prefix match.
CREATE TABLE units (
    id          uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    slug        text NOT NULL UNIQUE CHECK (slug ~ '^[a-z0-9][a-z0-9-]{0,62}$'),
    name        text NOT NULL,
    parent_id   uuid REFERENCES units(id),
    path        text NOT NULL UNIQUE,
    created_at  timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE users (
    id             uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    username       text NOT NULL UNIQUE CHECK (username ~ '^[a-z0-9][a-z0-9._-]{0,62}$'),
    display_name   text NOT NULL DEFAULT '',
    role           text NOT NULL CHECK (role IN ('officer','supervisor','records','auditor','admin')),
    unit_id        uuid NOT NULL REFERENCES units(id),
    badge          text NOT NULL DEFAULT '',
    -- argon2id PHC string: $argon2id$v=19$m=...,t=...,p=...$salt$hash
    password_hash  text NOT NULL,
    totp_secret    text,            -- set when the second factor is enrolled
    failed_logins  integer NOT NULL DEFAULT 0,
    locked_until   timestamptz,
    disabled_at    timestamptz,
    created_at     timestamptz NOT NULL DEFAULT now(),
    updated_at     timestamptz NOT NULL DEFAULT now()
);

-- Personal API tokens. Only a SHA-256 of the token is stored; the token is
-- shown once. prefix lets a user tell their tokens apart.
CREATE TABLE api_tokens (
    id           uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    user_id      uuid NOT NULL REFERENCES users(id),
    name         text NOT NULL DEFAULT '',
    prefix       text NOT NULL,
    token_hash   bytea NOT NULL UNIQUE,
    created_at   timestamptz NOT NULL DEFAULT now(),
    last_used_at timestamptz,
    expires_at   timestamptz,
    revoked_at   timestamptz
);

-- Docking stations. A dock token may only upload; revoked_at refuses it at once.
CREATE TABLE docks (
    id           uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    name         text NOT NULL UNIQUE,
    unit_id      uuid NOT NULL REFERENCES units(id),
    location     text NOT NULL DEFAULT '',
    token_prefix text NOT NULL,
    token_hash   bytea NOT NULL UNIQUE,
    enrolled_at  timestamptz NOT NULL DEFAULT now(),
    enrolled_by  uuid REFERENCES users(id),
    last_seen_at timestamptz,
    revoked_at   timestamptz
);

-- Web sessions. The cookie carries a random id; only its SHA-256 is stored.
CREATE TABLE web_sessions (
    id_hash      bytea PRIMARY KEY,
    user_id      uuid NOT NULL REFERENCES users(id),
    csrf_token   text NOT NULL,
    mfa_passed   boolean NOT NULL DEFAULT false,
    created_at   timestamptz NOT NULL DEFAULT now(),
    last_seen_at timestamptz NOT NULL DEFAULT now(),
    expires_at   timestamptz NOT NULL,
    source_addr  text NOT NULL DEFAULT ''
);
CREATE INDEX web_sessions_user ON web_sessions(user_id);

-- Stored objects (content-addressed by SHA-256 within a namespace). One row
-- per object, whatever refers to it.
CREATE TABLE objects (
    namespace    text NOT NULL CHECK (namespace IN ('originals','derivatives','checkpoints')),
    sha256       bytea NOT NULL CHECK (length(sha256) = 32),
    size         bigint NOT NULL CHECK (size >= 0),
    backend      text NOT NULL,
    content_type text NOT NULL DEFAULT '',
    retain_until timestamptz,
    legal_hold   boolean NOT NULL DEFAULT false,
    created_at   timestamptz NOT NULL DEFAULT now(),
    deleted_at   timestamptz,
    PRIMARY KEY (namespace, sha256)
);

-- Evidence items: one per original recording. The original is never
-- modified; everything derived refers back to it by SHA-256.
CREATE TABLE evidence_items (
    id            uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    sha256        bytea NOT NULL UNIQUE CHECK (length(sha256) = 32),
    size          bigint NOT NULL CHECK (size >= 0),
    state         text NOT NULL DEFAULT 'ingested'
                  CHECK (state IN ('ingested','processing','ready','failed','purge_scheduled','purged')),
    title         text NOT NULL DEFAULT '',
    filename      text NOT NULL DEFAULT '',
    content_type  text NOT NULL DEFAULT '',
    source_kind   text NOT NULL DEFAULT 'bwc' CHECK (source_kind IN ('bwc','cctv','other')),
    category      text NOT NULL DEFAULT 'uncategorized',
    categories    text[] NOT NULL DEFAULT '{uncategorized}',
    tags          text[] NOT NULL DEFAULT '{}',
    flags         text[] NOT NULL DEFAULT '{}',
    restricted    text,            -- group name for restricted items (e.g. internal-affairs)
    recorded_at   timestamptz,
    ingested_at   timestamptz NOT NULL DEFAULT now(),
    officer_id    text NOT NULL DEFAULT '',
    device_id     text NOT NULL DEFAULT '',
    camera_name   text NOT NULL DEFAULT '',
    location      text NOT NULL DEFAULT '',
    unit_id       uuid NOT NULL REFERENCES units(id),
    dock_id       uuid REFERENCES docks(id),
    uploaded_by   uuid REFERENCES users(id),
    metadata      jsonb NOT NULL DEFAULT '{}',   -- sidecar, GPS track, probe results
    retain_until  timestamptz,     -- NULL: indefinite
    legal_hold    boolean NOT NULL DEFAULT false,
    flagged       boolean NOT NULL DEFAULT false,
    proxy_status  text NOT NULL DEFAULT 'pending',
    proxy_error   text NOT NULL DEFAULT '',
    updated_at    timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX evidence_items_unit_recorded ON evidence_items(unit_id, recorded_at DESC);
CREATE INDEX evidence_items_officer ON evidence_items(officer_id);
CREATE INDEX evidence_items_device ON evidence_items(device_id);
CREATE INDEX evidence_items_retain ON evidence_items(retain_until) WHERE NOT legal_hold;

-- Derived objects of an item: proxy, thumbnails, redacted clips, releases.
CREATE TABLE evidence_derivatives (
    id           uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    evidence_id  uuid NOT NULL REFERENCES evidence_items(id),
    kind         text NOT NULL,   -- proxy, poster, thumbstrip, redacted, release
    sha256       bytea NOT NULL CHECK (length(sha256) = 32),
    size         bigint NOT NULL,
    source_sha256 bytea NOT NULL,  -- the original it came from
    details      jsonb NOT NULL DEFAULT '{}',
    created_at   timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX evidence_derivatives_item ON evidence_derivatives(evidence_id, kind);
