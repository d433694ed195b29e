package release

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/riverqueue/river"

	"github.com/opendems/opendems/evidence"
	"github.com/opendems/opendems/evidence/custody/audit"
	"github.com/opendems/opendems/evidence/release/releasepkg"
	"github.com/opendems/opendems/evidence/request"
	"github.com/opendems/opendems/storage"
)

// BuildArgs asks a worker to build the package of a reserved release
// (Service.Release enqueues it in the transaction that reserves the
// release). The requester is carried so that custody and audit name who
// released, not the worker.
type BuildArgs struct {
	ReleaseID   uuid.UUID `json:"release_id"`
	RequestedBy string    `json:"requested_by"`
	UserID      uuid.UUID `json:"user_id"`
	Addr        string    `json:"addr,omitempty"`
}

// Kind is river's job kind.
func (BuildArgs) Kind() string { return "release_build" }

// BuildMaxAttempts bounds retries (storage or database outages, a killed
// worker); a conflict (an approval voided meanwhile) is not retried.
const BuildMaxAttempts = 3

// Queue is the river queue of builds: their own, so that long package
// builds never hold up transcodes and redactions (and the other way
// round).
const Queue = "releases"

// InsertOpts gives every build its queue and bounded retries.
func (BuildArgs) InsertOpts() river.InsertOpts {
	return river.InsertOpts{Queue: Queue, MaxAttempts: BuildMaxAttempts}
}

// BuildJob is a release's build job as the API and the page show it.
type BuildJob struct {
	ID       int64   `json:"id"`
	Progress float64 `json:"progress"` // percent
	Message  string  `json:"message,omitempty"`
	// State is river's: available, running, retryable, completed,
	// cancelled, discarded.
	State       string `json:"state"`
	Attempt     int    `json:"attempt"`
	MaxAttempts int    `json:"max_attempts"`
	LastError   string `json:"last_error,omitempty"`
}

// BuildWorker runs release builds (BuildArgs) on river, beside the
// transcode and redaction workers. Progress (bytes of clips streamed)
// goes to the release row; a cancelled job's context ends the build; an
// attempt that fails for a transient reason is retried by river, and the
// last failure (or a permanent one) marks the release failed with the
// reason.
type BuildWorker struct {
	river.WorkerDefaults[BuildArgs]
	Service *Service
	// MaxDuration bounds one attempt (default 2h).
	MaxDuration time.Duration
}

// Timeout is river's per-attempt deadline.
func (w *BuildWorker) Timeout(*river.Job[BuildArgs]) time.Duration {
	if w.MaxDuration > 0 {
		return w.MaxDuration
	}
	return 2 * time.Hour
}

// Work runs one attempt.
func (w *BuildWorker) Work(ctx context.Context, job *river.Job[BuildArgs]) error {
	s := w.Service
	a := job.Args
	who := request.Actor{Name: a.RequestedBy, UserID: a.UserID, Addr: a.Addr}
	log := s.log.With("job_id", job.ID, "release_id", a.ReleaseID, "attempt", job.Attempt)
	s.setProgress(a.ReleaseID, 0, fmt.Sprintf("building (attempt %d of %d)", job.Attempt, job.MaxAttempts))
	err := s.BuildRelease(ctx, a.ReleaseID, who, func(p float64, msg string) { s.setProgress(a.ReleaseID, p, msg) })
	if err == nil {
		return nil
	}
	if errors.Is(err, ErrNotBuilding) {
		log.Info("release build stopped: the release is no longer building", "err", err)
		return river.JobCancel(err)
	}
	if permanentBuildError(err) || job.Attempt >= job.MaxAttempts || ctx.Err() != nil && s.cancelled(a.ReleaseID) {
		log.Warn("release build failed", "err", err)
		s.failRelease(a.ReleaseID, who, err)
		return river.JobCancel(err)
	}
	s.setProgress(a.ReleaseID, 0, fmt.Sprintf("attempt %d failed, will retry: %s", job.Attempt, truncate(err.Error(), 1500)))
	log.Warn("release build attempt failed", "err", err)
	return err
}

