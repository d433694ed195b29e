package redact

import (
	"context"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/opendems/opendems/transcode"
)

func TestRenderRedactsExactlyTheWindows(t *testing.T) {
	dir := t.TempDir()
	src := filepath.Join(dir, "src.mp4")
	c := clipSpec{width: 320, height: 240, fps: 25, seconds: 4, faceW: 96, faceH: 120, x0: 20, y0: 60, vx: 40, audio: true}
	makeClip(t, src, c)

	f1, f2 := c.faceAt(1), c.faceAt(2)
	spec, err := Parse([]byte(fmt.Sprintf(`{
	  "version": 1, "clip": {"source": "test-item"},
	  "regions": [
	    {"id": "face", "shape": "rectangle", "effect": {"type": "blur", "strength": 40}, "reason": "b6", "origin": "manual",
	     "keyframes": [{"time": 1, "x": %g, "y": %g, "width": %g, "height": %g}, {"time": 2, "x": %g, "y": %g, "width": %g, "height": %g}]},
	    {"id": "sign", "shape": "rectangle", "effect": {"type": "fill", "color": "#ff00ff"}, "reason": "address", "origin": "manual",
	     "keyframes": [{"time": 2.6, "x": 200, "y": 10, "width": 100, "height": 50}, {"time": 3.2, "x": 200, "y": 10, "width": 100, "height": 50}]}
	  ],
	  "audio": [
	    {"start": 0.5, "end": 1.5, "action": "mute", "reason": "name"},
	    {"start": 2.5, "end": 3.5, "action": "bleep", "reason": "address"}
	  ]}`, f1.X, f1.Y, f1.W, f1.H, f2.X, f2.Y, f2.W, f2.H)))
	if err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(dir, "out.mp4")
	var last Progress
	rep, err := Render(context.Background(), spec, src, out, RenderOptions{Threads: 1, Progress: func(p Progress) { last = p }})
	if err != nil {
		t.Fatal(err)
	}
	if last.Frames != 100 || last.Total < 3.9 {
		t.Errorf("last progress %+v", last)
	}

	srcFrames := grayFrames(t, src, c.width, c.height)
	outFrames := grayFrames(t, out, c.width, c.height)
	if len(srcFrames) != 100 || len(outFrames) != len(srcFrames) {
		t.Fatalf("frames: source %d, output %d", len(srcFrames), len(outFrames))
	}
	sign := Box{200, 10, 100, 50}
	for i := range srcFrames {
		ts := float64(i) / 25
		a, b := srcFrames[i], outFrames[i]
		inFace := i >= 25 && i <= 50 // [1.0, 2.0] inclusive
		inSign := i >= 65 && i <= 80 // [2.6, 3.2]
		face := c.faceAt(ts)
		switch {
		case inFace:
			_, gA, gB := rectStats(a, b, c.width, inset(face, 0.1))
			if gB > 0.3*gA {
				t.Errorf("frame %d (%.2fs): face not obscured: texture %.2f vs source %.2f", i, ts, gB, gA)
			}
		case inSign:
			mad, _, gB := rectStats(a, b, c.width, inset(sign, 0.05))
			if mad < 30 || gB > 1 {
				t.Errorf("frame %d (%.2fs): sign not filled: diff %.1f, texture %.2f", i, ts, mad, gB)
			}
		default:
			if p := psnr(a, b); p < 32 {
				t.Errorf("frame %d (%.2fs) outside every window differs from source: PSNR %.1f dB", i, ts, p)
			}
		}
		// Frames just outside the face window keep the face.
		if i == 24 || i == 51 {
			mad, _, _ := rectStats(a, b, c.width, inset(face, 0.1))
			if mad > 6 {
				t.Errorf("frame %d (%.2fs) just outside the window changed: diff %.1f", i, ts, mad)
			}
		}
	}

	samples := audioSamples(t, out)
	sec := func(a, b float64) []float32 { return samples[int(a*48000):int(b*48000)] }
	if r := rms(sec(0.55, 1.45)); r > 1e-4 {
		t.Errorf("muted range not silent: rms %g", r)
	}
	if r := rms(sec(0.1, 0.45)); r < 0.03 {
		t.Errorf("audio before the mute is missing: rms %g", r)
	}
	bl := sec(2.55, 3.45)
	if p1, p4 := goertzel(bl, 1000, 48000), goertzel(bl, 440, 48000); p1 < 100*p4 {
		t.Errorf("bleep range: 1 kHz power %g not dominant over 440 Hz %g", p1, p4)
	}
	tail := sec(3.6, 3.95)
	if p1, p4 := goertzel(tail, 1000, 48000), goertzel(tail, 440, 48000); p4 < 100*p1 {
		t.Errorf("after the bleep the original tone should be back: 440 Hz %g, 1 kHz %g", p4, p1)
	}

	// Report: beside the output, with hashes and every item.
	jp, cp := ReportPaths(out)
	var got Report
	b, err := os.ReadFile(jp)
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, &got); err != nil {
		t.Fatal(err)
	}
	srcDigest, _ := hashFile(context.Background(), src)
	outDigest, _ := hashFile(context.Background(), out)
	if got.Source.SHA256 != srcDigest.SHA256 || got.Output.SHA256 != outDigest.SHA256 || got.Output.SHA256 == "" {
		t.Errorf("report hashes %s / %s, want %s / %s", got.Source.SHA256, got.Output.SHA256, srcDigest.SHA256, outDigest.SHA256)
	}
	wantFrames := map[string]int{"face": 26, "sign": 16}
	for _, it := range got.Items {
		if it.Kind == KindRegion && it.Frames != wantFrames[it.ID] {
			t.Errorf("report item %s: %d frames, want %d", it.ID, it.Frames, wantFrames[it.ID])
		}
		if it.Kind == KindAudio && (it.Samples < 47000 || it.Samples > 49000) {
			t.Errorf("report item %s: %d samples, want ~48000", it.ID, it.Samples)
		}
	}
	if len(got.Items) != 4 || rep.Frames != 100 {
		t.Errorf("report: %d items, %d frames", len(got.Items), rep.Frames)
	}
	cf, err := os.Open(cp)
	if err != nil {
		t.Fatal(err)
	}
	defer cf.Close()
	rows, err := csv.NewReader(cf).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	if len(rows) != 5 || rows[1][0] != "face" || rows[1][13] != srcDigest.SHA256 || rows[1][14] != outDigest.SHA256 {
		t.Errorf("csv report: %v", rows)
	}
}

