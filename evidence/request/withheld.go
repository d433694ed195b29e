package request

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/opendems/opendems/evidence/custody"
	"github.com/opendems/opendems/evidence/custody/audit"
	"github.com/opendems/opendems/evidence/pg"
)

// Withheld is an item kept back from a request's release.
type Withheld struct {
	ID         uuid.UUID  `json:"id"`
	RequestID  uuid.UUID  `json:"request_id"`
	EvidenceID uuid.UUID  `json:"evidence_id"`
	Exemptions []string   `json:"exemptions"`
	Note       string     `json:"note,omitempty"`
	By         string     `json:"withheld_by"`
	At         time.Time  `json:"withheld_at"`
	EndedAt    *time.Time `json:"ended_at,omitempty"`
	EndedBy    string     `json:"ended_by,omitempty"`
}

// WithholdInput withholds an item, citing exemption codes.
type WithholdInput struct {
	EvidenceID uuid.UUID `json:"evidence_id"`
	Exemptions []string  `json:"exemptions"`
	Note       string    `json:"note,omitempty"`
}

// Withhold records that an item is kept back from the release with its
// exemption codes (at least one, each configured).
func (s *Store) Withhold(ctx context.Context, requestID uuid.UUID, who Actor, in WithholdInput) (Withheld, error) {
	p := problems{op: "withhold"}
	if in.EvidenceID == uuid.Nil {
		p.add("evidence_id", "required")
	}
	p.text("note", in.Note, MaxReasonLen, false, true)
	if err := p.err(); err != nil {
		return Withheld{}, err
	}
	if err := s.settings.Exemptions.Check("exemptions", in.Exemptions, true); err != nil {
		return Withheld{}, err
	}
	var out Withheld
	err := pgx.BeginFunc(ctx, s.db, func(tx pgx.Tx) error {
		r, err := lock(ctx, tx, requestID)
		if err != nil {
			return err
		}
		if !stateIn(r.State, withholdStates...) {
			return stateConflict(&r, "items can be withheld", withholdStates)
		}
		now := s.opt.Now()
		out = Withheld{RequestID: requestID, EvidenceID: in.EvidenceID, Exemptions: in.Exemptions, Note: in.Note, By: who.Name, At: now}
		err = tx.QueryRow(ctx, `INSERT INTO request_withheld (request_id, evidence_id, exemptions, note, withheld_by, withheld_at)
			VALUES ($1, $2, $3, $4, $5, $6) RETURNING id`, requestID, in.EvidenceID, in.Exemptions, in.Note, who.Name, now).Scan(&out.ID)
		if pg.IsUniqueViolation(err) {
			return &ConflictError{Msg: fmt.Sprintf("item %s is withheld from request %s already", in.EvidenceID, r.TrackingNumber)}
		}
		if isForeignKeyViolation(err) {
			return fmt.Errorf("evidence %s: %w", in.EvidenceID, ErrNotFound)
		}
		if err != nil {
			return err
		}
		if _, err := custody.Append(ctx, tx, custody.NewEvent{EvidenceID: in.EvidenceID, Actor: who.Name, Action: custody.ActionRequestWithheld,
			Details: map[string]any{"request": r.TrackingNumber, "request_id": requestID.String(), "withheld_id": out.ID.String(),
				"exemptions": in.Exemptions, "note": in.Note}, Time: now}); err != nil {
			return err
		}
		details := map[string]any{"evidence_id": in.EvidenceID.String(), "exemptions": in.Exemptions, "note": in.Note}
		if err := s.appendEvent(ctx, tx, requestID, who.Name, EventWithheld, details); err != nil {
			return err
		}
		if err := s.bump(ctx, tx, requestID); err != nil {
			return err
		}
		details["request_id"], details["tracking_number"], details["change"] = requestID.String(), r.TrackingNumber, "item_withheld"
		return s.audit(ctx, tx, who, AuditChanged, audit.OutcomeSuccess, in.EvidenceID, details)
	})
	if err != nil {
		return Withheld{}, fmt.Errorf("request %s: withhold: %w", requestID, err)
	}
	return out, nil
}

