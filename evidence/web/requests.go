package web

import (
	"crypto/subtle"
	"errors"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/google/uuid"

	"github.com/opendems/opendems/evidence"
	"github.com/opendems/opendems/evidence/api"
	"github.com/opendems/opendems/evidence/request"
)

// The records officers' pages (public access requests) and the public
// intake and status pages. They render from evidence/request through
// Deps.Requests; the redaction editor page (another file) builds on the
// clip and spec JSON routes of that package.

// publicCSRFCookie is the double-submit token of the public intake form
// (no session exists), as for the login form.
const publicCSRFCookie = "opendems_public_csrf"

// RequestRoutes is the part of the route table for request pages; empty
// without Deps.Requests.
func (u *UI) RequestRoutes() []api.Route {
	if u.d.Requests == nil {
		return nil
	}
	page := func(action, s string) api.Access {
		return api.Access{Page: true, Action: action, Summary: "Web UI: " + s}
	}
	on := func(action, s string) api.Access {
		return api.Access{Page: true, Action: action, Resource: request.KindRequest, Summary: "Web UI: " + s}
	}
	pub := func(s string) api.Access {
		return api.Access{Public: true, MaxBody: 64 << 10, Summary: "Web UI (public, no account): " + s}
	}
	return []api.Route{
		{Method: "GET", Path: "/requests", Access: page("request:read", "public access requests by due date"), Handler: u.page(u.requestsPage), Op: "pageRequests", OutContent: "text/html"},
		{Method: "GET", Path: "/requests/new", Access: page("request:edit", "staff intake form"), Handler: u.page(u.requestNewPage), Op: "pageRequestNew", OutContent: "text/html"},
		{Method: "POST", Path: "/requests/new", Access: page("request:edit", "record a request (shows its status code once)"), Handler: u.page(u.requestCreate), Op: "pageRequestCreate", InContent: "application/x-www-form-urlencoded", OutContent: "text/html"},
		{Method: "GET", Path: "/requests/:id", Access: on("request:read", "one request: clock, timeline, clips, withheld items"), Handler: u.page(u.requestPage), Op: "pageRequest", OutContent: "text/html"},
		{Method: "POST", Path: "/requests/:id/transition", Access: on("request:edit", "move a request to another state"), Handler: u.page(u.requestTransition), Op: "pageRequestTransition", InContent: "application/x-www-form-urlencoded", OutContent: "text/html"},
		{Method: "POST", Path: "/requests/:id/extend", Access: on("request:edit", "extend a request's clock"), Handler: u.page(u.requestExtend), Op: "pageRequestExtend", InContent: "application/x-www-form-urlencoded", OutContent: "text/html"},
		{Method: "POST", Path: "/requests/:id/clips", Access: on("request:edit", "link a clip (the item is decided for evidence:view)"), Handler: u.page(u.requestAddClip), Op: "pageRequestAddClip", InContent: "application/x-www-form-urlencoded", OutContent: "text/html"},
		{Method: "GET", Path: "/requests/:id/clips/:clip/edit", Access: on("request:read", "the redaction editor of one clip (read-only without redaction:create; needs evidence:play on the item)"), Handler: u.RedactionEditor(u.requestClipEditor), Op: "pageRedactionEditor", OutContent: "text/html"},
		{Method: "GET", Path: "/public/requests", Access: pub("public records request form"), Handler: u.publicIntakePage, Op: "pagePublicIntake", OutContent: "text/html"},
		{Method: "POST", Path: "/public/requests", Access: pub("file a public records request (rate limited)"), Handler: u.publicIntake, Op: "pagePublicIntakeSubmit", InContent: "application/x-www-form-urlencoded", OutContent: "text/html"},
		{Method: "GET", Path: "/public/requests/status", Access: pub("request status form"), Handler: u.publicStatusPage, Op: "pagePublicStatus", OutContent: "text/html"},
		{Method: "POST", Path: "/public/requests/status", Access: pub("a request's state and due date (rate limited)"), Handler: u.publicStatus, Op: "pagePublicStatusSubmit", InContent: "application/x-www-form-urlencoded", OutContent: "text/html"},
	}
}

// requestsData is the dashboard.
type requestsData struct {
	Requests []request.Request
	Overdue  int
	DueSoon  int
	Open     bool
}

func (u *UI) requestsPage(c *gin.Context, v *view) {
	v.Title, v.Nav = "Requests", "requests"
	open := c.Query("all") == ""
	list, err := u.d.Requests.Store.List(c.Request.Context(), request.ListFilter{Open: open})
	if err != nil {
		u.serverError(c, v, err)
		return
	}
	d := requestsData{Requests: list, Open: open}
	for _, r := range list {
		if r.Clock.Overdue {
			d.Overdue++
		}
		if r.Clock.DueSoon {
			d.DueSoon++
		}
	}
	p, _ := api.Principal(c)
	u.d.Requests.Store.AuditView(c.Request.Context(), request.Actor{Name: p.Actor(), UserID: p.ID, Addr: c.ClientIP()}, "dashboard", uuid.Nil, uuid.Nil, map[string]any{"count": len(list)})
	v.Data = d
	v.Flash = c.Query("flash")
	u.render(c, "requests", v)
}

