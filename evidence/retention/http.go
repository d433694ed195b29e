package retention

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/opendems/opendems/evidence"
	"github.com/opendems/opendems/evidence/api"
	"github.com/opendems/opendems/evidence/identity"
	"github.com/opendems/opendems/policy"
)

// Routes is retention's part of the route table: retention, categories
// and flags, subject requests, legal holds on items and cases, purges, the
// schedule and policy explain. Retention owns holds and categories: no
// other package changes them. Item and case routes are decided on the
// resource by the enforcement point (unit, ownership, restriction); one
// the caller may not see answers 404 like a missing one.
func (s *Service) Routes() []api.Route {
	act := func(a policy.Action) string { return string(a) }
	item := func(a policy.Action, summary string) api.Access {
		return api.Access{Action: act(a), Resource: api.KindItem, Summary: summary}
	}
	kase := func(a policy.Action, summary string) api.Access {
		return api.Access{Action: act(a), Resource: api.KindCase, Summary: summary}
	}
	return []api.Route{
		{Method: "GET", Path: "/api/v1/categories", Access: api.Access{Summary: "Retention categories"}, Handler: s.getCategories, Op: "listCategories", Out: CategoryList{}},
		{Method: "GET", Path: "/api/v1/evidence/:id/retention", Access: item(policy.ActEvidenceView, "The item's retention: deadline with explanation, holds, requests, purge decision"), Handler: s.getRetention, Op: "getRetention", Out: Report{}},
		{Method: "PUT", Path: "/api/v1/evidence/:id/categories", Access: item(policy.ActEvidenceCategorize, "Set the item's categories (recomputes retention; storage lock only extends)"), Handler: s.putCategories, Op: "setCategories", In: NamesRequest{}, Out: Status{}},
		{Method: "PUT", Path: "/api/v1/evidence/:id/category", Access: item(policy.ActEvidenceCategorize, "Set the item's one category (the review page's form of PUT .../categories); answers the item"), Handler: s.putCategory, Op: "setCategory", In: CategoryRequest{}, Out: evidence.Item{}},
		{Method: "PUT", Path: "/api/v1/evidence/:id/flags", Access: item(policy.ActEvidenceCategorize, "Set the item's flags, e.g. use-of-force (recomputes retention)"), Handler: s.putFlags, Op: "setFlags", In: NamesRequest{}, Out: Status{}},
		{Method: "POST", Path: "/api/v1/evidence/:id/subject-requests", Access: item(policy.ActSubjectRequest, "Record a subject's request to keep the item (extends retention)"), Handler: s.postSubjectRequest, Op: "addSubjectRequest", In: SubjectRequest{}, Out: Status{}, Status: http.StatusCreated},
		{Method: "POST", Path: "/api/v1/evidence/:id/hold", Access: item(policy.ActEvidenceHold, "Place a legal hold on the item (mirrored to storage)"), Handler: s.postItemHold, Op: "placeItemHold", In: HoldRequest{}, Out: HoldPlaced{}, Status: http.StatusCreated},
		{Method: "DELETE", Path: "/api/v1/evidence/:id/hold", Access: item(policy.ActEvidenceHold, "Release the item's legal hold(s)"), Handler: s.deleteItemHold, Op: "releaseItemHold", In: HoldRequest{}, InOptional: true, Out: HoldsReleased{}},
		{Method: "POST", Path: "/api/v1/cases/:id/hold", Access: kase(policy.ActCaseHold, "Place a legal hold on a case and every item in it (mirrored to storage)"), Handler: s.postCaseHold, Op: "placeCaseHold", In: HoldRequest{}, Out: CaseHoldResult{}, Status: http.StatusCreated},
		{Method: "DELETE", Path: "/api/v1/cases/:id/hold", Access: kase(policy.ActCaseHold, "Release a case's legal hold; each item returns to its own holds"), Handler: s.deleteCaseHold, Op: "releaseCaseHold", In: HoldRequest{}, InOptional: true, Out: CaseHoldResult{}},
		{Method: "GET", Path: "/api/v1/holds", Access: api.Access{Action: act(policy.ActEvidenceHold), Summary: "Legal holds agency-wide (?active=false for released ones too, ?limit=)"}, Handler: s.getHolds, Op: "listHolds", Query: HoldsQuery{}, Out: HoldList{}},
		{Method: "GET", Path: "/api/v1/purges", Access: api.Access{Action: act(policy.ActPurgeSchedule), Summary: "Upcoming purges (?before=RFC 3339 time or date, ?limit=)"}, Handler: s.getPurges, Op: "listPurges", Query: PurgesQuery{}, Out: PurgeList{}},
		{Method: "POST", Path: "/api/v1/evidence/:id/purge", Access: item(policy.ActPurgeSchedule, "Schedule the item's purge now (refused unless the purge policy allows it)"), Handler: s.postPurge, Op: "schedulePurge", In: ReasonRequest{}, InOptional: true, Out: ScheduledPurge{}, Status: http.StatusCreated},
		{Method: "POST", Path: "/api/v1/evidence/:id/purge/cancel", Access: item(policy.ActPurgeCancel, "Cancel the item's scheduled purge during its grace period"), Handler: s.postPurgeCancel, Op: "cancelPurge", In: ReasonRequest{}, InOptional: true, Out: PurgeCancelled{}},
		{Method: "GET", Path: "/api/v1/retention/schedule", Access: api.Access{Action: act(policy.ActAdminRetention), Summary: "The retention schedule in force"}, Handler: s.getSchedule, Op: "getRetentionSchedule", Out: ScheduleView{}},
		{Method: "GET", Path: "/api/v1/policy/explain", Access: api.Access{Action: act(policy.ActPolicyExplain), Summary: "Explain a decision: ?user=&action=&evidence= (action=purge explains destruction; &review= adds the separation of duties of a redaction review)"}, Handler: s.getExplain, Op: "explainPolicy", Query: ExplainQuery{}, Out: map[string]any{}},
	}
}

