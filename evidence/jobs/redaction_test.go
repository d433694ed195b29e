package jobs_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver/riverpgxv5"

	"github.com/opendems/opendems/configs"
	"github.com/opendems/opendems/evidence/jobs"
	"github.com/opendems/opendems/evidence/pg/pgtest"
	"github.com/opendems/opendems/evidence/request"
	"github.com/opendems/opendems/redact"
	"github.com/opendems/opendems/storage"
	"github.com/opendems/opendems/storage/fs"
)

func ffmpeg(t *testing.T, args ...string) []byte { return ffmpegB(t, args...) }

func ffmpegB(t testing.TB, args ...string) []byte {
	t.Helper()
	bin, err := exec.LookPath("ffmpeg")
	if err != nil {
		if os.Getenv("OPENDEMS_TEST_REQUIRE_SERVICES") == "1" {
			t.Fatal("ffmpeg CLI (test reference) not found")
		}
		t.Skip("ffmpeg CLI (test reference) not found")
	}
	var stderr bytes.Buffer
	cmd := exec.Command(bin, append([]string{"-nostdin", "-v", "error", "-y"}, args...)...)
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("ffmpeg %v: %v\n%s", args, err, stderr.String())
	}
	return out
}

// faceClip makes 4 s of 640×360 test pattern with the real face
// photograph of redact's testdata moving right, and a 440 Hz tone.
func faceClip(t *testing.T, path string) {
	ffmpeg(t, "-f", "lavfi", "-i", "testsrc2=size=640x360:rate=15:duration=4",
		"-loop", "1", "-framerate", "15", "-i", filepath.Join("..", "..", "redact", "testdata", "face.jpg"),
		"-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000:duration=4",
		"-filter_complex", "[1]scale=120:150,format=yuv420p[f];[0][f]overlay=x='100+40*t':y=80:shortest=1:eval=frame[v]",
		"-map", "[v]", "-map", "2", "-c:v", "libx264", "-preset", "ultrafast", "-crf", "16", "-pix_fmt", "yuv420p",
		"-c:a", "aac", "-t", "4", path)
}

type world struct {
	db       *pgtest.DB
	store    storage.Store
	requests *request.Store
	rita     request.Actor
	clip     request.Clip
	river    *river.Client[pgx.Tx]
	srcPath  string
}

func setup(t *testing.T, work bool) *world {
	t.Helper()
	ctx := context.Background()
	w := &world{db: pgtest.NewDB(t)}
	st, err := fs.New(t.TempDir(), nil)
	if err != nil {
		t.Fatal(err)
	}
	w.store = st
	settings, err := request.SettingsFrom(configs.Default().Requests)
	if err != nil {
		t.Fatal(err)
	}
	w.requests = request.NewStore(w.db.Pool, settings, request.Options{})
	var unit, uid uuid.UUID
	if err := w.db.Pool.QueryRow(ctx, `INSERT INTO units (slug, name, path) VALUES ('records', 'Records', 'records') RETURNING id`).Scan(&unit); err != nil {
		t.Fatal(err)
	}
	if err := w.db.Pool.QueryRow(ctx, `INSERT INTO users (username, role, unit_id, password_hash) VALUES ('rita', 'records', $1, 'x') RETURNING id`, unit).Scan(&uid); err != nil {
		t.Fatal(err)
	}
	w.rita = request.Actor{Name: "user:rita", UserID: uid}

	src := filepath.Join(t.TempDir(), "face.mp4")
	faceClip(t, src)
	w.srcPath = src
	data, err := os.ReadFile(src)
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(data)
	if _, err := st.Put(ctx, storage.Ref{Namespace: storage.Originals, Digest: sum}, int64(len(data)), bytes.NewReader(data), storage.PutOptions{}); err != nil {
		t.Fatal(err)
	}
	var item uuid.UUID
	if err := w.db.Pool.QueryRow(ctx, `INSERT INTO evidence_items (sha256, size, unit_id, metadata) VALUES ($1, $2, $3, '{"probe":{"duration":4}}') RETURNING id`,
		sum[:], len(data), unit).Scan(&item); err != nil {
		t.Fatal(err)
	}
	r, _, err := w.requests.Create(ctx, w.rita, request.Intake{RequesterName: "Ann", RequesterType: request.RequesterMedia,
		Contact: "ann@example.org", Description: "the stop", Channel: request.ChannelEmail})
	if err != nil {
		t.Fatal(err)
	}
	for _, in := range []request.TransitionInput{{To: request.StateAssigned, Assignee: "rita"}, {To: request.StateSearching}} {
		if _, err := w.requests.Transition(ctx, r.ID, w.rita, in); err != nil {
			t.Fatal(err)
		}
	}
	if w.clip, err = w.requests.AddClip(ctx, r.ID, w.rita, request.ClipInput{EvidenceID: item, InMs: 0, OutMs: 4000}); err != nil {
		t.Fatal(err)
	}
	cfg := &river.Config{}
	if work {
		ws := river.NewWorkers()
		river.AddWorker(ws, &jobs.RedactionWorker{Pool: w.db.Pool, Storage: st, Requests: w.requests, PreviewHeight: 180})
		cfg.Workers = ws
		cfg.Queues = map[string]river.QueueConfig{river.QueueDefault: {MaxWorkers: 1}}
		cfg.FetchPollInterval = 200 * time.Millisecond
	}
	if w.river, err = river.NewClient(riverpgxv5.New(w.db.Pool), cfg); err != nil {
		t.Fatal(err)
	}
	if work {
		if err := w.river.Start(ctx); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() {
			sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			w.river.Stop(sctx)
		})
	}
	return w
}

