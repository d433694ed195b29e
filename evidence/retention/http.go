package retention

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/opendems/opendems/evidence/api"
	"github.com/opendems/opendems/evidence/identity"
	"github.com/opendems/opendems/policy"
)

// Routes is the access table of the routes Register mounts, for
// api.Server.Declare. Item routes are authorized on the item by the API
// middleware (unit, ownership, restriction); an item the caller may not
// see answers 404 like a missing one.
func Routes() map[string]api.Access {
	act := func(a policy.Action) string { return string(a) }
	return map[string]api.Access{
		"GET /api/v1/evidence/:id/retention":         {Action: act(policy.ActEvidenceView), Item: true, Summary: "The item's retention: deadline with explanation, holds, requests, purge decision"},
		"PUT /api/v1/evidence/:id/categories":        {Action: act(policy.ActEvidenceCategorize), Item: true, Summary: "Set the item's categories (recomputes retention; storage lock only extends)"},
		"PUT /api/v1/evidence/:id/flags":             {Action: act(policy.ActEvidenceCategorize), Item: true, Summary: "Set the item's flags, e.g. use-of-force (recomputes retention)"},
		"POST /api/v1/evidence/:id/subject-requests": {Action: act(policy.ActRequestEdit), Item: true, Summary: "Record a subject's request to keep the item (extends retention)"},
		"POST /api/v1/evidence/:id/hold":             {Action: act(policy.ActEvidenceHold), Item: true, Summary: "Place a legal hold on the item (mirrored to storage)"},
		"DELETE /api/v1/evidence/:id/hold":           {Action: act(policy.ActEvidenceHold), Item: true, Summary: "Release the item's legal hold(s)"},
		"GET /api/v1/holds":                          {Action: act(policy.ActEvidenceHold), Summary: "Legal holds agency-wide (?active=false for released ones too, ?limit=)"},
		"GET /api/v1/purges":                         {Action: act(policy.ActPurgeSchedule), Summary: "Upcoming purges (?before=RFC 3339 time or date, ?limit=)"},
		"POST /api/v1/evidence/:id/purge":            {Action: act(policy.ActPurgeSchedule), Item: true, Summary: "Schedule the item's purge now (refused unless the purge policy allows it)"},
		"POST /api/v1/evidence/:id/purge/cancel":     {Action: act(policy.ActPurgeCancel), Item: true, Summary: "Cancel the item's scheduled purge during its grace period"},
		"GET /api/v1/retention/schedule":             {Action: act(policy.ActAdminRetention), Summary: "The retention schedule in force"},
		"GET /api/v1/policy/explain":                 {Action: act(policy.ActPolicyExplain), Summary: "Explain a decision: ?user=&action=&evidence= (action=purge explains destruction)"},
	}
}

// CaseHoldRoutes is the access table of RegisterCaseHolds. It is separate
// because evidence/review also offers POST/DELETE /api/v1/cases/:id/hold
// (through RecomputeTx); cmd mounts exactly one of the two.
func CaseHoldRoutes() map[string]api.Access {
	return map[string]api.Access{
		"POST /api/v1/cases/:id/hold":   {Action: string(policy.ActCaseHold), Summary: "Place a legal hold on a case and every item in it (mirrored to storage)"},
		"DELETE /api/v1/cases/:id/hold": {Action: string(policy.ActCaseHold), Summary: "Release a case's legal hold; each item returns to its own holds"},
	}
}

// RegisterCaseHolds mounts the case hold routes of CaseHoldRoutes on e.
func (s *Service) RegisterCaseHolds(e *gin.Engine) {
	v1 := e.Group("/api/v1")
	v1.POST("/cases/:id/hold", s.postCaseHold)
	v1.DELETE("/cases/:id/hold", s.deleteCaseHold)
}

// Register mounts the routes of Routes on e.
func (s *Service) Register(e *gin.Engine) {
	v1 := e.Group("/api/v1")
	v1.GET("/evidence/:id/retention", s.getRetention)
	v1.PUT("/evidence/:id/categories", s.putCategories)
	v1.PUT("/evidence/:id/flags", s.putFlags)
	v1.POST("/evidence/:id/subject-requests", s.postSubjectRequest)
	v1.POST("/evidence/:id/hold", s.postItemHold)
	v1.DELETE("/evidence/:id/hold", s.deleteItemHold)
	v1.GET("/holds", s.getHolds)
	v1.GET("/purges", s.getPurges)
	v1.POST("/evidence/:id/purge", s.postPurge)
	v1.POST("/evidence/:id/purge/cancel", s.postPurgeCancel)
	v1.GET("/retention/schedule", s.getSchedule)
	v1.GET("/policy/explain", s.getExplain)
}

