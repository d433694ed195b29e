package server

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/opendems/opendems/configs"
	"github.com/opendems/opendems/evidence/custody"
	"github.com/opendems/opendems/evidence/identity"
	"github.com/opendems/opendems/evidence/ingest/wire"
	"github.com/opendems/opendems/evidence/pg/pgtest"
)

// reviewEnv is a whole server over a fresh database and fs storage, with
// the workers running in-process and the demo agency and recordings
// seeded and transcoded.
type reviewEnv struct {
	app   *App
	srv   *httptest.Server
	creds Credentials
	items []uuid.UUID // demo recordings, in demoRecordings order
	dir   string
}

func newReviewEnv(t *testing.T) *reviewEnv {
	t.Helper()
	db := pgtest.NewDB(t)
	dir := t.TempDir()
	cfg := configs.Default()
	cfg.Database.URL = configs.Secret(db.URL)
	cfg.Storage.FS.Root = filepath.Join(dir, "objects")
	cfg.Keys.SigningKeyFile = filepath.Join(dir, "keys", "signing.pem")
	cfg.Server.SecureCookies = false
	cfg.Workers.Concurrency = 2
	on := true
	ctx, cancel := context.WithCancel(context.Background())
	app, err := Build(ctx, cfg, Options{HTTP: true, Workers: &on})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(app.Close)
	app.Identity.WithArgon2(identity.Argon2Params{Memory: 1024, Time: 1, Threads: 1, KeyLen: 32, SaltLen: 16})
	if err := app.River.Start(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cancel()
		sctx, c := context.WithTimeout(context.Background(), 30*time.Second)
		defer c()
		app.River.Stop(sctx)
	})
	srv := contractServer(t, app)
	creds, err := SeedDemo(ctx, app, filepath.Join(dir, "creds.json"), srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	ids, err := SeedDemoMedia(ctx, app, filepath.Join(dir, "scratch"))
	if err != nil {
		t.Fatal(err)
	}
	if len(ids) != demoRecordingCount {
		t.Fatalf("seeded %d recordings, want %d", len(ids), demoRecordingCount)
	}
	e := &reviewEnv{app: app, srv: srv, creds: creds, items: ids, dir: dir}
	for _, id := range ids {
		e.waitProxy(t, id, "ready")
	}
	return e
}