// CategoryInfo is one retention category as the review UI shows it.
type CategoryInfo struct {
	Name string `json:"name"`
	Keep string `json:"keep"` // e.g. "2y", "indefinite"
}

// Categories lists the schedule's categories in display order.
func (s *Service) Categories() []CategoryInfo {
	out := []CategoryInfo{}
	for _, k := range s.cfg.Schedule.Categories() {
		out = append(out, CategoryInfo{Name: k.Name, Keep: k.Keep.String()})
	}
	return out
}

func (s *Service) getCategories(c *gin.Context) {
	c.JSON(http.StatusOK, CategoryList{Categories: s.Categories()})
}

// itemAndCaller returns the item the middleware authorized and the caller.
func itemAndCaller(c *gin.Context) (uuid.UUID, identity.Principal, bool) {
	it, ok := api.ItemOf(c)
	p, pok := api.Principal(c)
	if !ok || !pok {
		// Only reachable if a route was declared without Item: fail closed.
		api.WriteError(c, errors.New("retention: route declared without its item"))
		return uuid.Nil, p, false
	}
	return it.ID, p, true
}

// Report is GET /api/v1/evidence/:id/retention.
type Report struct {
	Status
	Holds    []Hold                `json:"holds"`
	Purges   []ScheduledPurge      `json:"purges"`
	Decision *policy.PurgeDecision `json:"purge_decision,omitempty"`
}

func (s *Service) getRetention(c *gin.Context) {
	id, _, ok := itemAndCaller(c)
	if !ok {
		return
	}
	rep, err := s.Report(c.Request.Context(), id)
	if err != nil {
		api.WriteError(c, err)
		return
	}
	c.JSON(http.StatusOK, rep)
}

func (s *Service) putCategories(c *gin.Context) {
	id, p, ok := itemAndCaller(c)
	if !ok {
		return
	}
	var req NamesRequest
	if !api.Bind(c, &req) {
		return
	}
	if req.Flags != nil || req.Categories == nil {
		api.WriteError(c, &evidence.Error{Kind: evidence.ErrInvalid, Msg: `want {"categories": [...], "reason": "..."} (flags go to PUT .../flags)`})
		return
	}
	if !s.mayCategorize(c, req.Categories) {
		return
	}
	st, err := s.SetCategories(c.Request.Context(), id, req.Categories, p.Actor(), req.Reason)
	if err != nil {
		api.WriteError(c, err)
		return
	}
	c.JSON(http.StatusOK, st)
}

