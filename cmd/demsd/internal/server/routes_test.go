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
	"time"

	"github.com/google/uuid"
	"github.com/pquerna/otp"
	"github.com/pquerna/otp/totp"

	"github.com/opendems/opendems/evidence/identity"
	"github.com/opendems/opendems/evidence/release"
	"github.com/opendems/opendems/evidence/request"
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
	// page routes are web pages, declared with their actions in the same
	// table: each person role calls them with a web session (second factor
	// passed), allow lists who gets through; a dock's token and nobody are
	// sent to the login page.
	page bool
	// web pins a fixed answer for every caller of a page that needs no
	// role: "open" (served: login page, static files), "csrf" (403: the
	// login form without its CSRF cookie) or "redirect" (303, logout).
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
	"GET /api/v1/me/tokens":             {allow: people, override: map[string]string{"dock": "deny"}},
	"DELETE /api/v1/me/tokens/:id":      {allow: people, override: map[string]string{"dock": "deny"}},
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

	// web UI (evidence/web): pages and forms, with a web session per role
	"GET /login":                   {web: "open"},
	"POST /login":                  {web: "csrf"},
	"POST /logout":                 {web: "redirect"},
	"GET /static/*file":            {web: "open"},
	"GET /mfa":                     {page: true, allow: people},
	"POST /mfa":                    {page: true, allow: people, override: map[string]string{"*": "any"}},
	"GET /":                        {page: true, allow: people},
	"GET /evidence":                {page: true, allow: people},
	"GET /evidence/:id":            {page: true, allow: viewers},
	"GET /tokens":                  {page: true, allow: people},
	"POST /tokens":                 {page: true, allow: people},
	"POST /tokens/:id/revoke":      {page: true, allow: people},
	"GET /cases":                   {page: true, allow: "supervisor records auditor admin"},
	"POST /cases":                  {page: true, allow: "supervisor"},
	"GET /cases/:id":               {page: true, allow: "supervisor records auditor admin"},
	"GET /admin/users":             {page: true, allow: "admin"},
	"POST /admin/users":            {page: true, allow: "admin"},
	"POST /admin/users/:id/status": {page: true, allow: "admin"},
	"GET /admin/units":             {page: true, allow: "admin"},
	"POST /admin/units":            {page: true, allow: "admin"},
	"GET /admin/docks":             {page: true, allow: "admin"},
	"POST /admin/docks":            {page: true, allow: "admin"},
	"POST /admin/docks/:id/revoke": {page: true, allow: "admin"},
	"GET /admin/retention":         {page: true, allow: "admin"},
	"POST /admin/retention/purges/:id/cancel": {page: true, allow: "admin"},
	"GET /admin/holds":                        {page: true, allow: "records admin"},
	"POST /admin/holds":                       {page: true, allow: "records admin"},
	"POST /admin/holds/evidence/:id/release":  {page: true, allow: "records admin"},
	"POST /admin/holds/cases/:id/release":     {page: true, allow: "admin"},

	// public access requests (evidence/request)
	"GET /api/v1/requests":                                   {allow: "records auditor"},
	"POST /api/v1/requests":                                  {allow: "records"},
	"GET /api/v1/request-exemptions":                         {allow: "records auditor"},
	"GET /api/v1/requests/:id":                               {allow: "records auditor"},
	"GET /api/v1/requests/:id/timeline":                      {allow: "records auditor"},
	"POST /api/v1/requests/:id/transition":                   {allow: "records"},
	"POST /api/v1/requests/:id/pause":                        {allow: "records"},
	"POST /api/v1/requests/:id/resume":                       {allow: "records"},
	"POST /api/v1/requests/:id/extend":                       {allow: "records"},
	"POST /api/v1/requests/:id/clips":                        {allow: "records"},
	"GET /api/v1/requests/:id/clips/:clip":                   {allow: "records auditor"},
	"DELETE /api/v1/requests/:id/clips/:clip":                {allow: "records"},
	"GET /api/v1/requests/:id/clips/:clip/spec":              {allow: "records auditor"},
	"GET /api/v1/requests/:id/clips/:clip/waveform":          {allow: "records auditor"}, // the table's item has no proxy: 409
	"GET /api/v1/requests/:id/clips/:clip/spec/versions":     {allow: "records auditor"},
	"PUT /api/v1/requests/:id/clips/:clip/spec":              {allow: "records"},
	"POST /api/v1/requests/:id/clips/:clip/track":            {allow: "records"},
	"GET /api/v1/requests/:id/clips/:clip/jobs":              {allow: "records auditor"},
	"POST /api/v1/requests/:id/clips/:clip/jobs":             {allow: "records"},
	"GET /api/v1/requests/:id/clips/:clip/jobs/:job":         {allow: "records auditor", override: map[string]string{"records": "hide", "auditor": "hide"}}, // no such job
	"POST /api/v1/requests/:id/clips/:clip/jobs/:job/cancel": {allow: "records", override: map[string]string{"records": "hide"}},                            // no such job
	"GET /api/v1/requests/:id/clips/:clip/outputs":           {allow: "records auditor"},
	"GET /api/v1/requests/:id/clips/:clip/outputs/:output":   {allow: "records auditor", override: map[string]string{"records": "hide", "auditor": "hide"}}, // no such output
	"POST /api/v1/requests/:id/withheld":                     {allow: "records"},
	"DELETE /api/v1/requests/:id/withheld/:withheld":         {allow: "records", override: map[string]string{"records": "hide"}}, // no such withholding
	"POST /api/v1/public/requests":                           {public: true},
	"POST /api/v1/public/requests/status":                    {public: true, override: map[string]string{"*": "any"}}, // an unknown number answers 404 by design
	"GET /requests":                                          {page: true, allow: "records auditor"},
	"GET /requests/new":                                      {page: true, allow: "records"},
	"POST /requests/new":                                     {page: true, allow: "records"},
	"GET /requests/:id":                                      {page: true, allow: "records auditor"},
	"POST /requests/:id/transition":                          {page: true, allow: "records"},
	"POST /requests/:id/extend":                              {page: true, allow: "records"},
	"POST /requests/:id/clips":                               {page: true, allow: "records"},
	"GET /requests/:id/clips/:clip/edit":                     {page: true, allow: "records"}, // auditor: read allowed, refused by the loader (no evidence:play)
	"GET /public/requests":                                   {web: "open"},
	"POST /public/requests":                                  {web: "csrf"}, // the form's double-submit token is missing
	"GET /public/requests/status":                            {web: "open"},
	"POST /public/requests/status":                           {public: true, override: map[string]string{"*": "any"}}, // 404 for an unknown number, 429 when flooded
	// reviews and releases (evidence/release); the table's request is
	// searching (submit and release answer 409), its review id names none,
	// and its release failed (the package answers 409)
	"GET /api/v1/requests/:id/reviews":                    {allow: "records auditor"},
	"POST /api/v1/requests/:id/clips/:clip/review":        {allow: "records"},
	"POST /api/v1/requests/:id/reviews/:review/approve":   {allow: "records", override: map[string]string{"records": "hide"}},
	"POST /api/v1/requests/:id/reviews/:review/reject":    {allow: "records"}, // empty body: 400, comment required
	"GET /api/v1/requests/:id/releases":                   {allow: "records auditor"},
	"POST /api/v1/requests/:id/releases":                  {allow: "records"},
	"GET /api/v1/releases/:release":                       {allow: "records auditor"},
	"GET /api/v1/releases/:release/shares":                {allow: "records auditor"},
	"POST /api/v1/releases/:release/shares":               {allow: "records"}, // the table's release failed: 409
	"GET /api/v1/releases/:release/shares/:share":         {allow: "records auditor", override: map[string]string{"records": "hide", "auditor": "hide"}},
	"POST /api/v1/releases/:release/shares/:share/revoke": {allow: "records"}, // empty body: 400, reason required
	"GET /requests/:id/review":                            {page: true, allow: "records auditor"},
	"POST /requests/:id/clips/:clip/submit":               {page: true, allow: "records"}, // the table's request is searching: 409
	"POST /requests/:id/reviews/:review/decide":           {page: true, allow: "records"}, // no decision given: 400
	"POST /requests/:id/release":                          {page: true, allow: "records"}, // not approved: 409
	"GET /releases/:release/shares":                       {allow: "records auditor", page: true},
	"POST /releases/:release/shares/:share/revoke":        {allow: "records", page: true},
	"GET /share/:token":                                   {public: true, override: map[string]string{"*": "any"}}, // an unknown token: 404 page
	"POST /share/:token":                                  {public: true, override: map[string]string{"*": "any"}},
	"GET /share/:token/package":                           {public: true, override: map[string]string{"*": "any"}},
	"GET /share/:token/files/*file":                       {public: true, override: map[string]string{"*": "any"}},
	"GET /api/v1/public/shares/:token":                    {public: true, override: map[string]string{"*": "any"}},
	"GET /api/v1/releases/:release/package":               {allow: "records"},
	"POST /api/v1/releases/:release/cancel":               {allow: "records"},             // the table's release failed: 409
	"POST /requests/:id/releases/:release/cancel":         {page: true, allow: "records"}, // the table's release failed: 409
}

