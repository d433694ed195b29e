package ingest_test

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/minio/minio-go/v7"

	"github.com/opendems/opendems/evidence/dock"
	"github.com/opendems/opendems/evidence/ingest"
	"github.com/opendems/opendems/storage/s3"
)

// benchMB reads a size in MiB from the environment (default def), so
// `make bench` can be made lighter or heavier without editing code.
func benchMB(name string, def int64) int64 {
	if v, err := strconv.ParseInt(os.Getenv(name), 10, 64); err == nil && v > 0 {
		return v
	}
	return def
}

// peakRSSMB is this process's peak resident set (VmHWM), in MiB: the
// server, the agents and the baseline client all run in it.
func peakRSSMB() float64 {
	f, err := os.Open("/proc/self/status")
	if err != nil {
		return 0
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "VmHWM:"); ok {
			kb, _ := strconv.ParseFloat(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 64)
			return kb / 1024
		}
	}
	return 0
}

// cpuSeconds is the user+system CPU time of process pid (0: this one),
// from /proc/PID/stat; 0 if unreadable.
func cpuSeconds(pid int) float64 {
	path := "/proc/self/stat"
	if pid > 0 {
		path = fmt.Sprintf("/proc/%d/stat", pid)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return 0
	}
	// Fields after the command name (which may contain spaces).
	f := strings.Fields(string(b[strings.LastIndexByte(string(b), ')')+1:]))
	if len(f) < 13 {
		return 0
	}
	ut, _ := strconv.ParseFloat(f[11], 64)
	st, _ := strconv.ParseFloat(f[12], 64)
	return (ut + st) / 100 // USER_HZ
}

// minioPID finds the MinIO serving endpoint (host:port) among this
// machine's processes, so its CPU time can be reported; 0 if not found.
func minioPID(endpoint string) int {
	ents, _ := os.ReadDir("/proc")
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		cmd, _ := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
		args := strings.Split(string(cmd), "\x00")
		if len(args) > 1 && strings.HasSuffix(args[0], "minio") && slices.Contains(args, endpoint) {
			return pid
		}
	}
	return 0
}

// freshen changes a file's first bytes so each iteration uploads new
// content (a repeat would only be a duplicate).
func freshen(b *testing.B, path string, iter int) {
	f, err := os.OpenFile(path, os.O_WRONLY, 0)
	if err != nil {
		b.Fatal(err)
	}
	fmt.Fprintf(f, "%016d", iter)
	f.Close()
}

// BenchmarkPushVsPutObject: the agent pushing large files through the
// server into MinIO (dems-dock push with 3 files at once: hash, chunked
// resumable upload, verification, commit, receipt) against minio-go PutObject of the same files into the
// same MinIO. Sizes: OPENDEMS_BENCH_FILES (3) × OPENDEMS_BENCH_FILE_MB (256).
func BenchmarkPushVsPutObject(b *testing.B) {
	e := newEnvChunk(b, "s3", ingest.DefaultChunkSize)
	nFiles := int(benchMB("OPENDEMS_BENCH_FILES", 3))
	size := benchMB("OPENDEMS_BENCH_FILE_MB", 256) << 20
	dir := b.TempDir()
	var files []string
	for i := range nFiles {
		files = append(files, writeRandom(b, dir, fmt.Sprintf("rec-%d.mp4", i), size))
	}
	st := e.store.(*s3.Store)
	mc, bucket := st.Client(), st.Config().Bucket
	up := e.uploader(b)
	total := float64(int64(nFiles)*size) / 1e6
	var ours, base time.Duration
	mpid := minioPID(os.Getenv("OPENDEMS_TEST_S3_ENDPOINT"))
	var oursCPU, baseCPU, oursMinio, baseMinio float64
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		for _, p := range files {
			freshen(b, p, i)
		}
		c0, m0 := cpuSeconds(0), cpuSeconds(mpid)
		t0 := time.Now()
		for _, p := range files {
			f, err := os.Open(p)
			if err != nil {
				b.Fatal(err)
			}
			_, err = mc.PutObject(b.Context(), bucket, fmt.Sprintf("bench/%d/%s", i, filepath.Base(p)), f, size, minio.PutObjectOptions{ContentType: "video/mp4"})
			f.Close()
			if err != nil {
				b.Fatalf("baseline PutObject: %v", err)
			}
		}
		base += time.Since(t0)
		c1, m1 := cpuSeconds(0), cpuSeconds(mpid)
		baseCPU, baseMinio = baseCPU+c1-c0, baseMinio+m1-m0
		t0 = time.Now()
		var errs strings.Builder
		if failed := dock.Push(b.Context(), up, files, dock.PushOptions{Parallel: 3, Out: io.Discard, Errs: &errs}); failed > 0 {
			b.Fatalf("push: %s", errs.String())
		}
		ours += time.Since(t0)
		c2, m2 := cpuSeconds(0), cpuSeconds(mpid)
		oursCPU, oursMinio = oursCPU+c2-c1, oursMinio+m2-m1
	}
	b.StopTimer()
	oursMBs := total * float64(b.N) / ours.Seconds()
	baseMBs := total * float64(b.N) / base.Seconds()
	b.ReportMetric(oursMBs, "ours_MB/s")
	b.ReportMetric(baseMBs, "baseline_MB/s")
	b.ReportMetric(oursMBs/baseMBs, "ratio")
	b.ReportMetric(peakRSSMB(), "peak_RSS_MB")
	// CPU seconds spent by this process (agent + server, or the minio-go
	// client) and by MinIO: on a shared 2-core machine they explain most
	// of the gap.
	b.ReportMetric(oursCPU, "ours_cpu_s")
	b.ReportMetric(baseCPU, "baseline_cpu_s")
	if mpid > 0 {
		b.ReportMetric(oursMinio, "ours_minio_cpu_s")
		b.ReportMetric(baseMinio, "baseline_minio_cpu_s")
	}
}

