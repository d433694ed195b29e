package retention

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/opendems/opendems/evidence"
	"github.com/opendems/opendems/evidence/custody"
	"github.com/opendems/opendems/evidence/identity"
)

// Hold is one legal hold on an item or a case.
type Hold struct {
	ID         uuid.UUID  `json:"id"`
	EvidenceID *uuid.UUID `json:"evidence_id,omitempty"`
	CaseID     *uuid.UUID `json:"case_id,omitempty"`
	Reason     string     `json:"reason"`
	SetBy      uuid.UUID  `json:"set_by"`
	SetAt      time.Time  `json:"set_at"`
	ReleasedBy *uuid.UUID `json:"released_by,omitempty"`
	ReleasedAt *time.Time `json:"released_at,omitempty"`
	// Usernames, filled by ListHolds.
	SetByName      string `json:"set_by_name,omitempty"`
	ReleasedByName string `json:"released_by_name,omitempty"`
}

const holdCols = `id, evidence_id, case_id, reason, set_by, set_at, released_by, released_at`

func scanHold(r pgx.Row) (Hold, error) {
	var h Hold
	err := r.Scan(&h.ID, &h.EvidenceID, &h.CaseID, &h.Reason, &h.SetBy, &h.SetAt, &h.ReleasedBy, &h.ReleasedAt)
	return h, err
}

// holder checks that a hold is set or released by a person (legal_holds
// names users) with a reason a court can read.
func holder(by identity.Principal, reason string, need bool) (string, error) {
	if by.Kind != identity.KindUser || by.ID == uuid.Nil {
		return "", fmt.Errorf("%w: legal holds are set and released by people, not %s", evidence.ErrInvalid, by.Actor())
	}
	reason = strings.TrimSpace(reason)
	if need && reason == "" {
		return "", fmt.Errorf("%w: a legal hold needs a reason", evidence.ErrInvalid)
	}
	if len(reason) > 2000 {
		return "", fmt.Errorf("%w: reason is longer than 2000 bytes", evidence.ErrInvalid)
	}
	return reason, nil
}

// SetItemHold places a legal hold on one item. Several holds (different
// matters) may be active at once; the item stays held until all are
// released.
func (s *Service) SetItemHold(ctx context.Context, id uuid.UUID, reason string, by identity.Principal) (Hold, Status, error) {
	reason, err := holder(by, reason, true)
	if err != nil {
		return Hold{}, Status{}, fmt.Errorf("retention: hold %s: %w", id, err)
	}
	var h Hold
	st, err := s.change(ctx, id, by.Actor(), "legal hold set", func(tx pgx.Tx, r *itemRow) error {
		var err error
		h, err = scanHold(tx.QueryRow(ctx, `INSERT INTO legal_holds (evidence_id, reason, set_by) VALUES ($1, $2, $3) RETURNING `+holdCols,
			id, reason, by.ID))
		if err != nil {
			return fmt.Errorf("store hold: %w", err)
		}
		_, err = custody.Append(ctx, tx, custody.NewEvent{EvidenceID: id, Actor: by.Actor(), Action: custody.ActionLegalHoldSet,
			Details: map[string]any{"hold_id": h.ID.String(), "scope": "item", "reason": reason}})
		return err
	})
	if err != nil {
		return Hold{}, st, fmt.Errorf("retention: hold %s: %w", id, err)
	}
	return h, st, nil
}