func TestRenderClipRangeAndSlate(t *testing.T) {
	dir := t.TempDir()
	src := filepath.Join(dir, "src.mp4")
	c := clipSpec{width: 320, height: 240, fps: 25, seconds: 4, faceW: 96, faceH: 120, x0: 20, y0: 60, vx: 40, audio: true}
	makeClip(t, src, c)
	spec, err := Parse([]byte(`{"version": 1, "clip": {"source": "x", "in": 1, "out": 3},
	  "full_frame_blur": [{"start": 2, "end": 2.2, "reason": "graphic"}],
	  "slate": {"text": "REQ-7 REDACTED", "position": "top-left", "size": 26}}`))
	if err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(dir, "out.mp4")
	rep, err := Render(context.Background(), spec, src, out, RenderOptions{Threads: 1})
	if err != nil {
		t.Fatal(err)
	}
	srcFrames := grayFrames(t, src, c.width, c.height)
	outFrames := grayFrames(t, out, c.width, c.height)
	// [1.0, 3.0] inclusive at 25 fps is 51 frames; output frame j is source frame 25+j.
	if len(outFrames) != 51 || rep.Frames != 51 {
		t.Fatalf("output has %d frames (report %d), want 51", len(outFrames), rep.Frames)
	}
	lower := func(f []byte) []byte { return f[len(f)/2:] } // below the slate
	for j, f := range outFrames {
		ts := 1 + float64(j)/25
		p := psnr(lower(srcFrames[25+j]), lower(f))
		blurred := j >= 25 && j <= 30 // [2.0, 2.2]
		if blurred && p > 25 {
			t.Errorf("frame at %.2fs should be blurred: PSNR %.1f", ts, p)
		}
		if !blurred && p < 32 {
			t.Errorf("frame at %.2fs should match source %d: PSNR %.1f", ts, 25+j, p)
		}
		// The slate's black box is in the top-left corner of every frame.
		if v := f[10*c.width+6]; v > 30 {
			t.Errorf("frame at %.2fs: no slate (luma %d)", ts, v)
		}
	}
	samples := audioSamples(t, out)
	if d := float64(len(samples)) / 48000; d < 1.95 || d > 2.1 {
		t.Errorf("audio lasts %.3fs, want ~2s", d)
	}
	if rep.In != 1 || rep.Out != 3 {
		t.Errorf("report range [%g, %g], want [1, 3]", rep.In, rep.Out)
	}
	// Open-ended: the report names the last rendered frame's source time.
	spec.Clip = Clip{Source: "x", In: 2.5}
	rep, err = Render(context.Background(), spec, src, out, RenderOptions{Threads: 1})
	if err != nil {
		t.Fatal(err)
	}
	if rep.In != 2.5 || rep.Out != 3.96 || rep.Frames != 37 {
		t.Errorf("open-ended report: range [%g, %g], %d frames; want [2.5, 3.96], 37", rep.In, rep.Out, rep.Frames)
	}
}

