package redact

import (
	"context"
	"fmt"
	"path/filepath"
	"testing"
	"time"
)

// TestRenderScaledPreview renders the same spec at full size and scaled to
// 180 lines (the editor's preview): the preview has the asked height, its
// regions are obscured where the scaled spec puts them (checked against
// the source scaled by the ffmpeg CLI), frames outside every window match
// that reference, and the time it took is logged beside the full render's.
func TestRenderScaledPreview(t *testing.T) {
	dir := t.TempDir()
	src := filepath.Join(dir, "src.mp4")
	c := clipSpec{width: 640, height: 360, fps: 25, seconds: 4, faceW: 160, faceH: 200, x0: 20, y0: 80, vx: 60, audio: true}
	makeClip(t, src, c)
	f1, f2 := c.faceAt(1), c.faceAt(2)
	spec, err := Parse([]byte(fmt.Sprintf(`{
	  "version": 1, "clip": {"source": "test-item"},
	  "regions": [
	    {"id": "face", "shape": "rectangle", "effect": {"type": "blur", "strength": 40}, "reason": "b6", "origin": "manual",
	     "keyframes": [{"time": 1, "x": %g, "y": %g, "width": %g, "height": %g}, {"time": 2, "x": %g, "y": %g, "width": %g, "height": %g}]},
	    {"id": "sign", "shape": "rectangle", "effect": {"type": "fill", "color": "#000000"}, "reason": "address", "origin": "manual",
	     "keyframes": [{"time": 2.6, "x": 400, "y": 20, "width": 200, "height": 100}, {"time": 3.2, "x": 400, "y": 20, "width": 200, "height": 100}]}
	  ]}`, f1.X, f1.Y, f1.W, f1.H, f2.X, f2.Y, f2.W, f2.H)))
	if err != nil {
		t.Fatal(err)
	}
	full, small := filepath.Join(dir, "full.mp4"), filepath.Join(dir, "small.mp4")
	t0 := time.Now()
	if _, err := Render(context.Background(), spec, src, full, RenderOptions{Preset: "ultrafast", CRF: 35, SkipReportFiles: true}); err != nil {
		t.Fatal(err)
	}
	fullTime := time.Since(t0)
	t0 = time.Now()
	rep, err := Render(context.Background(), spec, src, small, RenderOptions{Preset: "ultrafast", CRF: 35, MaxHeight: 180, SkipReportFiles: true})
	if err != nil {
		t.Fatal(err)
	}
	smallTime := time.Since(t0)
	t.Logf("full render %v, preview at 180 lines %v (%.2fx faster)", fullTime, smallTime, fullTime.Seconds()/smallTime.Seconds())
	m, err := Probe(context.Background(), small)
	if err != nil {
		t.Fatal(err)
	}
	if m.Width != 320 || m.Height != 180 {
		t.Fatalf("preview is %dx%d, want 320x180", m.Width, m.Height)
	}
	if rep.Frames != 100 {
		t.Errorf("preview has %d frames, want 100", rep.Frames)
	}
	for _, it := range rep.Items {
		if it.ID == "face" && it.Frames != 26 {
			t.Errorf("report: face treated on %d frames, want 26", it.Frames)
		}
	}
	// The reference: the source scaled the same way by the CLI.
	ref := filepath.Join(dir, "ref.mp4")
	runFFmpeg(t, "-i", src, "-vf", "scale=320:180:flags=bilinear", "-c:v", "libx264", "-preset", "ultrafast", "-crf", "10", "-an", ref)
	refFrames, outFrames := grayFrames(t, ref, 320, 180), grayFrames(t, small, 320, 180)
	if len(outFrames) != len(refFrames) {
		t.Fatalf("frames: reference %d, preview %d", len(refFrames), len(outFrames))
	}
	half := func(b Box) Box { return Box{b.X / 2, b.Y / 2, b.W / 2, b.H / 2} }
	sign := half(Box{400, 20, 200, 100})
	for i := range outFrames {
		ts := float64(i) / 25
		a, b := refFrames[i], outFrames[i]
		face := half(c.faceAt(ts))
		switch {
		case i >= 25 && i <= 50:
			// Blurred with a radius relative to the scaled box: the texture
			// inside the box is a fraction of the source's.
			if _, gA, gB := rectStats(a, b, 320, inset(face, 0.1)); gB > 0.4*gA {
				t.Errorf("frame %d: face not obscured at the scaled place: texture %.2f vs source %.2f", i, gB, gA)
			}
		case i >= 65 && i <= 80:
			if mad, _, gB := rectStats(a, b, 320, inset(sign, 0.05)); mad < 30 || gB > 1 {
				t.Errorf("frame %d: sign not filled at the scaled place: diff %.1f, texture %.2f", i, mad, gB)
			}
			// Just outside the scaled box the picture is untouched.
			if mad, _, _ := rectStats(a, b, 320, Box{sign.X - 12, sign.Y + sign.H + 4, 8, 8}); mad > 12 {
				t.Errorf("frame %d: fill spilled outside the scaled box: diff %.1f", i, mad)
			}
		default:
			if p := psnr(a, b); p < 24 {
				t.Errorf("frame %d outside every window differs from the scaled source: PSNR %.1f dB", i, p)
			}
		}
	}
}
