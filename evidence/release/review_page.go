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
		{Method: "GET", Path: "/requests/:id/review", Access: page("request:read", "review and release of a request: clips, reviews, decisions, releases"), Handler: s.reviewPage, Op: "pageRequestReview", OutContent: "text/html"},
		{Method: "POST", Path: "/requests/:id/clips/:clip/submit", Access: page("redaction:create", "submit a clip for review"), Handler: s.submitPage, Op: "pageSubmitClip", InContent: "application/x-www-form-urlencoded", OutContent: "text/html"},
		{Method: "POST", Path: "/requests/:id/reviews/:review/decide", Access: page("redaction:approve", "approve or reject a review"), Handler: s.decidePage, Op: "pageDecideReview", InContent: "application/x-www-form-urlencoded", OutContent: "text/html"},
		{Method: "POST", Path: "/requests/:id/release", Access: page("release:create", "build the release package"), Handler: s.releasePage, Op: "pageRelease", InContent: "application/x-www-form-urlencoded", OutContent: "text/html"},
		{Method: "POST", Path: "/requests/:id/releases/:release/cancel", Access: page("release:create", "cancel a release's build"), Handler: s.cancelPage, Op: "pageCancelReleaseBuild", InContent: "application/x-www-form-urlencoded", OutContent: "text/html"},
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
	building := false
	for _, rel := range releases {
		building = building || rel.State == StateBuilding
	}
	s.render(c, http.StatusOK, "review", map[string]any{"Request": r, "Reviews": rows, "Clips": crs, "Releases": releases, "Building": building,
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
	s.backToReview(c, "release started")
}

// cancelPage cancels a build of this request's release (the release is
// looked up under the request, so the request's loader decided access).
func (s *Service) cancelPage(c *gin.Context) {
	id, err := uuid.Parse(c.Param("release"))
	if err != nil {
		s.pageError(c, evidence.NotFound("release"))
		return
	}
	rel, err := s.Get(c.Request.Context(), id)
	if err != nil || rel.RequestID != requestOf(c).ID {
		s.pageError(c, evidence.NotFound("release"))
		return
	}
	if _, err := s.Cancel(c.Request.Context(), id, actorOf(c)); err != nil {
		s.pageError(c, err)
		return
	}
	s.backToReview(c, "build cancelled")
}

const reviewTemplate = `
{{define "review"}}
<p class="small"><a href="/requests/{{.Request.ID}}">← Request {{.Request.TrackingNumber}}</a></p>
<h1>Review and release: {{.Request.TrackingNumber}}</h1>
{{if .Flash}}<p class="flash" role="status">Done: {{.Flash}}.</p>{{end}}
<p class="badges"><span class="badge" id="state">{{.Request.State}}</span></p>
<p class="note">State <strong>{{.Request.State}}</strong>. Each clip's render is approved by a second records officer: nobody who edited its spec, linked it or submitted it may decide. A later spec save or render voids the approval.</p>
<section class="card" aria-labelledby="clips-h">
  <h2 id="clips-h">Clips</h2>
  <div class="table-wrap"><table class="items">
  <thead><tr><th scope="col">Clip</th><th scope="col">Item</th><th scope="col">Spec</th><th scope="col">Linked by</th><th scope="col">Review</th></tr></thead><tbody>
  {{range .Clips}}<tr><td><code class="hash">{{.ID}}</code></td><td><a href="/evidence/{{.EvidenceID}}"><code class="hash">{{.EvidenceID}}</code></a></td><td>v{{.SpecVersion}} {{.SpecAuthor}}</td><td>{{.LinkedBy}}</td>
  <td>{{if .Live}}submitted{{else if $.CanSubmit}}<form method="post" action="/requests/{{$.Request.ID}}/clips/{{.ID}}/submit" class="row-form"><input type="hidden" name="csrf_token" value="{{$.CSRF}}"><div class="field"><label class="sr-only" for="note-{{.ID}}">Note for the reviewer</label><input id="note-{{.ID}}" name="note" placeholder="note for the reviewer" maxlength="2000"></div><button type="submit">Submit for review</button></form>{{else}}<span class="muted">not submitted</span>{{end}}</td></tr>{{end}}
  </tbody></table></div>
</section>
<section class="card" aria-labelledby="reviews-h">
  <h2 id="reviews-h">Reviews</h2>
  {{if not .Reviews}}<p>No clip has been submitted yet.</p>{{end}}
  {{range .Reviews}}<article class="card" aria-labelledby="rv-{{.ID}}">
    <h3 id="rv-{{.ID}}" class="small-h">Clip <code>{{.ClipID}}</code> · spec v{{.SpecVersion}} · <span class="badge{{if eq (print .State) "approved"}}{{else if eq (print .State) "pending"}} flag{{else}} hold{{end}}">{{.State}}</span></h3>
    <dl class="meta">
      <dt>Render SHA-256</dt><dd><code class="hash">{{.OutputSHA256}}</code></dd>
      <dt>Submitted</dt><dd>by {{.SubmittedBy}} {{time .SubmittedAt}}{{if .Note}}: {{.Note}}{{end}}</dd>
      {{if .DecidedBy}}<dt>Decided</dt><dd>{{.State}} by {{.DecidedBy}} {{time .DecidedAt}}{{if .Comment}}: {{.Comment}}{{end}}</dd>{{end}}
      {{if .VoidReason}}<dt>Voided</dt><dd>{{.VoidReason}}</dd>{{end}}
    </dl>
    {{if .Comments}}<ul>{{range .Comments}}<li>{{if .Region}}{{.Region}}{{end}}{{if .End}} {{.Start}}–{{.End}} s{{end}}: {{.Text}}</li>{{end}}</ul>{{end}}
    {{if .Duty}}<p class="error">{{.Duty}}</p>{{end}}
    {{if .CanDecide}}<form method="post" action="/requests/{{$.Request.ID}}/reviews/{{.ID}}/decide">
      <input type="hidden" name="csrf_token" value="{{$.CSRF}}">
      <div class="fields">
        <div class="field wide"><label for="comment-{{.ID}}">Comment</label><input id="comment-{{.ID}}" name="comment" maxlength="4000"></div>
      </div>
      <fieldset class="card"><legend>Comment on a region or time range (optional)</legend>
        <div class="fields">
          <div class="field"><label for="region-{{.ID}}">Region</label><input id="region-{{.ID}}" name="at_region" placeholder="face-1"></div>
          <div class="field"><label for="start-{{.ID}}">From (s)</label><input id="start-{{.ID}}" name="at_start" inputmode="decimal"></div>
          <div class="field"><label for="end-{{.ID}}">To (s)</label><input id="end-{{.ID}}" name="at_end" inputmode="decimal"></div>
          <div class="field wide"><label for="text-{{.ID}}">Remark</label><input id="text-{{.ID}}" name="at_text"></div>
        </div>
      </fieldset>
      <div class="actions"><button type="submit" name="decision" value="approve" class="primary">Approve</button> <button type="submit" name="decision" value="reject" class="danger">Reject</button></div>
    </form>{{end}}
  </article>{{end}}
</section>
<section class="card" aria-labelledby="releases-h">
  <h2 id="releases-h">Releases</h2>
  {{if not .Releases}}<p class="muted">No release yet.</p>{{end}}
  {{range .Releases}}<div class="release" data-release="{{.ID}}" data-state="{{.State}}"><p>{{time .CreatedAt}} · <span class="badge{{if eq (print .State) "failed"}} hold{{end}}">{{.State}}</span>{{if and (eq (print .State) "building") .Job}} <progress max="100" value="{{.Job.Progress}}" aria-label="build progress">{{printf "%.0f" .Job.Progress}}%</progress> {{printf "%.0f" .Job.Progress}}% · {{.Job.Message}}{{end}}{{if .PackageName}} · {{.PackageName}} ({{size .PackageSize}}) · SHA-256 <code class="hash">{{.PackageSHA256}}</code> · <a href="/releases/{{.ID}}/shares">share links</a>{{end}}{{if .Error}} · <span class="err-text">{{.Error}}</span>{{end}}</p>
  {{if and (eq (print .State) "building") $.CanRelease}}<form method="post" action="/requests/{{$.Request.ID}}/releases/{{.ID}}/cancel" class="row-form"><input type="hidden" name="csrf_token" value="{{$.CSRF}}"><button type="submit" class="danger">Cancel build</button></form>{{end}}</div>{{end}}
  {{if .Building}}<p role="status">The package is being built; this page refreshes every few seconds.</p><meta http-equiv="refresh" content="3">{{end}}
  {{if and .CanRelease (eq (print .Request.State) "approved") (not .Building)}}<form method="post" action="/requests/{{.Request.ID}}/release" class="row-form"><input type="hidden" name="csrf_token" value="{{.CSRF}}">
    <div class="field wide"><label for="letter">Letter paragraph (optional)</label><input id="letter" name="letter" maxlength="4000"></div>
    <button type="submit" class="primary">Build the release package</button></form>{{end}}
</section>
{{end}}
`
