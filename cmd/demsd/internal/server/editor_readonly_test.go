package server

import (
	"context"
	"encoding/json"
	"math"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/google/uuid"

	"github.com/opendems/opendems/configs"
	policyconf "github.com/opendems/opendems/configs/policy"
	"github.com/opendems/opendems/evidence/identity"
	"github.com/opendems/opendems/evidence/ingest/wire"
	"github.com/opendems/opendems/evidence/pg/pgtest"
)

// newSmallEnv is a whole server (workers in-process) with the demo users,
// one short demo recording transcoded, and extraPolicy appended to the
// default access policy.
func newSmallEnv(t *testing.T, extraPolicy string) (*reviewEnv, uuid.UUID) {
	t.Helper()
	db := pgtest.NewDB(t)
	dir := t.TempDir()
	cfg := configs.Default()
	cfg.Database.URL = configs.Secret(db.URL)
	cfg.Storage.FS.Root = filepath.Join(dir, "objects")
	cfg.Keys.SigningKeyFile = filepath.Join(dir, "keys", "signing.pem")
	cfg.Server.SecureCookies = false
	cfg.Workers.Concurrency = 2
	if extraPolicy != "" {
		cfg.Policy.ModelFile = filepath.Join(dir, "access_model.conf")
		cfg.Policy.PolicyFile = filepath.Join(dir, "access_policy.csv")
		writeFile(t, cfg.Policy.ModelFile, policyconf.AccessModel())
		writeFile(t, cfg.Policy.PolicyFile, append(policyconf.AccessPolicy(), []byte("\n"+extraPolicy+"\n")...))
	}
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
	clip := filepath.Join(dir, "clip.mp4")
	if err := MakeDemoClip(ctx, dir, clip, DemoClip{Seconds: 4, Width: 320, Height: 240, FPS: 15, Hue: 60}); err != nil {
		t.Fatal(err)
	}
	dock, err := app.Identity.Authenticate(ctx, creds.Dock.Token)
	if err != nil {
		t.Fatal(err)
	}
	at := time.Now().Add(-time.Hour).UTC().Truncate(time.Second)
	item, err := IngestFile(ctx, app, dock, clip, "BWC-N-01_small.mp4", wire.Metadata{OfficerID: "N1001", DeviceID: "BWC-N-01", RecordedAt: &at})
	if err != nil {
		t.Fatal(err)
	}
	e := &reviewEnv{app: app, srv: srv, creds: creds, items: []uuid.UUID{item}, dir: dir}
	e.waitProxy(t, item, "ready")
	return e, item
}

