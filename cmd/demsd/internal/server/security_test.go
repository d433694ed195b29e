package server

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/pquerna/otp"
	"github.com/pquerna/otp/totp"
)

// rawGet sends GET path with a bearer token and extra headers.
func rawGet(t *testing.T, base, token, path string, hdr map[string]string) (*http.Response, []byte, error) {
	t.Helper()
	req, _ := http.NewRequest("GET", base+path, nil)
	req.Header.Set("Authorization", "Bearer "+token)
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, nil, err // e.g. the server aborted before the headers
	}
	defer resp.Body.Close()
	b, rerr := io.ReadAll(resp.Body)
	return resp, b, rerr
}

// lastCustodyDetails returns the details of an item's last custody event
// with action.
func lastCustodyDetails(t *testing.T, a *App, id uuid.UUID, action string) map[string]any {
	t.Helper()
	var details string
	err := a.Pool.QueryRow(context.Background(), `SELECT details FROM custody_events WHERE evidence_id = $1 AND action = $2
		ORDER BY seq DESC LIMIT 1`, id, action).Scan(&details)
	if err != nil {
		t.Fatalf("custody %s of %s: %v", action, id, err)
	}
	var m map[string]any
	json.Unmarshal([]byte(details), &m)
	return m
}

// X-Forwarded-For from a peer that is not a configured proxy must not
// land in custody or audit: the TCP peer is recorded.
func TestForwardedForFromUntrustedPeerIgnored(t *testing.T) {
	a, srv, creds := leadTestApp(t)
	sgt := credUser(creds, "supervisor", "north")
	id := insertItem(t, a, "north", "N1001")
	spoof := map[string]string{"X-Forwarded-For": "203.0.113.9", "X-Real-IP": "203.0.113.9"}
	resp, _, err := rawGet(t, srv.URL, sgt.APIToken, "/api/v1/evidence/"+id.String()+"/original", spoof)
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("download %v %v", resp.Status, err)
	}
	if got := lastCustodyDetails(t, a, id, "original_downloaded")["source_addr"]; got != "127.0.0.1" {
		t.Fatalf("custody source_addr %v, want the peer 127.0.0.1", got)
	}
	// A failed logon with a forged header is audited with the peer address.
	req, _ := http.NewRequest("POST", srv.URL+"/api/v1/session", strings.NewReader(`{"username":"sgt.north","password":"wrong password!!"}`))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-Forwarded-For", "203.0.113.9")
	if resp, err := http.DefaultClient.Do(req); err != nil || resp.StatusCode != 401 {
		t.Fatalf("logon %v", err)
	}
	var n int
	a.Pool.QueryRow(context.Background(), `SELECT count(*) FROM audit_log WHERE source_addr = '203.0.113.9'`).Scan(&n)
	if n != 0 {
		t.Fatalf("%d audit records carry the forged address", n)
	}
	a.Pool.QueryRow(context.Background(), `SELECT count(*) FROM audit_log WHERE event_type = 'logon' AND source_addr = '127.0.0.1'`).Scan(&n)
	if n == 0 {
		t.Fatal("the failed logon was not audited with the peer address")
	}
	// From a configured proxy the header is believed.
	if err := a.API.Engine().SetTrustedProxies([]string{"127.0.0.1"}); err != nil {
		t.Fatal(err)
	}
	if resp, _, _ := rawGet(t, srv.URL, sgt.APIToken, "/api/v1/evidence/"+id.String()+"/original", spoof); resp.StatusCode != 200 {
		t.Fatal(resp.Status)
	}
	if got := lastCustodyDetails(t, a, id, "original_downloaded")["source_addr"]; got != "203.0.113.9" {
		t.Fatalf("behind a trusted proxy: source_addr %v", got)
	}
}

