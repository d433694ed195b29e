package retention

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/opendems/opendems/evidence"
	"github.com/opendems/opendems/evidence/custody"
	"github.com/opendems/opendems/policy"
	"github.com/opendems/opendems/storage"
)

// ScheduledPurge is one row of the purge schedule.
type ScheduledPurge struct {
	ID          uuid.UUID  `json:"id"`
	EvidenceID  uuid.UUID  `json:"evidence_id"`
	State       string     `json:"state"`
	SHA256      string     `json:"sha256"`
	Size        int64      `json:"size"`
	Categories  []string   `json:"categories"`
	Unit        string     `json:"unit"`
	RecordedAt  *time.Time `json:"recorded_at"`
	RetainUntil *time.Time `json:"retain_until"`
	Rule        string     `json:"rule"`
	RuleSource  string     `json:"rule_source,omitempty"`
	Reason      string     `json:"reason"`
	ScheduledBy string     `json:"scheduled_by"`
	ScheduledAt time.Time  `json:"scheduled_at"`
	DueAt       time.Time  `json:"due_at"`
	ClosedBy    *string    `json:"closed_by,omitempty"`
	ClosedAt    *time.Time `json:"closed_at,omitempty"`
	CloseReason string     `json:"close_reason,omitempty"`
}

// decide reads everything a purge decision depends on (r is locked) and
// asks the purge policy. It never looks at the schedule.
func (s *Service) decide(ctx context.Context, tx pgx.Tx, r *itemRow) (policy.PurgeDecision, facts, error) {
	f, err := loadFacts(ctx, tx, r.ID)
	if err != nil {
		return policy.PurgeDecision{}, f, err
	}
	d, err := s.cfg.Purge.Decide(policy.PurgeInput{ItemID: r.ID.String(), Item: retentionInput(r, f), Now: s.now(),
		ItemLegalHold: f.ItemHolds > 0, CaseHolds: f.CaseHolds})
	if err != nil {
		return d, f, scheduleError(err)
	}
	return d, f, nil
}

// DecidePurge answers whether the item may be destroyed now, with the
// deciding rule, without changing anything.
func (s *Service) DecidePurge(ctx context.Context, id uuid.UUID) (policy.PurgeDecision, error) {
	var d policy.PurgeDecision
	err := pgx.BeginFunc(ctx, s.cfg.Pool, func(tx pgx.Tx) error {
		r, err := lockItem(ctx, tx, id)
		if err != nil {
			return err
		}
		if r.State == "purged" {
			return ErrPurged
		}
		d, _, err = s.decide(ctx, tx, r)
		return err
	})
	if err != nil {
		return d, fmt.Errorf("retention: decide purge of %s: %w", id, err)
	}
	return d, nil
}

// schedule inserts a purge schedule row for r if the policy allows it.
func (s *Service) schedule(ctx context.Context, tx pgx.Tx, r *itemRow, actor, reason string) (ScheduledPurge, policy.PurgeDecision, error) {
	d, _, err := s.decide(ctx, tx, r)
	if err != nil {
		return ScheduledPurge{}, d, err
	}
	if !d.Allowed {
		return ScheduledPurge{}, d, &RefusedError{EvidenceID: r.ID, Decision: d}
	}
	now := s.now()
	due := now.Add(s.cfg.PurgeGrace)
	var until *time.Time
	if !d.Indefinite {
		until = &d.RetainUntil
	}
	if reason == "" {
		reason = d.Reason
	}
	var p ScheduledPurge
	err = tx.QueryRow(ctx, `INSERT INTO purge_schedule (evidence_id, prior_state, retain_until, rule, rule_source, reason,
			scheduled_by, scheduled_at, due_at)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) RETURNING id`, r.ID, r.State, until, d.Rule, d.Source, reason, actor, now, due).Scan(&p.ID)
	if err != nil {
		return p, d, fmt.Errorf("store purge schedule: %w", err)
	}
	if _, err := tx.Exec(ctx, `UPDATE evidence_items SET state = 'purge_scheduled', updated_at = now() WHERE id = $1`, r.ID); err != nil {
		return p, d, fmt.Errorf("mark purge scheduled: %w", err)
	}
	if _, err := custody.Append(ctx, tx, custody.NewEvent{EvidenceID: r.ID, Actor: actor, Action: custody.ActionPurgeScheduled,
		Details: map[string]any{"schedule_id": p.ID.String(), "due_at": due.Format(time.RFC3339Nano), "rule": d.Rule,
			"rule_source": d.Source, "reason": reason, "retention": d.RetentionExplanation}}); err != nil {
		return p, d, err
	}
	p.EvidenceID, p.State, p.RetainUntil, p.Rule, p.RuleSource, p.Reason = r.ID, "scheduled", until, d.Rule, d.Source, reason
	p.ScheduledBy, p.ScheduledAt, p.DueAt = actor, now, due
	p.SHA256, p.Size, p.Categories, p.Unit, p.RecordedAt = hex.EncodeToString(r.SHA256), r.Size, r.Categories, r.UnitPath, r.RecordedAt
	return p, d, nil
}

