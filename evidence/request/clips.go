package request

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/opendems/opendems/evidence/custody"
	"github.com/opendems/opendems/evidence/custody/audit"
)

// Clip is part of an evidence item linked to a request.
type Clip struct {
	ID           uuid.UUID  `json:"id"`
	RequestID    uuid.UUID  `json:"request_id"`
	EvidenceID   uuid.UUID  `json:"evidence_id"`
	InMs         int64      `json:"in_ms"`
	OutMs        int64      `json:"out_ms"`
	LinkedBy     string     `json:"linked_by"`
	LinkedAt     time.Time  `json:"linked_at"`
	RemovedAt    *time.Time `json:"removed_at,omitempty"`
	RemovedBy    string     `json:"removed_by,omitempty"`
	RemoveReason string     `json:"remove_reason,omitempty"`
	// SpecVersion is the latest saved spec version (0: none yet).
	SpecVersion int        `json:"spec_version"`
	SpecAuthor  string     `json:"spec_author,omitempty"`
	SpecSavedAt *time.Time `json:"spec_saved_at,omitempty"`
	// SourceSHA256 is the item's original's SHA-256.
	SourceSHA256 string `json:"source_sha256"`
}

// States in which footage may be linked, unlinked or withheld, and specs
// saved: the work is under way and nobody has approved it yet.
var (
	clipStates     = []State{StateAssigned, StateSearching, StateRedacting}
	specStates     = []State{StateSearching, StateRedacting}
	withholdStates = []State{StateAssigned, StateSearching, StateRedacting, StateInReview}
)

// SpecsEditable says whether specs of a request in state st may be saved
// (the editor opens read-only otherwise, and SaveSpec refuses).
func SpecsEditable(st State) bool { return stateIn(st, specStates...) }

func stateConflict(r *Request, what string, allowed []State) error {
	names := make([]string, len(allowed))
	for i, s := range allowed {
		names[i] = string(s)
	}
	return &ConflictError{Msg: fmt.Sprintf("request %s is %s: %s only while it is %v", r.TrackingNumber, r.State, what, names)}
}

const clipCols = `c.id, c.request_id, c.evidence_id, c.in_ms, c.out_ms, c.linked_by, c.linked_at, c.removed_at,
	coalesce(c.removed_by, ''), c.remove_reason, coalesce(v.version, 0), coalesce(v.author, ''), v.created_at, i.sha256`

const clipFrom = ` FROM request_clips c
	JOIN evidence_items i ON i.id = c.evidence_id
	LEFT JOIN LATERAL (SELECT version, author, created_at FROM redaction_spec_versions
		WHERE clip_id = c.id ORDER BY version DESC LIMIT 1) v ON true `

func scanClip(row pgx.Row) (Clip, error) {
	var c Clip
	var sum []byte
	err := row.Scan(&c.ID, &c.RequestID, &c.EvidenceID, &c.InMs, &c.OutMs, &c.LinkedBy, &c.LinkedAt, &c.RemovedAt,
		&c.RemovedBy, &c.RemoveReason, &c.SpecVersion, &c.SpecAuthor, &c.SpecSavedAt, &sum)
	if errors.Is(err, pgx.ErrNoRows) {
		return c, ErrNotFound
	}
	c.SourceSHA256 = hex.EncodeToString(sum)
	return c, err
}

// Clip returns one clip.
func (s *Store) Clip(ctx context.Context, clipID uuid.UUID) (Clip, error) {
	c, err := scanClip(s.db.QueryRow(ctx, `SELECT `+clipCols+clipFrom+`WHERE c.id = $1`, clipID))
	if err != nil {
		return c, fmt.Errorf("clip %s: %w", clipID, err)
	}
	return c, nil
}

