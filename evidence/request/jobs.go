package request

import (
	"context"
	"errors"
	"fmt"
	"math"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/rivertype"

	"github.com/opendems/opendems/evidence/custody/audit"
)

// Redaction job kinds.
const (
	JobDetect  = "detect"
	JobPreview = "preview"
	JobRender  = "render"
	// JobTrack follows a box drawn on one frame through the clip
	// (RedactionJobArgs.Track); started by EnqueueTrack.
	JobTrack = "track"
)

// RedactionJobArgs asks a worker (package evidence/jobs) to run one
// redaction job on a clip. The argument types live here, not in jobs, so
// enqueuing needs no FFmpeg.
type RedactionJobArgs struct {
	ClipID uuid.UUID `json:"clip_id"`
	// Job is detect, preview or render.
	Job string `json:"job"`
	// SpecVersion is the spec rendered (preview and render).
	SpecVersion int    `json:"spec_version,omitempty"`
	RequestedBy string `json:"requested_by"`
	// Track is what a track job follows.
	Track *TrackArgs `json:"track,omitempty"`
}

// TrackArgs is a box drawn on the frame shown at Time (source seconds).
type TrackArgs struct {
	Time float64  `json:"time"`
	Box  TrackBox `json:"box"`
}

// Kind is river's job kind.
func (RedactionJobArgs) Kind() string { return "redaction" }

// RedactionMaxAttempts bounds retries (storage or database outages, a
// killed worker); media errors are not retried.
const RedactionMaxAttempts = 3

// InsertOpts gives every redaction job its bounded retries.
func (RedactionJobArgs) InsertOpts() river.InsertOpts {
	return river.InsertOpts{MaxAttempts: RedactionMaxAttempts}
}

// Queue is what the store needs of river's client.
type Queue interface {
	InsertTx(ctx context.Context, tx pgx.Tx, args river.JobArgs, opts *river.InsertOpts) (*rivertype.JobInsertResult, error)
	JobCancel(ctx context.Context, jobID int64) (*rivertype.JobRow, error)
}

// Job is a redaction job as the UI shows it.
type Job struct {
	ID          int64     `json:"id"`
	ClipID      uuid.UUID `json:"clip_id"`
	Kind        string    `json:"kind"`
	SpecVersion int       `json:"spec_version"`
	RequestedBy string    `json:"requested_by"`
	RequestedAt time.Time `json:"requested_at"`
	Progress    float64   `json:"progress"` // percent
	Message     string    `json:"message,omitempty"`
	// State is river's: available, scheduled, running, retryable,
	// completed, cancelled or discarded.
	State       string `json:"state"`
	Attempt     int    `json:"attempt"`
	MaxAttempts int    `json:"max_attempts"`
	LastError   string `json:"last_error,omitempty"`
}

// EnqueueJob starts a redaction job on a clip. Preview and render need a
// saved spec version (0: the latest).
func (s *Store) EnqueueJob(ctx context.Context, q Queue, clipID uuid.UUID, who Actor, kind string, version int) (Job, error) {
	p := problems{op: "redaction job"}
	switch kind {
	case JobDetect, JobPreview, JobRender:
	case JobTrack:
		p.add("kind", "a track job needs a box: POST .../track with {time, box}")
	default:
		p.add("kind", "want detect, preview or render; got %q", kind)
	}
	if version < 0 {
		p.add("spec_version", "must not be negative")
	}
	if err := p.err(); err != nil {
		return Job{}, err
	}
	return s.enqueue(ctx, q, clipID, who, RedactionJobArgs{ClipID: clipID, Job: kind, SpecVersion: version, RequestedBy: who.Name})
}