// SchedulePurge schedules one item's destruction by hand (the sweep does
// it daily for every item whose retention ended). The purge policy decides
// first: an item under hold or not yet expired is refused with a
// *RefusedError. evidence.ErrConflict if a purge is already scheduled.
func (s *Service) SchedulePurge(ctx context.Context, id uuid.UUID, actor, reason string) (ScheduledPurge, error) {
	var p ScheduledPurge
	err := pgx.BeginFunc(ctx, s.cfg.Pool, func(tx pgx.Tx) error {
		r, err := lockItem(ctx, tx, id)
		if err != nil {
			return err
		}
		switch r.State {
		case "purged":
			return ErrPurged
		case "purge_scheduled":
			return fmt.Errorf("a purge is already scheduled: %w", evidence.ErrConflict)
		}
		p, _, err = s.schedule(ctx, tx, r, actor, reason)
		return err
	})
	if err != nil {
		return p, fmt.Errorf("retention: schedule purge of %s: %w", id, err)
	}
	return p, nil
}

// CancelPurge cancels the item's scheduled purge during its grace period.
// The sweep will not schedule the item again for the same retain-until;
// a retention change or SchedulePurge can. evidence.ErrConflict if none is
// scheduled.
func (s *Service) CancelPurge(ctx context.Context, id uuid.UUID, actor, reason string) error {
	if len(reason) > 2000 {
		return fmt.Errorf("retention: cancel purge of %s: %w: reason is longer than 2000 bytes", id, evidence.ErrInvalid)
	}
	err := pgx.BeginFunc(ctx, s.cfg.Pool, func(tx pgx.Tx) error {
		r, err := lockItem(ctx, tx, id)
		if err != nil {
			return err
		}
		if r.State == "purged" {
			return ErrPurged
		}
		var schedID, prior string
		err = tx.QueryRow(ctx, `SELECT id::text, prior_state FROM purge_schedule WHERE evidence_id = $1 AND state = 'scheduled' FOR UPDATE`,
			id).Scan(&schedID, &prior)
		if errors.Is(err, pgx.ErrNoRows) {
			return fmt.Errorf("no purge is scheduled: %w", evidence.ErrConflict)
		}
		if err != nil {
			return err
		}
		if reason == "" {
			reason = "cancelled by " + actor
		}
		return s.closeSchedule(ctx, tx, r, schedID, prior, "cancelled", actor, reason, false)
	})
	if err != nil {
		return fmt.Errorf("retention: cancel purge of %s: %w", id, err)
	}
	return nil
}