// tableWorld is what the table test's requests point at.
type tableWorld struct {
	north, south uuid.UUID // items of officer.north and officer.south
	caseID       uuid.UUID // a case of unit north holding the north item
	requestID    uuid.UUID // a public access request, searching, with clipID of the north item
	clipID       uuid.UUID
	releaseID    uuid.UUID // a failed release of requestID
	victimUser   uuid.UUID // a user admin routes may change
	victimDock   uuid.UUID // a dock the revoke route may revoke
	tokens       map[string]string
	sessions     map[string]*caller // web sessions of the person roles, second factor passed
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
	w.requestID, w.clipID = tableRequest(t, a, w.north)
	w.releaseID = uuid.New()
	if _, err := a.Pool.Exec(ctx, `INSERT INTO releases (id, request_id, state, created_by, created_at, error)
		VALUES ($1, $2, 'failed', 'user:records', now(), 'table test')`, w.releaseID, w.requestID); err != nil {
		t.Fatal(err)
	}
	w.tokens["dock"] = creds.Dock.Token
	w.sessions = map[string]*caller{}
	return w
}

// webSessions logs every person role in through the API and passes (or
// enrols) the second factor, as a browser session would.
func (w *tableWorld) webSessions(t *testing.T, base string, creds Credentials) {
	t.Helper()
	names := map[string]string{"officer": "officer.north", "supervisor": "sgt.north", "records": "records", "auditor": "auditor", "admin": "admin"}
	for role, name := range names {
		var pw string
		for _, du := range creds.Users {
			if du.Username == name {
				pw = du.Password
			}
		}
		cl := newCaller(t, base, "")
		cl.client.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
		st, m := cl.do("POST", "/api/v1/session", `{"username":"`+name+`","password":"`+pw+`"}`)
		if st != 200 {
			t.Fatalf("session for %s: %d %v", name, st, m)
		}
		cl.csrf, _ = m["csrf_token"].(string)
		if m["mfa_required"] == true {
			st, m = cl.do("POST", "/api/v1/me/mfa/enroll", "{}")
			if st != 200 {
				t.Fatalf("enrol %s: %d %v", name, st, m)
			}
			code, _ := totp.GenerateCodeCustom(m["secret"].(string), time.Now(), totp.ValidateOpts{Period: 30, Digits: otp.DigitsSix, Algorithm: otp.AlgorithmSHA1})
			if st, m = cl.do("POST", "/api/v1/me/mfa/confirm", `{"code":"`+code+`"}`); st != 200 {
				t.Fatalf("confirm %s: %d %v", name, st, m)
			}
		}
		w.sessions[role] = cl
	}
}

