package redact

import (
	"context"
	"os"
	"path/filepath"
	"runtime"
	"syscall"
	"testing"
	"time"
)

// BenchmarkDetectRedact1080p is issue 17's speed target: `demsd detect`
// then `demsd redact` (Detect with the default detector, then Render with
// the default encoder settings) on a 20 s 1080p30 clip with three real
// faces moving across a real background, by wall clock, against the
// ffmpeg CLI re-encoding the same clip with a full-frame boxblur and the
// same encoder settings, in the same run. It also scores the proposal
// against the known face boxes. Runs under `make bench` (OPENDEMS_BENCH=1).
func BenchmarkDetectRedact1080p(b *testing.B) {
	if os.Getenv("OPENDEMS_BENCH") != "1" {
		b.Skip("set OPENDEMS_BENCH=1 (make bench)")
	}
	c, src := benchEvalClip(b)
	out := b.TempDir()
	var detect, render, base, detectNoFull time.Duration
	var oursCPU, baseCPU, detectCPU, noFullCPU float64
	var score, scoreNoFull clipScore
	for b.Loop() {
		t0, c0 := time.Now(), cpuSeconds(syscall.RUSAGE_SELF)
		res, err := Detect(context.Background(), src, DetectOptions{})
		if err != nil {
			b.Fatal(err)
		}
		detect += time.Since(t0)
		detectCPU += cpuSeconds(syscall.RUSAGE_SELF) - c0
		t1 := time.Now()
		if _, err := Render(context.Background(), res.Spec, src, filepath.Join(out, "ours.mp4"), RenderOptions{}); err != nil {
			b.Fatal(err)
		}
		render += time.Since(t1)
		oursCPU += cpuSeconds(syscall.RUSAGE_SELF) - c0
		score = scoreClip(b, c, res)
		// The same without the full-resolution pass (faces under ~40 px
		// at 1080p are then missed): what that pass costs.
		t0, c0 = time.Now(), cpuSeconds(syscall.RUSAGE_SELF)
		res, err = Detect(context.Background(), src, DetectOptions{FullEvery: -1})
		if err != nil {
			b.Fatal(err)
		}
		detectNoFull += time.Since(t0)
		noFullCPU += cpuSeconds(syscall.RUSAGE_SELF) - c0
		scoreNoFull = scoreClip(b, c, res)
		t0 = time.Now()
		cpu, _ := runFFmpegUsage(b, "-i", src, "-vf", "boxblur=luma_radius=10:luma_power=2", "-c:v", "libx264", "-preset", "veryfast", "-crf", "20",
			"-movflags", "+faststart", filepath.Join(out, "baseline.mp4"))
		base += time.Since(t0)
		baseCPU += cpu
	}
	n := float64(b.N)
	ours := (detect + render).Seconds() / n
	b.ReportMetric(detect.Seconds()/n, "detect_s")
	b.ReportMetric(render.Seconds()/n, "render_s")
	b.ReportMetric(ours, "ours_s")
	b.ReportMetric(base.Seconds()/n, "baseline_s")
	b.ReportMetric(base.Seconds()/n/ours, "ratio")
	b.ReportMetric(c.seconds/ours, "ours_xrealtime")
	b.ReportMetric(c.seconds/(base.Seconds()/n), "baseline_xrealtime")
	b.ReportMetric(c.seconds/(detect.Seconds()/n), "detect_xrealtime")
	b.ReportMetric(baseCPU/oursCPU, "cpu_ratio")
	b.ReportMetric(oursCPU/n, "ours_cpu_s")
	b.ReportMetric(detectCPU/n, "detect_cpu_s")
	b.ReportMetric(baseCPU/n, "baseline_cpu_s")
	cores := float64(runtime.GOMAXPROCS(0))
	b.ReportMetric(c.seconds/(oursCPU/n/cores), "ours_cpu_xrealtime")
	b.ReportMetric(c.seconds/(baseCPU/n/cores), "baseline_cpu_xrealtime")
	b.ReportMetric(detectNoFull.Seconds()/n, "detect_nofull_s")
	b.ReportMetric(noFullCPU/n, "detect_nofull_cpu_s")
	b.ReportMetric(float64(scoreNoFull.hidden)/float64(max(1, scoreNoFull.faceFrames)), "recall_nofull")
	b.ReportMetric(maxRSS(syscall.RUSAGE_SELF), "ours_peakRSS_MiB")
	b.ReportMetric(float64(runtime.GOMAXPROCS(0)), "cores")
	b.ReportMetric(float64(score.hidden)/float64(max(1, score.faceFrames)), "recall")
	b.ReportMetric(float64(score.longestLeak), "longest_leak_frames")
}

