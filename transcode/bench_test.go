package transcode_test

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/opendems/opendems/transcode"
)

// BenchmarkProxy1080p compares our in-process proxy with the ffmpeg CLI
// doing the same work (same libx264 preset/CRF/GOP, same scale filter, AAC
// 128k, faststart) on a 60 s 1080p30 testsrc2+sine clip, in one run, each
// side twice in ABBA order (times are averages).
//
// Reported: ours_s and ffmpeg_s (wall time), ratio = ffmpeg_s/ours_s (≥1
// means we are at least as fast), x_realtime = clip length / ours_s, and the
// peak RSS of each (ours is the whole test process, Go runtime included).
func BenchmarkProxy1080p(b *testing.B) {
	if _, err := exec.LookPath("ffmpeg"); err != nil {
		b.Fatalf("ffmpeg CLI needed for the baseline: %v", err)
	}
	const seconds = 60.0
	dir := b.TempDir()
	src := filepath.Join(dir, "src.mp4")
	// The source is H.264 High 1080p30 + AAC, like a body-worn camera file.
	ffmpeg(b, "-f", "lavfi", "-i", "testsrc2=size=1920x1080:rate=30:duration=60",
		"-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000:duration=60", "-ac", "2",
		"-c:v", "libx264", "-preset", "ultrafast", "-crf", "18", "-pix_fmt", "yuv420p",
		"-c:a", "aac", "-b:a", "128k", src)
	opts := transcode.ProxyOptions{Preset: "veryfast", CRF: 23}
	w, h := 1280, 720
	b.ResetTimer()
	var ours, theirs time.Duration
	var theirsRSS int64
	var oursCPU, theirsCPU time.Duration
	out := filepath.Join(dir, "ours.mp4")
	runOurs := func() {
		cpu0 := selfCPU()
		start := time.Now()
		if _, err := transcode.Proxy(context.Background(), src, out, opts, nil); err != nil {
			b.Fatal(err)
		}
		ours += time.Since(start)
		oursCPU += selfCPU() - cpu0
	}
	runFFmpeg := func() {
		ref := filepath.Join(dir, "ffmpeg.mp4")
		cmd := exec.Command("ffmpeg", "-hide_banner", "-loglevel", "error", "-y", "-i", src,
			"-vf", "scale=1280:720:flags=bicubic,format=yuv420p,setsar=1",
			"-c:v", "libx264", "-preset", opts.Preset, "-crf", "23", "-g", "60",
			"-c:a", "aac", "-b:a", "128k", "-ar", "48000", "-ac", "2",
			"-movflags", "+faststart", ref)
		cmd.Stderr = os.Stderr
		start := time.Now()
		if err := cmd.Start(); err != nil {
			b.Fatal(err)
		}
		done := make(chan struct{})
		hwm := make(chan int64, 1)
		go func() { hwm <- pollHWM(cmd.Process.Pid, done) }()
		err := cmd.Wait()
		theirs += time.Since(start)
		close(done)
		theirsRSS = max(theirsRSS, <-hwm)
		if err != nil {
			b.Fatal(err)
		}
		theirsCPU += cmd.ProcessState.UserTime() + cmd.ProcessState.SystemTime()
	}
	// ABBA order per iteration, so a change in the shared machine's load
	// during the run weighs on both sides alike.
	runs := 0
	for i := 0; i < b.N; i++ {
		runOurs()
		runFFmpeg()
		runFFmpeg()
		runOurs()
		runs += 2
		// Same geometry, so the comparison is like for like.
		r, err := transcode.Probe(context.Background(), out)
		if err != nil || r.Streams[0].Width != w || r.Streams[0].Height != h {
			b.Fatalf("our proxy: %+v %v", r, err)
		}
	}
	b.StopTimer()
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	n := float64(runs)
	oursS, theirsS := ours.Seconds()/n, theirs.Seconds()/n
	b.ReportMetric(oursS, "ours_s")
	b.ReportMetric(theirsS, "ffmpeg_s")
	b.ReportMetric(theirsS/oursS, "ratio")
	b.ReportMetric(seconds/oursS, "x_realtime")
	b.ReportMetric(seconds/theirsS, "ffmpeg_x_realtime")
	b.ReportMetric(float64(ru.Maxrss)/1024, "ours_peak_rss_MB")
	b.ReportMetric(float64(theirsRSS)/1024, "ffmpeg_peak_rss_MB")
	// CPU seconds do not depend on how busy the shared machine is: they
	// say what the wall times would be on 2 idle cores (≈ cpu_s / 2).
	b.ReportMetric(oursCPU.Seconds()/n, "ours_cpu_s")
	b.ReportMetric(theirsCPU.Seconds()/n, "ffmpeg_cpu_s")
	b.ReportMetric(theirsCPU.Seconds()/oursCPU.Seconds(), "cpu_ratio")
}