func TestRenderRejectsBadInput(t *testing.T) {
	dir := t.TempDir()
	spec, err := Parse([]byte(`{"version": 1, "clip": {"source": "x"}}`))
	if err != nil {
		t.Fatal(err)
	}
	corrupt := filepath.Join(dir, "corrupt.mp4")
	if err := os.WriteFile(corrupt, []byte(strings.Repeat("not a video ", 1000)), 0o644); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(dir, "out.mp4")
	_, err = Render(context.Background(), spec, corrupt, out, RenderOptions{})
	if !errors.Is(err, transcode.ErrCorruptMedia) {
		t.Errorf("corrupt input: %v, want ErrCorruptMedia", err)
	}
	if _, serr := os.Stat(out); serr == nil {
		t.Error("output left behind after failure")
	}

	// Truncated real file: fails clearly or renders what is there, never hangs.
	src := filepath.Join(dir, "src.mp4")
	makeClip(t, src, clipSpec{width: 160, height: 120, fps: 10, seconds: 2, faceW: 48, faceH: 60, x0: 10, y0: 10})
	b, _ := os.ReadFile(src)
	trunc := filepath.Join(dir, "trunc.mp4")
	os.WriteFile(trunc, b[:len(b)/3], 0o644)
	if _, err := Render(context.Background(), spec, trunc, out, RenderOptions{}); err == nil || !errors.Is(err, transcode.ErrCorruptMedia) {
		t.Errorf("truncated input: %v, want ErrCorruptMedia", err)
	}

	// A spec that does not fit the media is refused before anything is written.
	bad, err := Parse([]byte(`{"version": 1, "clip": {"source": "x"}, "regions": [{"shape": "rectangle", "effect": {"type": "fill"},
	  "reason": "r", "origin": "manual", "keyframes": [{"time": 5, "x": 0, "y": 0, "width": 10, "height": 10}]}]}`))
	if err != nil {
		t.Fatal(err)
	}
	_, err = Render(context.Background(), bad, src, out, RenderOptions{})
	if !errors.Is(err, ErrInvalidSpec) || !strings.Contains(err.Error(), "regions[0].keyframes[0].time: after end of media (5.0s > 2.0s)") {
		t.Errorf("spec past the end: %v", err)
	}
	if _, serr := os.Stat(out); serr == nil {
		t.Error("output written for an invalid spec")
	}

	// Cancellation stops the job and leaves no output.
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := Render(ctx, spec, src, out, RenderOptions{}); !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled: %v", err)
	}
	if _, err := Render(context.Background(), spec, filepath.Join(dir, "missing.mp4"), out, RenderOptions{}); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("missing input: %v", err)
	}
}

func TestRenderSeeksToLateInPoint(t *testing.T) {
	dir := t.TempDir()
	src := filepath.Join(dir, "src.mp4")
	c := clipSpec{width: 160, height: 120, fps: 10, seconds: 8, faceW: 48, faceH: 60, x0: 10, y0: 10, vx: 10, audio: true,
		codec: []string{"-c:v", "libx264", "-preset", "ultrafast", "-crf", "16", "-pix_fmt", "yuv420p", "-g", "10"}}
	makeClip(t, src, c)
	spec, err := Parse([]byte(`{"version": 1, "clip": {"source": "x", "in": 5.3, "out": 6},
	  "regions": [{"shape": "rectangle", "effect": {"type": "fill"}, "reason": "r", "origin": "manual",
	    "keyframes": [{"time": 5.5, "x": 0, "y": 0, "width": 160, "height": 120}, {"time": 5.7, "x": 0, "y": 0, "width": 160, "height": 120}]}]}`))
	if err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(dir, "out.mp4")
	if _, err := Render(context.Background(), spec, src, out, RenderOptions{Threads: 1}); err != nil {
		t.Fatal(err)
	}
	srcFrames := grayFrames(t, src, c.width, c.height)
	outFrames := grayFrames(t, out, c.width, c.height)
	// [5.3, 6.0] at 10 fps: source frames 53..60.
	if len(outFrames) != 8 {
		t.Fatalf("%d output frames, want 8", len(outFrames))
	}
	for j, f := range outFrames {
		i := 53 + j
		filled := i >= 55 && i <= 57
		p := psnr(srcFrames[i], f)
		if filled && p > 15 || !filled && p < 30 {
			t.Errorf("output frame %d (source %d, filled %v): PSNR %.1f", j, i, filled, p)
		}
	}
}