// An original whose bytes changed in storage: the download fails short of
// its Content-Length, the item is flagged with a fixity_failed custody
// event and an audit record; later downloads need an audited override
// and carry a warning.
func TestDownloadVerifiesWhileStreaming(t *testing.T) {
	a, srv, creds := leadTestApp(t)
	sgt := credUser(creds, "supervisor", "north")
	id := insertItem(t, a, "north", "N1001")
	var sum []byte
	a.Pool.QueryRow(context.Background(), `SELECT sha256 FROM evidence_items WHERE id = $1`, id).Scan(&sum)
	h := hex.EncodeToString(sum)
	path := filepath.Join(a.Config.Storage.FS.Root, "originals", h[0:2], h[2:4], h)
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	data[len(data)-1] ^= 0xff
	os.Chmod(path, 0o600)
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
	orig := "/api/v1/evidence/" + id.String() + "/original"
	resp, body, err := rawGet(t, srv.URL, sgt.APIToken, orig, nil)
	if err == nil && len(body) == len(data) {
		t.Fatalf("altered original served whole (%s, %d bytes)", resp.Status, len(body))
	}
	_ = resp
	var flagged bool
	var flags []string
	a.Pool.QueryRow(context.Background(), `SELECT flagged, flags FROM evidence_items WHERE id = $1`, id).Scan(&flagged, &flags)
	if !flagged || !strings.Contains(strings.Join(flags, ","), "fixity_failed") {
		t.Fatalf("item not flagged: %v %v", flagged, flags)
	}
	if d := lastCustodyDetails(t, a, id, "fixity_failed"); d["during"] != "download" {
		t.Fatalf("custody %v", d)
	}
	resp, body, _ = rawGet(t, srv.URL, sgt.APIToken, orig, nil)
	if resp.StatusCode != http.StatusConflict || !strings.Contains(string(body), "fixity_failed") {
		t.Fatalf("flagged item without override: %s %s", resp.Status, body)
	}
	// Say the original was restored from a backup; the flag stays until
	// someone clears it, so the override is still needed.
	data[len(data)-1] ^= 0xff
	os.WriteFile(path, data, 0o600)
	resp, body, err = rawGet(t, srv.URL, sgt.APIToken, orig+"?fixity_override=true", nil)
	if err != nil || len(body) != len(data) {
		t.Fatalf("override download: %v, %d bytes", err, len(body))
	}
	if resp.StatusCode != 200 || !strings.Contains(resp.Header.Get("Warning"), "integrity") {
		t.Fatalf("override: %s %v", resp.Status, resp.Header)
	}
	if d := lastCustodyDetails(t, a, id, "original_downloaded"); d["fixity_override"] != true {
		t.Fatalf("override not in custody: %v", d)
	}
	var n int
	a.Pool.QueryRow(context.Background(), `SELECT count(*) FROM audit_log WHERE event_type IN ('integrity_failure', 'integrity_override')`).Scan(&n)
	if n < 2 {
		t.Fatalf("%d integrity audit records", n)
	}
}

// Uploaded bytes are never served as something a browser would run.
func TestOriginalNeverServedAsScript(t *testing.T) {
	a, srv, creds := leadTestApp(t)
	sgt := credUser(creds, "supervisor", "north")
	id := insertItem(t, a, "north", "N1001")
	if _, err := a.Pool.Exec(context.Background(), `UPDATE evidence_items SET content_type = 'text/html' WHERE id = $1`, id); err != nil {
		t.Fatal(err)
	}
	resp, _, _ := rawGet(t, srv.URL, sgt.APIToken, "/api/v1/evidence/"+id.String()+"/original", nil)
	if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "application/octet-stream" ||
		resp.Header.Get("X-Content-Type-Options") != "nosniff" || !strings.HasPrefix(resp.Header.Get("Content-Disposition"), "attachment") {
		t.Fatalf("%s %v", resp.Status, resp.Header)
	}
}

