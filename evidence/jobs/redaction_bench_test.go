package jobs_test

import (
	"context"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/opendems/opendems/redact"
)

// BenchmarkPreviewRender is the editor's preview job (package redact's
// render with x264 ultrafast at CRF 35) on 20 s of 720p30 with one moving
// blurred region and a muted second, against the ffmpeg CLI with an
// equivalent filter graph (crop/boxblur/overlay, volume=0 with enable) and
// the same encoder settings, in the same run. ratio = baseline seconds /
// ours (>= 1: we are at least as fast). The full-resolution render and
// detection are measured by package redact's BenchmarkRender and
// BenchmarkDetect.
func BenchmarkPreviewRender(b *testing.B) {
	dir := b.TempDir()
	src := filepath.Join(dir, "src.mp4")
	ffmpegB(b, "-f", "lavfi", "-i", "testsrc2=size=1280x720:rate=30:duration=20",
		"-loop", "1", "-framerate", "30", "-i", filepath.Join("..", "..", "redact", "testdata", "face.jpg"),
		"-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000:duration=20",
		"-filter_complex", "[1]scale=180:220,format=yuv420p[f];[0][f]overlay=x='100+40*t':y=200:shortest=1:eval=frame[v]",
		"-map", "[v]", "-map", "2", "-c:v", "libx264", "-preset", "ultrafast", "-crf", "18", "-pix_fmt", "yuv420p", "-c:a", "aac", "-t", "20", src)
	spec := &redact.Spec{Version: 1, Clip: redact.Clip{Source: "bench"},
		Regions: []redact.Region{{ID: "r0", Shape: redact.ShapeRectangle, Effect: redact.Effect{Type: redact.EffectBlur, Strength: 40},
			Reason: "b(7)(C)", Origin: redact.OriginManual, Keyframes: []redact.Keyframe{{Time: 0, X: 100, Y: 200, Width: 180, Height: 220}, {Time: 20, X: 900, Y: 200, Width: 180, Height: 220}}}},
		Audio: []redact.AudioRange{{ID: "a0", Start: 5, End: 6, Action: redact.AudioMute, Reason: "b(6)", Origin: redact.OriginManual}}}
	spec.Normalize()
	if err := spec.Validate(); err != nil {
		b.Fatal(err)
	}
	rad := 180 * 40 / 100 / 2
	filter := fmt.Sprintf("[0:v]split=2[base][c];[c]crop=w=180:h=220:x='100+40*t':y=200,boxblur=luma_radius=%d:luma_power=3:chroma_radius=%d:chroma_power=3[b];"+
		"[base][b]overlay=x='100+40*t':y=200[v];[0:a]volume=enable='between(t,5,6)':volume=0[a]", rad, rad/2)
	var ours, base time.Duration
	for b.Loop() {
		t0 := time.Now()
		if _, err := redact.Render(context.Background(), spec, src, filepath.Join(dir, "ours.mp4"),
			redact.RenderOptions{Preset: "ultrafast", CRF: 35, SkipReportFiles: true}); err != nil {
			b.Fatal(err)
		}
		ours += time.Since(t0)
		t0 = time.Now()
		ffmpegB(b, "-i", src, "-filter_complex", filter, "-map", "[v]", "-map", "[a]", "-c:v", "libx264", "-preset", "ultrafast",
			"-crf", "35", "-pix_fmt", "yuv420p", "-c:a", "aac", "-movflags", "+faststart", filepath.Join(dir, "cli.mp4"))
		base += time.Since(t0)
	}
	n := float64(b.N)
	b.ReportMetric(ours.Seconds()/n, "ours_s")
	b.ReportMetric(base.Seconds()/n, "baseline_s")
	b.ReportMetric(base.Seconds()/ours.Seconds(), "ratio")
	b.ReportMetric(20/(ours.Seconds()/n), "ours_xrealtime")
}
