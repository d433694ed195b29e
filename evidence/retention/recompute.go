package retention

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/opendems/opendems/evidence"
	"github.com/opendems/opendems/evidence/custody"
	"github.com/opendems/opendems/policy"
	"github.com/opendems/opendems/storage"
)

// retentionValue is how a retain-until appears in custody details.
func retentionValue(until *time.Time, indefinite, computed bool) map[string]any {
	switch {
	case !computed:
		return map[string]any{"computed": false}
	case indefinite:
		return map[string]any{"indefinite": true}
	default:
		return map[string]any{"retain_until": until.UTC().Format(time.RFC3339Nano)}
	}
}

func sameTime(a, b *time.Time) bool {
	if a == nil || b == nil {
		return a == nil && b == nil
	}
	return a.Equal(*b)
}

// storedObject is the objects row of an original: the lock as last set.
type storedObject struct {
	RetainUntil *time.Time
	LegalHold   bool
}

func readObject(ctx context.Context, tx pgx.Tx, r *itemRow) (storedObject, error) {
	var o storedObject
	err := tx.QueryRow(ctx, `SELECT retain_until, legal_hold FROM objects WHERE namespace = 'originals' AND sha256 = $1`,
		r.SHA256).Scan(&o.RetainUntil, &o.LegalHold)
	if errors.Is(err, pgx.ErrNoRows) {
		return o, nil
	}
	if err != nil {
		return o, fmt.Errorf("object of %s: %w", r.ID, err)
	}
	return o, nil
}

// scheduleError turns policy input errors into evidence.ErrInvalid, so an unknown
// category answers 400 and not 500.
func scheduleError(err error) error {
	if errors.Is(err, policy.ErrUnknownCategory) || errors.Is(err, policy.ErrInvalidRetentionInput) {
		return fmt.Errorf("%w: %w", evidence.ErrInvalid, err)
	}
	return err
}

// apply recomputes r's retention and holds inside tx (r is locked),
// stores them, records custody, makes storage at least as protective, and
// queues releasing storage operations on post (nil: leave them to the
// sweep). An active purge schedule that no longer holds is blocked.
func (s *Service) apply(ctx context.Context, tx pgx.Tx, r *itemRow, actor, cause string, post *after) (Status, error) {
	now := s.now()
	f, err := loadFacts(ctx, tx, r.ID)
	if err != nil {
		return Status{}, err
	}
	until, indef, why, err := s.cfg.Schedule.RetainUntil(retentionInput(r, f))
	if err != nil {
		return Status{}, scheduleError(err)
	}
	var untilPtr *time.Time
	if !indef {
		untilPtr = &until
	}
	held := f.held()
	// retention_computed_at is never before the row's updated_at (now()),
	// even if this host's clock lags the database's, so the sweep does not
	// mistake the row for one changed behind retention's back.
	changed := r.ComputedAt == nil || r.Indefinite != indef || !sameTime(r.RetainUntil, untilPtr)
	if _, err := tx.Exec(ctx, `UPDATE evidence_items SET retain_until = $2, retention_indefinite = $3,
		retention_explanation = $4, retention_computed_at = GREATEST($5::timestamptz, now()), retention_version = $6, legal_hold = $7, updated_at = now()
		WHERE id = $1`, r.ID, untilPtr, indef, why, now, s.cfg.ScheduleVersion, held); err != nil {
		return Status{}, fmt.Errorf("store retention of %s: %w", r.ID, err)
	}
	if changed {
		if _, err := custody.Append(ctx, tx, custody.NewEvent{EvidenceID: r.ID, Actor: actor, Action: custody.ActionRetentionChanged,
			Details: map[string]any{
				"old":         retentionValue(r.RetainUntil, r.Indefinite, r.ComputedAt != nil),
				"new":         retentionValue(untilPtr, indef, true),
				"explanation": why,
				"cause":       cause,
			}}); err != nil {
			return Status{}, err
		}
	}

	obj, err := readObject(ctx, tx, r)
	if err != nil {
		return Status{}, err
	}
	// The storage lock: the deadline itself, or a rolling lock while the
	// item is kept indefinitely (renewed at half-time). A deadline already
	// past needs no lock (and S3 refuses one).
	lockUntil := until
	if indef {
		lockUntil = now.Add(s.cfg.IndefiniteLock)
		if obj.RetainUntil != nil && obj.RetainUntil.After(now.Add(s.cfg.IndefiniteLock/2)) {
			lockUntil = time.Time{}
		}
	}
	ref := r.original()
	// An original missing from storage (a fixity failure, reported by the
	// fixity job) has nothing to lock; the decision in the database still
	// stands, so a hold on it must not fail.
	missing := func(err error) bool {
		if errors.Is(err, storage.ErrNotFound) {
			s.cfg.Logger.WarnContext(ctx, "retention: original missing from storage; nothing to lock", "evidence_id", r.ID, "ref", ref.String())
			return true
		}
		return false
	}
	if lockUntil.After(now) && (obj.RetainUntil == nil || lockUntil.After(*obj.RetainUntil)) {
		err := s.cfg.Storage.ExtendRetention(ctx, ref, lockUntil)
		switch {
		case missing(err):
			lockUntil = time.Time{}
		case errors.Is(err, storage.ErrRetentionShortened):
			// Storage already holds a longer lock that the objects row
			// does not know of (e.g. set by another path); keep it.
			if o, serr := s.cfg.Storage.Stat(ctx, ref); serr == nil && !o.RetainUntil.IsZero() {
				lockUntil = o.RetainUntil
			}
		case err != nil:
			return Status{}, fmt.Errorf("lock original of %s until %s: %w", r.ID, lockUntil.Format(time.RFC3339), err)
		}
		if !lockUntil.IsZero() {
			if _, err := tx.Exec(ctx, `UPDATE objects SET retain_until = GREATEST(retain_until, $2)
				WHERE namespace = 'originals' AND sha256 = $1`, r.SHA256, lockUntil); err != nil {
				return Status{}, fmt.Errorf("record lock of %s: %w", r.ID, err)
			}
			obj.RetainUntil = &lockUntil
		}
	}
	if held && (!obj.LegalHold || !r.LegalHold) {
		if err := s.cfg.Storage.SetLegalHold(ctx, ref, true); err != nil && !missing(err) {
			return Status{}, fmt.Errorf("legal hold on original of %s: %w", r.ID, err)
		} else if err == nil {
			if _, err := tx.Exec(ctx, `UPDATE objects SET legal_hold = true WHERE namespace = 'originals' AND sha256 = $1`, r.SHA256); err != nil {
				return Status{}, fmt.Errorf("record legal hold of %s: %w", r.ID, err)
			}
		}
	}
	if !held && (obj.LegalHold || r.LegalHold) && post != nil {
		id, sum := r.ID, r.SHA256
		*post = append(*post, func(ctx context.Context) { s.releaseStorageHold(ctx, id, ref, sum) })
	}

	// A scheduled purge that no longer holds is blocked at once, so the
	// report of upcoming purges never lists an item that is now kept.
	var schedID string
	var prior string
	err = tx.QueryRow(ctx, `SELECT id::text, prior_state FROM purge_schedule WHERE evidence_id = $1 AND state = 'scheduled' FOR UPDATE`,
		r.ID).Scan(&schedID, &prior)
	if err != nil && !errors.Is(err, pgx.ErrNoRows) {
		return Status{}, fmt.Errorf("purge schedule of %s: %w", r.ID, err)
	}
	if err == nil && (held || indef || now.Before(until) || f.OpenAccess > 0) {
		reason := "retention changed (" + cause + "): " + why
		if held {
			reason = "legal hold applies (" + cause + ")"
		}
		if err := s.closeSchedule(ctx, tx, r, schedID, prior, "blocked", actor, reason, true); err != nil {
			return Status{}, err
		}
	}

	st := Status{EvidenceID: r.ID, State: r.State, Categories: r.Categories, Flags: r.Flags, RetainUntil: untilPtr,
		Indefinite: indef, Explanation: why, LegalHold: held, StorageRetainUntil: obj.RetainUntil,
		ItemHolds: f.ItemHolds, CaseHolds: f.CaseHolds, SubjectRequests: len(f.SubjectRequests), OpenAccessRequests: f.OpenAccess}
	if st.CaseHolds == nil {
		st.CaseHolds = []string{}
	}
	return st, nil
}

