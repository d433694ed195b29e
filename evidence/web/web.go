package web

import (
	"context"
	"embed"
	"errors"
	"fmt"
	"html/template"
	"io/fs"
	"log/slog"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/google/uuid"

	"github.com/opendems/opendems/evidence"
	"github.com/opendems/opendems/evidence/api"
	"github.com/opendems/opendems/evidence/custody"
	"github.com/opendems/opendems/evidence/identity"
	"github.com/opendems/opendems/evidence/review"
)

//go:embed templates/*.html static/*
var assets embed.FS

// CustodyReader reads an item's chain for the timeline.
type CustodyReader interface {
	Events(ctx context.Context, id uuid.UUID) ([]custody.Event, error)
}

// UpcomingPurge is one scheduled destruction, for the admin dashboard.
type UpcomingPurge struct {
	EvidenceID  uuid.UUID
	Unit        string
	Categories  []string
	RetainUntil *time.Time
	DueAt       time.Time
	Rule        string
	ScheduledBy string    // "system:retention-sweep" or the user who asked
	ScheduledAt time.Time // when the grace period started
	Reason      string
}

// PurgeLister lists scheduled purges due soonest first (evidence/retention
// through an adapter in cmd/demsd).
type PurgeLister interface {
	UpcomingPurges(ctx context.Context, before time.Time, limit int) ([]UpcomingPurge, error)
}

// Deps are what the pages need; cmd/demsd wires them.
type Deps struct {
	API        *api.Server
	Identity   *identity.Store
	Evidence   *evidence.Store
	Review     *review.Service
	Authorizer api.Authorizer
	Auditor    api.Auditor
	Custody    CustodyReader
	// Purges, when set, shows upcoming purges on the dashboard of those the
	// policy lets schedule purges (administrators).
	Purges PurgeLister
	// Retention, when set, serves the retention schedule and legal holds
	// admin pages (evidence/retention through an adapter in cmd/demsd).
	Retention RetentionAdmin
	// SessionMax is the web session's lifetime.
	SessionMax time.Duration
	// SecureCookies marks the login CSRF cookie Secure (HTTPS only).
	SecureCookies bool
}

// UI serves the pages.
type UI struct {
	d     Deps
	pages map[string]*template.Template
}

// New parses the embedded templates (a broken template fails at start,
// not on the first visit).
func New(d Deps) (*UI, error) {
	u := &UI{d: d, pages: map[string]*template.Template{}}
	names, err := fs.Glob(assets, "templates/*.html")
	if err != nil {
		return nil, err
	}
	for _, n := range names {
		base := strings.TrimSuffix(strings.TrimPrefix(n, "templates/"), ".html")
		if base == "layout" {
			continue
		}
		t, err := template.New("layout.html").Funcs(funcs).ParseFS(assets, "templates/layout.html", n)
		if err != nil {
			return nil, fmt.Errorf("web: template %s: %w", n, err)
		}
		u.pages[base] = t
	}
	return u, nil
}