// benchEvalClip is the 20 s 1080p30 clip of the 1080p benchmarks: four
// real faces (300, 200, 48 and 30 px tall) moving across a real
// background. It is made once under $TMPDIR/opendems-redact-bench.
func benchEvalClip(b *testing.B) (evalClip, string) {
	b.Helper()
	c := evalClip{name: "bench-1080p30-20s-v2", class: classSeveral, w: 1920, h: 1080, fps: 30, seconds: 20, bg: "bg-building.jpg",
		actors: []evalActor{
			{photo: "person05.jpg", h: 300, cx: 300, cy: 500, vx: 15},
			{photo: "person08.jpg", h: 200, cx: 1600, cy: 400, vx: -20, vy: 5},
			{photo: "person10.jpg", h: sm("person10.jpg", 48), cx: 1000, cy: 850, vx: 10},
			{photo: "person02.jpg", h: sm("person02.jpg", 30), cx: 1000, cy: 250, vx: -5},
		}}
	c.defaults()
	dir := filepath.Join(os.TempDir(), "opendems-redact-bench")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		b.Fatal(err)
	}
	src := filepath.Join(dir, c.name+".mp4")
	if _, err := os.Stat(src); err != nil {
		tmp := src + ".tmp.mp4"
		c.render(b, tmp)
		if err := os.Rename(tmp, src); err != nil {
			b.Fatal(err)
		}
	}
	return c, src
}

var sm = photoHeightForFace

// BenchmarkEvalDetectors runs the evaluation set with each detector
// (YuNet alone, pigo alone, their union) and logs the per-class tables
// that docs/redaction.md compares (go test -bench EvalDetectors -v).
func BenchmarkEvalDetectors(b *testing.B) {
	if os.Getenv("OPENDEMS_BENCH") != "1" {
		b.Skip("set OPENDEMS_BENCH=1 (make bench)")
	}
	for b.Loop() {
		for _, d := range []string{DetectorYuNet, DetectorPigo, DetectorUnion} {
			t0 := time.Now()
			by := runEval(b, DetectOptions{Detector: d})
			logClasses(b, d, by)
			b.Logf("%s: evaluation set in %.1fs", d, time.Since(t0).Seconds())
		}
	}
}

// BenchmarkDetect1080p is issue 15's detection target (≥ 2× real time at
// 1080p on 2 cores by wall clock): Detect with the default options on the
// 20 s 1080p30 clip of BenchmarkDetectRedact1080p, against the ffmpeg CLI
// only decoding the same clip (`ffmpeg -i src -map 0:v -f null -`, every
// core) in the same run, each side twice in ABBA order. Reported:
// detect_xrealtime (clip seconds / Detect's wall time), detect_cpu_xrealtime
// (the same from CPU time over the cores: what idle cores would give),
// decode_xrealtime for the CLI, ratio = decode wall / detect wall and
// cpu_ratio likewise (1.0 would be detection as cheap as decoding), and the
// proposal's recall and longest leak on the clip (the speed must not cost
// a face).
func BenchmarkDetect1080p(b *testing.B) {
	if os.Getenv("OPENDEMS_BENCH") != "1" {
		b.Skip("set OPENDEMS_BENCH=1 (make bench)")
	}
	c, src := benchEvalClip(b)
	var ours, base time.Duration
	var oursCPU, baseCPU float64
	var score clipScore
	runs := 0
	detect := func() {
		t0, c0 := time.Now(), cpuSeconds(syscall.RUSAGE_SELF)
		res, err := Detect(context.Background(), src, DetectOptions{})
		if err != nil {
			b.Fatal(err)
		}
		ours += time.Since(t0)
		oursCPU += cpuSeconds(syscall.RUSAGE_SELF) - c0
		score = scoreClip(b, c, res)
		if score.hidden != score.faceFrames {
			b.Errorf("recall %d/%d face-frames, longest leak %d frames", score.hidden, score.faceFrames, score.longestLeak)
		}
	}
	decode := func() {
		t0 := time.Now()
		cpu, _ := runFFmpegUsage(b, "-i", src, "-map", "0:v:0", "-f", "null", "-")
		base += time.Since(t0)
		baseCPU += cpu
	}
	for b.Loop() {
		detect()
		decode()
		decode()
		detect()
		runs += 2
	}
	n := float64(runs)
	cores := float64(runtime.GOMAXPROCS(0))
	b.ReportMetric(ours.Seconds()/n, "detect_s")
	b.ReportMetric(base.Seconds()/n, "decode_s")
	b.ReportMetric(c.seconds/(ours.Seconds()/n), "detect_xrealtime")
	b.ReportMetric(c.seconds/(base.Seconds()/n), "decode_xrealtime")
	b.ReportMetric(base.Seconds()/ours.Seconds(), "ratio")
	b.ReportMetric(oursCPU/n, "detect_cpu_s")
	b.ReportMetric(baseCPU/n, "decode_cpu_s")
	b.ReportMetric(c.seconds/(oursCPU/n/cores), "detect_cpu_xrealtime")
	b.ReportMetric(baseCPU/oursCPU, "cpu_ratio")
	b.ReportMetric(cores, "cores")
	b.ReportMetric(float64(score.hidden)/float64(max(1, score.faceFrames)), "recall")
	b.ReportMetric(float64(score.longestLeak), "longest_leak_frames")
}
