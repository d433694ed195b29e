package server

import (
	"context"
	"fmt"

	"github.com/gin-gonic/gin"
	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/riverqueue/river"

	"github.com/opendems/opendems/evidence/api"
	"github.com/opendems/opendems/evidence/custody"
	"github.com/opendems/opendems/evidence/custody/audit"
	"github.com/opendems/opendems/evidence/ingest"
	"github.com/opendems/opendems/evidence/jobs"
	"github.com/opendems/opendems/evidence/retention"
)

// ingestCustody appends ingest's custody events in ingest's transaction.
type ingestCustody struct{}

func (ingestCustody) AppendTx(ctx context.Context, tx pgx.Tx, ev ingest.CustodyEvent) error {
	_, err := custody.Append(ctx, tx, custody.NewEvent{
		EvidenceID: ev.EvidenceID, Actor: ev.Actor, Action: custody.Action(ev.Action), Details: ev.Details, Time: ev.At,
	})
	return err
}

// custodyRecorder lets the API append events (views, downloads).
type custodyRecorder struct{ svc *custody.Service }

func (r custodyRecorder) Record(ctx context.Context, id uuid.UUID, actor, action string, details map[string]any) error {
	if action == string(custody.ActionFixityFailed) {
		// A download found the original altered: flag the item too.
		return r.svc.RecordReadFailure(ctx, id, actor, details)
	}
	_, err := r.svc.Append(ctx, custody.NewEvent{EvidenceID: id, Actor: actor, Action: custody.Action(action), Details: details})
	return err
}

// auditor writes API audit events to the system audit log.
type auditor struct{ a *App }

func (x auditor) Audit(ctx context.Context, e api.AuditEvent) {
	recordAudit(ctx, x.a, e)
}

// adminAudit records every administrator request in the audit log.
func adminAudit(a *App) gin.HandlerFunc {
	return audit.Middleware(a.Pool, func(c *gin.Context, err error) {
		a.Logger.ErrorContext(c.Request.Context(), "audit record of an administrator action failed", "route", c.FullPath(), "err", err)
	})
}

// ingestCommitted is ingest's commit hook: with every new item it enqueues
// the transcode job and the computation of its retention, in the same
// transaction, so an item never exists without its job and gets its
// retain-until (and the matching storage lock) at once instead of at the
// next daily sweep.
func ingestCommitted(c *river.Client[pgx.Tx]) ingest.CommitHook {
	return func(ctx context.Context, tx pgx.Tx, id uuid.UUID) error {
		if _, err := c.InsertTx(ctx, tx, jobs.TranscodeArgs{EvidenceID: id}, nil); err != nil {
			return fmt.Errorf("enqueue transcode: %w", err)
		}
		if _, err := c.InsertTx(ctx, tx, retention.RecomputeArgs{EvidenceID: id}, nil); err != nil {
			return fmt.Errorf("enqueue retention: %w", err)
		}
		return nil
	}
}