// mayCategorize decides categorize on the item as it would be afterwards
// too: a category the policy reserves (e.g. felony for officers) cannot
// be entered by whoever could not change it once there. It answers 403
// (audited) and returns false when refused.
func (s *Service) mayCategorize(c *gin.Context, categories []string) bool {
	if _, err := cleanNames("category", categories); err != nil {
		api.WriteError(c, err)
		return false
	}
	it, _ := api.ItemOf(c)
	after := it.Attributes()
	after.Categories = categories
	if api.Can(c, string(policy.ActEvidenceCategorize), &after) {
		return true
	}
	api.Deny(c, string(policy.ActEvidenceCategorize), &after, fmt.Sprintf("not permitted to put the item in %s", strings.Join(categories, ", ")))
	return false
}

// putCategory is PUT .../category {"category": "..."}: the review page's
// one-category form of SetCategories; it answers the updated item.
func (s *Service) putCategory(c *gin.Context) {
	id, p, ok := itemAndCaller(c)
	if !ok {
		return
	}
	var req CategoryRequest
	if !api.Bind(c, &req) {
		return
	}
	cat := strings.TrimSpace(req.Category)
	if !s.cfg.Schedule.HasCategory(cat) {
		api.WriteError(c, evidence.Invalid("category", fmt.Sprintf("unknown category %q", cat)))
		return
	}
	if !s.mayCategorize(c, []string{cat}) {
		return
	}
	if _, err := s.SetCategories(c.Request.Context(), id, []string{cat}, p.Actor(), ""); err != nil {
		api.WriteError(c, err)
		return
	}
	it, err := s.cfg.Evidence.Get(c.Request.Context(), id)
	if err != nil {
		api.WriteError(c, err)
		return
	}
	c.JSON(http.StatusOK, it)
}

func (s *Service) putFlags(c *gin.Context) {
	id, p, ok := itemAndCaller(c)
	if !ok {
		return
	}
	var req NamesRequest
	if !api.Bind(c, &req) {
		return
	}
	if req.Categories != nil || req.Flags == nil {
		api.WriteError(c, &evidence.Error{Kind: evidence.ErrInvalid, Msg: `want {"flags": [...]} (an empty list clears them)`})
		return
	}
	st, err := s.SetFlags(c.Request.Context(), id, req.Flags, p.Actor(), req.Reason)
	if err != nil {
		api.WriteError(c, err)
		return
	}
	c.JSON(http.StatusOK, st)
}

func (s *Service) postSubjectRequest(c *gin.Context) {
	id, p, ok := itemAndCaller(c)
	if !ok {
		return
	}
	var req SubjectRequest
	if !api.Bind(c, &req) {
		return
	}
	st, err := s.AddSubjectRequest(c.Request.Context(), id, req, p.Actor())
	if err != nil {
		api.WriteError(c, err)
		return
	}
	c.JSON(http.StatusCreated, st)
}

func (s *Service) postItemHold(c *gin.Context) {
	id, p, ok := itemAndCaller(c)
	if !ok {
		return
	}
	var req HoldRequest
	if !api.Bind(c, &req) {
		return
	}
	if req.HoldID != nil {
		api.WriteError(c, &evidence.Error{Kind: evidence.ErrInvalid, Msg: "hold_id is only for releasing a hold"})
		return
	}
	h, st, err := s.SetItemHold(c.Request.Context(), id, req.Reason, p)
	if err != nil {
		api.WriteError(c, err)
		return
	}
	c.JSON(http.StatusCreated, HoldPlaced{Hold: h, Status: st})
}

func (s *Service) deleteItemHold(c *gin.Context) {
	id, p, ok := itemAndCaller(c)
	if !ok {
		return
	}
	var req HoldRequest
	if !api.BindOptional(c, &req) {
		return
	}
	hs, st, err := s.ReleaseItemHold(c.Request.Context(), id, req.HoldID, req.Reason, p)
	if err != nil {
		api.WriteError(c, err)
		return
	}
	c.JSON(http.StatusOK, HoldsReleased{Released: hs, Status: st})
}

