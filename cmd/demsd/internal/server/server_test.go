package server

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/pquerna/otp"
	"github.com/pquerna/otp/totp"

	"github.com/opendems/opendems/configs"
	"github.com/opendems/opendems/evidence/identity"
	"github.com/opendems/opendems/evidence/pg/pgtest"
)

// leadTestApp builds the whole server over a fresh database and a
// filesystem store, seeds the demo agency and serves it.
func leadTestApp(t *testing.T) (*App, *httptest.Server, Credentials) {
	t.Helper()
	db := pgtest.NewDB(t)
	dir := t.TempDir()
	cfg := configs.Default()
	cfg.Database.URL = configs.Secret(db.URL)
	cfg.Storage.FS.Root = filepath.Join(dir, "objects")
	cfg.Keys.SigningKeyFile = filepath.Join(dir, "keys", "signing.pem")
	cfg.Server.SecureCookies = false
	off := false
	ctx := context.Background()
	app, err := Build(ctx, cfg, Options{HTTP: true, Workers: &off})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(app.Close)
	// Demo passwords are hashed with the production cost; keep tests quick.
	app.Identity.WithArgon2(identity.Argon2Params{Memory: 1024, Time: 1, Threads: 1, KeyLen: 32, SaltLen: 16})
	srv := contractServer(t, app)
	creds, err := SeedDemo(ctx, app, filepath.Join(dir, "creds.json"), srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	return app, srv, creds
}

func credUser(c Credentials, role, unit string) DemoUser {
	for _, u := range c.Users {
		if u.Role == role && (unit == "" || u.Unit == unit) {
			return u
		}
	}
	panic("no demo user " + role + "/" + unit)
}

type caller struct {
	t      *testing.T
	base   string
	token  string
	csrf   string
	client *http.Client
}

func newCaller(t *testing.T, base, token string) *caller {
	jar, _ := cookiejar.New(nil)
	return &caller{t: t, base: base, token: token, client: &http.Client{Jar: jar, Timeout: 30 * time.Second}}
}

func (c *caller) do(method, path, body string) (int, map[string]any) {
	c.t.Helper()
	var r io.Reader
	if body != "" {
		r = strings.NewReader(body)
	}
	req, _ := http.NewRequest(method, c.base+path, r)
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	if c.csrf != "" {
		req.Header.Set("X-CSRF-Token", c.csrf)
	}
	resp, err := c.client.Do(req)
	if err != nil {
		c.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	var m map[string]any
	json.Unmarshal(b, &m)
	return resp.StatusCode, m
}

func errCode(m map[string]any) string {
	e, _ := m["error"].(map[string]any)
	s, _ := e["code"].(string)
	return s
}

func TestHealthMetricsOpenAPI(t *testing.T) {
	_, srv, _ := leadTestApp(t)
	c := newCaller(t, srv.URL, "")
	if st, m := c.do("GET", "/healthz", ""); st != 200 || m["status"] != "ok" {
		t.Fatalf("healthz %d %v", st, m)
	}
	resp, err := http.Get(srv.URL + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if !strings.Contains(string(b), "opendems_http_requests_total") {
		t.Fatal("metrics missing request counter")
	}
	st, m := c.do("GET", "/api/v1/openapi.json", "")
	paths, _ := m["paths"].(map[string]any)
	if st != 200 || paths["/api/v1/evidence/{id}"] == nil || paths["/api/v1/ingest/sessions"] == nil {
		t.Fatalf("openapi %d: %v", st, paths)
	}
}

func TestEveryRegisteredRouteIsDeclared(t *testing.T) {
	app, _, _ := leadTestApp(t)
	for _, r := range app.API.Engine().Routes() {
		if _, ok := app.API.RouteAccess(r.Method, r.Path); !ok {
			t.Errorf("route %s %s has no declared access", r.Method, r.Path)
		}
	}
}

func TestAdministrationAndDockRevocation(t *testing.T) {
	_, srv, creds := leadTestApp(t)
	admin := newCaller(t, srv.URL, credUser(creds, "admin", "").APIToken)
	officer := newCaller(t, srv.URL, credUser(creds, "officer", "north").APIToken)

	if st, m := officer.do("GET", "/api/v1/users", ""); st != 403 || errCode(m) != "forbidden" {
		t.Fatalf("officer listing users: %d %v", st, m)
	}
	if st, m := admin.do("POST", "/api/v1/units", `{"slug":"traffic","name":"Traffic","parent":"hq"}`); st != 201 || m["path"] != "hq.traffic" {
		t.Fatalf("create unit: %d %v", st, m)
	}
	st, m := admin.do("POST", "/api/v1/users", `{"username":"t.one","password":"a long enough password","role":"officer","unit":"traffic","badge":"T1"}`)
	if st != 201 {
		t.Fatalf("create user: %d %v", st, m)
	}
	for _, bad := range []struct{ body, code string }{
		{`{"username":"t.two","password":"short","role":"officer","unit":"traffic"}`, "invalid"},
		{`{"username":"t.one","password":"a long enough password","role":"officer","unit":"traffic"}`, "exists"},
		{`{"username":"t.two","password":"a long enough password","role":"officer","unit":"traffic","extra":1}`, "malformed_json"},
		{`{"username":`, "malformed_json"},
	} {
		if _, m := admin.do("POST", "/api/v1/users", bad.body); errCode(m) != bad.code {
			t.Errorf("%s: got %v, want %s", bad.body, m, bad.code)
		}
	}
	st, m = admin.do("POST", "/api/v1/docks", `{"name":"traffic-dock","unit":"traffic"}`)
	if st != 201 {
		t.Fatalf("enroll dock: %d %v", st, m)
	}
	dockToken := m["token"].(string)
	dockID := m["dock"].(map[string]any)["id"].(string)
	dock := newCaller(t, srv.URL, dockToken)
	if st, m := dock.do("GET", "/api/v1/me", ""); st != 200 || m["kind"] != "dock" {
		t.Fatalf("dock me: %d %v", st, m)
	}
	if st, _ := dock.do("GET", "/api/v1/evidence", ""); st != 403 {
		t.Fatalf("a dock may only upload; listing gave %d", st)
	}
	if st, _ := admin.do("POST", "/api/v1/docks/"+dockID+"/revoke", ""); st != 200 {
		t.Fatalf("revoke: %d", st)
	}
	if st, m := dock.do("GET", "/api/v1/me", ""); st != 401 || errCode(m) != "revoked" {
		t.Fatalf("revoked dock: %d %v", st, m)
	}
}

func TestWebSessionCSRFAndMFA(t *testing.T) {
	_, srv, creds := leadTestApp(t)
	sgt := credUser(creds, "supervisor", "north")
	c := newCaller(t, srv.URL, "")
	if st, m := c.do("POST", "/api/v1/session", `{"username":"sgt.north","password":"wrong password!!"}`); st != 401 {
		t.Fatalf("bad password: %d %v", st, m)
	}
	st, m := c.do("POST", "/api/v1/session", `{"username":"sgt.north","password":"`+sgt.Password+`"}`)
	if st != 200 || m["mfa_required"] != false {
		t.Fatalf("login: %d %v", st, m)
	}
	if st, _ := c.do("GET", "/api/v1/evidence", ""); st != 200 {
		t.Fatalf("session GET: %d", st)
	}
	// A state change through the cookie without the CSRF token is refused.
	if st, m := c.do("POST", "/api/v1/me/tokens", `{"name":"x"}`); st != 403 || errCode(m) != "csrf" {
		t.Fatalf("no CSRF token: %d %v", st, m)
	}
	c.csrf = m["csrf_token"].(string)
	if st, m := c.do("POST", "/api/v1/me/tokens", `{"name":"x"}`); st != 201 {
		t.Fatalf("with CSRF token: %d %v", st, m)
	}
	if st, _ := c.do("DELETE", "/api/v1/session", ""); st != 204 {
		t.Fatalf("logout: %d", st)
	}
	if st, _ := c.do("GET", "/api/v1/me", ""); st != 401 {
		t.Fatalf("after logout: %d", st)
	}

	// An administrator must enrol and pass a second factor on the web.
	adm := credUser(creds, "admin", "")
	a := newCaller(t, srv.URL, "")
	st, m = a.do("POST", "/api/v1/session", `{"username":"admin","password":"`+adm.Password+`"}`)
	if st != 200 || m["mfa_required"] != true {
		t.Fatalf("admin login: %d %v", st, m)
	}
	a.csrf = m["csrf_token"].(string)
	if st, m := a.do("GET", "/api/v1/users", ""); st != 403 || errCode(m) != "mfa_required" {
		t.Fatalf("admin without MFA: %d %v", st, m)
	}
	st, m = a.do("POST", "/api/v1/me/mfa/enroll", "{}")
	if st != 200 {
		t.Fatalf("enroll: %d %v", st, m)
	}
	secret := m["secret"].(string)
	code, _ := totp.GenerateCodeCustom(secret, time.Now(), totp.ValidateOpts{Period: 30, Digits: otp.DigitsSix, Algorithm: otp.AlgorithmSHA1})
	st, m = a.do("POST", "/api/v1/me/mfa/confirm", `{"code":"`+code+`"}`)
	if st != 200 || len(m["recovery_codes"].([]any)) != 10 {
		t.Fatalf("confirm: %d %v", st, m)
	}
	recovery := m["recovery_codes"].([]any)[0].(string)
	if st, _ := a.do("GET", "/api/v1/users", ""); st != 200 {
		t.Fatalf("admin after MFA: %d", st)
	}
	// A new session needs the factor again; a recovery code works once.
	b := newCaller(t, srv.URL, "")
	_, m = b.do("POST", "/api/v1/session", `{"username":"admin","password":"`+adm.Password+`"}`)
	b.csrf = m["csrf_token"].(string)
	if st, _ := b.do("GET", "/api/v1/users", ""); st != 403 {
		t.Fatalf("new session without factor: %d", st)
	}
	if st, _ := b.do("POST", "/api/v1/me/mfa/enroll", "{}"); st != 403 {
		t.Fatalf("re-enrolment must not bypass the enrolled factor: %d", st)
	}
	if st, m := b.do("POST", "/api/v1/session/mfa", `{"code":"123456"}`); st != 401 {
		t.Fatalf("wrong code: %d %v", st, m)
	}
	if st, m := b.do("POST", "/api/v1/session/mfa", `{"code":"`+recovery+`"}`); st != 200 {
		t.Fatalf("recovery code: %d %v", st, m)
	}
	if st, _ := b.do("GET", "/api/v1/users", ""); st != 200 {
		t.Fatalf("after recovery code: %d", st)
	}
	d := newCaller(t, srv.URL, "")
	_, m = d.do("POST", "/api/v1/session", `{"username":"admin","password":"`+adm.Password+`"}`)
	d.csrf = m["csrf_token"].(string)
	if st, _ := d.do("POST", "/api/v1/session/mfa", `{"code":"`+recovery+`"}`); st != 401 {
		t.Fatalf("a recovery code must work once: %d", st)
	}
}

func TestBadCredentialsAndLockout(t *testing.T) {
	app, srv, creds := leadTestApp(t)
	app.Identity.Lockout = identity.Lockout{Attempts: 3, Duration: time.Hour}
	c := newCaller(t, srv.URL, "")
	for i := 0; i < 3; i++ {
		c.do("POST", "/api/v1/session", `{"username":"officer.south","password":"not the password"}`)
	}
	pw := credUser(creds, "officer", "south").Password
	if st, m := c.do("POST", "/api/v1/session", `{"username":"officer.south","password":"`+pw+`"}`); st != 429 || errCode(m) != "locked" {
		t.Fatalf("locked account: %d %v", st, m)
	}
	for _, h := range []string{"Bearer odt_nope", "Basic abc", "Bearer "} {
		req, _ := http.NewRequest("GET", srv.URL+"/api/v1/me", nil)
		req.Header.Set("Authorization", h)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 401 {
			t.Errorf("Authorization %q: %d", h, resp.StatusCode)
		}
	}
}

func TestAuditLogRecordsLogonsDenialsAndAdminActions(t *testing.T) {
	_, srv, creds := leadTestApp(t)
	c := newCaller(t, srv.URL, "")
	c.do("POST", "/api/v1/session", `{"username":"sgt.south","password":"definitely wrong"}`)
	officer := newCaller(t, srv.URL, credUser(creds, "officer", "north").APIToken)
	officer.do("GET", "/api/v1/users", "")
	admin := newCaller(t, srv.URL, credUser(creds, "admin", "").APIToken)
	admin.do("GET", "/api/v1/units", "")
	auditor := newCaller(t, srv.URL, credUser(creds, "auditor", "").APIToken)
	auditor.do("GET", "/api/v1/audit?limit=1", "")
	// A query sees the log as it was when it began: the read above, not
	// this one's own record.
	st, m := auditor.do("GET", "/api/v1/audit?limit=500", "")
	if st != 200 {
		t.Fatalf("audit read: %d %v", st, m)
	}
	b, _ := json.Marshal(m)
	for _, want := range []string{`"event_type":"logon"`, `"event_type":"access_denied"`, `"event_type":"admin_action"`, `"event_type":"audit_read"`} {
		if !strings.Contains(string(b), want) {
			t.Errorf("audit log lacks %s", want)
		}
	}
	if st, _ := officer.do("GET", "/api/v1/audit", ""); st != 403 {
		t.Errorf("officer reading the audit log: %d", st)
	}
}

func TestRoleChangeTakesEffectAndIsAudited(t *testing.T) {
	_, srv, creds := leadTestApp(t)
	admin := newCaller(t, srv.URL, credUser(creds, "admin", "").APIToken)
	_, m := admin.do("GET", "/api/v1/users", "")
	var id string
	for _, u := range m["users"].([]any) {
		if u.(map[string]any)["username"] == "officer.north" {
			id = u.(map[string]any)["id"].(string)
		}
	}
	officer := newCaller(t, srv.URL, credUser(creds, "officer", "north").APIToken)
	if st, _ := officer.do("GET", "/api/v1/custody/export?all=1", ""); st != 403 {
		t.Fatalf("officer export: %d", st)
	}
	if st, m := admin.do("PATCH", "/api/v1/users/"+id, `{"role":"king"}`); st != 400 {
		t.Fatalf("bad role: %d %v", st, m)
	}
	if st, m := admin.do("PATCH", "/api/v1/users/"+id, `{"role":"records","unit":"hq"}`); st != 200 || m["role"] != "records" || m["unit"] != "hq" {
		t.Fatalf("role change: %d %v", st, m)
	}
	if st, _ := officer.do("GET", "/api/v1/custody/export?all=1", ""); st != 200 {
		t.Fatalf("after becoming records, export: %d", st)
	}
	auditor := newCaller(t, srv.URL, credUser(creds, "auditor", "").APIToken)
	if _, m := auditor.do("GET", "/api/v1/audit?event_type=permission_changed", ""); !strings.Contains(fmt.Sprint(m), "officer") && !strings.Contains(fmt.Sprint(m), id) {
		t.Fatalf("permission change not audited: %v", m)
	}
}
