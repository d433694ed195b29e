-- Box tracking runs as a redaction job (kind 'track') like detect, preview
-- and render: queued on river with progress and cancel, its keyframes
-- stored as a job output (kind 'track', JSON) with their SHA-256.
ALTER TABLE redaction_jobs DROP CONSTRAINT redaction_jobs_kind_check,
    ADD CONSTRAINT redaction_jobs_kind_check CHECK (kind IN ('detect', 'preview', 'render', 'track'));
ALTER TABLE redaction_job_outputs DROP CONSTRAINT redaction_job_outputs_kind_check,
    ADD CONSTRAINT redaction_job_outputs_kind_check CHECK (kind IN ('detect', 'preview', 'render', 'leak_check', 'track'));

