package server

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/input"
	"github.com/chromedp/chromedp"

	"github.com/opendems/opendems/cmd/demsd/internal/devseed"
	"github.com/opendems/opendems/evidence/ingest/wire"
	"github.com/opendems/opendems/redact"
)

// TestRedactionEndToEnd is issue 13's end-to-end check, in one run over
// real PostgreSQL, storage, workers (YuNet through ONNX Runtime) and
// chromium:
//
//  1. a member of the public files a request on the public page;
//  2. the records officer logs in, assigns it, starts the search and links
//     a clip of the demo lobby recording (two real faces moving; an audio
//     track of a steady tone is added with the ffmpeg CLI, since the demo
//     recording is silent);
//  3. a detect job runs on the real jobs worker;
//  4. in the editor, with real pointer events and keys, the officer
//     accepts every proposal, draws a manual box, drags a mute range on
//     the waveform lane, saves; a render job runs;
//  5. an independent check with the ffmpeg CLI (not our code) decodes the
//     original and the render: where the clip's description says each face
//     is (FaceBox, no detector involved), the render's edge energy is a
//     fraction of the original's, and so under the manual box, while an
//     untouched patch is unchanged; volumedetect finds the muted range
//     silent and the audio around it as loud as the original's.
func TestRedactionEndToEnd(t *testing.T) {
	if os.Getenv(redact.ONNXRuntimeLibraryEnv) == "" {
		if _, err := redact.FindONNXRuntime(""); err != nil {
			t.Fatalf("YuNet needs ONNX Runtime (make onnxruntime, or %s): %v", redact.ONNXRuntimeLibraryEnv, err)
		}
	}
	ffmpeg, err := exec.LookPath("ffmpeg")
	if err != nil {
		t.Fatalf("the independent check needs the ffmpeg CLI: %v", err)
	}
	e := newReviewEnv(t)
	ctx := browser(t)
	dir := screenshotDir(t)
	base := e.srv.URL
	bg := context.Background()

	// The lobby recording with a tone on its audio track.
	lobby, ok := devseed.DemoFaceClip("lobby")
	if !ok {
		t.Fatal("no demo face clip lobby")
	}
	cached, _ := filepath.Glob(filepath.Join(e.dir, "scratch", "faces-lobby-*.mp4"))
	if len(cached) != 1 {
		t.Fatalf("seeded lobby clip: %v", cached)
	}
	original := filepath.Join(t.TempDir(), "lobby-with-audio.mp4")
	if out, err := exec.Command(ffmpeg, "-v", "error", "-i", cached[0], "-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000",
		"-map", "0:v", "-map", "1:a", "-c:v", "copy", "-c:a", "aac", "-b:a", "96k", "-shortest", original).CombinedOutput(); err != nil {
		t.Fatalf("add audio: %v\n%s", err, out)
	}
	dock, err := e.app.Identity.Authenticate(bg, e.creds.Dock.Token)
	must(t, "dock", err)
	at := time.Now().Add(-time.Hour).UTC().Truncate(time.Second)
	item, err := IngestFile(bg, e.app, dock, original, "BWC-N-07_lobby.mp4", wire.Metadata{OfficerID: "N2001", DeviceID: "BWC-N-07", RecordedAt: &at})
	must(t, "ingest", err)
	e.waitProxy(t, item, "ready")

	// 1. The public, without an account.
	must(t, "public intake", chromedp.Do(ctx,
		chromedp.Navigate(base+"/public/requests"),
		chromedp.WaitVisible(chromedp.CSS("#public-intake")),
		chromedp.SendKeys(chromedp.CSS("#requester_name"), "Pat Q. Public"),
		chromedp.SendKeys(chromedp.CSS("#contact"), "pat@example.org"),
		chromedp.SendKeys(chromedp.CSS("#description"), "Body camera video of the witness interviews in the City Hall lobby."),
		chromedp.SendKeys(chromedp.CSS("#place"), "City Hall lobby"),
		chromedp.Click(chromedp.CSS("#public-intake button[type=submit]")),
		chromedp.WaitVisible(chromedp.CSS("#status-code")),
	))
	number := strings.TrimSpace(evalT[string](t, ctx, `document.getElementById('tracking-number').innerText`))

	// 2. The records officer takes it and links the clip.
	mfaLogin(t, ctx, e, "records")
	var reqID string
	must(t, "request id", e.app.Pool.QueryRow(bg, `SELECT id FROM access_requests WHERE tracking_number = $1`, number).Scan(&reqID))
	must(t, "request page", chromedp.Do(ctx, chromedp.Navigate(base+"/requests/"+reqID), chromedp.WaitVisible(chromedp.CSS("#transition-form"))))
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
		chromedp.SendKeys(chromedp.CSS("#evidence_id"), item.String()),
		chromedp.SetValue(chromedp.CSS("#in"), "0"),
		chromedp.SetValue(chromedp.CSS("#out"), "6"),
		chromedp.Click(chromedp.CSS("#clip-form button[type=submit]")),
	))
	waitJS(t, ctx, "clip listed", `document.querySelectorAll('#clips tbody a[href^="/requests/"]').length === 1`, 20*time.Second)
	move("redacting")
	editHref := evalT[string](t, ctx, `document.querySelector('#clips tbody a[href^="/requests/"]').getAttribute('href')`)
	clipAPI := "/api/v1" + strings.TrimSuffix(editHref, "/edit")

	// 3. Detection on the real worker.
	records := newCaller(t, base, credUser(e.creds, "records", "").APIToken)
	runJob(t, records, clipAPI, "detect")

	// 4. The editor.
	must(t, "editor", chromedp.Do(ctx, chromedp.Navigate(base+editHref)))
	waitJS(t, ctx, "editor ready", `document.getElementById('editor').dataset.ready === 'true' || document.getElementById('editor').dataset.failed`, 60*time.Second)
	if f := evalT[string](t, ctx, `document.getElementById('editor').dataset.failed || ''`); f != "" {
		t.Fatalf("editor failed: %s", f)
	}
	waitJS(t, ctx, "proposals in the working copy", `opendemsEditor.model.spec.regions.filter(r => r.origin === 'auto' && !r.review).length >= 2`, 20*time.Second)
	proposals := evalT[int](t, ctx, `opendemsEditor.model.spec.regions.length`)
	// The mute lane draws the server's envelope of the tone.
	waitJS(t, ctx, "waveform from the server", `opendemsEditor.waveform && opendemsEditor.waveform.rate === 100 && Math.max(...opendemsEditor.waveform.peaks) > 10`, 30*time.Second)
	shot(t, ctx, dir, "e2e-01-proposals")
	must(t, "accept all", chromedp.Do(ctx,
		chromedp.SetValue(chromedp.CSS("#ed-batch-code"), "b(7)(C)"),
		chromedp.Evaluate[chromedp.Void](`window.confirm = () => true`),
		chromedp.Click(chromedp.CSS("#ed-accept-all")),
	))
	waitJS(t, ctx, "all accepted", `opendemsEditor.model.spec.regions.every(r => r.review === 'accepted' && r.reason === 'b(7)(C)')`, 10*time.Second)

	// A manual box over the wall (a "notice" on it), drawn at 1 s with B
	// and a drag.
	must(t, "go to frame 25", chromedp.Do(ctx, chromedp.SetValue(chromedp.CSS("#ed-goto"), "25"),
		chromedp.Evaluate[chromedp.Void](`document.getElementById("ed-goto").dispatchEvent(new Event("change"))`)))
	waitJS(t, ctx, "at frame 25", `!opendemsEditor.seek.inFlight && opendemsEditor.seek.target === null && opendemsEditor.frame === 25`, 20*time.Second)
	screen := stageScreen(t, ctx, lobby.Width, lobby.Height)
	manual := [4]int{560, 40, 200, 120} // x, y, w, h in source pixels
	must(t, "arm drawing", chromedp.Do(ctx, chromedp.KeyEvent("b")))
	x1, y1 := screen(float64(manual[0]), float64(manual[1]))
	x2, y2 := screen(float64(manual[0]+manual[2]), float64(manual[1]+manual[3]))
	pointerDrag(t, ctx, x1, y1, x2, y2)
	waitJS(t, ctx, "box drawn", fmt.Sprintf(`opendemsEditor.model.spec.regions.length === %d`, proposals+1), 10*time.Second)
	setExemption := func() {
		must(t, "exemption", chromedp.Do(ctx, chromedp.SetValue(chromedp.CSS("#ed-exemption"), "b(6)"),
			chromedp.Evaluate[chromedp.Void](`document.getElementById("ed-exemption").dispatchEvent(new Event("change"))`)))
	}
	setExemption()

	// A mute range dragged on the waveform lane, from 2 s to 3.5 s.
	var tlg struct {
		Left, Top, Width, End float64
		Audio                 struct{ Y, H float64 }
	}
	must(t, "timeline", json.Unmarshal([]byte(evalT[string](t, ctx, `(() => { const c = document.getElementById("ed-timeline"); c.scrollIntoView({block: "center"}); const r = c.getBoundingClientRect();
	  const a = opendemsEditor.timeline.lanes.find(l => l.kind === "audio");
	  return JSON.stringify({Left: r.left, Top: r.top, Width: r.width, End: opendemsEditor.outF / opendemsEditor.fps, Audio: {Y: a.y, H: a.h}}); })()`)), &tlg))
	const labelW, rightPad = 120, 8
	tx := func(sec float64) float64 { return tlg.Left + labelW + sec/tlg.End*(tlg.Width-labelW-rightPad) }
	ay := tlg.Top + tlg.Audio.Y + tlg.Audio.H/2
	pointerDrag(t, ctx, tx(2), ay, tx(3.5), ay)
	waitJS(t, ctx, "mute range", `opendemsEditor.model.spec.audio.length === 1`, 10*time.Second)
	setExemption()
	shot(t, ctx, dir, "e2e-02-edited")
	must(t, "save", chromedp.Do(ctx, chromedp.Click(chromedp.CSS("#ed-save"))))
	waitJS(t, ctx, "saved", `document.getElementById("ed-banner").textContent.includes("Saved as version 1")`, 20*time.Second)

	st, m := records.do("GET", clipAPI+"/spec", "")
	if st != 200 {
		t.Fatalf("spec: %d %v", st, m)
	}
	specDoc, _ := json.Marshal(m["spec"])
	sp, err := redact.Parse(specDoc)
	must(t, "parse saved spec", err)
	if len(sp.Audio) != 1 || len(sp.Regions) != proposals+1 {
		t.Fatalf("saved spec: %d regions, %d audio ranges", len(sp.Regions), len(sp.Audio))
	}
	mute := sp.Audio[0]
	if math.Abs(mute.Start-2) > 0.15 || math.Abs(mute.End-3.5) > 0.15 {
		t.Fatalf("mute range %.3f–%.3f, dragged 2–3.5", mute.Start, mute.End)
	}
	var box *redact.Keyframe
	for _, r := range sp.Regions {
		if r.Origin != "auto" {
			box = &r.Keyframes[0]
		}
	}
	if box == nil || math.Abs(box.X-float64(manual[0])) > 6 || math.Abs(box.Width-float64(manual[2])) > 8 {
		t.Fatalf("manual box %+v, drawn %v", box, manual)
	}

	// 5. Render, then the independent check.
	runJob(t, records, clipAPI, "render")
	st, m = records.do("GET", clipAPI+"/outputs", "")
	var renderID string
	for _, o := range m["outputs"].([]any) {
		if o := o.(map[string]any); o["kind"] == "render" && renderID == "" {
			renderID = o["id"].(string)
		}
	}
	if renderID == "" {
		t.Fatalf("no render output: %d %v", st, m)
	}
	rendered := filepath.Join(t.TempDir(), "rendered.mp4")
	writeFile(t, rendered, fetchBytes(t, base+clipAPI+"/outputs/"+renderID, credUser(e.creds, "records", "").APIToken))

	// Faces, by the clip's own description, at several times; the inner
	// part of each photographed head (the photo has a margin around it).
	for _, sec := range []float64{0.5, 2.0, 3.0, 4.5} {
		o := grayFrame(t, ffmpeg, original, sec, lobby.Width, lobby.Height)
		r := grayFrame(t, ffmpeg, rendered, sec, lobby.Width, lobby.Height)
		for i := range lobby.Actors {
			x, y, w, h, err := lobby.FaceBox(i, sec)
			must(t, "face box", err)
			inner := [4]int{x + w/5, y + h/6, w * 3 / 5, h * 3 / 5}
			eo, er := edgeEnergy(o, lobby.Width, inner), edgeEnergy(r, lobby.Width, inner)
			t.Logf("t=%.1fs face %d at %v: edge energy original %.2f, rendered %.2f (ratio %.2f)", sec, i, inner, eo, er, er/eo)
			if eo < 2 || er > 0.35*eo {
				t.Errorf("t=%.1fs: face %d not obscured: edge energy %.2f → %.2f", sec, i, eo, er)
			}
		}
		// An untouched patch of wall, away from faces and the box.
		ctl := [4]int{560, 600, 160, 90}
		co, cr := edgeEnergy(o, lobby.Width, ctl), edgeEnergy(r, lobby.Width, ctl)
		if co < 1 || cr < 0.75*co || meanAbsDiff(o, r, lobby.Width, ctl) > 6 {
			t.Errorf("t=%.1fs: the untouched wall changed: edge energy %.2f → %.2f, mean difference %.1f", sec, co, cr, meanAbsDiff(o, r, lobby.Width, ctl))
		}
		if sec >= 1.2 && sec <= 3.8 {
			bo, br := edgeEnergy(o, lobby.Width, manual), edgeEnergy(r, lobby.Width, manual)
			t.Logf("t=%.1fs manual box: edge energy %.2f → %.2f", sec, bo, br)
			if br > 0.35*bo {
				t.Errorf("t=%.1fs: the manual box is not obscured: %.2f → %.2f", sec, bo, br)
			}
		}
	}
	// Audio: silent inside the range (a little inside its edges), as loud
	// as the original outside.
	inside := maxVolume(t, ffmpeg, rendered, mute.Start+0.1, mute.End-mute.Start-0.2)
	origInside := maxVolume(t, ffmpeg, original, mute.Start+0.1, mute.End-mute.Start-0.2)
	before := maxVolume(t, ffmpeg, rendered, 0.3, mute.Start-0.5)
	after := maxVolume(t, ffmpeg, rendered, mute.End+0.2, 5.5-mute.End-0.2)
	t.Logf("max volume: muted range %.1f dB (original %.1f dB), before %.1f dB, after %.1f dB", inside, origInside, before, after)
	if inside > -60 || origInside < -30 || before < -30 || after < -30 {
		t.Errorf("audio: muted range %.1f dB (original %.1f), before %.1f, after %.1f", inside, origInside, before, after)
	}
	must(t, "editor again", chromedp.Do(ctx, chromedp.Navigate(base+editHref)))
	waitJS(t, ctx, "editor ready", `document.getElementById('editor').dataset.ready === 'true'`, 60*time.Second)
	shot(t, ctx, dir, "e2e-03-saved")
}