func (w *world) run(t *testing.T, kind string, version int) request.Job {
	t.Helper()
	j, err := w.requests.EnqueueJob(context.Background(), w.river, w.clip.ID, w.rita, kind, version)
	if err != nil {
		t.Fatal(err)
	}
	return w.wait(t, j)
}

// wait polls a job until it completes.
func (w *world) wait(t *testing.T, j request.Job) request.Job {
	t.Helper()
	ctx := context.Background()
	kind := j.Kind
	var err error
	deadline := time.Now().Add(2 * time.Minute)
	for time.Now().Before(deadline) {
		j, err = w.requests.Job(ctx, j.ID)
		if err != nil {
			t.Fatal(err)
		}
		switch j.State {
		case "completed":
			if j.Progress != 100 {
				t.Fatalf("completed job at %.0f %%", j.Progress)
			}
			return j
		case "cancelled", "discarded", "retryable":
			t.Fatalf("%s job %s: %s", kind, j.State, j.Message+" "+j.LastError)
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("%s job did not finish: %+v", kind, j)
	return j
}

func (w *world) output(t *testing.T, kind string) (request.JobOutput, []byte) {
	t.Helper()
	ctx := context.Background()
	outs, err := w.requests.JobOutputs(ctx, w.clip.ID)
	if err != nil {
		t.Fatal(err)
	}
	for _, o := range outs {
		if o.Kind != kind {
			continue
		}
		var d storage.Digest
		raw, err := hex.DecodeString(o.SHA256)
		if err != nil || copy(d[:], raw) != 32 {
			t.Fatalf("output sha256 %q", o.SHA256)
		}
		rc, err := w.store.Open(ctx, storage.Ref{Namespace: storage.Derivatives, Digest: d}, 0, -1)
		if err != nil {
			t.Fatal(err)
		}
		defer rc.Close()
		var buf bytes.Buffer
		if _, err := buf.ReadFrom(storage.NewHashingReader(rc, d, o.Size)); err != nil {
			t.Fatalf("stored %s output does not match its recorded SHA-256: %v", kind, err)
		}
		if o.SourceSHA256 != w.clip.SourceSHA256 {
			t.Fatalf("%s output names source %s, want %s", kind, o.SourceSHA256, w.clip.SourceSHA256)
		}
		return o, buf.Bytes()
	}
	t.Fatalf("no %s output", kind)
	return request.JobOutput{}, nil
}

// Detect proposes the moving face; rendering the proposals leaves no face
// for the leak check, while rendering a spec that misses the face is
// flagged frame by frame.
func TestRedactionJobsDetectRenderLeakCheck(t *testing.T) {
	w := setup(t, true)
	ctx := context.Background()
	w.run(t, request.JobDetect, 0)
	_, proposal := w.output(t, request.OutputDetect)
	spec, err := redact.Parse(proposal)
	if err != nil {
		t.Fatalf("proposal is not a valid spec: %v", err)
	}
	if len(spec.Regions) == 0 {
		t.Fatal("no face proposed")
	}
	for _, r := range spec.Regions {
		if r.Origin != redact.OriginAuto || r.Reason != "b(7)(C)" {
			t.Fatalf("proposal %+v", r)
		}
	}

	// A spec that misses the face: a box in the corner.
	miss := `{"version":1,"clip":{"source":"x"},"regions":[{"shape":"rectangle","effect":{"type":"fill"},"reason":"b(6)","origin":"manual",
		"keyframes":[{"time":0,"x":0,"y":300,"width":40,"height":40},{"time":4,"x":0,"y":300,"width":40,"height":40}]}]}`
	if _, err := w.requests.SaveSpec(ctx, w.clip.ID, w.rita, 0, []byte(miss), request.OriginEditor); err != nil {
		t.Fatal(err)
	}
	w.run(t, request.JobRender, 1)
	_, leakJSON := w.output(t, request.OutputLeakCheck)
	var leaks jobs.LeakReport
	if err := json.Unmarshal(leakJSON, &leaks); err != nil {
		t.Fatal(err)
	}
	// The proposals came from YuNet (the default); the check must include
	// the other model, pigo, so the two models' blind spots do not align.
	if leaks.Detector != redact.DetectorUnion {
		t.Errorf("leak check ran %q, want the union of YuNet and pigo", leaks.Detector)
	}
	if len(leaks.Flagged) < leaks.FramesAnalysed/2 || leaks.FramesAnalysed == 0 {
		t.Fatalf("unredacted face flagged in %d of %d analysed frames", len(leaks.Flagged), leaks.FramesAnalysed)
	}

	// Accept every proposal, add a manual box over the moving bar of the
	// test pattern and mute 1.0–2.0 s: the leak check flags nothing.
	spec.Regions = append(spec.Regions, redact.Region{Shape: redact.ShapeRectangle, Effect: redact.Effect{Type: redact.EffectFill},
		Reason: "b(6)", Origin: redact.OriginManual, Keyframes: []redact.Keyframe{{Time: 0, X: 500, Y: 250, Width: 100, Height: 80}, {Time: 4, X: 500, Y: 250, Width: 100, Height: 80}}})
	spec.Audio = append(spec.Audio, redact.AudioRange{Start: 1, End: 2, Action: redact.AudioMute, Reason: "b(7)(C)", Origin: redact.OriginManual})
	accepted, err := spec.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	v2, err := w.requests.SaveSpec(ctx, w.clip.ID, w.rita, 1, accepted, request.OriginEditor)
	if err != nil {
		t.Fatal(err)
	}
	w.run(t, request.JobRender, v2.Version)
	outs, _ := w.requests.JobOutputs(ctx, w.clip.ID)
	var render, check request.JobOutput
	for _, o := range outs { // newest first
		if o.Kind == request.OutputRender && render.ID == uuid.Nil {
			render = o
		}
		if o.Kind == request.OutputLeakCheck && check.ID == uuid.Nil {
			check = o
		}
	}
	if render.SpecVersion != v2.Version || check.SpecVersion != v2.Version {
		t.Fatalf("outputs of version %d: render %d, leak check %d", v2.Version, render.SpecVersion, check.SpecVersion)
	}
	var det map[string]any
	json.Unmarshal(check.Details, &det)
	if det["flagged_frames"] != float64(0) {
		t.Fatalf("redacted render still flagged: %v", det)
	}
	// Independent check with the ffmpeg CLI: the face is obscured, the
	// picture elsewhere is not, and the muted second is silent.
	_, rendered := w.output(t, request.OutputRender)
	renderPath := filepath.Join(t.TempDir(), "render.mp4")
	if err := os.WriteFile(renderPath, rendered, 0o600); err != nil {
		t.Fatal(err)
	}
	for _, at := range []float64{1, 2.5} {
		face := redact.Box{X: 100 + 40*at, Y: 80, W: 120, H: 150}
		src, out := grayFrame(t, w.srcPath, at), grayFrame(t, renderPath, at)
		inner := redact.Box{X: face.X + 0.2*face.W, Y: face.Y + 0.2*face.H, W: 0.6 * face.W, H: 0.6 * face.H}
		detailSrc, detailOut := gradient(src, inner), gradient(out, inner)
		t.Logf("t=%.1f: face detail %.1f (source %.1f)", at, detailOut, detailSrc)
		if detailOut > 0.35*detailSrc {
			t.Errorf("t=%.1f: face detail %.1f of the source's %.1f: not obscured", at, detailOut, detailSrc)
		}
		control := redact.Box{X: 20, Y: 260, W: 60, H: 60}
		if c1, c2 := gradient(src, control), gradient(out, control); c2 < 0.6*c1 {
			t.Errorf("t=%.1f: picture outside every region lost detail (%.1f → %.1f)", at, c1, c2)
		}
		if m := meanIn(out, redact.Box{X: 510, Y: 260, W: 80, H: 60}); m > 20 {
			t.Errorf("t=%.1f: manual black box has mean luma %.0f", at, m)
		}
	}
	pcm := audioRMS(t, renderPath)
	loud, muted, after := pcm(0.2, 0.9), pcm(1.1, 1.9), pcm(2.2, 3.5)
	t.Logf("audio RMS %.4f / %.6f / %.4f", loud, muted, after)
	if muted > 1e-4 || loud < 0.05 || after < 0.05 {
		t.Errorf("audio RMS before/in/after the muted range: %.4f %.6f %.4f", loud, muted, after)
	}

	// The preview renders the same spec quickly at low resolution (180
	// lines here), with the face obscured where the scaled spec puts it.
	w.run(t, request.JobPreview, 0)
	o, preview := w.output(t, request.OutputPreview)
	if o.SpecVersion != v2.Version {
		t.Fatalf("preview of version %d, want latest %d", o.SpecVersion, v2.Version)
	}
	previewPath := filepath.Join(t.TempDir(), "preview.mp4")
	if err := os.WriteFile(previewPath, preview, 0o600); err != nil {
		t.Fatal(err)
	}
	if m, err := redact.Probe(ctx, previewPath); err != nil || m.Width != 320 || m.Height != 180 {
		t.Fatalf("preview is %dx%d (%v), want 320x180", m.Width, m.Height, err)
	}
	// The reference is the source through the same down- and upscaling.
	small := filepath.Join(t.TempDir(), "small.mp4")
	ffmpeg(t, "-i", w.srcPath, "-vf", "scale=320:180", "-c:v", "libx264", "-crf", "10", "-an", small)
	for _, at := range []float64{1, 2.5} {
		face := redact.Box{X: 100 + 40*at, Y: 80, W: 120, H: 150}
		inner := redact.Box{X: face.X + 0.2*face.W, Y: face.Y + 0.2*face.H, W: 0.6 * face.W, H: 0.6 * face.H}
		src, out := grayFrame(t, small, at), grayFrame(t, previewPath, at)
		if d, ds := gradient(out, inner), gradient(src, inner); d > 0.35*ds {
			t.Errorf("preview t=%.1f: face detail %.1f of the scaled source's %.1f: not obscured", at, d, ds)
		}
		control := redact.Box{X: 20, Y: 260, W: 60, H: 60}
		if c1, c2 := gradient(src, control), gradient(out, control); c2 < 0.6*c1 {
			t.Errorf("preview t=%.1f: picture outside every region lost detail (%.1f → %.1f)", at, c1, c2)
		}
	}
}

func TestRedactionJobCancelAndRefusals(t *testing.T) {
	w := setup(t, false) // no workers: jobs wait in the queue
	ctx := context.Background()
	if _, err := w.requests.EnqueueJob(ctx, w.river, w.clip.ID, w.rita, request.JobRender, 0); err == nil || !strings.Contains(err.Error(), "no saved spec") {
		t.Fatalf("render without a spec: %v", err)
	}
	if _, err := w.requests.EnqueueJob(ctx, w.river, w.clip.ID, w.rita, "transcode", 0); err == nil {
		t.Fatal("unknown job kind accepted")
	}
	j, err := w.requests.EnqueueJob(ctx, w.river, w.clip.ID, w.rita, request.JobDetect, 0)
	if err != nil {
		t.Fatal(err)
	}
	if j.State != "available" || j.MaxAttempts != request.RedactionMaxAttempts {
		t.Fatalf("queued job %+v", j)
	}
	if j, err = w.requests.CancelJob(ctx, w.river, j.ID, w.rita); err != nil || j.State != "cancelled" {
		t.Fatalf("cancel: %v %+v", err, j)
	}
	if _, err := w.requests.CancelJob(ctx, w.river, j.ID, w.rita); err == nil {
		t.Fatal("cancelled twice")
	}
	// Track jobs: bad boxes and times are refused before queueing; a
	// queued one can be cancelled like the others.
	for _, bad := range []struct {
		at  float64
		box request.TrackBox
	}{
		{9, request.TrackBox{X: 10, Y: 10, Width: 40, Height: 40}}, // after the clip
		{1, request.TrackBox{X: 10, Y: 10, Width: 2, Height: 40}},
		{1, request.TrackBox{X: -5, Y: 10, Width: 40, Height: 40}},
		{math.NaN(), request.TrackBox{X: 10, Y: 10, Width: 40, Height: 40}},
	} {
		var ie *request.InvalidError
		if _, err := w.requests.EnqueueTrack(ctx, w.river, w.clip.ID, w.rita, bad.at, bad.box); !errors.As(err, &ie) {
			t.Errorf("track %v %+v: %v", bad.at, bad.box, err)
		}
	}
	if _, err := w.requests.EnqueueJob(ctx, w.river, w.clip.ID, w.rita, request.JobTrack, 0); err == nil {
		t.Error("a track job without a box was accepted")
	}
	tj, err := w.requests.EnqueueTrack(ctx, w.river, w.clip.ID, w.rita, 1, request.TrackBox{X: 10, Y: 10, Width: 40, Height: 40})
	if err != nil || tj.Kind != request.JobTrack {
		t.Fatalf("track job %+v: %v", tj, err)
	}
	if tj, err = w.requests.CancelJob(ctx, w.river, tj.ID, w.rita); err != nil || tj.State != "cancelled" {
		t.Fatalf("cancel track: %v %+v", err, tj)
	}
	list, err := w.requests.Jobs(ctx, w.clip.ID)
	if err != nil || len(list) != 2 {
		t.Fatalf("jobs %+v %v", list, err)
	}
}

// A track job follows the moving face from a box drawn at 2 s through
// the whole clip and stores the keyframes as a track output.
func TestRedactionTrackJob(t *testing.T) {
	w := setup(t, true)
	ctx := context.Background()
	face := func(at float64) request.TrackBox {
		return request.TrackBox{X: 100 + 40*at, Y: 80, Width: 120, Height: 150}
	}
	j, err := w.requests.EnqueueTrack(ctx, w.river, w.clip.ID, w.rita, 2, face(2))
	if err != nil {
		t.Fatal(err)
	}
	w.wait(t, j)
	o, raw := w.output(t, request.OutputTrack)
	if o.JobID != j.ID || o.SpecVersion != 0 {
		t.Fatalf("track output %+v", o)
	}
	var res jobs.TrackResult
	if err := json.Unmarshal(raw, &res); err != nil {
		t.Fatal(err)
	}
	if res.Start > 0.2 || res.End < 3.8 || len(res.Keyframes) < 2 {
		t.Fatalf("tracked %.2f..%.2f with %d keyframes", res.Start, res.End, len(res.Keyframes))
	}
	r := redact.Region{Keyframes: res.Keyframes}
	for _, at := range []float64{0.5, 1.5, 3, 3.7} {
		b, ok := r.BoxAt(at)
		if want := face(at); !ok || math.Abs(b.X-want.X) > 8 || math.Abs(b.Y-want.Y) > 8 {
			t.Errorf("t=%.1f: tracked %v (ok %v), face at %+v", at, b, ok, want)
		}
	}
	var det map[string]any
	json.Unmarshal(o.Details, &det)
	if _, ok := det["result"].(map[string]any)["keyframes"]; !ok {
		t.Errorf("output details lack the keyframes: %v", det)
	}
}

func TestFindLeaks(t *testing.T) {
	spec := &redact.Spec{Clip: redact.Clip{In: 10},
		Regions:       []redact.Region{{Keyframes: []redact.Keyframe{{Time: 10, X: 0, Y: 0, Width: 100, Height: 100}, {Time: 12, X: 200, Y: 0, Width: 100, Height: 100}}}},
		FullFrameBlur: []redact.FullFrameBlur{{Start: 13, End: 14}}}
	obs := []redact.Observation{
		{T: 0, Detections: []redact.Detection{{Box: redact.Box{X: 10, Y: 10, W: 50, H: 50}}}},    // inside at 10 s
		{T: 1, Detections: []redact.Detection{{Box: redact.Box{X: 10, Y: 10, W: 50, H: 50}}}},    // region moved to x 100..200: leak
		{T: 1, Detections: []redact.Detection{{Box: redact.Box{X: 120, Y: 10, W: 50, H: 50}}}},   // inside at 11 s
		{T: 2.5, Detections: []redact.Detection{{Box: redact.Box{X: 210, Y: 10, W: 50, H: 50}}}}, // after the region ends: leak
		{T: 3.5, Detections: []redact.Detection{{Box: redact.Box{X: 500, Y: 10, W: 50, H: 50}}}}, // full-frame blur
	}
	rep := FindLeaksForTest(spec, obs)
	if len(rep.Flagged) != 2 || rep.Flagged[0].SourceTime != 11 || rep.Flagged[1].SourceTime != 12.5 {
		t.Fatalf("flagged %+v", rep.Flagged)
	}
}

func FindLeaksForTest(spec *redact.Spec, obs []redact.Observation) *jobs.LeakReport {
	return jobs.FindLeaks(spec, obs, len(obs))
}

// grayFrame decodes the frame at t seconds as 640×360 8-bit luma with the
// ffmpeg CLI.
func grayFrame(t *testing.T, path string, at float64) []byte {
	t.Helper()
	b := ffmpeg(t, "-ss", fmt.Sprint(at), "-i", path, "-frames:v", "1", "-f", "rawvideo", "-pix_fmt", "gray", "-s", "640x360", "-")
	if len(b) != 640*360 {
		t.Fatalf("frame of %s at %.1f: %d bytes", path, at, len(b))
	}
	return b
}

// gradient is the mean absolute horizontal and vertical luma difference
// inside box: high for a sharp face, low for a blurred one.
func gradient(img []byte, b redact.Box) float64 {
	var sum float64
	var n int
	for y := int(b.Y); y < int(b.Y+b.H)-1; y++ {
		for x := int(b.X); x < int(b.X+b.W)-1; x++ {
			p := float64(img[y*640+x])
			sum += math.Abs(p-float64(img[y*640+x+1])) + math.Abs(p-float64(img[(y+1)*640+x]))
			n++
		}
	}
	return sum / float64(n)
}

func meanIn(img []byte, b redact.Box) float64 {
	var sum float64
	var n int
	for y := int(b.Y); y < int(b.Y+b.H); y++ {
		for x := int(b.X); x < int(b.X+b.W); x++ {
			sum += float64(img[y*640+x])
			n++
		}
	}
	return sum / float64(n)
}

// audioRMS decodes the audio with the ffmpeg CLI (mono float, 48 kHz) and
// returns the RMS of a time range.
func audioRMS(t *testing.T, path string) func(from, to float64) float64 {
	t.Helper()
	raw := ffmpeg(t, "-i", path, "-vn", "-ac", "1", "-ar", "48000", "-f", "f32le", "-")
	samples := make([]float32, len(raw)/4)
	for i := range samples {
		samples[i] = math.Float32frombits(binary.LittleEndian.Uint32(raw[4*i:]))
	}
	return func(from, to float64) float64 {
		a, b := int(from*48000), min(int(to*48000), len(samples))
		var sum float64
		for _, v := range samples[a:b] {
			sum += float64(v) * float64(v)
		}
		return math.Sqrt(sum / float64(max(b-a, 1)))
	}
}

// A detect job on a clip in the middle of the item proposes only within
// the clip, in source seconds, where the face is.
func TestRedactionDetectClipRange(t *testing.T) {
	w := setup(t, true)
	ctx := context.Background()
	mid, err := w.requests.AddClip(ctx, w.clip.RequestID, w.rita, request.ClipInput{EvidenceID: w.clip.EvidenceID, InMs: 1500, OutMs: 3000})
	if err != nil {
		t.Fatal(err)
	}
	w.clip = mid
	w.run(t, request.JobDetect, 0)
	o, proposal := w.output(t, request.OutputDetect)
	spec, err := redact.Parse(proposal)
	if err != nil {
		t.Fatal(err)
	}
	if spec.Clip.In != 1.5 || spec.Clip.Out != 3 || len(spec.Regions) != 1 {
		t.Fatalf("proposal clip %+v with %d regions", spec.Clip, len(spec.Regions))
	}
	r := spec.Regions[0]
	if s, e := r.Window(); s < 1.5 || e > 3 {
		t.Errorf("proposal window %.3f..%.3f outside the clip 1.5..3", s, e)
	}
	for _, at := range []float64{1.6, 2.2, 2.9} {
		b, ok := r.BoxAt(at)
		cx := 100 + 40*at + 60 // the photograph's centre (faceClip)
		if !ok || b.X > cx-30 || b.X+b.W < cx+30 {
			t.Errorf("t=%.1f: proposal %v (ok %v) misses the face centred at x=%.0f", at, b, ok, cx)
		}
	}
	var det map[string]any
	json.Unmarshal(o.Details, &det)
	if n := det["frames_analysed"].(float64); n < 10 || n > 13 { // 1.5 s at 15 fps, every 2nd frame
		t.Errorf("analysed %v frames, want about 12 (the clip only)", n)
	}
}