// Routes declares every page. Pages are Public at the enforcement point
// because an anonymous browser must get a redirect to the login page, not
// a JSON 401; each handler requires a session principal (requireUser) and
// asks the Authorizer for every decision.
func Routes() map[string]api.Access {
	page := func(s string) api.Access { return api.Access{Public: true, Summary: "Web UI: " + s} }
	return map[string]api.Access{
		"GET /":                        page("dashboard"),
		"GET /login":                   page("login form"),
		"POST /login":                  page("log in (password, then second factor when enrolled)"),
		"POST /logout":                 page("log out"),
		"GET /mfa":                     page("second factor: enter a code, or enrol when the role requires one"),
		"POST /mfa":                    page("second factor: verify a code or confirm enrolment"),
		"GET /static/*file":            page("embedded CSS, JavaScript and icons"),
		"GET /evidence":                page("evidence search"),
		"GET /evidence/:id":            page("evidence review page"),
		"GET /cases":                   page("cases"),
		"POST /cases":                  page("create a case"),
		"GET /cases/:id":               page("one case"),
		"GET /admin/users":             page("admin: users"),
		"POST /admin/users":            page("admin: create a user"),
		"POST /admin/users/:id/status": page("admin: disable or enable a user"),
		"GET /admin/units":             page("admin: units"),
		"POST /admin/units":            page("admin: create a unit"),
		"GET /admin/docks":             page("admin: docking stations"),
		"POST /admin/docks":            page("admin: enrol a docking station"),
		"POST /admin/docks/:id/revoke": page("admin: revoke a docking station"),
		"GET /admin/retention":         page("admin: retention schedule in force and upcoming purges (admin:retention; purges need purge:schedule)"),
		"POST /admin/retention/purges/:id/cancel": page("admin: cancel an item's scheduled purge (purge:cancel, decided on the item)"),
		"GET /admin/holds":                        page("admin: active legal holds on items and cases (evidence:hold or case:hold)"),
		"POST /admin/holds":                       page("admin: place a legal hold on an item by id (evidence:hold, decided on the item)"),
		"POST /admin/holds/evidence/:id/release":  page("admin: release one legal hold of an item (evidence:hold, decided on the item)"),
		"POST /admin/holds/cases/:id/release":     page("admin: release a case's legal hold (case:hold)"),
	}
}

// Register mounts the pages on e.
func (u *UI) Register(e *gin.Engine) {
	static, _ := fs.Sub(assets, "static")
	staticFS := http.FileServer(http.FS(static))
	e.GET("/static/*file", func(c *gin.Context) {
		c.Header("Cache-Control", "public, max-age=3600")
		c.Request.URL.Path = c.Param("file")
		staticFS.ServeHTTP(c.Writer, c.Request)
	})
	e.GET("/login", u.loginForm)
	e.POST("/login", u.login)
	e.POST("/logout", u.logout)
	e.GET("/mfa", u.mfaPage)
	e.POST("/mfa", u.mfaSubmit)
	e.GET("/", u.requireUser(u.dashboard))
	e.GET("/evidence", u.requireUser(u.search))
	e.GET("/evidence/:id", u.requireUser(u.item))
	e.GET("/cases", u.requireUser(u.cases))
	e.POST("/cases", u.requireUser(u.createCase))
	e.GET("/cases/:id", u.requireUser(u.casePage))
	e.GET("/admin/users", u.requireUser(u.adminUsers))
	e.POST("/admin/users", u.requireUser(u.adminCreateUser))
	e.POST("/admin/users/:id/status", u.requireUser(u.adminUserStatus))
	e.GET("/admin/units", u.requireUser(u.adminUnits))
	e.POST("/admin/units", u.requireUser(u.adminCreateUnit))
	e.GET("/admin/docks", u.requireUser(u.adminDocks))
	e.POST("/admin/docks", u.requireUser(u.adminEnrollDock))
	e.POST("/admin/docks/:id/revoke", u.requireUser(u.adminRevokeDock))
	e.GET("/admin/retention", u.requireUser(u.adminRetention))
	e.POST("/admin/retention/purges/:id/cancel", u.requireUser(u.adminCancelPurge))
	e.GET("/admin/holds", u.requireUser(u.adminHolds))
	e.POST("/admin/holds", u.requireUser(u.adminPlaceHold))
	e.POST("/admin/holds/evidence/:id/release", u.requireUser(u.adminReleaseItemHold))
	e.POST("/admin/holds/cases/:id/release", u.requireUser(u.adminReleaseCaseHold))
}

// view is what every page template gets.
type view struct {
	Title   string
	Nav     string
	User    *identity.Principal
	CSRF    string
	Can     map[string]bool
	Flash   string
	Error   string
	Data    any
	Status  int
	Request *http.Request
}

