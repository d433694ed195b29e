package server

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/riverqueue/river"

	policyconf "github.com/opendems/opendems/configs/policy"
	"github.com/opendems/opendems/evidence/retention"
	"github.com/opendems/opendems/policy"
)

// purgeDueEvery is how often due purges are carried out between daily
// sweeps, so a purge follows the end of its grace period within the hour.
const purgeDueEvery = time.Hour

// newRetention builds the retention service from the app: the configured
// retention schedule (or the embedded default), the embedded purge policy
// (an agency's access edits can never open destruction), the storage and
// the access policy for the explain and case hold routes.
func newRetention(a *App) (*retention.Service, error) {
	sched, cfg, data, source := a.schedule, a.scheduleConfig, a.scheduleFile.Data, a.scheduleFile.Source
	purge, err := policy.NewPurge(policy.Files{ModelName: policyconf.PurgeModelName, Model: policyconf.PurgeModel(),
		PolicyName: policyconf.PurgePolicyName, Policy: policyconf.PurgePolicy()}, sched)
	if err != nil {
		return nil, err
	}
	sum := sha256.Sum256(data)
	rc := retention.Config{
		Pool: a.Pool, Storage: a.Storage, Schedule: sched, Purge: purge, ScheduleConfig: cfg,
		ScheduleVersion: hex.EncodeToString(sum[:]), ScheduleSource: source, PurgeGrace: a.Config.Retention.PurgeGrace,
		Identity: a.Identity, Evidence: a.Evidence, Auditor: auditor{a}, Logger: a.Logger,
	}
	if a.River != nil { // not yet built while the workers are registered
		rc.Jobs = a.River
	}
	return retention.New(rc)
}

// registerRetentionWorkers adds the sweep and purge workers. If the
// retention schedule cannot be loaded (a worker-only process does not run
// registerRetention, which would refuse to start), every retention job
// fails with that error, visibly in the job table and the log, rather
// than silently not running.
func registerRetentionWorkers(a *App, ws *river.Workers) {
	svc, err := newRetention(a)
	if err == nil {
		svc.AddWorkers(ws)
		return
	}
	a.Logger.Error("retention jobs cannot run", "err", err)
	fail := func(context.Context) error { return fmt.Errorf("retention jobs cannot run: %w", err) }
	river.AddWorker(ws, river.WorkFunc(func(ctx context.Context, _ *river.Job[retention.SweepArgs]) error { return fail(ctx) }))
	river.AddWorker(ws, river.WorkFunc(func(ctx context.Context, _ *river.Job[retention.PurgeArgs]) error { return fail(ctx) }))
	river.AddWorker(ws, river.WorkFunc(func(ctx context.Context, _ *river.Job[retention.RecomputeArgs]) error { return fail(ctx) }))
}

// retentionPeriodicJobs schedules the sweep (retention.sweep_every, daily
// by default) and the hourly run of due purges.
func retentionPeriodicJobs(a *App) []*river.PeriodicJob {
	return retention.PeriodicJobs(a.Config.Retention.SweepEvery, purgeDueEvery)
}

// retentionKeeper lets evidence/review recompute retention and holds in
// its own transaction (review.RetentionKeeper).
type retentionKeeper struct{ s *retention.Service }

// RecomputeTx implements review.RetentionKeeper.
func (k retentionKeeper) RecomputeTx(ctx context.Context, tx pgx.Tx, id uuid.UUID, actor string) error {
	_, err := k.s.RecomputeTx(ctx, tx, id, actor)
	return err
}