// Brute-forcing the second factor over the API: the account locks after
// the configured number of wrong codes (the right code is then refused
// too), the lock is audited, and the session that guessed is ended.
func TestMFAGuessingLocksAndIsAudited(t *testing.T) {
	a, srv, creds := leadTestApp(t)
	adm := credUser(creds, "admin", "")
	c := newCaller(t, srv.URL, "")
	_, m := c.do("POST", "/api/v1/session", `{"username":"admin","password":"`+adm.Password+`"}`)
	c.csrf = m["csrf_token"].(string)
	_, m = c.do("POST", "/api/v1/me/mfa/enroll", "{}")
	secret := m["secret"].(string)
	code := func(at time.Time) string {
		s, _ := totp.GenerateCodeCustom(secret, at, totp.ValidateOpts{Period: 30, Digits: otp.DigitsSix, Algorithm: otp.AlgorithmSHA1})
		return s
	}
	if st, m := c.do("POST", "/api/v1/me/mfa/confirm", `{"code":"`+code(time.Now().Add(-30*time.Second))+`"}`); st != 200 {
		t.Fatalf("confirm %d %v", st, m)
	}
	b := newCaller(t, srv.URL, "")
	_, m = b.do("POST", "/api/v1/session", `{"username":"admin","password":"`+adm.Password+`"}`)
	b.csrf = m["csrf_token"].(string)
	bad := []byte(code(time.Now()))
	bad[0] = '0' + (bad[0]-'0'+5)%10
	for i := 0; i < a.Config.Server.MFAAttempts; i++ {
		if st, m := b.do("POST", "/api/v1/session/mfa", `{"code":"`+string(bad)+`"}`); st != 401 {
			t.Fatalf("wrong code %d: %d %v", i, st, m)
		}
	}
	if st, _ := b.do("GET", "/api/v1/me", ""); st != 401 {
		t.Fatalf("the guessing session survived: %d", st)
	}
	d := newCaller(t, srv.URL, "")
	_, m = d.do("POST", "/api/v1/session", `{"username":"admin","password":"`+adm.Password+`"}`)
	d.csrf = m["csrf_token"].(string)
	if st, m := d.do("POST", "/api/v1/session/mfa", `{"code":"`+code(time.Now())+`"}`); st != 401 {
		t.Fatalf("right code during the lock: %d %v", st, m)
	}
	var n int
	a.Pool.QueryRow(context.Background(), `SELECT count(*) FROM audit_log WHERE event_type = 'account_locked' AND actor = 'user:admin'`).Scan(&n)
	if n != 1 {
		t.Fatalf("%d account_locked audit records", n)
	}
}

// An administrator administers: no token for another user, no change of
// its own role, unit or status.
func TestAdminCannotTakeAnotherIdentity(t *testing.T) {
	a, srv, creds := leadTestApp(t)
	admin := newCaller(t, srv.URL, credUser(creds, "admin", "").APIToken)
	sgt, err := a.Identity.UserByName(context.Background(), "sgt.north")
	if err != nil {
		t.Fatal(err)
	}
	if st, m := admin.do("POST", "/api/v1/users/"+sgt.ID.String()+"/tokens", `{"name":"x"}`); st != 404 && st != 405 {
		t.Fatalf("token for another user: %d %v", st, m)
	}
	me, _ := a.Identity.UserByName(context.Background(), "admin")
	for _, body := range []string{`{"role":"auditor"}`, `{"unit":"north"}`, `{"disabled":false}`} {
		if st, m := admin.do("PATCH", "/api/v1/users/"+me.ID.String(), body); st != 403 {
			t.Fatalf("own account %s: %d %v", body, st, m)
		}
	}
	// It can still change someone else's role.
	if st, m := admin.do("PATCH", "/api/v1/users/"+sgt.ID.String(), `{"role":"officer"}`); st != 200 {
		t.Fatalf("other account: %d %v", st, m)
	}
}