// path fills a route pattern's parameters.
func (w tableWorld) path(route string, item uuid.UUID) string {
	_, p, _ := strings.Cut(route, " ")
	switch {
	case strings.HasPrefix(p, "/api/v1/evidence/:id"), strings.HasPrefix(p, "/evidence/:id"),
		strings.HasPrefix(p, "/admin/holds/evidence/:id"), strings.HasPrefix(p, "/admin/retention/purges/:id"):
		p = strings.Replace(p, ":id", item.String(), 1)
	case strings.HasPrefix(p, "/api/v1/users/:id"), strings.HasPrefix(p, "/admin/users/:id"):
		p = strings.Replace(p, ":id", w.victimUser.String(), 1)
	case strings.HasPrefix(p, "/api/v1/docks/:id"), strings.HasPrefix(p, "/admin/docks/:id"):
		p = strings.Replace(p, ":id", w.victimDock.String(), 1)
	case strings.HasPrefix(p, "/api/v1/requests/:id"), strings.HasPrefix(p, "/requests/:id"):
		p = strings.Replace(p, ":id", w.requestID.String(), 1)
	case strings.HasPrefix(p, "/api/v1/cases/:id"), strings.HasPrefix(p, "/cases/:id"), strings.HasPrefix(p, "/admin/holds/cases/:id"):
		p = strings.Replace(p, ":id", w.caseID.String(), 1)
	default:
		p = strings.Replace(p, ":id", uuid.NewString(), 1) // ingest sessions: none exists
	}
	p = strings.Replace(p, ":case", w.caseID.String(), 1)
	p = strings.Replace(p, ":clip", w.clipID.String(), 1)
	p = strings.Replace(p, ":release", w.releaseID.String(), 1)
	p = strings.Replace(p, ":review", uuid.NewString(), 1)
	p = strings.Replace(p, ":share", uuid.NewString(), 1)
	p = strings.Replace(p, ":token", "AAAAAAAAAAAAAAAAAAAAAA", 1)
	return strings.Replace(p, "*file", "app.css", 1)
}