// requireUser lets through only a web-session principal; others go to the
// login page, which brings them back afterwards.
func (u *UI) requireUser(h func(*gin.Context, *view)) gin.HandlerFunc {
	return func(c *gin.Context) {
		p, ok := api.Principal(c)
		sess, hasSession := api.SessionOf(c)
		if !ok || p.Kind != identity.KindUser || !hasSession {
			next := c.Request.URL.RequestURI()
			c.Redirect(http.StatusSeeOther, "/login?next="+url.QueryEscape(next))
			c.Abort()
			return
		}
		// The API refuses a session that still owes its second factor;
		// pages do the same (they are Public at the enforcement point).
		pending, _, err := u.mfaPending(c, p, sess)
		if err != nil {
			u.serverError(c, &view{Request: c.Request}, err)
			c.Abort()
			return
		}
		if pending {
			c.Redirect(http.StatusSeeOther, "/mfa?next="+url.QueryEscape(c.Request.URL.RequestURI()))
			c.Abort()
			return
		}
		v := &view{User: &p, CSRF: sess.CSRFToken, Request: c.Request, Can: u.routeAbilities(c.Request.Context(), p)}
		h(c, v)
	}
}

// routeAbilities decides the route-level actions the navigation shows.
func (u *UI) routeAbilities(ctx context.Context, p identity.Principal) map[string]bool {
	can := map[string]bool{}
	for _, a := range []string{"evidence:list", "case:read", "case:edit", "case:hold", "admin:users", "admin:units", "admin:docks", "admin:retention", "purge:schedule", "purge:cancel", "evidence:hold"} {
		can[a] = u.d.Authorizer.AuthorizeRoute(ctx, p, a).Allowed
	}
	can["admin"] = can["admin:users"] || can["admin:units"] || can["admin:docks"] || can["admin:retention"] || can["evidence:hold"] || can["case:hold"]
	return can
}

func (u *UI) render(c *gin.Context, page string, v *view) {
	t, ok := u.pages[page]
	if !ok {
		c.String(http.StatusInternalServerError, "no page "+page)
		return
	}
	status := v.Status
	if status == 0 {
		status = http.StatusOK
	}
	c.Header("Content-Type", "text/html; charset=utf-8")
	c.Status(status)
	if err := t.ExecuteTemplate(c.Writer, "layout.html", v); err != nil {
		slog.ErrorContext(c.Request.Context(), "web: render", "page", page, "err", err)
	}
}

// notFound answers the same page for a missing item and one the caller
// may not see, so ids cannot be probed.
func (u *UI) notFound(c *gin.Context, v *view) {
	v.Title, v.Status = "Not found", http.StatusNotFound
	u.render(c, "notfound", v)
}

func (u *UI) forbidden(c *gin.Context, v *view, what string) {
	v.Title, v.Status, v.Error = "Not permitted", http.StatusForbidden, "You are not permitted to "+what+"."
	u.render(c, "notfound", v)
}

func (u *UI) serverError(c *gin.Context, v *view, err error) {
	slog.ErrorContext(c.Request.Context(), "web: page failed", "path", c.FullPath(), "err", err)
	v.Title, v.Status, v.Error = "Something went wrong", http.StatusInternalServerError, "The server could not show this page. The error was logged."
	u.render(c, "notfound", v)
}

func (u *UI) audit(c *gin.Context, e api.AuditEvent) {
	if u.d.Auditor != nil {
		e.SourceAddr = c.ClientIP()
		u.d.Auditor.Audit(c.Request.Context(), e)
	}
}

// dashboardData is what the dashboard shows.
type dashboardData struct {
	NewFootage []evidence.Item
	NewTotal   int64
	Flagged    []evidence.Item
	Failed     []evidence.Item
	UnitPath   string
	Purges     []UpcomingPurge // due within 30 days; admins only
	ShowPurges bool
}

