package server

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/google/uuid"
	"github.com/opendems/opendems/evidence"
	"github.com/pquerna/otp"
	"github.com/pquerna/otp/totp"
)

// mfaLogin logs a demo user whose role requires a second factor in and
// enrols it, as a first login does.
func mfaLogin(t *testing.T, ctx context.Context, e *reviewEnv, user string) {
	t.Helper()
	login(t, ctx, e.srv.URL, user, e.password(user))
	must(t, "mfa enrol page", chromedp.Do(ctx, chromedp.WaitVisible(chromedp.CSS("#totp-secret"))))
	secret := evalT[string](t, ctx, `document.getElementById('totp-secret').innerText`)
	code, err := totp.GenerateCodeCustom(secret, time.Now(), totp.ValidateOpts{Period: 30, Digits: otp.DigitsSix, Algorithm: otp.AlgorithmSHA1})
	must(t, "totp", err)
	must(t, "mfa confirm", chromedp.Do(ctx,
		chromedp.SendKeys(chromedp.CSS("#code"), code),
		chromedp.Click(chromedp.CSS("form[action='/mfa'] button[type=submit]")),
	))
	waitJS(t, ctx, "recovery codes", `document.readyState === 'complete' && document.querySelectorAll('ol.recovery li').length > 0`, 30*time.Second)
}

