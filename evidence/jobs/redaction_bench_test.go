package jobs_test

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/opendems/opendems/evidence/jobs"
	"github.com/opendems/opendems/evidence/request"
	"github.com/opendems/opendems/redact"
)

// BenchmarkRequestJobs measures the three redaction jobs of a request on
// a 20 s clip (15–35 s) of a 45 s 1080p30 recording with a moving face,
// each with the options the job itself uses (RedactionWorker's
// DetectJobOptions / RenderJobOptions), against the ffmpeg CLI doing the
// comparable work on the same range in the same run:
//
//   - detect: face detection over the clip vs `ffmpeg -ss 15 -t 20 -i src
//     -f null -` (decoding the same range; detection's floor);
//   - preview: the scaled render (360 lines, x264 ultrafast CRF 35) vs the
//     CLI scaling to 360 lines and box-blurring the same boxes with the
//     same encoder settings;
//   - render: the full-resolution render (veryfast CRF 20) vs the CLI
//     box-blurring at full resolution with the same settings.
//
// ratio = baseline wall seconds / ours (>= 1: we are at least as fast);
// cpu_ratio the same by CPU time; peak RSS of ours is this process's
// high-water mark reset before the run (/proc/self/clear_refs), the CLI's
// is sampled from /proc while it runs. The job's storage round trip
// (fetch the original, store the output) is not included.
func BenchmarkRequestJobs(b *testing.B) {
	src := jobsBenchMedia(b)
	const in, out = 15.0, 35.0
	const dur = out - in
	w := &jobs.RedactionWorker{}
	// The face overlay moves at x = 100 + 30 t, y = 300 (256×320); a sign
	// sits still at (1400, 100) 300×200; audio muted 20–22 s.
	spec := &redact.Spec{Version: 1, Clip: redact.Clip{Source: "bench", In: in, Out: out},
		Regions: []redact.Region{
			{ID: "face", Shape: redact.ShapeRectangle, Effect: redact.Effect{Type: redact.EffectBlur, Strength: 40}, Reason: "b(7)(C)", Origin: redact.OriginManual,
				Keyframes: []redact.Keyframe{{Time: in, X: 100 + 30*in, Y: 300, Width: 256, Height: 320}, {Time: out, X: 100 + 30*out, Y: 300, Width: 256, Height: 320}}},
			{ID: "sign", Shape: redact.ShapeRectangle, Effect: redact.Effect{Type: redact.EffectBlur, Strength: 40}, Reason: "b(6)", Origin: redact.OriginManual,
				Keyframes: []redact.Keyframe{{Time: in, X: 1400, Y: 100, Width: 300, Height: 200}, {Time: out, X: 1400, Y: 100, Width: 300, Height: 200}}},
		},
		Audio: []redact.AudioRange{{ID: "a0", Start: 20, End: 22, Action: redact.AudioMute, Reason: "b(6)", Origin: redact.OriginManual}}}
	spec.Normalize()
	if err := spec.Validate(); err != nil {
		b.Fatal(err)
	}
	// The CLI's graph for the same boxes at a picture scale k (its t
	// starts at the clip's in point after the input seek).
	graph := func(k float64, scale string) string {
		rad := func(side float64) int { return max(2, int(side*k*40/100+0.999)) }
		g := "[0:v]" + scale + "split=3[base][c0][c1];"
		g += fmt.Sprintf("[c0]crop=w=%d:h=%d:x='(%g+30*(t+%g))*%g':y=%g,boxblur=luma_radius=%d:luma_power=3:chroma_radius=%d:chroma_power=3[b0];",
			int(256*k), int(320*k), 100.0, in, k, 300*k, rad(256), rad(256)/2)
		g += fmt.Sprintf("[base][b0]overlay=x='(%g+30*(t+%g))*%g':y=%g[o0];", 100.0, in, k, 300*k)
		g += fmt.Sprintf("[c1]crop=w=%d:h=%d:x=%g:y=%g,boxblur=luma_radius=%d:luma_power=3:chroma_radius=%d:chroma_power=3[b1];",
			int(300*k), int(200*k), 1400*k, 100*k, rad(200), rad(200)/2)
		g += fmt.Sprintf("[o0][b1]overlay=x=%g:y=%g[v];[0:a]volume=enable='between(t,%g,%g)':volume=0[a]", 1400*k, 100*k, 20-in, 22-in)
		return g
	}
	cut := []string{"-ss", fmt.Sprint(in), "-t", fmt.Sprint(dur), "-i", src}
	dir := b.TempDir()
	cases := []struct {
		name     string
		ours     func() error
		baseline []string
	}{
		{"detect", func() error {
			_, err := redact.Detect(context.Background(), src, w.DetectJobOptions(in, out))
			return err
		}, append(append([]string{}, cut...), "-map", "0:v", "-f", "null", "-")},
		{"preview", func() error {
			_, err := redact.Render(context.Background(), spec, src, filepath.Join(dir, "preview.mp4"), w.RenderJobOptions(request.JobPreview))
			return err
		}, append(append([]string{}, cut...), "-filter_complex", graph(1.0/3, "scale=640:360:flags=bilinear,format=yuv420p,"),
			"-map", "[v]", "-map", "[a]", "-c:v", "libx264", "-preset", "ultrafast", "-crf", "35", "-pix_fmt", "yuv420p",
			"-c:a", "aac", "-b:a", "128k", "-movflags", "+faststart", filepath.Join(dir, "preview-cli.mp4"))},
		{"render", func() error {
			_, err := redact.Render(context.Background(), spec, src, filepath.Join(dir, "render.mp4"), w.RenderJobOptions(request.JobRender))
			return err
		}, append(append([]string{}, cut...), "-filter_complex", graph(1, "format=yuv420p,"),
			"-map", "[v]", "-map", "[a]", "-c:v", "libx264", "-preset", "veryfast", "-crf", "20", "-pix_fmt", "yuv420p",
			"-c:a", "aac", "-b:a", "128k", "-movflags", "+faststart", filepath.Join(dir, "render-cli.mp4"))},
	}
	for _, c := range cases {
		b.Run(c.name, func(b *testing.B) {
			var ours, base time.Duration
			var oursCPU, baseCPU, oursRSS, baseRSS float64
			for b.Loop() {
				// Give back what earlier cases left, so the peak is this
				// case's own.
				runtime.GC()
				debug.FreeOSMemory()
				resetPeakRSS()
				t0, c0 := time.Now(), selfCPU()
				if err := c.ours(); err != nil {
					b.Fatal(err)
				}
				ours += time.Since(t0)
				oursCPU += selfCPU() - c0
				oursRSS = max(oursRSS, procHWM(os.Getpid()))
				t0 = time.Now()
				cpu, rss := ffmpegUsage(b, c.baseline...)
				base += time.Since(t0)
				baseCPU += cpu
				baseRSS = max(baseRSS, rss)
			}
			n := float64(b.N)
			b.ReportMetric(ours.Seconds()/n, "ours_s")
			b.ReportMetric(base.Seconds()/n, "baseline_s")
			b.ReportMetric(base.Seconds()/ours.Seconds(), "ratio")
			b.ReportMetric(oursCPU/n, "ours_cpu_s")
			b.ReportMetric(baseCPU/n, "baseline_cpu_s")
			b.ReportMetric(baseCPU/oursCPU, "cpu_ratio")
			b.ReportMetric(dur/(ours.Seconds()/n), "ours_xrealtime")
			b.ReportMetric(oursRSS, "ours_peakRSS_MiB")
			b.ReportMetric(baseRSS, "baseline_peakRSS_MiB")
		})
	}
}

