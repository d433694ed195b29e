package release

import (
	"net/http"
	"strconv"

	"github.com/gin-gonic/gin"
	"github.com/google/uuid"

	"github.com/opendems/opendems/evidence"
	"github.com/opendems/opendems/evidence/api"
	"github.com/opendems/opendems/evidence/request"
)

// reviewPageRoutes: the records officers' review page of a request
// (submit clips, approve or reject with a comment on a region or time
// range, release, links to the share pages), on the request's loader.
func (s *Service) reviewPageRoutes() []api.Route {
	page := func(action, summary string) api.Access {
		return api.Access{Page: true, Action: action, Resource: request.KindRequest, Summary: "Web UI: " + summary}
	}
	return []api.Route{
		{Method: "GET", Path: "/requests/:id/review", Access: page("request:read", "review and release of a request: clips, reviews, decisions, releases"), Handler: s.reviewPage},
		{Method: "POST", Path: "/requests/:id/clips/:clip/submit", Access: page("redaction:create", "submit a clip for review"), Handler: s.submitPage},
		{Method: "POST", Path: "/requests/:id/reviews/:review/decide", Access: page("redaction:approve", "approve or reject a review"), Handler: s.decidePage},
		{Method: "POST", Path: "/requests/:id/release", Access: page("release:create", "build the release package"), Handler: s.releasePage},
	}
}

type reviewRow struct {
	Review
	CanDecide bool
	Duty      string // why the viewer may not decide, when they may not
}

type clipRow struct {
	request.Clip
	Live bool // has a pending or approved review
}

func (s *Service) reviewPage(c *gin.Context) {
	ctx := c.Request.Context()
	r := requestOf(c)
	reviews, err := s.Reviews(ctx, r.ID)
	if err != nil {
		s.pageError(c, err)
		return
	}
	clips, err := s.requests.Clips(ctx, r.ID)
	if err != nil {
		s.pageError(c, err)
		return
	}
	releases, err := s.List(ctx, r.ID)
	if err != nil {
		s.pageError(c, err)
		return
	}
	attrs := r.Attributes()
	canApprove := api.Can(c, "redaction:approve", &attrs)
	who := actorOf(c).Name
	live := map[uuid.UUID]bool{}
	var rows []reviewRow
	for i := len(reviews) - 1; i >= 0; i-- {
		rv := reviews[i]
		if rv.State == ReviewPending || rv.State == ReviewApproved {
			live[rv.ClipID] = true
		}
		row := reviewRow{Review: rv}
		if rv.State == ReviewPending && canApprove {
			if err := s.SeparationOfDuties(ctx, s.db, rv, who); err != nil {
				row.Duty = err.Error()
			} else {
				row.CanDecide = true
			}
		}
		rows = append(rows, row)
	}
	var crs []clipRow
	for _, cl := range clips {
		if cl.RemovedAt == nil {
			crs = append(crs, clipRow{Clip: cl, Live: live[cl.ID]})
		}
	}
	var csrf string
	if sess, ok := api.SessionOf(c); ok {
		csrf = sess.CSRFToken
	}
	s.render(c, http.StatusOK, "review", map[string]any{"Request": r, "Reviews": rows, "Clips": crs, "Releases": releases,
		"CSRF": csrf, "CanSubmit": api.Can(c, "redaction:create", &attrs), "CanRelease": api.Can(c, "release:create", &attrs),
		"Flash": c.Query("done")})
}

func (s *Service) backToReview(c *gin.Context, done string) {
	c.Redirect(http.StatusSeeOther, "/requests/"+requestOf(c).ID.String()+"/review?done="+done)
}

func (s *Service) submitPage(c *gin.Context) {
	clipID, err := uuid.Parse(c.Param("clip"))
	if err != nil {
		s.pageError(c, evidence.NotFound("clip"))
		return
	}
	if _, err := s.Submit(c.Request.Context(), requestOf(c).ID, clipID, actorOf(c), SubmitInput{Note: c.PostForm("note")}); err != nil {
		s.pageError(c, err)
		return
	}
	s.backToReview(c, "submitted")
}

func (s *Service) decidePage(c *gin.Context) {
	id, err := uuid.Parse(c.Param("review"))
	if err != nil {
		s.pageError(c, evidence.NotFound("review"))
		return
	}
	in := DecisionInput{Comment: c.PostForm("comment")}
	if text := c.PostForm("at_text"); text != "" {
		cm := Comment{Region: c.PostForm("at_region"), Text: text}
		cm.Start, _ = strconv.ParseFloat(c.PostForm("at_start"), 64)
		cm.End, _ = strconv.ParseFloat(c.PostForm("at_end"), 64)
		in.Comments = []Comment{cm}
	}
	ctx, rid, who := c.Request.Context(), requestOf(c).ID, actorOf(c)
	switch c.PostForm("decision") {
	case "approve":
		_, err = s.Approve(ctx, rid, id, who, in)
	case "reject":
		_, err = s.Reject(ctx, rid, id, who, in)
	default:
		err = evidence.Invalid("decision", "approve or reject")
	}
	if err != nil {
		s.pageError(c, err)
		return
	}
	s.backToReview(c, c.PostForm("decision")+"d")
}

