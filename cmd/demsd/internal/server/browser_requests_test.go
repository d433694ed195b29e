package server

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/opendems/opendems/evidence/request"
)

// TestRequestsInBrowser: a member of the public files a request on the
// public page and checks its status with the code shown once; a records
// officer finds it on the dashboard, assigns it, starts the search and
// links a clip from the request page; the timeline shows each step.
// Every page is photographed (docs/screenshots/requests-*.png).
func TestRequestsInBrowser(t *testing.T) {
	e := newReviewEnv(t)
	ctx := browser(t)
	dir := screenshotDir(t)
	base := e.srv.URL

	// The public, without an account.
	must(t, "public intake", chromedp.Do(ctx,
		chromedp.Navigate(base+"/public/requests"),
		chromedp.WaitVisible(chromedp.CSS("#public-intake")),
		chromedp.SendKeys(chromedp.CSS("#requester_name"), "Pat Q. Public"),
		chromedp.SendKeys(chromedp.CSS("#contact"), "pat@example.org"),
		chromedp.SendKeys(chromedp.CSS("#description"), "Body camera video of the traffic stop on Elm St on 1 December, about 14:00."),
		chromedp.SendKeys(chromedp.CSS("#place"), "Elm St and 3rd Ave"),
	))
	shot(t, ctx, dir, "requests-01-public-intake")
	must(t, "send", chromedp.Do(ctx,
		chromedp.Click(chromedp.CSS("#public-intake button[type=submit]")),
		chromedp.WaitVisible(chromedp.CSS("#status-code")),
	))
	number := strings.TrimSpace(evalT[string](t, ctx, `document.getElementById('tracking-number').innerText`))
	code := strings.TrimSpace(evalT[string](t, ctx, `document.getElementById('status-code').innerText`))
	if !request.ValidTrackingNumber(number) || request.NormalizeStatusCode(code) != code {
		t.Fatalf("receipt %q %q", number, code)
	}
	shot(t, ctx, dir, "requests-02-public-receipt")
	must(t, "status", chromedp.Do(ctx,
		chromedp.Navigate(base+"/public/requests/status"),
		chromedp.WaitVisible(chromedp.CSS("#tracking_number")),
		chromedp.SendKeys(chromedp.CSS("#tracking_number"), number),
		chromedp.SendKeys(chromedp.CSS("#status_code"), strings.ToLower(code)),
		chromedp.Click(chromedp.CSS("form button[type=submit]")),
		chromedp.WaitVisible(chromedp.CSS("#status")),
	))
	if st := evalT[string](t, ctx, `document.getElementById('state').innerText`); st != "received" {
		t.Fatalf("public status shows %q", st)
	}
	shot(t, ctx, dir, "requests-03-public-status")

	// The records officer.
	mfaLogin(t, ctx, e, "records")
	must(t, "dashboard", chromedp.Do(ctx,
		chromedp.Navigate(base+"/requests"),
		chromedp.WaitVisible(chromedp.CSS("#requests")),
	))
	if !evalT[bool](t, ctx, `document.getElementById('requests').innerText.includes(`+jsString(number)+`)`) {
		t.Fatal("the public request is not on the dashboard")
	}
	shot(t, ctx, dir, "requests-04-dashboard")
	evalT[bool](t, ctx, `(() => { [...document.querySelectorAll('#requests a')].find(a => a.innerText === `+jsString(number)+`).click(); return true; })()`)
	must(t, "open request", chromedp.Do(ctx, chromedp.WaitVisible(chromedp.CSS("#transition-form"))))
	move := func(state string, fill ...chromedp.Action[chromedp.Void]) {
		t.Helper()
		acts := []chromedp.Action[chromedp.Void]{chromedp.SetValue(chromedp.CSS("#to"), state)}
		acts = append(acts, fill...)
		acts = append(acts, chromedp.Click(chromedp.CSS("#transition-form button[type=submit]")))
		must(t, "move to "+state, chromedp.Do(ctx, acts...))
		waitJS(t, ctx, "state "+state, `document.getElementById('state').innerText === `+jsString(state), 20*time.Second)
	}
	move("assigned", chromedp.SendKeys(chromedp.CSS("#assignee"), "records"))
	move("searching")
	must(t, "link clip", chromedp.Do(ctx,
		chromedp.SendKeys(chromedp.CSS("#evidence_id"), e.items[0].String()),
		chromedp.SetValue(chromedp.CSS("#in"), "1"),
		chromedp.SetValue(chromedp.CSS("#out"), "4.5"),
		chromedp.Click(chromedp.CSS("#clip-form button[type=submit]")),
	))
	waitJS(t, ctx, "clip listed", `document.querySelectorAll('#clips tbody a[href^="/requests/"]').length === 1`, 20*time.Second)
	tl := evalT[string](t, ctx, `document.getElementById('timeline').innerText`)
	for _, want := range []string{"created", "transition", "clip_linked"} {
		if !strings.Contains(tl, want) {
			t.Fatalf("timeline lacks %s:\n%s", want, tl)
		}
	}
	// A detect job on the clip: the page shows its state as it runs and
	// when it is done.
	editHref := evalT[string](t, ctx, `document.querySelector('#clips tbody a[href^="/requests/"]').getAttribute('href')`)
	clipHref := strings.TrimSuffix(editHref, "/edit")
	records := newCaller(t, base, credUser(e.creds, "records", "").APIToken)
	if st, m := records.do("POST", "/api/v1"+clipHref+"/jobs", `{"kind":"detect"}`); st != 202 {
		t.Fatalf("detect: %d %v", st, m)
	}
	deadline := time.Now().Add(2 * time.Minute)
	for !evalT[bool](t, ctx, `document.getElementById('clips').innerText.includes('detect: completed')`) {
		if time.Now().After(deadline) {
			t.Fatalf("job never shown completed: %s", evalT[string](t, ctx, `document.getElementById('clips').innerText`))
		}
		time.Sleep(300 * time.Millisecond)
		must(t, "reload", chromedp.Do(ctx, chromedp.Reload(), chromedp.WaitVisible(chromedp.CSS("#clips"))))
	}
	shot(t, ctx, dir, "requests-05-request-page")
	// Its throughput is on /metrics: the clip's range (1 to 4.5 s of the
	// demo recording) decoded once.
	fams := scrape(t, base)
	media, _ := metricValue(fams, "opendems_redaction_media_seconds_total", map[string]string{"job": "detect"})
	frames, _ := metricValue(fams, "opendems_redaction_frames_total", map[string]string{"job": "detect"})
	busy, _ := metricValue(fams, "opendems_redaction_processing_seconds_total", map[string]string{"job": "detect"})
	if media < 3.49 || media > 3.51 || frames < 14*media || frames > 26*media || busy <= 0 {
		t.Errorf("detect metrics: %v s of media, %v frames, %v s busy", media, frames, busy)
	}

	// The clip opens in the redaction editor, which reads the clip view.
	must(t, "editor", chromedp.Do(ctx, chromedp.Navigate(base+editHref)))
	waitJS(t, ctx, "editor loaded the clip", `document.getElementById('editor').dataset.version === '0'`, 30*time.Second)
	must(t, "back", chromedp.Do(ctx, chromedp.Navigate(base+strings.Split(editHref, "/clips/")[0]), chromedp.WaitVisible(chromedp.CSS("#clips"))))
	// The request page leads to the review and release page (a real click).
	must(t, "review link", chromedp.Do(ctx, chromedp.Click(chromedp.CSS("#review-link"))))
	waitJS(t, ctx, "review page", `location.pathname.endsWith('/review') && !!document.querySelector('h1') && document.querySelector('h1').textContent.includes('Review and release')`, 30*time.Second)
	must(t, "back again", chromedp.Do(ctx, chromedp.Navigate(base+strings.Split(editHref, "/clips/")[0]), chromedp.WaitVisible(chromedp.CSS("#clips"))))

	// An out-of-order step is refused with the allowed states named.
	var id string
	must(t, "request id", e.app.Pool.QueryRow(context.Background(), `SELECT id FROM access_requests WHERE tracking_number = $1`, number).Scan(&id))
	st, m := records.do("POST", "/api/v1/requests/"+id+"/transition", `{"state":"released"}`)
	if st != 409 || !strings.Contains(m["error"].(map[string]any)["message"].(string), "allowed: redacting") {
		t.Fatalf("out of order: %d %v", st, m)
	}
}

func jsString(s string) string {
	return "'" + strings.NewReplacer(`\`, `\\`, `'`, `\'`).Replace(s) + "'"
}
