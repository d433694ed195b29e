package server

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/pquerna/otp"
	"github.com/pquerna/otp/totp"

	"github.com/opendems/opendems/evidence/ingest/wire"
)

const chromiumPath = "/usr/bin/chromium"

// browser starts a headless chromium with a fresh profile; it skips (or
// fails, when services are required) without one.
func browser(t *testing.T) context.Context {
	t.Helper()
	if _, err := os.Stat(chromiumPath); err != nil {
		if os.Getenv("OPENDEMS_TEST_REQUIRE_SERVICES") == "1" {
			t.Fatalf("chromium not found at %s", chromiumPath)
		}
		t.Skip("chromium not installed")
	}
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(chromiumPath),
		chromedp.Headless, chromedp.NoSandbox, chromedp.DisableGPU, chromedp.NoFirstRun, chromedp.NoDefaultBrowserCheck,
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("autoplay-policy", "no-user-gesture-required"),
		chromedp.Flag("mute-audio", true),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(1366, 900),
	}
	actx, cancelA := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancelB := chromedp.NewContext(actx)
	t.Cleanup(func() { cancelB(); cancelA() })
	// A generous bound for the whole browser session so a hang fails the
	// test instead of the package timeout.
	ctx, cancelC := context.WithTimeout(ctx, 5*time.Minute)
	t.Cleanup(cancelC)
	return ctx
}