// latencies records the duration of each protocol call by kind.
type latencies struct {
	mu sync.Mutex
	d  map[string][]time.Duration
}

type timingTransport struct {
	next http.RoundTripper
	lat  *latencies
}

func (t timingTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	kind := r.Method + " session"
	switch {
	case r.Method == http.MethodPut:
		kind = "PUT chunk"
	case strings.HasSuffix(r.URL.Path, "/commit"):
		kind = "POST commit"
	case r.Method == http.MethodPost:
		kind = "POST create"
	}
	t0 := time.Now()
	resp, err := t.next.RoundTrip(r)
	d := time.Since(t0)
	t.lat.mu.Lock()
	t.lat.d[kind] = append(t.lat.d[kind], d)
	t.lat.d["all"] = append(t.lat.d["all"], d)
	t.lat.mu.Unlock()
	return resp, err
}

func pct(ds []time.Duration, p float64) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	return s[min(len(s)-1, int(float64(len(s))*p))]
}

// BenchmarkFiftyCameras: 50 simulated cameras (one agent each) upload at
// once through one server into MinIO; total MB/s and the p99 latency of
// the protocol's calls, against 50 concurrent minio-go PutObject of the
// same files. Size per camera: OPENDEMS_BENCH_CAMERA_MB (12).
func BenchmarkFiftyCameras(b *testing.B) {
	const cameras = 50
	e := newEnvChunk(b, "s3", 5<<20)
	size := benchMB("OPENDEMS_BENCH_CAMERA_MB", 12) << 20
	dir := b.TempDir()
	files := make([]string, cameras)
	for i := range files {
		files[i] = writeRandom(b, dir, fmt.Sprintf("cam-%02d.mp4", i), size)
	}
	st := e.store.(*s3.Store)
	mc, bucket := st.Client(), st.Config().Bucket
	lat := &latencies{d: map[string][]time.Duration{}}
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.MaxIdleConnsPerHost = cameras
	hc := &http.Client{Transport: timingTransport{next: tr, lat: lat}}
	total := float64(cameras*size) / 1e6
	var ours, base time.Duration
	run := func(fn func(i int) error) time.Duration {
		var wg sync.WaitGroup
		errs := make([]error, cameras)
		t0 := time.Now()
		for i := range cameras {
			wg.Add(1)
			go func() { defer wg.Done(); errs[i] = fn(i) }()
		}
		wg.Wait()
		for _, err := range errs {
			if err != nil {
				b.Fatal(err)
			}
		}
		return time.Since(t0)
	}
	b.ResetTimer()
	for it := 0; it < b.N; it++ {
		for _, p := range files {
			freshen(b, p, it)
		}
		base += run(func(i int) error {
			f, err := os.Open(files[i])
			if err != nil {
				return err
			}
			defer f.Close()
			_, err = mc.PutObject(context.Background(), bucket, fmt.Sprintf("bench50/%d/%d", it, i), f, size, minio.PutObjectOptions{})
			return err
		})
		ours += run(func(i int) error {
			c, err := dock.NewClient(e.srv.URL, e.token, hc)
			if err != nil {
				return err
			}
			up := &dock.Uploader{Client: c, Key: e.pub(), Backoff: dock.Backoff{Initial: 10 * time.Millisecond, Max: time.Second}}
			_, err = up.Upload(context.Background(), dock.Upload{Path: files[i]})
			return err
		})
	}
	b.StopTimer()
	oursMBs := total * float64(b.N) / ours.Seconds()
	baseMBs := total * float64(b.N) / base.Seconds()
	b.ReportMetric(oursMBs, "ours_MB/s")
	b.ReportMetric(baseMBs, "baseline_MB/s")
	b.ReportMetric(oursMBs/baseMBs, "ratio")
	b.ReportMetric(float64(pct(lat.d["all"], 0.99).Milliseconds()), "p99_all_ms")
	for _, k := range []string{"POST create", "PUT chunk", "POST commit"} {
		b.ReportMetric(float64(pct(lat.d[k], 0.99).Milliseconds()), "p99_"+strings.ReplaceAll(strings.ToLower(k), " ", "_")+"_ms")
	}
	b.ReportMetric(float64(pct(lat.d["all"], 0.50).Milliseconds()), "p50_all_ms")
	b.ReportMetric(peakRSSMB(), "peak_RSS_MB")
}
