package redact

import (
	"context"
	"errors"
	"math"
	"path/filepath"
	"testing"
)

// TestDetectClipRange detects over 5.0–8.0 s of a 12 s recording with a
// keyframe every second: only the range is decoded (frames before it are
// dropped after the seek), observations carry source times, and the
// proposal lies within the range and on the face at each instant.
func TestDetectClipRange(t *testing.T) {
	dir := t.TempDir()
	src := filepath.Join(dir, "long.mp4")
	c := clipSpec{width: 640, height: 360, fps: 25, seconds: 12, faceW: 128, faceH: 160, x0: 10, y0: 100, vx: 40,
		codec: []string{"-c:v", "libx264", "-preset", "ultrafast", "-crf", "16", "-pix_fmt", "yuv420p", "-g", "25"}}
	makeClip(t, src, c)
	const in, out = 5.0, 8.0
	res, err := Detect(context.Background(), src, DetectOptions{In: in, Out: out, Workers: 2})
	if err != nil {
		t.Fatal(err)
	}
	// 5.00, 5.04, …, 8.00: 76 frames, every 2nd analysed.
	if res.FramesDecoded != 76 || res.FramesAnalysed != 38 {
		t.Errorf("decoded %d, analysed %d frames; want 76 and 38 (the range only)", res.FramesDecoded, res.FramesAnalysed)
	}
	// The seek lands on the keyframe at or before the in point (one a
	// second); decoding from the start would pass 125 frames.
	if res.FramesSkipped > 25 {
		t.Errorf("%d frames decoded before the in point: the seek did not happen", res.FramesSkipped)
	}
	if res.Spec.Clip.In != in || res.Spec.Clip.Out != out {
		t.Errorf("proposal clip %+v, want %g..%g", res.Spec.Clip, in, out)
	}
	hits := 0
	for _, ob := range res.Observations {
		if ob.T < in-1e-6 || ob.T > out+1e-6 {
			t.Fatalf("observation at %.3f s outside %g..%g", ob.T, in, out)
		}
		fx, fy := faceCentre(c.faceAt(ob.T))
		for _, d := range ob.Detections {
			if math.Abs(d.Box.X+d.Box.W/2-fx) < 20 && math.Abs(d.Box.Y+d.Box.H/2-fy) < 25 {
				hits++
				break
			}
		}
	}
	if hits < len(res.Observations)*9/10 || len(res.Observations) != 38 {
		t.Errorf("face found where it is (source time) in %d of %d observations", hits, len(res.Observations))
	}
	if len(res.Spec.Regions) != 1 {
		t.Fatalf("want one proposal, got %d", len(res.Spec.Regions))
	}
	r := res.Spec.Regions[0]
	if s, e := r.Window(); s < in || e > out || s > in+0.1 || e < out-0.1 {
		t.Errorf("proposal window %.3f..%.3f, want within and covering %g..%g", s, e, in, out)
	}
	for ts := in; ts <= out; ts += 0.04 {
		b, ok := r.BoxAt(ts)
		fx, fy := faceCentre(c.faceAt(ts))
		if !ok || b.X > fx-35 || b.X+b.W < fx+35 || b.Y > fy-45 || b.Y+b.H < fy+45 {
			t.Errorf("t=%.2f: proposal %v (ok %v) off the face centred at %.0f,%.0f", ts, b, ok, fx, fy)
		}
	}
	if _, err := Detect(context.Background(), src, DetectOptions{In: 4, Out: 3}); !errors.Is(err, ErrInvalidSpec) {
		t.Errorf("out before in: %v", err)
	}
}

func TestCutKeyframes(t *testing.T) {
	ks := []Keyframe{{Time: 0, X: 0, Width: 10, Height: 10}, {Time: 4, X: 40, Width: 10, Height: 10}, {Time: 10, X: 100, Width: 10, Height: 10}}
	got := cutKeyframes(ks, 2, 6)
	want := []Keyframe{{Time: 2, X: 20, Width: 10, Height: 10}, {Time: 4, X: 40, Width: 10, Height: 10}, {Time: 6, X: 60, Width: 10, Height: 10}}
	if len(got) != len(want) {
		t.Fatalf("cut %+v", got)
	}
	for i := range want {
		if math.Abs(got[i].Time-want[i].Time) > 1e-9 || math.Abs(got[i].X-want[i].X) > 1e-9 {
			t.Errorf("keyframe %d: %+v, want %+v", i, got[i], want[i])
		}
	}
	if cutKeyframes(ks, 11, 12) != nil || cutKeyframes(ks[1:], 0, 3) != nil {
		t.Error("a track outside the range must vanish")
	}
}
