package release

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strconv"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/google/uuid"

	"github.com/opendems/opendems/evidence"
	"github.com/opendems/opendems/evidence/api"
	"github.com/opendems/opendems/evidence/custody/audit"
	"github.com/opendems/opendems/evidence/identity"
	"github.com/opendems/opendems/evidence/request"
	"github.com/opendems/opendems/evidence/review"
	"github.com/opendems/opendems/storage"
)

// Loader loads releases for the enforcement point; knowing a release
// exists takes request:read, like its request.
func (s *Service) Loader() api.Loader {
	return api.Loader{View: "request:read", Load: func(ctx context.Context, id uuid.UUID) (api.Loaded, error) {
		r, err := s.Get(ctx, id)
		if err != nil {
			return nil, err
		}
		return &r, nil
	}}
}

// Routes declares the review, release and share routes. Review and
// release routes hang under the request (its loader and the request's
// unit decide); a release's own routes load the release.
func (s *Service) Routes() []api.Route {
	onRequest := func(action, summary string) api.Access {
		return api.Access{Action: action, Resource: request.KindRequest, Summary: summary}
	}
	onRelease := func(action, summary string) api.Access {
		return api.Access{Action: action, Resource: KindRelease, Param: "release", Summary: summary}
	}
	const req = "/api/v1/requests/:id"
	const rel = "/api/v1/releases/:release"
	routes := []api.Route{
		{Method: "GET", Path: req + "/reviews", Access: onRequest("request:read", "Redaction reviews of the request (pending, approved, rejected, voided)"), Handler: s.listReviews, Op: "listReviews", Out: ReviewList{}},
		{Method: "POST", Path: req + "/clips/:clip/review", Access: onRequest("redaction:create", "Submit a clip's redaction (latest spec version and its render) for a second person's review"), Handler: s.submit, Op: "submitClipForReview", In: SubmitInput{}, InOptional: true, Out: Review{}, Status: http.StatusCreated},
		{Method: "POST", Path: req + "/reviews/:review/approve", Access: onRequest("redaction:approve", "Approve a review (not by anyone who edited the spec, linked or submitted the clip: 403 with the reason)"), Handler: s.approve, Op: "approveReview", In: DecisionInput{}, InOptional: true, Out: Review{}},
		{Method: "POST", Path: req + "/reviews/:review/reject", Access: onRequest("redaction:approve", "Reject a review with comments per region or time range; the request returns to redacting"), Handler: s.reject, Op: "rejectReview", In: DecisionInput{}, InOptional: true, Out: Review{}},
		{Method: "GET", Path: req + "/releases", Access: onRequest("request:read", "Releases of the request"), Handler: s.listReleases, Op: "listReleases", Out: ReleaseList{}},
		{Method: "POST", Path: req + "/releases", Access: onRequest("release:create", "Start building the release package from approved material (202 with the release and its job; 409 unless the request is approved or while another build runs)"), Handler: s.release, Op: "createRelease", In: ReleaseInput{}, InOptional: true, Out: Release{}, Status: http.StatusAccepted},
		{Method: "GET", Path: rel, Access: onRelease("request:read", "A release: state, package SHA-256 and size, files"), Handler: s.getRelease, Op: "getRelease", Out: Release{}},
		{Method: "GET", Path: rel + "/package", Access: onRelease("release:create", "Download the package (HTTP Range); while it is built, waits up to ?wait= seconds (default 30), then 409 with Retry-After; 409 unless released"), Handler: s.downloadPackage, Op: "downloadReleasePackage", Query: PackageQuery{}, OutContent: "application/zip", Also: []int{http.StatusPartialContent}},
		{Method: "POST", Path: rel + "/cancel", Access: onRelease("release:create", "Cancel a release's build in progress (the request stays approved)"), Handler: s.cancelRelease, Op: "cancelReleaseBuild", Out: Release{}},
	}
	routes = append(routes, s.reviewPageRoutes()...)
	return append(routes, s.shareRoutes()...)
}

func releaseOf(c *gin.Context) *Release {
	r, _ := api.ResourceOf[*Release](c, KindRelease)
	return r
}

func requestOf(c *gin.Context) *request.Request {
	r, _ := api.ResourceOf[*request.Request](c, request.KindRequest)
	return r
}

func actorOf(c *gin.Context) request.Actor {
	p, _ := api.Principal(c)
	return request.Actor{Name: p.Actor(), UserID: p.ID, Addr: c.ClientIP()}
}

