package transcode_test

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/opendems/opendems/transcode"
)

// BenchmarkOutputs compares three ways of making what the transcode job
// makes for each recording (720p proxy, poster, sprite of one tile per 5 s,
// 10 per row, 160 px):
//
//   - before: Proxy, then Poster and Sprite, each seeking and decoding from
//     the previous keyframe per frame (what the job did until issue 18);
//   - ours:   Process, one decode with frames fanned out to the encoder,
//     the poster and the sprite;
//   - ffmpeg: the ffmpeg CLI making the same three outputs from one decode
//     (split filter into the x264 encoder, a poster and a tiled sprite).
//
// Each side runs twice per iteration in A B C C B A order. Reported:
// before_s, ours_s, ffmpeg_s (wall, averages), ratio = ffmpeg_s/ours_s (≥1:
// at least as fast as the CLI), speedup = before_s/ours_s, and CPU seconds
// of each, which do not depend on the shared machine's load.
func BenchmarkOutputs(b *testing.B) {
	if _, err := exec.LookPath("ffmpeg"); err != nil {
		b.Fatalf("ffmpeg CLI needed for the baseline: %v", err)
	}
	for _, c := range []struct {
		name    string
		size    string
		seconds int
	}{{"1080p30_60s", "1920x1080", 60}, {"2160p30_15s", "3840x2160", 15}} {
		b.Run(c.name, func(b *testing.B) { benchmarkOutputs(b, c.size, c.seconds) })
	}
}

func benchmarkOutputs(b *testing.B, size string, seconds int) {
	dir := b.TempDir()
	src := filepath.Join(dir, "src.mp4")
	ffmpeg(b, "-f", "lavfi", "-i", fmt.Sprintf("testsrc2=size=%s:rate=30:duration=%d", size, seconds),
		"-f", "lavfi", "-i", fmt.Sprintf("sine=frequency=440:sample_rate=48000:duration=%d", seconds), "-ac", "2",
		"-c:v", "libx264", "-preset", "ultrafast", "-crf", "18", "-pix_fmt", "yuv420p", "-g", "60",
		"-c:a", "aac", "-b:a", "128k", src)
	ctx := context.Background()
	proxyOpts := transcode.ProxyOptions{Preset: "veryfast", CRF: 23}
	tiles := max(10, seconds/5)
	rows := (tiles + 9) / 10
	spriteOpts := transcode.SpriteOptions{Tiles: tiles, Columns: 10, TileWidth: 160}
	out := filepath.Join(dir, "proxy.mp4")

	var before, ours, theirs time.Duration
	var beforeCPU, oursCPU, theirsCPU time.Duration
	runBefore := func() {
		cpu0, start := selfCPU(), time.Now()
		if _, err := transcode.Proxy(ctx, src, out, proxyOpts, nil); err != nil {
			b.Fatal(err)
		}
		var buf bytes.Buffer
		if _, err := transcode.Poster(ctx, src, &buf, transcode.PosterOptions{}); err != nil {
			b.Fatal(err)
		}
		buf.Reset()
		if _, err := transcode.Sprite(ctx, src, &buf, spriteOpts); err != nil {
			b.Fatal(err)
		}
		before += time.Since(start)
		beforeCPU += selfCPU() - cpu0
	}
	runOurs := func() {
		cpu0, start := selfCPU(), time.Now()
		res, err := transcode.Process(ctx, src, transcode.ProcessOptions{ProxyPath: out, Proxy: proxyOpts,
			Poster: &transcode.PosterOptions{}, Sprite: &spriteOpts})
		if err != nil || res.ProxyErr != nil || res.PosterErr != nil || res.SpriteErr != nil || len(res.Sprite.Tiles) != tiles {
			b.Fatalf("process: %v %v %v %v", err, res.ProxyErr, res.PosterErr, res.SpriteErr)
		}
		ours += time.Since(start)
		oursCPU += selfCPU() - cpu0
	}
	runFFmpeg := func() {
		posterAt := strconv.FormatFloat(float64(seconds)*0.1, 'f', 3, 64)
		graph := "[0:v]split=3[p][q][r];" +
			"[p]scale=1280:720:flags=bicubic,format=yuv420p,setsar=1[proxy];" +
			"[q]trim=start=" + posterAt + ",scale=640:360:flags=bicubic,format=yuvj420p,setsar=1[poster];" +
			fmt.Sprintf("[r]fps=fps=%d/%d:start_time=%s,scale=160:90:flags=bicubic,format=yuvj420p,tile=10x%d[sprite]",
				tiles, seconds, strconv.FormatFloat(float64(seconds)/float64(tiles)/2, 'f', 3, 64), rows)
		cmd := exec.Command("ffmpeg", "-hide_banner", "-loglevel", "error", "-y", "-i", src, "-filter_complex", graph,
			"-map", "[proxy]", "-map", "0:a", "-c:v", "libx264", "-preset", proxyOpts.Preset, "-crf", "23",
			"-c:a", "aac", "-b:a", "128k", "-ar", "48000", "-ac", "2", "-movflags", "+faststart", filepath.Join(dir, "ffmpeg.mp4"),
			"-map", "[poster]", "-frames:v", "1", "-q:v", "3", filepath.Join(dir, "poster.jpg"),
			"-map", "[sprite]", "-frames:v", "1", "-q:v", "4", filepath.Join(dir, "sprite.jpg"))
		cmd.Stderr = os.Stderr
		start := time.Now()
		if err := cmd.Run(); err != nil {
			b.Fatal(err)
		}
		theirs += time.Since(start)
		theirsCPU += cmd.ProcessState.UserTime() + cmd.ProcessState.SystemTime()
	}
	b.ResetTimer()
	runs := 0
	for i := 0; i < b.N; i++ {
		runBefore()
		runOurs()
		runFFmpeg()
		runFFmpeg()
		runOurs()
		runBefore()
		runs += 2
	}
	b.StopTimer()
	n := float64(runs)
	beforeS, oursS, theirsS := before.Seconds()/n, ours.Seconds()/n, theirs.Seconds()/n
	b.ReportMetric(beforeS, "before_s")
	b.ReportMetric(oursS, "ours_s")
	b.ReportMetric(theirsS, "ffmpeg_s")
	b.ReportMetric(theirsS/oursS, "ratio")
	b.ReportMetric(beforeS/oursS, "speedup")
	b.ReportMetric(float64(seconds)/oursS, "x_realtime")
	b.ReportMetric(beforeCPU.Seconds()/n, "before_cpu_s")
	b.ReportMetric(oursCPU.Seconds()/n, "ours_cpu_s")
	b.ReportMetric(theirsCPU.Seconds()/n, "ffmpeg_cpu_s")
	b.ReportMetric(theirsCPU.Seconds()/oursCPU.Seconds(), "cpu_ratio")
}
