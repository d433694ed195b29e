package redact

import (
	"context"
	"errors"
	"math"
	"path/filepath"
	"testing"

	"github.com/opendems/opendems/transcode"
)

// faceCentre is where, inside testdata/face.jpg (320×400), the face itself
// is: the photograph has background and shoulders around it.
func faceCentre(photo Box) (x, y float64) {
	return photo.X + photo.W*0.5, photo.Y + photo.H*0.5
}

func TestDetectFindsMovingFace(t *testing.T) {
	dir := t.TempDir()
	src := filepath.Join(dir, "src.mp4")
	c := clipSpec{width: 640, height: 360, fps: 25, seconds: 4, faceW: 128, faceH: 160, x0: 20, y0: 100, vx: 100, vy: -15}
	makeClip(t, src, c)

	res, err := Detect(context.Background(), src, DetectOptions{Stride: 2, Workers: 2})
	if err != nil {
		t.Fatal(err)
	}
	if res.FramesDecoded != 100 || res.FramesAnalysed != 50 {
		t.Errorf("decoded %d, analysed %d frames", res.FramesDecoded, res.FramesAnalysed)
	}
	hits := 0
	for _, ob := range res.Observations {
		photo := c.faceAt(ob.T)
		fx, fy := faceCentre(photo)
		for _, d := range ob.Detections {
			cx, cy := d.Box.X+d.Box.W/2, d.Box.Y+d.Box.H/2
			if math.Abs(cx-fx) < photo.W*0.25 && math.Abs(cy-fy) < photo.H*0.25 {
				hits++
				break
			}
		}
	}
	if rate := float64(hits) / float64(len(res.Observations)); rate < 0.95 {
		t.Errorf("face found in %d of %d analysed frames (%.0f%%), want >= 95%%", hits, len(res.Observations), rate*100)
	}
	if len(res.Spec.Regions) != 1 {
		t.Fatalf("want one tracked face, got %d regions", len(res.Spec.Regions))
	}
	r := res.Spec.Regions[0]
	if r.Origin != OriginAuto || r.Confidence <= 0 || r.Confidence > 1 {
		t.Errorf("region origin %q confidence %g", r.Origin, r.Confidence)
	}
	// The tracked region covers the face's centre area on every frame.
	for i := 0; i < 100; i++ {
		ts := float64(i) / 25
		b, ok := r.BoxAt(ts)
		photo := c.faceAt(ts)
		fx, fy := faceCentre(photo)
		inner := Box{fx - photo.W*0.3, fy - photo.H*0.3, photo.W * 0.6, photo.H * 0.6}
		if !ok || b.X > inner.X || b.Y > inner.Y || b.X+b.W < inner.X+inner.W || b.Y+b.H < inner.Y+inner.H {
			t.Errorf("frame %d (%.2fs): region %v (in window %v) does not cover face %v", i, ts, b, ok, inner)
		}
	}
	// The proposal is a spec: it round-trips through Parse.
	js, err := res.Spec.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Parse(js); err != nil {
		t.Fatalf("proposal does not parse: %v\n%s", err, js)
	}
}

func TestDetectNoFace(t *testing.T) {
	dir := t.TempDir()
	src := filepath.Join(dir, "plain.mp4")
	runFFmpeg(t, "-f", "lavfi", "-i", "testsrc2=size=320x240:rate=10:duration=2", "-c:v", "libx264", "-preset", "ultrafast", src)
	res, err := Detect(context.Background(), src, DetectOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Spec.Regions) != 0 {
		t.Errorf("false faces on a test pattern: %+v", res.Spec.Regions)
	}
	if _, err := Detect(context.Background(), filepath.Join(dir, "missing.mp4"), DetectOptions{}); err == nil {
		t.Error("missing file accepted")
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := Detect(ctx, src, DetectOptions{}); !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled detect: %v", err)
	}
	audioOnly := filepath.Join(dir, "a.m4a")
	runFFmpeg(t, "-f", "lavfi", "-i", "sine=duration=1", "-c:a", "aac", audioOnly)
	if _, err := Detect(context.Background(), audioOnly, DetectOptions{}); !errors.Is(err, transcode.ErrNoVideo) {
		t.Errorf("audio only: %v", err)
	}
}