func (u *UI) dashboard(c *gin.Context, v *view) {
	ctx := c.Request.Context()
	p := *v.User
	v.Title, v.Nav = "Dashboard", "dashboard"
	d := dashboardData{UnitPath: p.UnitPath}
	if v.Can["evidence:list"] {
		scope := u.d.Authorizer.ListScope(ctx, p)
		week := time.Now().Add(-7 * 24 * time.Hour)
		page, err := u.d.Evidence.List(ctx, scope, evidence.Filter{Unit: p.UnitPath, Sort: "ingested_at", Desc: true, Limit: 10})
		if err != nil {
			u.serverError(c, v, err)
			return
		}
		for _, it := range page.Items {
			if it.IngestedAt.After(week) {
				d.NewFootage = append(d.NewFootage, it)
			}
		}
		d.NewTotal = page.Total
		flagged := true
		fp, err := u.d.Evidence.List(ctx, scope, evidence.Filter{Flagged: &flagged, Limit: 10})
		if err != nil {
			u.serverError(c, v, err)
			return
		}
		d.Flagged = fp.Items
		if d.Failed, err = u.d.Review.ProxyFailures(ctx, scope, 10); err != nil {
			u.serverError(c, v, err)
			return
		}
	}
	if v.Can["purge:schedule"] && u.d.Purges != nil {
		d.ShowPurges = true
		ps, err := u.d.Purges.UpcomingPurges(ctx, time.Now().Add(30*24*time.Hour), 20)
		if err != nil {
			u.serverError(c, v, err)
			return
		}
		d.Purges = ps
	}
	v.Data = d
	u.render(c, "dashboard", v)
}

// searchData is the search page's model.
type searchData struct {
	Q          url.Values
	Page       evidence.Page
	Offset     int
	PrevAfter  string
	Cases      []review.Case
	Categories []review.Category
	Sort       string
	Desc       bool
	Err        string
}

func (u *UI) search(c *gin.Context, v *view) {
	ctx := c.Request.Context()
	p := *v.User
	v.Title, v.Nav = "Search evidence", "search"
	if !v.Can["evidence:list"] {
		u.forbidden(c, v, "search evidence")
		return
	}
	q := c.Request.URL.Query()
	// Browsers send empty fields; drop them so ParseFilter sees only
	// what was asked for, and the pagination links stay short.
	for k, vs := range q {
		if len(vs) == 0 || strings.TrimSpace(vs[0]) == "" {
			q.Del(k)
		}
	}
	d := searchData{Q: q, Categories: u.d.Review.Categories()}
	f, err := api.ParseFilter(q.Get)
	if err == nil && f.Limit == 0 {
		f.Limit = 25
	}
	d.Sort, d.Desc = f.Sort, f.Desc
	if d.Sort == "" {
		d.Sort, d.Desc = "recorded_at", true
	}
	if err == nil {
		d.Page, err = u.d.Evidence.List(ctx, u.d.Authorizer.ListScope(ctx, p), f)
	}
	var fe *evidence.FilterError
	if errors.As(err, &fe) {
		d.Err, v.Status = "Search not understood: "+fe.Error(), http.StatusBadRequest
	} else if err != nil {
		u.serverError(c, v, err)
		return
	}
	d.Offset, _ = strconv.Atoi(f.After)
	if d.Offset > 0 {
		prev := d.Offset - f.Limit
		if prev < 0 {
			prev = 0
		}
		d.PrevAfter = strconv.Itoa(prev)
	}
	if v.Can["case:read"] {
		d.Cases, _ = u.d.Review.Cases(ctx, p)
	}
	v.Data = d
	u.render(c, "search", v)
}

// itemData is the evidence page's model.
type itemData struct {
	review.ReviewData
	Events []custody.Event
	Probe  probeSummary
	Cases  []review.Case // cases the user could add the item to
}