// TestRetentionAndHoldsInBrowser drives the administrator through the
// retention page (the schedule in force, an upcoming purge, cancelling
// it) and the legal holds page (placing a hold on an item by id, seeing it
// with a case hold, releasing both), checking the database after each
// step. Both pages are photographed, the holds page at tablet width too.
func TestRetentionAndHoldsInBrowser(t *testing.T) {
	e := newReviewEnv(t)
	bg := context.Background()
	svc, err := newRetention(e.app)
	must(t, "retention service", err)

	// An old recording whose retention has run out, scheduled for purge.
	old := insertItem(t, e.app, "north", "N1001")
	_, err = e.app.Pool.Exec(bg, `UPDATE evidence_items SET recorded_at = now() - interval '3 years', title = 'Traffic stop, Elm St' WHERE id = $1`, old)
	must(t, "age item", err)
	_, err = svc.Recompute(bg, old, "user:admin")
	must(t, "recompute", err)
	// The running workers' sweep may schedule it first; either way one
	// purge is scheduled, and the page must say by whom.
	if _, err = svc.SchedulePurge(bg, old, "user:admin", "retention period over"); err != nil && !errors.Is(err, evidence.ErrConflict) {
		t.Fatalf("schedule purge: %v", err)
	}
	var scheduledBy string
	must(t, "scheduled by", e.app.Pool.QueryRow(bg, `SELECT scheduled_by FROM purge_schedule WHERE evidence_id = $1 AND state = 'scheduled'`, old).Scan(&scheduledBy))
	// A case on hold, to be listed and released from the page.
	var caseID uuid.UUID
	caseNumber := "2026-N-0417"
	must(t, "case", e.app.Pool.QueryRow(bg, `INSERT INTO cases (number, title, unit_id) VALUES ($1, 'Burglary, Oak Ave', (SELECT id FROM units WHERE slug = 'north')) RETURNING id`,
		caseNumber).Scan(&caseID))
	_, err = e.app.Pool.Exec(bg, `INSERT INTO case_items (case_id, evidence_id) VALUES ($1, $2)`, caseID, e.items[0])
	must(t, "case item", err)
	admin, err := e.app.Identity.UserByName(bg, "admin")
	must(t, "admin user", err)
	_, err = svc.SetCaseHold(bg, caseID, "Subpoena 26-114", admin.Principal("test"))
	must(t, "case hold", err)

	ctx := browser(t)
	dir := screenshotDir(t)
	base := e.srv.URL
	mfaLogin(t, ctx, e, "admin")

	// Retention: the admin navigation leads there; the schedule and the purge.
	must(t, "retention page", chromedp.Do(ctx,
		chromedp.Navigate(base+"/admin/users"),
		chromedp.WaitVisible(chromedp.CSS("nav.subnav a[href='/admin/retention']")),
		chromedp.Click(chromedp.CSS("nav.subnav a[href='/admin/retention']")),
		chromedp.WaitVisible(chromedp.CSS("#purges")),
	))
	cats := evalT[string](t, ctx, `document.querySelector('#sched-h').closest('section').innerText`)
	for _, want := range []string{"uncategorized", "180d", "configs/policy/retention.yaml", "7 days"} {
		if !strings.Contains(cats, want) {
			t.Errorf("schedule section lacks %q:\n%s", want, cats)
		}
	}
	row := evalT[string](t, ctx, fmt.Sprintf(`(document.querySelector('#purges a[href="/evidence/%s"]') || {closest: () => ({innerText: ''})}).closest('tr').innerText`, old))
	if !strings.Contains(row, scheduledBy) || !strings.Contains(row, "north") {
		t.Fatalf("purge row of %s: %q", old, row)
	}
	if cur := evalT[string](t, ctx, `document.querySelector('nav.subnav a[aria-current=page]').innerText`); cur != "Retention" {
		t.Errorf("current admin section %q", cur)
	}
	shot(t, ctx, dir, "16-admin-retention")
	must(t, "tablet", chromedp.Do(ctx, chromedp.EmulateViewport(820, 1180)))
	if w := evalT[int](t, ctx, `document.documentElement.scrollWidth`); w > 820 {
		t.Errorf("retention page at tablet width scrolls sideways: %dpx", w)
	}
	shot(t, ctx, dir, "19-admin-retention-tablet")
	must(t, "desktop", chromedp.Do(ctx, chromedp.EmulateViewport(1366, 900)))
	must(t, "cancel purge", chromedp.Do(ctx,
		chromedp.SendKeys(chromedp.CSS("#cr-"+old.String()), "Complaint pending review"),
		chromedp.Click(chromedp.CSS(fmt.Sprintf(`form[action="/admin/retention/purges/%s/cancel"] button`, old))),
	))
	waitJS(t, ctx, "purge cancelled", `document.readyState === 'complete' && document.querySelector('p.flash') && document.querySelector('p.flash').innerText.includes('cancelled')`, 30*time.Second)
	var state, closeReason string
	must(t, "purge state", e.app.Pool.QueryRow(bg, `SELECT state, close_reason FROM purge_schedule WHERE evidence_id = $1`, old).Scan(&state, &closeReason))
	if state != "cancelled" || closeReason != "Complaint pending review" {
		t.Fatalf("purge after cancel: %s %q", state, closeReason)
	}
	if n := evalT[int](t, ctx, fmt.Sprintf(`document.querySelectorAll('#purges a[href="/evidence/%s"]').length`, old)); n != 0 {
		t.Fatal("cancelled purge still listed")
	}

	// Holds: a malformed id is refused on the page, a real one is held.
	must(t, "holds page", chromedp.Do(ctx,
		chromedp.Click(chromedp.CSS("nav.subnav a[href='/admin/holds']")),
		chromedp.WaitVisible(chromedp.CSS("#hold-item")),
		chromedp.SendKeys(chromedp.CSS("#hold-item"), "not-an-id"),
		chromedp.SendKeys(chromedp.CSS("#hold-why"), "Litigation 2026-17"),
		chromedp.Click(chromedp.CSS("#place-hold button[type=submit]")),
		chromedp.WaitVisible(chromedp.CSS("p.error")),
	))
	if msg := evalT[string](t, ctx, `document.querySelector('p.error').innerText`); !strings.Contains(msg, "UUID") {
		t.Errorf("malformed id: %q", msg)
	}
	must(t, "place hold", chromedp.Do(ctx,
		chromedp.SetValue(chromedp.CSS("#hold-item"), old.String()),
		chromedp.Click(chromedp.CSS("#place-hold button[type=submit]")),
	))
	waitJS(t, ctx, "hold placed", `document.readyState === 'complete' && document.querySelector('p.flash') && document.querySelector('p.flash').innerText.includes('placed')`, 30*time.Second)
	it, err := e.app.Evidence.Get(bg, old)
	must(t, "get", err)
	if !it.LegalHold {
		t.Fatal("hold placed on the page did not hold the item")
	}
	row = evalT[string](t, ctx, `document.querySelector('#item-holds tbody tr').innerText`)
	if !strings.Contains(row, "Traffic stop, Elm St") || !strings.Contains(row, "Litigation 2026-17") || !strings.Contains(row, "admin") {
		t.Fatalf("item hold row: %q", row)
	}
	crow := evalT[string](t, ctx, `document.querySelector('#case-holds tbody tr').innerText`)
	if !strings.Contains(crow, caseNumber) || !strings.Contains(crow, "Subpoena 26-114") {
		t.Fatalf("case hold row: %q", crow)
	}
	shot(t, ctx, dir, "17-admin-holds")
	must(t, "tablet", chromedp.Do(ctx, chromedp.EmulateViewport(820, 1180)))
	if w := evalT[int](t, ctx, `document.documentElement.scrollWidth`); w > 820 {
		t.Errorf("holds page at tablet width scrolls sideways: %dpx", w)
	}
	shot(t, ctx, dir, "18-admin-holds-tablet")
	must(t, "desktop", chromedp.Do(ctx, chromedp.EmulateViewport(1366, 900)))

	// Release both: the item's own hold, then the case's.
	must(t, "release item hold", chromedp.Do(ctx, chromedp.Click(chromedp.CSS(fmt.Sprintf(`form[action="/admin/holds/evidence/%s/release"] button`, old)))))
	waitJS(t, ctx, "item hold released", `document.readyState === 'complete' && document.querySelector('p.flash') && document.querySelector('p.flash').innerText.includes('Traffic stop') && document.querySelector('p.flash').innerText.includes('released')`, 30*time.Second)
	if it, _ = e.app.Evidence.Get(bg, old); it.LegalHold {
		t.Fatal("item still held after its only hold was released")
	}
	if n := evalT[int](t, ctx, fmt.Sprintf(`document.querySelectorAll('#item-holds a[href="/evidence/%s"]').length`, old)); n != 0 {
		t.Fatal("released item hold still listed")
	}
	must(t, "release case hold", chromedp.Do(ctx, chromedp.Click(chromedp.CSS(fmt.Sprintf(`form[action="/admin/holds/cases/%s/release"] button`, caseID)))))
	waitJS(t, ctx, "case hold released", `document.readyState === 'complete' && document.querySelector('p.flash') && document.querySelector('p.flash').innerText.includes('case')`, 30*time.Second)
	var held bool
	must(t, "case", e.app.Pool.QueryRow(bg, `SELECT legal_hold FROM cases WHERE id = $1`, caseID).Scan(&held))
	if held {
		t.Fatal("case still held after release from the page")
	}
	if n := evalT[int](t, ctx, `document.querySelectorAll('#case-holds form').length`); n != 0 {
		t.Fatal("released case hold still listed")
	}

	// Records staff hold items too: their admin menu leads to the holds
	// page, and the retention page is not theirs.
	must(t, "logout", chromedp.Do(ctx, chromedp.Click(chromedp.CSS("form[action='/logout'] button")), chromedp.WaitVisible(chromedp.CSS("#username"))))
	mfaLogin(t, ctx, e, "records")
	must(t, "records holds", chromedp.Do(ctx,
		chromedp.Navigate(base+"/"),
		chromedp.WaitVisible(chromedp.CSS("nav[aria-label=Main] a[href='/admin/holds']")),
		chromedp.Click(chromedp.CSS("nav[aria-label=Main] a[href='/admin/holds']")),
		chromedp.WaitVisible(chromedp.CSS("#hold-item")),
	))
	if n := evalT[int](t, ctx, `document.querySelectorAll("nav.subnav a[href='/admin/retention']").length`); n != 0 {
		t.Error("records staff are offered the retention page")
	}
	resp, err := chromedp.Run(ctx, chromedp.NavigateResponse(base+"/admin/retention"))
	must(t, "records retention", err)
	if resp.Status != http.StatusForbidden {
		t.Fatalf("records opening the retention page: %d, want 403", resp.Status)
	}
}