func param(c *gin.Context, name string) (uuid.UUID, bool) {
	id, err := uuid.Parse(c.Param(name))
	if err != nil {
		api.WriteError(c, evidence.NotFound(name))
		return uuid.Nil, false
	}
	return id, true
}

func (s *Service) listReviews(c *gin.Context) {
	out, err := s.Reviews(c.Request.Context(), requestOf(c).ID)
	if err != nil {
		api.WriteError(c, err)
		return
	}
	if out == nil {
		out = []Review{}
	}
	c.JSON(http.StatusOK, ReviewList{Reviews: out})
}

func (s *Service) submit(c *gin.Context) {
	clipID, ok := param(c, "clip")
	if !ok {
		return
	}
	var in SubmitInput
	if !api.BindOptional(c, &in) {
		return
	}
	rv, err := s.Submit(c.Request.Context(), requestOf(c).ID, clipID, actorOf(c), in)
	if err != nil {
		api.WriteError(c, err)
		return
	}
	c.JSON(http.StatusCreated, rv)
}

func (s *Service) approve(c *gin.Context) { s.decideHandler(c, ReviewApproved) }
func (s *Service) reject(c *gin.Context)  { s.decideHandler(c, ReviewRejected) }

func (s *Service) decideHandler(c *gin.Context, to ReviewState) {
	id, ok := param(c, "review")
	if !ok {
		return
	}
	var in DecisionInput
	if !api.BindOptional(c, &in) {
		return
	}
	var rv Review
	var err error
	if to == ReviewApproved {
		rv, err = s.Approve(c.Request.Context(), requestOf(c).ID, id, actorOf(c), in)
	} else {
		rv, err = s.Reject(c.Request.Context(), requestOf(c).ID, id, actorOf(c), in)
	}
	var dc *DutyConflict
	if errors.As(err, &dc) {
		api.WriteError(c, &evidence.Error{Kind: evidence.ErrPermission, Code: "separation_of_duties", Msg: dc.Error(),
			Detail: map[string]any{"rule": SeparationRule, "reasons": dc.Reasons}})
		return
	}
	if err != nil {
		api.WriteError(c, err)
		return
	}
	c.JSON(http.StatusOK, rv)
}

func (s *Service) listReleases(c *gin.Context) {
	out, err := s.List(c.Request.Context(), requestOf(c).ID)
	if err != nil {
		api.WriteError(c, err)
		return
	}
	if out == nil {
		out = []Release{}
	}
	c.JSON(http.StatusOK, ReleaseList{Releases: out})
}

func (s *Service) release(c *gin.Context) {
	var in ReleaseInput
	if !api.BindOptional(c, &in) {
		return
	}
	r, err := s.Release(c.Request.Context(), requestOf(c).ID, actorOf(c), in)
	if err != nil {
		api.WriteError(c, err)
		return
	}
	c.Header("Location", "/api/v1/releases/"+r.ID.String())
	c.JSON(http.StatusAccepted, r)
}

func (s *Service) cancelRelease(c *gin.Context) {
	r, err := s.Cancel(c.Request.Context(), releaseOf(c).ID, actorOf(c))
	if err != nil {
		api.WriteError(c, err)
		return
	}
	c.JSON(http.StatusOK, r)
}

func (s *Service) getRelease(c *gin.Context) { c.JSON(http.StatusOK, releaseOf(c)) }

// downloadPackage serves the package with Range support; a release that
// was not released (building, failed) is refused with 409.
func (s *Service) downloadPackage(c *gin.Context) {
	r := releaseOf(c)
	if r.State == StateBuilding {
		var err error
		if r, err = s.waitBuilt(c, r); err != nil {
			api.WriteError(c, err)
			return
		}
	}
	ref, err := r.PackageRef()
	if err != nil {
		if r.State == StateBuilding {
			c.Header("Retry-After", "5")
		}
		api.WriteError(c, err)
		return
	}
	who := actorOf(c)
	if c.Request.Method == http.MethodGet {
		if err := s.audit(c.Request.Context(), s.db, who, AuditRelease, audit.OutcomeSuccess, uuid.Nil, map[string]any{
			"what": "package_download", "release_id": r.ID.String(), "range": c.GetHeader("Range")}); err != nil {
			api.WriteError(c, err)
			return
		}
	}
	s.servePackage(c, r, ref)
}

// PackageQuery is the package download's query.
type PackageQuery struct {
	Wait *int `form:"wait" doc:"seconds to wait for a build in progress (default 30, at most 600; 0 answers at once)"`
}

// defaultPackageWait is how long a package download waits for a build in
// progress before answering 409 with Retry-After (?wait=SECONDS changes
// it, up to maxPackageWait; 0 answers at once).
const (
	defaultPackageWait = 30 * time.Second
	maxPackageWait     = 10 * time.Minute
)