// Personal tokens: listed, revocable, expiring within the maximum, and
// all dead once the user is disabled or the password is reset.
func TestTokensListRevokeExpireAndDie(t *testing.T) {
	a, srv, creds := leadTestApp(t)
	off := credUser(creds, "officer", "north")
	c := newCaller(t, srv.URL, off.APIToken)
	st, m := c.do("POST", "/api/v1/me/tokens", `{"name":"laptop"}`)
	if st != 201 {
		t.Fatalf("create %d %v", st, m)
	}
	info := m["info"].(map[string]any)
	exp, err := time.Parse(time.RFC3339Nano, info["expires_at"].(string))
	if err != nil || exp.After(time.Now().Add(a.Config.Server.TokenMaxLifetime+time.Minute)) {
		t.Fatalf("default expiry %v %v", info["expires_at"], err)
	}
	if st, m := c.do("POST", "/api/v1/me/tokens", `{"name":"forever","expires_at":"2999-01-01T00:00:00Z"}`); st != 400 {
		t.Fatalf("beyond the maximum: %d %v", st, m)
	}
	laptop := newCaller(t, srv.URL, m["token"].(string))
	st, m = laptop.do("GET", "/api/v1/me/tokens", "")
	if st != 200 || len(m["tokens"].([]any)) < 2 {
		t.Fatalf("list %d %v", st, m)
	}
	if st, _ := c.do("DELETE", "/api/v1/me/tokens/"+info["id"].(string), ""); st != 204 {
		t.Fatalf("revoke %d", st)
	}
	if st, _ := laptop.do("GET", "/api/v1/me", ""); st != 401 {
		t.Fatalf("revoked token: %d", st)
	}
	// Another user's token id is not the caller's to revoke.
	sgt := newCaller(t, srv.URL, credUser(creds, "supervisor", "north").APIToken)
	_, m = sgt.do("POST", "/api/v1/me/tokens", `{"name":"s"}`)
	sgtTok := m["info"].(map[string]any)["id"].(string)
	if st, _ := c.do("DELETE", "/api/v1/me/tokens/"+sgtTok, ""); st != 404 {
		t.Fatalf("revoking someone else's token: %d", st)
	}

	// Disable and re-enable: the old tokens stay dead.
	admin := newCaller(t, srv.URL, credUser(creds, "admin", "").APIToken)
	u, _ := a.Identity.UserByName(context.Background(), off.Username)
	if st, m := admin.do("PATCH", "/api/v1/users/"+u.ID.String(), `{"disabled":true}`); st != 200 {
		t.Fatalf("disable %d %v", st, m)
	}
	admin.do("PATCH", "/api/v1/users/"+u.ID.String(), `{"disabled":false}`)
	if st, _ := c.do("GET", "/api/v1/me", ""); st != 401 {
		t.Fatalf("token after disable and re-enable: %d", st)
	}
	// A password reset ends the supervisor's tokens and web sessions.
	web := newCaller(t, srv.URL, "")
	sgtUser := credUser(creds, "supervisor", "north")
	if st, _ := web.do("POST", "/api/v1/session", `{"username":"sgt.north","password":"`+sgtUser.Password+`"}`); st != 200 {
		t.Fatal("login")
	}
	su, _ := a.Identity.UserByName(context.Background(), "sgt.north")
	if st, m := admin.do("PATCH", "/api/v1/users/"+su.ID.String(), `{"password":"a brand new long password"}`); st != 200 {
		t.Fatalf("reset %d %v", st, m)
	}
	if st, _ := sgt.do("GET", "/api/v1/me", ""); st != 401 {
		t.Fatalf("token after password reset: %d", st)
	}
	if st, _ := web.do("GET", "/api/v1/me", ""); st != 401 {
		t.Fatalf("session after password reset: %d", st)
	}
}

// A supervisor's policy explanations cover the supervisor's own unit, not
// every account of the agency (role, unit, groups of anyone).
func TestPolicyExplainLimitedToWhatTheCallerMaySee(t *testing.T) {
	_, srv, creds := leadTestApp(t)
	sgt := newCaller(t, srv.URL, credUser(creds, "supervisor", "north").APIToken)
	aud := newCaller(t, srv.URL, credUser(creds, "auditor", "").APIToken)
	ask := func(c *caller, user string) (int, string) {
		st, m := c.do("GET", "/api/v1/policy/explain?action=evidence:view&user="+user, "")
		b, _ := json.Marshal(m)
		return st, string(b)
	}
	for _, u := range []string{"sgt.north", "officer.north"} {
		if st, b := ask(sgt, u); st != 200 {
			t.Errorf("supervisor about %s: %d %s", u, st, b)
		}
	}
	missingSt, missing := ask(sgt, "no.such.user")
	for _, u := range []string{"admin", "sgt.south", "officer.south", "records"} {
		if st, b := ask(sgt, u); st != missingSt || b != missing {
			t.Errorf("supervisor about %s: %d %s, want the answer for a missing user (%d %s)", u, st, b, missingSt, missing)
		}
	}
	if st, b := ask(aud, "admin"); st != 200 {
		t.Errorf("auditor about admin: %d %s", st, b)
	}
}