// releaseStorageHold clears the storage legal hold of an original after
// the release committed, in a second transaction that holds the item's
// row lock: every hold is set under that lock, so a hold placed meanwhile
// is either seen here (and the storage hold kept) or set after us (and
// sets the storage hold again). On failure storage stays held (safe) and
// the sweep retries.
func (s *Service) releaseStorageHold(ctx context.Context, id uuid.UUID, ref storage.Ref, sum []byte) {
	err := pgx.BeginFunc(ctx, s.cfg.Pool, func(tx pgx.Tx) error {
		var held bool
		if err := tx.QueryRow(ctx, `SELECT legal_hold FROM evidence_items WHERE id = $1 FOR UPDATE`, id).Scan(&held); err != nil {
			return err
		}
		if held {
			return nil // held again since; storage keeps its hold
		}
		if err := s.cfg.Storage.SetLegalHold(ctx, ref, false); err != nil && !errors.Is(err, storage.ErrNotFound) {
			return err
		}
		_, err := tx.Exec(ctx, `UPDATE objects SET legal_hold = false WHERE namespace = 'originals' AND sha256 = $1`, sum)
		return err
	})
	if err != nil {
		s.cfg.Logger.ErrorContext(ctx, "retention: clearing storage legal hold failed; storage stays held until the sweep retries",
			"evidence_id", id, "err", err)
	}
}

// closeSchedule ends an active purge schedule (cancelled or blocked),
// restores the item's state and records purge_cancelled.
func (s *Service) closeSchedule(ctx context.Context, tx pgx.Tx, r *itemRow, schedID, prior, state, actor, reason string, automatic bool) error {
	if _, err := tx.Exec(ctx, `UPDATE purge_schedule SET state = $2, closed_by = $3, closed_at = $4, close_reason = $5 WHERE id = $1`,
		schedID, state, actor, s.now(), reason); err != nil {
		return fmt.Errorf("close purge schedule of %s: %w", r.ID, err)
	}
	if _, err := tx.Exec(ctx, `UPDATE evidence_items SET state = $2, updated_at = now() WHERE id = $1 AND state = 'purge_scheduled'`,
		r.ID, prior); err != nil {
		return fmt.Errorf("restore state of %s: %w", r.ID, err)
	}
	if r.State == "purge_scheduled" {
		r.State = prior
	}
	_, err := custody.Append(ctx, tx, custody.NewEvent{EvidenceID: r.ID, Actor: actor, Action: custody.ActionPurgeCancelled,
		Details: map[string]any{"schedule_id": schedID, "reason": reason, "automatic": automatic, "outcome": state}})
	return err
}
