package server

import (
	"context"
	"time"

	"github.com/riverqueue/river"

	"github.com/opendems/opendems/evidence/api"
	"github.com/opendems/opendems/evidence/custody"
	"github.com/opendems/opendems/evidence/jobs"
)

// registerWorkers adds every job worker this process can run.
func registerWorkers(a *App, ws *river.Workers) {
	river.AddWorker(ws, river.WorkFunc(func(ctx context.Context, j *river.Job[jobs.CheckpointArgs]) error {
		cp, err := custody.Checkpoint(ctx, a.Pool, a.Storage, a.Key)
		if err == nil {
			a.Logger.Info("custody checkpoint signed", "id", cp.ID, "heads", cp.TreeSize)
		}
		return err
	}))
	river.AddWorker(ws, river.WorkFunc(func(ctx context.Context, j *river.Job[jobs.UploadCleanupArgs]) error {
		n, err := a.Ingest.CleanupAbandoned(ctx, a.Config.Ingest.AbandonedAfter)
		if n > 0 {
			a.Logger.Info("abandoned uploads cleaned up", "count", n)
		}
		return err
	}))
	registerMediaWorkers(a, ws)
}

// periodicJobs schedules the recurring work; river runs each on one
// process only (leader election), however many workers share the queue.
func periodicJobs(a *App) []*river.PeriodicJob {
	every := func(d time.Duration, args river.JobArgs) *river.PeriodicJob {
		return river.NewPeriodicJob(river.PeriodicInterval(d), func() (river.JobArgs, *river.InsertOpts) {
			return args, nil
		}, &river.PeriodicJobOpts{RunOnStart: true})
	}
	return []*river.PeriodicJob{
		every(a.Config.Custody.CheckpointInterval, jobs.CheckpointArgs{}),
		every(time.Hour, jobs.UploadCleanupArgs{}),
	}
}

// recordAudit writes one system audit record.
func recordAudit(ctx context.Context, a *App, e api.AuditEvent) {
	a.Logger.InfoContext(ctx, "audit", "type", e.Type, "actor", e.Actor, "outcome", e.Outcome, "source", e.SourceAddr)
}

// registerMediaWorkers adds the transcode worker. Its timeout grows with
// the media's duration from workers.job_timeout upwards.
func registerMediaWorkers(a *App, ws *river.Workers) {
	river.AddWorker(ws, &jobs.TranscodeWorker{
		Pool: a.Pool, Storage: a.Storage, MinTimeout: a.Config.Workers.JobTimeout, Logger: a.Logger,
	})
}