// caseOf returns the id of the case the enforcement point loaded and
// authorized for a case route.
func caseOf(c *gin.Context) (uuid.UUID, identity.Principal, bool) {
	p, _ := api.Principal(c)
	k, ok := api.ResourceOf[api.Loaded](c, api.KindCase)
	if !ok {
		api.WriteError(c, errors.New("retention: case route declared without its case"))
		return uuid.Nil, p, false
	}
	id, err := uuid.Parse(k.Attributes().ID)
	if err != nil {
		api.WriteError(c, fmt.Errorf("retention: case id: %w", err))
		return uuid.Nil, p, false
	}
	return id, p, true
}

func (s *Service) postCaseHold(c *gin.Context) {
	id, p, ok := caseOf(c)
	if !ok {
		return
	}
	var req HoldRequest
	if !api.Bind(c, &req) {
		return
	}
	if req.HoldID != nil {
		api.WriteError(c, &evidence.Error{Kind: evidence.ErrInvalid, Msg: "hold_id is only for releasing a hold"})
		return
	}
	res, err := s.SetCaseHold(c.Request.Context(), id, req.Reason, p)
	if err != nil {
		api.WriteError(c, err)
		return
	}
	c.JSON(http.StatusCreated, res)
}

func (s *Service) deleteCaseHold(c *gin.Context) {
	id, p, ok := caseOf(c)
	if !ok {
		return
	}
	var req HoldRequest
	if !api.BindOptional(c, &req) {
		return
	}
	res, err := s.ReleaseCaseHold(c.Request.Context(), id, req.Reason, p)
	if err != nil {
		api.WriteError(c, err)
		return
	}
	c.JSON(http.StatusOK, res)
}

// parseBefore reads ?before= as an RFC 3339 time or a date (midnight UTC).
func parseBefore(v string) (time.Time, error) {
	if v == "" {
		return time.Time{}, nil
	}
	if t, err := time.Parse(time.RFC3339, v); err == nil {
		return t, nil
	}
	if t, err := time.Parse(time.DateOnly, v); err == nil {
		return t, nil
	}
	return time.Time{}, errors.New("before: want an RFC 3339 time (2026-01-02T15:04:05Z) or a date (2026-01-02)")
}

func (s *Service) getPurges(c *gin.Context) {
	before, err := parseBefore(c.Query("before"))
	if err != nil {
		api.WriteError(c, &evidence.Error{Kind: evidence.ErrInvalid, Msg: err.Error()})
		return
	}
	limit := 0
	if v := c.Query("limit"); v != "" {
		if limit, err = strconv.Atoi(v); err != nil || limit < 1 || limit > 1000 {
			api.WriteError(c, &evidence.Error{Kind: evidence.ErrInvalid, Msg: "limit: want 1-1000"})
			return
		}
	}
	ps, err := s.UpcomingPurges(c.Request.Context(), before, limit)
	if err != nil {
		api.WriteError(c, err)
		return
	}
	c.JSON(http.StatusOK, PurgeList{Purges: ps, PurgeGrace: s.cfg.PurgeGrace.String()})
}

func (s *Service) getHolds(c *gin.Context) {
	active := true
	switch c.Query("active") {
	case "", "true":
	case "false":
		active = false
	default:
		api.WriteError(c, &evidence.Error{Kind: evidence.ErrInvalid, Msg: "active: want true or false"})
		return
	}
	limit := 0
	if v := c.Query("limit"); v != "" {
		var err error
		if limit, err = strconv.Atoi(v); err != nil || limit < 1 || limit > 1000 {
			api.WriteError(c, &evidence.Error{Kind: evidence.ErrInvalid, Msg: "limit: want 1-1000"})
			return
		}
	}
	hs, err := s.ListHolds(c.Request.Context(), active, limit)
	if err != nil {
		api.WriteError(c, err)
		return
	}
	c.JSON(http.StatusOK, HoldList{Holds: hs})
}