// waitBuilt polls a building release until its build ends, the wait is
// over or the caller goes away, and returns it as it then is.
func (s *Service) waitBuilt(c *gin.Context, r *Release) (*Release, error) {
	wait := defaultPackageWait
	if v := c.Query("wait"); v != "" {
		secs, err := strconv.Atoi(v)
		if err != nil || secs < 0 {
			return nil, evidence.Invalid("wait", "seconds to wait for the build, 0 or more")
		}
		wait = min(time.Duration(secs)*time.Second, maxPackageWait)
	}
	ctx := c.Request.Context()
	deadline := time.Now().Add(wait)
	for r.State == StateBuilding && time.Now().Before(deadline) {
		select {
		case <-ctx.Done():
			return nil, evidence.E(evidence.ErrUnavailable, "package", "the caller went away", ctx.Err())
		case <-time.After(500 * time.Millisecond):
		}
		fresh, err := s.Get(ctx, r.ID)
		if err != nil {
			return nil, err
		}
		r = &fresh
	}
	return r, nil
}

// servePackage answers with http.ServeContent (Range, If-Range, 206,
// 416); the ETag is the package's SHA-256, so a resumed download is never
// stitched onto other bytes.
func (s *Service) servePackage(c *gin.Context, r *Release, ref storage.Ref) {
	rd := review.NewObjectReader(c.Request.Context(), s.store, ref, r.PackageSize)
	defer rd.Close()
	c.Header("Content-Type", "application/zip")
	c.Header("Content-Disposition", `attachment; filename="`+r.PackageName+`"`)
	c.Header("ETag", `"`+r.PackageSHA256+`"`)
	at := r.CreatedAt
	if r.ReleasedAt != nil {
		at = *r.ReleasedAt
	}
	http.ServeContent(c.Writer, c.Request, "", at, rd)
}

// ReviewExplanation is what GET /api/v1/policy/explain?review= answers:
// the policy's decision on the review's request and the separation of
// duties, which can refuse what the policy allows.
type ReviewExplanation struct {
	Allowed            bool               `json:"allowed"`
	Reason             string             `json:"reason"`
	Review             uuid.UUID          `json:"review"`
	Policy             any                `json:"policy"`
	SeparationOfDuties SeparationDecision `json:"separation_of_duties"`
}

// SeparationDecision is the separation-of-duties part of an explanation.
type SeparationDecision struct {
	Rule    string   `json:"rule"`
	Applies bool     `json:"applies"` // the subject had a part in the work: refused
	Reasons []string `json:"reasons,omitempty"`
}

// ExplainReview explains whether subject may decide (approve or reject)
// a review: the policy on the review's request, then the separation of
// duties. It serves the explain route through retention.SetExplainer.
func (s *Service) ExplainReview(c *gin.Context, subject identity.Principal, action string, reviewID uuid.UUID) (any, error) {
	rv, err := s.Review(c.Request.Context(), reviewID)
	if err != nil {
		return nil, err
	}
	req, err := api.TryLoad[*request.Request](c, request.KindRequest, rv.RequestID, "policy:explain")
	if err != nil {
		return nil, err
	}
	attrs := req.Attributes()
	pol, err := api.Explain(c, subject, action, &attrs)
	if err != nil {
		return nil, err
	}
	var decided struct {
		Allowed bool   `json:"allowed"`
		Reason  string `json:"reason"`
	}
	if b, err := json.Marshal(pol); err == nil {
		_ = json.Unmarshal(b, &decided)
	}
	out := ReviewExplanation{Review: reviewID, Policy: pol, SeparationOfDuties: SeparationDecision{Rule: SeparationRule}}
	var dc *DutyConflict
	if err := s.SeparationOfDuties(c.Request.Context(), s.db, rv, subject.Actor()); errors.As(err, &dc) {
		out.SeparationOfDuties.Applies, out.SeparationOfDuties.Reasons = true, dc.Reasons
	} else if err != nil {
		return nil, err
	}
	switch {
	case !decided.Allowed:
		out.Reason = "the policy refuses " + action + ": " + decided.Reason
	case out.SeparationOfDuties.Applies:
		out.Reason = (&DutyConflict{Who: subject.Actor(), Reasons: dc.Reasons}).Error()
	default:
		out.Allowed = true
		out.Reason = "the policy allows " + action + " and " + subject.Actor() + " had no part in the redaction (separation of duties satisfied)"
	}
	return out, nil
}
