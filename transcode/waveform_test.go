package transcode_test

import (
	"context"
	"errors"
	"path/filepath"
	"testing"

	"github.com/opendems/opendems/transcode"
)

// TestPeaksFindsTheSilentSection: a 6 s stereo tone whose 2.0–3.5 s are
// silenced (made by the ffmpeg CLI, as the reference) gives an envelope
// that is flat there and loud elsewhere, at the requested rate; a file
// without audio is ErrNoAudio.
func TestPeaksFindsTheSilentSection(t *testing.T) {
	dir := t.TempDir()
	src := filepath.Join(dir, "tone.mp4")
	ffmpeg(t, "-f", "lavfi", "-i", "testsrc2=size=160x120:rate=25:duration=6", "-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000:duration=6",
		"-af", "pan=stereo|c0=c0|c1=c0,volume=enable='between(t,2,3.5)':volume=0", "-c:v", "libx264", "-c:a", "aac", "-shortest", src)
	w, err := transcode.Peaks(context.Background(), src, transcode.WaveformOptions{Rate: 50})
	if err != nil {
		t.Fatal(err)
	}
	if w.Rate != 50 || len(w.Peaks) != 2*int(w.Duration*50+0.5) || w.Duration < 5.9 || w.Duration > 6.1 {
		t.Fatalf("rate %d, duration %.3f, %d peaks", w.Rate, w.Duration, len(w.Peaks))
	}
	peak := func(a, b float64) (lo, hi int) {
		for i := int(a * 50); i < int(b*50); i++ {
			lo, hi = min(lo, int(w.Peaks[2*i])), max(hi, int(w.Peaks[2*i+1]))
		}
		return
	}
	// The tone is 1/8 of full scale (16 of 127); AAC leaves a little ringing
	// around the edges of the silence, hence the margins.
	for _, span := range [][2]float64{{0.2, 1.9}, {3.6, 5.8}} {
		if lo, hi := peak(span[0], span[1]); hi < 12 || lo > -12 {
			t.Errorf("%.1f–%.1f s: peaks %d..%d, want the tone (about ±16)", span[0], span[1], lo, hi)
		}
		// every bucket of the tone is loud, not only some
		for i := int(span[0] * 50); i < int(span[1]*50); i++ {
			if w.Peaks[2*i+1] < 10 {
				t.Fatalf("bucket %d (%.2f s) max %d inside the tone", i, float64(i)/50, w.Peaks[2*i+1])
			}
		}
	}
	if lo, hi := peak(2.1, 3.4); lo < -1 || hi > 1 {
		t.Errorf("silent section: peaks %d..%d, want 0", lo, hi)
	}

	// The default rate follows the cap on buckets.
	w, err = transcode.Peaks(context.Background(), src, transcode.WaveformOptions{MaxBuckets: 120})
	if err != nil {
		t.Fatal(err)
	}
	if w.Rate != 20 || len(w.Peaks) > 2*121 {
		t.Fatalf("capped: rate %d, %d peaks", w.Rate, len(w.Peaks))
	}

	silent := filepath.Join(dir, "video-only.mp4")
	ffmpeg(t, "-f", "lavfi", "-i", "testsrc2=size=160x120:rate=25:duration=1", "-c:v", "libx264", silent)
	if _, err := transcode.Peaks(context.Background(), silent, transcode.WaveformOptions{}); !errors.Is(err, transcode.ErrNoAudio) {
		t.Fatalf("video only: %v, want ErrNoAudio", err)
	}
}
