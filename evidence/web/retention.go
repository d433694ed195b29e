package web

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/google/uuid"

	"github.com/opendems/opendems/evidence"
	"github.com/opendems/opendems/evidence/api"
	"github.com/opendems/opendems/evidence/identity"
	"github.com/opendems/opendems/evidence/review"
)

// RetentionSchedule is the retention schedule in force, for display. It
// is read-only here: the schedule is a reviewed file
// (configs/policy/retention.yaml or policy.retention_file), not a form.
type RetentionSchedule struct {
	Source          string // the file it was read from
	Version         string // sha256 of the file
	DefaultCategory string
	Categories      []RetentionPeriod
	Flags           []RetentionPeriod // Keep is the extension a flag adds
	SubjectRequest  string            // how long a subject's request keeps an item
	PurgeGrace      time.Duration     // between scheduling a purge and carrying it out
}

// RetentionPeriod is one category's period or one flag's extension.
type RetentionPeriod struct {
	Name        string
	Keep        string // a period as the schedule writes it ("2y", "indefinite")
	Description string
}

// LegalHold is one active legal hold on an item or on a case.
type LegalHold struct {
	ID         uuid.UUID
	EvidenceID *uuid.UUID // set for an item hold
	CaseID     *uuid.UUID // set for a case hold
	Reason     string
	SetBy      string // username
	SetAt      time.Time
}

// RetentionAdmin is what the retention and holds pages need from the
// retention service (evidence/retention, through an adapter in
// cmd/demsd). Callers decide access first; these methods do not.
type RetentionAdmin interface {
	// Schedule is the schedule the service was built with.
	Schedule() RetentionSchedule
	// ActiveHolds lists active legal holds, newest first, at most limit.
	ActiveHolds(ctx context.Context, limit int) ([]LegalHold, error)
	// HoldItem places a legal hold on one item.
	HoldItem(ctx context.Context, id uuid.UUID, reason string, by identity.Principal) error
	// ReleaseItemHold releases one hold of the item.
	ReleaseItemHold(ctx context.Context, id, holdID uuid.UUID, by identity.Principal) error
	// CancelPurge cancels the item's scheduled purge during its grace period.
	CancelPurge(ctx context.Context, id uuid.UUID, actor, reason string) error
}

// RefusedError is a retention change the service refused for a reason the
// user can act on (no reason given, nothing scheduled, already purged).
// The adapter translates the service's own errors into it so the page
// shows the message instead of a server error.
type RefusedError struct{ Msg string }

func (e *RefusedError) Error() string { return e.Msg }

// retentionData is the model of the retention page.
type retentionData struct {
	Schedule   RetentionSchedule
	Purges     []UpcomingPurge
	ShowPurges bool
	CanCancel  bool
}

// holdRow is one hold as the holds page lists it.
type holdRow struct {
	LegalHold
	Label      string // item title or case number
	Unit       string
	CanRelease bool
}

// holdsData is the model of the holds page.
type holdsData struct {
	Items   []holdRow
	Cases   []holdRow
	CanHold bool   // may place item holds (evidence:hold)
	FormID  string // kept after a refused hold
	Reason  string
}

// retentionReady fails the request when cmd did not wire Deps.Retention
// (a build without the retention service), instead of a nil dereference.
func (u *UI) retentionReady(c *gin.Context, v *view) bool {
	if u.d.Retention == nil {
		u.serverError(c, v, errors.New("web: retention is not configured"))
		return false
	}
	return true
}

func (u *UI) adminRetention(c *gin.Context, v *view) {
	if !u.admin(c, v, "admin:retention", "view the retention schedule") || !u.retentionReady(c, v) {
		return
	}
	d := retentionData{Schedule: u.d.Retention.Schedule(), ShowPurges: v.Can["purge:schedule"] && u.d.Purges != nil, CanCancel: v.Can["purge:cancel"]}
	if d.ShowPurges {
		ps, err := u.d.Purges.UpcomingPurges(c.Request.Context(), time.Time{}, 200)
		if err != nil {
			u.serverError(c, v, err)
			return
		}
		d.Purges = ps
	}
	v.Title, v.Nav, v.Data = "Retention", "admin", d
	if v.Flash == "" {
		v.Flash = c.Query("flash")
	}
	u.render(c, "admin_retention", v)
}