// ReleaseItemHold releases the item's active hold holdID, or every active
// item hold when holdID is nil. Holds through cases are untouched (release
// the case's hold). evidence.ErrNotFound when nothing was active.
func (s *Service) ReleaseItemHold(ctx context.Context, id uuid.UUID, holdID *uuid.UUID, reason string, by identity.Principal) ([]Hold, Status, error) {
	reason, err := holder(by, reason, false)
	if err != nil {
		return nil, Status{}, fmt.Errorf("retention: release hold on %s: %w", id, err)
	}
	var released []Hold
	st, err := s.change(ctx, id, by.Actor(), "legal hold released", func(tx pgx.Tx, r *itemRow) error {
		rows, err := tx.Query(ctx, `UPDATE legal_holds SET released_by = $3, released_at = now()
			WHERE evidence_id = $1 AND released_at IS NULL AND ($2::uuid IS NULL OR id = $2) RETURNING `+holdCols, id, holdID, by.ID)
		if err != nil {
			return fmt.Errorf("release: %w", err)
		}
		released, err = pgx.CollectRows(rows, func(r pgx.CollectableRow) (Hold, error) { return scanHold(r) })
		if err != nil {
			return fmt.Errorf("release: %w", err)
		}
		if len(released) == 0 {
			return fmt.Errorf("no active legal hold on the item: %w", evidence.ErrNotFound)
		}
		for _, h := range released {
			d := map[string]any{"hold_id": h.ID.String(), "scope": "item", "hold_reason": h.Reason}
			if reason != "" {
				d["reason"] = reason
			}
			if _, err := custody.Append(ctx, tx, custody.NewEvent{EvidenceID: id, Actor: by.Actor(), Action: custody.ActionLegalHoldCleared, Details: d}); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return nil, st, fmt.Errorf("retention: release hold on %s: %w", id, err)
	}
	return released, st, nil
}

// Holds lists an item's holds (its own and its cases'), newest first.
func (s *Service) Holds(ctx context.Context, id uuid.UUID, activeOnly bool) ([]Hold, error) {
	rows, err := s.cfg.Pool.Query(ctx, `SELECT `+holdCols+` FROM legal_holds h
		WHERE (h.evidence_id = $1 OR h.case_id IN (SELECT case_id FROM case_items WHERE evidence_id = $1))
		  AND (NOT $2 OR h.released_at IS NULL)
		ORDER BY h.set_at DESC, h.id`, id, activeOnly)
	if err != nil {
		return nil, fmt.Errorf("retention: holds of %s: %w", id, err)
	}
	hs, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (Hold, error) { return scanHold(r) })
	if err != nil {
		return nil, fmt.Errorf("retention: holds of %s: %w", id, err)
	}
	if hs == nil {
		hs = []Hold{}
	}
	return hs, nil
}

// ListHolds lists legal holds agency-wide, newest first: only active ones
// when activeOnly, at most limit (default 100, at most 1000).
func (s *Service) ListHolds(ctx context.Context, activeOnly bool, limit int) ([]Hold, error) {
	if limit <= 0 {
		limit = 100
	}
	if limit > 1000 {
		limit = 1000
	}
	rows, err := s.cfg.Pool.Query(ctx, `SELECT h.id, h.evidence_id, h.case_id, h.reason, h.set_by, h.set_at, h.released_by, h.released_at,
			su.username, coalesce(ru.username, '')
		FROM legal_holds h JOIN users su ON su.id = h.set_by LEFT JOIN users ru ON ru.id = h.released_by
		WHERE NOT $1 OR h.released_at IS NULL
		ORDER BY h.set_at DESC, h.id LIMIT $2`, activeOnly, limit)
	if err != nil {
		return nil, fmt.Errorf("retention: list holds: %w", err)
	}
	hs, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (Hold, error) {
		var h Hold
		err := r.Scan(&h.ID, &h.EvidenceID, &h.CaseID, &h.Reason, &h.SetBy, &h.SetAt, &h.ReleasedBy, &h.ReleasedAt, &h.SetByName, &h.ReleasedByName)
		return h, err
	})
	if err != nil {
		return nil, fmt.Errorf("retention: list holds: %w", err)
	}
	if hs == nil {
		hs = []Hold{}
	}
	return hs, nil
}

// CaseHoldResult is a case hold change and what it did to each item.
type CaseHoldResult struct {
	Hold  Hold     `json:"hold"`
	Items []Status `json:"items"`
}

// SetCaseHold places a legal hold on a case, which holds every item in
// it (and every item added later, through RecomputeTx or the sweep).
// evidence.ErrConflict if the case is already held.
func (s *Service) SetCaseHold(ctx context.Context, caseID uuid.UUID, reason string, by identity.Principal) (CaseHoldResult, error) {
	reason, err := holder(by, reason, true)
	if err != nil {
		return CaseHoldResult{}, fmt.Errorf("retention: hold case %s: %w", caseID, err)
	}
	res, err := s.caseChange(ctx, caseID, by.Actor(), "case legal hold set", func(tx pgx.Tx, held bool) (Hold, error) {
		if held {
			return Hold{}, fmt.Errorf("case is already under legal hold: %w", evidence.ErrConflict)
		}
		h, err := scanHold(tx.QueryRow(ctx, `INSERT INTO legal_holds (case_id, reason, set_by) VALUES ($1, $2, $3) RETURNING `+holdCols,
			caseID, reason, by.ID))
		if err != nil {
			return h, fmt.Errorf("store hold: %w", err)
		}
		_, err = tx.Exec(ctx, `UPDATE cases SET legal_hold = true, hold_reason = $2, hold_set_by = $3, hold_set_at = $4 WHERE id = $1`,
			caseID, reason, by.ID, h.SetAt)
		return h, err
	}, func(h Hold) (custody.Action, map[string]any) {
		return custody.ActionLegalHoldSet, map[string]any{"hold_id": h.ID.String(), "scope": "case", "case_id": caseID.String(), "reason": reason}
	})
	if err != nil {
		return res, fmt.Errorf("retention: hold case %s: %w", caseID, err)
	}
	return res, nil
}