// UpcomingPurges lists scheduled purges due before the given time (zero:
// all), soonest first, at most limit (default 100, at most 1000).
func (s *Service) UpcomingPurges(ctx context.Context, before time.Time, limit int) ([]ScheduledPurge, error) {
	if limit <= 0 {
		limit = 100
	}
	if limit > 1000 {
		limit = 1000
	}
	var b any
	if !before.IsZero() {
		b = before
	}
	rows, err := s.cfg.Pool.Query(ctx, `
		SELECT p.id, p.evidence_id, p.state, i.sha256, i.size, i.categories, u.path, i.recorded_at, p.retain_until, p.rule,
		       p.rule_source, p.reason, p.scheduled_by, p.scheduled_at, p.due_at, p.closed_by, p.closed_at, p.close_reason
		FROM purge_schedule p JOIN evidence_items i ON i.id = p.evidence_id JOIN units u ON u.id = i.unit_id
		WHERE p.state = 'scheduled' AND ($1::timestamptz IS NULL OR p.due_at < $1)
		ORDER BY p.due_at, p.id LIMIT $2`, b, limit)
	if err != nil {
		return nil, fmt.Errorf("retention: upcoming purges: %w", err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (ScheduledPurge, error) {
		var p ScheduledPurge
		var sum []byte
		err := r.Scan(&p.ID, &p.EvidenceID, &p.State, &sum, &p.Size, &p.Categories, &p.Unit, &p.RecordedAt, &p.RetainUntil, &p.Rule,
			&p.RuleSource, &p.Reason, &p.ScheduledBy, &p.ScheduledAt, &p.DueAt, &p.ClosedBy, &p.ClosedAt, &p.CloseReason)
		p.SHA256 = hex.EncodeToString(sum)
		return p, err
	})
	if err != nil {
		return nil, fmt.Errorf("retention: upcoming purges: %w", err)
	}
	if out == nil {
		out = []ScheduledPurge{}
	}
	return out, nil
}

// DestroyedObject is one stored object in a certificate of destruction.
type DestroyedObject struct {
	Namespace string `json:"namespace"`
	Kind      string `json:"kind"` // original, or the derivative's kind
	SHA256    string `json:"sha256"`
	Size      int64  `json:"size"`
	// Result: "deleted"; "absent" (already gone, e.g. a retry after a
	// crash between deletion and commit); "kept-shared" (another live item
	// has the same bytes).
	Result string `json:"result"`
	// Verified: the bytes were read back and hashed to SHA256 (with Size
	// bytes) right before deletion.
	Verified bool `json:"verified"`
}

// Certificate is the certificate of destruction written as the item's
// final custody event (action purged, details {"certificate": …}).
type Certificate struct {
	Version              int               `json:"version"`
	EvidenceID           uuid.UUID         `json:"evidence_id"`
	SHA256               string            `json:"sha256"`
	Size                 int64             `json:"size"`
	Categories           []string          `json:"categories"`
	Flags                []string          `json:"flags"`
	RecordedAt           *time.Time        `json:"recorded_at"`
	IngestedAt           time.Time         `json:"ingested_at"`
	RetainUntil          time.Time         `json:"retain_until"`
	PurgedAt             time.Time         `json:"purged_at"`
	Rule                 string            `json:"rule"`
	RuleSource           string            `json:"rule_source,omitempty"`
	Reason               string            `json:"reason"`
	RetentionExplanation string            `json:"retention_explanation"`
	Facts                []string          `json:"facts"`
	ScheduleID           uuid.UUID         `json:"schedule_id"`
	ScheduledBy          string            `json:"scheduled_by"`
	ScheduledAt          time.Time         `json:"scheduled_at"`
	PurgedBy             string            `json:"purged_by"`
	Objects              []DestroyedObject `json:"objects"`
}

// PurgeDue carries out every scheduled purge whose grace period is over.
// Each item is decided again by the purge policy right before deletion,
// from its current categories, requests and holds; a refusal blocks the
// schedule and restores the item. An original whose storage lock is longer
// than its (shortened) retention is postponed to the storage date. It
// returns how many items were destroyed; errors of single items are joined
// and the others still run.
func (s *Service) PurgeDue(ctx context.Context) (int, error) {
	rows, err := s.cfg.Pool.Query(ctx, `SELECT id FROM purge_schedule WHERE state = 'scheduled' AND due_at <= $1 ORDER BY due_at, id`, s.now())
	if err != nil {
		return 0, fmt.Errorf("retention: purge due: %w", err)
	}
	ids, err := pgx.CollectRows(rows, pgx.RowTo[uuid.UUID])
	if err != nil {
		return 0, fmt.Errorf("retention: purge due: %w", err)
	}
	purged := 0
	var errs []error
	for _, id := range ids {
		if err := ctx.Err(); err != nil {
			errs = append(errs, err)
			break
		}
		ok, err := s.purgeOne(ctx, id)
		if err != nil {
			s.cfg.Logger.ErrorContext(ctx, "retention: purge failed", "schedule_id", id, "err", err)
			errs = append(errs, err)
		}
		if ok {
			purged++
		}
	}
	return purged, errors.Join(errs...)
}

// purgeOne carries out one schedule row; true when the item was destroyed.
func (s *Service) purgeOne(ctx context.Context, schedID uuid.UUID) (bool, error) {
	done := false
	err := pgx.BeginFunc(ctx, s.cfg.Pool, func(tx pgx.Tx) error {
		var itemID uuid.UUID
		if err := tx.QueryRow(ctx, `SELECT evidence_id FROM purge_schedule WHERE id = $1`, schedID).Scan(&itemID); err != nil {
			return notFound(err)
		}
		// Lock order: item, then schedule row (as every change does).
		r, err := lockItem(ctx, tx, itemID)
		if err != nil {
			return err
		}
		var sp ScheduledPurge
		var prior string
		err = tx.QueryRow(ctx, `SELECT id, state, prior_state, scheduled_by, scheduled_at, due_at FROM purge_schedule WHERE id = $1 FOR UPDATE`,
			schedID).Scan(&sp.ID, &sp.State, &prior, &sp.ScheduledBy, &sp.ScheduledAt, &sp.DueAt)
		if err != nil {
			return notFound(err)
		}
		now := s.now()
		if sp.State != "scheduled" || sp.DueAt.After(now) || r.State == "purged" {
			return nil // cancelled, blocked or postponed meanwhile
		}
		d, _, err := s.decide(ctx, tx, r)
		if err != nil {
			return err
		}
		if !d.Allowed {
			return s.closeSchedule(ctx, tx, r, schedID.String(), prior, "blocked", PurgeActor,
				"refused at purge time: "+d.Reason+" (rule "+d.Rule+")", true)
		}
		orig := r.original()
		obj, err := s.cfg.Storage.Stat(ctx, orig)
		switch {
		case errors.Is(err, storage.ErrNotFound):
			obj = storage.Object{}
		case err != nil:
			return fmt.Errorf("stat original: %w", err)
		case obj.LegalHold:
			return fmt.Errorf("original of %s is under a storage legal hold the database does not know of; not purged: %w", r.ID, evidence.ErrConflict)
		case obj.RetainUntil.After(now):
			// Storage locks never shorten: wait for the longer lock.
			_, err := tx.Exec(ctx, `UPDATE purge_schedule SET due_at = $2, close_reason = $3 WHERE id = $1`, schedID, obj.RetainUntil,
				"postponed: the original is locked in storage until "+obj.RetainUntil.UTC().Format(time.RFC3339))
			return err
		}
		cert := Certificate{Version: 1, EvidenceID: r.ID, SHA256: hex.EncodeToString(r.SHA256), Size: r.Size, Categories: r.Categories,
			Flags: r.Flags, RecordedAt: r.RecordedAt, IngestedAt: r.IngestedAt, RetainUntil: d.RetainUntil, PurgedAt: now,
			Rule: d.Rule, RuleSource: d.Source, Reason: d.Reason, RetentionExplanation: d.RetentionExplanation, Facts: d.Facts,
			ScheduleID: schedID, ScheduledBy: sp.ScheduledBy, ScheduledAt: sp.ScheduledAt, PurgedBy: PurgeActor}
		o := DestroyedObject{Namespace: string(storage.Originals), Kind: "original", SHA256: cert.SHA256, Size: r.Size, Result: "absent"}
		if !obj.Ref.Digest.IsZero() {
			if err := s.verify(ctx, orig, r.Size); err != nil {
				return err
			}
			if err := s.cfg.Storage.Delete(ctx, orig); err != nil && !errors.Is(err, storage.ErrNotFound) {
				return fmt.Errorf("delete original: %w", err)
			}
			o.Result, o.Verified, o.Size = "deleted", true, obj.Size
		}
		cert.Objects = append(cert.Objects, o)
		if _, err := tx.Exec(ctx, `UPDATE objects SET deleted_at = $2 WHERE namespace = 'originals' AND sha256 = $1`, r.SHA256, now); err != nil {
			return err
		}
		ders, err := s.destroyDerivatives(ctx, tx, r, now)
		if err != nil {
			return err
		}
		cert.Objects = append(cert.Objects, ders...)
		if _, err := tx.Exec(ctx, `UPDATE evidence_items SET state = 'purged', purged_at = $2, legal_hold = false, updated_at = now() WHERE id = $1`,
			r.ID, now); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `UPDATE purge_schedule SET state = 'purged', closed_by = $2, closed_at = $3, certificate = $4 WHERE id = $1`,
			schedID, PurgeActor, now, cert); err != nil {
			return err
		}
		if _, err := custody.Append(ctx, tx, custody.NewEvent{EvidenceID: r.ID, Actor: PurgeActor, Action: custody.ActionPurged,
			Details: map[string]any{"certificate": cert}}); err != nil {
			return err
		}
		done = true
		return nil
	})
	if err != nil {
		return false, fmt.Errorf("retention: purge %s: %w", schedID, err)
	}
	return done, nil
}