// itemFor reads the :id item and decides action on it; a missing item and
// one the caller may not act on answer alike (404, audited when denied).
func (u *UI) itemFor(c *gin.Context, v *view, raw, action string) (*evidence.Item, bool) {
	id, err := uuid.Parse(strings.TrimSpace(raw))
	if err != nil {
		u.notFound(c, v)
		return nil, false
	}
	it, err := u.d.Evidence.Get(c.Request.Context(), id)
	if errors.Is(err, evidence.ErrNotFound) {
		u.notFound(c, v)
		return nil, false
	}
	if err != nil {
		u.serverError(c, v, err)
		return nil, false
	}
	if d := u.d.Authorizer.AuthorizeItem(c.Request.Context(), *v.User, action, &it); !d.Allowed {
		u.audit(c, api.AuditEvent{Type: "access_denied", Actor: v.User.Actor(), Outcome: "denied", Details: map[string]any{
			"action": action, "evidence_id": it.ID.String(), "rule": d.Rule, "reason": d.Reason, "via": "web"}})
		u.notFound(c, v)
		return nil, false
	}
	return &it, true
}

// refused re-renders page with the service's refusal, or fails.
func (u *UI) refused(c *gin.Context, v *view, err error, again func(*gin.Context, *view)) {
	var re *RefusedError
	if !errors.As(err, &re) {
		u.serverError(c, v, err)
		return
	}
	v.Status, v.Error = http.StatusConflict, "Not done: "+re.Msg
	again(c, v)
}

func (u *UI) adminCancelPurge(c *gin.Context, v *view) {
	if !u.admin(c, v, "purge:cancel", "cancel purges") || !u.retentionReady(c, v) {
		return
	}
	it, ok := u.itemFor(c, v, c.Param("id"), "purge:cancel")
	if !ok {
		return
	}
	reason := strings.TrimSpace(c.PostForm("reason"))
	if err := u.d.Retention.CancelPurge(c.Request.Context(), it.ID, v.User.Actor(), reason); err != nil {
		u.refused(c, v, err, u.adminRetention)
		return
	}
	c.Redirect(http.StatusSeeOther, "/admin/retention?flash="+urlq("Purge of "+itemTitle(it)+" cancelled; it will not be scheduled again for the same retain-until date."))
}

// canHolds is who sees the holds page: whoever may hold items or cases.
func (u *UI) canHolds(c *gin.Context, v *view) bool {
	if v.Can["evidence:hold"] || v.Can["case:hold"] {
		return true
	}
	return u.admin(c, v, "evidence:hold", "manage legal holds")
}

func (u *UI) adminHolds(c *gin.Context, v *view) {
	if !u.canHolds(c, v) {
		return
	}
	u.holdsPage(c, v, holdsData{})
}

func (u *UI) holdsPage(c *gin.Context, v *view, d holdsData) {
	ctx := c.Request.Context()
	if !u.retentionReady(c, v) {
		return
	}
	hs, err := u.d.Retention.ActiveHolds(ctx, 500)
	if err != nil {
		u.serverError(c, v, err)
		return
	}
	p := *v.User
	d.CanHold = v.Can["evidence:hold"]
	for _, h := range hs {
		r := holdRow{LegalHold: h}
		switch {
		case h.EvidenceID != nil:
			it, err := u.d.Evidence.Get(ctx, *h.EvidenceID)
			if errors.Is(err, evidence.ErrNotFound) {
				continue
			}
			if err != nil {
				u.serverError(c, v, err)
				return
			}
			// An item the caller may not view is not listed at all.
			if !u.d.Authorizer.AuthorizeItem(ctx, p, "evidence:view", &it).Allowed {
				continue
			}
			r.Label, r.Unit = itemTitle(&it), it.UnitPath
			r.CanRelease = u.d.Authorizer.AuthorizeItem(ctx, p, "evidence:hold", &it).Allowed
			d.Items = append(d.Items, r)
		case h.CaseID != nil:
			if !v.Can["case:read"] {
				continue
			}
			k, err := u.d.Review.Case(ctx, p, *h.CaseID)
			if errors.Is(err, review.ErrNotFound) {
				continue
			}
			if err != nil {
				u.serverError(c, v, err)
				return
			}
			r.Label, r.Unit, r.CanRelease = k.Number, k.UnitPath, v.Can["case:hold"]
			d.Cases = append(d.Cases, r)
		}
	}
	v.Title, v.Nav, v.Data = "Legal holds", "admin", d
	if v.Flash == "" {
		v.Flash = c.Query("flash")
	}
	u.render(c, "admin_holds", v)
}