// EnqueueTrack starts a track job: box, drawn on the frame shown at
// time at (source seconds, inside the clip), is followed forward and
// backward through the clip; the keyframes become a track output.
func (s *Store) EnqueueTrack(ctx context.Context, q Queue, clipID uuid.UUID, who Actor, at float64, box TrackBox) (Job, error) {
	p := problems{op: "track job"}
	finite := func(v float64) bool { return !math.IsNaN(v) && !math.IsInf(v, 0) }
	if !finite(at) || at < 0 {
		p.add("time", "want a non-negative number of seconds")
	}
	if !finite(box.X) || !finite(box.Y) || box.X < 0 || box.Y < 0 {
		p.add("box", "x and y must be non-negative pixels")
	}
	if !finite(box.Width) || !finite(box.Height) || box.Width < 4 || box.Height < 4 || box.Width > 1e5 || box.Height > 1e5 {
		p.add("box", "width and height must be at least 4 pixels")
	}
	if err := p.err(); err != nil {
		return Job{}, err
	}
	return s.enqueue(ctx, q, clipID, who, RedactionJobArgs{ClipID: clipID, Job: JobTrack, RequestedBy: who.Name,
		Track: &TrackArgs{Time: at, Box: box}})
}

// enqueue inserts a redaction job with its redaction_jobs row, the
// request's timeline event and the audit record, in one transaction.
func (s *Store) enqueue(ctx context.Context, q Queue, clipID uuid.UUID, who Actor, args RedactionJobArgs) (Job, error) {
	p := problems{op: "redaction job"}
	kind, version := args.Job, args.SpecVersion
	var job Job
	err := pgx.BeginFunc(ctx, s.db, func(tx pgx.Tx) error {
		r, c, err := lockClip(ctx, tx, uuid.Nil, clipID)
		if err != nil {
			return err
		}
		if c.RemovedAt != nil {
			return &ConflictError{Msg: fmt.Sprintf("clip %s was removed from the request", clipID)}
		}
		if !r.State.Open() {
			return &ConflictError{Msg: fmt.Sprintf("request %s is %s: no more redaction work", r.TrackingNumber, r.State)}
		}
		if kind == JobTrack {
			if t := args.Track.Time; t*1000 < float64(c.InMs) || t*1000 > float64(c.OutMs) {
				p.add("time", "%.3f s is outside the clip (%.3f to %.3f s)", t, float64(c.InMs)/1000, float64(c.OutMs)/1000)
				return p.err()
			}
			version = 0
		} else if kind != JobDetect {
			if c.SpecVersion == 0 {
				p.add("spec_version", "the clip has no saved spec yet")
				return p.err()
			}
			if version == 0 {
				version = c.SpecVersion
			} else if version > c.SpecVersion {
				p.add("spec_version", "the clip has no version %d (latest is %d)", version, c.SpecVersion)
				return p.err()
			}
		} else {
			version = 0
		}
		args.SpecVersion = version
		res, err := q.InsertTx(ctx, tx, args, nil)
		if err != nil {
			return fmt.Errorf("enqueue: %w", err)
		}
		now := s.opt.Now()
		job = Job{ID: res.Job.ID, ClipID: clipID, Kind: kind, SpecVersion: version, RequestedBy: who.Name, RequestedAt: now,
			State: string(res.Job.State), MaxAttempts: res.Job.MaxAttempts}
		if _, err := tx.Exec(ctx, `INSERT INTO redaction_jobs (job_id, clip_id, kind, spec_version, requested_by, requested_at, updated_at)
			VALUES ($1, $2, $3, $4, $5, $6, $6)`, job.ID, clipID, kind, version, who.Name, now); err != nil {
			return err
		}
		details := map[string]any{"clip_id": clipID.String(), "job": kind, "job_id": job.ID, "spec_version": version}
		if args.Track != nil {
			details["track"] = args.Track
		}
		if err := s.appendEvent(ctx, tx, r.ID, who.Name, EventJobStarted, details); err != nil {
			return err
		}
		details["request_id"], details["change"] = r.ID.String(), "job_started"
		return s.audit(ctx, tx, who, AuditChanged, audit.OutcomeSuccess, c.EvidenceID, details)
	})
	if err != nil {
		return Job{}, fmt.Errorf("clip %s: start %s job: %w", clipID, kind, err)
	}
	return job, nil
}

