-- One row per run of the periodic custody verification (the
-- custody_verify job): every chain re-checked against the latest signed
-- checkpoint, the audit log against its signed anchors. It is what the
-- cluster-wide metrics read (the last success, the latest run's problems),
-- so an operator's alert does not depend on which worker ran the job or
-- on a process having restarted since. The rows record findings; the
-- trust anchors remain the signed checkpoints and anchors themselves.
CREATE TABLE custody_verifications (
    id                bigserial   PRIMARY KEY,
    started_at        timestamptz NOT NULL,
    finished_at       timestamptz NOT NULL DEFAULT now(),
    ok                boolean     NOT NULL,
    items             integer     NOT NULL,
    events            bigint      NOT NULL,
    checkpoints       integer     NOT NULL,
    latest_checkpoint bigint      NOT NULL,
    unsigned_events   bigint      NOT NULL,
    custody_problems  integer     NOT NULL,
    audit_records     bigint      NOT NULL,
    audit_problems    integer     NOT NULL,
    first_problem     text        NOT NULL DEFAULT ''
);

-- The metrics read the newest run and the newest successful run.
CREATE INDEX custody_verifications_ok ON custody_verifications (ok, id DESC);
