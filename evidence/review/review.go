package review

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/opendems/opendems/evidence"
	"github.com/opendems/opendems/evidence/api"
	"github.com/opendems/opendems/evidence/identity"
	"github.com/opendems/opendems/storage"
)

// Retention is what review needs of the retention schedule: the
// categories an item may be put in (the deadline that follows is the
// RetentionKeeper's business).
type Retention interface {
	// Categories lists the schedule's categories in display order.
	Categories() []Category
}

// Category is one retention category as shown to reviewers.
type Category struct {
	Name string `json:"name"`
	Keep string `json:"keep"` // e.g. "2y", "indefinite"
}

// Deps are what the handlers need; cmd/demsd wires them.
type Deps struct {
	Pool      *pgxpool.Pool
	Storage   storage.Store
	Evidence  *evidence.Store
	Retention Retention
	// Keeper recomputes retention and holds after case membership changes
	// (evidence/retention owns both; required).
	Keeper RetentionKeeper
	// Auditor records what reviewers do beyond custody.
	Auditor api.Auditor
}

// Service holds the review operations; its methods are also what the web
// UI renders from.
type Service struct{ d Deps }

// New returns the service.
func New(d Deps) *Service { return &Service{d: d} }

// Routes is review's part of the route table: playback, markers, tags,
// the attention flag and cases. Retention owns categories and holds
// (evidence/retention), so their routes are declared there.
func (s *Service) Routes() []api.Route {
	item := func(action, summary string) api.Access {
		return api.Access{Action: action, Resource: api.KindItem, Summary: summary}
	}
	return []api.Route{
		{Method: "GET", Path: "/api/v1/evidence/:id/proxy", Access: item("evidence:play", "The web proxy (MP4), HTTP Range; the first request of a session records a viewed custody event"), Handler: s.handleProxy, Op: "getProxy", OutContent: "video/mp4", Also: []int{http.StatusPartialContent}},
		{Method: "HEAD", Path: "/api/v1/evidence/:id/proxy", Access: item("evidence:play", "Proxy size and type (no custody event)"), Handler: s.handleProxy, Op: "headProxy", OutContent: "video/mp4"},
		{Method: "POST", Path: "/api/v1/evidence/:id/views", Access: item("evidence:play", "Record that playback started (once per session and item)"), Handler: s.handleView, Op: "recordView", Out: ViewRecorded{}},
		{Method: "GET", Path: "/api/v1/evidence/:id/thumbnail", Access: item("evidence:play", "Poster frame (JPEG)"), Handler: s.handleDerivative(KindPoster), Op: "getThumbnail", OutContent: "image/jpeg", Also: []int{http.StatusPartialContent}},
		{Method: "GET", Path: "/api/v1/evidence/:id/sprite", Access: item("evidence:play", "Thumbnail sprite (JPEG) for the timeline"), Handler: s.handleDerivative(KindSprite), Op: "getSprite", OutContent: "image/jpeg", Also: []int{http.StatusPartialContent}},
		{Method: "GET", Path: "/api/v1/evidence/:id/review", Access: item("evidence:view", "Everything the review page shows: item, job, sprite geometry, markers, cases, permissions"), Handler: s.handleReview, Op: "getReview", Out: ReviewData{}},
		{Method: "GET", Path: "/api/v1/evidence/:id/job", Access: item("evidence:view", "Transcode job status and progress"), Handler: s.handleJob, Op: "getTranscodeJob", Out: JobStatus{}},
		{Method: "GET", Path: "/api/v1/evidence/:id/markers", Access: item("evidence:view", "Markers (bookmarks with notes)"), Handler: s.handleMarkers, Op: "listMarkers", Out: MarkerList{}},
		{Method: "POST", Path: "/api/v1/evidence/:id/markers", Access: item("evidence:edit", "Add a marker at a media time (custody: marker_added)"), Handler: s.handleAddMarker, Op: "addMarker", In: MarkerInput{}, Out: Marker{}, Status: http.StatusCreated},
		{Method: "PUT", Path: "/api/v1/evidence/:id/tags", Access: item("evidence:edit", "Replace the item's tags (custody: metadata_changed)"), Handler: s.handleTags, Op: "setTags", In: Tags{}, Out: Tags{}},
		{Method: "PUT", Path: "/api/v1/evidence/:id/flag", Access: item("evidence:edit", "Flag or unflag the item for attention (custody: metadata_changed)"), Handler: s.handleFlag, Op: "setFlag", In: FlagBody{}, Out: Flagged{}},
		{Method: "GET", Path: "/api/v1/evidence/:id/cases", Access: item("evidence:view", "Cases the item belongs to (that the caller may read)"), Handler: s.handleItemCases, Op: "listItemCases", Out: CaseList{}},
		{Method: "POST", Path: "/api/v1/evidence/:id/cases", Access: item("case:edit", "Add the item to a case (custody: case_added; the case is decided for case:edit too)"), Handler: s.handleAddToCase, Op: "addItemToCase", In: CaseRef{}, Out: Case{}},
		{Method: "DELETE", Path: "/api/v1/evidence/:id/cases/:case", Access: api.Access{Action: "case:edit", Resource: api.KindItem,
			Also:    []api.Need{{Resource: api.KindCase, Param: "case", Action: "case:edit"}},
			Summary: "Remove the item from a case (custody: case_removed); refused while the case is under legal hold"}, Handler: s.handleRemoveFromCase, Op: "removeItemFromCase", Status: http.StatusNoContent},
		{Method: "GET", Path: "/api/v1/cases", Access: api.Access{Action: "case:read", Summary: "Cases of the caller's units"}, Handler: s.handleCases, Op: "listCases", Out: CaseList{}},
		{Method: "POST", Path: "/api/v1/cases", Access: api.Access{Action: "case:edit", Summary: "Create a case"}, Handler: s.handleCreateCase, Op: "createCase", In: NewCase{}, Out: Case{}, Status: http.StatusCreated},
		{Method: "GET", Path: "/api/v1/cases/:id", Access: api.Access{Action: "case:read", Resource: api.KindCase, Summary: "A case and its items"}, Handler: s.handleCase, Op: "getCase", Out: CaseDetail{}},
	}
}