func (u *UI) adminPlaceHold(c *gin.Context, v *view) {
	if !u.admin(c, v, "evidence:hold", "place legal holds") || !u.retentionReady(c, v) {
		return
	}
	raw, reason := strings.TrimSpace(c.PostForm("evidence_id")), strings.TrimSpace(c.PostForm("reason"))
	again := holdsData{FormID: raw, Reason: reason}
	id, err := uuid.Parse(raw)
	if err != nil {
		v.Status, v.Error = http.StatusBadRequest, "Not done: the evidence id must be a UUID like 3f2b6c1e-0d4a-4b8e-9c7f-1a2b3c4d5e6f (it is in the item page's address)."
		u.holdsPage(c, v, again)
		return
	}
	if reason == "" {
		v.Status, v.Error = http.StatusBadRequest, "Not done: a legal hold needs a reason (court order, litigation, preservation letter…)."
		u.holdsPage(c, v, again)
		return
	}
	// A missing item and one the caller may not hold read the same.
	it, err := u.d.Evidence.Get(c.Request.Context(), id)
	if err == nil {
		if d := u.d.Authorizer.AuthorizeItem(c.Request.Context(), *v.User, "evidence:hold", &it); !d.Allowed {
			u.audit(c, api.AuditEvent{Type: "access_denied", Actor: v.User.Actor(), Outcome: "denied", Details: map[string]any{
				"action": "evidence:hold", "evidence_id": it.ID.String(), "rule": d.Rule, "reason": d.Reason, "via": "web"}})
			err = evidence.ErrNotFound
		}
	}
	if errors.Is(err, evidence.ErrNotFound) {
		v.Status, v.Error = http.StatusNotFound, "Not done: no item with that id that you may hold."
		u.holdsPage(c, v, again)
		return
	}
	if err != nil {
		u.serverError(c, v, err)
		return
	}
	if err := u.d.Retention.HoldItem(c.Request.Context(), it.ID, reason, *v.User); err != nil {
		u.refused(c, v, err, func(c *gin.Context, v *view) { u.holdsPage(c, v, again) })
		return
	}
	c.Redirect(http.StatusSeeOther, "/admin/holds?flash="+urlq("Legal hold placed on "+itemTitle(&it)+"."))
}

func (u *UI) adminReleaseItemHold(c *gin.Context, v *view) {
	if !u.admin(c, v, "evidence:hold", "release legal holds") || !u.retentionReady(c, v) {
		return
	}
	it, ok := u.itemFor(c, v, c.Param("id"), "evidence:hold")
	if !ok {
		return
	}
	holdID, err := uuid.Parse(c.PostForm("hold_id"))
	if err != nil {
		v.Status, v.Error = http.StatusBadRequest, "Not done: which hold to release is missing."
		u.holdsPage(c, v, holdsData{})
		return
	}
	if err := u.d.Retention.ReleaseItemHold(c.Request.Context(), it.ID, holdID, *v.User); err != nil {
		u.refused(c, v, err, func(c *gin.Context, v *view) { u.holdsPage(c, v, holdsData{}) })
		return
	}
	c.Redirect(http.StatusSeeOther, "/admin/holds?flash="+urlq("Legal hold on "+itemTitle(it)+" released."))
}

func (u *UI) adminReleaseCaseHold(c *gin.Context, v *view) {
	if !u.admin(c, v, "case:hold", "release case holds") {
		return
	}
	id, err := uuid.Parse(c.Param("id"))
	if err != nil {
		u.notFound(c, v)
		return
	}
	// The same service the case page and POST/DELETE /api/v1/cases/:id/hold
	// use, so a case hold is released one way only.
	k, err := u.d.Review.SetCaseHold(c.Request.Context(), *v.User, id, false, "")
	if errors.Is(err, review.ErrNotFound) {
		u.notFound(c, v)
		return
	}
	var ae *api.Error
	if errors.As(err, &ae) && ae.Status < 500 {
		v.Status, v.Error = ae.Status, "Not done: "+ae.Message
		u.holdsPage(c, v, holdsData{})
		return
	}
	if err != nil {
		u.serverError(c, v, err)
		return
	}
	c.Redirect(http.StatusSeeOther, "/admin/holds?flash="+urlq("Legal hold on case "+k.Number+" released."))
}

// fmtGrace renders a grace period in whole days when it is whole days
// ("7 days"), else as Go prints a duration ("36h0m0s").
func fmtGrace(d time.Duration) string {
	const day = 24 * time.Hour
	switch {
	case d <= 0:
		return "none"
	case d == day:
		return "1 day"
	case d%day == 0:
		return itoa(int(d/day)) + " days"
	}
	return d.String()
}