// intakeData fills the intake forms.
type intakeData struct {
	In             request.Intake
	Types          []request.RequesterType
	Channels       []request.Channel
	Fields         map[string]string
	Receipt        *request.PublicReceipt
	Status         *request.PublicStatus
	Number         string
	PublicCSRF     string
	CreatedRequest *request.Request
	StatusCode     string
}

func newIntakeData() intakeData {
	return intakeData{Types: request.RequesterTypes(), Channels: request.Channels(), Fields: map[string]string{}}
}

func (u *UI) requestNewPage(c *gin.Context, v *view) {
	v.Title, v.Nav = "New request", "requests"
	d := newIntakeData()
	d.In.Channel, d.In.RequesterType = request.ChannelEmail, request.RequesterPublic
	v.Data = d
	u.render(c, "request_new", v)
}

// intakeFromForm reads the intake fields of a form; a date that does not
// parse is reported on its field.
func intakeFromForm(c *gin.Context, d *intakeData) {
	d.In = request.Intake{RequesterName: strings.TrimSpace(c.PostForm("requester_name")), RequesterType: request.RequesterType(c.PostForm("requester_type")),
		Contact: strings.TrimSpace(c.PostForm("contact")), Description: c.PostForm("description"), Place: strings.TrimSpace(c.PostForm("place")),
		Incident: strings.TrimSpace(c.PostForm("incident")), Channel: request.Channel(c.PostForm("channel"))}
	date := func(field string) *time.Time {
		s := strings.TrimSpace(c.PostForm(field))
		if s == "" {
			return nil
		}
		t, err := time.Parse("2006-01-02", s)
		if err != nil {
			if t, err = time.Parse("2006-01-02T15:04", s); err != nil {
				d.Fields[field] = "want a date (YYYY-MM-DD)"
				return nil
			}
		}
		return &t
	}
	d.In.DateFrom, d.In.DateTo = date("date_from"), date("date_to")
	if t := date("received_at"); t != nil {
		d.In.ReceivedAt = *t
	}
}

// fieldErrors spreads an intake error over the form's fields.
func fieldErrors(err error, d *intakeData) (int, string) {
	var ie *request.InvalidError
	if errors.As(err, &ie) {
		for _, f := range ie.Fields {
			d.Fields[f.Field] = f.Reason
		}
		if ie.TooLarge {
			return http.StatusRequestEntityTooLarge, "Some text is too long; see the marked fields."
		}
		return http.StatusBadRequest, "Please correct the marked fields."
	}
	return api.StatusOf(err)
}

func (u *UI) requestCreate(c *gin.Context, v *view) {
	v.Title, v.Nav = "New request", "requests"
	d := newIntakeData()
	intakeFromForm(c, &d)
	if len(d.Fields) == 0 {
		p, _ := api.Principal(c)
		r, code, err := u.d.Requests.Store.Create(c.Request.Context(), request.Actor{Name: p.Actor(), UserID: p.ID, Addr: c.ClientIP()}, d.In)
		if err == nil {
			// The status code is shown once, on this page, never in a URL.
			d.CreatedRequest, d.StatusCode = &r, code
			v.Title = "Request " + r.TrackingNumber
			v.Data = d
			u.render(c, "request_new", v)
			return
		}
		status, msg := fieldErrors(err, &d)
		if status >= 500 {
			u.serverError(c, v, err)
			return
		}
		v.Status, v.Error = status, msg
	} else {
		v.Status, v.Error = http.StatusBadRequest, "Please correct the marked fields."
	}
	v.Data = d
	u.render(c, "request_new", v)
}

// requestPageData is the request page.
type requestPageData struct {
	Request    *request.Request
	Timeline   []request.Event
	Clips      []request.Clip
	Withheld   []request.Withheld
	Allowed    []request.State
	Exemptions []request.Exemption
	CanEdit    bool
	// LastJob is each clip's newest redaction job (progress while it runs).
	LastJob map[uuid.UUID]request.Job
}

func (u *UI) requestPage(c *gin.Context, v *view) {
	r, _ := api.ResourceOf[*request.Request](c, request.KindRequest)
	if err := u.renderRequest(c, v, r); err != nil {
		u.serverError(c, v, err)
	}
}