// CaseLoader loads cases for the enforcement point (api.KindCase): a
// case is decided on by its unit; knowing it exists takes case:read.
func (s *Service) CaseLoader() api.Loader {
	return api.Loader{View: "case:read", Load: func(ctx context.Context, id uuid.UUID) (api.Loaded, error) {
		k, err := s.caseByID(ctx, id)
		if err != nil {
			return nil, err
		}
		return &k, nil
	}}
}

// CaseOf returns the case the enforcement point loaded and authorized.
func CaseOf(c *gin.Context) (*Case, bool) { return api.ResourceOf[*Case](c, api.KindCase) }

// Categories lists the retention categories (empty without a schedule).
func (s *Service) Categories() []Category {
	if s.d.Retention == nil {
		return []Category{}
	}
	return s.d.Retention.Categories()
}

// Derivative kinds, as the transcode worker records them.
const (
	KindProxy  = "proxy"
	KindPoster = "poster"
	KindSprite = "thumbstrip"
)

// Derivative is one derived object of an item.
type Derivative struct {
	Kind        string          `json:"kind"`
	SHA256      string          `json:"sha256"`
	Size        int64           `json:"size"`
	ContentType string          `json:"content_type"`
	Details     json.RawMessage `json:"details"`
	CreatedAt   time.Time       `json:"created_at"`
	digest      storage.Digest
}

// Derivatives returns the item's current derivatives by kind.
func (s *Service) Derivatives(ctx context.Context, id uuid.UUID) (map[string]Derivative, error) {
	rows, err := s.d.Pool.Query(ctx, `SELECT DISTINCT ON (kind) kind, sha256, size, details, created_at
		FROM evidence_derivatives WHERE evidence_id = $1 ORDER BY kind, created_at DESC`, id)
	if err != nil {
		return nil, fmt.Errorf("review: derivatives: %w", err)
	}
	out := map[string]Derivative{}
	for rows.Next() {
		var d Derivative
		var sum []byte
		if err := rows.Scan(&d.Kind, &sum, &d.Size, &d.Details, &d.CreatedAt); err != nil {
			rows.Close()
			return nil, fmt.Errorf("review: derivatives: %w", err)
		}
		copy(d.digest[:], sum)
		d.SHA256 = d.digest.String()
		var ct struct {
			ContentType string `json:"content_type"`
		}
		_ = json.Unmarshal(d.Details, &ct)
		d.ContentType = ct.ContentType
		out[d.Kind] = d
	}
	return out, rows.Err()
}

