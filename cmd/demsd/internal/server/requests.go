package server

import (
	"context"
	"errors"
	"time"

	"github.com/google/uuid"
	"github.com/riverqueue/river"

	"github.com/opendems/opendems/evidence"
	"github.com/opendems/opendems/evidence/jobs"
	"github.com/opendems/opendems/evidence/request"
	"github.com/opendems/opendems/evidence/retention"
)

// newRequests builds the public access request store from the requests
// section of the configuration.
func newRequests(a *App) (*request.Store, error) {
	settings, err := request.SettingsFrom(a.Config.Requests)
	if err != nil {
		return nil, err
	}
	return request.NewStore(a.Pool, settings, request.Options{Logger: a.Logger}), nil
}

// requestHolds keeps linked items from being purged while their request
// is open (retention owns holds).
type requestHolds struct{ s *retention.Service }

func (h requestHolds) OpenAccessRequest(ctx context.Context, id uuid.UUID, ref, actor string) error {
	_, err := h.s.OpenAccessRequest(ctx, id, ref, actor)
	return err
}

func (h requestHolds) CloseAccessRequest(ctx context.Context, id uuid.UUID, ref, actor string) error {
	_, err := h.s.CloseAccessRequest(ctx, id, ref, actor)
	if errors.Is(err, evidence.ErrNotFound) {
		return nil
	}
	return err
}

// registerRequestWorkers adds the redaction jobs beside the transcode
// worker; an attempt stops by its own deadline before river would rescue
// it.
func registerRequestWorkers(a *App, ws *river.Workers) {
	river.AddWorker(ws, &jobs.RedactionWorker{Pool: a.Pool, Storage: a.Storage, Requests: a.Requests,
		MaxDuration: a.Config.Workers.RescueStuckAfter - 5*time.Minute, Logger: a.Logger, Meter: a.Metrics.Redaction})
}