func (s *Service) releasePage(c *gin.Context) {
	var letter []string
	if p := c.PostForm("letter"); p != "" {
		letter = []string{p}
	}
	if _, err := s.Release(c.Request.Context(), requestOf(c).ID, actorOf(c), ReleaseInput{Letter: letter}); err != nil {
		s.pageError(c, err)
		return
	}
	s.backToReview(c, "released")
}

const reviewTemplate = `
{{define "review"}}{{template "head" "Review and release"}}
<header class="top"><a class="brand" href="/">OpenDEMS</a> <a href="/requests/{{.Request.ID}}">Request {{.Request.TrackingNumber}}</a></header>
<main id="main"><h1>Review and release: {{.Request.TrackingNumber}}</h1>
<p>State <strong>{{.Request.State}}</strong>. Each clip's render is approved by a second records officer: nobody who edited its spec, linked it or submitted it may decide. A later spec save or render voids the approval.</p>
{{if .Flash}}<p class="card" role="status">Done: {{.Flash}}.</p>{{end}}
<section class="card"><h2>Clips</h2>
<table><thead><tr><th>Clip</th><th>Item</th><th>Spec</th><th>Linked by</th><th></th></tr></thead><tbody>
{{range .Clips}}<tr><td class="mono">{{.ID}}</td><td class="mono">{{.EvidenceID}}</td><td>v{{.SpecVersion}} {{.SpecAuthor}}</td><td>{{.LinkedBy}}</td>
<td>{{if .Live}}submitted{{else if $.CanSubmit}}<form method="post" action="/requests/{{$.Request.ID}}/clips/{{.ID}}/submit"><input type="hidden" name="csrf_token" value="{{$.CSRF}}"><label class="sr-only" for="note-{{.ID}}">Note</label><input id="note-{{.ID}}" name="note" placeholder="note for the reviewer"> <button type="submit">Submit for review</button></form>{{end}}</td></tr>{{end}}
</tbody></table></section>
<section class="card"><h2>Reviews</h2>
{{if not .Reviews}}<p>No clip has been submitted yet.</p>{{end}}
{{range .Reviews}}<article class="card"><h3 class="small-h">Clip {{.ClipID}} · spec v{{.SpecVersion}} · <span class="status">{{.State}}</span></h3>
<p>Render SHA-256 <span class="mono">{{.OutputSHA256}}</span><br>Submitted by {{.SubmittedBy}} {{time .SubmittedAt}}{{if .Note}}: {{.Note}}{{end}}
{{if .DecidedBy}}<br>{{.State}} by {{.DecidedBy}} {{time .DecidedAt}}{{if .Comment}}: {{.Comment}}{{end}}{{end}}
{{if .VoidReason}}<br>Voided: {{.VoidReason}}{{end}}</p>
{{if .Comments}}<ul>{{range .Comments}}<li>{{if .Region}}{{.Region}}{{end}}{{if .End}} {{.Start}}–{{.End}} s{{end}}: {{.Text}}</li>{{end}}</ul>{{end}}
{{if .Duty}}<p class="gone">{{.Duty}}</p>{{end}}
{{if .CanDecide}}<form method="post" action="/requests/{{$.Request.ID}}/reviews/{{.ID}}/decide">
<input type="hidden" name="csrf_token" value="{{$.CSRF}}">
<label for="comment-{{.ID}}">Comment</label><input id="comment-{{.ID}}" name="comment">
<fieldset><legend>Comment on a region or time range (optional)</legend>
<label for="region-{{.ID}}">Region</label><input id="region-{{.ID}}" name="at_region" placeholder="face-1" size="10">
<label for="start-{{.ID}}">From (s)</label><input id="start-{{.ID}}" name="at_start" size="6">
<label for="end-{{.ID}}">To (s)</label><input id="end-{{.ID}}" name="at_end" size="6">
<label for="text-{{.ID}}">Remark</label><input id="text-{{.ID}}" name="at_text"></fieldset>
<button type="submit" name="decision" value="approve">Approve</button> <button type="submit" name="decision" value="reject">Reject</button></form>{{end}}
</article>{{end}}</section>
<section class="card"><h2>Releases</h2>
{{range .Releases}}<p>{{time .CreatedAt}} · {{.State}}{{if .PackageName}} · {{.PackageName}} ({{size .PackageSize}}) · SHA-256 <span class="mono">{{.PackageSHA256}}</span> · <a href="/releases/{{.ID}}/shares">share links</a>{{end}}{{if .Error}} · {{.Error}}{{end}}</p>{{end}}
{{if and .CanRelease (eq (print .Request.State) "approved")}}<form method="post" action="/requests/{{.Request.ID}}/release"><input type="hidden" name="csrf_token" value="{{.CSRF}}">
<label for="letter">Letter paragraph (optional)</label><input id="letter" name="letter" size="60"> <button type="submit">Build the release package</button></form>{{end}}
</section></main></body></html>{{end}}
`