func (u *UI) renderRequest(c *gin.Context, v *view, r *request.Request) error {
	ctx := c.Request.Context()
	st := u.d.Requests.Store
	fresh, err := st.Get(ctx, r.ID)
	if err != nil {
		return err
	}
	d := requestPageData{Request: &fresh, Allowed: request.Allowed(fresh.State, fresh.PausedFrom),
		Exemptions: st.Settings().Exemptions.List(), CanEdit: api.Can(c, "request:edit", &evidence.Attributes{Kind: request.KindRequest, ID: r.ID.String(), UnitPath: request.UnitPath})}
	if d.Timeline, err = st.Timeline(ctx, r.ID); err != nil {
		return err
	}
	if d.Clips, err = st.Clips(ctx, r.ID); err != nil {
		return err
	}
	d.LastJob = map[uuid.UUID]request.Job{}
	for _, cl := range d.Clips {
		jobs, err := st.Jobs(ctx, cl.ID)
		if err != nil {
			return err
		}
		if len(jobs) > 0 {
			d.LastJob[cl.ID] = jobs[0]
		}
	}
	if d.Withheld, err = st.WithheldItems(ctx, r.ID); err != nil {
		return err
	}
	p, _ := api.Principal(c)
	if err := st.AuditView(ctx, request.Actor{Name: p.Actor(), UserID: p.ID, Addr: c.ClientIP()}, "request page", r.ID, uuid.Nil, nil); err != nil {
		return err
	}
	v.Title, v.Nav, v.Data = "Request "+fresh.TrackingNumber, "requests", d
	if v.Flash == "" {
		v.Flash = c.Query("flash")
	}
	u.render(c, "request", v)
	return nil
}

// afterChange shows the request again: with the flash after a change, or
// with the error (status and message) when it was refused.
func (u *UI) afterChange(c *gin.Context, v *view, r *request.Request, err error, done string) {
	if err == nil {
		c.Redirect(http.StatusSeeOther, "/requests/"+r.ID.String()+"?flash="+done)
		return
	}
	status, msg := api.StatusOf(err)
	if status >= 500 {
		u.serverError(c, v, err)
		return
	}
	v.Status, v.Error = status, msg
	if rerr := u.renderRequest(c, v, r); rerr != nil {
		u.serverError(c, v, rerr)
	}
}

func actorFor(c *gin.Context) request.Actor {
	p, _ := api.Principal(c)
	return request.Actor{Name: p.Actor(), UserID: p.ID, Addr: c.ClientIP()}
}

func (u *UI) requestTransition(c *gin.Context, v *view) {
	r, _ := api.ResourceOf[*request.Request](c, request.KindRequest)
	in := request.TransitionInput{To: request.State(c.PostForm("state")), Assignee: strings.TrimSpace(c.PostForm("assignee")),
		PauseKind: request.PauseKind(c.PostForm("pause_kind")), Reason: c.PostForm("reason"), Note: c.PostForm("note")}
	if ex := c.PostFormArray("exemptions"); len(ex) > 0 {
		in.Exemptions = ex
	}
	if ver, err := strconv.ParseInt(c.PostForm("version"), 10, 64); err == nil {
		in.Version = ver
	}
	_, err := u.d.Requests.Store.Transition(c.Request.Context(), r.ID, actorFor(c), in)
	u.afterChange(c, v, r, err, "Moved to "+string(in.To))
}

func (u *UI) requestExtend(c *gin.Context, v *view) {
	r, _ := api.ResourceOf[*request.Request](c, request.KindRequest)
	days, _ := strconv.Atoi(c.PostForm("days"))
	_, err := u.d.Requests.Store.Extend(c.Request.Context(), r.ID, actorFor(c), days, c.PostForm("reason"))
	u.afterChange(c, v, r, err, "Clock extended")
}

func (u *UI) requestAddClip(c *gin.Context, v *view) {
	r, _ := api.ResourceOf[*request.Request](c, request.KindRequest)
	id, err := uuid.Parse(strings.TrimSpace(c.PostForm("evidence_id")))
	if err != nil {
		u.afterChange(c, v, r, evidence.Invalid("evidence_id", "want an evidence item id"), "")
		return
	}
	if _, err := api.TryLoad[*evidence.Item](c, api.KindItem, id, "evidence:view"); err != nil {
		u.afterChange(c, v, r, err, "")
		return
	}
	secs := func(field string) int64 {
		f, _ := strconv.ParseFloat(strings.TrimSpace(c.PostForm(field)), 64)
		return int64(f * 1000)
	}
	_, err = u.d.Requests.Store.AddClip(c.Request.Context(), r.ID, actorFor(c), request.ClipInput{EvidenceID: id, InMs: secs("in"), OutMs: secs("out")})
	u.afterChange(c, v, r, err, "Clip linked")
}

// Public pages: no account, no navigation; the intake form carries a
// double-submit token.