const maxBody = 64 << 10

// readJSON decodes an optional (empty allowed when optional) strict JSON
// body. It writes the error and returns false on bad input.
func readJSON(c *gin.Context, v any, optional bool) bool {
	body, err := io.ReadAll(io.LimitReader(c.Request.Body, maxBody+1))
	if err != nil {
		api.WriteError(c, api.Errorf(http.StatusBadRequest, "malformed_json", "cannot read body"))
		return false
	}
	if len(body) > maxBody {
		api.WriteError(c, api.Errorf(http.StatusRequestEntityTooLarge, "too_large", "request body too large"))
		return false
	}
	if len(strings.TrimSpace(string(body))) == 0 {
		if optional {
			return true
		}
		api.WriteError(c, api.Errorf(http.StatusBadRequest, "malformed_json", "a JSON body is required"))
		return false
	}
	if ct := c.ContentType(); ct != "application/json" {
		api.WriteError(c, api.Errorf(http.StatusUnsupportedMediaType, "unsupported_media_type", "want Content-Type: application/json"))
		return false
	}
	dec := json.NewDecoder(strings.NewReader(string(body)))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		api.WriteError(c, api.Errorf(http.StatusBadRequest, "malformed_json", "malformed JSON: "+err.Error()))
		return false
	}
	if dec.More() {
		api.WriteError(c, api.Errorf(http.StatusBadRequest, "malformed_json", "malformed JSON: trailing data"))
		return false
	}
	return true
}

// writeErr maps this package's errors to statuses; everything else goes
// to api.WriteError (which answers 500 without internals).
func writeErr(c *gin.Context, err error) {
	var refused *RefusedError
	switch {
	case errors.As(err, &refused):
		c.AbortWithStatusJSON(http.StatusConflict, gin.H{
			"error":    gin.H{"code": "purge_refused", "message": refused.Decision.Reason},
			"decision": refused.Decision,
		})
	case errors.Is(err, ErrInvalid):
		api.WriteError(c, api.Errorf(http.StatusBadRequest, "invalid", err.Error()))
	case errors.Is(err, ErrNotFound):
		api.WriteError(c, api.Errorf(http.StatusNotFound, "not_found", "not found"))
	case errors.Is(err, ErrPurged):
		api.WriteError(c, api.Errorf(http.StatusConflict, "purged", "the item has been purged; only its record remains"))
	case errors.Is(err, ErrConflict):
		api.WriteError(c, api.Errorf(http.StatusConflict, "conflict", err.Error()))
	default:
		api.WriteError(c, err)
	}
}

// itemAndCaller returns the item the middleware authorized and the caller.
func itemAndCaller(c *gin.Context) (uuid.UUID, identity.Principal, bool) {
	it, ok := api.ItemOf(c)
	p, pok := api.Principal(c)
	if !ok || !pok {
		// Only reachable if a route was declared without Item: fail closed.
		api.WriteError(c, api.Errorf(http.StatusInternalServerError, "internal", "internal error"))
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
		writeErr(c, err)
		return
	}
	c.JSON(http.StatusOK, rep)
}

type namesRequest struct {
	Categories []string `json:"categories"`
	Flags      []string `json:"flags"`
	Reason     string   `json:"reason"`
}

