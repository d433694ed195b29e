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