// ReleaseCaseHold releases a case's legal hold; each item returns to what
// its own holds, requests and categories say. evidence.ErrNotFound if the case is
// not held.
func (s *Service) ReleaseCaseHold(ctx context.Context, caseID uuid.UUID, reason string, by identity.Principal) (CaseHoldResult, error) {
	reason, err := holder(by, reason, false)
	if err != nil {
		return CaseHoldResult{}, fmt.Errorf("retention: release case %s: %w", caseID, err)
	}
	res, err := s.caseChange(ctx, caseID, by.Actor(), "case legal hold released", func(tx pgx.Tx, held bool) (Hold, error) {
		rows, err := tx.Query(ctx, `UPDATE legal_holds SET released_by = $2, released_at = now()
			WHERE case_id = $1 AND released_at IS NULL RETURNING `+holdCols, caseID, by.ID)
		if err != nil {
			return Hold{}, fmt.Errorf("release: %w", err)
		}
		hs, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (Hold, error) { return scanHold(r) })
		if err != nil {
			return Hold{}, fmt.Errorf("release: %w", err)
		}
		if len(hs) == 0 && !held {
			return Hold{}, fmt.Errorf("case is not under legal hold: %w", evidence.ErrNotFound)
		}
		if _, err := tx.Exec(ctx, `UPDATE cases SET legal_hold = false, hold_reason = '', hold_set_by = NULL, hold_set_at = NULL WHERE id = $1`, caseID); err != nil {
			return Hold{}, fmt.Errorf("release: %w", err)
		}
		if len(hs) == 0 { // a hold flagged on the case row only (set outside this package)
			return Hold{CaseID: &caseID, Reason: "(case flag)"}, nil
		}
		return hs[0], nil
	}, func(h Hold) (custody.Action, map[string]any) {
		d := map[string]any{"hold_id": h.ID.String(), "scope": "case", "case_id": caseID.String(), "hold_reason": h.Reason}
		if reason != "" {
			d["reason"] = reason
		}
		return custody.ActionLegalHoldCleared, d
	})
	if err != nil {
		return res, fmt.Errorf("retention: release case %s: %w", caseID, err)
	}
	return res, nil
}

// caseChange locks the case, applies mutate, then records the event on and
// recomputes every live item of the case, in id order (the lock order all
// of this package uses), all in one transaction.
func (s *Service) caseChange(ctx context.Context, caseID uuid.UUID, actor, cause string,
	mutate func(tx pgx.Tx, held bool) (Hold, error), event func(Hold) (custody.Action, map[string]any)) (CaseHoldResult, error) {
	var res CaseHoldResult
	var post after
	err := pgx.BeginFunc(ctx, s.cfg.Pool, func(tx pgx.Tx) error {
		var held bool
		err := tx.QueryRow(ctx, `SELECT legal_hold OR EXISTS (SELECT 1 FROM legal_holds h WHERE h.case_id = c.id AND h.released_at IS NULL)
			FROM cases c WHERE c.id = $1 FOR UPDATE`, caseID).Scan(&held)
		if errors.Is(err, pgx.ErrNoRows) {
			return fmt.Errorf("case: %w", evidence.ErrNotFound)
		}
		if err != nil {
			return fmt.Errorf("lock case: %w", err)
		}
		if res.Hold, err = mutate(tx, held); err != nil {
			return err
		}
		rows, err := tx.Query(ctx, `SELECT ci.evidence_id FROM case_items ci JOIN evidence_items i ON i.id = ci.evidence_id
			WHERE ci.case_id = $1 AND i.state <> 'purged' ORDER BY ci.evidence_id`, caseID)
		if err != nil {
			return fmt.Errorf("case items: %w", err)
		}
		ids, err := pgx.CollectRows(rows, pgx.RowTo[uuid.UUID])
		if err != nil {
			return fmt.Errorf("case items: %w", err)
		}
		action, details := event(res.Hold)
		res.Items = []Status{}
		for _, id := range ids {
			r, err := lockItem(ctx, tx, id)
			if err != nil {
				return err
			}
			if r.State == "purged" {
				continue
			}
			if _, err := custody.Append(ctx, tx, custody.NewEvent{EvidenceID: id, Actor: actor, Action: action, Details: details}); err != nil {
				return err
			}
			st, err := s.apply(ctx, tx, r, actor, cause, &post)
			if err != nil {
				return err
			}
			res.Items = append(res.Items, st)
		}
		return nil
	})
	if err != nil {
		return CaseHoldResult{}, err
	}
	post.run(ctx)
	return res, nil
}
