package releasepkg_test

import (
	"context"
	"crypto/sha256"
	"crypto/sha512"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/opendems/opendems/evidence/release/bagit"
	"github.com/opendems/opendems/evidence/release/releasepkg"
	"github.com/opendems/opendems/evidence/release/releasepkg/pkgtest"
)

// benchClipBytes is the total clip size: 2 GiB under `make bench`
// (OPENDEMS_BENCH=1), 64 MiB otherwise; OPENDEMS_BENCH_RELEASE_MB
// overrides both.
func benchClipBytes() int64 {
	if v, err := strconv.ParseInt(os.Getenv("OPENDEMS_BENCH_RELEASE_MB"), 10, 64); err == nil && v > 0 {
		return v << 20
	}
	if os.Getenv("OPENDEMS_BENCH") == "1" {
		return 2 << 30
	}
	return 64 << 20
}

// benchFixture writes four clips totalling benchClipBytes.
func benchFixture(b *testing.B) (*pkgtest.Fixture, string) {
	b.Helper()
	dir := b.TempDir()
	per := benchClipBytes() / 4
	f, err := pkgtest.NewFixture(dir, pkgtest.Key(), per, per, per, per)
	if err != nil {
		b.Fatal(err)
	}
	return f, dir
}

// resetPeakRSS makes VmHWM start again from the current RSS (Linux:
// writing 5 to clear_refs), so the peak of one phase can be read.
func resetPeakRSS() { os.WriteFile("/proc/self/clear_refs", []byte("5"), 0) }

// peakRSSMiB reads VmHWM.
func peakRSSMiB() float64 {
	data, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return -1
	}
	for _, l := range strings.Split(string(data), "\n") {
		if strings.HasPrefix(l, "VmHWM:") {
			kb, _ := strconv.ParseFloat(strings.TrimSuffix(strings.TrimSpace(strings.TrimPrefix(l, "VmHWM:")), " kB"), 64)
			return kb / 1024
		}
	}
	return -1
}

func cpuSeconds() float64 {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano()).Seconds()
}

// BenchmarkBuildPackage builds a release package of 2 GiB of clips
// (streamed ZIP, SHA-256 and SHA-512 of every byte, reports, letter,
// custody, signature) against the baseline of copying the same clip
// files into one output file. ratio = baseline time / ours (goal >= 0.8);
// peak RSS of the build is reported.
func BenchmarkBuildPackage(b *testing.B) {
	f, dir := benchFixture(b)
	ctx := context.Background()
	out := filepath.Join(dir, "out")
	plainCopy := func() time.Duration {
		t0 := time.Now()
		w, err := os.Create(out)
		if err != nil {
			b.Fatal(err)
		}
		for _, p := range f.ClipFiles {
			r, err := os.Open(p)
			if err != nil {
				b.Fatal(err)
			}
			if _, err := io.Copy(w, r); err != nil {
				b.Fatal(err)
			}
			r.Close()
		}
		if err := w.Close(); err != nil {
			b.Fatal(err)
		}
		return time.Since(t0)
	}
	build := func() time.Duration {
		t0 := time.Now()
		if _, err := f.Build(ctx, out); err != nil {
			b.Fatal(err)
		}
		return time.Since(t0)
	}
	plainCopy() // warm the page cache for both
	b.ResetTimer()
	var base, ours time.Duration
	var oursCPU, peak float64
	for i := 0; i < b.N; i++ {
		base += plainCopy()
		os.Remove(out)
		runtime.GC()
		resetPeakRSS()
		c0 := cpuSeconds()
		ours += build()
		oursCPU += cpuSeconds() - c0
		peak = max(peak, peakRSSMiB())
		os.Remove(out)
	}
	n := float64(b.N)
	gb := float64(f.ClipBytes) / 1e9
	b.ReportMetric(gb, "clip_GB")
	b.ReportMetric(ours.Seconds()/n, "ours_s")
	b.ReportMetric(base.Seconds()/n, "baseline_s")
	b.ReportMetric(base.Seconds()/ours.Seconds(), "ratio")
	b.ReportMetric(oursCPU/n, "ours_cpu_s")
	b.ReportMetric(peak, "peak_rss_MiB")
	b.Logf("build %.2f GB: %.2fs (%.2f GB/s, %.2f CPU s) vs plain copy %.2fs: ratio %.2f; peak RSS %.0f MiB",
		gb, ours.Seconds()/n, gb/(ours.Seconds()/n), oursCPU/n, base.Seconds()/n, base.Seconds()/ours.Seconds(), peak)
}

