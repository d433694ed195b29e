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
	"github.com/opendems/opendems/evidence/request"
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
	API      *api.Server
	Identity *identity.Store
	Evidence *evidence.Store
	Review   *review.Service
	Auditor  api.Auditor
	Custody  CustodyReader
	// Purges, when set, shows upcoming purges on the dashboard of those the
	// policy lets schedule purges (administrators).
	Purges PurgeLister
	// Retention, when set, serves the retention schedule and legal holds
	// admin pages (evidence/retention through an adapter in cmd/demsd).
	Retention RetentionAdmin
	// Requests, when set, serves the public access request pages (staff
	// and public; RequestRoutes).
	Requests *request.HTTP
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

// Routes is the web UI's part of the route table: every page and form
// with its action, decided by the enforcement point like any API route
// (pages take the session cookie only; an anonymous browser is sent to
// the login page). Only the login form, static assets and (later) share
// link pages are public.
func (u *UI) Routes() []api.Route {
	pub := func(s string) api.Access { return api.Access{Public: true, Summary: "Web UI: " + s} }
	page := func(action, s string) api.Access {
		return api.Access{Page: true, Action: action, Summary: "Web UI: " + s}
	}
	itemPage := func(action, s string) api.Access {
		return api.Access{Page: true, Action: action, Resource: api.KindItem, Summary: "Web UI: " + s}
	}
	static, _ := fs.Sub(assets, "static")
	staticFS := http.FileServer(http.FS(static))
	return []api.Route{
		{Method: "GET", Path: "/static/*file", Access: pub("embedded CSS, JavaScript and icons"), Handler: func(c *gin.Context) {
			c.Header("Cache-Control", "public, max-age=3600")
			c.Request.URL.Path = c.Param("file")
			staticFS.ServeHTTP(c.Writer, c.Request)
		}, Op: "staticFile", OutContent: "text/css, text/javascript, image/*, text/plain"},
		{Method: "GET", Path: "/login", Access: pub("login form"), Handler: u.loginForm, Op: "pageLogin", OutContent: "text/html"},
		{Method: "POST", Path: "/login", Access: pub("log in (password, then second factor when enrolled)"), Handler: u.login, Op: "pageLoginSubmit", InContent: "application/x-www-form-urlencoded", OutContent: "text/html"},
		{Method: "POST", Path: "/logout", Access: api.Access{Page: true, MFAExempt: true, Summary: "Web UI: log out"}, Handler: u.logout, Op: "pageLogout", InContent: "application/x-www-form-urlencoded", OutContent: "text/html"},
		{Method: "GET", Path: "/mfa", Access: api.Access{Page: true, MFAExempt: true, Summary: "Web UI: second factor: enter a code, or enrol when the role requires one"}, Handler: u.mfaPage, Op: "pageMFA", OutContent: "text/html"},
		{Method: "POST", Path: "/mfa", Access: api.Access{Page: true, MFAExempt: true, Summary: "Web UI: second factor: verify a code or confirm enrolment"}, Handler: u.mfaSubmit, Op: "pageMFASubmit", InContent: "application/x-www-form-urlencoded", OutContent: "text/html"},
		{Method: "GET", Path: "/", Access: page("", "dashboard"), Handler: u.page(u.dashboard), Op: "pageDashboard", OutContent: "text/html"},
		{Method: "GET", Path: "/evidence", Access: page("evidence:list", "evidence search"), Handler: u.page(u.search), Op: "pageEvidenceSearch", OutContent: "text/html"},
		{Method: "GET", Path: "/evidence/:id", Access: itemPage("evidence:view", "evidence review page"), Handler: u.page(u.item), Op: "pageEvidenceItem", OutContent: "text/html"},
		{Method: "GET", Path: "/tokens", Access: page("", "the user's own API tokens"), Handler: u.page(u.tokensPage), Op: "pageTokens", OutContent: "text/html"},
		{Method: "POST", Path: "/tokens", Access: page("", "create an API token for oneself (shown once)"), Handler: u.page(u.createToken), Op: "pageCreateToken", InContent: "application/x-www-form-urlencoded", OutContent: "text/html"},
		{Method: "POST", Path: "/tokens/:id/revoke", Access: page("", "revoke one of one's own API tokens"), Handler: u.page(u.revokeToken), Op: "pageRevokeToken", InContent: "application/x-www-form-urlencoded", OutContent: "text/html"},
		{Method: "GET", Path: "/cases", Access: page("case:read", "cases"), Handler: u.page(u.cases), Op: "pageCases", OutContent: "text/html"},
		{Method: "POST", Path: "/cases", Access: page("case:edit", "create a case"), Handler: u.page(u.createCase), Op: "pageCreateCase", InContent: "application/x-www-form-urlencoded", OutContent: "text/html"},
		{Method: "GET", Path: "/cases/:id", Access: api.Access{Page: true, Action: "case:read", Resource: api.KindCase, Summary: "Web UI: one case"}, Handler: u.page(u.casePage), Op: "pageCase", OutContent: "text/html"},
		{Method: "GET", Path: "/admin/users", Access: page("admin:users", "admin: users"), Handler: u.page(u.adminUsers), Op: "pageAdminUsers", OutContent: "text/html"},
		{Method: "POST", Path: "/admin/users", Access: page("admin:users", "admin: create a user"), Handler: u.page(u.adminCreateUser), Op: "pageAdminCreateUser", InContent: "application/x-www-form-urlencoded", OutContent: "text/html"},
		{Method: "POST", Path: "/admin/users/:id/status", Access: page("admin:users", "admin: disable or enable a user"), Handler: u.page(u.adminUserStatus), Op: "pageAdminUserStatus", InContent: "application/x-www-form-urlencoded", OutContent: "text/html"},
		{Method: "GET", Path: "/admin/units", Access: page("admin:units", "admin: units"), Handler: u.page(u.adminUnits), Op: "pageAdminUnits", OutContent: "text/html"},
		{Method: "POST", Path: "/admin/units", Access: page("admin:units", "admin: create a unit"), Handler: u.page(u.adminCreateUnit), Op: "pageAdminCreateUnit", InContent: "application/x-www-form-urlencoded", OutContent: "text/html"},
		{Method: "GET", Path: "/admin/docks", Access: page("admin:docks", "admin: docking stations"), Handler: u.page(u.adminDocks), Op: "pageAdminDocks", OutContent: "text/html"},
		{Method: "POST", Path: "/admin/docks", Access: page("admin:docks", "admin: enrol a docking station"), Handler: u.page(u.adminEnrollDock), Op: "pageAdminEnrollDock", InContent: "application/x-www-form-urlencoded", OutContent: "text/html"},
		{Method: "POST", Path: "/admin/docks/:id/revoke", Access: page("admin:docks", "admin: revoke a docking station"), Handler: u.page(u.adminRevokeDock), Op: "pageAdminRevokeDock", InContent: "application/x-www-form-urlencoded", OutContent: "text/html"},
		{Method: "GET", Path: "/admin/retention", Access: page("admin:retention", "admin: retention schedule in force and upcoming purges (purges need purge:schedule)"), Handler: u.page(u.adminRetention), Op: "pageAdminRetention", OutContent: "text/html"},
		{Method: "POST", Path: "/admin/retention/purges/:id/cancel", Access: itemPage("purge:cancel", "admin: cancel an item's scheduled purge"), Handler: u.page(u.adminCancelPurge), Op: "pageAdminCancelPurge", InContent: "application/x-www-form-urlencoded", OutContent: "text/html"},
		{Method: "GET", Path: "/admin/holds", Access: page("evidence:hold", "admin: active legal holds on items and cases"), Handler: u.page(u.adminHolds), Op: "pageAdminHolds", OutContent: "text/html"},
		{Method: "POST", Path: "/admin/holds", Access: page("evidence:hold", "admin: place a legal hold on an item by id (evidence:hold, decided on the item)"), Handler: u.page(u.adminPlaceHold), Op: "pageAdminPlaceHold", InContent: "application/x-www-form-urlencoded", OutContent: "text/html"},
		{Method: "POST", Path: "/admin/holds/evidence/:id/release", Access: itemPage("evidence:hold", "admin: release one legal hold of an item"), Handler: u.page(u.adminReleaseItemHold), Op: "pageAdminReleaseItemHold", InContent: "application/x-www-form-urlencoded", OutContent: "text/html"},
		{Method: "POST", Path: "/admin/holds/cases/:id/release", Access: api.Access{Page: true, Action: "case:hold", Resource: api.KindCase, Summary: "Web UI: admin: release a case's legal hold"}, Handler: u.page(u.adminReleaseCaseHold), Op: "pageAdminReleaseCaseHold", InContent: "application/x-www-form-urlencoded", OutContent: "text/html"},
	}
}

