package server

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/opendems/opendems/evidence/ingest/wire"
	"github.com/opendems/opendems/redact"
)

// TestEditorTrackBox is issue 13 item 6 in the editor, over a whole server
// with the real jobs worker: on a clip where the ffmpeg CLI moves a
// photograph along a known path, the records officer draws a box around it
// on one frame with real pointer events, presses T; the editor shows the
// track job's progress and, when it is done, the region's keyframes follow
// the photograph through the clip. One undo gives back the drawn box, redo
// the track; saved and reloaded, the keyframes are back. With the worker
// stopped, a queued track shows as waiting and Cancel ends it without a
// change. Tracking on a request that left redaction shows the server's
// 409 in the editor, and the read-only editor then offers no Track button.
func TestEditorTrackBox(t *testing.T) {
	ffmpeg, err := exec.LookPath("ffmpeg")
	if err != nil {
		t.Fatalf("the moving clip needs the ffmpeg CLI: %v", err)
	}
	e, _ := newSmallEnv(t, "")
	ctx := browser(t)
	dir := screenshotDir(t)

	// 5 s, 640×360 at 15 fps; the photograph (120×150) at x = 100 + 60 t,
	// y = 60 + 20 t.
	moving := filepath.Join(t.TempDir(), "moving.mp4")
	if out, err := exec.Command(ffmpeg, "-v", "error", "-f", "lavfi", "-i", "testsrc2=size=640x360:rate=15:duration=5",
		"-loop", "1", "-framerate", "15", "-i", filepath.Join("..", "..", "..", "..", "redact", "testdata", "face.jpg"),
		"-filter_complex", "[1]scale=120:150,format=yuv420p[f];[0][f]overlay=x='100+60*t':y='60+20*t':shortest=1:eval=frame[v]",
		"-map", "[v]", "-c:v", "libx264", "-preset", "ultrafast", "-crf", "18", "-pix_fmt", "yuv420p", "-t", "5", moving).CombinedOutput(); err != nil {
		t.Fatalf("moving clip: %v\n%s", err, out)
	}
	truth := func(sec float64) redact.Box { return redact.Box{X: 100 + 60*sec, Y: 60 + 20*sec, W: 120, H: 150} }
	dock, err := e.app.Identity.Authenticate(t.Context(), e.creds.Dock.Token)
	must(t, "dock", err)
	at := time.Now().Add(-time.Hour).UTC().Truncate(time.Second)
	item, err := IngestFile(t.Context(), e.app, dock, moving, "BWC-N-02_moving.mp4", wire.Metadata{OfficerID: "N1001", DeviceID: "BWC-N-02", RecordedAt: &at})
	must(t, "ingest", err)
	e.waitProxy(t, item, "ready")

	records := newCaller(t, e.srv.URL, credUser(e.creds, "records", "").APIToken)
	st, m := records.do("POST", "/api/v1/requests", `{"requester_name":"Ann Reporter","requester_type":"media","contact":"ann@example.org","description":"the plate","channel":"email"}`)
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
	if st, m = records.do("POST", base+"/clips", `{"evidence_id":"`+item.String()+`","in_ms":0,"out_ms":5000}`); st != 201 {
		t.Fatalf("add clip: %d %v", st, m)
	}
	clipID := m["clip"].(map[string]any)["id"].(string)
	page := e.srv.URL + "/requests/" + reqID + "/clips/" + clipID + "/edit"

	mfaLogin(t, ctx, e, "records")
	open := func() {
		t.Helper()
		must(t, "editor", chromedp.Do(ctx, chromedp.Navigate(page)))
		waitJS(t, ctx, "editor ready", `document.getElementById('editor').dataset.ready === 'true' || document.getElementById('editor').dataset.failed`, 60*time.Second)
		if f := evalT[string](t, ctx, `document.getElementById('editor').dataset.failed || ''`); f != "" {
			t.Fatalf("editor failed: %s", f)
		}
	}
	open()
	gotoFrame := func(n int) {
		t.Helper()
		must(t, "go to frame", chromedp.Do(ctx, chromedp.SetValue(chromedp.CSS("#ed-goto"), fmt.Sprint(n)),
			chromedp.Evaluate[chromedp.Void](`document.getElementById("ed-goto").dispatchEvent(new Event("change"))`)))
		waitJS(t, ctx, "at frame", fmt.Sprintf(`!opendemsEditor.seek.inFlight && opendemsEditor.seek.target === null && opendemsEditor.frame === %d`, n), 20*time.Second)
	}
	if !strings.Contains(evalT[string](t, ctx, `document.getElementById('ed-help-rows').textContent`), "Track the selected box") {
		t.Error("the shortcut help does not list Track")
	}

	// Draw around the photograph at 2 s (frame 30) with B and a drag.
	const drawnAt = 2.0
	gotoFrame(30)
	screen := stageScreen(t, ctx, 640, 360)
	want := truth(drawnAt)
	must(t, "arm drawing", chromedp.Do(ctx, chromedp.KeyEvent("b")))
	x1, y1 := screen(want.X, want.Y)
	x2, y2 := screen(want.X+want.W, want.Y+want.H)
	pointerDrag(t, ctx, x1, y1, x2, y2)
	waitJS(t, ctx, "box drawn", `opendemsEditor.model.spec.regions.length === 1 && opendemsEditor.sel && opendemsEditor.sel.kind === 'region'`, 10*time.Second)
	must(t, "exemption", chromedp.Do(ctx, chromedp.SetValue(chromedp.CSS("#ed-exemption"), "b(6)"),
		chromedp.Evaluate[chromedp.Void](`document.getElementById("ed-exemption").dispatchEvent(new Event("change"))`)))
	drawn := evalT[string](t, ctx, `JSON.stringify(opendemsEditor.model.spec.regions[0].keyframes)`)

	// T tracks it; the progress line is recorded as it changes.
	must(t, "watch progress", chromedp.Do(ctx, chromedp.Evaluate[chromedp.Void](`window.trackSeen = [];
	  new MutationObserver(() => { const el = document.getElementById("ed-track"); if (!el.hidden) window.trackSeen.push(el.textContent); })
	    .observe(document.getElementById("ed-track"), {attributes: true, childList: true, subtree: true, characterData: true});`)))
	must(t, "track", chromedp.Do(ctx, chromedp.KeyEvent("t")))
	waitJS(t, ctx, "tracked", `document.getElementById("ed-banner").textContent.startsWith("Tracked")`, 3*time.Minute)
	if seen := evalT[string](t, ctx, `window.trackSeen.join(" | ")`); !strings.Contains(seen, "%") {
		t.Errorf("no progress shown while tracking: %q", seen)
	}
	if !evalT[bool](t, ctx, `document.getElementById("ed-track").hidden && opendemsEditor.model.changes > 0`) {
		t.Error("after tracking: progress still shown, or the edit is not marked unsaved")
	}
	keyframes := func() []redact.Keyframe {
		t.Helper()
		var ks []redact.Keyframe
		must(t, "keyframes", json.Unmarshal([]byte(evalT[string](t, ctx, `JSON.stringify(opendemsEditor.model.spec.regions[0].keyframes)`)), &ks))
		return ks
	}
	tracked := keyframes()
	if len(tracked) < 2 || tracked[0].Time > 0.2 || tracked[len(tracked)-1].Time < 4.7 {
		t.Fatalf("tracked keyframes do not span the clip: %+v", tracked)
	}
	region := redact.Region{Keyframes: tracked}
	worst := 0.0
	for sec := tracked[0].Time; sec <= tracked[len(tracked)-1].Time; sec += 0.1 {
		got, ok := region.BoxAt(sec)
		if !ok {
			t.Fatalf("no box at %.2f s: %+v", sec, tracked)
		}
		w := truth(sec)
		worst = math.Max(worst, math.Max(math.Abs(got.X-w.X), math.Abs(got.Y-w.Y)))
	}
	t.Logf("%d keyframes from %.2f to %.2f s, worst distance from the true path %.1f px", len(tracked), tracked[0].Time, tracked[len(tracked)-1].Time, worst)
	if worst > 12 {
		t.Fatalf("the tracked box is up to %.1f px off the photograph's path", worst)
	}
	gotoFrame(60)
	shot(t, ctx, dir, "editor-13-track")

	// One undo gives back the drawn box; redo the track.
	must(t, "undo", chromedp.Do(ctx, chromedp.KeyEvent("z", chromedp.KeyModifiers(chromedp.ModifierCtrl))))
	if got := evalT[string](t, ctx, `JSON.stringify(opendemsEditor.model.spec.regions[0].keyframes)`); got != drawn {
		t.Fatalf("undo: keyframes %s, drawn %s", got, drawn)
	}
	must(t, "redo", chromedp.Do(ctx, chromedp.KeyEvent("Z", chromedp.KeyModifiers(chromedp.ModifierCtrl, chromedp.ModifierShift))))
	if got := keyframes(); len(got) != len(tracked) {
		t.Fatalf("redo: %d keyframes, tracked %d", len(got), len(tracked))
	}

	// Saved and reloaded, the tracked keyframes are back.
	must(t, "save", chromedp.Do(ctx, chromedp.Click(chromedp.CSS("#ed-save"))))
	waitJS(t, ctx, "saved", `document.getElementById("ed-banner").textContent.includes("Saved as version 1")`, 20*time.Second)
	open()
	if got := keyframes(); len(got) != len(tracked) || math.Abs(got[len(got)/2].X-tracked[len(tracked)/2].X) > 0.5 {
		t.Fatalf("reloaded keyframes %+v, tracked %+v", got, tracked)
	}

	// Cancel: with the worker stopped the job waits in the queue, the
	// editor shows it waiting, and Cancel (the clip's job cancel route)
	// ends it; the region is unchanged.
	sctx, stop := context.WithTimeout(context.Background(), 30*time.Second)
	must(t, "stop the worker", e.app.River.Stop(sctx))
	stop()
	gotoFrame(30)
	screen = stageScreen(t, ctx, 640, 360)
	cx, cy := screen(want.X+want.W/2, want.Y+want.H/2)
	must(t, "click the box", chromedp.Do(ctx, chromedp.MouseClickXY(cx, cy)))
	waitJS(t, ctx, "selected", `!!opendemsEditor.sel && opendemsEditor.sel.kind === 'region'`, 5*time.Second)
	must(t, "track (queued)", chromedp.Do(ctx, chromedp.Click(chromedp.CSS("#ed-track-start"))))
	waitJS(t, ctx, "waiting shown", `!document.getElementById("ed-track").hidden && document.getElementById("ed-track-text").textContent.includes("waiting for a worker") && !document.getElementById("ed-track-cancel").disabled`, 20*time.Second)
	must(t, "cancel", chromedp.Do(ctx, chromedp.Click(chromedp.CSS("#ed-track-cancel"))))
	waitJS(t, ctx, "cancelled", `document.getElementById("ed-banner").textContent.startsWith("Tracking was cancelled") && document.getElementById("ed-track").hidden`, 20*time.Second)
	if st, m = records.do("GET", base+"/clips/"+clipID+"/jobs", ""); st != 200 || !strings.Contains(fmt.Sprint(m), "state:cancelled") {
		t.Fatalf("jobs after cancel: %d %v", st, m)
	}
	if got := keyframes(); len(got) != len(tracked) || evalT[int](t, ctx, `opendemsEditor.model.changes`) != 0 {
		t.Fatalf("a cancelled track changed the region: %d keyframes, %d changes", len(got), evalT[int](t, ctx, `opendemsEditor.model.changes`))
	}

	// The requester withdraws while the editor is open: tracking is
	// refused (409) and the editor says why; the reloaded page is read-only.
	if st, m = records.do("POST", base+"/transition", `{"state":"withdrawn","reason":"the requester withdrew by email"}`); st != 200 {
		t.Fatalf("to withdrawn: %d %v", st, m)
	}
	must(t, "track again", chromedp.Do(ctx, chromedp.Click(chromedp.CSS("#ed-track-start"))))
	waitJS(t, ctx, "refusal shown", `document.getElementById("ed-banner").textContent.startsWith("Not tracked:") && document.getElementById("ed-banner").textContent.includes("withdrawn")`, 20*time.Second)
	if got := keyframes(); len(got) != len(tracked) {
		t.Fatalf("a refused track changed the region: %d keyframes", len(got))
	}
	open()
	if evalT[bool](t, ctx, `document.getElementById("ed-track-start").offsetParent !== null`) {
		t.Error("the read-only editor shows the Track button")
	}
}