func (s *Service) putCategories(c *gin.Context) {
	id, p, ok := itemAndCaller(c)
	if !ok {
		return
	}
	var req namesRequest
	if !readJSON(c, &req, false) {
		return
	}
	if req.Flags != nil || req.Categories == nil {
		api.WriteError(c, api.Errorf(http.StatusBadRequest, "invalid", `want {"categories": [...], "reason": "..."} (flags go to PUT .../flags)`))
		return
	}
	// Decide categorize on the item as it would be afterwards too (the
	// same rule evidence/review applies): a category the policy reserves
	// (e.g. felony for officers) cannot be entered by whoever could not
	// change it once there.
	if it, ok := api.ItemOf(c); ok && s.cfg.Access != nil {
		after := policy.Resource{Kind: "evidence", ID: it.ID.String(), UnitPath: it.UnitPath, OfficerID: it.OfficerID,
			Categories: req.Categories, Restricted: it.Restricted}
		if d, err := s.cfg.Access.Decide(Subject(p), policy.ActEvidenceCategorize, after); err != nil || !d.Allowed {
			if errors.Is(err, policy.ErrInvalidResource) {
				api.WriteError(c, api.Errorf(http.StatusBadRequest, "invalid", err.Error()))
				return
			}
			s.audit(c, p, map[string]any{"action": string(policy.ActEvidenceCategorize), "evidence_id": it.ID.String(),
				"categories": req.Categories, "rule": d.Rule, "reason": d.Reason})
			api.WriteError(c, api.Errorf(http.StatusForbidden, "forbidden", "not permitted to put the item in these categories: "+d.Reason))
			return
		}
	}
	st, err := s.SetCategories(c.Request.Context(), id, req.Categories, p.Actor(), req.Reason)
	if err != nil {
		writeErr(c, err)
		return
	}
	c.JSON(http.StatusOK, st)
}

func (s *Service) putFlags(c *gin.Context) {
	id, p, ok := itemAndCaller(c)
	if !ok {
		return
	}
	var req namesRequest
	if !readJSON(c, &req, false) {
		return
	}
	if req.Categories != nil || req.Flags == nil {
		api.WriteError(c, api.Errorf(http.StatusBadRequest, "invalid", `want {"flags": [...]} (an empty list clears them)`))
		return
	}
	st, err := s.SetFlags(c.Request.Context(), id, req.Flags, p.Actor(), req.Reason)
	if err != nil {
		writeErr(c, err)
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
	if !readJSON(c, &req, false) {
		return
	}
	st, err := s.AddSubjectRequest(c.Request.Context(), id, req, p.Actor())
	if err != nil {
		writeErr(c, err)
		return
	}
	c.JSON(http.StatusCreated, st)
}

type holdRequest struct {
	Reason string     `json:"reason"`
	HoldID *uuid.UUID `json:"hold_id"`
}

func (s *Service) postItemHold(c *gin.Context) {
	id, p, ok := itemAndCaller(c)
	if !ok {
		return
	}
	var req holdRequest
	if !readJSON(c, &req, false) {
		return
	}
	if req.HoldID != nil {
		api.WriteError(c, api.Errorf(http.StatusBadRequest, "invalid", "hold_id is only for releasing a hold"))
		return
	}
	h, st, err := s.SetItemHold(c.Request.Context(), id, req.Reason, p)
	if err != nil {
		writeErr(c, err)
		return
	}
	c.JSON(http.StatusCreated, gin.H{"hold": h, "status": st})
}

func (s *Service) deleteItemHold(c *gin.Context) {
	id, p, ok := itemAndCaller(c)
	if !ok {
		return
	}
	var req holdRequest
	if !readJSON(c, &req, true) {
		return
	}
	hs, st, err := s.ReleaseItemHold(c.Request.Context(), id, req.HoldID, req.Reason, p)
	if err != nil {
		writeErr(c, err)
		return
	}
	c.JSON(http.StatusOK, gin.H{"released": hs, "status": st})
}

// caseFor parses :id and, when an Access policy is configured, decides
// the action on the case itself (its unit), answering 404 for a case the
// caller may not even read, like a missing one.
func (s *Service) caseFor(c *gin.Context, act policy.Action) (uuid.UUID, identity.Principal, bool) {
	p, _ := api.Principal(c)
	id, err := uuid.Parse(c.Param("id"))
	if err != nil {
		api.WriteError(c, api.Errorf(http.StatusNotFound, "not_found", "not found"))
		return id, p, false
	}
	unit, err := s.CaseUnit(c.Request.Context(), id)
	if err != nil {
		writeErr(c, err)
		return id, p, false
	}
	if s.cfg.Access != nil {
		sub := Subject(p)
		res := policy.Resource{Kind: "case", ID: id.String(), UnitPath: unit}
		if d, err := s.cfg.Access.Decide(sub, act, res); err != nil || !d.Allowed {
			s.audit(c, p, map[string]any{"action": string(act), "case_id": id.String(), "rule": d.Rule, "reason": d.Reason})
			if r, err := s.cfg.Access.Decide(sub, policy.ActCaseRead, res); err == nil && r.Allowed {
				api.WriteError(c, api.Errorf(http.StatusForbidden, "forbidden", "not permitted"))
			} else {
				api.WriteError(c, api.Errorf(http.StatusNotFound, "not_found", "not found"))
			}
			return id, p, false
		}
	}
	return id, p, true
}

func (s *Service) postCaseHold(c *gin.Context) {
	id, p, ok := s.caseFor(c, policy.ActCaseHold)
	if !ok {
		return
	}
	var req holdRequest
	if !readJSON(c, &req, false) {
		return
	}
	if req.HoldID != nil {
		api.WriteError(c, api.Errorf(http.StatusBadRequest, "invalid", "hold_id is only for releasing a hold"))
		return
	}
	res, err := s.SetCaseHold(c.Request.Context(), id, req.Reason, p)
	if err != nil {
		writeErr(c, err)
		return
	}
	c.JSON(http.StatusCreated, res)
}

func (s *Service) deleteCaseHold(c *gin.Context) {
	id, p, ok := s.caseFor(c, policy.ActCaseHold)
	if !ok {
		return
	}
	var req holdRequest
	if !readJSON(c, &req, true) {
		return
	}
	res, err := s.ReleaseCaseHold(c.Request.Context(), id, req.Reason, p)
	if err != nil {
		writeErr(c, err)
		return
	}
	c.JSON(http.StatusOK, res)
}

// audit records a denial decided in this package.
func (s *Service) audit(c *gin.Context, p identity.Principal, details map[string]any) {
	if s.cfg.Auditor == nil {
		return
	}
	details["route"] = c.Request.Method + " " + c.FullPath()
	s.cfg.Auditor.Audit(c.Request.Context(), api.AuditEvent{Type: "access_denied", Actor: p.Actor(), Outcome: "denied",
		SourceAddr: c.ClientIP(), Details: details})
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
		api.WriteError(c, api.Errorf(http.StatusBadRequest, "invalid", err.Error()))
		return
	}
	limit := 0
	if v := c.Query("limit"); v != "" {
		if limit, err = strconv.Atoi(v); err != nil || limit < 1 || limit > 1000 {
			api.WriteError(c, api.Errorf(http.StatusBadRequest, "invalid", "limit: want 1-1000"))
			return
		}
	}
	ps, err := s.UpcomingPurges(c.Request.Context(), before, limit)
	if err != nil {
		writeErr(c, err)
		return
	}
	c.JSON(http.StatusOK, gin.H{"purges": ps, "purge_grace": s.cfg.PurgeGrace.String()})
}