// JobStatus is where an item's transcode stands.
type JobStatus struct {
	Status    string     `json:"status"` // pending, processing, ready, failed
	Progress  float64    `json:"progress"`
	Error     string     `json:"error,omitempty"`
	Attempts  int        `json:"attempts"`
	UpdatedAt *time.Time `json:"updated_at,omitempty"`
	// Queue is river's view of the latest job (available, running,
	// retryable, completed, cancelled, discarded), when one exists.
	Queue string `json:"queue,omitempty"`
}

// Job returns the item's transcode status.
func (s *Service) Job(ctx context.Context, id uuid.UUID) (JobStatus, error) {
	var j JobStatus
	var progress float32
	err := s.d.Pool.QueryRow(ctx, `SELECT proxy_status, proxy_progress, proxy_error, proxy_attempts, proxy_updated_at
		FROM evidence_items WHERE id = $1`, id).Scan(&j.Status, &progress, &j.Error, &j.Attempts, &j.UpdatedAt)
	if errors.Is(err, pgx.ErrNoRows) {
		return j, evidence.ErrNotFound
	}
	if err != nil {
		return j, fmt.Errorf("review: job status: %w", err)
	}
	j.Progress = float64(progress)
	// river_job is read-only here; its absence (e.g. pruned) is fine.
	_ = s.d.Pool.QueryRow(ctx, `SELECT state::text FROM river_job WHERE kind = 'transcode' AND args->>'evidence_id' = $1
		ORDER BY id DESC LIMIT 1`, id.String()).Scan(&j.Queue)
	return j, nil
}

// Permissions say which review actions the caller may take on an item,
// so the UI shows only controls that will work.
type Permissions struct {
	Play       bool `json:"play"`
	Download   bool `json:"download"`
	Edit       bool `json:"edit"`
	Categorize bool `json:"categorize"`
	Custody    bool `json:"custody"`
	CaseEdit   bool `json:"case_edit"`
	Hold       bool `json:"hold"`
}

// PermissionsFor asks the enforcement point which review actions the
// caller may take on it.
func PermissionsFor(c *gin.Context, it *evidence.Item) Permissions {
	attrs := it.Attributes()
	ok := func(a string) bool { return api.Can(c, a, &attrs) }
	return Permissions{Play: ok("evidence:play"), Download: ok("evidence:download"), Edit: ok("evidence:edit"),
		Categorize: ok("evidence:categorize"), Custody: ok("custody:read"), CaseEdit: ok("case:edit"),
		Hold: api.Can(c, "case:hold", nil)}
}

// ReviewData is everything the evidence page shows.
type ReviewData struct {
	Item        *evidence.Item        `json:"item"`
	Job         JobStatus             `json:"job"`
	Derivatives map[string]Derivative `json:"derivatives"`
	Markers     []Marker              `json:"markers"`
	Cases       []Case                `json:"cases"`
	Permissions Permissions           `json:"permissions"`
	Categories  []Category            `json:"categories"`
}

// Review gathers the page's data for an item the caller may view.
func (s *Service) Review(c *gin.Context, it *evidence.Item) (ReviewData, error) {
	ctx := c.Request.Context()
	r := ReviewData{Item: it, Categories: s.Categories()}
	var err error
	if r.Job, err = s.Job(ctx, it.ID); err != nil {
		return r, err
	}
	if r.Derivatives, err = s.Derivatives(ctx, it.ID); err != nil {
		return r, err
	}
	if r.Markers, err = s.Markers(ctx, it.ID); err != nil {
		return r, err
	}
	if r.Cases, err = s.ItemCases(ctx, api.ListScope(c), it.ID); err != nil {
		return r, err
	}
	r.Permissions = PermissionsFor(c, it)
	return r, nil
}

func (s *Service) audit(c *gin.Context, e api.AuditEvent) {
	if s.d.Auditor != nil {
		e.SourceAddr = c.ClientIP()
		s.d.Auditor.Audit(c.Request.Context(), e)
	}
}

func principal(c *gin.Context) identity.Principal {
	p, _ := api.Principal(c)
	return p
}

// userID is the principal's user id for foreign keys (nil for docks).
func userID(p identity.Principal) *uuid.UUID {
	if p.Kind != identity.KindUser || p.ID == uuid.Nil {
		return nil
	}
	id := p.ID
	return &id
}
