-- Release packages are built by a river job (package evidence/release,
-- kind release_build), not inside the HTTP request: the release row is
-- reserved (state building) with its job in one transaction, the worker
-- reports progress here, and a cancelled or finally failed build leaves
-- the row failed with the reason.
ALTER TABLE releases
    ADD COLUMN job_id   bigint,
    -- what the release asked for (letter paragraphs, description), for the worker
    ADD COLUMN input    jsonb NOT NULL DEFAULT '{}',
    ADD COLUMN progress real NOT NULL DEFAULT 0 CHECK (progress >= 0 AND progress <= 100),
    ADD COLUMN message  text NOT NULL DEFAULT '';

-- One build at a time per request: a second POST while one runs is 409.
CREATE UNIQUE INDEX releases_one_building ON releases(request_id) WHERE state = 'building';