// NUL bytes in paths, queries and forms are refused with 400, never a
// server error from the database.
func TestNULBytesAreBadRequests(t *testing.T) {
	_, srv, creds := leadTestApp(t)
	sgt := credUser(creds, "supervisor", "north")
	aud := credUser(creds, "auditor", "")
	for _, tc := range []struct{ token, path string }{
		{sgt.APIToken, "/api/v1/evidence?q=a%00b"},
		{sgt.APIToken, "/api/v1/evidence?officer_id=%00"},
		{sgt.APIToken, "/api/v1/evidence?device_id=x%00"},
		{sgt.APIToken, "/api/v1/evidence/%00"},
		{sgt.APIToken, "/api/v1/policy/explain?action=evidence:view&user=a%00"},
		{aud.APIToken, "/api/v1/audit?user=%00"},
		{aud.APIToken, "/api/v1/audit?event_type=logon%00"},
		{"", "/evidence?q=%00"},
	} {
		resp, body, err := rawGet(t, srv.URL, tc.token, tc.path, nil)
		if err != nil || resp.StatusCode != http.StatusBadRequest {
			t.Errorf("%s: %v %v %s", tc.path, resp.Status, err, body)
		}
	}
	resp, err := http.PostForm(srv.URL+"/login", map[string][]string{"username": {"sgt\x00north"}, "password": {"x"}})
	if err != nil || resp.StatusCode != http.StatusBadRequest {
		t.Fatalf("form with NUL: %v %v", resp.Status, err)
	}
	resp.Body.Close()
}

// Oversized bodies on the review routes answer 413.
func TestReviewBodiesTooLarge(t *testing.T) {
	a, srv, creds := leadTestApp(t)
	sgt := newCaller(t, srv.URL, credUser(creds, "supervisor", "north").APIToken)
	id := insertItem(t, a, "north", "N1001")
	huge := `{"note":"` + strings.Repeat("x", 2<<20) + `"}` // beyond the 1 MiB limit
	for _, tc := range []struct{ method, path string }{
		{"POST", "/api/v1/evidence/" + id.String() + "/markers"},
		{"PUT", "/api/v1/evidence/" + id.String() + "/tags"},
		{"POST", "/api/v1/cases"},
	} {
		if st, m := sgt.do(tc.method, tc.path, huge); st != http.StatusRequestEntityTooLarge {
			t.Errorf("%s %s: %d %v", tc.method, tc.path, st, m)
		}
	}
}

// The web page for one's own tokens: create (shown once), use, revoke.
func TestTokensWebPage(t *testing.T) {
	_, srv, creds := leadTestApp(t)
	off := credUser(creds, "officer", "north")
	cl := webClient()
	_, _, body := get(t, cl, srv.URL+"/login")
	if st, h, b := postForm(t, cl, srv.URL+"/login", url.Values{"login_csrf": {hidden(body, "login_csrf")},
		"username": {off.Username}, "password": {off.Password}, "next": {"/tokens"}}); st != http.StatusSeeOther {
		t.Fatalf("login %d %v %s", st, h, b)
	}
	st, _, body := get(t, cl, srv.URL+"/tokens")
	if st != 200 || !strings.Contains(body, "API tokens") {
		t.Fatalf("tokens page %d", st)
	}
	csrf := hidden(body, "csrf_token")
	st, _, body = postForm(t, cl, srv.URL+"/tokens", url.Values{"csrf_token": {csrf}, "name": {"laptop"}, "days": {"7"}})
	m := regexp.MustCompile(`<code id="new-token">(odt_[^<]+)</code>`).FindStringSubmatch(body)
	if st != 200 || m == nil {
		t.Fatalf("create %d %s", st, body)
	}
	api := newCaller(t, srv.URL, m[1])
	st, mm := api.do("GET", "/api/v1/me/tokens", "")
	if st != 200 {
		t.Fatalf("new token: %d", st)
	}
	var id string
	for _, x := range mm["tokens"].([]any) {
		if x.(map[string]any)["name"] == "laptop" {
			id = x.(map[string]any)["id"].(string)
		}
	}
	if st, h, _ := postForm(t, cl, srv.URL+"/tokens/"+id+"/revoke", url.Values{"csrf_token": {csrf}}); st != http.StatusSeeOther {
		t.Fatalf("revoke %d %v", st, h)
	}
	if st, _ := api.do("GET", "/api/v1/me", ""); st != 401 {
		t.Fatalf("revoked token: %d", st)
	}
	// Without the session's CSRF token nothing is created.
	if st, _, _ := postForm(t, cl, srv.URL+"/tokens", url.Values{"name": {"x"}}); st != http.StatusForbidden {
		t.Fatalf("no csrf: %d", st)
	}
}
