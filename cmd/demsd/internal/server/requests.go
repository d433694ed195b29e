package server

import (
	"context"
	"encoding/json"
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
// section of the configuration, with package redact's spec validation
// (against the item's probed media when it has been probed).
func newRequests(a *App) (*request.Store, error) {
	settings, err := request.SettingsFrom(a.Config.Requests)
	if err != nil {
		return nil, err
	}
	return request.NewStore(a.Pool, settings, request.Options{Logger: a.Logger, CheckSpec: specChecker(a)}), nil
}

// specChecker validates a spec with package redact: structure, then
// against the media (times within the duration, boxes inside the frame).
func specChecker(a *App) func(ctx context.Context, spec []byte, clip *request.Clip) error {
	return func(ctx context.Context, spec []byte, clip *request.Clip) error {
		s, err := redact.Parse(spec)
		if err != nil {
			return specError(err)
		}
		var probe []byte
		err = a.Pool.QueryRow(ctx, `SELECT metadata -> 'probe' FROM evidence_items WHERE id = $1`, clip.EvidenceID).Scan(&probe)
		if err != nil || len(probe) == 0 || string(probe) == "null" {
			return nil // not probed yet: the render validates against the media
		}
		var p struct {
			Duration float64 `json:"duration"`
			HasVideo bool    `json:"has_video"`
			HasAudio bool    `json:"has_audio"`
			Rotation int     `json:"rotation"`
			Streams  []struct {
				Kind            string `json:"kind"`
				Width           int    `json:"width"`
				Height          int    `json:"height"`
				AttachedPicture bool   `json:"attached_picture"`
			} `json:"streams"`
		}
		if json.Unmarshal(probe, &p) != nil || !p.HasVideo || p.Duration <= 0 {
			return nil
		}
		w, h := 0, 0
		for _, st := range p.Streams {
			if st.Kind == "video" && !st.AttachedPicture && st.Width > 0 {
				w, h = st.Width, st.Height
				break
			}
		}
		if w == 0 {
			return nil
		}
		if p.Rotation == 90 || p.Rotation == 270 {
			w, h = h, w
		}
		m := redact.MediaInfo{Duration: p.Duration, Width: w, Height: h, Rotation: p.Rotation, HasVideo: true, HasAudio: p.HasAudio}
		return specError(s.ValidateMedia(m))
	}
}

// specError turns redact's field errors into the request package's, so
// the editor shows each at its field.
func specError(err error) error {
	var ve *redact.ValidationError
	if !errors.As(err, &ve) {
		return err
	}
	fields := make([]request.FieldError, len(ve.Problems))
	for i, p := range ve.Problems {
		fields[i] = request.FieldError{Field: p.Field, Reason: p.Reason}
	}
	return &request.InvalidError{Op: "redaction spec", Fields: fields}
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
		MaxDuration: a.Config.Workers.RescueStuckAfter - 5*time.Minute, Logger: a.Logger})
}

// boxTracker runs box tracking for the API on a verified copy of the
// clip's original.
type boxTracker struct{ a *App }

func (t boxTracker) Track(ctx context.Context, clip request.Clip, at float64, box request.TrackBox) (any, error) {
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