// jobsBenchMedia makes the 45 s 1080p30 recording once under
// $TMPDIR/opendems-jobs-bench (it takes a while) and reuses it.
func jobsBenchMedia(b *testing.B) string {
	b.Helper()
	dir := filepath.Join(os.TempDir(), "opendems-jobs-bench")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		b.Fatal(err)
	}
	p := filepath.Join(dir, "face-1080p30-45s.mp4")
	if _, err := os.Stat(p); err == nil {
		return p
	}
	tmp := p + ".tmp.mp4"
	ffmpegB(b, "-f", "lavfi", "-i", "testsrc2=size=1920x1080:rate=30:duration=45",
		"-loop", "1", "-framerate", "30", "-i", filepath.Join("..", "..", "redact", "testdata", "face.jpg"),
		"-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000:duration=45",
		"-filter_complex", "[1]scale=256:320,format=yuv420p[f];[0][f]overlay=x='100+30*t':y=300:shortest=1:eval=frame[v]",
		"-map", "[v]", "-map", "2", "-c:v", "libx264", "-preset", "ultrafast", "-crf", "23", "-g", "60", "-pix_fmt", "yuv420p",
		"-c:a", "aac", "-t", "45", tmp)
	if err := os.Rename(tmp, p); err != nil {
		b.Fatal(err)
	}
	return p
}

// selfCPU is this process's user+system CPU time so far.
func selfCPU() float64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano()).Seconds()
}

// resetPeakRSS resets this process's VmHWM (Linux: "5" to clear_refs), so
// the next reading is the peak of what ran since.
func resetPeakRSS() { _ = os.WriteFile("/proc/self/clear_refs", []byte("5"), 0) }

// procHWM reads a process's peak resident set size in MiB (0 if gone).
func procHWM(pid int) float64 {
	raw, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(raw), "\n") {
		if v, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			kb, _ := strconv.Atoi(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")))
			return float64(kb) / 1024
		}
	}
	return 0
}

// ffmpegUsage runs the ffmpeg CLI and returns its CPU time and peak RSS
// (sampled from /proc while it runs: rusage's maxrss of a child started
// from a large process can carry the parent's high-water mark).
func ffmpegUsage(b *testing.B, args ...string) (cpu, rssMiB float64) {
	b.Helper()
	bin, err := exec.LookPath("ffmpeg")
	if err != nil {
		b.Fatal("ffmpeg CLI (benchmark baseline) not found")
	}
	cmd := exec.Command(bin, append([]string{"-nostdin", "-v", "error", "-y"}, args...)...)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	done := make(chan struct{})
	peak := make(chan float64, 1)
	go func() {
		p := 0.0
		t := time.NewTicker(20 * time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-done:
				peak <- p
				return
			case <-t.C:
				p = max(p, procHWM(cmd.Process.Pid))
			}
		}
	}()
	err = cmd.Wait()
	close(done)
	rss := <-peak
	if err != nil {
		b.Fatalf("ffmpeg %v: %v\n%s", args, err, stderr.String())
	}
	ru := cmd.ProcessState.SysUsage().(*syscall.Rusage)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano()).Seconds(), rss
}