// EndWithhold ends a withholding (the item may be released after all).
func (s *Store) EndWithhold(ctx context.Context, requestID, withheldID uuid.UUID, who Actor, reason string) error {
	p := problems{op: "end withhold"}
	p.text("reason", reason, MaxReasonLen, true, true)
	if err := p.err(); err != nil {
		return err
	}
	err := pgx.BeginFunc(ctx, s.db, func(tx pgx.Tx) error {
		r, err := lock(ctx, tx, requestID)
		if err != nil {
			return err
		}
		if !stateIn(r.State, withholdStates...) {
			return stateConflict(&r, "withholdings can change", withholdStates)
		}
		var evidenceID uuid.UUID
		err = tx.QueryRow(ctx, `UPDATE request_withheld SET ended_at = $3, ended_by = $4
			WHERE id = $1 AND request_id = $2 AND ended_at IS NULL RETURNING evidence_id`, withheldID, requestID, s.opt.Now(), who.Name).Scan(&evidenceID)
		if errors.Is(err, pgx.ErrNoRows) {
			return fmt.Errorf("withholding %s: %w", withheldID, ErrNotFound)
		}
		if err != nil {
			return err
		}
		if _, err := custody.Append(ctx, tx, custody.NewEvent{EvidenceID: evidenceID, Actor: who.Name, Action: custody.ActionRequestWithholdEnded,
			Details: map[string]any{"request": r.TrackingNumber, "request_id": requestID.String(), "withheld_id": withheldID.String(),
				"reason": reason}, Time: s.opt.Now()}); err != nil {
			return err
		}
		details := map[string]any{"withheld_id": withheldID.String(), "evidence_id": evidenceID.String(), "reason": reason}
		if err := s.appendEvent(ctx, tx, requestID, who.Name, EventWithholdEnded, details); err != nil {
			return err
		}
		if err := s.bump(ctx, tx, requestID); err != nil {
			return err
		}
		details["request_id"], details["change"] = requestID.String(), "withhold_ended"
		return s.audit(ctx, tx, who, AuditChanged, audit.OutcomeSuccess, evidenceID, details)
	})
	if err != nil {
		return fmt.Errorf("request %s: end withhold: %w", requestID, err)
	}
	return nil
}