// Clips returns a request's clips in the order they were linked, removed
// ones included (they say what was looked at and given back).
func (s *Store) Clips(ctx context.Context, requestID uuid.UUID) ([]Clip, error) {
	rows, err := s.db.Query(ctx, `SELECT `+clipCols+clipFrom+`WHERE c.request_id = $1 ORDER BY c.linked_at, c.id`, requestID)
	if err != nil {
		return nil, fmt.Errorf("clips of %s: %w", requestID, err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (Clip, error) { return scanClip(r) })
	if err != nil {
		return nil, fmt.Errorf("clips of %s: %w", requestID, err)
	}
	return out, nil
}

// ClipInput links footage to a request.
type ClipInput struct {
	EvidenceID uuid.UUID `json:"evidence_id"`
	InMs       int64     `json:"in_ms"`
	OutMs      int64     `json:"out_ms"`
}

// AddClip links part of an evidence item to a request. The link is
// recorded in the item's chain of custody and on the request's timeline in
// one transaction; the caller has checked that who may see the item.
func (s *Store) AddClip(ctx context.Context, requestID uuid.UUID, who Actor, in ClipInput) (Clip, error) {
	p := problems{op: "clip"}
	if in.EvidenceID == uuid.Nil {
		p.add("evidence_id", "required")
	}
	if in.InMs < 0 {
		p.add("in_ms", "must not be negative")
	}
	if in.OutMs <= in.InMs {
		p.add("out_ms", "must be after in_ms (%d <= %d)", in.OutMs, in.InMs)
	}
	if err := p.err(); err != nil {
		return Clip{}, err
	}
	var clipID uuid.UUID
	var number string
	err := pgx.BeginFunc(ctx, s.db, func(tx pgx.Tx) error {
		r, err := lock(ctx, tx, requestID)
		if err != nil {
			return err
		}
		number = r.TrackingNumber
		if !stateIn(r.State, clipStates...) {
			return stateConflict(&r, "footage can be linked", clipStates)
		}
		var durationMs *float64
		err = tx.QueryRow(ctx, `SELECT CASE WHEN jsonb_typeof(metadata #> '{probe,duration}') = 'number'
				THEN (metadata #>> '{probe,duration}')::float8 * 1000 END
			FROM evidence_items WHERE id = $1 AND state NOT IN ('purged', 'purge_scheduled')`, in.EvidenceID).Scan(&durationMs)
		if errors.Is(err, pgx.ErrNoRows) {
			return fmt.Errorf("evidence %s: %w", in.EvidenceID, ErrNotFound)
		}
		if err != nil {
			return err
		}
		if durationMs != nil && *durationMs > 0 && float64(in.OutMs) > *durationMs+1 {
			p.add("out_ms", "beyond the end of the recording (%d ms > %.0f ms)", in.OutMs, *durationMs)
			return p.err()
		}
		now := s.opt.Now()
		if err := tx.QueryRow(ctx, `INSERT INTO request_clips (request_id, evidence_id, in_ms, out_ms, linked_by, linked_at)
			VALUES ($1, $2, $3, $4, $5, $6) RETURNING id`, requestID, in.EvidenceID, in.InMs, in.OutMs, who.Name, now).Scan(&clipID); err != nil {
			return err
		}
		details := map[string]any{"request": r.TrackingNumber, "request_id": requestID.String(), "clip_id": clipID.String(),
			"in_ms": in.InMs, "out_ms": in.OutMs}
		if _, err := custody.Append(ctx, tx, custody.NewEvent{EvidenceID: in.EvidenceID, Actor: who.Name,
			Action: custody.ActionRequestClipLinked, Details: details, Time: now}); err != nil {
			return err
		}
		if err := s.appendEvent(ctx, tx, requestID, who.Name, EventClipLinked, map[string]any{"clip_id": clipID.String(),
			"evidence_id": in.EvidenceID.String(), "in_ms": in.InMs, "out_ms": in.OutMs}); err != nil {
			return err
		}
		if err := s.bump(ctx, tx, requestID); err != nil {
			return err
		}
		details["change"] = "clip_linked"
		return s.audit(ctx, tx, who, AuditChanged, audit.OutcomeSuccess, in.EvidenceID, details)
	})
	if err != nil {
		return Clip{}, fmt.Errorf("request %s: add clip: %w", requestID, err)
	}
	if s.opt.Holds != nil {
		if err := s.opt.Holds.OpenAccessRequest(ctx, in.EvidenceID, number, who.Name); err != nil {
			return Clip{}, fmt.Errorf("clip %s linked, but holding the item for request %s failed: %w", clipID, number, err)
		}
	}
	return s.Clip(ctx, clipID)
}

// lockClip locks the clip's request and returns both; the clip must belong
// to requestID when that is not uuid.Nil.
func lockClip(ctx context.Context, tx pgx.Tx, requestID, clipID uuid.UUID) (Request, Clip, error) {
	var rid uuid.UUID
	if err := tx.QueryRow(ctx, `SELECT request_id FROM request_clips WHERE id = $1`, clipID).Scan(&rid); err != nil {
		if errors.Is(err, pgx.ErrNoRows) {
			err = ErrNotFound
		}
		return Request{}, Clip{}, fmt.Errorf("clip %s: %w", clipID, err)
	}
	if requestID != uuid.Nil && rid != requestID {
		return Request{}, Clip{}, fmt.Errorf("clip %s of request %s: %w", clipID, requestID, ErrNotFound)
	}
	r, err := lock(ctx, tx, rid)
	if err != nil {
		return r, Clip{}, err
	}
	c, err := scanClip(tx.QueryRow(ctx, `SELECT `+clipCols+clipFrom+`WHERE c.id = $1`, clipID))
	if err != nil {
		return r, c, fmt.Errorf("clip %s: %w", clipID, err)
	}
	return r, c, nil
}

// RemoveClip gives a clip back (it stays listed as removed); recorded in
// custody and on the timeline.
func (s *Store) RemoveClip(ctx context.Context, requestID, clipID uuid.UUID, who Actor, reason string) (Clip, error) {
	p := problems{op: "remove clip"}
	p.text("reason", reason, MaxReasonLen, true, true)
	if err := p.err(); err != nil {
		return Clip{}, err
	}
	err := pgx.BeginFunc(ctx, s.db, func(tx pgx.Tx) error {
		r, c, err := lockClip(ctx, tx, requestID, clipID)
		if err != nil {
			return err
		}
		if !stateIn(r.State, clipStates...) {
			return stateConflict(&r, "footage can be removed", clipStates)
		}
		if c.RemovedAt != nil {
			return &ConflictError{Msg: fmt.Sprintf("clip %s was removed already", clipID)}
		}
		now := s.opt.Now()
		if _, err := tx.Exec(ctx, `UPDATE request_clips SET removed_at = $2, removed_by = $3, remove_reason = $4 WHERE id = $1`,
			clipID, now, who.Name, reason); err != nil {
			return err
		}
		details := map[string]any{"request": r.TrackingNumber, "request_id": r.ID.String(), "clip_id": clipID.String(), "reason": reason}
		if _, err := custody.Append(ctx, tx, custody.NewEvent{EvidenceID: c.EvidenceID, Actor: who.Name,
			Action: custody.ActionRequestClipRemoved, Details: details, Time: now}); err != nil {
			return err
		}
		if err := s.appendEvent(ctx, tx, r.ID, who.Name, EventClipRemoved, map[string]any{"clip_id": clipID.String(),
			"evidence_id": c.EvidenceID.String(), "reason": reason}); err != nil {
			return err
		}
		if err := s.bump(ctx, tx, r.ID); err != nil {
			return err
		}
		details["change"] = "clip_removed"
		return s.audit(ctx, tx, who, AuditChanged, audit.OutcomeSuccess, c.EvidenceID, details)
	})
	if err != nil {
		return Clip{}, fmt.Errorf("remove clip %s: %w", clipID, err)
	}
	return s.Clip(ctx, clipID)
}

// SpecVersion is one saved redaction spec of a clip.
type SpecVersion struct {
	ClipID      uuid.UUID       `json:"clip_id"`
	Version     int             `json:"version"`
	BaseVersion int             `json:"base_version"`
	SHA256      string          `json:"sha256"`
	Origin      string          `json:"origin"`
	Author      string          `json:"author"`
	CreatedAt   time.Time       `json:"created_at"`
	Spec        json.RawMessage `json:"spec,omitempty"`
}

// Spec origins.
const (
	OriginEditor   = "editor"
	OriginDetect   = "detect"
	OriginAPI      = "api"
	OriginTracking = "tracking"
)

// MaxSpecBytes bounds a spec document (package redact's MaxSpecSize).
const MaxSpecBytes = 16 << 20

// StaleSpecError is a save based on a version that is no longer the
// latest: someone else saved in between. It wraps ErrConflict (409).
type StaleSpecError struct {
	Base, Current int
	Author        string
	At            time.Time
}

func (e *StaleSpecError) Error() string {
	who := e.Author
	if _, name, ok := cutActor(who); ok {
		who = name
	}
	return fmt.Sprintf("the spec was edited by %s at %s (version %d); your edit is based on version %d. Reload to see their changes, then save again",
		who, e.At.UTC().Format(time.RFC3339), e.Current, e.Base)
}

// Unwrap gives the error's kind.
func (e *StaleSpecError) Unwrap() error { return ErrConflict }

func cutActor(a string) (kind, name string, ok bool) {
	for i := 0; i < len(a); i++ {
		if a[i] == ':' {
			return a[:i], a[i+1:], true
		}
	}
	return "", a, false
}

// specReasons is the part of a redaction spec this package checks: every
// region, audio range and full-frame blur names its exemption code as its
// reason.
type specReasons struct {
	Regions []struct {
		Reason string `json:"reason"`
	} `json:"regions"`
	Audio []struct {
		Reason string `json:"reason"`
	} `json:"audio"`
	FullFrameBlur []struct {
		Reason string `json:"reason"`
	} `json:"full_frame_blur"`
}

// CheckSpecExemptions reports every reason in spec that is not a
// configured exemption code, by field ("regions[2].reason").
func (s *Store) CheckSpecExemptions(spec []byte) error {
	var sr specReasons
	p := problems{op: "redaction spec"}
	if err := json.Unmarshal(spec, &sr); err != nil {
		p.add("spec", "not a redaction spec: %v", err)
		return p.err()
	}
	check := func(field string, i int, code string) {
		if !s.settings.Exemptions.Known(code) {
			if code == "" {
				p.add(fmt.Sprintf("%s[%d].reason", field, i), "an exemption code is required")
			} else {
				p.add(fmt.Sprintf("%s[%d].reason", field, i), "unknown exemption code %q", truncate(code, 60))
			}
		}
	}
	for i, r := range sr.Regions {
		check("regions", i, r.Reason)
	}
	for i, r := range sr.Audio {
		check("audio", i, r.Reason)
	}
	for i, r := range sr.FullFrameBlur {
		check("full_frame_blur", i, r.Reason)
	}
	return p.err()
}

// SaveSpec saves a new spec version of a clip. base is the version the
// edit started from (0 for the first); if another version was saved since,
// nothing is written and a *StaleSpecError says by whom and when.
func (s *Store) SaveSpec(ctx context.Context, clipID uuid.UUID, who Actor, base int, spec []byte, origin string) (SpecVersion, error) {
	p := problems{op: "save spec"}
	switch {
	case len(spec) > MaxSpecBytes:
		p.add("spec", "%d bytes, limit %d", len(spec), MaxSpecBytes)
		p.tooLarge = true
	case !json.Valid(spec) || !bytes.HasPrefix(bytes.TrimSpace(spec), []byte("{")):
		p.add("spec", "must be a JSON object")
	}
	if base < 0 {
		p.add("base_version", "must not be negative")
	}
	switch origin {
	case OriginEditor, OriginDetect, OriginAPI, OriginTracking:
	default:
		p.add("origin", "want editor, detect, api or tracking; got %q", origin)
	}
	if err := p.err(); err != nil {
		return SpecVersion{}, err
	}
	if err := s.CheckSpecExemptions(spec); err != nil {
		return SpecVersion{}, err
	}
	clip, err := s.Clip(ctx, clipID)
	if err != nil {
		return SpecVersion{}, err
	}
	if err := s.checkSpec(ctx, spec, &clip); err != nil {
		return SpecVersion{}, err
	}
	sum := sha256.Sum256(spec)
	var out SpecVersion
	err = pgx.BeginFunc(ctx, s.db, func(tx pgx.Tx) error {
		r, c, err := lockClip(ctx, tx, uuid.Nil, clipID)
		if err != nil {
			return err
		}
		if c.RemovedAt != nil {
			return &ConflictError{Msg: fmt.Sprintf("clip %s was removed from the request", clipID)}
		}
		if !stateIn(r.State, specStates...) {
			return stateConflict(&r, "redaction specs can be saved", specStates)
		}
		if c.SpecVersion != base {
			return &StaleSpecError{Base: base, Current: c.SpecVersion, Author: c.SpecAuthor, At: *c.SpecSavedAt}
		}
		now := s.opt.Now()
		out = SpecVersion{ClipID: clipID, Version: base + 1, BaseVersion: base, SHA256: hex.EncodeToString(sum[:]),
			Origin: origin, Author: who.Name, CreatedAt: now}
		if _, err := tx.Exec(ctx, `INSERT INTO redaction_spec_versions (clip_id, version, base_version, spec, spec_sha256, origin, author, created_at)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8)`, clipID, out.Version, base, string(spec), sum[:], origin, who.Name, now); err != nil {
			return err
		}
		details := map[string]any{"request": r.TrackingNumber, "request_id": r.ID.String(), "clip_id": clipID.String(),
			"spec_version": out.Version, "spec_sha256": out.SHA256, "origin": origin}
		if _, err := custody.Append(ctx, tx, custody.NewEvent{EvidenceID: c.EvidenceID, Actor: who.Name,
			Action: custody.ActionRedactionCreated, Details: details, Time: now}); err != nil {
			return err
		}
		if err := s.appendEvent(ctx, tx, r.ID, who.Name, EventSpecSaved, map[string]any{"clip_id": clipID.String(),
			"version": out.Version, "origin": origin, "sha256": out.SHA256}); err != nil {
			return err
		}
		if err := s.bump(ctx, tx, r.ID); err != nil {
			return err
		}
		details["change"] = "spec_saved"
		return s.audit(ctx, tx, who, AuditChanged, audit.OutcomeSuccess, c.EvidenceID, details)
	})
	if err != nil {
		return SpecVersion{}, fmt.Errorf("save spec of clip %s: %w", clipID, err)
	}
	out.Spec = json.RawMessage(spec)
	return out, nil
}

// Spec returns one spec version of a clip with its document; version 0
// means the latest.
func (s *Store) Spec(ctx context.Context, clipID uuid.UUID, version int) (SpecVersion, error) {
	sql := `SELECT clip_id, version, base_version, spec_sha256, origin, author, created_at, spec FROM redaction_spec_versions WHERE clip_id = $1 `
	args := []any{clipID}
	if version > 0 {
		sql += `AND version = $2`
		args = append(args, version)
	} else {
		sql += `ORDER BY version DESC LIMIT 1`
	}
	var v SpecVersion
	var sum []byte
	var spec string
	err := s.db.QueryRow(ctx, sql, args...).Scan(&v.ClipID, &v.Version, &v.BaseVersion, &sum, &v.Origin, &v.Author, &v.CreatedAt, &spec)
	if errors.Is(err, pgx.ErrNoRows) {
		return v, fmt.Errorf("spec %d of clip %s: %w", version, clipID, ErrNotFound)
	}
	if err != nil {
		return v, fmt.Errorf("spec %d of clip %s: %w", version, clipID, err)
	}
	v.SHA256 = hex.EncodeToString(sum)
	v.Spec = json.RawMessage(spec)
	return v, nil
}

// SpecVersions lists a clip's versions, newest first, without documents.
func (s *Store) SpecVersions(ctx context.Context, clipID uuid.UUID) ([]SpecVersion, error) {
	rows, err := s.db.Query(ctx, `SELECT clip_id, version, base_version, spec_sha256, origin, author, created_at
		FROM redaction_spec_versions WHERE clip_id = $1 ORDER BY version DESC`, clipID)
	if err != nil {
		return nil, fmt.Errorf("spec versions of %s: %w", clipID, err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (SpecVersion, error) {
		var v SpecVersion
		var sum []byte
		err := r.Scan(&v.ClipID, &v.Version, &v.BaseVersion, &sum, &v.Origin, &v.Author, &v.CreatedAt)
		v.SHA256 = hex.EncodeToString(sum)
		return v, err
	})
	if err != nil {
		return nil, fmt.Errorf("spec versions of %s: %w", clipID, err)
	}
	return out, nil
}