// PageError renders a refusal of the enforcement point on a page (set on
// the API server with SetPageErrorWriter).
func (u *UI) PageError(c *gin.Context, status int, message string) {
	v := u.newView(c)
	switch status {
	case http.StatusNotFound:
		u.notFound(c, v)
	case http.StatusForbidden:
		v.Title, v.Status, v.Error = "Not permitted", status, "You are not permitted to do this."
		u.render(c, "notfound", v)
	default:
		v.Title, v.Status, v.Error = "Not done", status, message
		u.render(c, "notfound", v)
	}
}

// view is what every page template gets.
type view struct {
	Title string
	Nav   string
	// Public and Brand: a page for people without an account (Shell).
	Public  bool
	Brand   string
	User    *identity.Principal
	CSRF    string
	Can     map[string]bool
	Flash   string
	Error   string
	Data    any
	Status  int
	Request *http.Request
}

// page builds the view of an authorized page request (the enforcement
// point already decided the route's action and loaded its resource).
func (u *UI) page(h func(*gin.Context, *view)) gin.HandlerFunc {
	return func(c *gin.Context) { h(c, u.newView(c)) }
}

func (u *UI) newView(c *gin.Context) *view {
	v := &view{Request: c.Request}
	if p, ok := api.Principal(c); ok {
		v.User = &p
		v.Can = routeAbilities(c)
	}
	if sess, ok := api.SessionOf(c); ok {
		v.CSRF = sess.CSRFToken
	}
	return v
}