func TestTrackFaces(t *testing.T) {
	face := func(x float64) Detection { return Detection{Box: Box{x, 50, 40, 40}, Score: 20} }
	var obs []Observation
	for i := 0; i <= 30; i++ {
		ts := float64(i) / 10
		ob := Observation{T: ts}
		// Face A moves right at 100 px/s, missed at 1.0-1.4 s (a gap < hold).
		if ts < 1 || ts > 1.45 {
			ob.Detections = append(ob.Detections, face(10+100*ts))
		}
		// Face B sits still from 2 s.
		if ts >= 2 {
			ob.Detections = append(ob.Detections, Detection{Box: Box{400, 200, 60, 60}, Score: 8})
		}
		// One false positive, seen once.
		if i == 5 {
			ob.Detections = append(ob.Detections, Detection{Box: Box{600, 10, 20, 20}, Score: 5})
		}
		obs = append(obs, ob)
	}
	tracks := TrackFaces(obs, 640, 360, 3.5, TrackerOptions{Lead: 0.1})
	if len(tracks) != 2 {
		t.Fatalf("want 2 tracks (gap bridged, false positive dropped), got %d: %+v", len(tracks), tracks)
	}
	a := Region{Keyframes: tracks[0].Keyframes}
	for ts := 0.0; ts <= 3; ts += 0.05 {
		b, ok := a.BoxAt(ts)
		want := face(10 + 100*ts).Box
		if !ok || b.X > want.X || b.X+b.W < want.X+want.W || b.Y > want.Y || b.Y+b.H < want.Y+want.H {
			// Inside the gap the box interpolates between the detections
			// around it, which for linear motion still covers the face.
			t.Errorf("t=%.2f: box %v (ok %v) does not cover %v", ts, b, ok, want)
		}
	}
	if _, end := a.Window(); end != 3.5 {
		t.Errorf("track A should be held to the end of media, ends %g", end)
	}
	bStart, bEnd := (&Region{Keyframes: tracks[1].Keyframes}).Window()
	if bStart != 1.4 || bEnd != 3.5 {
		t.Errorf("track B window [%g, %g], want [1.4, 3.5] (backfill 0.6 of a still face, hold to end)", bStart, bEnd)
	}
	if len(tracks[1].Keyframes) > 3 {
		t.Errorf("static face should simplify to <= 3 keyframes, got %d", len(tracks[1].Keyframes))
	}
	if c := tracks[0].Confidence; c < 0.6 || c > 0.7 {
		t.Errorf("confidence %g, want 20/(20+10)", c)
	}
}

func TestDetectTracksTwoFaces(t *testing.T) {
	dir := t.TempDir()
	src := filepath.Join(dir, "two.mp4")
	// Face A moves right along the top, face B (mirrored) left along the bottom.
	a := clipSpec{faceW: 112, faceH: 140, x0: 20, y0: 20, vx: 60}
	b := clipSpec{faceW: 112, faceH: 140, x0: 500, y0: 210, vx: -60}
	runFFmpeg(t, "-f", "lavfi", "-i", "testsrc2=size=640x360:rate=25:duration=3",
		"-loop", "1", "-framerate", "25", "-i", filepath.Join("testdata", "face.jpg"),
		"-filter_complex", "[1]scale=112:140,format=yuv420p,split[f1][f0];[f0]hflip[f2];"+
			"[0][f1]overlay=x='20+60*t':y=20:shortest=1[v1];[v1][f2]overlay=x='500-60*t':y=210:shortest=1[v]",
		"-map", "[v]", "-c:v", "libx264", "-preset", "ultrafast", "-crf", "16", "-t", "3", src)
	res, err := Detect(context.Background(), src, DetectOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Spec.Regions) != 2 {
		t.Fatalf("want 2 tracked faces, got %d", len(res.Spec.Regions))
	}
	for _, face := range []clipSpec{a, b} {
		covered := 0
		for i := 0; i < 75; i++ {
			ts := float64(i) / 25
			photo := face.faceAt(ts)
			fx, fy := faceCentre(photo)
			for _, r := range res.Spec.Regions {
				if bx, ok := r.BoxAt(ts); ok && bx.X <= fx-30 && bx.X+bx.W >= fx+30 && bx.Y <= fy-40 && bx.Y+bx.H >= fy+40 {
					covered++
					break
				}
			}
		}
		if covered != 75 {
			t.Errorf("face starting at x=%g covered on %d of 75 frames", face.x0, covered)
		}
	}
}

// FuzzTrackFaces feeds arbitrary detections to the tracker: whatever comes
// in, the proposal must validate against the media (keyframes increasing,
// inside the frame and the duration).
func FuzzTrackFaces(f *testing.F) {
	f.Add([]byte{10, 20, 30, 40, 50, 60, 70, 80, 90, 100, 110, 120})
	f.Add([]byte{0, 0, 0, 0, 255, 255, 255, 255, 1, 2, 3, 4, 5, 6, 7, 8})
	f.Fuzz(func(t *testing.T, data []byte) {
		const w, h, dur = 320, 240, 10.0
		var obs []Observation
		ts := 0.0
		for len(data) >= 5 {
			d := data[:5]
			data = data[5:]
			ts += float64(d[0]%8) / 10
			if ts > dur {
				break
			}
			s := float64(d[3]%100) + 4
			det := Detection{Box: Box{float64(d[1]) * 1.3, float64(d[2]), s, s}, Score: float64(d[4])}
			if len(obs) > 0 && obs[len(obs)-1].T == ts {
				obs[len(obs)-1].Detections = append(obs[len(obs)-1].Detections, det)
			} else {
				obs = append(obs, Observation{T: ts, Detections: []Detection{det}})
			}
		}
		tracks := TrackFaces(obs, w, h, dur, TrackerOptions{Lead: 0.2})
		spec := ProposeSpec("fuzz", tracks, DetectOptions{})
		if err := spec.ValidateMedia(MediaInfo{Duration: dur, Width: w, Height: h, HasVideo: true}); err != nil {
			t.Fatalf("proposal invalid: %v", err)
		}
	})
}