// WithheldItems lists a request's withholdings, ended ones included.
func (s *Store) WithheldItems(ctx context.Context, requestID uuid.UUID) ([]Withheld, error) {
	rows, err := s.db.Query(ctx, `SELECT id, request_id, evidence_id, exemptions, note, withheld_by, withheld_at, ended_at, coalesce(ended_by, '')
		FROM request_withheld WHERE request_id = $1 ORDER BY withheld_at, id`, requestID)
	if err != nil {
		return nil, fmt.Errorf("withheld items of %s: %w", requestID, err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (Withheld, error) {
		var w Withheld
		err := r.Scan(&w.ID, &w.RequestID, &w.EvidenceID, &w.Exemptions, &w.Note, &w.By, &w.At, &w.EndedAt, &w.EndedBy)
		return w, err
	})
	if err != nil {
		return nil, fmt.Errorf("withheld items of %s: %w", requestID, err)
	}
	return out, nil
}

// Output kinds of redaction jobs.
const (
	OutputDetect    = "detect"     // detection proposals (JSON)
	OutputPreview   = "preview"    // low-resolution render for the editor
	OutputRender    = "render"     // full-resolution redacted clip
	OutputLeakCheck = "leak_check" // detector run over a render (JSON report)
	OutputTrack     = "track"      // a tracked box's keyframes (JSON)
)

// JobOutput is a file a redaction job produced.
type JobOutput struct {
	ID           uuid.UUID       `json:"id"`
	ClipID       uuid.UUID       `json:"clip_id"`
	Kind         string          `json:"kind"`
	SpecVersion  int             `json:"spec_version"`
	ObjectKey    string          `json:"object_key"`
	SHA256       string          `json:"sha256"`
	Size         int64           `json:"size"`
	SourceSHA256 string          `json:"source_sha256"`
	JobID        int64           `json:"job_id,omitempty"`
	Details      json.RawMessage `json:"details,omitempty"`
	CreatedBy    string          `json:"created_by"`
	CreatedAt    time.Time       `json:"created_at"`
}

// RecordJobOutput stores what a job produced. A render is also recorded in
// the source item's chain of custody (a derivative that may leave the
// agency).
func (s *Store) RecordJobOutput(ctx context.Context, who Actor, o JobOutput) (JobOutput, error) {
	p := problems{op: "job output"}
	switch o.Kind {
	case OutputDetect, OutputPreview, OutputRender, OutputLeakCheck, OutputTrack:
	default:
		p.add("kind", "unknown output kind %q", o.Kind)
	}
	sum, err1 := hex.DecodeString(o.SHA256)
	src, err2 := hex.DecodeString(o.SourceSHA256)
	if err1 != nil || len(sum) != 32 {
		p.add("sha256", "want 64 hex digits")
	}
	if err2 != nil || len(src) != 32 {
		p.add("source_sha256", "want 64 hex digits")
	}
	if o.ObjectKey == "" {
		p.add("object_key", "required")
	}
	if err := p.err(); err != nil {
		return JobOutput{}, err
	}
	if len(o.Details) == 0 {
		o.Details = json.RawMessage("{}")
	}
	err := pgx.BeginFunc(ctx, s.db, func(tx pgx.Tx) error {
		r, c, err := lockClip(ctx, tx, uuid.Nil, o.ClipID)
		if err != nil {
			return err
		}
		if c.SourceSHA256 != o.SourceSHA256 {
			return &ConflictError{Msg: fmt.Sprintf("job output of clip %s names source %s, but the clip's item is %s", o.ClipID, o.SourceSHA256, c.SourceSHA256)}
		}
		o.CreatedBy, o.CreatedAt = who.Name, s.opt.Now()
		var jobID *int64
		if o.JobID != 0 {
			jobID = &o.JobID
		}
		if err := tx.QueryRow(ctx, `INSERT INTO redaction_job_outputs (clip_id, kind, spec_version, object_key, sha256, size,
			source_sha256, job_id, details, created_by, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11) RETURNING id`,
			o.ClipID, o.Kind, o.SpecVersion, o.ObjectKey, sum, o.Size, src, jobID, []byte(o.Details), o.CreatedBy, o.CreatedAt).Scan(&o.ID); err != nil {
			return err
		}
		details := map[string]any{"request": r.TrackingNumber, "request_id": r.ID.String(), "clip_id": o.ClipID.String(),
			"kind": o.Kind, "spec_version": o.SpecVersion, "sha256": o.SHA256, "source_sha256": o.SourceSHA256, "size": o.Size}
		if o.Kind == OutputRender {
			if _, err := custody.Append(ctx, tx, custody.NewEvent{EvidenceID: c.EvidenceID, Actor: who.Name,
				Action: custody.ActionRedactionCreated, Details: details, Time: o.CreatedAt}); err != nil {
				return err
			}
		}
		if err := s.appendEvent(ctx, tx, r.ID, who.Name, EventJobOutput, details); err != nil {
			return err
		}
		details["change"] = "job_output"
		return s.audit(ctx, tx, who, AuditChanged, audit.OutcomeSuccess, c.EvidenceID, details)
	})
	if err != nil {
		return JobOutput{}, fmt.Errorf("record %s output of clip %s: %w", o.Kind, o.ClipID, err)
	}
	return o, nil
}

// JobOutputs lists a clip's outputs, newest first.
func (s *Store) JobOutputs(ctx context.Context, clipID uuid.UUID) ([]JobOutput, error) {
	rows, err := s.db.Query(ctx, `SELECT id, clip_id, kind, spec_version, object_key, sha256, size, source_sha256,
		coalesce(job_id, 0), details, created_by, created_at FROM redaction_job_outputs WHERE clip_id = $1 ORDER BY created_at DESC, id`, clipID)
	if err != nil {
		return nil, fmt.Errorf("outputs of clip %s: %w", clipID, err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (JobOutput, error) {
		var o JobOutput
		var sum, src, det []byte
		err := r.Scan(&o.ID, &o.ClipID, &o.Kind, &o.SpecVersion, &o.ObjectKey, &sum, &o.Size, &src, &o.JobID, &det, &o.CreatedBy, &o.CreatedAt)
		o.SHA256, o.SourceSHA256, o.Details = hex.EncodeToString(sum), hex.EncodeToString(src), det
		return o, err
	})
	if err != nil {
		return nil, fmt.Errorf("outputs of clip %s: %w", clipID, err)
	}
	return out, nil
}
