package jobs

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/opendems/opendems/evidence/custody"
	"github.com/opendems/opendems/transcode"
)

// Output status values stored per output in evidence_items.metadata.outputs.
const (
	OutputPending    = "pending"    // waiting for (another) attempt
	OutputProcessing = "processing" // an attempt is making it
	OutputReady      = "ready"      // stored as a derivative
	OutputFailed     = "failed"     // the media cannot give it; not retried
)

// OutputState is where one output (proxy, poster, thumbstrip) of an item
// stands. It lives in the item's metadata under outputs.<kind>, so the
// item API and page show which output failed and why without a query of
// their own.
type OutputState struct {
	Status    string    `json:"status"`
	Error     string    `json:"error,omitempty"`
	Attempts  int       `json:"attempts"`
	UpdatedAt time.Time `json:"updated_at"`
	// Method, for a ready proxy, is how it was made: "remux" (the
	// original's packets copied, no re-encode) or "encode"; NotRemuxed says
	// why an original was re-encoded.
	Method     string `json:"method,omitempty"`
	NotRemuxed string `json:"not_remuxed,omitempty"`
}

// setOutput stores one output's state. It runs on a fresh context when the
// job's is done, so a timeout still leaves the reason behind.
func (w *TranscodeWorker) setOutput(ctx context.Context, id uuid.UUID, kind string, st OutputState) {
	if ctx.Err() != nil {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
		defer cancel()
	}
	st.UpdatedAt = time.Now().UTC()
	if len(st.Error) > 2000 {
		st.Error = st.Error[:2000]
	}
	b, err := json.Marshal(st)
	if err == nil {
		_, err = w.Pool.Exec(ctx, `UPDATE evidence_items
			SET metadata = jsonb_set(jsonb_set(metadata, '{outputs}', coalesce(metadata->'outputs', '{}'::jsonb)),
				ARRAY['outputs', $2::text], $3::jsonb),
			updated_at = now() WHERE id = $1`, id, kind, b)
	}
	if err != nil {
		w.logger().Error("transcode: could not store output state", "evidence_id", id, "output", kind, "err", err)
	}
}

// outputsToMake is the set of outputs this attempt makes: those that apply
// to the media (no thumbnails for audio) and have no stored derivative
// yet, so a retry redoes only what an earlier attempt did not finish.
// forced (TranscodeArgs.Outputs) remakes the named outputs regardless.
func (w *TranscodeWorker) outputsToMake(ctx context.Context, id uuid.UUID, hasVideo bool, forced []string) (map[string]bool, error) {
	applies := map[string]bool{KindProxy: true, KindPoster: hasVideo, KindSprite: hasVideo}
	want := map[string]bool{}
	if len(forced) > 0 {
		for _, k := range forced {
			if applies[k] {
				want[k] = true
			}
		}
		return want, nil
	}
	for k, ok := range applies {
		if ok {
			want[k] = true
		}
	}
	rows, err := w.Pool.Query(ctx, `SELECT DISTINCT kind FROM evidence_derivatives d JOIN evidence_items i ON i.id = d.evidence_id
		WHERE d.evidence_id = $1 AND d.source_sha256 = i.sha256`, id)
	if err != nil {
		return nil, fmt.Errorf("outputs made: %w", err)
	}
	kinds, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return nil, fmt.Errorf("outputs made: %w", err)
	}
	for _, k := range kinds {
		delete(want, k)
	}
	return want, nil
}

// Recording completeness stored in evidence_items.metadata.recording.
const (
	RecordingComplete = "complete"
	RecordingPartial  = "partial"
)

// recordCompleteness stores how much of the recording decodes against what
// it declares (metadata.recording) and, the first time a recording is found
// to be partial, says so in its chain of custody. The original is not
// touched: "partial" describes the evidence as received.
func (w *TranscodeWorker) recordCompleteness(ctx context.Context, id uuid.UUID, c transcode.Completeness, log *slog.Logger) error {
	status := RecordingComplete
	if c.Partial {
		status = RecordingPartial
	}
	rec := map[string]any{
		"status": status, "declared_duration": c.DeclaredDuration, "decoded_duration": c.DecodedDuration,
		"duration_source": c.DurationSource,
	}
	b, err := json.Marshal(rec)
	if err != nil {
		return err
	}
	return pgx.BeginFunc(ctx, w.Pool, func(tx pgx.Tx) error {
		var old *string
		if err := tx.QueryRow(ctx, `SELECT metadata->'recording'->>'status' FROM evidence_items WHERE id = $1 FOR UPDATE`, id).Scan(&old); err != nil {
			return fmt.Errorf("recording status: %w", err)
		}
		if _, err := tx.Exec(ctx, `UPDATE evidence_items SET metadata = metadata || jsonb_build_object('recording', $2::jsonb),
				updated_at = now() WHERE id = $1`, id, b); err != nil {
			return fmt.Errorf("recording status: %w", err)
		}
		if !c.Partial || (old != nil && *old == RecordingPartial) {
			return nil
		}
		prev := ""
		if old != nil {
			prev = *old
		}
		log.Warn("transcode: partial recording", "declared_duration", c.DeclaredDuration, "decoded_duration", c.DecodedDuration)
		_, err := custody.Append(ctx, tx, custody.NewEvent{
			EvidenceID: id, Actor: "system:transcode", Action: custody.ActionMetadataChanged,
			Details: map[string]any{
				"field": "recording", "old": prev, "new": RecordingPartial,
				"declared_duration": c.DeclaredDuration, "decoded_duration": c.DecodedDuration,
				"duration_source": c.DurationSource,
				"note":            "the recording decodes to less than its container declares (cut short); the original is kept as received",
			},
		})
		if err != nil {
			return fmt.Errorf("custody: %w", err)
		}
		return nil
	})
}

// describedError carries the one-line description of a failure that is
// stored for users, naming the step and the file.
type describedError struct {
	msg string
	err error
}

func (e *describedError) Error() string { return e.msg }
func (e *describedError) Unwrap() error { return e.err }

// Describe is the stored, one-line account of a failure: the step, the
// file by the name it was uploaded under (not the worker's scratch path),
// the kind of failure and FFmpeg's or storage's words, e.g.
// `proxy: open input "cam1.mp4": corrupt or unreadable media: not a media
// file (zero bytes)`.
func Describe(err error, filename string) string {
	var de *describedError
	if errors.As(err, &de) {
		return de.msg
	}
	var me *transcode.MediaError
	if errors.As(err, &me) {
		cp := *me
		cp.Path = ""
		if filename != "" {
			cp.Path = fmt.Sprintf("%q", filename)
		}
		return cp.Error()
	}
	return reason(err)
}
