package redact

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// Benchmarks make their media once under $TMPDIR/opendems-redact-bench (it
// takes a while at 1080p) and reuse it on later runs; normal tests never do.

func benchMedia(b *testing.B, name string, c clipSpec) string {
	b.Helper()
	dir := filepath.Join(os.TempDir(), "opendems-redact-bench")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		b.Fatal(err)
	}
	p := filepath.Join(dir, name)
	if _, err := os.Stat(p); err == nil {
		return p
	}
	tmp := p + ".tmp.mp4"
	makeClip(b, tmp, c)
	if err := os.Rename(tmp, p); err != nil {
		b.Fatal(err)
	}
	return p
}

// cpuSeconds is the user+system CPU time used so far by who.
func cpuSeconds(who int) float64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(who, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano()).Seconds()
}

// runFFmpegUsage runs the ffmpeg CLI and returns its CPU time and peak
// RSS. The peak is sampled from /proc/PID/status (VmHWM) while it runs:
// rusage's maxrss of a child started from a large process carries the
// parent's high-water mark across exec, so it would not be ffmpeg's own.
func runFFmpegUsage(b *testing.B, args ...string) (cpu, rssMiB float64) {
	b.Helper()
	cmd := exec.Command(needFFmpeg(b), append([]string{"-nostdin", "-v", "error", "-y"}, args...)...)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	done := make(chan struct{})
	var peak float64
	go func() {
		t := time.NewTicker(50 * time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case <-t.C:
				if v := vmHWM(cmd.Process.Pid); v > peak {
					peak = v
				}
			}
		}
	}()
	err := cmd.Wait()
	close(done)
	if err != nil {
		b.Fatalf("ffmpeg: %v\n%s", err, stderr.String())
	}
	ru := cmd.ProcessState.SysUsage().(*syscall.Rusage)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano()).Seconds(), peak
}

// vmHWM reads a process's peak resident set size in MiB (0 if gone).
func vmHWM(pid int) float64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			kb, _ := strconv.Atoi(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")))
			return float64(kb) / 1024
		}
	}
	return 0
}

func maxRSS(who int) float64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(who, &ru); err != nil {
		return 0
	}
	return float64(ru.Maxrss) / 1024 // KiB → MiB
}

// BenchmarkRender renders a 60 s 1080p30 clip with three moving blurred
// regions and a muted range, and the ffmpeg CLI with an equivalent filter
// graph (split/crop/boxblur/overlay with enable='between(t,a,b)' and
// volume=0 with enable) and the same encoder settings, in the same run.
// ratio = baseline seconds / ours (>= 1: we are at least as fast).
func BenchmarkRender(b *testing.B) {
	c := clipSpec{width: 1920, height: 1080, fps: 30, seconds: 60, faceW: 256, faceH: 320, x0: 100, y0: 300, vx: 20, audio: true,
		codec: []string{"-c:v", "libx264", "-preset", "ultrafast", "-crf", "23", "-pix_fmt", "yuv420p", "-g", "60"}}
	src := benchMedia(b, "render-1080p30-60s.mp4", c)
	type reg struct{ x, y, w, h, vx, vy, start, end float64 }
	regs := []reg{
		{100, 300, 256, 320, 20, 0, 0, 60},    // follows the face
		{1200, 100, 300, 200, -10, 5, 10, 40}, // a sign drifting
		{600, 700, 400, 240, 8, -4, 30, 55},   // a plate
	}
	const strength = 30
	spec := &Spec{Version: 1, Clip: Clip{Source: "bench"},
		Audio: []AudioRange{{ID: "a1", Start: 20, End: 35, Action: AudioMute, Reason: "bench", Origin: OriginManual}}}
	filter := "[0:v]split=4[base][c0][c1][c2];"
	for i, r := range regs {
		spec.Regions = append(spec.Regions, Region{ID: fmt.Sprint("r", i), Shape: ShapeRectangle,
			Effect: Effect{Type: EffectBlur, Strength: strength}, Reason: "bench", Origin: OriginManual,
			Keyframes: []Keyframe{
				{Time: r.start, X: r.x + r.vx*r.start, Y: r.y + r.vy*r.start, Width: r.w, Height: r.h},
				{Time: r.end, X: r.x + r.vx*r.end, Y: r.y + r.vy*r.end, Width: r.w, Height: r.h},
			}})
		rad := blurRadius(min(r.w, r.h), strength)
		xe, ye := fmt.Sprintf("%g+%g*t", r.x, r.vx), fmt.Sprintf("%g+%g*t", r.y, r.vy)
		in := "base"
		if i > 0 {
			in = fmt.Sprint("o", i-1)
		}
		out := fmt.Sprint("o", i)
		if i == len(regs)-1 {
			out = "v"
		}
		filter += fmt.Sprintf("[c%d]crop=w=%g:h=%g:x='%s':y='%s',boxblur=luma_radius=%d:luma_power=3:chroma_radius=%d:chroma_power=3[b%d];"+
			"[%s][b%d]overlay=x='%s':y='%s':enable='between(t,%g,%g)'[%s]",
			i, r.w, r.h, xe, ye, rad, rad/2, i, in, i, xe, ye, r.start, r.end, out)
		if i < len(regs)-1 {
			filter += ";"
		}
	}
	spec.Normalize()
	if err := spec.Validate(); err != nil {
		b.Fatal(err)
	}
	dir := b.TempDir()
	var ours, base time.Duration
	var oursCPU, baseCPU, baseRSS float64
	for b.Loop() {
		t0, c0 := time.Now(), cpuSeconds(syscall.RUSAGE_SELF)
		if _, err := Render(context.Background(), spec, src, filepath.Join(dir, "ours.mp4"), RenderOptions{Preset: "veryfast", CRF: 20}); err != nil {
			b.Fatal(err)
		}
		ours += time.Since(t0)
		oursCPU += cpuSeconds(syscall.RUSAGE_SELF) - c0
		t0 = time.Now()
		cpu, rss := runFFmpegUsage(b, "-i", src, "-filter_complex", filter, "-af", "volume=0:enable='between(t,20,35)'",
			"-map", "[v]", "-map", "0:a", "-c:v", "libx264", "-preset", "veryfast", "-crf", "20", "-g", "60",
			"-c:a", "aac", "-b:a", "128k", "-movflags", "+faststart", filepath.Join(dir, "baseline.mp4"))
		base += time.Since(t0)
		baseCPU += cpu
		baseRSS = max(baseRSS, rss)
	}
	n := float64(b.N)
	b.ReportMetric(oursCPU/n, "ours_cpu_s")
	b.ReportMetric(baseCPU/n, "baseline_cpu_s")
	b.ReportMetric(baseCPU/oursCPU, "cpu_ratio")
	b.ReportMetric(ours.Seconds()/n, "ours_s")
	b.ReportMetric(base.Seconds()/n, "baseline_s")
	b.ReportMetric(base.Seconds()/ours.Seconds(), "ratio")
	b.ReportMetric(c.seconds/(ours.Seconds()/n), "ours_xrealtime")
	b.ReportMetric(c.seconds/(base.Seconds()/n), "baseline_xrealtime")
	b.ReportMetric(maxRSS(syscall.RUSAGE_SELF), "ours_peakRSS_MiB")
	b.ReportMetric(baseRSS, "baseline_peakRSS_MiB")
	cores := float64(runtime.GOMAXPROCS(0))
	b.ReportMetric(c.seconds/(oursCPU/n/cores), "ours_cpu_xrealtime")
	b.ReportMetric(c.seconds/(baseCPU/n/cores), "baseline_cpu_xrealtime")
}