// screenshotDir is where page screenshots go: OPENDEMS_TEST_SCREENSHOT_DIR
// (docs/screenshots when refreshing the documentation), else a temp dir
// kept as a test artifact.
func screenshotDir(t *testing.T) string {
	dir := os.Getenv("OPENDEMS_TEST_SCREENSHOT_DIR")
	if dir == "" {
		dir = filepath.Join(os.TempDir(), "opendems-screenshots")
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	t.Logf("screenshots in %s", dir)
	return dir
}

func shot(t *testing.T, ctx context.Context, dir, name string) {
	t.Helper()
	png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	if err != nil {
		t.Fatalf("screenshot %s: %v", name, err)
	}
	if err := os.WriteFile(filepath.Join(dir, name+".png"), png, 0o644); err != nil {
		t.Fatal(err)
	}
}

func must(t *testing.T, what string, err error) {
	t.Helper()
	if err != nil {
		t.Fatalf("%s: %v", what, err)
	}
}

func login(t *testing.T, ctx context.Context, base, user, password string) {
	t.Helper()
	must(t, "login "+user, chromedp.Do(ctx,
		chromedp.Navigate(base+"/login"),
		chromedp.WaitVisible(chromedp.CSS("#username")),
		chromedp.SendKeys(chromedp.CSS("#username"), user),
		chromedp.SendKeys(chromedp.CSS("#password"), password),
		chromedp.Click(chromedp.CSS("form button[type=submit]")),
		chromedp.WaitVisible(chromedp.CSS("nav[aria-label=Main]")),
	))
}

// waitJS evaluates expr until it is true, tolerating the page reloading
// in between (the review page reloads itself after a change).
func waitJS(t *testing.T, ctx context.Context, what, expr string, limit time.Duration) {
	t.Helper()
	deadline := time.Now().Add(limit)
	var last error
	for time.Now().Before(deadline) {
		ok, err := chromedp.Run(ctx, chromedp.Evaluate[bool](`(() => { try { return !!(`+expr+`); } catch (e) { return false; } })()`))
		if err == nil && ok {
			return
		}
		last = err
		time.Sleep(100 * time.Millisecond)
	}
	page, _ := chromedp.Run(ctx, chromedp.Evaluate[string](`location.href + "\n" + document.body.innerText`))
	t.Fatalf("%s: %s never became true (last error %v); page:\n%s", what, expr, last, page)
}

func evalT[T any](t *testing.T, ctx context.Context, js string) T {
	t.Helper()
	v, err := chromedp.Run(ctx, chromedp.Evaluate[T](js, chromedp.EvalAwaitPromise))
	if err != nil {
		t.Fatalf("eval %s: %v", js, err)
	}
	return v
}

// TestReviewInBrowser drives chromium through a supervisor's review: log
// in, search, open an item, play it, seek with the player and with the
// thumbnail timeline, add a marker and find it in the custody timeline;
// then an officer of another unit can neither find nor open the item.
// Every page is photographed.
func TestReviewInBrowser(t *testing.T) {
	e := newReviewEnv(t)
	ctx := browser(t)
	dir := screenshotDir(t)
	base := e.srv.URL
	item := e.items[1] // officer.north's "Disturbance call, North Park"

	// The login page, then a wrong password.
	must(t, "login page", chromedp.Do(ctx, chromedp.Navigate(base+"/evidence"), chromedp.WaitVisible(chromedp.CSS("#username"))))
	if loc, _ := chromedp.Run(ctx, chromedp.Location()); !strings.Contains(loc, "/login?next=%2Fevidence") {
		t.Fatalf("anonymous visit went to %s, want the login page", loc)
	}
	shot(t, ctx, dir, "01-login")
	must(t, "wrong password", chromedp.Do(ctx,
		chromedp.SendKeys(chromedp.CSS("#username"), "sgt.north"),
		chromedp.SendKeys(chromedp.CSS("#password"), "not the password"),
		chromedp.Click(chromedp.CSS("form button[type=submit]")),
		chromedp.WaitVisible(chromedp.CSS("p.error")),
	))

	login(t, ctx, base, "sgt.north", e.password("sgt.north"))
	if txt := evalT[string](t, ctx, `document.querySelector('main').innerText`); !strings.Contains(txt, "New footage in hq.north") || !strings.Contains(txt, "Disturbance call, North Park") {
		t.Fatalf("dashboard: %s", txt)
	}

	// Search by text and officer; the result links to the item.
	must(t, "search", chromedp.Do(ctx,
		chromedp.Navigate(base+"/evidence"),
		chromedp.WaitVisible(chromedp.CSS("#q")),
		chromedp.SendKeys(chromedp.CSS("#q"), "north park"),
		chromedp.SendKeys(chromedp.CSS("#officer_id"), "N1001"),
		chromedp.Click(chromedp.CSS("form.search button[type=submit]")),
	))
	waitJS(t, ctx, "search submitted", `location.search.includes('officer_id=N1001') && document.readyState === 'complete' && document.getElementById('results')`, 30*time.Second)
	links := evalT[[]string](t, ctx, `Array.from(document.querySelectorAll('a.item-link')).map(a => a.getAttribute('href'))`)
	if len(links) != 1 || links[0] != "/evidence/"+item.String() {
		t.Fatalf("search results %v, want only %s", links, item)
	}
	// An unfiltered search of the unit, sorted by officer, for the picture.
	must(t, "search all", chromedp.Do(ctx, chromedp.Navigate(base+"/evidence?sort=officer_id&order=asc"), chromedp.WaitVisible(chromedp.CSS("#results"))))
	var northItems int
	must(t, "count north items", e.app.Pool.QueryRow(context.Background(), `SELECT count(*) FROM evidence_items i JOIN units u ON u.id = i.unit_id WHERE u.slug = 'north'`).Scan(&northItems))
	if n := evalT[int](t, ctx, `document.querySelectorAll('a.item-link').length`); n != northItems || n < 3 {
		t.Fatalf("sgt.north sees %d items, want the %d of hq.north", n, northItems)
	}
	shot(t, ctx, dir, "03-search")

	// Open the item from the results.
	must(t, "open item", chromedp.Do(ctx,
		chromedp.Navigate(base+"/evidence?q=north+park"),
		chromedp.WaitVisible(chromedp.CSS("a.item-link")),
		chromedp.Click(chromedp.CSS("a.item-link")),
		chromedp.WaitVisible(chromedp.CSS("#player")),
		chromedp.WaitVisible(chromedp.CSS("#timeline .tile")),
	))
	before := custodyActions(t, e, item)
	if count(before, "viewed") != 0 {
		t.Fatalf("opening the page (before play) recorded a view: %v", before)
	}

	// Play: the element becomes playable and time advances.
	evalT[bool](t, ctx, `document.getElementById('player').play().then(() => true)`)
	_, err := chromedp.Run(ctx, chromedp.Poll[bool](`(() => { const v = document.getElementById('player'); return v.readyState >= 3 && v.currentTime > 0.5; })()`,
		chromedp.WithPollingTimeout(60*time.Second)))
	if err != nil {
		st := evalT[string](t, ctx, `(() => { const v = document.getElementById('player'); return 'readyState=' + v.readyState + ' t=' + v.currentTime + ' err=' + (v.error ? v.error.code + ' ' + v.error.message : 'none'); })()`)
		t.Fatalf("playback did not start: %v (%s)", err, st)
	}
	// Seek with the player.
	evalT[bool](t, ctx, `(() => { const v = document.getElementById('player'); v.pause(); v.currentTime = 6; return true; })()`)
	if _, err := chromedp.Run(ctx, chromedp.Poll[bool](`(() => { const v = document.getElementById('player'); return !v.seeking && v.readyState >= 2 && Math.abs(v.currentTime - 6) < 0.1; })()`,
		chromedp.WithPollingTimeout(30*time.Second))); err != nil {
		t.Fatalf("seek: %v", err)
	}
	// Seek with the thumbnail timeline: the third tile's time.
	tileTime := evalT[float64](t, ctx, `JSON.parse(document.getElementById('timeline').dataset.sprite).sprite.tiles[2].time`)
	must(t, "click tile", chromedp.Do(ctx, chromedp.Click(chromedp.CSS("#timeline .tile:nth-of-type(3)"))))
	if _, err := chromedp.Run(ctx, chromedp.Poll[bool](fmt.Sprintf(`(() => { const v = document.getElementById('player'); return !v.seeking && Math.abs(v.currentTime - %f) < 0.1; })()`, tileTime),
		chromedp.WithPollingTimeout(30*time.Second))); err != nil {
		t.Fatalf("timeline seek to %.2f: %v", tileTime, err)
	}
	if n := count(custodyActions(t, e, item), "viewed"); n != 1 {
		t.Fatalf("after playing and seeking: %d viewed events, want exactly 1", n)
	}

	// Add a marker at the current time (the form follows the player).
	evalT[bool](t, ctx, `(() => { const v = document.getElementById('player'); v.currentTime = 4.5; return true; })()`)
	if _, err := chromedp.Run(ctx, chromedp.Poll[bool](`document.getElementById('marker-at').value === '4.5'`, chromedp.WithPollingTimeout(30*time.Second))); err != nil {
		t.Fatalf("marker time does not follow the player: %v", err)
	}
	must(t, "add marker", chromedp.Do(ctx,
		chromedp.SendKeys(chromedp.CSS("#marker-note"), "Subject raises arm"),
		chromedp.Click(chromedp.CSS("#marker-form button[type=submit]")),
	))
	waitJS(t, ctx, "marker listed", `document.readyState === 'complete' && document.querySelector('#markers .note').textContent === 'Subject raises arm'`, 30*time.Second)
	custodyText := evalT[string](t, ctx, `document.getElementById('custody').innerText`)
	for _, want := range []string{"ingested", "viewed", "marker_added", "Subject raises arm", "at_seconds: 4.5", "user:sgt.north"} {
		if !strings.Contains(custodyText, want) {
			t.Errorf("custody timeline lacks %q:\n%s", want, custodyText)
		}
	}
	// Flag it for attention: the dashboard lists it.
	must(t, "flag", chromedp.Do(ctx, chromedp.Click(chromedp.CSS("#flag-button"))))
	waitJS(t, ctx, "flagged", `document.readyState === 'complete' && document.getElementById('flag-button').dataset.flagged === 'true'`, 30*time.Second)
	must(t, "dashboard", chromedp.Do(ctx, chromedp.Navigate(base+"/"), chromedp.WaitVisible(chromedp.CSS("#flag-h"))))
	if txt := evalT[string](t, ctx, `document.getElementById('flag-h').parentElement.innerText`); !strings.Contains(txt, "Disturbance call, North Park") {
		t.Fatalf("dashboard's flagged list: %s", txt)
	}
	shot(t, ctx, dir, "02-dashboard")
	must(t, "back to item", chromedp.Do(ctx, chromedp.Navigate(base+"/evidence/"+item.String()), chromedp.WaitVisible(chromedp.CSS("#timeline .tile"))))
	must(t, "seek for picture", chromedp.Do(ctx, chromedp.Click(chromedp.CSS("#markers button.seek"))))
	chromedp.Run(ctx, chromedp.Poll[bool](`(() => { const v = document.getElementById('player'); return !v.seeking && v.readyState >= 2; })()`, chromedp.WithPollingTimeout(30*time.Second)))
	shot(t, ctx, dir, "04-evidence")
	must(t, "tablet", chromedp.Do(ctx, chromedp.EmulateViewport(820, 1180)))
	shot(t, ctx, dir, "05-evidence-tablet")
	must(t, "laptop", chromedp.Do(ctx, chromedp.EmulateViewport(1366, 900)))

	// Cases: create one in the UI and add the item from its page.
	must(t, "create case", chromedp.Do(ctx,
		chromedp.Navigate(base+"/cases"),
		chromedp.WaitVisible(chromedp.CSS("#number")),
		chromedp.SendKeys(chromedp.CSS("#number"), "2026-000417"),
		chromedp.SendKeys(chromedp.CSS("#ctitle"), "North Park disturbance"),
		chromedp.Click(chromedp.CSS("form.row-form button[type=submit]")),
		chromedp.WaitVisible(chromedp.CSS("#case")),
		chromedp.Navigate(base+"/evidence/"+item.String()),
		chromedp.WaitVisible(chromedp.CSS("#case-select")),
		chromedp.Click(chromedp.CSS("#case-form button[type=submit]")),
		chromedp.WaitVisible(chromedp.CSS("#item-cases button.remove-case")),
		chromedp.Navigate(base+"/cases"),
		chromedp.WaitVisible(chromedp.CSS("table.items")),
	))
	shot(t, ctx, dir, "06-cases")
	must(t, "case page", chromedp.Do(ctx, chromedp.Click(chromedp.CSS("table.items a")), chromedp.WaitVisible(chromedp.CSS("#case"))))
	if txt := evalT[string](t, ctx, `document.querySelector('main').innerText`); !strings.Contains(txt, "Disturbance call, North Park") {
		t.Fatalf("case page lacks the item: %s", txt)
	}
	shot(t, ctx, dir, "07-case")

	// A failed proxy, as a reviewer sees it.
	u, err := e.app.Identity.UserByName(context.Background(), "officer.north")
	must(t, "user", err)
	junk := filepath.Join(e.dir, "truncated.mp4")
	must(t, "write", os.WriteFile(junk, []byte("\x00\x00\x00\x18ftypmp42\x00\x00\x00\x00 truncated at the camera"), 0o600))
	at := time.Now().UTC().Truncate(time.Second)
	bad, err := IngestFile(context.Background(), e.app, u.Principal("test"), junk, "BWC-N-01_truncated.mp4", wire.Metadata{OfficerID: u.Badge, DeviceID: "BWC-N-01", RecordedAt: &at})
	must(t, "ingest corrupt", err)
	e.waitProxy(t, bad, "failed")
	must(t, "failed item", chromedp.Do(ctx, chromedp.Navigate(base+"/evidence/"+bad.String()), chromedp.WaitVisible(chromedp.CSS(".noproxy"))))
	if txt := evalT[string](t, ctx, `document.querySelector('.noproxy').innerText`); !strings.Contains(txt, `No playable proxy: probe: open input "BWC-N-01_truncated.mp4": corrupt or unreadable media`) || strings.Contains(txt, "proxy: no playable") {
		t.Fatalf("failed item page: %s", txt)
	}
	shot(t, ctx, dir, "08-evidence-no-proxy")

	// Log out; the officer of the other unit cannot find or open the item.
	must(t, "logout", chromedp.Do(ctx, chromedp.Click(chromedp.CSS("form[action='/logout'] button")), chromedp.WaitVisible(chromedp.CSS("#username"))))
	login(t, ctx, base, "officer.south", e.password("officer.south"))
	must(t, "south search", chromedp.Do(ctx, chromedp.Navigate(base+"/evidence"), chromedp.WaitVisible(chromedp.CSS("#q"))))
	links = evalT[[]string](t, ctx, `Array.from(document.querySelectorAll('a.item-link')).map(a => a.getAttribute('href'))`)
	if len(links) != 1 || links[0] != "/evidence/"+e.items[3].String() {
		t.Fatalf("officer.south finds %v, want only their own recording %s", links, e.items[3])
	}
	must(t, "south search text", chromedp.Do(ctx, chromedp.Navigate(base+"/evidence?q=north+park"), chromedp.WaitVisible(chromedp.CSS("#q"))))
	if n := evalT[int](t, ctx, `document.querySelectorAll('a.item-link').length`); n != 0 {
		t.Fatalf("officer.south finds the north item by text")
	}
	resp, err := chromedp.Run(ctx, chromedp.NavigateResponse(base+"/evidence/"+item.String()))
	must(t, "south opens north item", err)
	if resp.Status != 404 {
		t.Fatalf("officer.south opening the north item: status %d, want 404", resp.Status)
	}
	if txt := evalT[string](t, ctx, `document.querySelector('h1').innerText`); txt != "Not found" {
		t.Fatalf("officer.south sees %q", txt)
	}
	if st := evalT[int](t, ctx, fmt.Sprintf(`fetch('/api/v1/evidence/%s/proxy').then(r => r.status)`, item)); st != 404 {
		t.Fatalf("officer.south fetching the north proxy: %d", st)
	}
	shot(t, ctx, dir, "09-other-unit-404")
	if n := count(custodyActions(t, e, item), "viewed"); n != 1 {
		t.Fatalf("denied attempts changed the views: %d", n)
	}

	// Admin pages.
	must(t, "logout", chromedp.Do(ctx, chromedp.Click(chromedp.CSS("form[action='/logout'] button")), chromedp.WaitVisible(chromedp.CSS("#username"))))
	login(t, ctx, base, "admin", e.password("admin"))
	// Administrators must use a second factor: the first login enrols one.
	must(t, "mfa enrol page", chromedp.Do(ctx, chromedp.WaitVisible(chromedp.CSS("#totp-secret"))))
	shot(t, ctx, dir, "10-mfa-enrol")
	secret := evalT[string](t, ctx, `document.getElementById('totp-secret').innerText`)
	code, err := totp.GenerateCodeCustom(secret, time.Now(), totp.ValidateOpts{Period: 30, Digits: otp.DigitsSix, Algorithm: otp.AlgorithmSHA1})
	must(t, "totp", err)
	must(t, "mfa confirm", chromedp.Do(ctx,
		chromedp.SendKeys(chromedp.CSS("#code"), code),
		chromedp.Click(chromedp.CSS("form[action='/mfa'] button[type=submit]")),
	))
	waitJS(t, ctx, "recovery codes", `document.readyState === 'complete' && document.querySelectorAll('ol.recovery li').length > 0`, 30*time.Second)
	must(t, "admin dashboard", chromedp.Do(ctx, chromedp.Navigate(base+"/"), chromedp.WaitVisible(chromedp.CSS("#purge-h"))))
	shot(t, ctx, dir, "16-admin-dashboard")
	must(t, "users", chromedp.Do(ctx, chromedp.Navigate(base+"/admin/users"), chromedp.WaitVisible(chromedp.CSS("table.items"))))
	shot(t, ctx, dir, "11-admin-users")
	must(t, "units", chromedp.Do(ctx, chromedp.Navigate(base+"/admin/units"), chromedp.WaitVisible(chromedp.CSS("table.items"))))
	shot(t, ctx, dir, "12-admin-units")
	must(t, "enrol dock", chromedp.Do(ctx,
		chromedp.Navigate(base+"/admin/docks"),
		chromedp.WaitVisible(chromedp.CSS("#dname")),
		chromedp.SendKeys(chromedp.CSS("#dname"), "dock-south-1"),
		chromedp.SetValue(chromedp.CSS("#dunit"), "south"),
		chromedp.SendKeys(chromedp.CSS("#dloc"), "South Patrol garage"),
		chromedp.Click(chromedp.CSS("form.row-form button[type=submit]")),
		chromedp.WaitVisible(chromedp.CSS("#dock-token")),
	))
	token := evalT[string](t, ctx, `document.getElementById('dock-token').innerText`)
	if _, err := e.app.Identity.Authenticate(context.Background(), token); err != nil {
		t.Fatalf("enrolled dock token does not authenticate: %v", err)
	}
	shot(t, ctx, dir, "13-admin-docks")
	// The case hold is the admin's: place it on the case page.
	must(t, "hold", chromedp.Do(ctx,
		chromedp.Navigate(base+"/cases"),
		chromedp.WaitVisible(chromedp.CSS("table.items a")),
		chromedp.Click(chromedp.CSS("table.items a")),
		chromedp.WaitVisible(chromedp.CSS("#hold-reason")),
		chromedp.SendKeys(chromedp.CSS("#hold-reason"), "Preservation letter from counsel"),
		chromedp.Click(chromedp.CSS("#hold-form button[type=submit]")),
	))
	waitJS(t, ctx, "case held", `document.readyState === 'complete' && document.getElementById('release-hold')`, 30*time.Second)
	it, err := e.app.Evidence.Get(context.Background(), item)
	must(t, "get", err)
	if !it.LegalHold {
		t.Fatal("case hold from the UI did not hold the item")
	}
}

// TestJobProgressInBrowser opens an item whose proxy is not made yet: the
// page shows the job waiting, then (workers started) its progress, and
// turns into the player by itself when the worker finishes.
func TestJobProgressInBrowser(t *testing.T) {
	e := newReviewEnv(t)
	ctx := browser(t)
	dir := screenshotDir(t)
	bg := context.Background()
	sctx, cancel := context.WithTimeout(bg, time.Minute)
	defer cancel()
	must(t, "stop workers", e.app.River.Stop(sctx))

	u, err := e.app.Identity.UserByName(bg, "officer.north")
	must(t, "user", err)
	clip := filepath.Join(e.dir, "long.mp4")
	must(t, "clip", MakeDemoClip(bg, e.dir, clip, DemoClip{Seconds: 90, Width: 320, Height: 240, FPS: 15, Hue: 140}))
	at := time.Now().UTC().Truncate(time.Second)
	id, err := IngestFile(bg, e.app, u.Principal("test"), clip, "BWC-N-01_long.mp4", wire.Metadata{OfficerID: u.Badge, DeviceID: "BWC-N-01", RecordedAt: &at})
	must(t, "ingest", err)

	login(t, ctx, e.srv.URL, "sgt.north", e.password("sgt.north"))
	must(t, "item page", chromedp.Do(ctx, chromedp.Navigate(e.srv.URL+"/evidence/"+id.String()), chromedp.WaitVisible(chromedp.CSS("#job"))))
	if txt := evalT[string](t, ctx, `document.getElementById('job').innerText`); !strings.Contains(txt, "pending") || !strings.Contains(txt, "0%") {
		t.Fatalf("job panel before the worker runs: %q", txt)
	}
	shot(t, ctx, dir, "14-evidence-pending")

	must(t, "start workers", e.app.River.Start(bg))
	// The page polls /job every 2 s; catch it mid-way for the picture when
	// the encoder is slow enough (not asserted: speed varies).
	deadline := time.Now().Add(3 * time.Minute)
	shotTaken := false
	for time.Now().Before(deadline) {
		pct, err := chromedp.Run(ctx, chromedp.Evaluate[int](`(() => { const p = document.getElementById('job-progress'); return p ? p.value : -1; })()`))
		if err == nil && pct > 5 && pct < 90 && !shotTaken {
			shot(t, ctx, dir, "15-evidence-processing")
			shotTaken = true
		}
		if err == nil && pct == -1 {
			break
		}
		time.Sleep(200 * time.Millisecond)
	}
	if !shotTaken {
		t.Log("the job finished between two polls; no progress screenshot this time")
	}
	waitJS(t, ctx, "player after the job", `document.readyState === 'complete' && document.getElementById('player') && document.querySelectorAll('#timeline .tile').length > 0`, 3*time.Minute)
	var status string
	must(t, "status", e.app.Pool.QueryRow(bg, `SELECT proxy_status FROM evidence_items WHERE id = $1`, id).Scan(&status))
	if status != "ready" {
		t.Fatalf("proxy_status %s after the page showed the player", status)
	}
}