func (s *Service) postPurge(c *gin.Context) {
	id, p, ok := itemAndCaller(c)
	if !ok {
		return
	}
	var req ReasonRequest
	if !api.BindOptional(c, &req) {
		return
	}
	sp, err := s.SchedulePurge(c.Request.Context(), id, p.Actor(), req.Reason)
	if err != nil {
		api.WriteError(c, err)
		return
	}
	c.JSON(http.StatusCreated, sp)
}

func (s *Service) postPurgeCancel(c *gin.Context) {
	id, p, ok := itemAndCaller(c)
	if !ok {
		return
	}
	var req ReasonRequest
	if !api.BindOptional(c, &req) {
		return
	}
	if err := s.CancelPurge(c.Request.Context(), id, p.Actor(), req.Reason); err != nil {
		api.WriteError(c, err)
		return
	}
	c.JSON(http.StatusOK, PurgeCancelled{EvidenceID: id, Cancelled: true})
}

// ScheduleView is GET /api/v1/retention/schedule.
type ScheduleView struct {
	Source          string                 `json:"source"`
	Version         string                 `json:"version"`
	PurgeGrace      string                 `json:"purge_grace"`
	IndefiniteLock  string                 `json:"indefinite_lock"`
	Categories      []CategoryView         `json:"categories"`
	Config          *policy.ScheduleConfig `json:"config,omitempty"`
	StorageLockNote string                 `json:"storage_lock_note"`
}

// CategoryView is one category and its period.
type CategoryView struct {
	Name string `json:"name"`
	Keep string `json:"keep"`
}

func (s *Service) getSchedule(c *gin.Context) {
	v := ScheduleView{Source: s.cfg.ScheduleSource, Version: s.cfg.ScheduleVersion, PurgeGrace: s.cfg.PurgeGrace.String(),
		IndefiniteLock: s.cfg.IndefiniteLock.String(), Config: s.cfg.ScheduleConfig,
		StorageLockNote: "storage locks on originals are only ever extended; a shorter schedule shortens retain_until in the database, not the lock"}
	for _, cp := range s.cfg.Schedule.Categories() {
		v.Categories = append(v.Categories, CategoryView{Name: cp.Name, Keep: cp.Keep.String()})
	}
	c.JSON(http.StatusOK, v)
}

// PurgeExplanation is what explain returns for action=purge.
type PurgeExplanation struct {
	Mode       string               `json:"mode"` // "purge"
	EvidenceID uuid.UUID            `json:"evidence_id"`
	Decision   policy.PurgeDecision `json:"decision"`
}

func (s *Service) getExplain(c *gin.Context) {
	ctx := c.Request.Context()
	if s.cfg.Identity == nil || s.cfg.Evidence == nil {
		api.WriteError(c, evidence.E(evidence.ErrUnavailable, "", "policy explain is not configured", nil))
		return
	}
	actionParam := c.Query("action")
	var res *evidence.Attributes
	var itemID uuid.UUID
	if ev := c.Query("evidence"); ev != "" {
		id, err := uuid.Parse(ev)
		if err != nil {
			api.WriteError(c, evidence.NotFound(""))
			return
		}
		// The caller must be allowed to ask about the item; one they may
		// not see answers like a missing one (no IDOR oracle).
		it, ok := api.Load[*evidence.Item](c, api.KindItem, id, string(policy.ActPolicyExplain))
		if !ok {
			return
		}
		a := it.Attributes()
		res, itemID = &a, it.ID
	}
	if actionParam == policy.ActPurge {
		if res == nil {
			api.WriteError(c, evidence.Invalid("evidence", "action=purge needs evidence="))
			return
		}
		d, err := s.DecidePurge(ctx, itemID)
		if err != nil {
			api.WriteError(c, err)
			return
		}
		c.JSON(http.StatusOK, PurgeExplanation{Mode: "purge", EvidenceID: itemID, Decision: d})
		return
	}
	if _, err := policy.ParseAction(actionParam); err != nil {
		api.WriteError(c, evidence.Invalid("action", "want one of the policy actions (e.g. evidence:view) or purge"))
		return
	}
	username := c.Query("user")
	if username == "" {
		api.WriteError(c, evidence.Invalid("user", "required (a username)"))
		return
	}
	u, err := s.cfg.Identity.UserByName(ctx, username)
	if caller, _ := api.Principal(c); err == nil && !mayExplainUser(caller, u) {
		err = evidence.ErrNotFound // the same answer as a missing user
	}
	if err != nil {
		api.WriteError(c, err)
		return
	}
	for param, explain := range s.explainers {
		v := c.Query(param)
		if v == "" {
			continue
		}
		id, err := uuid.Parse(v)
		if err != nil {
			api.WriteError(c, evidence.NotFound(param))
			return
		}
		out, err := explain(c, u.Principal("explain"), actionParam, id)
		if err != nil {
			api.WriteError(c, err)
			return
		}
		c.JSON(http.StatusOK, out)
		return
	}
	ex, err := api.Explain(c, u.Principal("explain"), actionParam, res)
	if err != nil {
		api.WriteError(c, err)
		return
	}
	c.JSON(http.StatusOK, ex)
}