func (u *UI) publicView(title string) *view { return &view{Title: title} }

func (u *UI) renderPublicIntake(c *gin.Context, v *view, d intakeData) {
	tok := randomToken()
	http.SetCookie(c.Writer, &http.Cookie{Name: publicCSRFCookie, Value: tok, Path: "/public", HttpOnly: true,
		Secure: u.d.SecureCookies, SameSite: http.SameSiteStrictMode, MaxAge: 3600})
	d.PublicCSRF = tok
	v.Data = d
	u.render(c, "public_intake", v)
}

func (u *UI) publicIntakePage(c *gin.Context) {
	d := newIntakeData()
	d.In.RequesterType = request.RequesterPublic
	u.renderPublicIntake(c, u.publicView("Request public records"), d)
}

func (u *UI) publicIntake(c *gin.Context) {
	v := u.publicView("Request public records")
	d := newIntakeData()
	cookie, err := c.Cookie(publicCSRFCookie)
	if err != nil || cookie == "" || subtle.ConstantTimeCompare([]byte(cookie), []byte(c.PostForm("public_csrf"))) != 1 {
		v.Status, v.Error = http.StatusForbidden, "The form expired or was not sent from this site. Please try again."
		u.renderPublicIntake(c, v, d)
		return
	}
	intakeFromForm(c, &d)
	d.In.Channel = request.ChannelWeb
	if len(d.Fields) == 0 {
		rec, err := u.d.Requests.PublicCreate(c.Request.Context(), c.ClientIP(), d.In)
		if err == nil {
			d.Receipt = &rec
			v.Title = "Request received"
			v.Data = d
			u.render(c, "public_intake", v)
			return
		}
		status, msg := fieldErrors(err, &d)
		if status >= 500 {
			u.serverError(c, v, err)
			return
		}
		v.Status, v.Error = status, msg
	} else {
		v.Status, v.Error = http.StatusBadRequest, "Please correct the marked fields."
	}
	u.renderPublicIntake(c, v, d)
}

func (u *UI) publicStatusPage(c *gin.Context) {
	v := u.publicView("Request status")
	v.Data = newIntakeData()
	u.render(c, "public_status", v)
}

func (u *UI) publicStatus(c *gin.Context) {
	v := u.publicView("Request status")
	d := newIntakeData()
	d.Number = strings.TrimSpace(c.PostForm("tracking_number"))
	st, err := u.d.Requests.PublicLookup(c.Request.Context(), c.ClientIP(), d.Number, c.PostForm("status_code"))
	if err != nil {
		status, msg := api.StatusOf(err)
		if status == http.StatusNotFound {
			msg = "No request matches that tracking number and status code."
		}
		v.Status, v.Error = status, msg
	} else {
		d.Status = &st
	}
	v.Data = d
	u.render(c, "public_status", v)
}

// requestClipEditor is the redaction editor's loader for a clip of the
// request the route loaded and authorized; a clip of another request is
// missing.
func (u *UI) requestClipEditor(c *gin.Context) (string, EditorData, error) {
	r, _ := api.ResourceOf[*request.Request](c, request.KindRequest)
	id, err := uuid.Parse(c.Param("clip"))
	if err != nil {
		return "", EditorData{}, evidence.NotFound("clip")
	}
	clip, err := u.d.Requests.Store.Clip(c.Request.Context(), id)
	if err != nil || clip.RequestID != r.ID {
		return "", EditorData{}, evidence.NotFound("clip")
	}
	// The editor is footage: whoever may read the request but not play
	// the item (an auditor) is refused here rather than shown a page
	// whose video fails.
	it, err := u.d.Evidence.Get(c.Request.Context(), clip.EvidenceID)
	if err != nil {
		return "", EditorData{}, err
	}
	if ia := it.Attributes(); !api.Can(c, "evidence:play", &ia) {
		return "", EditorData{}, &evidence.Error{Kind: evidence.ErrPermission, Code: "forbidden", Msg: "the redaction editor plays the footage, which you may not play"}
	}
	base := "/requests/" + r.ID.String()
	d := EditorData{ClipURL: "/api/v1" + base + "/clips/" + clip.ID.String(), BackURL: base, ProxyURL: "/api/v1/evidence/" + clip.EvidenceID.String() + "/proxy"}
	ra := r.Attributes()
	switch {
	case !api.Can(c, "redaction:create", &ra):
		d.ReadOnlyReason = "Read only: you may view this clip's redactions but not change them."
	case !request.SpecsEditable(r.State):
		d.ReadOnlyReason = "Read only: the request is " + string(r.State) + "; redactions can be changed only while it is searching or redacting."
	default:
		d.CanEdit = true
	}
	return "Request " + r.TrackingNumber + " · clip " + shortID(clip.ID.String()), d, nil
}