// TestEditorReadOnly: the server decides who may edit a clip's redactions
// and tells the page. A user who may read the request and play the
// footage but lacks redaction:create (here an auditor whom the agency lets
// play footage) gets the editor without any edit control, cannot draw with
// real pointer events, and the spec route still answers 403; the records
// officer gets the controls while the request is being redacted, and a
// read-only page (409 from the server) once it is in review.
func TestEditorReadOnly(t *testing.T) {
	e, item := newSmallEnv(t, "p, auditor, *, evidence:play, *, any, allow")
	records := newCaller(t, e.srv.URL, credUser(e.creds, "records", "").APIToken)
	st, m := records.do("POST", "/api/v1/requests", `{"requester_name":"Ann Reporter","requester_type":"media","contact":"ann@example.org","description":"the stop","channel":"email"}`)
	if st != 201 {
		t.Fatalf("create: %d %v", st, m)
	}
	reqID := m["request"].(map[string]any)["id"].(string)
	base := "/api/v1/requests/" + reqID
	for _, body := range []string{`{"state":"assigned","assignee":"records"}`, `{"state":"searching"}`, `{"state":"redacting"}`} {
		if st, m = records.do("POST", base+"/transition", body); st != 200 {
			t.Fatalf("transition %s: %d %v", body, st, m)
		}
	}
	if st, m = records.do("POST", base+"/clips", `{"evidence_id":"`+item.String()+`","in_ms":0,"out_ms":4000}`); st != 201 {
		t.Fatalf("add clip: %d %v", st, m)
	}
	clipID := m["clip"].(map[string]any)["id"].(string)
	clipAPI := base + "/clips/" + clipID
	spec := `{"version":1,"clip":{"source":"` + item.String() + `"},"regions":[{"id":"box-1","shape":"rectangle","effect":{"type":"blur","strength":40},"reason":"b(6)","origin":"manual","keyframes":[{"time":0,"x":40,"y":40,"width":80,"height":60},{"time":2,"x":120,"y":80,"width":80,"height":60}]}]}`
	if st, m = records.do("PUT", clipAPI+"/spec", `{"base_version":0,"spec":`+spec+`}`); st != 201 && st != 200 {
		t.Fatalf("save spec: %d %v", st, m)
	}
	page := e.srv.URL + "/requests/" + reqID + "/clips/" + clipID + "/edit"
	dir := screenshotDir(t)

	// The auditor: the page opens read-only.
	ctx := browser(t)
	login(t, ctx, e.srv.URL, "auditor", e.password("auditor"))
	must(t, "editor", chromedp.Do(ctx, chromedp.Navigate(page)))
	waitJS(t, ctx, "editor ready", `document.getElementById('editor').dataset.ready === 'true' || document.getElementById('editor').dataset.failed`, 60*time.Second)
	if f := evalT[string](t, ctx, `document.getElementById('editor').dataset.failed || ''`); f != "" {
		t.Fatalf("editor failed for the auditor: %s", f)
	}
	visible := func(sel string) bool {
		return evalT[bool](t, ctx, `(() => { const el = document.querySelector(`+jsString(sel)+`); return !!el && el.offsetParent !== null && getComputedStyle(el).display !== 'none'; })()`)
	}
	if !visible("#ed-readonly") || !strings.Contains(evalT[string](t, ctx, `document.getElementById('ed-readonly').textContent`), "Read only") {
		t.Fatal("no read-only notice for the auditor")
	}
	for _, sel := range []string{"#ed-save", "#ed-undo", "#ed-accept-all", ".ed-draw", `[data-action="mute"]`} {
		if visible(sel) {
			t.Errorf("%s is shown to a user without redaction:create", sel)
		}
	}
	if help := evalT[string](t, ctx, `document.getElementById('ed-help-rows').textContent`); strings.Contains(help, "Save") || !strings.Contains(help, "Next frame") {
		t.Errorf("read-only shortcut table: %q", help)
	}
	// B and a drag on the video: nothing is drawn; a click selects.
	screen := stageScreen(t, ctx, 320, 240)
	must(t, "b", chromedp.Do(ctx, chromedp.KeyEvent("b")))
	x1, y1 := screen(180, 120)
	x2, y2 := screen(300, 220)
	pointerDrag(t, ctx, x1, y1, x2, y2)
	// The box at frame 0 is at source (40,40)-(120,100): dragging it
	// selects it and moves nothing.
	x1, y1 = screen(80, 70)
	x2, y2 = screen(160, 120)
	pointerDrag(t, ctx, x1, y1, x2, y2)
	time.Sleep(300 * time.Millisecond)
	if n := evalT[int](t, ctx, `opendemsEditor.model.spec.regions.length`); n != 1 {
		t.Fatalf("read-only editor has %d regions after drawing", n)
	}
	if kf := evalT[float64](t, ctx, `opendemsEditor.model.spec.regions[0].keyframes[0].x`); kf != 40 {
		t.Fatalf("read-only editor moved the box to x=%v", kf)
	}
	if !evalT[bool](t, ctx, `!!opendemsEditor.sel && opendemsEditor.sel.id === 'box-1' && [...document.querySelectorAll('#ed-inspector select, #ed-inspector input')].every(el => el.disabled)`) {
		t.Errorf("clicking the box did not select it, or the inspector is editable: %s", evalT[string](t, ctx, `JSON.stringify({sel: opendemsEditor.sel, frame: opendemsEditor.frame, dis: [...document.querySelectorAll('#ed-inspector select, #ed-inspector input')].filter(el => !el.disabled).map(el => el.id)})`))
	}
	shot(t, ctx, dir, "editor-readonly")
	auditor := newCaller(t, e.srv.URL, credUser(e.creds, "auditor", "").APIToken)
	if st, m = auditor.do("PUT", clipAPI+"/spec", `{"base_version":1,"spec":`+spec+`}`); st != 403 {
		t.Fatalf("auditor saving a spec: %d %v, want 403", st, m)
	}
	if st, _ = auditor.do("GET", clipAPI, ""); st != 200 {
		t.Fatalf("auditor reading the clip: %d", st)
	}

	// The records officer edits while the request is being redacted...
	ctx2 := browser(t)
	mfaLogin(t, ctx2, e, "records")
	must(t, "editor as records", chromedp.Do(ctx2, chromedp.Navigate(page)))
	waitJS(t, ctx2, "editor ready", `document.getElementById('editor').dataset.ready === 'true'`, 60*time.Second)
	if !evalT[bool](t, ctx2, `document.getElementById('ed-save').offsetParent !== null && !document.getElementById('ed-readonly')`) {
		t.Fatal("records officer: no save button, or a read-only notice")
	}
	// ...and only reads once it is in review.
	if st, m = records.do("POST", base+"/transition", `{"state":"in_review"}`); st != 200 {
		t.Fatalf("to in_review: %d %v", st, m)
	}
	must(t, "editor in review", chromedp.Do(ctx2, chromedp.Navigate(page)))
	waitJS(t, ctx2, "editor ready", `document.getElementById('editor').dataset.ready === 'true'`, 60*time.Second)
	if !evalT[bool](t, ctx2, `document.getElementById('ed-save').offsetParent === null && document.getElementById('ed-readonly').textContent.includes('in_review')`) {
		t.Fatal("records officer in review: save shown or no read-only notice naming the state")
	}
	if st, m = records.do("PUT", clipAPI+"/spec", `{"base_version":1,"spec":`+spec+`}`); st != 409 {
		t.Fatalf("saving while in review: %d %v, want 409", st, m)
	}
}