// do sends one request as role; write requests carry an empty JSON object,
// which every handler must refuse or accept without a server error.
func (w tableWorld) do(t *testing.T, base, role, method, path string) (int, []byte, string) {
	t.Helper()
	return w.send(t, base, role, method, path, false)
}

// send is do with a choice: page requests of person roles go through
// their web session (cookie and CSRF header), everyone else's through
// their token.
func (w tableWorld) send(t *testing.T, base, role, method, path string, page bool) (int, []byte, string) {
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
	client := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	if cl := w.sessions[role]; page && cl != nil {
		client = cl.client
		req.Header.Set("X-CSRF-Token", cl.csrf)
	} else if tok := w.tokens[role]; tok != "" {
		req.Header.Set("Authorization", "Bearer "+tok)
	}
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
	w.webSessions(t, srv.URL, creds)
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
		if public := exp.public || exp.web == "open" || exp.web == "csrf"; public != access.Public {
			t.Errorf("route %s: table says public=%v, declared public=%v", route, public, access.Public)
		}
		if exp.page != access.Page && exp.web == "" {
			t.Errorf("route %s: table says page=%v, declared page=%v", route, exp.page, access.Page)
		}
		for _, role := range tableRoles {
			code, raw, loc := w.send(t, srv.URL, role, method, w.path(route, w.north), exp.page)
			if exp.page && (w.sessions[role] == nil) {
				// A dock's token and nobody: pages send them to log in.
				if code != http.StatusSeeOther || !strings.HasPrefix(loc, "/login") {
					t.Errorf("%s as %s: %d (Location %q), want 303 to /login", route, role, code, loc)
				}
				continue
			}
			if exp.page && code == http.StatusSeeOther && strings.HasPrefix(loc, "/login") {
				t.Errorf("%s as %s with a web session: sent to log in", route, role)
				continue
			}
			got := classify(code)
			want := "ok"
			switch {
			case exp.web != "":
				var ok bool
				switch exp.web {
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
			case access.Item() && !hasRole(viewers, role):
				want = "hide"
			case access.Resource == "case" && !hasRole("supervisor records auditor admin", role):
				want = "hide"
			case (access.Resource == request.KindRequest || access.Resource == release.KindRelease) && !hasRole("records auditor", role):
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
		if access.Item() {
			hc, hidden, _ := w.send(t, srv.URL, "supervisor", method, w.path(route, w.south), exp.page)
			mc, missing, _ := w.send(t, srv.URL, "supervisor", method, w.path(route, uuid.New()), exp.page)
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

// tableRequest makes a public access request being searched, with a clip
// of item and a saved spec, for the request routes of the table.
func tableRequest(t *testing.T, a *App, item uuid.UUID) (uuid.UUID, uuid.UUID) {
	t.Helper()
	ctx := context.Background()
	who := request.Actor{Name: "user:records"}
	r, _, err := a.Requests.Create(ctx, who, request.Intake{RequesterName: "Ann Reporter", RequesterType: request.RequesterMedia,
		Contact: "ann@example.org", Description: "footage of the stop", Channel: request.ChannelEmail})
	if err != nil {
		t.Fatal(err)
	}
	for _, in := range []request.TransitionInput{{To: request.StateAssigned, Assignee: "records"}, {To: request.StateSearching}} {
		if _, err := a.Requests.Transition(ctx, r.ID, who, in); err != nil {
			t.Fatal(err)
		}
	}
	clip, err := a.Requests.AddClip(ctx, r.ID, who, request.ClipInput{EvidenceID: item, InMs: 0, OutMs: 1000})
	if err != nil {
		t.Fatal(err)
	}
	spec := `{"version":1,"clip":{"source":"x"},"regions":[{"shape":"ellipse","effect":{"type":"blur"},"reason":"b(7)(C)","origin":"manual","keyframes":[{"time":0.5,"x":1,"y":1,"width":5,"height":5}]}]}`
	if _, err := a.Requests.SaveSpec(ctx, clip.ID, who, 0, []byte(spec), request.OriginEditor); err != nil {
		t.Fatal(err)
	}
	return r.ID, clip.ID
}