// A phone recording stored sideways with a display rotation renders
// upright, with spec coordinates in the upright picture, exactly like the
// ffmpeg CLI's autorotated decode of the source.
func TestRenderAppliesRotation(t *testing.T) {
	dir := t.TempDir()
	stored := filepath.Join(dir, "stored.mp4")
	c := clipSpec{width: 160, height: 120, fps: 10, seconds: 2, faceW: 48, faceH: 60, x0: 10, y0: 20, vx: 20}
	makeClip(t, stored, c)
	src := filepath.Join(dir, "rotated.mp4")
	runFFmpeg(t, "-i", stored, "-c", "copy", "-metadata:s:v:0", "rotate=90", src)
	media, err := Probe(context.Background(), src)
	if err != nil {
		t.Fatal(err)
	}
	if media.Width != 120 || media.Height != 160 || (media.Rotation != 90 && media.Rotation != 270) {
		t.Fatalf("probe: %+v, want upright 120x160 rotated 90", media)
	}
	spec, err := Parse([]byte(`{"version": 1, "clip": {"source": "x"}, "regions": [{"shape": "rectangle", "effect": {"type": "fill"},
	  "reason": "r", "origin": "manual", "keyframes": [{"time": 0.5, "x": 10, "y": 100, "width": 100, "height": 50}, {"time": 1, "x": 10, "y": 100, "width": 100, "height": 50}]}]}`))
	if err != nil {
		t.Fatal(err)
	}
	// Off the upright frame, though it would fit the stored one.
	wide, _ := Parse([]byte(`{"version": 1, "clip": {"source": "x"}, "regions": [{"shape": "rectangle", "effect": {"type": "fill"},
	  "reason": "r", "origin": "manual", "keyframes": [{"time": 0.5, "x": 0, "y": 0, "width": 150, "height": 10}]}]}`))
	if err := wide.ValidateMedia(media); err == nil {
		t.Error("box wider than the upright frame accepted")
	}
	out := filepath.Join(dir, "out.mp4")
	if _, err := Render(context.Background(), spec, src, out, RenderOptions{Threads: 1}); err != nil {
		t.Fatal(err)
	}
	srcFrames := grayFrames(t, src, 120, 160) // the CLI autorotates
	outFrames := grayFrames(t, out, 120, 160)
	if len(outFrames) != len(srcFrames) || len(outFrames) != 20 {
		t.Fatalf("frames: source %d, output %d", len(srcFrames), len(outFrames))
	}
	top := Box{0, 0, 120, 95}
	for i := range outFrames {
		mad, _, _ := rectStats(srcFrames[i], outFrames[i], 120, top)
		if mad > 4 {
			t.Errorf("frame %d: upright picture outside the region differs from the autorotated source (diff %.1f)", i, mad)
		}
		fill, _, tex := rectStats(srcFrames[i], outFrames[i], 120, Box{12, 102, 96, 46})
		if inWin := i >= 5 && i <= 10; inWin && (fill < 20 || tex > 1) {
			t.Errorf("frame %d: region not filled (diff %.1f, texture %.2f)", i, fill, tex)
		} else if !inWin && fill > 4 {
			t.Errorf("frame %d: outside the window the region changed (diff %.1f)", i, fill)
		}
	}
}

// Audio-only evidence (a call, an interview) can be muted and bleeped; the
// result is an AAC-only MP4. Anything visual is refused.
func TestRenderAudioOnly(t *testing.T) {
	dir := t.TempDir()
	src := filepath.Join(dir, "call.m4a")
	runFFmpeg(t, "-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000:duration=3", "-c:a", "aac", "-b:a", "128k", src)
	spec, err := Parse([]byte(`{"version": 1, "clip": {"source": "call"}, "audio": [{"start": 1, "end": 2, "action": "mute", "reason": "name"}]}`))
	if err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(dir, "out.mp4")
	rep, err := Render(context.Background(), spec, src, out, RenderOptions{})
	if err != nil {
		t.Fatal(err)
	}
	samples := audioSamples(t, out)
	if r := rms(samples[int(1.05*48000):int(1.95*48000)]); r > 1e-4 {
		t.Errorf("muted range rms %g", r)
	}
	if r := rms(samples[int(0.1*48000):int(0.9*48000)]); r < 0.03 {
		t.Errorf("audio before the mute missing: rms %g", r)
	}
	if rep.Frames != 0 || rep.Samples < 140000 || rep.Out < 2.9 {
		t.Errorf("report: %d frames, %d samples, out %g", rep.Frames, rep.Samples, rep.Out)
	}
	visual, _ := Parse([]byte(`{"version": 1, "clip": {"source": "call"}, "slate": {"text": "X"}}`))
	if _, err := Render(context.Background(), visual, src, out, RenderOptions{}); !errors.Is(err, ErrInvalidSpec) || !strings.Contains(err.Error(), "slate: media has no video stream") {
		t.Errorf("slate on audio-only media: %v", err)
	}
}
