package retention

import (
	"context"
	"errors"
	"fmt"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/opendems/opendems/evidence"
)

// staleQuery finds live items whose stored retention or hold may be wrong:
// never computed, computed under another schedule version, changed since
// (by a package that did not call Recompute), indefinite with a rolling
// storage lock due for renewal, a legal_hold column that disagrees with the
// holds, or a storage hold that disagrees with the column.
const staleQuery = `
	SELECT i.id FROM evidence_items i
	LEFT JOIN objects o ON o.namespace = 'originals' AND o.sha256 = i.sha256
	WHERE i.state <> 'purged' AND i.id > $1 AND (
		i.retention_computed_at IS NULL
		OR i.retention_version <> $2
		OR (i.retention_indefinite AND o.sha256 IS NOT NULL AND (o.retain_until IS NULL OR o.retain_until < $3))
		OR (o.legal_hold AND NOT i.legal_hold)
		OR (i.legal_hold AND o.sha256 IS NOT NULL AND NOT o.legal_hold)
		-- changed since computed by code that did not recompute (no keeper wired)
		OR i.updated_at > i.retention_computed_at
		OR i.legal_hold <> (
			EXISTS (SELECT 1 FROM legal_holds h WHERE h.evidence_id = i.id AND h.released_at IS NULL)
			OR EXISTS (SELECT 1 FROM case_items ci JOIN cases c ON c.id = ci.case_id WHERE ci.evidence_id = i.id
				AND (c.legal_hold OR EXISTS (SELECT 1 FROM legal_holds h WHERE h.case_id = c.id AND h.released_at IS NULL))))
	)
	ORDER BY i.id LIMIT $4`

// expiredQuery finds the sweep's purge candidates: retention computed,
// finite and over, not held, not scheduled, and not cancelled by a person
// for this same deadline.
const expiredQuery = `
	SELECT i.id FROM evidence_items i
	WHERE i.state NOT IN ('purged', 'purge_scheduled') AND NOT i.legal_hold AND NOT i.retention_indefinite
	  AND i.retention_computed_at IS NOT NULL AND i.retain_until <= $2 AND i.id > $1
	  AND NOT EXISTS (SELECT 1 FROM purge_schedule p WHERE p.evidence_id = i.id AND p.state = 'cancelled'
	                  AND p.retain_until IS NOT DISTINCT FROM i.retain_until)
	ORDER BY i.id LIMIT $3`

// Sweep is the daily retention job. It first recomputes every stale item
// (new items, an edited schedule, rolling locks due, hold drift), then
// schedules for purge every item whose retention ended, each decided by
// the purge policy at the sweep's clock; the purge itself happens in
// PurgeDue after the grace period. It returns how many items it scheduled;
// errors of single items are joined and the others still run.
func (s *Service) Sweep(ctx context.Context) (int, error) {
	var errs []error
	recomputed := 0
	renew := s.now().Add(s.cfg.IndefiniteLock / 2)
	err := s.eachID(ctx, func(after uuid.UUID) (pgx.Rows, error) {
		return s.cfg.Pool.Query(ctx, staleQuery, after, s.cfg.ScheduleVersion, renew, s.cfg.Batch)
	}, func(id uuid.UUID) {
		if _, err := s.Recompute(ctx, id, SweepActor); err != nil {
			if !errors.Is(err, ErrPurged) && !errors.Is(err, evidence.ErrNotFound) {
				s.cfg.Logger.ErrorContext(ctx, "retention: recompute failed", "evidence_id", id, "err", err)
				errs = append(errs, err)
			}
			return
		}
		recomputed++
	})
	if err != nil {
		return 0, errors.Join(append(errs, fmt.Errorf("retention: sweep: %w", err))...)
	}
	scheduled := 0
	now := s.now()
	err = s.eachID(ctx, func(after uuid.UUID) (pgx.Rows, error) {
		return s.cfg.Pool.Query(ctx, expiredQuery, after, now, s.cfg.Batch)
	}, func(id uuid.UUID) {
		ok, err := s.sweepOne(ctx, id)
		if err != nil {
			s.cfg.Logger.ErrorContext(ctx, "retention: scheduling purge failed", "evidence_id", id, "err", err)
			errs = append(errs, err)
		}
		if ok {
			scheduled++
		}
	})
	if err != nil {
		errs = append(errs, fmt.Errorf("retention: sweep: %w", err))
	}
	s.cfg.Logger.InfoContext(ctx, "retention sweep", "recomputed", recomputed, "scheduled", scheduled, "errors", len(errs))
	return scheduled, errors.Join(errs...)
}

// eachID pages through ids by keyset (id > last), so an item that keeps
// failing is visited once per run and never loops the sweep.
func (s *Service) eachID(ctx context.Context, page func(after uuid.UUID) (pgx.Rows, error), fn func(uuid.UUID)) error {
	var last uuid.UUID
	for {
		if err := ctx.Err(); err != nil {
			return err
		}
		rows, err := page(last)
		if err != nil {
			return err
		}
		ids, err := pgx.CollectRows(rows, pgx.RowTo[uuid.UUID])
		if err != nil {
			return err
		}
		for _, id := range ids {
			fn(id)
		}
		if len(ids) < s.cfg.Batch {
			return nil
		}
		last = ids[len(ids)-1]
	}
}

// sweepOne decides and schedules one candidate; a refusal refreshes the
// item's stored retention (it was stale) instead.
func (s *Service) sweepOne(ctx context.Context, id uuid.UUID) (bool, error) {
	scheduled := false
	var post after
	err := pgx.BeginFunc(ctx, s.cfg.Pool, func(tx pgx.Tx) error {
		r, err := lockItem(ctx, tx, id)
		if err != nil {
			return err
		}
		if r.State == "purged" || r.State == "purge_scheduled" {
			return nil
		}
		_, _, err = s.schedule(ctx, tx, r, SweepActor, "")
		var refused *RefusedError
		if errors.As(err, &refused) {
			_, err = s.apply(ctx, tx, r, SweepActor, "sweep", &post)
			return err
		}
		scheduled = err == nil
		return err
	})
	if err != nil {
		return false, fmt.Errorf("retention: sweep %s: %w", id, err)
	}
	post.run(ctx)
	return scheduled, nil
}