// waitProxy waits until the item's proxy_status is want (or failed, which
// ends the wait early with an error unless wanted).
func (e *reviewEnv) waitProxy(t *testing.T, id uuid.UUID, want string) {
	t.Helper()
	deadline := time.Now().Add(3 * time.Minute)
	for {
		var st, msg string
		if err := e.app.Pool.QueryRow(context.Background(), `SELECT proxy_status, proxy_error FROM evidence_items WHERE id = $1`, id).Scan(&st, &msg); err != nil {
			t.Fatal(err)
		}
		if st == want {
			return
		}
		if st == "failed" {
			t.Fatalf("item %s: proxy failed: %s", id, msg)
		}
		if time.Now().After(deadline) {
			t.Fatalf("item %s: proxy still %s (%s)", id, st, msg)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func (e *reviewEnv) token(username string) string {
	for _, u := range e.creds.Users {
		if u.Username == username {
			return u.APIToken
		}
	}
	panic("no user " + username)
}

func (e *reviewEnv) password(username string) string {
	for _, u := range e.creds.Users {
		if u.Username == username {
			return u.Password
		}
	}
	panic("no user " + username)
}

// session logs in through the JSON API and returns a cookie client and
// the session's CSRF token.
func (e *reviewEnv) session(t *testing.T, username string) (*http.Client, string) {
	t.Helper()
	jar, _ := cookiejar.New(nil)
	cl := &http.Client{Jar: jar, Timeout: 30 * time.Second}
	body := fmt.Sprintf(`{"username":%q,"password":%q}`, username, e.password(username))
	resp, err := cl.Post(e.srv.URL+"/api/v1/session", "application/json", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 {
		t.Fatalf("login %s: %d %s", username, resp.StatusCode, b)
	}
	i := strings.Index(string(b), `"csrf_token":"`)
	if i < 0 {
		t.Fatalf("no csrf token in %s", b)
	}
	rest := string(b)[i+len(`"csrf_token":"`):]
	return cl, rest[:strings.IndexByte(rest, '"')]
}

func custodyActions(t *testing.T, e *reviewEnv, id uuid.UUID) []string {
	t.Helper()
	evs, err := custody.Events(context.Background(), e.app.Pool, id)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, ev := range evs {
		out = append(out, string(ev.Action))
	}
	return out
}

func count(list []string, s string) int {
	n := 0
	for _, x := range list {
		if x == s {
			n++
		}
	}
	return n
}

// TestReviewHTTPEdges table-tests the review routes' edges: bad ids,
// ranges, other units, policy denials, CSRF, bad bodies.
func TestReviewHTTPEdges(t *testing.T) {
	e := newReviewEnv(t)
	north := e.items[0] // officer.north's recording
	south := e.items[3] // officer.south's recording
	var proxySize int64
	if err := e.app.Pool.QueryRow(context.Background(), `SELECT size FROM evidence_derivatives WHERE evidence_id = $1 AND kind = 'proxy'`, north).Scan(&proxySize); err != nil {
		t.Fatal(err)
	}
	sgtCookie, sgtCSRF := e.session(t, "sgt.north")

	type tc struct {
		name    string
		user    string // bearer token user; "" with cookie set uses the cookie client
		cookie  bool
		csrf    string
		method  string
		path    string
		body    string
		headers map[string]string
		status  int
		check   func(t *testing.T, resp *http.Response, body []byte)
	}
	nid := north.String()
	cases := []tc{
		{name: "malformed id", user: "sgt.north", method: "GET", path: "/api/v1/evidence/not-a-uuid/proxy", status: 404},
		{name: "unknown id", user: "sgt.north", method: "GET", path: "/api/v1/evidence/" + uuid.NewString() + "/proxy", status: 404},
		{name: "anonymous", method: "GET", path: "/api/v1/evidence/" + nid + "/proxy", status: 401},
		{name: "other unit's supervisor", user: "sgt.south", method: "GET", path: "/api/v1/evidence/" + nid + "/proxy", status: 404},
		{name: "other unit's officer markers", user: "officer.south", method: "POST", path: "/api/v1/evidence/" + nid + "/markers", body: `{"at":1,"note":"x"}`, status: 404},
		{name: "own unit, item of other unit", user: "sgt.north", method: "GET", path: "/api/v1/evidence/" + south.String() + "/thumbnail", status: 404},
		{name: "whole proxy", user: "sgt.north", method: "GET", path: "/api/v1/evidence/" + nid + "/proxy", status: 200,
			check: func(t *testing.T, resp *http.Response, body []byte) {
				if resp.Header.Get("Cache-Control") != "no-store" {
					t.Errorf("proxy Cache-Control %q: evidence must not be cached by browsers", resp.Header.Get("Cache-Control"))
				}
				if int64(len(body)) != proxySize || resp.Header.Get("Content-Type") != "video/mp4" || resp.Header.Get("Accept-Ranges") != "bytes" {
					t.Errorf("got %d bytes %q ranges=%q; want %d video/mp4 bytes", len(body), resp.Header.Get("Content-Type"), resp.Header.Get("Accept-Ranges"), proxySize)
				}
			}},
		{name: "range start", user: "sgt.north", method: "GET", path: "/api/v1/evidence/" + nid + "/proxy", headers: map[string]string{"Range": "bytes=0-99"}, status: 206,
			check: func(t *testing.T, resp *http.Response, body []byte) {
				if len(body) != 100 || resp.Header.Get("Content-Range") != fmt.Sprintf("bytes 0-99/%d", proxySize) {
					t.Errorf("got %d bytes, Content-Range %q", len(body), resp.Header.Get("Content-Range"))
				}
				if string(body[4:8]) != "ftyp" {
					t.Errorf("proxy does not start with an ftyp box: %q", body[:8])
				}
			}},
		{name: "range seek to tail", user: "sgt.north", method: "GET", path: "/api/v1/evidence/" + nid + "/proxy", headers: map[string]string{"Range": "bytes=-10"}, status: 206,
			check: func(t *testing.T, resp *http.Response, body []byte) {
				if len(body) != 10 || resp.Header.Get("Content-Range") != fmt.Sprintf("bytes %d-%d/%d", proxySize-10, proxySize-1, proxySize) {
					t.Errorf("got %d bytes, Content-Range %q", len(body), resp.Header.Get("Content-Range"))
				}
			}},
		{name: "range beyond end", user: "sgt.north", method: "GET", path: "/api/v1/evidence/" + nid + "/proxy", headers: map[string]string{"Range": fmt.Sprintf("bytes=%d-", proxySize+10)}, status: 416},
		{name: "range malformed", user: "sgt.north", method: "GET", path: "/api/v1/evidence/" + nid + "/proxy", headers: map[string]string{"Range": "bytes=9-3"}, status: 416},
		{name: "if-range stale etag gives whole", user: "sgt.north", method: "GET", path: "/api/v1/evidence/" + nid + "/proxy", headers: map[string]string{"Range": "bytes=0-9", "If-Range": `"0000"`}, status: 200},
		{name: "poster", user: "sgt.north", method: "GET", path: "/api/v1/evidence/" + nid + "/thumbnail", status: 200,
			check: func(t *testing.T, resp *http.Response, body []byte) {
				if resp.Header.Get("Content-Type") != "image/jpeg" || len(body) < 3 || body[0] != 0xFF || body[1] != 0xD8 {
					t.Errorf("poster is not a JPEG: %q", resp.Header.Get("Content-Type"))
				}
			}},
		{name: "sprite", user: "sgt.north", method: "GET", path: "/api/v1/evidence/" + nid + "/sprite", status: 200},
		{name: "job status", user: "officer.north", method: "GET", path: "/api/v1/evidence/" + nid + "/job", status: 200,
			check: func(t *testing.T, resp *http.Response, body []byte) {
				if !strings.Contains(string(body), `"status":"ready"`) || !strings.Contains(string(body), `"progress":100`) {
					t.Errorf("job: %s", body)
				}
			}},
		{name: "marker negative time", user: "sgt.north", method: "POST", path: "/api/v1/evidence/" + nid + "/markers", body: `{"at":-1,"note":"x"}`, status: 400},
		{name: "marker beyond end", user: "sgt.north", method: "POST", path: "/api/v1/evidence/" + nid + "/markers", body: `{"at":9999,"note":"x"}`, status: 400},
		{name: "marker missing time", user: "sgt.north", method: "POST", path: "/api/v1/evidence/" + nid + "/markers", body: `{"note":"x"}`, status: 400},
		{name: "marker unknown field", user: "sgt.north", method: "POST", path: "/api/v1/evidence/" + nid + "/markers", body: `{"at":1,"nope":1}`, status: 400},
		{name: "marker not json", user: "sgt.north", method: "POST", path: "/api/v1/evidence/" + nid + "/markers", body: `at=1`, status: 400},
		{name: "marker ok", user: "sgt.north", method: "POST", path: "/api/v1/evidence/" + nid + "/markers", body: `{"at":2.5,"note":"suspect enters"}`, status: 201},
		{name: "marker by cookie without csrf", cookie: true, method: "POST", path: "/api/v1/evidence/" + nid + "/markers", body: `{"at":1,"note":"x"}`, status: 403,
			check: func(t *testing.T, resp *http.Response, body []byte) {
				if !strings.Contains(string(body), `"csrf"`) {
					t.Errorf("want csrf error, got %s", body)
				}
			}},
		{name: "marker by cookie with wrong csrf", cookie: true, csrf: "wrong", method: "POST", path: "/api/v1/evidence/" + nid + "/markers", body: `{"at":1,"note":"x"}`, status: 403},
		{name: "marker by cookie with csrf", cookie: true, csrf: sgtCSRF, method: "POST", path: "/api/v1/evidence/" + nid + "/markers", body: `{"at":1,"note":"from the browser"}`, status: 201},
		{name: "tags invalid", user: "sgt.north", method: "PUT", path: "/api/v1/evidence/" + nid + "/tags", body: `{"tags":["<script>"]}`, status: 400},
		{name: "tags ok", user: "sgt.north", method: "PUT", path: "/api/v1/evidence/" + nid + "/tags", body: `{"tags":["Use of force"," use of force","arrest"]}`, status: 200,
			check: func(t *testing.T, resp *http.Response, body []byte) {
				if !strings.Contains(string(body), `["arrest","use of force"]`) {
					t.Errorf("tags not normalized: %s", body)
				}
			}},
		{name: "flag missing", user: "sgt.north", method: "PUT", path: "/api/v1/evidence/" + nid + "/flag", body: `{}`, status: 400},
		{name: "flag", user: "sgt.north", method: "PUT", path: "/api/v1/evidence/" + nid + "/flag", body: `{"flagged":true}`, status: 200},
		{name: "category unknown", user: "sgt.north", method: "PUT", path: "/api/v1/evidence/" + nid + "/category", body: `{"category":"nope"}`, status: 400},
		{name: "officer may not categorize felony", user: "officer.north", method: "PUT", path: "/api/v1/evidence/" + nid + "/category", body: `{"category":"felony"}`, status: 403},
		{name: "officer categorizes own as traffic", user: "officer.north", method: "PUT", path: "/api/v1/evidence/" + nid + "/category", body: `{"category":"traffic"}`, status: 200},
		{name: "supervisor categorizes felony", user: "sgt.north", method: "PUT", path: "/api/v1/evidence/" + nid + "/category", body: `{"category":"felony"}`, status: 200},
		{name: "auditor may view not edit", user: "auditor", method: "POST", path: "/api/v1/evidence/" + nid + "/markers", body: `{"at":1}`, status: 403},
		{name: "officer may not read cases", user: "officer.north", method: "GET", path: "/api/v1/cases", status: 403},
		{name: "case bad number", user: "sgt.north", method: "POST", path: "/api/v1/cases", body: `{"number":"../x"}`, status: 400},
		{name: "case bad id", user: "sgt.north", method: "GET", path: "/api/v1/cases/zzz", status: 404},
		{name: "case unknown", user: "sgt.north", method: "GET", path: "/api/v1/cases/" + uuid.NewString(), status: 404},
		{name: "add to unknown case", user: "sgt.north", method: "POST", path: "/api/v1/evidence/" + nid + "/cases", body: `{"case_id":"` + uuid.NewString() + `"}`, status: 404},
		{name: "add to malformed case", user: "sgt.north", method: "POST", path: "/api/v1/evidence/" + nid + "/cases", body: `{"case_id":"x"}`, status: 400},
		// A case that does not exist answers like one the caller may not
		// see (the role × route table checks 403 on a real case).
		{name: "hold on a missing case", user: "sgt.north", method: "POST", path: "/api/v1/cases/" + uuid.NewString() + "/hold", body: `{"reason":"x"}`, status: 404},
		{name: "views explicit", user: "sgt.north", method: "POST", path: "/api/v1/evidence/" + nid + "/views", status: 200},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var body io.Reader
			if c.body != "" {
				body = strings.NewReader(c.body)
			}
			req, _ := http.NewRequest(c.method, e.srv.URL+c.path, body)
			if c.body != "" {
				req.Header.Set("Content-Type", "application/json")
			}
			for k, v := range c.headers {
				req.Header.Set(k, v)
			}
			cl := http.DefaultClient
			if c.cookie {
				cl = sgtCookie
				if c.csrf != "" {
					req.Header.Set("X-CSRF-Token", c.csrf)
				}
			} else if c.user != "" {
				req.Header.Set("Authorization", "Bearer "+e.token(c.user))
			}
			resp, err := cl.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			b, _ := io.ReadAll(resp.Body)
			if resp.StatusCode != c.status {
				t.Fatalf("%s %s: status %d, want %d: %s", c.method, c.path, resp.StatusCode, c.status, b)
			}
			if c.check != nil {
				c.check(t, resp, b)
			}
		})
	}

	acts := custodyActions(t, e, north)
	// sgt.north's bearer requests (many ranges, the explicit view) are one
	// view in this hour; the cookie session has not played: exactly one.
	if n := count(acts, "viewed"); n != 1 {
		t.Errorf("viewed events: %d, want 1 (%v)", n, acts)
	}
	if n := count(acts, "marker_added"); n != 2 {
		t.Errorf("marker_added events: %d, want 2", n)
	}
	if n := count(acts, "category_changed"); n != 2 {
		t.Errorf("category_changed events: %d, want 2 (%v)", n, acts)
	}
	if n := count(acts, "metadata_changed"); n != 2 { // tags, flag
		t.Errorf("metadata_changed events: %d, want 2 (%v)", n, acts)
	}
	// The other unit's attempts left no trace on the item's chain but
	// were not silent either (they are in the audit log, not custody).
	if n := count(acts, "viewed"); n > 1 {
		t.Errorf("denied requests recorded views")
	}
}

// TestCaseFlowAndHold creates a case, links items, holds it (admin) and
// releases it, checking the items' legal hold and custody events.
func TestCaseFlowAndHold(t *testing.T) {
	e := newReviewEnv(t)
	sgt, admin := e.token("sgt.north"), e.token("admin")
	c := func(token, method, path, body string) (int, string) {
		req, _ := http.NewRequest(method, e.srv.URL+path, strings.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+token)
		req.Header.Set("Content-Type", "application/json")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	st, body := c(sgt, "POST", "/api/v1/cases", `{"number":"2026-000123","title":"Harbor Rd assault"}`)
	if st != 201 {
		t.Fatalf("create case: %d %s", st, body)
	}
	caseID := between(body, `"id":"`, `"`)
	if st, body := c(sgt, "POST", "/api/v1/cases", `{"number":"2026-000123"}`); st != 409 {
		t.Fatalf("duplicate case: %d %s", st, body)
	}
	for _, id := range e.items[:2] {
		if st, body := c(sgt, "POST", "/api/v1/evidence/"+id.String()+"/cases", `{"case_id":"`+caseID+`"}`); st != 200 {
			t.Fatalf("add: %d %s", st, body)
		}
	}
	// The south supervisor can neither see the case nor add to it.
	if st, _ := c(e.token("sgt.south"), "GET", "/api/v1/cases/"+caseID, ""); st != 404 {
		t.Fatalf("south sees north case: %d", st)
	}
	if st, _ := c(e.token("sgt.south"), "POST", "/api/v1/evidence/"+e.items[3].String()+"/cases", `{"case_id":"`+caseID+`"}`); st != 404 {
		t.Fatalf("south adds to north case: %d", st)
	}
	if st, body := c(admin, "POST", "/api/v1/cases/"+caseID+"/hold", `{"reason":""}`); st != 400 {
		t.Fatalf("hold without reason: %d %s", st, body)
	}
	if st, body := c(admin, "POST", "/api/v1/cases/"+caseID+"/hold", `{"reason":"litigation notice 17"}`); st != 201 {
		t.Fatalf("hold: %d %s", st, body)
	}
	held := func(id uuid.UUID) bool {
		var h bool
		if err := e.app.Pool.QueryRow(context.Background(), `SELECT legal_hold FROM evidence_items WHERE id = $1`, id).Scan(&h); err != nil {
			t.Fatal(err)
		}
		return h
	}
	if !held(e.items[0]) || !held(e.items[1]) || held(e.items[2]) {
		t.Fatalf("holds after case hold: %v %v %v", held(e.items[0]), held(e.items[1]), held(e.items[2]))
	}
	// A held case keeps its items: removing one would lift its hold.
	if st, body := c(sgt, "DELETE", "/api/v1/evidence/"+e.items[1].String()+"/cases/"+caseID, ""); st != 409 || !strings.Contains(body, `"legal_hold"`) {
		t.Fatalf("remove from held case: %d %s, want 409 legal_hold", st, body)
	}
	if !held(e.items[1]) {
		t.Fatal("a refused removal released the item")
	}
	if st, body := c(admin, "DELETE", "/api/v1/cases/"+caseID+"/hold", ""); st != 200 {
		t.Fatalf("release: %d %s", st, body)
	}
	if held(e.items[0]) || held(e.items[1]) {
		t.Fatal("release left an item held")
	}
	if st, body := c(sgt, "DELETE", "/api/v1/evidence/"+e.items[1].String()+"/cases/"+caseID, ""); st != 204 {
		t.Fatalf("remove after release: %d %s", st, body)
	}
	if st, _ := c(sgt, "DELETE", "/api/v1/evidence/"+e.items[1].String()+"/cases/"+caseID, ""); st != 404 {
		t.Fatalf("second remove: %d", st)
	}
	a0 := custodyActions(t, e, e.items[0])
	for _, want := range []string{"case_added", "legal_hold_set", "legal_hold_cleared"} {
		if count(a0, want) != 1 {
			t.Errorf("item 0 custody %v lacks one %s", a0, want)
		}
	}
	a1 := custodyActions(t, e, e.items[1])
	if count(a1, "case_removed") != 1 || count(a1, "legal_hold_set") != 1 {
		t.Errorf("item 1 custody %v", a1)
	}
	// The case lists only items the caller may see.
	if st, body := c(sgt, "GET", "/api/v1/cases/"+caseID, ""); st != 200 || !strings.Contains(body, e.items[0].String()) {
		t.Fatalf("case: %d %s", st, body)
	}
}

// TestCorruptMediaFailsClearly ingests bytes that are not media: the job
// ends at once (no retries), the item says why, the original stays.
func TestCorruptMediaFailsClearly(t *testing.T) {
	e := newReviewEnv(t)
	u, err := e.app.Identity.UserByName(context.Background(), "officer.north")
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(e.dir, "broken.mp4")
	junk := []byte("\x00\x00\x00\x18ftypmp42 this is not really a video at all, just a truncated header")
	if err := os.WriteFile(path, junk, 0o600); err != nil {
		t.Fatal(err)
	}
	at := time.Now().UTC().Truncate(time.Second)
	id, err := IngestFile(context.Background(), e.app, u.Principal("test"), path, "broken.mp4", wire.Metadata{OfficerID: u.Badge, RecordedAt: &at})
	if err != nil {
		t.Fatal(err)
	}
	e.waitProxy(t, id, "failed")
	it, err := e.app.Evidence.Get(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(it.ProxyError, "no playable proxy: ") {
		t.Fatalf("proxy_error %q", it.ProxyError)
	}
	// The item is marked before the worker returns; river then finalizes
	// the job.
	var state string
	var attempt int
	for deadline := time.Now().Add(time.Minute); ; time.Sleep(50 * time.Millisecond) {
		if err := e.app.Pool.QueryRow(context.Background(), `SELECT state::text, attempt FROM river_job WHERE kind = 'transcode' AND args->>'evidence_id' = $1`, id.String()).Scan(&state, &attempt); err != nil {
			t.Fatal(err)
		}
		if state != "running" || time.Now().After(deadline) {
			break
		}
	}
	if state != "cancelled" || attempt != 1 {
		t.Fatalf("job %s after %d attempts; want cancelled after 1", state, attempt)
	}
	// The original is untouched and still downloadable.
	req, _ := http.NewRequest("GET", e.srv.URL+"/api/v1/evidence/"+id.String()+"/original", nil)
	req.Header.Set("Authorization", "Bearer "+e.token("sgt.north"))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || string(b) != string(junk) {
		t.Fatalf("original: %d, %d bytes", resp.StatusCode, len(b))
	}
	// The proxy route says why there is nothing to play.
	req, _ = http.NewRequest("GET", e.srv.URL+"/api/v1/evidence/"+id.String()+"/proxy", nil)
	req.Header.Set("Authorization", "Bearer "+e.token("sgt.north"))
	resp, err = http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	b, _ = io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 409 || !strings.Contains(string(b), "no playable proxy") {
		t.Fatalf("proxy of corrupt item: %d %s", resp.StatusCode, b)
	}
}

func between(s, a, b string) string {
	i := strings.Index(s, a)
	if i < 0 {
		return ""
	}
	s = s[i+len(a):]
	j := strings.Index(s, b)
	if j < 0 {
		return ""
	}
	return s[:j]
}

var _ = url.QueryEscape