// selfCPU is this process's user+system CPU time so far.
func selfCPU() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// pollHWM returns the highest VmHWM (peak RSS, KiB) seen in
// /proc/PID/status until done is closed. getrusage of a child is no use
// here: Go starts children with vfork, so the child's maxrss starts at the
// parent's RSS.
func pollHWM(pid int, done <-chan struct{}) int64 {
	var peak int64
	path := fmt.Sprintf("/proc/%d/status", pid)
	t := time.NewTicker(20 * time.Millisecond)
	defer t.Stop()
	for {
		if b, err := os.ReadFile(path); err == nil {
			for _, line := range strings.Split(string(b), "\n") {
				if v, ok := strings.CutPrefix(line, "VmHWM:"); ok {
					kb, _ := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
					peak = max(peak, kb)
				}
			}
		}
		select {
		case <-done:
			return peak
		case <-t.C:
		}
	}
}

// BenchmarkProxyRemux: a browser-ready source (60 s 720p30 H.264 High,
// 1 s GOP, AAC-LC, moov at the end, like a phone or body-worn camera set
// to 720p) is remuxed, not encoded. In one run, each side twice in ABBA
// order:
//
//   - ours_s: Proxy (remux: packets copied, first frame decoded for the
//     interlace check, faststart);
//   - ffmpeg_s: `ffmpeg -i src -c copy -movflags +faststart` (the same
//     work by the CLI); ratio = ffmpeg_s/ours_s, cpu_ratio likewise;
//   - process_s: Process with poster and sprite (the job's call: the
//     whole video is decoded for the stills, nothing is encoded);
//   - encode_s: Proxy with NoRemux (what the job did before), speedup =
//     encode_s/ours_s and encode_cpu_s/process_cpu_s.
func BenchmarkProxyRemux(b *testing.B) {
	if _, err := exec.LookPath("ffmpeg"); err != nil {
		b.Fatalf("ffmpeg CLI needed for the baseline: %v", err)
	}
	const seconds = 60.0
	dir := b.TempDir()
	src := filepath.Join(dir, "src.mp4")
	ffmpeg(b, "-f", "lavfi", "-i", "testsrc2=size=1280x720:rate=30:duration=60",
		"-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000:duration=60", "-ac", "2",
		"-c:v", "libx264", "-preset", "veryfast", "-profile:v", "high", "-b:v", "4M", "-g", "30", "-pix_fmt", "yuv420p",
		"-c:a", "aac", "-b:a", "128k", src)
	out := filepath.Join(dir, "ours.mp4")
	timed := func(wall, cpu *time.Duration, f func()) {
		cpu0 := selfCPU()
		start := time.Now()
		f()
		*wall += time.Since(start)
		*cpu += selfCPU() - cpu0
	}
	var ours, oursCPU, theirs, theirsCPU, process, processCPU, encode, encodeCPU time.Duration
	runOurs := func() {
		timed(&ours, &oursCPU, func() {
			res, err := transcode.Proxy(context.Background(), src, out, transcode.ProxyOptions{}, nil)
			if err != nil || res.Method != transcode.ProxyRemuxed {
				b.Fatalf("remux: %+v %v", res, err)
			}
		})
	}
	runFFmpeg := func() {
		cmd := exec.Command("ffmpeg", "-hide_banner", "-loglevel", "error", "-y", "-i", src,
			"-map", "0:v:0", "-map", "0:a:0", "-c", "copy", "-movflags", "+faststart", filepath.Join(dir, "ffmpeg.mp4"))
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
		runOurs()
		runFFmpeg()
		runFFmpeg()
		runOurs()
		runs += 2
		timed(&process, &processCPU, func() {
			res, err := transcode.Process(context.Background(), src, transcode.ProcessOptions{ProxyPath: out,
				Poster: &transcode.PosterOptions{}, Sprite: &transcode.SpriteOptions{Tiles: 12, Columns: 10, TileWidth: 160}})
			if err != nil || res.Proxy == nil || res.Proxy.Method != transcode.ProxyRemuxed || res.Sprite == nil {
				b.Fatalf("process: %+v %v", res, err)
			}
		})
		timed(&encode, &encodeCPU, func() {
			if _, err := transcode.Proxy(context.Background(), src, out, transcode.ProxyOptions{NoRemux: true}, nil); err != nil {
				b.Fatal(err)
			}
		})
	}
	b.StopTimer()
	n, it := float64(runs), float64(b.N)
	b.ReportMetric(ours.Seconds()/n, "ours_s")
	b.ReportMetric(theirs.Seconds()/n, "ffmpeg_s")
	b.ReportMetric(theirs.Seconds()/ours.Seconds(), "ratio")
	b.ReportMetric(oursCPU.Seconds()/n, "ours_cpu_s")
	b.ReportMetric(theirsCPU.Seconds()/n, "ffmpeg_cpu_s")
	b.ReportMetric(theirsCPU.Seconds()/oursCPU.Seconds(), "cpu_ratio")
	b.ReportMetric(process.Seconds()/it, "process_s")
	b.ReportMetric(processCPU.Seconds()/it, "process_cpu_s")
	b.ReportMetric(encode.Seconds()/it, "encode_s")
	b.ReportMetric(encodeCPU.Seconds()/it, "encode_cpu_s")
	b.ReportMetric(encode.Seconds()/it/(ours.Seconds()/n), "speedup")
	b.ReportMetric(encodeCPU.Seconds()/processCPU.Seconds(), "process_cpu_speedup")
	b.ReportMetric(seconds/(process.Seconds()/it), "process_x_realtime")
}