// permanentBuildError: retrying cannot help.
func permanentBuildError(err error) bool {
	for _, k := range []error{evidence.ErrConflict, evidence.ErrInvalid, evidence.ErrNotFound, evidence.ErrIntegrity,
		releasepkg.ErrInvalidSpec, releasepkg.ErrClipMismatch, releasepkg.ErrNoCustody, storage.ErrDigestMismatch} {
		if errors.Is(err, k) {
			return true
		}
	}
	return false
}

// cancelled reports whether the release was cancelled (failed while its
// build runs).
func (s *Service) cancelled(id uuid.UUID) bool { return s.stateOf(id) == StateFailed }

// stateOf reads a release's state on a fresh context ("" when unknown).
func (s *Service) stateOf(id uuid.UUID) State {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var st State
	if s.db.QueryRow(ctx, `SELECT state FROM releases WHERE id = $1`, id).Scan(&st) != nil {
		return ""
	}
	return st
}

// setProgress records how far a build got, on a fresh context (the job's
// may be done).
func (s *Service) setProgress(id uuid.UUID, percent float64, msg string) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	percent = min(max(percent, 0), 100)
	if _, err := s.db.Exec(ctx, `UPDATE releases SET progress = $2, message = $3 WHERE id = $1 AND state = 'building'`,
		id, percent, truncate(msg, 2000)); err != nil {
		s.log.Warn("release build progress", "release_id", id, "err", err)
	}
}

// failRelease marks a build failed with its reason (unless it was
// cancelled or finished meanwhile) and audits it. The request stays
// approved and may be released again.
func (s *Service) failRelease(id uuid.UUID, who request.Actor, cause error) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	tag, err := s.db.Exec(ctx, `UPDATE releases SET state = 'failed', error = $2, message = 'failed' WHERE id = $1 AND state = 'building'`,
		id, truncate(cause.Error(), 2000))
	if err != nil {
		s.log.Error("release: marking failed release", "release_id", id, "err", err)
		return
	}
	if tag.RowsAffected() == 0 {
		return
	}
	if err := s.audit(ctx, s.db, who, AuditRelease, audit.OutcomeFailure, uuid.Nil, map[string]any{
		"release_id": id.String(), "error": cause.Error()}); err != nil {
		s.log.Error("release: audit of failed build", "release_id", id, "err", err)
	}
}

// Cancel stops a release's build: the release becomes failed ("cancelled
// by ..."), its job is cancelled (a running build stops at its next read),
// and the request stays approved, so it can be released again. Only a
// release that is building can be cancelled (409 otherwise).
func (s *Service) Cancel(ctx context.Context, id uuid.UUID, who request.Actor) (Release, error) {
	var jobID *int64
	err := pgx.BeginFunc(ctx, s.db, func(tx pgx.Tx) error {
		var st State
		var requestID uuid.UUID
		if err := tx.QueryRow(ctx, `SELECT state, request_id, job_id FROM releases WHERE id = $1 FOR UPDATE`, id).Scan(&st, &requestID, &jobID); err != nil {
			if errors.Is(err, pgx.ErrNoRows) {
				return evidence.NotFound("release")
			}
			return err
		}
		if st != StateBuilding {
			return evidence.E(evidence.ErrConflict, "", fmt.Sprintf("release %s is %s: only a build in progress can be cancelled", id, st), nil)
		}
		now := s.now()
		if _, err := tx.Exec(ctx, `UPDATE releases SET state = 'failed', error = $2, message = 'cancelled' WHERE id = $1`,
			id, "cancelled by "+who.Name); err != nil {
			return err
		}
		if err := s.audit(ctx, tx, who, AuditRelease, audit.OutcomeSuccess, uuid.Nil, map[string]any{"change": "build_cancelled",
			"release_id": id.String()}); err != nil {
			return err
		}
		return timeline(ctx, tx, requestID, now, who.Name, "release_cancelled", map[string]any{"release_id": id.String()})
	})
	if err != nil {
		return Release{}, fmt.Errorf("cancel release %s: %w", id, err)
	}
	if jobID != nil && s.queue != nil {
		// The row says cancelled already; the running attempt notices at
		// its next read or at its final check, whichever comes first.
		if _, err := s.queue.JobCancel(ctx, *jobID); err != nil {
			s.log.Warn("release: cancelling build job", "release_id", id, "job_id", *jobID, "err", err)
		}
	}
	return s.Get(ctx, id)
}

var _ river.Worker[BuildArgs] = (*BuildWorker)(nil)