// Explainer explains a decision about a resource of another package that
// involves more than the policy file (e.g. evidence/release's separation
// of duties on a review), named by a query parameter of the explain route.
type Explainer func(c *gin.Context, subject identity.Principal, action string, id uuid.UUID) (any, error)

// SetExplainer makes GET /api/v1/policy/explain?<param>=<id> answer with
// explain; call it while wiring, before serving.
func (s *Service) SetExplainer(param string, explain Explainer) {
	if s.explainers == nil {
		s.explainers = map[string]Explainer{}
	}
	s.explainers[param] = explain
}

// Report returns an item's retention, holds, schedule history and the
// purge decision as of now, without changing anything.
func (s *Service) Report(ctx context.Context, id uuid.UUID) (Report, error) {
	var rep Report
	err := pgx.BeginFunc(ctx, s.cfg.Pool, func(tx pgx.Tx) error {
		r, err := readItem(ctx, tx, id)
		if err != nil {
			return err
		}
		f, err := loadFacts(ctx, tx, id)
		if err != nil {
			return err
		}
		var expl string
		var storageUntil *time.Time
		if err := tx.QueryRow(ctx, `SELECT i.retention_explanation, o.retain_until FROM evidence_items i
			LEFT JOIN objects o ON o.namespace = 'originals' AND o.sha256 = i.sha256 WHERE i.id = $1`, id).Scan(&expl, &storageUntil); err != nil {
			return err
		}
		rep.Status = Status{EvidenceID: r.ID, State: r.State, Categories: r.Categories, Flags: r.Flags, RetainUntil: r.RetainUntil,
			Indefinite: r.Indefinite, Explanation: expl, LegalHold: r.LegalHold, StorageRetainUntil: storageUntil,
			ItemHolds: f.ItemHolds, CaseHolds: f.CaseHolds, SubjectRequests: len(f.SubjectRequests), OpenAccessRequests: f.OpenAccess}
		if rep.CaseHolds == nil {
			rep.CaseHolds = []string{}
		}
		if r.State != "purged" {
			d, _, err := s.decide(ctx, tx, r)
			if err == nil {
				rep.Decision = &d
			}
		}
		rows, err := tx.Query(ctx, `SELECT id, evidence_id, state, retain_until, rule, rule_source, reason, scheduled_by, scheduled_at,
			due_at, closed_by, closed_at, close_reason FROM purge_schedule WHERE evidence_id = $1 ORDER BY scheduled_at DESC`, id)
		if err != nil {
			return err
		}
		rep.Purges, err = pgx.CollectRows(rows, func(row pgx.CollectableRow) (ScheduledPurge, error) {
			var p ScheduledPurge
			err := row.Scan(&p.ID, &p.EvidenceID, &p.State, &p.RetainUntil, &p.Rule, &p.RuleSource, &p.Reason, &p.ScheduledBy,
				&p.ScheduledAt, &p.DueAt, &p.ClosedBy, &p.ClosedAt, &p.CloseReason)
			return p, err
		})
		return err
	})
	if err != nil {
		return rep, fmt.Errorf("retention: report %s: %w", id, err)
	}
	if rep.Purges == nil {
		rep.Purges = []ScheduledPurge{}
	}
	if rep.Holds, err = s.Holds(ctx, id, false); err != nil {
		return rep, err
	}
	return rep, nil
}
