package retention

import (
	"context"
	"errors"
	"time"

	"github.com/google/uuid"
	"github.com/opendems/opendems/evidence"
	"github.com/riverqueue/river"
)

// SweepArgs is the daily retention sweep job: Sweep, then PurgeDue.
type SweepArgs struct{}

// Kind is river's job kind.
func (SweepArgs) Kind() string { return "retention_sweep" }

// PurgeArgs carries out due purges (PurgeDue) between sweeps, so a purge
// happens soon after its grace period ends rather than up to a day later.
type PurgeArgs struct{}

// Kind is river's job kind.
func (PurgeArgs) Kind() string { return "retention_purge" }

// RecomputeArgs recomputes one item's retention and storage lock, e.g.
// enqueued by ingest in the transaction that commits a new item, so its
// original is locked right away instead of at the next sweep.
type RecomputeArgs struct {
	EvidenceID uuid.UUID `json:"evidence_id"`
}

// Kind is river's job kind.
func (RecomputeArgs) Kind() string { return "retention_recompute" }

// AddWorkers registers the retention jobs' workers on ws.
func (s *Service) AddWorkers(ws *river.Workers) {
	river.AddWorker(ws, river.WorkFunc(func(ctx context.Context, j *river.Job[SweepArgs]) error {
		scheduled, err := s.Sweep(ctx)
		purged, perr := s.PurgeDue(ctx)
		s.cfg.Logger.InfoContext(ctx, "retention job", "scheduled", scheduled, "purged", purged)
		if err != nil {
			return err
		}
		return perr
	}))
	river.AddWorker(ws, river.WorkFunc(func(ctx context.Context, j *river.Job[RecomputeArgs]) error {
		_, err := s.Recompute(ctx, j.Args.EvidenceID, SweepActor)
		if errors.Is(err, ErrPurged) || errors.Is(err, evidence.ErrNotFound) {
			return nil // nothing left to keep
		}
		return err
	}))
	river.AddWorker(ws, river.WorkFunc(func(ctx context.Context, j *river.Job[PurgeArgs]) error {
		purged, err := s.PurgeDue(ctx)
		if purged > 0 {
			s.cfg.Logger.InfoContext(ctx, "retention purge", "purged", purged)
		}
		return err
	}))
}

// PeriodicJobs schedules the sweep every sweepEvery (retention.sweep_every,
// daily by default) and due purges every purgeEvery. River runs each on one
// process only, however many workers share the queue.
func PeriodicJobs(sweepEvery, purgeEvery time.Duration) []*river.PeriodicJob {
	return []*river.PeriodicJob{
		river.NewPeriodicJob(river.PeriodicInterval(sweepEvery), func() (river.JobArgs, *river.InsertOpts) {
			return SweepArgs{}, nil
		}, &river.PeriodicJobOpts{RunOnStart: true}),
		river.NewPeriodicJob(river.PeriodicInterval(purgeEvery), func() (river.JobArgs, *river.InsertOpts) {
			return PurgeArgs{}, nil
		}, nil),
	}
}