// TestRetentionAndHoldsPagesRefuse checks the pages' access for roles the
// policy does not let manage retention or holds (through real sessions,
// which the every-route table cannot use), and that a hold form without
// the session's CSRF token changes nothing.
func TestRetentionAndHoldsPagesRefuse(t *testing.T) {
	e := newReviewEnv(t)
	base := e.srv.URL
	item := e.items[0].String()
	for _, user := range []string{"officer.north", "sgt.north", "auditor"} {
		cl := webClient()
		csrf := webLogin(t, e, cl, user)
		cases := []struct {
			method, path string
			form         url.Values
		}{
			{"GET", "/admin/retention", nil},
			{"GET", "/admin/holds", nil},
			{"POST", "/admin/holds", url.Values{"csrf_token": {csrf}, "evidence_id": {item}, "reason": {"x"}}},
			{"POST", "/admin/holds/evidence/" + item + "/release", url.Values{"csrf_token": {csrf}, "hold_id": {uuid.NewString()}}},
			{"POST", "/admin/holds/cases/" + uuid.NewString() + "/release", url.Values{"csrf_token": {csrf}}},
			{"POST", "/admin/retention/purges/" + item + "/cancel", url.Values{"csrf_token": {csrf}}},
		}
		for _, c := range cases {
			var st int
			var body string
			if c.method == "GET" {
				st, _, body = get(t, cl, base+c.path)
			} else {
				st, _, body = postForm(t, cl, base+c.path, c.form)
			}
			if strings.HasPrefix(c.path, "/admin/holds/cases/") {
				// No such case: answered like one the user may not see.
				if st != http.StatusNotFound {
					t.Errorf("%s %s %s: %d, want 404", user, c.method, c.path, st)
				}
				continue
			}
			if st != http.StatusForbidden || !strings.Contains(body, "not permitted") {
				t.Errorf("%s %s %s: %d, want 403 Not permitted", user, c.method, c.path, st)
			}
		}
		// The admin navigation does not offer what the role cannot open.
		if _, _, body := get(t, cl, base+"/"); strings.Contains(body, `href="/admin/holds"`) || strings.Contains(body, `href="/admin/retention"`) {
			t.Errorf("%s is offered the retention or holds pages", user)
		}
	}
	cl := webClient()
	webLogin(t, e, cl, "sgt.north")
	if st, _, _ := postForm(t, cl, base+"/admin/holds", url.Values{"evidence_id": {item}, "reason": {"x"}}); st != http.StatusForbidden {
		t.Errorf("hold without csrf token: %d", st)
	}
	var holds int
	must(t, "count", e.app.Pool.QueryRow(context.Background(), `SELECT count(*) FROM legal_holds`).Scan(&holds))
	if holds != 0 {
		t.Fatalf("refused requests left %d holds", holds)
	}
}