// BenchmarkVerifyHashing measures `dems verify` (releasepkg.Verify) on the
// package of BenchmarkBuildPackage's size, with one core (GOMAXPROCS=1)
// and with all cores (SHA-256 and SHA-512 hashed in parallel goroutines),
// against baselines on the same bytes: SHA-256 alone and SHA-256 then
// SHA-512 in one goroutine. The goal is >= 1 GB/s on one core.
func BenchmarkVerifyHashing(b *testing.B) {
	f, dir := benchFixture(b)
	pkg := filepath.Join(dir, "release.zip")
	if _, err := f.Build(context.Background(), pkg); err != nil {
		b.Fatal(err)
	}
	gb := float64(f.ClipBytes) / 1e9
	hashFiles := func(sha512Too bool) float64 {
		t0 := time.Now()
		buf := make([]byte, 1<<20)
		for _, p := range f.ClipFiles {
			r, _ := os.Open(p)
			h2, h5 := sha256.New(), sha512.New()
			for {
				n, err := r.Read(buf)
				h2.Write(buf[:n])
				if sha512Too {
					h5.Write(buf[:n])
				}
				if err != nil {
					break
				}
			}
			r.Close()
		}
		return time.Since(t0).Seconds()
	}
	verify := func(sha256Only bool) (float64, float64) {
		bag, err := bagit.Open(pkg)
		if err != nil {
			b.Fatal(err)
		}
		defer bag.Close()
		c0, t0 := cpuSeconds(), time.Now()
		if _, err := releasepkg.Verify(context.Background(), bag, releasepkg.VerifyOptions{SHA256Only: sha256Only}); err != nil {
			b.Fatal(err)
		}
		return time.Since(t0).Seconds(), cpuSeconds() - c0
	}
	hashFiles(false) // page cache
	procs := runtime.GOMAXPROCS(0)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		sha256Only := hashFiles(false)
		both := hashFiles(true)
		runtime.GOMAXPROCS(1)
		one, oneCPU := verify(false)
		fast, fastCPU := verify(true)
		runtime.GOMAXPROCS(procs)
		all, allCPU := verify(false)
		b.ReportMetric(gb/one, "verify_1core_GB/s")
		b.ReportMetric(gb/all, fmt.Sprintf("verify_%dcores_GB/s", procs))
		b.ReportMetric(gb/oneCPU, "verify_GB_per_cpu_s")
		b.ReportMetric(gb/sha256Only, "baseline_sha256_GB/s")
		b.ReportMetric(gb/both, "baseline_sha256+512_GB/s")
		b.ReportMetric(gb/fast, "verify_sha256only_1core_GB/s")
		b.ReportMetric(gb/fastCPU, "verify_sha256only_GB_per_cpu_s")
		b.ReportMetric((gb/one)/1.0, "ratio_1core_vs_goal")
		b.Logf("%.2f GB: verify %.2f GB/s on 1 core (%.2f GB per CPU s), %.2f GB/s on %d cores (%.2f CPU s); --sha256-only %.2f GB/s on 1 core (%.2f GB per CPU s); plain SHA-256 %.2f GB/s, SHA-256+SHA-512 %.2f GB/s",
			gb, gb/one, gb/oneCPU, gb/all, procs, allCPU, gb/fast, gb/fastCPU, gb/sha256Only, gb/both)
	}
}