func (u *UI) item(c *gin.Context, v *view) {
	ctx := c.Request.Context()
	p := *v.User
	id, err := uuid.Parse(c.Param("id"))
	if err != nil {
		u.notFound(c, v)
		return
	}
	it, err := u.d.Evidence.Get(ctx, id)
	if errors.Is(err, evidence.ErrNotFound) {
		u.notFound(c, v)
		return
	}
	if err != nil {
		u.serverError(c, v, err)
		return
	}
	if d := u.d.Authorizer.AuthorizeItem(ctx, p, "evidence:view", &it); !d.Allowed {
		u.audit(c, api.AuditEvent{Type: "access_denied", Actor: p.Actor(), Outcome: "denied", Details: map[string]any{
			"action": "evidence:view", "evidence_id": it.ID.String(), "rule": d.Rule, "reason": d.Reason, "via": "web"}})
		u.notFound(c, v)
		return
	}
	rd, err := u.d.Review.Review(ctx, p, &it)
	if err != nil {
		u.serverError(c, v, err)
		return
	}
	d := itemData{ReviewData: rd, Probe: summarizeProbe(it.Metadata)}
	if rd.Permissions.Custody && u.d.Custody != nil {
		if d.Events, err = u.d.Custody.Events(ctx, it.ID); err != nil {
			u.serverError(c, v, err)
			return
		}
	}
	if rd.Permissions.CaseEdit && v.Can["case:read"] {
		all, _ := u.d.Review.Cases(ctx, p)
		for _, k := range all {
			in := false
			for _, m := range rd.Cases {
				in = in || m.ID == k.ID
			}
			if !in {
				d.Cases = append(d.Cases, k)
			}
		}
	}
	v.Title, v.Nav, v.Data = itemTitle(&it), "search", d
	u.render(c, "item", v)
}

func itemTitle(it *evidence.Item) string {
	switch {
	case it.Title != "":
		return it.Title
	case it.Filename != "":
		return it.Filename
	}
	return "Evidence " + it.ID.String()[:8]
}

func (u *UI) cases(c *gin.Context, v *view) {
	v.Title, v.Nav = "Cases", "cases"
	if !v.Can["case:read"] {
		u.forbidden(c, v, "read cases")
		return
	}
	cs, err := u.d.Review.Cases(c.Request.Context(), *v.User)
	if err != nil {
		u.serverError(c, v, err)
		return
	}
	v.Data = cs
	v.Flash = c.Query("flash")
	u.render(c, "cases", v)
}

func (u *UI) createCase(c *gin.Context, v *view) {
	if !v.Can["case:edit"] {
		u.forbidden(c, v, "create cases")
		return
	}
	k, err := u.d.Review.CreateCase(c.Request.Context(), *v.User, review.NewCase{Number: c.PostForm("number"), Title: c.PostForm("title")})
	if err != nil {
		var ae *api.Error
		if errors.As(err, &ae) && ae.Status < 500 {
			v.Title, v.Nav, v.Status, v.Error = "Cases", "cases", ae.Status, ae.Message
			v.Data, _ = u.d.Review.Cases(c.Request.Context(), *v.User)
			u.render(c, "cases", v)
			return
		}
		u.serverError(c, v, err)
		return
	}
	c.Redirect(http.StatusSeeOther, "/cases/"+k.ID.String())
}

func (u *UI) casePage(c *gin.Context, v *view) {
	if !v.Can["case:read"] {
		u.forbidden(c, v, "read cases")
		return
	}
	id, err := uuid.Parse(c.Param("id"))
	if err != nil {
		u.notFound(c, v)
		return
	}
	d, err := u.d.Review.CaseWithItems(c.Request.Context(), *v.User, id)
	if errors.Is(err, review.ErrNotFound) {
		u.notFound(c, v)
		return
	}
	if err != nil {
		u.serverError(c, v, err)
		return
	}
	v.Title, v.Nav, v.Data = "Case "+d.Number, "cases", d
	u.render(c, "case", v)
}
