package retention

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/opendems/opendems/evidence"
	"github.com/opendems/opendems/evidence/custody"
)

var nameRE = regexp.MustCompile(`^[a-z0-9][a-z0-9._-]{0,62}$`)

// cleanNames trims, validates and de-duplicates category or flag names,
// keeping their order (the first category is the item's primary one).
func cleanNames(what string, in []string) ([]string, error) {
	out := make([]string, 0, len(in))
	for _, n := range in {
		n = strings.TrimSpace(n)
		if !nameRE.MatchString(n) {
			return nil, fmt.Errorf("%w: %s %q: want a lower-case name like felony or use-of-force", evidence.ErrInvalid, what, n)
		}
		if !slices.Contains(out, n) {
			out = append(out, n)
		}
	}
	return out, nil
}

// SetCategories replaces an item's categories (the first is its primary
// category) and recomputes its retention. Every category must be one of
// the schedule's: an unknown one could destroy evidence early.
func (s *Service) SetCategories(ctx context.Context, id uuid.UUID, categories []string, actor, reason string) (Status, error) {
	cats, err := cleanNames("category", categories)
	if err != nil {
		return Status{}, fmt.Errorf("retention: set categories of %s: %w", id, err)
	}
	if len(cats) == 0 {
		return Status{}, fmt.Errorf("retention: set categories of %s: %w: at least one category is required", id, evidence.ErrInvalid)
	}
	for _, c := range cats {
		if !s.cfg.Schedule.HasCategory(c) {
			return Status{}, fmt.Errorf("retention: set categories of %s: %w: category %q is not in the retention schedule", id, evidence.ErrInvalid, c)
		}
	}
	st, err := s.change(ctx, id, actor, "category change", func(tx pgx.Tx, r *itemRow) error {
		if slices.Equal(r.Categories, cats) {
			return nil
		}
		if _, err := tx.Exec(ctx, `UPDATE evidence_items SET categories = $2, category = $3, updated_at = now() WHERE id = $1`,
			id, cats, cats[0]); err != nil {
			return fmt.Errorf("store categories: %w", err)
		}
		details := map[string]any{"old": r.Categories, "new": cats}
		if reason != "" {
			details["reason"] = reason
		}
		if _, err := custody.Append(ctx, tx, custody.NewEvent{EvidenceID: id, Actor: actor, Action: custody.ActionCategoryChanged, Details: details}); err != nil {
			return err
		}
		r.Categories = cats
		return nil
	})
	if err != nil {
		return st, fmt.Errorf("retention: set categories of %s: %w", id, err)
	}
	return st, nil
}

// SetFlags replaces an item's flags (e.g. use-of-force) and recomputes its
// retention. Flags the schedule does not name are kept but extend nothing.
func (s *Service) SetFlags(ctx context.Context, id uuid.UUID, flags []string, actor, reason string) (Status, error) {
	fl, err := cleanNames("flag", flags)
	if err != nil {
		return Status{}, fmt.Errorf("retention: set flags of %s: %w", id, err)
	}
	st, err := s.change(ctx, id, actor, "flags change", func(tx pgx.Tx, r *itemRow) error {
		if slices.Equal(r.Flags, fl) {
			return nil
		}
		if _, err := tx.Exec(ctx, `UPDATE evidence_items SET flags = $2, flagged = $3, updated_at = now() WHERE id = $1`,
			id, fl, len(fl) > 0); err != nil {
			return fmt.Errorf("store flags: %w", err)
		}
		details := map[string]any{"field": "flags", "old": r.Flags, "new": fl}
		if reason != "" {
			details["reason"] = reason
		}
		if _, err := custody.Append(ctx, tx, custody.NewEvent{EvidenceID: id, Actor: actor, Action: custody.ActionMetadataChanged, Details: details}); err != nil {
			return err
		}
		r.Flags = fl
		return nil
	})
	if err != nil {
		return st, fmt.Errorf("retention: set flags of %s: %w", id, err)
	}
	return st, nil
}

// SubjectRequest is a subject's request that a recording be kept.
type SubjectRequest struct {
	// RequestedAt is when the request was made (the extension counts from
	// it); zero means now.
	RequestedAt time.Time `json:"requested_at"`
	Requester   string    `json:"requester"`
	Note        string    `json:"note"`
}

