package server

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/google/uuid"
	"github.com/riverqueue/river"

	"github.com/opendems/opendems/evidence"
	"github.com/opendems/opendems/evidence/jobs"
	"github.com/opendems/opendems/evidence/request"
	"github.com/opendems/opendems/evidence/retention"
	"github.com/opendems/opendems/redact"
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

// boxTracker runs box tracking for the API on a verified copy of the
// clip's original.
type boxTracker struct{ a *App }

func (t boxTracker) Track(ctx context.Context, clip request.Clip, at float64, box request.TrackBox) (*request.TrackResult, error) {
	w := &jobs.RedactionWorker{Pool: t.a.Pool, Storage: t.a.Storage, Requests: t.a.Requests}
	dir, err := os.MkdirTemp("", "track-")
	if err != nil {
		return nil, fmt.Errorf("track: %w", err)
	}
	defer os.RemoveAll(dir)
	src := filepath.Join(dir, "source")
	if err := w.FetchOriginal(ctx, clip, src); err != nil {
		return nil, fmt.Errorf("track: %w", err)
	}
	res, err := jobs.TrackBox(ctx, src, jobs.TrackRequest{Time: at, Box: redact.Box{X: box.X, Y: box.Y, W: box.Width, H: box.Height},
		From: float64(clip.InMs) / 1000, To: float64(clip.OutMs) / 1000})
	if errors.Is(err, jobs.ErrTrackInput) {
		return nil, evidence.E(evidence.ErrInvalid, "track", err.Error(), err)
	}
	return res, err
}
