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
	// ReleaseCaseHold lifts a case's legal hold (each item returns to its
	// own holds), recorded in every item's custody.
	ReleaseCaseHold(ctx context.Context, caseID uuid.UUID, by identity.Principal) error
	// CancelPurge cancels the item's scheduled purge during its grace period.
	CancelPurge(ctx context.Context, id uuid.UUID, actor, reason string) error
}

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
	if !u.retentionReady(c, v) {
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

// refused re-renders page with the service's refusal, or fails.
func (u *UI) refused(c *gin.Context, v *view, err error, again func(*gin.Context, *view)) {
	status, msg := api.StatusOf(err)
	if status >= 500 {
		u.serverError(c, v, err)
		return
	}
	v.Status, v.Error = status, "Not done: "+msg
	again(c, v)
}

func (u *UI) adminCancelPurge(c *gin.Context, v *view) {
	if !u.retentionReady(c, v) {
		return
	}
	it, _ := api.ItemOf(c)
	reason := strings.TrimSpace(c.PostForm("reason"))
	if err := u.d.Retention.CancelPurge(c.Request.Context(), it.ID, v.User.Actor(), reason); err != nil {
		u.refused(c, v, err, u.adminRetention)
		return
	}
	c.Redirect(http.StatusSeeOther, "/admin/retention?flash="+urlq("Purge of "+itemTitle(it)+" cancelled; it will not be scheduled again for the same retain-until date."))
}

func (u *UI) adminHolds(c *gin.Context, v *view) {
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
			attrs := it.Attributes()
			if !api.Can(c, "evidence:view", &attrs) {
				continue
			}
			r.Label, r.Unit = itemTitle(&it), it.UnitPath
			r.CanRelease = api.Can(c, "evidence:hold", &attrs)
			d.Items = append(d.Items, r)
		case h.CaseID != nil:
			k, err := api.TryLoad[*review.Case](c, api.KindCase, *h.CaseID, "case:read")
			if errors.Is(err, evidence.ErrNotFound) || errors.Is(err, evidence.ErrPermission) {
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
	if !u.retentionReady(c, v) {
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
	it, err := api.TryLoad[*evidence.Item](c, api.KindItem, id, "evidence:hold")
	if errors.Is(err, evidence.ErrPermission) {
		err = evidence.ErrNotFound
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
	c.Redirect(http.StatusSeeOther, "/admin/holds?flash="+urlq("Legal hold placed on "+itemTitle(it)+"."))
}

func (u *UI) adminReleaseItemHold(c *gin.Context, v *view) {
	if !u.retentionReady(c, v) {
		return
	}
	it, _ := api.ItemOf(c)
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
	if !u.retentionReady(c, v) {
		return
	}
	k, _ := review.CaseOf(c)
	// The same retention service as DELETE /api/v1/cases/:id/hold, so a
	// case hold is released one way only (recorded in custody).
	if err := u.d.Retention.ReleaseCaseHold(c.Request.Context(), k.ID, *v.User); err != nil {
		u.refused(c, v, err, func(c *gin.Context, v *view) { u.holdsPage(c, v, holdsData{}) })
		return
	}
	c.Redirect(http.StatusSeeOther, "/admin/holds?flash="+urlq("Legal hold on case "+k.Number+" released."))
}
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
