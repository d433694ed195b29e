package jobs_test

import (
	"context"
	"errors"
	"math"
	"path/filepath"
	"testing"

	"github.com/opendems/opendems/evidence/jobs"
	"github.com/opendems/opendems/redact"
)

// TestTrackBox draws a box around the moving photograph on one frame in the
// middle of the clip and checks the tracked keyframes against the path the
// ffmpeg CLI moved it along, forward and backward.
func TestTrackBox(t *testing.T) {
	path := filepath.Join(t.TempDir(), "moving.mp4")
	// 5 s, 640×360, the face (120×150) at x = 100 + 60 t, y = 60 + 20 t.
	ffmpeg(t, "-f", "lavfi", "-i", "testsrc2=size=640x360:rate=15:duration=5",
		"-loop", "1", "-framerate", "15", "-i", filepath.Join("..", "..", "redact", "testdata", "face.jpg"),
		"-filter_complex", "[1]scale=120:150,format=yuv420p[f];[0][f]overlay=x='100+60*t':y='60+20*t':shortest=1:eval=frame[v]",
		"-map", "[v]", "-c:v", "libx264", "-preset", "ultrafast", "-crf", "18", "-pix_fmt", "yuv420p", "-t", "5", path)
	truth := func(t float64) redact.Box { return redact.Box{X: 100 + 60*t, Y: 60 + 20*t, W: 120, H: 150} }
	drawn := 2.0
	res, err := jobs.TrackBox(context.Background(), path, jobs.TrackRequest{Time: drawn, Box: truth(drawn)})
	if err != nil {
		t.Fatal(err)
	}
	if res.Start > 0.15 || res.End < 4.8 {
		t.Fatalf("tracked only %.2f..%.2f s of 0..5", res.Start, res.End)
	}
	if len(res.Keyframes) < 2 || len(res.Keyframes) >= res.Frames {
		t.Fatalf("%d keyframes for %d frames: not simplified", len(res.Keyframes), res.Frames)
	}
	region := redact.Region{Keyframes: res.Keyframes}
	worst := 0.0
	for ts := res.Start; ts <= res.End; ts += 0.1 {
		got, ok := region.BoxAt(ts)
		if !ok {
			t.Fatalf("no box at %.2f", ts)
		}
		want := truth(ts)
		worst = math.Max(worst, math.Max(math.Abs(got.X-want.X), math.Abs(got.Y-want.Y)))
	}
	if worst > 8 {
		t.Fatalf("tracked box off the true path by up to %.1f px", worst)
	}
	t.Logf("%d frames, %d keyframes, worst error %.1f px", res.Frames, len(res.Keyframes), worst)

	for _, bad := range []jobs.TrackRequest{
		{Time: 1, Box: redact.Box{X: 600, Y: 300, W: 100, H: 100}}, // leaves the picture
		{Time: 1, Box: redact.Box{X: 10, Y: 10, W: 2, H: 2}},
		{Time: 9, Box: truth(1), From: 0, To: 4},
	} {
		if _, err := jobs.TrackBox(context.Background(), path, bad); !errors.Is(err, jobs.ErrTrackInput) {
			t.Errorf("%+v: %v", bad, err)
		}
	}
}

// TestTrackBoxScaleAndChunks follows a face the camera zooms into (its box
// grows by half over 6 s) from a box drawn in the middle, with a chunk of
// only 8 frames in memory while tracking backward: the box keeps to the
// face's position and size over the whole range.
func TestTrackBoxScaleAndChunks(t *testing.T) {
	path := filepath.Join(t.TempDir(), "zoom.mp4")
	// The face (100×125) at (300, 100) of the unzoomed picture; the zoom
	// z = 1 + 0.08 t is centred, so a point p appears at (p - c)·z + c.
	ffmpeg(t, "-f", "lavfi", "-i", "testsrc2=size=640x360:rate=25:duration=6",
		"-loop", "1", "-framerate", "25", "-i", filepath.Join("..", "..", "redact", "testdata", "face.jpg"),
		"-filter_complex", "[1]scale=100:125,format=yuv420p[f];[0][f]overlay=x=300:y=100:shortest=1,"+
			"zoompan=z='1+0.08*in/25':x='iw/2-iw/zoom/2':y='ih/2-ih/zoom/2':d=1:s=640x360:fps=25[v]",
		"-map", "[v]", "-c:v", "libx264", "-preset", "ultrafast", "-crf", "18", "-pix_fmt", "yuv420p", "-g", "25", "-t", "6", path)
	truth := func(t float64) redact.Box {
		z := 1 + 0.08*t
		return redact.Box{X: (300-320)*z + 320, Y: (100-180)*z + 180, W: 100 * z, H: 125 * z}
	}
	drawn := 3.0
	var last redact.Progress
	res, err := jobs.TrackBox(context.Background(), path, jobs.TrackRequest{Time: drawn, Box: truth(drawn), ChunkFrames: 8,
		Progress: func(p redact.Progress) { last = p }})
	if err != nil {
		t.Fatal(err)
	}
	if res.Start > 0.15 || res.End < 5.8 {
		t.Fatalf("tracked only %.2f..%.2f s of 0..6", res.Start, res.End)
	}
	if last.Total < 5.9 || last.Done < 0.95*last.Total {
		t.Errorf("last progress %+v", last)
	}
	region := redact.Region{Keyframes: res.Keyframes}
	worstPos, worstSize := 0.0, 0.0
	for ts := res.Start; ts <= res.End; ts += 0.1 {
		got, ok := region.BoxAt(ts)
		if !ok {
			t.Fatalf("no box at %.2f", ts)
		}
		want := truth(ts)
		worstPos = math.Max(worstPos, math.Max(math.Abs(got.X+got.W/2-want.X-want.W/2), math.Abs(got.Y+got.H/2-want.Y-want.H/2)))
		worstSize = math.Max(worstSize, math.Abs(got.W/want.W-1))
	}
	t.Logf("%d frames, %d keyframes, scale %.2f..%.2f, worst centre error %.1f px, worst size error %.0f %%",
		res.Frames, len(res.Keyframes), res.MinScale, res.MaxScale, worstPos, 100*worstSize)
	if worstPos > 8 || worstSize > 0.12 {
		t.Errorf("tracked box off the face: centre by up to %.1f px, size by up to %.0f %%", worstPos, 100*worstSize)
	}
	if res.MinScale > 0.88 || res.MaxScale < 1.08 {
		t.Errorf("box scale %.2f..%.2f; the face goes from 0.81 to 1.21 of the drawn size", res.MinScale, res.MaxScale)
	}
}

func TestSimplify(t *testing.T) {
	var ks []redact.Keyframe
	for i := 0; i <= 20; i++ { // straight line, then a turn at 10
		x := float64(i) * 5
		y := 0.0
		if i > 10 {
			y = float64(i-10) * 5
			x = 50
		}
		ks = append(ks, redact.Keyframe{Time: float64(i), X: x, Y: y, Width: 10, Height: 10})
	}
	got := jobs.Simplify(ks, 0.5)
	if len(got) != 3 || got[1].Time != 10 {
		t.Fatalf("simplified to %+v", got)
	}
}