// AddSubjectRequest records a subject's request and recomputes retention.
func (s *Service) AddSubjectRequest(ctx context.Context, id uuid.UUID, req SubjectRequest, actor string) (Status, error) {
	if req.RequestedAt.IsZero() {
		req.RequestedAt = s.now()
	}
	switch {
	case req.RequestedAt.After(s.now().Add(time.Minute)):
		return Status{}, fmt.Errorf("retention: subject request for %s: %w: requested_at is in the future", id, evidence.ErrInvalid)
	case len(req.Requester) > 200 || len(req.Note) > 2000:
		return Status{}, fmt.Errorf("retention: subject request for %s: %w: requester (200) or note (2000 bytes) too long", id, evidence.ErrInvalid)
	}
	st, err := s.change(ctx, id, actor, "subject request", func(tx pgx.Tx, r *itemRow) error {
		var reqID string
		if err := tx.QueryRow(ctx, `INSERT INTO subject_requests (evidence_id, requested_at, requester, note, recorded_by)
			VALUES ($1, $2, $3, $4, $5) RETURNING id::text`, id, req.RequestedAt, req.Requester, req.Note, actor).Scan(&reqID); err != nil {
			return fmt.Errorf("store subject request: %w", err)
		}
		_, err := custody.Append(ctx, tx, custody.NewEvent{EvidenceID: id, Actor: actor, Action: custody.ActionMetadataChanged,
			Details: map[string]any{"field": "subject_request", "old": nil, "new": map[string]any{
				"id": reqID, "requested_at": req.RequestedAt.UTC().Format(time.RFC3339Nano), "requester": req.Requester}}})
		return err
	})
	if err != nil {
		return st, fmt.Errorf("retention: subject request for %s: %w", id, err)
	}
	return st, nil
}

// OpenAccessRequest records that public access request ref names the
// item, which holds it indefinitely until CloseAccessRequest. Opening the
// same request twice is not an error.
func (s *Service) OpenAccessRequest(ctx context.Context, id uuid.UUID, ref, actor string) (Status, error) {
	ref = strings.TrimSpace(ref)
	if ref == "" || len(ref) > 200 {
		return Status{}, fmt.Errorf("retention: open access request on %s: %w: request reference must be 1-200 bytes", id, evidence.ErrInvalid)
	}
	st, err := s.change(ctx, id, actor, "access request opened", func(tx pgx.Tx, r *itemRow) error {
		tag, err := tx.Exec(ctx, `INSERT INTO access_request_holds (evidence_id, request_ref, opened_by) VALUES ($1, $2, $3)
			ON CONFLICT (evidence_id, request_ref) WHERE closed_at IS NULL DO NOTHING`, id, ref, actor)
		if err != nil {
			return fmt.Errorf("store access request: %w", err)
		}
		if tag.RowsAffected() == 0 {
			return nil
		}
		_, err = custody.Append(ctx, tx, custody.NewEvent{EvidenceID: id, Actor: actor, Action: custody.ActionMetadataChanged,
			Details: map[string]any{"field": "access_request", "old": nil, "new": map[string]any{"request": ref, "open": true}}})
		return err
	})
	if err != nil {
		return st, fmt.Errorf("retention: open access request on %s: %w", id, err)
	}
	return st, nil
}

// CloseAccessRequest ends the hold of public access request ref on the
// item and recomputes its retention. evidence.ErrNotFound if it was not open.
func (s *Service) CloseAccessRequest(ctx context.Context, id uuid.UUID, ref, actor string) (Status, error) {
	ref = strings.TrimSpace(ref)
	st, err := s.change(ctx, id, actor, "access request closed", func(tx pgx.Tx, r *itemRow) error {
		tag, err := tx.Exec(ctx, `UPDATE access_request_holds SET closed_at = now(), closed_by = $3
			WHERE evidence_id = $1 AND request_ref = $2 AND closed_at IS NULL`, id, ref, actor)
		if err != nil {
			return fmt.Errorf("close access request: %w", err)
		}
		if tag.RowsAffected() == 0 {
			return fmt.Errorf("access request %q is not open on this item: %w", ref, evidence.ErrNotFound)
		}
		_, err = custody.Append(ctx, tx, custody.NewEvent{EvidenceID: id, Actor: actor, Action: custody.ActionMetadataChanged,
			Details: map[string]any{"field": "access_request", "old": map[string]any{"request": ref, "open": true},
				"new": map[string]any{"request": ref, "open": false}}})
		return err
	})
	if err != nil {
		return st, fmt.Errorf("retention: close access request on %s: %w", id, err)
	}
	return st, nil
}

// notFound translates pg's and pgx's not-found into this package's.
func notFound(err error) error {
	if errors.Is(err, pgx.ErrNoRows) {
		return evidence.ErrNotFound
	}
	return err
}