func (s *Service) getHolds(c *gin.Context) {
	active := true
	switch c.Query("active") {
	case "", "true":
	case "false":
		active = false
	default:
		api.WriteError(c, api.Errorf(http.StatusBadRequest, "invalid", "active: want true or false"))
		return
	}
	limit := 0
	if v := c.Query("limit"); v != "" {
		var err error
		if limit, err = strconv.Atoi(v); err != nil || limit < 1 || limit > 1000 {
			api.WriteError(c, api.Errorf(http.StatusBadRequest, "invalid", "limit: want 1-1000"))
			return
		}
	}
	hs, err := s.ListHolds(c.Request.Context(), active, limit)
	if err != nil {
		writeErr(c, err)
		return
	}
	c.JSON(http.StatusOK, gin.H{"holds": hs})
}

type reasonRequest struct {
	Reason string `json:"reason"`
}

func (s *Service) postPurge(c *gin.Context) {
	id, p, ok := itemAndCaller(c)
	if !ok {
		return
	}
	var req reasonRequest
	if !readJSON(c, &req, true) {
		return
	}
	sp, err := s.SchedulePurge(c.Request.Context(), id, p.Actor(), req.Reason)
	if err != nil {
		writeErr(c, err)
		return
	}
	c.JSON(http.StatusCreated, sp)
}

