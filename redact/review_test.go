package redact

import (
	"context"
	"errors"
	"path/filepath"
	"strings"
	"testing"
)

func TestDetectReview(t *testing.T) {
	dir := t.TempDir()
	src := filepath.Join(dir, "face.mp4")
	makeClip(t, src, clipSpec{width: 640, height: 360, fps: 25, seconds: 2, faceW: 128, faceH: 160, x0: 40, y0: 100, vx: 60})
	res, err := Detect(context.Background(), src, DetectOptions{})
	if err != nil {
		t.Fatal(err)
	}
	rv := res.Review
	if rv.Detector != "yunet" || rv.NoDetections || rv.NeedsReview || len(rv.People) != 1 {
		t.Fatalf("review %+v", rv)
	}
	p := rv.People[0]
	if p.Regions[0] != res.Spec.Regions[0].ID || p.Confidence < 0.8 || p.LowConfidence || p.Detections < 20 {
		t.Errorf("person %+v", p)
	}
	if !strings.HasPrefix(p.Thumbnail, "data:image/jpeg;base64,") || len(p.Thumbnail) < 500 {
		t.Errorf("thumbnail %.60q", p.Thumbnail)
	}

	plain := filepath.Join(dir, "plain.mp4")
	runFFmpeg(t, "-f", "lavfi", "-i", "testsrc2=size=320x240:rate=10:duration=2", "-c:v", "libx264", "-preset", "ultrafast", plain)
	res, err = Detect(context.Background(), plain, DetectOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if !res.Review.NoDetections || !res.Review.NeedsReview || len(res.Review.Reasons) == 0 || len(res.Review.People) != 0 {
		t.Errorf("a clip without detections must be flagged: %+v", res.Review)
	}
}

// TestDetectors runs each detector NewDetector makes on the photographs:
// the union finds every face YuNet finds, and pigo (a weaker, different
// model) finds most of them.
func TestDetectors(t *testing.T) {
	found := map[string]int{}
	for _, name := range []string{DetectorYuNet, DetectorPigo, DetectorUnion} {
		d, err := NewDetector(DetectOptions{Detector: name})
		if err != nil {
			t.Fatal(err)
		}
		if d.Name() == "" {
			t.Error("detector without a name")
		}
		for _, ef := range evalFaces {
			dets, err := d.Detect(loadPicture(t, ef.file))
			if err != nil {
				t.Fatal(err)
			}
			for _, x := range dets {
				c := x.Box
				if cx, cy := c.X+c.W/2, c.Y+c.H/2; cx > ef.face.X && cx < ef.face.X+ef.face.W && cy > ef.face.Y && cy < ef.face.Y+ef.face.H {
					found[name]++
					break
				}
			}
		}
		d.Close()
	}
	n := len(evalFaces)
	if found[DetectorYuNet] != n || found[DetectorUnion] != n || found[DetectorPigo] < n/2 {
		t.Errorf("faces found of %d: %v", n, found)
	}
	t.Logf("faces found of %d: %v", n, found)
	if _, err := NewDetector(DetectOptions{Detector: "nope"}); err == nil {
		t.Error("unknown detector accepted")
	}
	if _, err := FindONNXRuntime(filepath.Join(t.TempDir(), "missing.so")); !errors.Is(err, ErrNoONNXRuntime) {
		t.Errorf("missing library: %v", err)
	}
}
