package api

import (
	"net/http"
	"sort"

	"github.com/gin-gonic/gin"
	"github.com/google/uuid"

	"github.com/opendems/opendems/evidence"
)

// Access declares how a route is authorized.
type Access struct {
	// Public routes need no authentication (health, metrics, login, public
	// keys, the OpenAPI description).
	Public bool
	// Action is the policy action decided for the route. Empty on a
	// non-public route means "any authenticated principal" (own profile,
	// logout).
	Action string
	// Item routes carry the evidence id in :id; the middleware loads the
	// item and decides Action on it, so handlers of any package get the
	// same unit, ownership and restriction checks (see ItemOf).
	Item bool
	// Summary documents the route in the OpenAPI description.
	Summary string
	// MFAExempt routes stay reachable from a web session that has not yet
	// passed its required second factor (to pass or enrol it, or leave).
	MFAExempt bool
}

// defaultAccess is the access table of every route of demsd, whoever
// registers it. A route missing here is refused at run time and fails
// TestEveryRouteHasAccess.
func defaultAccess() map[string]Access {
	return map[string]Access{
		"GET /healthz":             {Public: true, Summary: "Liveness and dependency health"},
		"GET /metrics":             {Public: true, Summary: "Prometheus metrics"},
		"GET /api/v1/openapi.json": {Public: true, Summary: "This API description"},

		"POST /api/v1/session":        {Public: true, Summary: "Log in (JSON) and receive a session cookie"},
		"DELETE /api/v1/session":      {Summary: "Log out", MFAExempt: true},
		"GET /api/v1/me":              {Summary: "The caller's identity", MFAExempt: true},
		"POST /api/v1/session/mfa":    {Summary: "Pass the second factor (TOTP or recovery code) for this session", MFAExempt: true},
		"POST /api/v1/me/mfa/enroll":  {Summary: "Start TOTP enrolment (returns the secret and otpauth URL)", MFAExempt: true},
		"POST /api/v1/me/mfa/confirm": {Summary: "Confirm TOTP enrolment with a code; returns recovery codes once", MFAExempt: true},
		"POST /api/v1/me/tokens":      {Summary: "Create a personal API token"},

		"GET /api/v1/units":                 {Action: "admin:units", Summary: "List units"},
		"POST /api/v1/units":                {Action: "admin:units", Summary: "Create a unit"},
		"GET /api/v1/users":                 {Action: "admin:users", Summary: "List users"},
		"POST /api/v1/users":                {Action: "admin:users", Summary: "Create a user"},
		"GET /api/v1/users/:id":             {Action: "admin:users", Summary: "Get a user"},
		"PATCH /api/v1/users/:id":           {Action: "admin:users", Summary: "Change a user's password, role or unit, or disable/enable them"},
		"POST /api/v1/users/:id/tokens":     {Action: "admin:users", Summary: "Issue an API token for a user"},
		"GET /api/v1/docks":                 {Action: "admin:docks", Summary: "List docking stations"},
		"POST /api/v1/docks":                {Action: "admin:docks", Summary: "Enroll a docking station (returns its token once)"},
		"POST /api/v1/docks/:id/revoke":     {Action: "admin:docks", Summary: "Revoke a docking station"},
		"GET /api/v1/evidence":              {Action: "evidence:list", Summary: "Search evidence (filters as query parameters, paginated)"},
		"GET /api/v1/evidence/:id":          {Action: "evidence:view", Item: true, Summary: "One evidence item"},
		"GET /api/v1/evidence/:id/original": {Action: "evidence:download", Item: true, Summary: "Download the original (logged in custody)"},
		"GET /api/v1/evidence/:id/custody":  {Action: "custody:read", Item: true, Summary: "The item's chain of custody with hashes"},

		"GET /api/v1/custody/public-key": {Public: true, Summary: "Public key that signs custody checkpoints and receipts"},
		"GET /api/v1/custody/export":     {Action: "custody:export", Summary: "Export custody chains with covering checkpoints (JSON lines)"},
		"GET /api/v1/audit":              {Action: "audit:read", Summary: "Search the system audit log (JSON or CSV)"},

		"GET /api/v1/ingest/receipt-key":          {Public: true, Summary: "Public key that signs ingest receipts"},
		"POST /api/v1/ingest/sessions":            {Action: "evidence:upload", Summary: "Start (or resume) a resumable upload"},
		"GET /api/v1/ingest/sessions/:id":         {Action: "evidence:upload", Summary: "Where an upload stands (resume point)"},
		"PUT /api/v1/ingest/sessions/:id/chunks":  {Action: "evidence:upload", Summary: "Upload one chunk at the durable offset"},
		"POST /api/v1/ingest/sessions/:id/commit": {Action: "evidence:upload", Summary: "Verify and commit; returns the signed receipt"},
		"DELETE /api/v1/ingest/sessions/:id":      {Action: "evidence:upload", Summary: "Abandon an upload"},
	}
}

// RouteAccess returns the declared access of a route pattern.
func (s *Server) RouteAccess(method, route string) (Access, bool) {
	a, ok := s.access[method+" "+route]
	return a, ok
}

// Declare adds access rules for routes another package registers (called
// by cmd while wiring, before serving). A rule already declared is kept.
func (s *Server) Declare(rules map[string]Access) {
	for k, v := range rules {
		if _, ok := s.access[k]; !ok {
			s.access[k] = v
		}
	}
}

// DeclaredRoutes lists every declared route key, sorted.
func (s *Server) DeclaredRoutes() []string {
	keys := make([]string, 0, len(s.access))
	for k := range s.access {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

type ctxItem struct{}

// loadItem runs for Item routes: it loads the evidence item named by :id and
// decides the route's action on it. A malformed id, a missing item and an
// item the caller may not see all answer 404.
func (s *Server) loadItem(c *gin.Context, action string) bool {
	id, err := uuid.Parse(c.Param("id"))
	if err != nil {
		WriteError(c, Errorf(http.StatusNotFound, "not_found", "not found"))
		return false
	}
	it, err := s.deps.Evidence.Get(c.Request.Context(), id)
	if err != nil {
		WriteError(c, err)
		return false
	}
	if !s.AuthorizeItem(c, action, &it) {
		return false
	}
	c.Set("evidence.item", &it)
	return true
}

// ItemOf returns the item the middleware loaded and authorized for an Item
// route.
func ItemOf(c *gin.Context) (*evidence.Item, bool) {
	v, ok := c.Get("evidence.item")
	if !ok {
		return nil, false
	}
	it, ok := v.(*evidence.Item)
	return it, ok
}
