package server

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"io"
	"net/http"
	"sort"
	"strings"
	"testing"

	"github.com/google/uuid"

	"github.com/opendems/opendems/evidence/identity"
	"github.com/opendems/opendems/storage"
)

// The roles of the table, each played by a demo account of unit north (or
// agency-wide), the demo dock, and nobody.
var tableRoles = []string{"officer", "supervisor", "records", "auditor", "admin", "dock", "anonymous"}

// expect is what one route answers each role.
type expect struct {
	// allow lists the roles that pass authorization (their answer is
	// neither 401 nor 403, and not a server error). Everyone else is
	// refused: 401 anonymous, 403 otherwise — except on item routes, where
	// a role that may not even view the item gets 404, exactly like a
	// missing item.
	allow string
	// public routes need no authentication: every role gets through.
	public bool
	// web routes are public to the API's enforcement point; package web
	// authenticates them with its own session cookie, so for every caller
	// of this table (bearer tokens, nobody) the answer is fixed: "login"
	// (303 to /login), "open" (served: login page, static files), "csrf"
	// (403: a form post without the session's CSRF token) or "redirect"
	// (303 anywhere, logout). Role checks for signed-in web users are
	// evidence/web's tests.
	web string
	// override pins the status class of single roles where a handler
	// decides beyond the route's action (e.g. docks have no tokens).
	override map[string]string
}

const (
	people  = "officer supervisor records auditor admin"
	anyone  = people + " dock"
	viewers = "officer supervisor records auditor admin" // evidence:view on the north officer's item
)