// routeAbilities asks the enforcement point the route-level actions the
// navigation shows.
func routeAbilities(c *gin.Context) map[string]bool {
	can := map[string]bool{}
	for _, a := range []string{"evidence:list", "case:read", "case:edit", "case:hold", "admin:users", "admin:units", "admin:docks", "admin:retention", "purge:schedule", "purge:cancel", "evidence:hold", "request:read", "request:edit"} {
		can[a] = api.Can(c, a, nil)
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
		scope := api.ListScope(c)
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
	v.Title, v.Nav = "Search evidence", "search"
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
		d.Page, err = u.d.Evidence.List(ctx, api.ListScope(c), f)
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
		d.Cases, _ = u.d.Review.Cases(ctx, api.ListScope(c))
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
	it, _ := api.ItemOf(c)
	rd, err := u.d.Review.Review(c, it)
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
		all, _ := u.d.Review.Cases(ctx, api.ListScope(c))
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
	v.Title, v.Nav, v.Data = itemTitle(it), "search", d
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
	cs, err := u.d.Review.Cases(c.Request.Context(), api.ListScope(c))
	if err != nil {
		u.serverError(c, v, err)
		return
	}
	v.Data = cs
	v.Flash = c.Query("flash")
	u.render(c, "cases", v)
}

func (u *UI) createCase(c *gin.Context, v *view) {
	k, err := u.d.Review.CreateCase(c.Request.Context(), *v.User, review.NewCase{Number: c.PostForm("number"), Title: c.PostForm("title")})
	if err != nil {
		if status, msg := api.StatusOf(err); status < 500 {
			v.Title, v.Nav, v.Status, v.Error = "Cases", "cases", status, msg
			v.Data, _ = u.d.Review.Cases(c.Request.Context(), api.ListScope(c))
			u.render(c, "cases", v)
			return
		}
		u.serverError(c, v, err)
		return
	}
	c.Redirect(http.StatusSeeOther, "/cases/"+k.ID.String())
}

func (u *UI) casePage(c *gin.Context, v *view) {
	k, _ := review.CaseOf(c)
	d, err := u.d.Review.CaseWithItems(c.Request.Context(), api.ListScope(c), k)
	if err != nil {
		u.serverError(c, v, err)
		return
	}
	v.Title, v.Nav, v.Data = "Case "+d.Number, "cases", d
	u.render(c, "case", v)
}