// BenchmarkDetect measures face detection on 720p30 footage (test pattern
// with camera-like noise, so no area is flat): ours (every
// 2nd frame, analysed at 640 px wide, one classifier per core) against the
// naive baseline (every frame at full resolution), in frames of footage per
// second and × real time. GOMAXPROCS bounds the cores (the target is 2).
func BenchmarkDetect(b *testing.B) {
	c := clipSpec{width: 1280, height: 720, fps: 30, seconds: 10, faceW: 200, faceH: 250, x0: 50, y0: 200, vx: 40, vy: -3, noise: 12,
		codec: []string{"-c:v", "libx264", "-preset", "ultrafast", "-crf", "23", "-pix_fmt", "yuv420p"}}
	src := benchMedia(b, "detect-720p30-10s-noise.mp4", c)
	frames := c.seconds * float64(c.fps)
	var ours, base time.Duration
	var oursCPU, baseCPU float64
	for b.Loop() {
		t0, c0 := time.Now(), cpuSeconds(syscall.RUSAGE_SELF)
		res, err := Detect(context.Background(), src, DetectOptions{})
		if err != nil {
			b.Fatal(err)
		}
		ours += time.Since(t0)
		oursCPU += cpuSeconds(syscall.RUSAGE_SELF) - c0
		if len(res.Spec.Regions) != 1 {
			b.Errorf("ours tracked %d faces, want 1", len(res.Spec.Regions))
		}
		t0, c0 = time.Now(), cpuSeconds(syscall.RUSAGE_SELF)
		if _, err := Detect(context.Background(), src, DetectOptions{Stride: 1, MaxWidth: c.width}); err != nil {
			b.Fatal(err)
		}
		base += time.Since(t0)
		baseCPU += cpuSeconds(syscall.RUSAGE_SELF) - c0
	}
	n := float64(b.N)
	b.ReportMetric(frames/(ours.Seconds()/n), "ours_frames/s")
	b.ReportMetric(frames/(base.Seconds()/n), "baseline_frames/s")
	b.ReportMetric(base.Seconds()/ours.Seconds(), "ratio")
	b.ReportMetric(frames/(ours.Seconds()/n)/float64(c.fps), "ours_xrealtime")
	b.ReportMetric(float64(runtime.GOMAXPROCS(0)), "cores")
	// Wall time suffers when other processes share the cores; CPU time
	// divided by the cores is the rate the same cores would give alone.
	cores := float64(runtime.GOMAXPROCS(0))
	b.ReportMetric(frames/(oursCPU/n/cores), "ours_cpu_frames/s")
	b.ReportMetric(frames/(oursCPU/n/cores)/float64(c.fps), "ours_cpu_xrealtime")
	b.ReportMetric(frames/(baseCPU/n/cores), "baseline_cpu_frames/s")
	b.ReportMetric(baseCPU/oursCPU, "cpu_ratio")
}
