package review

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"regexp"
	"strings"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/opendems/opendems/evidence"
	"github.com/opendems/opendems/evidence/api"
	"github.com/opendems/opendems/evidence/custody"
	"github.com/opendems/opendems/evidence/identity"
)

// RetentionKeeper recomputes an item's retention and legal hold inside the
// caller's transaction after a change they depend on (category, case
// membership, case hold) and mirrors them to storage. evidence/retention's
// Service satisfies it through a small adapter in cmd/demsd.
type RetentionKeeper interface {
	RecomputeTx(ctx context.Context, tx pgx.Tx, id uuid.UUID, actor string) error
}

// Case is a case as reviewers see it.
type Case struct {
	ID         uuid.UUID  `json:"id"`
	Number     string     `json:"number"`
	Title      string     `json:"title"`
	Unit       string     `json:"unit"`
	UnitPath   string     `json:"unit_path"`
	LegalHold  bool       `json:"legal_hold"`
	HoldReason string     `json:"hold_reason,omitempty"`
	HoldSetAt  *time.Time `json:"hold_set_at,omitempty"`
	Items      int        `json:"items"`
	CreatedAt  time.Time  `json:"created_at"`
}

const caseCols = `c.id, c.number, c.title, u.slug, u.path, c.legal_hold, c.hold_reason, c.hold_set_at,
	(SELECT count(*) FROM case_items ci WHERE ci.case_id = c.id), c.created_at`

func scanCase(r pgx.Row) (Case, error) {
	var k Case
	err := r.Scan(&k.ID, &k.Number, &k.Title, &k.Unit, &k.UnitPath, &k.LegalHold, &k.HoldReason, &k.HoldSetAt, &k.Items, &k.CreatedAt)
	if errors.Is(err, pgx.ErrNoRows) {
		return k, ErrNotFound
	}
	return k, err
}

// caseScope is the SQL predicate for the cases p may see: the same unit
// subtrees the policy lets p list evidence in.
func (s *Service) caseScope(ctx context.Context, p identity.Principal, arg func(any) string) string {
	sc := s.d.Authorizer.ListScope(ctx, p)
	if sc.All {
		return "TRUE"
	}
	var ors []string
	for _, up := range sc.UnitPaths {
		a := arg(up)
		ors = append(ors, "(u.path = "+a+" OR u.path LIKE "+a+" || '.%')")
	}
	if len(ors) == 0 {
		return "FALSE"
	}
	return "(" + strings.Join(ors, " OR ") + ")"
}

// Cases lists the cases p may see, newest first.
func (s *Service) Cases(ctx context.Context, p identity.Principal) ([]Case, error) {
	var args []any
	arg := func(v any) string { args = append(args, v); return fmt.Sprintf("$%d", len(args)) }
	q := `SELECT ` + caseCols + ` FROM cases c JOIN units u ON u.id = c.unit_id WHERE ` + s.caseScope(ctx, p, arg) + ` ORDER BY c.created_at DESC LIMIT 500`
	rows, err := s.d.Pool.Query(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("review: cases: %w", err)
	}
	cs, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (Case, error) { return scanCase(r) })
	if err != nil {
		return nil, fmt.Errorf("review: cases: %w", err)
	}
	if cs == nil {
		cs = []Case{}
	}
	return cs, nil
}

// Case returns one case p may see (ErrNotFound otherwise).
func (s *Service) Case(ctx context.Context, p identity.Principal, id uuid.UUID) (Case, error) {
	args := []any{id}
	arg := func(v any) string { args = append(args, v); return fmt.Sprintf("$%d", len(args)) }
	k, err := scanCase(s.d.Pool.QueryRow(ctx, `SELECT `+caseCols+` FROM cases c JOIN units u ON u.id = c.unit_id WHERE c.id = $1 AND `+
		s.caseScope(ctx, p, arg), args...))
	if err != nil && !errors.Is(err, ErrNotFound) {
		return k, fmt.Errorf("review: case %s: %w", id, err)
	}
	return k, err
}

// ItemCases lists the cases an item is in that p may see.
func (s *Service) ItemCases(ctx context.Context, p identity.Principal, id uuid.UUID) ([]Case, error) {
	args := []any{id}
	arg := func(v any) string { args = append(args, v); return fmt.Sprintf("$%d", len(args)) }
	rows, err := s.d.Pool.Query(ctx, `SELECT `+caseCols+` FROM cases c JOIN units u ON u.id = c.unit_id
		JOIN case_items ci ON ci.case_id = c.id WHERE ci.evidence_id = $1 AND `+s.caseScope(ctx, p, arg)+` ORDER BY c.number`, args...)
	if err != nil {
		return nil, fmt.Errorf("review: cases of %s: %w", id, err)
	}
	cs, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (Case, error) { return scanCase(r) })
	if err != nil {
		return nil, fmt.Errorf("review: cases of %s: %w", id, err)
	}
	if cs == nil {
		cs = []Case{}
	}
	return cs, nil
}

var caseNumberRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._/-]{0,63}$`)

// NewCase is the body of POST /cases.
type NewCase struct {
	Number string `json:"number"`
	Title  string `json:"title"`
}

// CreateCase opens a case in p's unit.
func (s *Service) CreateCase(ctx context.Context, p identity.Principal, in NewCase) (Case, error) {
	in.Number, in.Title = strings.TrimSpace(in.Number), strings.TrimSpace(in.Title)
	if !caseNumberRE.MatchString(in.Number) {
		return Case{}, invalid("number", "1-64 letters, digits or . _ / - starting with a letter or digit")
	}
	if len(in.Title) > 200 {
		return Case{}, invalid("title", "at most 200 characters")
	}
	if p.UnitID == uuid.Nil {
		return Case{}, invalid("unit", "the caller has no unit")
	}
	var id uuid.UUID
	err := s.d.Pool.QueryRow(ctx, `INSERT INTO cases (number, title, unit_id, created_by) VALUES ($1, $2, $3, $4) RETURNING id`,
		in.Number, in.Title, p.UnitID, userID(p)).Scan(&id)
	var pe *pgconn.PgError
	if errors.As(err, &pe) && pe.Code == "23505" {
		return Case{}, api.Errorf(http.StatusConflict, "exists", fmt.Sprintf("case %q already exists", in.Number))
	}
	if err != nil {
		return Case{}, fmt.Errorf("review: create case: %w", err)
	}
	return s.Case(ctx, p, id)
}

// AddToCase links an item (already authorized for case:edit) to a case p
// may see, and recomputes the item's retention (a held case holds it).
func (s *Service) AddToCase(ctx context.Context, p identity.Principal, it *evidence.Item, caseID uuid.UUID) (Case, error) {
	k, err := s.Case(ctx, p, caseID)
	if err != nil {
		return k, err
	}
	err = pgx.BeginFunc(ctx, s.d.Pool, func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, `INSERT INTO case_items (case_id, evidence_id, added_by) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING`,
			caseID, it.ID, userID(p))
		if err != nil || tag.RowsAffected() == 0 {
			return err
		}
		if _, err := custody.Append(ctx, tx, custody.NewEvent{EvidenceID: it.ID, Actor: p.Actor(), Action: custody.Action("case_added"),
			Details: map[string]any{"case_id": caseID.String(), "case_number": k.Number}}); err != nil {
			return err
		}
		return s.recompute(ctx, tx, it.ID, p.Actor())
	})
	if err != nil {
		return k, fmt.Errorf("review: add %s to case %s: %w", it.ID, caseID, err)
	}
	return s.Case(ctx, p, caseID)
}

// RemoveFromCase unlinks an item from a case.
func (s *Service) RemoveFromCase(ctx context.Context, p identity.Principal, it *evidence.Item, caseID uuid.UUID) error {
	k, err := s.Case(ctx, p, caseID)
	if err != nil {
		return err
	}
	err = pgx.BeginFunc(ctx, s.d.Pool, func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, `DELETE FROM case_items WHERE case_id = $1 AND evidence_id = $2`, caseID, it.ID)
		if err != nil {
			return err
		}
		if tag.RowsAffected() == 0 {
			return ErrNotFound
		}
		if _, err := custody.Append(ctx, tx, custody.NewEvent{EvidenceID: it.ID, Actor: p.Actor(), Action: custody.Action("case_removed"),
			Details: map[string]any{"case_id": caseID.String(), "case_number": k.Number}}); err != nil {
			return err
		}
		return s.recompute(ctx, tx, it.ID, p.Actor())
	})
	if err != nil {
		return fmt.Errorf("review: remove %s from case %s: %w", it.ID, caseID, err)
	}
	return nil
}

// SetCaseHold places (on) or lifts a case's legal hold; every item in it
// gets a custody event and its hold recomputed, in one transaction.
func (s *Service) SetCaseHold(ctx context.Context, p identity.Principal, caseID uuid.UUID, on bool, reason string) (Case, error) {
	reason = strings.TrimSpace(reason)
	if on && reason == "" {
		return Case{}, invalid("reason", "required: why the case is held (court order, litigation, …)")
	}
	if len(reason) > 1000 {
		return Case{}, invalid("reason", "at most 1000 characters")
	}
	k, err := s.Case(ctx, p, caseID)
	if err != nil {
		return k, err
	}
	if k.LegalHold == on {
		return k, nil
	}
	err = pgx.BeginFunc(ctx, s.d.Pool, func(tx pgx.Tx) error {
		if on {
			if _, err := tx.Exec(ctx, `UPDATE cases SET legal_hold = true, hold_reason = $2, hold_set_by = $3, hold_set_at = now() WHERE id = $1`,
				caseID, reason, userID(p)); err != nil {
				return err
			}
			if _, err := tx.Exec(ctx, `INSERT INTO legal_holds (case_id, reason, set_by) VALUES ($1, $2, $3)`, caseID, reason, userID(p)); err != nil {
				return err
			}
		} else {
			if _, err := tx.Exec(ctx, `UPDATE cases SET legal_hold = false, hold_reason = '', hold_set_by = NULL, hold_set_at = NULL WHERE id = $1`, caseID); err != nil {
				return err
			}
			if _, err := tx.Exec(ctx, `UPDATE legal_holds SET released_by = $2, released_at = now() WHERE case_id = $1 AND released_at IS NULL`,
				caseID, userID(p)); err != nil {
				return err
			}
		}
		rows, err := tx.Query(ctx, `SELECT evidence_id FROM case_items WHERE case_id = $1 ORDER BY evidence_id`, caseID)
		if err != nil {
			return err
		}
		ids, err := pgx.CollectRows(rows, pgx.RowTo[uuid.UUID])
		if err != nil {
			return err
		}
		action := "legal_hold_cleared"
		if on {
			action = "legal_hold_set"
		}
		for _, id := range ids {
			if _, err := custody.Append(ctx, tx, custody.NewEvent{EvidenceID: id, Actor: p.Actor(), Action: custody.Action(action),
				Details: map[string]any{"case_id": caseID.String(), "case_number": k.Number, "reason": reason}}); err != nil {
				return err
			}
			if err := s.recompute(ctx, tx, id, p.Actor()); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return k, fmt.Errorf("review: case %s hold=%v: %w", caseID, on, err)
	}
	return s.Case(ctx, p, caseID)
}

// recompute refreshes an item's retention through the keeper; without one
// (a deployment without evidence/retention wired) it keeps legal_hold
// true to "any active item or case hold" itself.
func (s *Service) recompute(ctx context.Context, tx pgx.Tx, id uuid.UUID, actor string) error {
	if s.d.Keeper != nil {
		return s.d.Keeper.RecomputeTx(ctx, tx, id, actor)
	}
	_, err := tx.Exec(ctx, `UPDATE evidence_items i SET legal_hold = EXISTS (
			SELECT 1 FROM legal_holds h WHERE h.evidence_id = i.id AND h.released_at IS NULL)
		OR EXISTS (SELECT 1 FROM case_items ci JOIN cases c ON c.id = ci.case_id WHERE ci.evidence_id = i.id AND c.legal_hold),
		updated_at = now() WHERE i.id = $1`, id)
	return err
}

func (s *Service) handleCases(c *gin.Context) {
	cs, err := s.Cases(c.Request.Context(), principal(c))
	if err != nil {
		api.WriteError(c, err)
		return
	}
	c.JSON(http.StatusOK, gin.H{"cases": cs})
}

func (s *Service) handleCreateCase(c *gin.Context) {
	var in NewCase
	if !bindJSON(c, &in) {
		return
	}
	k, err := s.CreateCase(c.Request.Context(), principal(c), in)
	if err != nil {
		api.WriteError(c, caseErr(err))
		return
	}
	c.JSON(http.StatusCreated, k)
}

// CaseDetail is a case with the items in it that the caller may see.
type CaseDetail struct {
	Case
	Evidence []evidence.Item `json:"evidence"`
	Hidden   int64           `json:"hidden"` // items in the case the caller may not see
}

// CaseWithItems returns a case and its items visible to p.
func (s *Service) CaseWithItems(ctx context.Context, p identity.Principal, id uuid.UUID) (CaseDetail, error) {
	k, err := s.Case(ctx, p, id)
	if err != nil {
		return CaseDetail{}, err
	}
	page, err := s.d.Evidence.List(ctx, s.d.Authorizer.ListScope(ctx, p), evidence.Filter{CaseID: &id, Limit: 500})
	if err != nil {
		return CaseDetail{}, err
	}
	d := CaseDetail{Case: k, Evidence: page.Items}
	if h := int64(k.Items) - page.Total; h > 0 {
		d.Hidden = h
	}
	return d, nil
}

func (s *Service) handleCase(c *gin.Context) {
	id, ok := parseUUIDParam(c, "id")
	if !ok {
		return
	}
	d, err := s.CaseWithItems(c.Request.Context(), principal(c), id)
	if err != nil {
		api.WriteError(c, caseErr(err))
		return
	}
	c.JSON(http.StatusOK, d)
}

func (s *Service) handleItemCases(c *gin.Context) {
	it, _ := api.ItemOf(c)
	cs, err := s.ItemCases(c.Request.Context(), principal(c), it.ID)
	if err != nil {
		api.WriteError(c, err)
		return
	}
	c.JSON(http.StatusOK, gin.H{"cases": cs})
}

func (s *Service) handleAddToCase(c *gin.Context) {
	it, _ := api.ItemOf(c)
	var in struct {
		CaseID string `json:"case_id"`
	}
	if !bindJSON(c, &in) {
		return
	}
	id, err := uuid.Parse(in.CaseID)
	if err != nil {
		api.WriteError(c, invalid("case_id", "must be a case id (UUID)"))
		return
	}
	k, err := s.AddToCase(c.Request.Context(), principal(c), it, id)
	if err != nil {
		api.WriteError(c, caseErr(err))
		return
	}
	c.JSON(http.StatusOK, k)
}

func (s *Service) handleRemoveFromCase(c *gin.Context) {
	it, _ := api.ItemOf(c)
	id, ok := parseUUIDParam(c, "case")
	if !ok {
		return
	}
	if err := s.RemoveFromCase(c.Request.Context(), principal(c), it, id); err != nil {
		api.WriteError(c, caseErr(err))
		return
	}
	c.Status(http.StatusNoContent)
}

func (s *Service) handleHold(on bool) gin.HandlerFunc {
	return func(c *gin.Context) {
		id, ok := parseUUIDParam(c, "id")
		if !ok {
			return
		}
		var in struct {
			Reason string `json:"reason"`
		}
		if on && !bindJSON(c, &in) {
			return
		}
		k, err := s.SetCaseHold(c.Request.Context(), principal(c), id, on, in.Reason)
		if err != nil {
			api.WriteError(c, caseErr(err))
			return
		}
		c.JSON(http.StatusOK, k)
	}
}

// caseErr maps this package's not-found to the API's.
func caseErr(err error) error {
	if isNotFound(err) {
		return api.Errorf(http.StatusNotFound, "not_found", "not found")
	}
	return err
}

// ProxyFailures lists items in scope whose proxy failed, newest first, for
// the dashboard. It applies the same scope rules as evidence.Store.List.
func (s *Service) ProxyFailures(ctx context.Context, scope evidence.Scope, limit int) ([]evidence.Item, error) {
	var args []any
	arg := func(v any) string { args = append(args, v); return fmt.Sprintf("$%d", len(args)) }
	where := []string{"i.proxy_status = 'failed'"}
	if !scope.All {
		var ors []string
		for _, up := range scope.UnitPaths {
			a := arg(up)
			ors = append(ors, "(u.path = "+a+" OR u.path LIKE "+a+" || '.%')")
		}
		if len(scope.OfficerIDs) > 0 {
			ors = append(ors, "i.officer_id = ANY("+arg(scope.OfficerIDs)+")")
		}
		if len(ors) == 0 {
			return nil, nil
		}
		where = append(where, "("+strings.Join(ors, " OR ")+")")
	}
	if len(scope.Groups) > 0 {
		where = append(where, "(i.restricted IS NULL OR i.restricted = ANY("+arg(scope.Groups)+"))")
	} else {
		where = append(where, "i.restricted IS NULL")
	}
	rows, err := s.d.Pool.Query(ctx, `SELECT i.id FROM evidence_items i JOIN units u ON u.id = i.unit_id WHERE `+
		strings.Join(where, " AND ")+fmt.Sprintf(` ORDER BY i.updated_at DESC LIMIT %d`, limit), args...)
	if err != nil {
		return nil, fmt.Errorf("review: proxy failures: %w", err)
	}
	ids, err := pgx.CollectRows(rows, pgx.RowTo[uuid.UUID])
	if err != nil {
		return nil, fmt.Errorf("review: proxy failures: %w", err)
	}
	out := make([]evidence.Item, 0, len(ids))
	for _, id := range ids {
		it, err := s.d.Evidence.Get(ctx, id)
		if err != nil {
			return nil, err
		}
		out = append(out, it)
	}
	return out, nil
}
