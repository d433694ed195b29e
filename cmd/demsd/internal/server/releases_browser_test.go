package server

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/pquerna/otp"
	"github.com/pquerna/otp/totp"
)

// TestReleaseEndToEndInBrowser: a demo recording is redacted by a real
// render job (FFmpeg in-process), submitted, approved by a second records
// officer and released; the package the server built verifies with
// `dems verify --server`. The recipient opens share links in chromium
// without an account (plain and passcode-protected), a revoked link shows
// its 410 page, and the records officer's share page shows the activity.
// Every page is photographed.
func TestReleaseEndToEndInBrowser(t *testing.T) {
	e := newReviewEnv(t)
	ctx := browser(t)
	dir := screenshotDir(t)
	app, base := e.app, e.srv.URL
	maker := newCaller(t, base, credUser(e.creds, "records", "").APIToken)
	checker := newCaller(t, base, secondRecordsOfficer(t, app, "checker"))
	item := e.items[0]

	st, m := maker.do("POST", "/api/v1/requests", `{"requester_name":"Jordan Press","requester_type":"media","contact":"jordan@news.example","description":"Body camera video of the stop","channel":"email"}`)
	if st != 201 {
		t.Fatalf("create: %d %v", st, m)
	}
	reqID := m["request"].(map[string]any)["id"].(string)
	req := "/api/v1/requests/" + reqID
	maker.do("POST", req+"/transition", `{"state":"assigned","assignee":"records"}`)
	maker.do("POST", req+"/transition", `{"state":"searching"}`)
	if st, m = maker.do("POST", req+"/clips", `{"evidence_id":"`+item.String()+`","in_ms":0,"out_ms":2000}`); st != 201 {
		t.Fatalf("clip: %d %v", st, m)
	}
	clipID := m["clip"].(map[string]any)["id"].(string)
	clip := req + "/clips/" + clipID
	spec := `{"version":1,"clip":{"source":"` + item.String() + `"},"regions":[{"id":"face-1","shape":"ellipse","effect":{"type":"blur"},"reason":"b(7)(C)","origin":"manual","keyframes":[{"time":0.2,"x":40,"y":40,"width":80,"height":90}]}]}`
	if st, m = maker.do("PUT", clip+"/spec", `{"base_version":0,"spec":`+spec+`}`); st != 201 {
		t.Fatalf("spec: %d %v", st, m)
	}
	maker.do("POST", req+"/transition", `{"state":"redacting"}`)
	if st, m = maker.do("POST", clip+"/jobs", `{"kind":"render","spec_version":1}`); st != 202 {
		t.Fatalf("render job: %d %v", st, m)
	}
	deadline := time.Now().Add(4 * time.Minute)
	for {
		_, m = maker.do("GET", clip+"/outputs", "")
		if strings.Contains(fmt.Sprint(m), "kind:render") {
			break
		}
		if time.Now().After(deadline) {
			_, j := maker.do("GET", clip+"/jobs", "")
			t.Fatalf("no render output: %v %v", m, j)
		}
		time.Sleep(500 * time.Millisecond)
	}
	// Let the job finish (leak check) so no retry renders again.
	for time.Now().Before(deadline) {
		_, j := maker.do("GET", clip+"/jobs", "")
		if strings.Contains(fmt.Sprint(j), "state:completed") {
			break
		}
		time.Sleep(500 * time.Millisecond)
	}
	if st, m = maker.do("POST", clip+"/review", `{"note":"bystander blurred"}`); st != 201 {
		t.Fatalf("submit: %d %v", st, m)
	}
	reviewID := m["id"].(string)
	_ = checker
	// The maker sees the review page without the decision form and why.
	mfaLogin(t, ctx, e, "records")
	must(t, "review page (maker)", chromedp.Do(ctx, chromedp.Navigate(base+"/requests/"+reqID+"/review"), chromedp.WaitVisible(chromedp.CSS("article.card"))))
	if txt := evalT[string](t, ctx, `document.body.innerText`); !strings.Contains(txt, "separation of duties") || strings.Contains(txt, "Approve") {
		t.Fatalf("review page for the maker: %s", txt)
	}
	if cur := evalT[string](t, ctx, `(document.querySelector('nav[aria-label=Main] a[aria-current=page]') || {innerText: ''}).innerText`); cur != "Requests" {
		t.Fatalf("review page navigation: current %q", cur)
	}
	shot(t, ctx, dir, "34-review-maker")
	// The second officer approves on the page, with a region comment.
	ctx2 := browser(t)
	login(t, ctx2, base, "checker", "a long enough password")
	must(t, "mfa enrol page", chromedp.Do(ctx2, chromedp.WaitVisible(chromedp.CSS("#totp-secret"))))
	secret := evalT[string](t, ctx2, `document.getElementById('totp-secret').innerText`)
	code, err := totp.GenerateCodeCustom(secret, time.Now(), totp.ValidateOpts{Period: 30, Digits: otp.DigitsSix, Algorithm: otp.AlgorithmSHA1})
	must(t, "totp", err)
	must(t, "mfa confirm", chromedp.Do(ctx2, chromedp.SendKeys(chromedp.CSS("#code"), code),
		chromedp.Click(chromedp.CSS("form[action='/mfa'] button[type=submit]"))))
	waitJS(t, ctx2, "recovery codes", `document.readyState === 'complete' && document.querySelectorAll('ol.recovery li').length > 0`, 30*time.Second)
	must(t, "review page (checker)", chromedp.Do(ctx2, chromedp.Navigate(base+"/requests/"+reqID+"/review"),
		chromedp.WaitVisible(chromedp.CSS("#comment-"+reviewID)),
		chromedp.SendKeys(chromedp.CSS("#comment-"+reviewID), "checked frame by frame"),
		chromedp.SendKeys(chromedp.CSS("#region-"+reviewID), "face-1"),
		chromedp.SendKeys(chromedp.CSS("#start-"+reviewID), "0.2"),
		chromedp.SendKeys(chromedp.CSS("#end-"+reviewID), "1.5"),
		chromedp.SendKeys(chromedp.CSS("#text-"+reviewID), "blur covers the face throughout"),
	))
	shot(t, ctx2, dir, "35-review-checker")
	must(t, "approve", chromedp.Do(ctx2, chromedp.Click(chromedp.CSS("button[value=approve]"))))
	waitJS(t, ctx2, "approved", `document.body.innerText.includes('Done: approved') && document.body.innerText.includes('State approved')`, 20*time.Second)
	shot(t, ctx2, dir, "36-review-approved")
	if _, m = maker.do("GET", req+"/reviews", ""); m["reviews"].([]any)[0].(map[string]any)["comments"].([]any)[0].(map[string]any)["region"] != "face-1" {
		t.Fatalf("region comment from the page: %v", m)
	}
	// The maker starts the build on the page; the build is a job, and the
	// page follows it (progress, then the package) until it is released.
	must(t, "release on the page", chromedp.Do(ctx, chromedp.Navigate(base+"/requests/"+reqID+"/review"),
		chromedp.WaitVisible(chromedp.CSS("form[action$='/release'] button")),
		chromedp.Click(chromedp.CSS("form[action$='/release'] button"))))
	waitJS(t, ctx, "release started", `document.readyState === 'complete' && document.body.innerText.includes('Done: release started')`, 30*time.Second)
	waitJS(t, ctx, "release built", `document.querySelector('.release[data-state=released]') !== null`, 3*time.Minute)
	shot(t, ctx, dir, "40-release-built")
	_, m = maker.do("GET", req+"/releases", "")
	rel := m["releases"].([]any)[0].(map[string]any)
	if rel["state"] != "released" || rel["job"].(map[string]any)["progress"] != 100.0 {
		t.Fatalf("release built from the page: %v", rel)
	}
	relID := rel["id"].(string)
	pkg := filepath.Join(t.TempDir(), "package.zip")
	out, err := exec.Command(buildDems(t), "--server", base, "--token", credUser(e.creds, "records", "").APIToken, "request", "release", reqID, "--output", pkg).CombinedOutput()
	if err == nil || !strings.Contains(string(out), "409") {
		t.Fatalf("releasing a released request again: %v %s", err, out)
	}
	pkgBytes := download(t, base+"/api/v1/releases/"+relID+"/package", credUser(e.creds, "records", "").APIToken, "")
	writeFile(t, pkg, pkgBytes)
	if out, err := exec.Command(buildDems(t), "verify", "--server", base, "--pin-dir", filepath.Join(t.TempDir(), "pins"), pkg).CombinedOutput(); err != nil {
		t.Fatalf("dems verify --server of a package with a real render: %v\n%s", err, out)
	}

	_, m = maker.do("POST", "/api/v1/releases/"+relID+"/shares", `{"recipient":"Jordan Press (newsroom)","max_downloads":5}`)
	token := m["token"].(string)
	_, m = maker.do("POST", "/api/v1/releases/"+relID+"/shares", `{"recipient":"Counsel for the subject","passcode":"river stone 42","expires_in_days":7}`)
	ptoken := m["token"].(string)
	_, m = maker.do("POST", "/api/v1/releases/"+relID+"/shares", `{"recipient":"Wrong address","expires_in_days":3}`)
	rtoken, rshare := m["token"].(string), m["share"].(map[string]any)["id"].(string)
	maker.do("POST", "/api/v1/releases/"+relID+"/shares/"+rshare+"/revoke", `{"reason":"sent to the wrong address"}`)

	// The recipient's pages use the app's layout without the staff
	// navigation, even in this browser where a records officer is logged
	// in: the agency's name as brand, the skip link, the app's styles.
	publicLayout := func(what string) {
		t.Helper()
		if got := evalT[string](t, ctx, `[!!document.querySelector('a.skip[href="#main"]'), !!document.querySelector('link[href="/static/app.css"]'),
			!!document.querySelector('nav[aria-label=Main]'), !!document.querySelector('form[action="/logout"]'),
			document.querySelector('header.top .brand').innerText, document.querySelectorAll('h1').length].join('|')`); got != "true|true|false|false|OpenDEMS Demo Police Department|1" {
			t.Fatalf("%s: public layout (skip, css, nav, logout, brand, h1s): %s", what, got)
		}
	}
	must(t, "recipient page", chromedp.Do(ctx, chromedp.Navigate(base+"/share/"+token), chromedp.WaitVisible(chromedp.CSS("table.items"))))
	if txt := evalT[string](t, ctx, `document.body.innerText`); !strings.Contains(txt, "Jordan Press (newsroom)") || !strings.Contains(txt, "data/clips/") ||
		!strings.Contains(txt, rel["package_sha256"].(string)) || !strings.Contains(txt, "0 of 5 downloads used") {
		t.Fatalf("recipient page: %s", txt)
	}
	publicLayout("recipient page")
	shot(t, ctx, dir, "30-share-recipient")
	must(t, "phone", chromedp.Do(ctx, chromedp.EmulateViewport(390, 844)))
	if w := evalT[int](t, ctx, `document.documentElement.scrollWidth`); w > 390 {
		t.Errorf("recipient page at phone width scrolls sideways: %dpx", w)
	}
	shot(t, ctx, dir, "37-share-recipient-phone")
	must(t, "desktop", chromedp.Do(ctx, chromedp.EmulateViewport(1366, 900)))
	must(t, "passcode page", chromedp.Do(ctx, chromedp.Navigate(base+"/share/"+ptoken), chromedp.WaitVisible(chromedp.CSS("#passcode"))))
	publicLayout("passcode page")
	shot(t, ctx, dir, "38-share-passcode")
	must(t, "passcode page", chromedp.Do(ctx, chromedp.Navigate(base+"/share/"+ptoken), chromedp.WaitVisible(chromedp.CSS("#passcode")),
		chromedp.SendKeys(chromedp.CSS("#passcode"), "not it"), chromedp.Click(chromedp.CSS("form button[type=submit]"))))
	waitJS(t, ctx, "wrong passcode", `document.body.innerText.includes('wrong passcode')`, 10*time.Second)
	shot(t, ctx, dir, "31-share-passcode-wrong")
	must(t, "right passcode", chromedp.Do(ctx, chromedp.SendKeys(chromedp.CSS("#passcode"), "river stone 42"), chromedp.Click(chromedp.CSS("form button[type=submit]"))))
	waitJS(t, ctx, "unlocked", `document.body.innerText.includes('Counsel for the subject') && !!document.querySelector('table')`, 10*time.Second)
	must(t, "revoked page", chromedp.Do(ctx, chromedp.Navigate(base+"/share/"+rtoken), chromedp.WaitVisible(chromedp.CSS("h1"))))
	if txt := evalT[string](t, ctx, `document.body.innerText`); !strings.Contains(txt, "no longer works") || !strings.Contains(txt, "revoked") {
		t.Fatalf("revoked page: %s", txt)
	}
	publicLayout("revoked page")
	shot(t, ctx, dir, "32-share-revoked")
	app.Pool.Exec(context.Background(), `UPDATE release_shares SET expires_at = now() - interval '1 minute' WHERE token_sha256 = sha256($1::bytea)`, []byte(ptoken))
	must(t, "expired page", chromedp.Do(ctx, chromedp.Navigate(base+"/share/"+ptoken), chromedp.WaitVisible(chromedp.CSS("h1"))))
	if txt := evalT[string](t, ctx, `document.body.innerText`); !strings.Contains(txt, "no longer works") || !strings.Contains(txt, "expired") {
		t.Fatalf("expired page: %s", txt)
	}
	publicLayout("expired page")
	shot(t, ctx, dir, "39-share-expired")

	// A download, then the staff page with the activity.
	shareGet(t, base+"/share/"+token+"/package", map[string]string{"Range": "bytes=0-1023"})
	must(t, "staff page", chromedp.Do(ctx, chromedp.Navigate(base+"/releases/"+relID+"/shares"), chromedp.WaitVisible(chromedp.CSS("section.card"))))
	if txt := evalT[string](t, ctx, `document.body.innerText`); !strings.Contains(txt, "Jordan Press (newsroom)") || !strings.Contains(txt, "partial") ||
		!strings.Contains(txt, "passcode_failed") || !strings.Contains(txt, "Revoked\nby user:records") || !strings.Contains(txt, "sent to the wrong address") {
		t.Fatalf("staff page: %s", txt)
	}
	// Staff pages keep the app's navigation (Requests current).
	if cur := evalT[string](t, ctx, `(document.querySelector('nav[aria-label=Main] a[aria-current=page]') || {innerText: ''}).innerText`); cur != "Requests" {
		t.Fatalf("staff page navigation: current %q", cur)
	}
	shot(t, ctx, dir, "33-share-staff")
}

func writeFile(t *testing.T, path string, data []byte) {
	t.Helper()
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
}