// stageScreen maps source pixels of a srcW×srcH clip to viewport
// coordinates of the editor's video, letterboxed as object-fit: contain
// shows it (computed here, not asked of the editor).
func stageScreen(t *testing.T, ctx context.Context, srcW, srcH int) func(x, y float64) (float64, float64) {
	t.Helper()
	var g struct{ Left, Top, Width, Height, VW, VH float64 }
	must(t, "geometry", json.Unmarshal([]byte(evalT[string](t, ctx, `(() => { const s = document.getElementById("ed-stage"); s.scrollIntoView({block: "center"}); const r = s.getBoundingClientRect(); const v = document.getElementById("ed-video");
	  return JSON.stringify({Left: r.left, Top: r.top, Width: r.width, Height: r.height, VW: v.videoWidth, VH: v.videoHeight}); })()`)), &g))
	scale := math.Min(g.Width/g.VW, g.Height/g.VH)
	offX, offY := (g.Width-g.VW*scale)/2, (g.Height-g.VH*scale)/2
	return func(x, y float64) (float64, float64) {
		return g.Left + offX + x*g.VW*scale/float64(srcW), g.Top + offY + y*g.VH*scale/float64(srcH)
	}
}

// runJob starts a redaction job of kind on the clip and waits for it to
// complete.
func runJob(t *testing.T, c *caller, clipAPI, kind string) {
	t.Helper()
	st, m := c.do("POST", clipAPI+"/jobs", `{"kind":"`+kind+`"}`)
	if st != 202 {
		t.Fatalf("%s: %d %v", kind, st, m)
	}
	id := m["job"].(map[string]any)["id"].(float64)
	deadline := time.Now().Add(4 * time.Minute)
	for {
		_, m = c.do("GET", clipAPI+"/jobs", "")
		for _, j := range m["jobs"].([]any) {
			j := j.(map[string]any)
			if j["id"].(float64) != id {
				continue
			}
			switch j["state"] {
			case "completed":
				return
			case "cancelled", "discarded":
				t.Fatalf("%s job: %v", kind, j)
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s job still %v", kind, j)
			}
		}
		time.Sleep(250 * time.Millisecond)
	}
}