func (s *Service) postPurgeCancel(c *gin.Context) {
	id, p, ok := itemAndCaller(c)
	if !ok {
		return
	}
	var req reasonRequest
	if !readJSON(c, &req, true) {
		return
	}
	if err := s.CancelPurge(c.Request.Context(), id, p.Actor(), req.Reason); err != nil {
		writeErr(c, err)
		return
	}
	c.JSON(http.StatusOK, gin.H{"evidence_id": id, "cancelled": true})
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

// Subject translates a principal for the access policy (the same mapping
// cmd/demsd's authorizer uses).
func Subject(p identity.Principal) policy.Subject {
	kind := policy.KindUser
	if p.Kind == identity.KindDock {
		kind = policy.KindDock
	}
	return policy.Subject{ID: p.ID.String(), Kind: kind, Role: policy.Role(p.Role), UnitPath: p.UnitPath, Badge: p.Badge, Groups: p.Groups}
}

// PurgeExplanation is what explain returns for action=purge.
type PurgeExplanation struct {
	Mode       string               `json:"mode"` // "purge"
	EvidenceID uuid.UUID            `json:"evidence_id"`
	Decision   policy.PurgeDecision `json:"decision"`
}

func (s *Service) getExplain(c *gin.Context) {
	ctx := c.Request.Context()
	if s.cfg.Access == nil || s.cfg.Identity == nil || s.cfg.Evidence == nil {
		api.WriteError(c, api.Errorf(http.StatusNotImplemented, "not_configured", "policy explain is not configured"))
		return
	}
	caller, _ := api.Principal(c)
	actionParam := c.Query("action")
	var res *policy.Resource
	var itemID uuid.UUID
	if ev := c.Query("evidence"); ev != "" {
		id, err := uuid.Parse(ev)
		if err != nil {
			api.WriteError(c, api.Errorf(http.StatusNotFound, "not_found", "not found"))
			return
		}
		it, err := s.cfg.Evidence.Get(ctx, id)
		if err != nil {
			api.WriteError(c, err)
			return
		}
		r := policy.Resource{Kind: "evidence", ID: it.ID.String(), UnitPath: it.UnitPath, OfficerID: it.OfficerID,
			Categories: it.Categories, Restricted: it.Restricted}
		// The caller must be allowed to see the item and to ask about it;
		// otherwise the item answers like a missing one (no IDOR oracle).
		sub := Subject(caller)
		v, err1 := s.cfg.Access.Decide(sub, policy.ActEvidenceView, r)
		x, err2 := s.cfg.Access.Decide(sub, policy.ActPolicyExplain, r)
		if err1 != nil || err2 != nil || !v.Allowed || !x.Allowed {
			s.audit(c, caller, map[string]any{"action": string(policy.ActPolicyExplain), "evidence_id": it.ID.String(),
				"rule": v.Rule + " / " + x.Rule, "reason": "may not view or ask about the item"})
			api.WriteError(c, api.Errorf(http.StatusNotFound, "not_found", "not found"))
			return
		}
		res, itemID = &r, it.ID
	}
	if actionParam == policy.ActPurge {
		if res == nil {
			api.WriteError(c, api.Errorf(http.StatusBadRequest, "invalid", "action=purge needs evidence="))
			return
		}
		d, err := s.DecidePurge(ctx, itemID)
		if err != nil {
			writeErr(c, err)
			return
		}
		c.JSON(http.StatusOK, PurgeExplanation{Mode: "purge", EvidenceID: itemID, Decision: d})
		return
	}
	act, err := policy.ParseAction(actionParam)
	if err != nil {
		api.WriteError(c, api.Errorf(http.StatusBadRequest, "invalid", "action: want one of the policy actions (e.g. evidence:view) or purge"))
		return
	}
	username := c.Query("user")
	if username == "" {
		api.WriteError(c, api.Errorf(http.StatusBadRequest, "invalid", "user: required (a username)"))
		return
	}
	u, err := s.cfg.Identity.UserByName(ctx, username)
	if err != nil {
		api.WriteError(c, err)
		return
	}
	ex, err := s.cfg.Access.Explain(Subject(u.Principal("explain")), act, res)
	if err != nil {
		if errors.Is(err, policy.ErrInvalidSubject) || errors.Is(err, policy.ErrInvalidResource) {
			api.WriteError(c, api.Errorf(http.StatusBadRequest, "invalid", err.Error()))
			return
		}
		api.WriteError(c, err)
		return
	}
	c.JSON(http.StatusOK, ex)
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
