package review

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
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
	Pool       *pgxpool.Pool
	Storage    storage.Store
	Evidence   *evidence.Store
	Authorizer api.Authorizer
	Retention  Retention
	// Keeper recomputes retention and holds after category and case
	// changes; nil keeps legal_hold consistent here and leaves
	// retain_until to the retention sweep.
	Keeper RetentionKeeper
	// Auditor receives access denials decided here (second-object checks).
	Auditor api.Auditor
}

// Service holds the review operations; its methods are also what the web
// UI renders from.
type Service struct{ d Deps }

// New returns the service.
func New(d Deps) *Service { return &Service{d: d} }

// Errors of this package; the API maps them to statuses through api.Error.
var (
	ErrNoProxy  = errors.New("no playable proxy yet")
	ErrNotFound = errors.New("not found")
)

// Routes declares the access of every route Register mounts.
func Routes() map[string]api.Access {
	return map[string]api.Access{
		"GET /api/v1/evidence/:id/proxy":          {Action: "evidence:play", Item: true, Summary: "The web proxy (MP4), HTTP Range; the first request of a session records a viewed custody event"},
		"HEAD /api/v1/evidence/:id/proxy":         {Action: "evidence:play", Item: true, Summary: "Proxy size and type (no custody event)"},
		"POST /api/v1/evidence/:id/views":         {Action: "evidence:play", Item: true, Summary: "Record that playback started (once per session and item)"},
		"GET /api/v1/evidence/:id/thumbnail":      {Action: "evidence:play", Item: true, Summary: "Poster frame (JPEG)"},
		"GET /api/v1/evidence/:id/sprite":         {Action: "evidence:play", Item: true, Summary: "Thumbnail sprite (JPEG) for the timeline"},
		"GET /api/v1/evidence/:id/review":         {Action: "evidence:view", Item: true, Summary: "Everything the review page shows: item, job, sprite geometry, markers, cases, permissions"},
		"GET /api/v1/evidence/:id/job":            {Action: "evidence:view", Item: true, Summary: "Transcode job status and progress"},
		"GET /api/v1/evidence/:id/markers":        {Action: "evidence:view", Item: true, Summary: "Markers (bookmarks with notes)"},
		"POST /api/v1/evidence/:id/markers":       {Action: "evidence:edit", Item: true, Summary: "Add a marker at a media time (custody: marker_added)"},
		"PUT /api/v1/evidence/:id/tags":           {Action: "evidence:edit", Item: true, Summary: "Replace the item's tags (custody: metadata_changed)"},
		"PUT /api/v1/evidence/:id/flag":           {Action: "evidence:edit", Item: true, Summary: "Flag or unflag the item for attention (custody: metadata_changed)"},
		"PUT /api/v1/evidence/:id/category":       {Action: "evidence:categorize", Item: true, Summary: "Set the category; retention follows (custody: category_changed, retention_changed)"},
		"GET /api/v1/evidence/:id/cases":          {Action: "evidence:view", Item: true, Summary: "Cases the item belongs to (that the caller may read)"},
		"POST /api/v1/evidence/:id/cases":         {Action: "case:edit", Item: true, Summary: "Add the item to a case (custody: case_added)"},
		"DELETE /api/v1/evidence/:id/cases/:case": {Action: "case:edit", Item: true, Summary: "Remove the item from a case (custody: case_removed)"},
		"GET /api/v1/cases":                       {Action: "case:read", Summary: "Cases of the caller's units"},
		"POST /api/v1/cases":                      {Action: "case:edit", Summary: "Create a case"},
		"GET /api/v1/cases/:id":                   {Action: "case:read", Summary: "A case and its items"},
		"POST /api/v1/cases/:id/hold":             {Action: "case:hold", Summary: "Place a legal hold on a case and every item in it (custody: legal_hold_set)"},
		"DELETE /api/v1/cases/:id/hold":           {Action: "case:hold", Summary: "Lift a case's legal hold (custody: legal_hold_cleared)"},
		"GET /api/v1/categories":                  {Summary: "Retention categories"},
	}
}

// Register mounts the routes; the caller declares Routes() on the API
// server so its middleware authorizes them.
func (s *Service) Register(e *gin.Engine) {
	v1 := e.Group("/api/v1")
	v1.GET("/evidence/:id/proxy", s.handleProxy)
	v1.HEAD("/evidence/:id/proxy", s.handleProxy)
	v1.POST("/evidence/:id/views", s.handleView)
	v1.GET("/evidence/:id/thumbnail", s.handleDerivative(KindPoster))
	v1.GET("/evidence/:id/sprite", s.handleDerivative(KindSprite))
	v1.GET("/evidence/:id/review", s.handleReview)
	v1.GET("/evidence/:id/job", s.handleJob)
	v1.GET("/evidence/:id/markers", s.handleMarkers)
	v1.POST("/evidence/:id/markers", s.handleAddMarker)
	v1.PUT("/evidence/:id/tags", s.handleTags)
	v1.PUT("/evidence/:id/flag", s.handleFlag)
	v1.PUT("/evidence/:id/category", s.handleCategory)
	v1.GET("/evidence/:id/cases", s.handleItemCases)
	v1.POST("/evidence/:id/cases", s.handleAddToCase)
	v1.DELETE("/evidence/:id/cases/:case", s.handleRemoveFromCase)
	v1.GET("/cases", s.handleCases)
	v1.POST("/cases", s.handleCreateCase)
	v1.GET("/cases/:id", s.handleCase)
	v1.POST("/cases/:id/hold", s.handleHold(true))
	v1.DELETE("/cases/:id/hold", s.handleHold(false))
	v1.GET("/categories", func(c *gin.Context) { c.JSON(200, gin.H{"categories": s.Categories()}) })
}

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

// PermissionsFor decides each review action for p on it.
func (s *Service) PermissionsFor(ctx context.Context, p identity.Principal, it *evidence.Item) Permissions {
	ok := func(a string) bool { return s.d.Authorizer.AuthorizeItem(ctx, p, a, it).Allowed }
	return Permissions{Play: ok("evidence:play"), Download: ok("evidence:download"), Edit: ok("evidence:edit"),
		Categorize: ok("evidence:categorize"), Custody: ok("custody:read"), CaseEdit: ok("case:edit"),
		Hold: s.d.Authorizer.AuthorizeRoute(ctx, p, "case:hold").Allowed}
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
func (s *Service) Review(ctx context.Context, p identity.Principal, it *evidence.Item) (ReviewData, error) {
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
	if r.Cases, err = s.ItemCases(ctx, p, it.ID); err != nil {
		return r, err
	}
	r.Permissions = s.PermissionsFor(ctx, p, it)
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
