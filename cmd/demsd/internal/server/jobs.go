package server

import (
	"context"
	"errors"
	"time"

	"github.com/asticode/go-astiav"
	"github.com/google/uuid"
	"github.com/riverqueue/river"

	"github.com/opendems/opendems/evidence/api"
	"github.com/opendems/opendems/evidence/custody"
	"github.com/opendems/opendems/evidence/custody/audit"
	"github.com/opendems/opendems/evidence/identity"
	"github.com/opendems/opendems/evidence/jobs"
	"github.com/opendems/opendems/transcode"
)

// registerWorkers adds every job worker this process can run.
func registerWorkers(a *App, ws *river.Workers) {
	river.AddWorker(ws, river.WorkFunc(func(ctx context.Context, j *river.Job[jobs.CheckpointArgs]) error {
		// One job signs both the custody heads and the audit log's head
		// (each only when it moved): the window in which a database
		// superuser could rewrite either unnoticed is the job's interval.
		cp, err := custody.Checkpoint(ctx, a.Pool, a.Storage, a.Key)
		if err == nil {
			a.Metrics.CheckpointsSigned.Inc()
			a.Logger.Debug("custody checkpoint", "id", cp.ID, "heads", cp.TreeSize)
		} else {
			a.Metrics.CheckpointsFailed.Inc()
		}
		an, created, aerr := audit.SignAnchor(ctx, a.Pool, a.Key)
		if aerr == nil && created {
			a.Logger.Debug("audit anchor signed", "id", an.ID, "seq", an.Seq)
		}
		return errors.Join(err, aerr)
	}))
	river.AddWorker(ws, river.WorkFunc(func(ctx context.Context, j *river.Job[jobs.UploadCleanupArgs]) error {
		n, err := a.Ingest.CleanupAbandoned(ctx, a.Config.Ingest.AbandonedAfter)
		if n > 0 {
			a.Logger.Info("abandoned uploads cleaned up", "count", n)
		}
		return err
	}))
	river.AddWorker(ws, river.WorkFunc(func(ctx context.Context, j *river.Job[jobs.FixityArgs]) error {
		opts := a.FixityOptions()
		if j.Args.EvidenceID != nil {
			_, err := custody.CheckFixity(ctx, a.Pool, a.Storage, *j.Args.EvidenceID, opts)
			return err
		}
		sum, err := custody.RunFixity(ctx, a.Pool, a.Storage, opts)
		a.Logger.Info("fixity run", "checked", sum.Checked, "ok", sum.OK, "total", sum.Total)
		return err
	}))
	river.AddWorker(ws, river.WorkFunc(func(ctx context.Context, j *river.Job[jobs.CustodyVerifyArgs]) error {
		_, err := VerifyCustody(ctx, a)
		return err
	}))
	registerMediaWorkers(a, ws)
	registerRequestWorkers(a, ws)
	registerReleaseWorkers(a, ws)
	registerRetentionWorkers(a, ws)
}

// FixityOptions are the fixity settings from the configuration.
func (a *App) FixityOptions() custody.FixityOptions {
	return custody.FixityOptions{Period: a.Config.Fixity.Period, RunInterval: a.Config.Fixity.RunEvery,
		Logger: a.Logger, Registerer: a.Registry}
}

// periodicJobs schedules the recurring work; river runs each on one
// process only (leader election), however many workers share the queue.
func periodicJobs(a *App) []*river.PeriodicJob {
	every := func(d time.Duration, args river.JobArgs) *river.PeriodicJob {
		return river.NewPeriodicJob(river.PeriodicInterval(d), func() (river.JobArgs, *river.InsertOpts) {
			return args, nil
		}, &river.PeriodicJobOpts{RunOnStart: true})
	}
	return append([]*river.PeriodicJob{
		every(a.Config.Custody.CheckpointInterval, jobs.CheckpointArgs{}),
		every(a.Config.Custody.VerifyInterval, jobs.CustodyVerifyArgs{}),
		every(time.Hour, jobs.UploadCleanupArgs{}),
		every(a.Config.Fixity.RunEvery, jobs.FixityArgs{}),
	}, retentionPeriodicJobs(a)...)
}

// auditTypes maps the API's event names to the audit log's types.
var auditTypes = map[string]audit.EventType{
	"logon": audit.EventLogon, "logoff": audit.EventLogoff, "access_denied": audit.EventAccessDenied,
	"token_rejected": audit.EventLogon, "token_created": audit.EventTokenCreated, "unit_created": audit.EventConfigChanged,
	"user_created": audit.EventAccountCreated, "password_changed": audit.EventPasswordChanged,
	"account_changed": audit.EventAccountChanged, "permission_changed": audit.EventPermissionChanged, "dock_enrolled": audit.EventDockEnrolled, "dock_revoked": audit.EventDockRevoked,
	"mfa_changed": audit.EventMFAChanged, "mfa_enrolment_started": audit.EventMFAChanged, "mfa_verify": audit.EventLogon,
}

// recordAudit writes one system audit record. A failure is logged loudly
// (the request it describes has already happened).
func recordAudit(ctx context.Context, a *App, e api.AuditEvent) {
	t, ok := auditTypes[e.Type]
	if !ok {
		t = audit.EventType(e.Type)
	}
	details := map[string]any{"event": e.Type}
	for k, v := range e.Details {
		details[k] = v
	}
	var userID uuid.UUID
	if p, ok := identity.FromContext(ctx); ok && p.Kind == identity.KindUser {
		userID = p.ID
	}
	_, err := audit.Record(context.WithoutCancel(ctx), a.Pool, audit.Entry{Component: "api", EventType: t, Actor: e.Actor,
		UserID: userID, Outcome: audit.Outcome(e.Outcome), SourceAddr: e.SourceAddr, Details: details})
	if err != nil {
		a.Logger.ErrorContext(ctx, "audit record failed", "type", e.Type, "actor", e.Actor, "err", err)
	}
}

// registerMediaWorkers adds the transcode worker. Its timeout grows with
// the media's duration from workers.job_timeout upwards.
func registerMediaWorkers(a *App, ws *river.Workers) {
	// river rescues a job running longer than workers.rescue_stuck_after:
	// a transcode stops by its own deadline five minutes before that.
	// FFmpeg has one log callback per process: this router replaces the
	// one main installed, so FFmpeg's lines carry the item being processed.
	ffmpegLog := transcode.NewFFmpegLog(a.Logger)
	ffmpegLog.Install(astiav.LogLevelWarning)
	river.AddWorker(ws, &jobs.TranscodeWorker{
		Pool: a.Pool, Storage: a.Storage, MinTimeout: a.Config.Workers.JobTimeout,
		MaxTimeout: a.Config.Workers.RescueStuckAfter - 5*time.Minute, Logger: a.Logger,
		FFmpegLog: ffmpegLog, Meter: a.Metrics.Transcode,
	})
}

// AuditSystem records an event of the server itself (no user request).
func AuditSystem(ctx context.Context, a *App, eventType string, details map[string]any) {
	_, err := audit.Record(context.WithoutCancel(ctx), a.Pool, audit.Entry{Component: "policy", EventType: audit.EventType(eventType),
		Actor: "system:demsd", Outcome: audit.OutcomeSuccess, Details: details})
	if err != nil {
		a.Logger.ErrorContext(ctx, "audit record failed", "type", eventType, "err", err)
	}
}