// verify re-reads an original and checks it against its digest and size,
// so the certificate states what was really destroyed.
func (s *Service) verify(ctx context.Context, ref storage.Ref, size int64) error {
	rc, err := s.cfg.Storage.Open(ctx, ref, 0, -1)
	if err != nil {
		return fmt.Errorf("read original for verification: %w", err)
	}
	defer rc.Close()
	if _, err := io.Copy(io.Discard, storage.NewHashingReader(rc, ref.Digest, size)); err != nil {
		if errors.Is(err, storage.ErrDigestMismatch) || errors.Is(err, storage.ErrSizeMismatch) {
			return fmt.Errorf("%w: %v", ErrIntegrity, err)
		}
		return fmt.Errorf("verify original: %w", err)
	}
	return nil
}

// destroyDerivatives deletes r's derivatives, except bytes another live
// item also uses (derivatives are content-addressed, so two items' black
// posters are one object).
func (s *Service) destroyDerivatives(ctx context.Context, tx pgx.Tx, r *itemRow, now time.Time) ([]DestroyedObject, error) {
	rows, err := tx.Query(ctx, `
		SELECT d.kind, d.sha256, d.size, EXISTS (
			SELECT 1 FROM evidence_derivatives o JOIN evidence_items oi ON oi.id = o.evidence_id
			WHERE o.sha256 = d.sha256 AND o.evidence_id <> d.evidence_id AND oi.state <> 'purged')
		FROM evidence_derivatives d WHERE d.evidence_id = $1 ORDER BY d.created_at, d.id`, r.ID)
	if err != nil {
		return nil, fmt.Errorf("derivatives: %w", err)
	}
	type der struct {
		kind   string
		sum    []byte
		size   int64
		shared bool
	}
	ds, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (der, error) {
		var d der
		err := row.Scan(&d.kind, &d.sum, &d.size, &d.shared)
		return d, err
	})
	if err != nil {
		return nil, fmt.Errorf("derivatives: %w", err)
	}
	out := []DestroyedObject{}
	seen := map[string]bool{}
	for _, d := range ds {
		o := DestroyedObject{Namespace: string(storage.Derivatives), Kind: d.kind, SHA256: hex.EncodeToString(d.sum), Size: d.size}
		if seen[o.SHA256] {
			continue
		}
		seen[o.SHA256] = true
		var dg storage.Digest
		copy(dg[:], d.sum)
		ref := storage.Ref{Namespace: storage.Derivatives, Digest: dg}
		switch {
		case d.shared:
			o.Result = "kept-shared"
		default:
			err := s.cfg.Storage.Delete(ctx, ref)
			switch {
			case errors.Is(err, storage.ErrNotFound):
				o.Result = "absent"
			case err != nil:
				return nil, fmt.Errorf("delete derivative %s %s: %w", d.kind, o.SHA256, err)
			default:
				o.Result = "deleted"
				if _, err := tx.Exec(ctx, `UPDATE objects SET deleted_at = $2 WHERE namespace = 'derivatives' AND sha256 = $1`, d.sum, now); err != nil {
					return nil, err
				}
			}
		}
		out = append(out, o)
	}
	return out, nil
}