// TestWaveformEndpoint: the editor's mute lane reads the audio envelope
// from the server. On a recording whose 2.0–3.5 s are silent (made with
// the ffmpeg CLI) the envelope is flat there and loud around it; it is
// computed once, kept as the item's waveform derivative and served again
// byte for byte; the clip view names it.
func TestWaveformEndpoint(t *testing.T) {
	e, _ := newSmallEnv(t, "")
	ctx := context.Background()
	src := filepath.Join(t.TempDir(), "gap.mp4")
	if out, err := exec.Command("ffmpeg", "-v", "error", "-f", "lavfi", "-i", "testsrc2=size=320x240:rate=15:duration=6",
		"-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000:duration=6", "-af", "volume=enable='between(t,2,3.5)':volume=0",
		"-c:v", "libx264", "-pix_fmt", "yuv420p", "-c:a", "aac", "-shortest", src).CombinedOutput(); err != nil {
		t.Fatalf("ffmpeg: %v\n%s", err, out)
	}
	dock, err := e.app.Identity.Authenticate(ctx, e.creds.Dock.Token)
	must(t, "dock", err)
	at := time.Now().Add(-time.Hour).UTC().Truncate(time.Second)
	item, err := IngestFile(ctx, e.app, dock, src, "BWC-N-01_gap.mp4", wire.Metadata{OfficerID: "N1001", DeviceID: "BWC-N-01", RecordedAt: &at})
	must(t, "ingest", err)
	e.waitProxy(t, item, "ready")

	records := newCaller(t, e.srv.URL, credUser(e.creds, "records", "").APIToken)
	st, m := records.do("POST", "/api/v1/requests", `{"requester_name":"Ann Reporter","requester_type":"media","contact":"ann@example.org","description":"the stop","channel":"email"}`)
	if st != 201 {
		t.Fatalf("create: %d %v", st, m)
	}
	base := "/api/v1/requests/" + m["request"].(map[string]any)["id"].(string)
	for _, body := range []string{`{"state":"assigned","assignee":"records"}`, `{"state":"searching"}`} {
		if st, m = records.do("POST", base+"/transition", body); st != 200 {
			t.Fatalf("transition %s: %d %v", body, st, m)
		}
	}
	if st, m = records.do("POST", base+"/clips", `{"evidence_id":"`+item.String()+`","in_ms":1000,"out_ms":5000}`); st != 201 {
		t.Fatalf("add clip: %d %v", st, m)
	}
	clipAPI := base + "/clips/" + m["clip"].(map[string]any)["id"].(string)
	if st, m = records.do("GET", clipAPI, ""); st != 200 || m["waveform_url"] != clipAPI+"/waveform" {
		t.Fatalf("clip view: %d waveform_url %v", st, m["waveform_url"])
	}
	token := credUser(e.creds, "records", "").APIToken
	first := fetchBytes(t, e.srv.URL+clipAPI+"/waveform", token)
	var wf struct {
		Rate     int     `json:"rate"`
		Duration float64 `json:"duration"`
		Peaks    []int   `json:"peaks"`
		NoAudio  bool    `json:"no_audio"`
	}
	must(t, "waveform json", json.Unmarshal(first, &wf))
	if wf.NoAudio || wf.Rate != 100 || wf.Duration < 5.9 || len(wf.Peaks) != 2*int(math.Round(wf.Duration*100)) {
		t.Fatalf("waveform: rate %d, duration %.2f, %d peaks, no_audio %v", wf.Rate, wf.Duration, len(wf.Peaks), wf.NoAudio)
	}
	span := func(a, b float64) (lo, hi int) {
		for i := int(a * 100); i < int(b*100); i++ {
			lo, hi = min(lo, wf.Peaks[2*i]), max(hi, wf.Peaks[2*i+1])
		}
		return
	}
	if lo, hi := span(2.1, 3.4); lo < -1 || hi > 1 {
		t.Errorf("silent section 2.1–3.4 s: peaks %d..%d", lo, hi)
	}
	for _, s := range [][2]float64{{0.2, 1.9}, {3.6, 5.8}} {
		if lo, hi := span(s[0], s[1]); hi < 12 || lo > -12 {
			t.Errorf("tone %.1f–%.1f s: peaks %d..%d", s[0], s[1], lo, hi)
		}
	}
	again := fetchBytes(t, e.srv.URL+clipAPI+"/waveform", token)
	var rows int
	must(t, "derivatives", e.app.Pool.QueryRow(ctx, `SELECT count(*) FROM evidence_derivatives WHERE evidence_id = $1 AND kind = 'waveform'`, item).Scan(&rows))
	if string(again) != string(first) || rows != 1 {
		t.Fatalf("second answer differs (%v) or %d waveform derivatives", string(again) != string(first), rows)
	}
	// The auditor may read the request, hence the envelope (not footage).
	auditor := credUser(e.creds, "auditor", "").APIToken
	if b := fetchBytes(t, e.srv.URL+clipAPI+"/waveform", auditor); string(b) != string(first) {
		t.Fatal("the auditor got another envelope")
	}
}