// routeTable is the declared expectation of every route demsd serves. A
// route the router has and this table lacks fails the test, so a new route
// cannot ship without a decision; entries of routes not (yet) mounted are
// reported and skipped.
var routeTable = map[string]expect{
	"GET /healthz":                      {public: true},
	"GET /metrics":                      {public: true},
	"GET /api/v1/openapi.json":          {public: true},
	"GET /api/v1/custody/public-key":    {public: true},
	"GET /api/v1/ingest/receipt-key":    {public: true},
	"POST /api/v1/session":              {public: true, override: map[string]string{"*": "any"}}, // bad credentials answer 401 by design
	"DELETE /api/v1/session":            {allow: anyone},
	"GET /api/v1/me":                    {allow: anyone},
	"POST /api/v1/me/tokens":            {allow: people, override: map[string]string{"dock": "deny"}},
	"POST /api/v1/me/mfa/enroll":        {allow: people, override: map[string]string{"dock": "deny"}},
	"POST /api/v1/me/mfa/confirm":       {allow: people, override: map[string]string{"dock": "deny"}},
	"POST /api/v1/session/mfa":          {allow: anyone, override: map[string]string{"*": "any"}}, // needs a session, not a role
	"GET /api/v1/categories":            {allow: anyone},
	"GET /api/v1/units":                 {allow: "admin"},
	"POST /api/v1/units":                {allow: "admin"},
	"GET /api/v1/users":                 {allow: "admin"},
	"POST /api/v1/users":                {allow: "admin"},
	"GET /api/v1/users/:id":             {allow: "admin"},
	"PATCH /api/v1/users/:id":           {allow: "admin"},
	"POST /api/v1/users/:id/tokens":     {allow: "admin"},
	"GET /api/v1/docks":                 {allow: "admin"},
	"POST /api/v1/docks":                {allow: "admin"},
	"POST /api/v1/docks/:id/revoke":     {allow: "admin"},
	"GET /api/v1/audit":                 {allow: "auditor admin"},
	"GET /api/v1/custody/export":        {allow: "records auditor"},
	"GET /api/v1/evidence":              {allow: people},
	"GET /api/v1/evidence/:id":          {allow: viewers},
	"GET /api/v1/evidence/:id/original": {allow: "supervisor records"},
	"GET /api/v1/evidence/:id/custody":  {allow: "officer supervisor records auditor admin"},

	"POST /api/v1/ingest/sessions":            {allow: "officer supervisor dock"},
	"GET /api/v1/ingest/sessions/:id":         {allow: "officer supervisor dock"},
	"PUT /api/v1/ingest/sessions/:id/chunks":  {allow: "officer supervisor dock"},
	"POST /api/v1/ingest/sessions/:id/commit": {allow: "officer supervisor dock"},
	"DELETE /api/v1/ingest/sessions/:id":      {allow: "officer supervisor dock"},

	// review (evidence/review)
	"GET /api/v1/evidence/:id/proxy":          {allow: "officer supervisor records"},
	"HEAD /api/v1/evidence/:id/proxy":         {allow: "officer supervisor records"},
	"POST /api/v1/evidence/:id/views":         {allow: "officer supervisor records"},
	"GET /api/v1/evidence/:id/thumbnail":      {allow: "officer supervisor records"},
	"GET /api/v1/evidence/:id/sprite":         {allow: "officer supervisor records"},
	"GET /api/v1/evidence/:id/review":         {allow: viewers},
	"GET /api/v1/evidence/:id/job":            {allow: viewers},
	"GET /api/v1/evidence/:id/markers":        {allow: viewers},
	"POST /api/v1/evidence/:id/markers":       {allow: "officer supervisor"},
	"PUT /api/v1/evidence/:id/tags":           {allow: "officer supervisor"},
	"PUT /api/v1/evidence/:id/flag":           {allow: "officer supervisor"},
	"PUT /api/v1/evidence/:id/category":       {allow: "officer supervisor records"},
	"GET /api/v1/evidence/:id/cases":          {allow: viewers},
	"POST /api/v1/evidence/:id/cases":         {allow: "supervisor"},
	"DELETE /api/v1/evidence/:id/cases/:case": {allow: "supervisor"},
	"GET /api/v1/cases":                       {allow: "supervisor records auditor admin"},
	"POST /api/v1/cases":                      {allow: "supervisor"},
	"GET /api/v1/cases/:id":                   {allow: "supervisor records auditor admin"},
	"POST /api/v1/cases/:id/hold":             {allow: "admin"},
	"DELETE /api/v1/cases/:id/hold":           {allow: "admin"},

	// retention (evidence/retention)
	"GET /api/v1/evidence/:id/retention":         {allow: viewers},
	"PUT /api/v1/evidence/:id/categories":        {allow: "officer supervisor records"},
	"PUT /api/v1/evidence/:id/flags":             {allow: "officer supervisor records"},
	"POST /api/v1/evidence/:id/subject-requests": {allow: "records"},
	"POST /api/v1/evidence/:id/hold":             {allow: "records admin"},
	"DELETE /api/v1/evidence/:id/hold":           {allow: "records admin"},
	"GET /api/v1/holds":                          {allow: "records admin"},
	"GET /api/v1/purges":                         {allow: "admin"},
	"POST /api/v1/evidence/:id/purge":            {allow: "admin"},
	"POST /api/v1/evidence/:id/purge/cancel":     {allow: "admin"},
	"GET /api/v1/retention/schedule":             {allow: "admin"},
	"GET /api/v1/policy/explain":                 {allow: "supervisor auditor admin"},

	// web UI (evidence/web): session-authenticated pages and forms
	"GET /":                        {web: "login"},
	"GET /login":                   {web: "open"},
	"GET /mfa":                     {web: "login"},
	"POST /mfa":                    {web: "login"},
	"POST /login":                  {web: "csrf"},
	"POST /logout":                 {web: "redirect"},
	"GET /evidence":                {web: "login"},
	"GET /evidence/:id":            {web: "login"},
	"GET /cases":                   {web: "login"},
	"POST /cases":                  {web: "login"},
	"GET /cases/:id":               {web: "login"},
	"GET /admin/users":             {web: "login"},
	"POST /admin/users":            {web: "login"},
	"POST /admin/users/:id/status": {web: "login"},
	"GET /admin/units":             {web: "login"},
	"POST /admin/units":            {web: "login"},
	"GET /admin/docks":             {web: "login"},
	"POST /admin/docks":            {web: "login"},
	"POST /admin/docks/:id/revoke": {web: "login"},
	"GET /admin/retention":         {web: "login"},
	"POST /admin/retention/purges/:id/cancel": {web: "login"},
	"GET /admin/holds":                        {web: "login"},
	"POST /admin/holds":                       {web: "login"},
	"POST /admin/holds/evidence/:id/release":  {web: "login"},
	"POST /admin/holds/cases/:id/release":     {web: "login"},
	"GET /static/*file":                       {web: "open"},
}