const jobCols = `j.job_id, j.clip_id, j.kind, j.spec_version, j.requested_by, j.requested_at, j.progress, j.message,
	coalesce(r.state::text, 'unknown'), coalesce(r.attempt, 0), coalesce(r.max_attempts, 0),
	coalesce(r.errors[array_length(r.errors, 1)] ->> 'error', '')`

func scanJob(row pgx.Row) (Job, error) {
	var j Job
	var progress float32
	err := row.Scan(&j.ID, &j.ClipID, &j.Kind, &j.SpecVersion, &j.RequestedBy, &j.RequestedAt, &progress, &j.Message,
		&j.State, &j.Attempt, &j.MaxAttempts, &j.LastError)
	if errors.Is(err, pgx.ErrNoRows) {
		return j, ErrNotFound
	}
	j.Progress = float64(progress)
	return j, err
}

// Job returns one redaction job.
func (s *Store) Job(ctx context.Context, id int64) (Job, error) {
	j, err := scanJob(s.db.QueryRow(ctx, `SELECT `+jobCols+` FROM redaction_jobs j LEFT JOIN river_job r ON r.id = j.job_id WHERE j.job_id = $1`, id))
	if err != nil {
		return j, fmt.Errorf("redaction job %d: %w", id, err)
	}
	return j, nil
}

// Jobs lists a clip's redaction jobs, newest first.
func (s *Store) Jobs(ctx context.Context, clipID uuid.UUID) ([]Job, error) {
	rows, err := s.db.Query(ctx, `SELECT `+jobCols+` FROM redaction_jobs j LEFT JOIN river_job r ON r.id = j.job_id
		WHERE j.clip_id = $1 ORDER BY j.requested_at DESC, j.job_id DESC`, clipID)
	if err != nil {
		return nil, fmt.Errorf("redaction jobs of %s: %w", clipID, err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (Job, error) { return scanJob(r) })
	if err != nil {
		return nil, fmt.Errorf("redaction jobs of %s: %w", clipID, err)
	}
	return out, nil
}

// CancelJob cancels a redaction job (a running one stops at its next
// progress report).
func (s *Store) CancelJob(ctx context.Context, q Queue, id int64, who Actor) (Job, error) {
	j, err := s.Job(ctx, id)
	if err != nil {
		return j, err
	}
	switch j.State {
	case "completed", "cancelled", "discarded":
		return j, fmt.Errorf("redaction job %d: %w", id, &ConflictError{Msg: fmt.Sprintf("job %d is %s already", id, j.State)})
	}
	if _, err := q.JobCancel(ctx, id); err != nil {
		return j, fmt.Errorf("redaction job %d: cancel: %w", id, err)
	}
	err = pgx.BeginFunc(ctx, s.db, func(tx pgx.Tx) error {
		r, c, err := lockClip(ctx, tx, uuid.Nil, j.ClipID)
		if err != nil {
			return err
		}
		details := map[string]any{"clip_id": j.ClipID.String(), "job": j.Kind, "job_id": id}
		if err := s.appendEvent(ctx, tx, r.ID, who.Name, EventJobCancelled, details); err != nil {
			return err
		}
		details["request_id"], details["change"] = r.ID.String(), "job_cancelled"
		return s.audit(ctx, tx, who, AuditChanged, audit.OutcomeSuccess, c.EvidenceID, details)
	})
	if err != nil {
		return j, fmt.Errorf("redaction job %d: %w", id, err)
	}
	return s.Job(ctx, id)
}

// SetJobProgress records how far a job has got (percent 0..100).
func (s *Store) SetJobProgress(ctx context.Context, id int64, percent float64, message string) error {
	percent = min(max(percent, 0), 100)
	if len(message) > 2000 {
		message = message[:2000]
	}
	_, err := s.db.Exec(ctx, `UPDATE redaction_jobs SET progress = $2, message = $3, updated_at = $4 WHERE job_id = $1`,
		id, percent, message, s.opt.Now())
	if err != nil {
		return fmt.Errorf("redaction job %d: progress: %w", id, err)
	}
	return nil
}
