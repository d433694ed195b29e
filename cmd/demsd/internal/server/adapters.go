package server

import (
	"context"
	"net/http"

	"github.com/gin-gonic/gin"
	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/opendems/opendems/evidence/api"
	"github.com/opendems/opendems/evidence/custody"
	"github.com/opendems/opendems/evidence/ingest"
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
	_, err := r.svc.Append(ctx, custody.NewEvent{EvidenceID: id, Actor: actor, Action: custody.Action(action), Details: details})
	return err
}

// auditor writes API audit events to the system audit log.
type auditor struct{ a *App }

func (x auditor) Audit(ctx context.Context, e api.AuditEvent) {
	recordAudit(ctx, x.a, e)
}

// registerCustodyRoutes mounts the chain of custody routes.
func registerCustodyRoutes(a *App) {
	e := a.API.Engine()
	e.GET("/api/v1/evidence/:id/custody", func(c *gin.Context) {
		it, _ := api.ItemOf(c)
		events, err := custody.Events(c.Request.Context(), a.Pool, it.ID)
		if err != nil {
			api.WriteError(c, err)
			return
		}
		c.JSON(http.StatusOK, gin.H{"evidence_id": it.ID, "events": events})
	})
	e.GET("/api/v1/custody/public-key", func(c *gin.Context) {
		c.JSON(http.StatusOK, gin.H{"algorithm": "ed25519", "public_key": a.Custody.Key})
	})
}