// tableWorld is what the table test's requests point at.
type tableWorld struct {
	north, south uuid.UUID // items of officer.north and officer.south
	caseID       uuid.UUID // a case of unit north holding the north item
	victimUser   uuid.UUID // a user admin routes may change
	victimDock   uuid.UUID // a dock the revoke route may revoke
	tokens       map[string]string
}

// insertItem stores an original and its item row, as ingest would.
func insertItem(t *testing.T, a *App, unit, officer string) uuid.UUID {
	t.Helper()
	ctx := context.Background()
	data := make([]byte, 1024)
	rand.Read(data)
	ref := storage.Ref{Namespace: storage.Originals, Digest: sha256.Sum256(data)}
	if _, err := a.Storage.Put(ctx, ref, int64(len(data)), bytes.NewReader(data), storage.PutOptions{}); err != nil {
		t.Fatal(err)
	}
	var id uuid.UUID
	err := a.Pool.QueryRow(ctx, `WITH o AS (INSERT INTO objects (namespace, sha256, size, backend) VALUES ('originals', $1, $2, 'fs'))
		INSERT INTO evidence_items (sha256, size, state, recorded_at, unit_id, officer_id, filename, content_type)
		VALUES ($1, $2, 'ready', now() - interval '1 day', (SELECT id FROM units WHERE slug = $3), $4, 'clip.mp4', 'video/mp4')
		RETURNING id`, ref.Digest[:], len(data), unit, officer).Scan(&id)
	if err != nil {
		t.Fatal(err)
	}
	return id
}

func newTableWorld(t *testing.T, a *App, creds Credentials) tableWorld {
	t.Helper()
	ctx := context.Background()
	w := tableWorld{tokens: map[string]string{}}
	w.north = insertItem(t, a, "north", "N1001")
	w.south = insertItem(t, a, "south", "S1001")
	if err := a.Pool.QueryRow(ctx, `INSERT INTO cases (number, unit_id) VALUES ('2026-N-1', (SELECT id FROM units WHERE slug = 'north')) RETURNING id`).Scan(&w.caseID); err != nil {
		t.Fatal(err)
	}
	if _, err := a.Pool.Exec(ctx, `INSERT INTO case_items (case_id, evidence_id) VALUES ($1, $2)`, w.caseID, w.north); err != nil {
		t.Fatal(err)
	}
	u, err := a.Identity.CreateUser(ctx, identity.NewUser{Username: "victim", Password: "a long enough password", Role: "officer", Unit: "north"})
	if err != nil {
		t.Fatal(err)
	}
	w.victimUser = u.ID
	d, _, err := a.Identity.EnrollDock(ctx, "victim-dock", "north", "", nil)
	if err != nil {
		t.Fatal(err)
	}
	w.victimDock = d.ID
	for role, name := range map[string]string{"officer": "officer.north", "supervisor": "sgt.north", "records": "records", "auditor": "auditor", "admin": "admin"} {
		for _, du := range creds.Users {
			if du.Username == name {
				w.tokens[role] = du.APIToken
			}
		}
		if w.tokens[role] == "" {
			t.Fatalf("no demo user %s", name)
		}
	}
	w.tokens["dock"] = creds.Dock.Token
	return w
}

// path fills a route pattern's parameters.
func (w tableWorld) path(route string, item uuid.UUID) string {
	_, p, _ := strings.Cut(route, " ")
	switch {
	case strings.HasPrefix(p, "/api/v1/evidence/:id"), strings.HasPrefix(p, "/evidence/:id"):
		p = strings.Replace(p, ":id", item.String(), 1)
	case strings.HasPrefix(p, "/api/v1/users/:id"), strings.HasPrefix(p, "/admin/users/:id"):
		p = strings.Replace(p, ":id", w.victimUser.String(), 1)
	case strings.HasPrefix(p, "/api/v1/docks/:id"), strings.HasPrefix(p, "/admin/docks/:id"):
		p = strings.Replace(p, ":id", w.victimDock.String(), 1)
	case strings.HasPrefix(p, "/api/v1/cases/:id"), strings.HasPrefix(p, "/cases/:id"):
		p = strings.Replace(p, ":id", w.caseID.String(), 1)
	default:
		p = strings.Replace(p, ":id", uuid.NewString(), 1) // ingest sessions: none exists
	}
	p = strings.Replace(p, ":case", w.caseID.String(), 1)
	return strings.Replace(p, "*file", "app.css", 1)
}