// pointerDrag presses the left button at (x1, y1), moves with it held and
// releases at (x2, y2): trusted input through the DevTools protocol.
func pointerDrag(t *testing.T, ctx context.Context, x1, y1, x2, y2 float64) {
	t.Helper()
	held := func(p *input.DispatchMouseEventParams) { p.Buttons = 1 }
	steps := []chromedp.Action[chromedp.Void]{chromedp.MouseEvent(chromedp.MouseMoved, x1, y1)}
	steps = append(steps, chromedp.MouseEvent(chromedp.MousePressed, x1, y1, chromedp.ButtonLeft, chromedp.ClickCount(1), held))
	for i := 1; i <= 8; i++ {
		f := float64(i) / 8
		steps = append(steps, chromedp.MouseEvent(chromedp.MouseMoved, x1+(x2-x1)*f, y1+(y2-y1)*f, chromedp.ButtonLeft, held))
	}
	steps = append(steps, chromedp.MouseEvent(chromedp.MouseReleased, x2, y2, chromedp.ButtonLeft, chromedp.ClickCount(1)))
	must(t, "drag", chromedp.Do(ctx, steps...))
}

func fetchBytes(t *testing.T, url, token string) []byte {
	t.Helper()
	req, _ := http.NewRequest("GET", url, nil)
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	must(t, "get "+url, err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	must(t, "read "+url, err)
	if resp.StatusCode != 200 {
		t.Fatalf("get %s: %d %s", url, resp.StatusCode, b)
	}
	return b
}

// grayFrame decodes the frame shown at sec (the middle of its frame
// interval) with the ffmpeg CLI, as 8-bit luma.
func grayFrame(t *testing.T, ffmpeg, file string, sec float64, w, h int) []byte {
	t.Helper()
	cmd := exec.Command(ffmpeg, "-v", "error", "-i", file, "-ss", strconv.FormatFloat(sec+0.02, 'f', 3, 64), "-frames:v", "1",
		"-f", "rawvideo", "-pix_fmt", "gray", "-")
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Run(); err != nil || out.Len() != w*h {
		t.Fatalf("decode %s at %.2fs: %v (%d bytes) %s", filepath.Base(file), sec, err, out.Len(), errb.String())
	}
	return out.Bytes()
}

// edgeEnergy is the mean absolute Laplacian of the luma inside box
// (x, y, w, h): high on a face's features and the wall's texture, low once
// blurred, pixelated or filled.
func edgeEnergy(pix []byte, stride int, box [4]int) float64 {
	var sum float64
	n := 0
	for y := box[1] + 1; y < box[1]+box[3]-1; y++ {
		for x := box[0] + 1; x < box[0]+box[2]-1; x++ {
			c := 4 * int(pix[y*stride+x])
			l := c - int(pix[y*stride+x-1]) - int(pix[y*stride+x+1]) - int(pix[(y-1)*stride+x]) - int(pix[(y+1)*stride+x])
			sum += math.Abs(float64(l))
			n++
		}
	}
	return sum / float64(n)
}

func meanAbsDiff(a, b []byte, stride int, box [4]int) float64 {
	var sum float64
	n := 0
	for y := box[1]; y < box[1]+box[3]; y++ {
		for x := box[0]; x < box[0]+box[2]; x++ {
			sum += math.Abs(float64(a[y*stride+x]) - float64(b[y*stride+x]))
			n++
		}
	}
	return sum / float64(n)
}

var maxVolumeRE = regexp.MustCompile(`max_volume: (-?[0-9.]+|-inf) dB`)

// maxVolume is ffmpeg's volumedetect peak of the audio in [start,
// start+dur), in dB (-inf as -200).
func maxVolume(t *testing.T, ffmpeg, file string, start, dur float64) float64 {
	t.Helper()
	out, err := exec.Command(ffmpeg, "-hide_banner", "-nostats", "-i", file, "-vn",
		"-af", fmt.Sprintf("atrim=start=%.3f:duration=%.3f,volumedetect", start, dur), "-f", "null", "-").CombinedOutput()
	if err != nil {
		t.Fatalf("volumedetect %s: %v\n%s", file, err, out)
	}
	mm := maxVolumeRE.FindSubmatch(out)
	if mm == nil {
		t.Fatalf("volumedetect %s: no max_volume in\n%s", file, out)
	}
	if string(mm[1]) == "-inf" {
		return -200
	}
	v, _ := strconv.ParseFloat(string(mm[1]), 64)
	return v
}
