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
	"github.com/opendems/opendems/evidence/pg"
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

// Attributes implements api.Loaded: a case as the policy sees it.
func (k *Case) Attributes() evidence.Attributes {
	return evidence.Attributes{Kind: "case", ID: k.ID.String(), UnitPath: k.UnitPath}
}

const caseCols = `c.id, c.number, c.title, u.slug, u.path, c.legal_hold, c.hold_reason, c.hold_set_at,
	(SELECT count(*) FROM case_items ci WHERE ci.case_id = c.id), c.created_at`

func scanCase(r pgx.Row) (Case, error) {
	var k Case
	err := r.Scan(&k.ID, &k.Number, &k.Title, &k.Unit, &k.UnitPath, &k.LegalHold, &k.HoldReason, &k.HoldSetAt, &k.Items, &k.CreatedAt)
	if errors.Is(err, pgx.ErrNoRows) {
		return k, evidence.ErrNotFound
	}
	return k, err
}

// caseScope is the SQL predicate for the cases a caller may list: the same
// unit subtrees the policy lets them list evidence in (api.ListScope).
func caseScope(sc evidence.Scope, arg func(any) string) string {
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

// Cases lists the cases within scope, newest first.
func (s *Service) Cases(ctx context.Context, scope evidence.Scope) ([]Case, error) {
	var args []any
	arg := func(v any) string { args = append(args, v); return fmt.Sprintf("$%d", len(args)) }
	q := `SELECT ` + caseCols + ` FROM cases c JOIN units u ON u.id = c.unit_id WHERE ` + caseScope(scope, arg) + ` ORDER BY c.created_at DESC LIMIT 500`
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

// caseByID reads one case, whoever asks (the enforcement point decides).
func (s *Service) caseByID(ctx context.Context, id uuid.UUID) (Case, error) {
	k, err := scanCase(s.d.Pool.QueryRow(ctx, `SELECT `+caseCols+` FROM cases c JOIN units u ON u.id = c.unit_id WHERE c.id = $1`, id))
	if err != nil && !errors.Is(err, evidence.ErrNotFound) {
		return k, fmt.Errorf("review: case %s: %w", id, err)
	}
	return k, err
}

// ItemCases lists the cases an item is in, within scope.
func (s *Service) ItemCases(ctx context.Context, scope evidence.Scope, id uuid.UUID) ([]Case, error) {
	args := []any{id}
	arg := func(v any) string { args = append(args, v); return fmt.Sprintf("$%d", len(args)) }
	rows, err := s.d.Pool.Query(ctx, `SELECT `+caseCols+` FROM cases c JOIN units u ON u.id = c.unit_id
		JOIN case_items ci ON ci.case_id = c.id WHERE ci.evidence_id = $1 AND `+caseScope(scope, arg)+` ORDER BY c.number`, args...)
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
		return Case{}, &evidence.Error{Kind: evidence.ErrConflict, Code: "exists", Msg: fmt.Sprintf("case %q already exists", in.Number)}
	}
	if err != nil {
		return Case{}, fmt.Errorf("review: create case: %w", err)
	}
	return s.caseByID(ctx, id)
}

// AddToCase links an item to a case (both authorized for case:edit by the
// enforcement point) and recomputes the item's retention: a held case
// holds it.
func (s *Service) AddToCase(ctx context.Context, p identity.Principal, it *evidence.Item, k *Case) (Case, error) {
	caseID := k.ID
	err := pgx.BeginFunc(ctx, s.d.Pool, func(tx pgx.Tx) error {
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
		return *k, fmt.Errorf("review: add %s to case %s: %w", it.ID, caseID, err)
	}
	return s.caseByID(ctx, caseID)
}

// ErrCaseHeld refuses taking an item out of a case under legal hold:
// that would lift the item's hold by the back door. A hold is lifted only
// by its release (evidence/retention), recorded in custody.
var ErrCaseHeld = &evidence.Error{Kind: evidence.ErrConflict, Code: "legal_hold",
	Msg: "the case is under legal hold: its items stay in it until the hold is released"}

// RemoveFromCase unlinks an item from a case (both authorized for
// case:edit). A case under legal hold keeps its items: ErrCaseHeld.
func (s *Service) RemoveFromCase(ctx context.Context, p identity.Principal, it *evidence.Item, k *Case) error {
	caseID := k.ID
	err := pgx.BeginFunc(ctx, s.d.Pool, func(tx pgx.Tx) error {
		// Lock the case row so a hold placed concurrently is seen here.
		var held bool
		if err := tx.QueryRow(ctx, `SELECT legal_hold FROM cases WHERE id = $1 FOR SHARE`, caseID).Scan(&held); err != nil {
			return pg.NotFound(err)
		}
		if held {
			return ErrCaseHeld
		}
		tag, err := tx.Exec(ctx, `DELETE FROM case_items WHERE case_id = $1 AND evidence_id = $2`, caseID, it.ID)
		if err != nil {
			return err
		}
		if tag.RowsAffected() == 0 {
			return evidence.ErrNotFound
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

// recompute refreshes an item's retention and legal hold through the
// keeper (evidence/retention owns both).
func (s *Service) recompute(ctx context.Context, tx pgx.Tx, id uuid.UUID, actor string) error {
	if s.d.Keeper == nil {
		return errors.New("review: no retention keeper wired")
	}
	return s.d.Keeper.RecomputeTx(ctx, tx, id, actor)
}

func (s *Service) handleCases(c *gin.Context) {
	cs, err := s.Cases(c.Request.Context(), api.ListScope(c))
	if err != nil {
		api.WriteError(c, err)
		return
	}
	c.JSON(http.StatusOK, CaseList{Cases: cs})
}

func (s *Service) handleCreateCase(c *gin.Context) {
	var in NewCase
	if !api.Bind(c, &in) {
		return
	}
	k, err := s.CreateCase(c.Request.Context(), principal(c), in)
	if err != nil {
		api.WriteError(c, err)
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

// CaseWithItems returns a case and its items within scope.
func (s *Service) CaseWithItems(ctx context.Context, scope evidence.Scope, k *Case) (CaseDetail, error) {
	id := k.ID
	page, err := s.d.Evidence.List(ctx, scope, evidence.Filter{CaseID: &id, Limit: 500})
	if err != nil {
		return CaseDetail{}, err
	}
	d := CaseDetail{Case: *k, Evidence: page.Items}
	if h := int64(k.Items) - page.Total; h > 0 {
		d.Hidden = h
	}
	return d, nil
}

func (s *Service) handleCase(c *gin.Context) {
	k, _ := CaseOf(c)
	d, err := s.CaseWithItems(c.Request.Context(), api.ListScope(c), k)
	if err != nil {
		api.WriteError(c, err)
		return
	}
	c.JSON(http.StatusOK, d)
}

func (s *Service) handleItemCases(c *gin.Context) {
	it, _ := api.ItemOf(c)
	cs, err := s.ItemCases(c.Request.Context(), api.ListScope(c), it.ID)
	if err != nil {
		api.WriteError(c, err)
		return
	}
	c.JSON(http.StatusOK, CaseList{Cases: cs})
}

func (s *Service) handleAddToCase(c *gin.Context) {
	it, _ := api.ItemOf(c)
	var in CaseRef
	if !api.Bind(c, &in) {
		return
	}
	id, err := uuid.Parse(in.CaseID)
	if err != nil {
		api.WriteError(c, invalid("case_id", "must be a case id (UUID)"))
		return
	}
	target, ok := api.Load[*Case](c, api.KindCase, id, "case:edit")
	if !ok {
		return
	}
	k, err := s.AddToCase(c.Request.Context(), principal(c), it, target)
	if err != nil {
		api.WriteError(c, err)
		return
	}
	c.JSON(http.StatusOK, k)
}

func (s *Service) handleRemoveFromCase(c *gin.Context) {
	it, _ := api.ItemOf(c)
	k, _ := CaseOf(c)
	if err := s.RemoveFromCase(c.Request.Context(), principal(c), it, k); err != nil {
		api.WriteError(c, err)
		return
	}
	c.Status(http.StatusNoContent)
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