// do sends one request as role; write requests carry an empty JSON object,
// which every handler must refuse or accept without a server error.
func (w tableWorld) do(t *testing.T, base, role, method, path string) (int, []byte, string) {
	t.Helper()
	var body io.Reader
	if method == "POST" || method == "PUT" || method == "PATCH" {
		body = strings.NewReader("{}")
	}
	req, err := http.NewRequest(method, base+path, body)
	if err != nil {
		t.Fatal(err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if tok := w.tokens[role]; tok != "" {
		req.Header.Set("Authorization", "Bearer "+tok)
	}
	client := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, raw, resp.Header.Get("Location")
}

func hasRole(list, role string) bool {
	for _, r := range strings.Fields(list) {
		if r == role {
			return true
		}
	}
	return false
}

// classify names a status for the table.
func classify(code int) string {
	switch {
	case code >= 500:
		return "error"
	case code == 401:
		return "unauth"
	case code == 403:
		return "deny"
	case code == 404:
		return "hide"
	}
	return "ok"
}

func TestEveryRoleAgainstEveryRoute(t *testing.T) {
	app, srv, creds := leadTestApp(t)
	w := newTableWorld(t, app, creds)
	var routes []string
	for _, r := range app.API.Engine().Routes() {
		routes = append(routes, r.Method+" "+r.Path)
	}
	sort.Strings(routes)
	mounted := map[string]bool{}
	for _, route := range routes {
		mounted[route] = true
		exp, ok := routeTable[route]
		if !ok {
			t.Errorf("route %s has no expectation in routeTable: decide who may call it", route)
			continue
		}
		method, pattern, _ := strings.Cut(route, " ")
		access, _ := app.API.RouteAccess(method, pattern)
		if exp.public != access.Public && exp.web == "" {
			t.Errorf("route %s: table says public=%v, declared public=%v", route, exp.public, access.Public)
		}
		for _, role := range tableRoles {
			code, raw, loc := w.do(t, srv.URL, role, method, w.path(route, w.north))
			got := classify(code)
			want := "ok"
			switch {
			case exp.web != "":
				var ok bool
				switch exp.web {
				case "login":
					ok = code == http.StatusSeeOther && strings.HasPrefix(loc, "/login")
				case "open":
					ok = code == http.StatusOK
				case "csrf":
					ok = code == http.StatusForbidden
				case "redirect":
					ok = code == http.StatusSeeOther
				}
				if !ok {
					t.Errorf("%s as %s: %d (Location %q), want web answer %q", route, role, code, loc, exp.web)
				}
				continue
			case exp.override[role] != "":
				want = exp.override[role]
			case exp.override["*"] != "":
				want = exp.override["*"]
			case exp.public:
			case role == "anonymous":
				want = "unauth"
			case hasRole(exp.allow, role):
			case access.Item && !hasRole(viewers, role):
				want = "hide"
			default:
				want = "deny"
			}
			switch {
			case want == "any":
				if got == "error" {
					t.Errorf("%s as %s: %d %s", route, role, code, raw)
				}
			case want == "ok":
				if got == "unauth" || got == "deny" || got == "error" {
					t.Errorf("%s as %s: %d %s, want an authorized answer", route, role, code, raw)
				}
			case got != want:
				t.Errorf("%s as %s: %d (%s) %s, want %s", route, role, code, got, raw, want)
			}
		}
		// Cross-unit IDOR: another unit's item answers exactly like a
		// missing one for the north supervisor, on every item route.
		if access.Item {
			hc, hidden, _ := w.do(t, srv.URL, "supervisor", method, w.path(route, w.south))
			mc, missing, _ := w.do(t, srv.URL, "supervisor", method, w.path(route, uuid.New()))
			if hc != 404 || mc != 404 || !bytes.Equal(hidden, missing) {
				t.Errorf("%s: south item answers sgt.north %d %s; a missing item %d %s", route, hc, hidden, mc, missing)
			}
		}
	}
	var unmounted []string
	for route := range routeTable {
		if !mounted[route] {
			unmounted = append(unmounted, route)
		}
	}
	sort.Strings(unmounted)
	if len(unmounted) > 0 {
		t.Logf("expectations for routes not mounted in this build (skipped): %s", strings.Join(unmounted, ", "))
	}
	if len(routes) < 40 {
		t.Fatalf("only %d routes mounted; the table test would prove little", len(routes))
	}
}
