package server

import (
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
)

// webClient is a browser-like client: cookies, no redirects followed (so
// the test sees each 303).
func webClient() *http.Client {
	jar, _ := cookiejar.New(nil)
	return &http.Client{Jar: jar, Timeout: 30 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
}

var hiddenRE = regexp.MustCompile(`name="(login_csrf|csrf_token)" value="([^"]+)"`)

func hidden(body, name string) string {
	for _, m := range hiddenRE.FindAllStringSubmatch(body, -1) {
		if m[1] == name {
			return m[2]
		}
	}
	return ""
}

func get(t *testing.T, cl *http.Client, u string) (int, http.Header, string) {
	t.Helper()
	resp, err := cl.Get(u)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header, string(b)
}

func postForm(t *testing.T, cl *http.Client, u string, v url.Values) (int, http.Header, string) {
	t.Helper()
	resp, err := cl.PostForm(u, v)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header, string(b)
}

// webLogin logs in through the HTML form and returns the session's CSRF
// token as the pages carry it.
func webLogin(t *testing.T, e *reviewEnv, cl *http.Client, user string) string {
	t.Helper()
	_, _, body := get(t, cl, e.srv.URL+"/login")
	st, h, body := postForm(t, cl, e.srv.URL+"/login", url.Values{"login_csrf": {hidden(body, "login_csrf")},
		"username": {user}, "password": {e.password(user)}, "next": {"/"}})
	if st != http.StatusSeeOther || h.Get("Location") != "/" {
		t.Fatalf("login %s: %d %s %s", user, st, h.Get("Location"), body)
	}
	_, _, body = get(t, cl, e.srv.URL+"/")
	tok := hidden(body, "csrf_token")
	if tok == "" {
		t.Fatal("dashboard carries no csrf token")
	}
	return tok
}

// TestWebPageEdges table-tests the pages' edges: anonymous access, the
// login form's CSRF, open redirects, other units' items, bad ids, admin
// pages for non-admins, state changes without the session's token.
func TestWebPageEdges(t *testing.T) {
	e := newReviewEnv(t)
	base := e.srv.URL
	north := e.items[0].String()

	anon := webClient()
	if st, h, _ := get(t, anon, base+"/evidence/"+north); st != 303 || h.Get("Location") != "/login?next=%2Fevidence%2F"+north {
		t.Errorf("anonymous item page: %d to %q", st, h.Get("Location"))
	}
	if st, _, _ := get(t, anon, base+"/admin/users"); st != 303 {
		t.Errorf("anonymous admin page: %d", st)
	}
	// Login without (or with a foreign) form token is refused.
	st, _, body := postForm(t, anon, base+"/login", url.Values{"username": {"sgt.north"}, "password": {e.password("sgt.north")}})
	if st != 403 || !strings.Contains(body, "login form expired") {
		t.Errorf("login without csrf: %d", st)
	}
	_, _, body = get(t, anon, base+"/login")
	st, _, _ = postForm(t, anon, base+"/login", url.Values{"login_csrf": {hidden(body, "login_csrf") + "x"}, "username": {"sgt.north"}, "password": {e.password("sgt.north")}})
	if st != 403 {
		t.Errorf("login with a wrong csrf token: %d", st)
	}
	// Wrong password: 401 and the form again.
	_, _, body = get(t, anon, base+"/login")
	if st, _, body := postForm(t, anon, base+"/login", url.Values{"login_csrf": {hidden(body, "login_csrf")}, "username": {"sgt.north"}, "password": {"nope"}}); st != 401 || !strings.Contains(body, "Wrong username or password") {
		t.Errorf("wrong password: %d", st)
	}
	// An off-site next is ignored.
	cl := webClient()
	_, _, body = get(t, cl, base+"/login")
	st, h, _ := postForm(t, cl, base+"/login", url.Values{"login_csrf": {hidden(body, "login_csrf")}, "username": {"sgt.north"},
		"password": {e.password("sgt.north")}, "next": {"//evil.example/x"}})
	if st != 303 || h.Get("Location") != "/" {
		t.Errorf("open redirect: %d to %q", st, h.Get("Location"))
	}

	sgt := webClient()
	csrf := webLogin(t, e, sgt, "sgt.north")
	officer := webClient()
	webLogin(t, e, officer, "officer.south")

	cases := []struct {
		name   string
		cl     *http.Client
		method string
		path   string
		form   url.Values
		status int
		want   string
	}{
		{"own unit item", sgt, "GET", "/evidence/" + north, nil, 200, "Chain of custody"},
		{"malformed id", sgt, "GET", "/evidence/nope", nil, 404, "Not found"},
		{"unknown id", sgt, "GET", "/evidence/" + uuid.NewString(), nil, 404, "Not found"},
		{"other unit's item", officer, "GET", "/evidence/" + north, nil, 404, "Not found"},
		{"search filter error", sgt, "GET", "/evidence?from=yesterday", nil, 400, "Search not understood"},
		{"search sort error", sgt, "GET", "/evidence?sort=password", nil, 400, "Search not understood"},
		{"search page", sgt, "GET", "/evidence?sort=size&order=asc&after=1&limit=1", nil, 200, "← Previous"},
		{"officer has no cases", officer, "GET", "/cases", nil, 403, "not permitted"},
		{"supervisor not admin", sgt, "GET", "/admin/users", nil, 403, "not permitted"},
		{"supervisor not admin (post)", sgt, "POST", "/admin/docks", url.Values{"csrf_token": {csrf}, "name": {"x"}, "unit": {"north"}}, 403, "not permitted"},
		{"case without csrf", sgt, "POST", "/cases", url.Values{"number": {"C-1"}}, 403, "csrf"},
		{"case with bad number", sgt, "POST", "/cases", url.Values{"csrf_token": {csrf}, "number": {"../../x"}}, 400, "number"},
		{"case ok", sgt, "POST", "/cases", url.Values{"csrf_token": {csrf}, "number": {"C-1"}}, 303, ""},
		{"case duplicate", sgt, "POST", "/cases", url.Values{"csrf_token": {csrf}, "number": {"C-1"}}, 409, "already exists"},
		{"case bad id", sgt, "GET", "/cases/zzz", nil, 404, "Not found"},
		{"logout without csrf", sgt, "POST", "/logout", url.Values{}, 403, "csrf"},
		{"static css", sgt, "GET", "/static/app.css", nil, 200, "--focus"},
		{"static missing", sgt, "GET", "/static/nope.js", nil, 404, ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var st int
			var body string
			if c.method == "GET" {
				st, _, body = get(t, c.cl, base+c.path)
			} else {
				st, _, body = postForm(t, c.cl, base+c.path, c.form)
			}
			if st != c.status || !strings.Contains(body, c.want) {
				t.Fatalf("%s %s: %d (want %d), body lacks %q:\n%.400s", c.method, c.path, st, c.status, c.want, body)
			}
		})
	}
	// Logging out ends the session: the page sends the browser to login.
	if st, _, _ := postForm(t, sgt, base+"/logout", url.Values{"csrf_token": {csrf}}); st != 303 {
		t.Fatalf("logout: %d", st)
	}
	if st, h, _ := get(t, sgt, base+"/"); st != 303 || !strings.HasPrefix(h.Get("Location"), "/login") {
		t.Fatalf("after logout: %d %s", st, h.Get("Location"))
	}
}
