package request

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/opendems/opendems/redact/spec"
)

// checkSpec validates a spec document with package redact/spec (pure Go):
// its structure, then against the clip's item as probed (every time
// within the duration, every box inside the upright picture). Problems
// come back as one *InvalidError listing each field by its path in the
// spec ("regions[2].keyframes[0].time"). An item not probed yet is checked
// for structure only; the render checks against the media itself.
func (s *Store) checkSpec(ctx context.Context, doc []byte, clip *Clip) error {
	sp, err := spec.Parse(doc)
	if err != nil {
		return specProblems(err)
	}
	m, ok, err := s.mediaOf(ctx, clip)
	if err != nil {
		return err
	}
	if !ok {
		return nil
	}
	return specProblems(sp.ValidateMedia(m))
}

// specProblems turns redact/spec's validation errors into this package's.
func specProblems(err error) error {
	var ve *spec.ValidationError
	if !errors.As(err, &ve) {
		return err
	}
	fields := make([]FieldError, len(ve.Problems))
	for i, p := range ve.Problems {
		fields[i] = FieldError{Field: p.Field, Reason: p.Reason}
	}
	return &InvalidError{Op: "redaction spec", Fields: fields}
}

// mediaOf reads what validation needs from the item's stored probe; ok is
// false when the item has not been probed (or has no video).
func (s *Store) mediaOf(ctx context.Context, clip *Clip) (spec.MediaInfo, bool, error) {
	var probe []byte
	if err := s.db.QueryRow(ctx, `SELECT coalesce(metadata -> 'probe', 'null'::jsonb) FROM evidence_items WHERE id = $1`, clip.EvidenceID).Scan(&probe); err != nil {
		return spec.MediaInfo{}, false, fmt.Errorf("media of %s: %w", clip.EvidenceID, err)
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
		return spec.MediaInfo{}, false, nil
	}
	for _, st := range p.Streams {
		if st.Kind == "video" && !st.AttachedPicture && st.Width > 0 {
			w, h := st.Width, st.Height
			if p.Rotation == 90 || p.Rotation == 270 {
				w, h = h, w
			}
			return spec.MediaInfo{Duration: p.Duration, Width: w, Height: h, Rotation: p.Rotation, HasVideo: true, HasAudio: p.HasAudio}, true, nil
		}
	}
	return spec.MediaInfo{}, false, nil
}
