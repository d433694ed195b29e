package server

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"runtime/pprof"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"

	"github.com/opendems/opendems/configs"
	"github.com/opendems/opendems/evidence/dock"
	"github.com/opendems/opendems/evidence/identity"
	"github.com/opendems/opendems/evidence/ingest/receipt"
	"github.com/opendems/opendems/evidence/ingest/wire"
	"github.com/opendems/opendems/evidence/pg/pgtest"
	"github.com/opendems/opendems/storage/storagetest"
)

// benchEnvInt reads a positive integer from the environment (default def).
func benchEnvInt(name string, def int64) int64 {
	if v, err := strconv.ParseInt(os.Getenv(name), 10, 64); err == nil && v > 0 {
		return v
	}
	return def
}

// callLatencies collects the duration of each control call by kind.
type callLatencies struct {
	mu sync.Mutex
	d  map[string][]time.Duration
}

func (l *callLatencies) add(kind string, d time.Duration) {
	l.mu.Lock()
	l.d[kind] = append(l.d[kind], d)
	l.mu.Unlock()
}

func (l *callLatencies) pct(kind string, p float64) float64 {
	l.mu.Lock()
	s := slices.Clone(l.d[kind])
	l.mu.Unlock()
	if len(s) == 0 {
		return 0
	}
	slices.Sort(s)
	return float64(s[min(len(s)-1, int(float64(len(s))*p))].Microseconds()) / 1000
}

// BenchmarkIngestFiftyCameras: 50 simulated cameras upload at once through
// the assembled server (Build: real middleware, token authentication,
// policy, custody, metrics) over PostgreSQL and MinIO, each: create a
// session, send its chunks with a status call after each, commit, and
// poll the session until the signed receipt is there (then verify it).
// Reported: p50/p95/p99 of each control call (create, status, commit
// acknowledgement, and the whole commit-to-receipt wait), and the total
// MB/s against a baseline in the same run: 50 concurrent minio-go
// PutObject of the same bytes into the same MinIO.
//
// The cameras run in a second process (this test binary again, see
// init), as they are other machines; OPENDEMS_BENCH_INPROCESS=1 runs
// them in the server's process instead. The baseline's client runs in the
// cameras' process too. The cameras' files are hashed before the clock
// starts (a dock hashes a
// recording when it copies it off the camera; in deployment that runs on
// the docking station, not the server). Sizes: OPENDEMS_BENCH_CAMERAS
// (50) × OPENDEMS_BENCH_CAMERA_MB (12), chunks OPENDEMS_BENCH_CHUNK_MB (5).
// Before the timed round, an untimed one (50 × 1 MiB) meets the cold
// start; its latencies are reported as cold_*. OPENDEMS_BENCH_PROFILE=DIR
// writes CPU, block and mutex profiles of our timed phase there.
func BenchmarkIngestFiftyCameras(b *testing.B) {
	if os.Getenv("OPENDEMS_BENCH") != "1" {
		b.Skip("set OPENDEMS_BENCH=1 (make bench) to run the ingest load benchmark")
	}
	cameras := int(benchEnvInt("OPENDEMS_BENCH_CAMERAS", 50))
	size := benchEnvInt("OPENDEMS_BENCH_CAMERA_MB", 12) << 20
	chunk := benchEnvInt("OPENDEMS_BENCH_CHUNK_MB", 5) << 20

	env := storagetest.S3Env(b)
	db := pgtest.NewDB(b)
	dir := b.TempDir()
	cfg := configs.Default()
	cfg.Database.URL = configs.Secret(db.URL)
	cfg.Storage.Backend = "s3"
	cfg.Storage.S3.Endpoint, cfg.Storage.S3.AccessKey, cfg.Storage.S3.SecretKey = env.Endpoint, env.AccessKey, configs.Secret(env.SecretKey)
	cfg.Storage.S3.Bucket, cfg.Storage.S3.UseTLS = env.Bucket, false
	cfg.Keys.SigningKeyFile = filepath.Join(dir, "keys", "signing.pem")
	cfg.Server.SecureCookies = false
	cfg.Ingest.ChunkSize = chunk
	off := false
	ctx := context.Background()
	// Built as `demsd serve` and `demsd dev` build it (half the pool warm).
	app, err := Build(ctx, cfg, Options{HTTP: true, Workers: &off, WarmConns: cfg.Database.MaxConns / 2})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(app.Close)
	app.Identity.WithArgon2(identity.Argon2Params{Memory: 1024, Time: 1, Threads: 1, KeyLen: 32, SaltLen: 16})
	lat := &callLatencies{d: map[string][]time.Duration{}}
	// Server-side time of each control call (from the request's arrival
	// at the handler chain to its answer), beside the camera-side time:
	// the difference is transport and scheduling on this shared machine.
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		t0 := time.Now()
		app.API.ServeHTTP(w, r)
		kind := ""
		switch {
		case r.Method == http.MethodPost && strings.HasSuffix(r.URL.Path, "/commit"):
			kind = "commit"
		case r.Method == http.MethodPost:
			kind = "create"
		case r.Method == http.MethodGet:
			kind = "status"
		}
		if kind != "" {
			lat.add(r.Header.Get(benchPhaseHeader)+"server_"+kind, time.Since(t0))
		}
	}))
	b.Cleanup(srv.Close)
	if _, err := SeedDemo(ctx, app, filepath.Join(dir, "creds.json"), srv.URL); err != nil {
		b.Fatal(err)
	}
	// One docking station per camera, as 50 docks at 50 sites would be.
	tokens := make([]string, cameras)
	for i := range tokens {
		if _, tokens[i], err = app.Identity.EnrollDock(ctx, fmt.Sprintf("bench-dock-%02d", i), "north", "bench", nil); err != nil {
			b.Fatal(err)
		}
	}
	pub := app.Key.Public().(ed25519.PublicKey)

	plan := cameraPlan{URL: srv.URL, Tokens: tokens, ReceiptKey: pub, Size: size, Iterations: b.N,
		S3Endpoint: env.Endpoint, S3AccessKey: env.AccessKey, S3SecretKey: env.SecretKey, Bucket: env.Bucket}
	prof := os.Getenv("OPENDEMS_BENCH_PROFILE")
	b.ResetTimer()
	stopProfile := startProfiles(b, prof, 0)
	var rep cameraReport
	if os.Getenv("OPENDEMS_BENCH_INPROCESS") == "1" {
		rep, err = runCameras(ctx, plan)
	} else {
		rep, err = runCameraProcess(b, plan)
	}
	stopProfile()
	b.StopTimer()
	if err != nil {
		b.Fatal(err)
	}
	for k, ms := range rep.Latencies {
		for _, v := range ms {
			lat.add(k, time.Duration(v*float64(time.Millisecond)))
		}
	}
	total := float64(int64(cameras)*size) / 1e6 * float64(b.N)
	oursMBs, baseMBs := total/rep.OursSeconds, total/rep.BaseSeconds
	b.ReportMetric(oursMBs, "ours_MB/s")
	b.ReportMetric(baseMBs, "putobject_MB/s")
	b.ReportMetric(oursMBs/baseMBs, "ratio")
	for _, k := range []string{"create", "status", "commit", "receipt", "server_create", "server_status", "server_commit"} {
		for _, p := range []struct {
			name string
			q    float64
		}{{"p50", 0.50}, {"p95", 0.95}, {"p99", 0.99}} {
			b.ReportMetric(lat.pct(k, p.q), p.name+"_"+k+"_ms")
		}
	}
	for _, k := range []string{"create", "status", "commit", "server_create", "server_status", "server_commit"} {
		b.ReportMetric(lat.pct("cold_"+k, 0.50), "cold_p50_"+k+"_ms")
		b.ReportMetric(lat.pct("cold_"+k, 0.99), "cold_p99_"+k+"_ms")
	}
	ps := app.Pool.Stat()
	b.ReportMetric(float64(ps.NewConnsCount()), "pool_new_conns")
	b.ReportMetric(float64(ps.MaxConns()), "pool_max_conns")
	b.ReportMetric(float64(ps.EmptyAcquireCount())/float64(max(1, ps.AcquireCount())), "pool_empty_acquire_ratio")
	b.ReportMetric(float64(ps.AcquireDuration().Milliseconds())/float64(max(1, ps.AcquireCount())), "pool_mean_acquire_ms")
}

// benchPhaseHeader tells the server-side timing which round a request
// belongs to ("cold_" or "").
const benchPhaseHeader = "X-Bench-Phase"

// cameraPlan is what the camera process needs: the server, one dock token
// per camera, the receipt key, the bytes per camera, and the MinIO the
// baseline writes into.
type cameraPlan struct {
	URL         string
	Tokens      []string
	ReceiptKey  ed25519.PublicKey
	Size        int64
	Iterations  int
	S3Endpoint  string
	S3AccessKey string
	S3SecretKey string
	Bucket      string
}

// cameraReport is what the camera process measured: wall seconds of ours
// and of the baseline, and camera-side latencies (ms) by call kind.
type cameraReport struct {
	OursSeconds, BaseSeconds float64
	Latencies                map[string][]float64
}

// cameraPlanEnv names the plan file when this test binary runs as the
// camera process (init).
const cameraPlanEnv = "OPENDEMS_BENCH_CAMERA_PLAN"

// init lets the benchmark re-run this binary as the cameras' process:
// cameras are other machines, so their HTTP clients and copy loops must
// not share the server's Go scheduler (in one process, fifty runnable
// upload loops queue every control call behind them, which no server
// would see). They still share the machine's two cores. It is init, not
// TestMain (the package's TestMain is the OpenAPI contract's), and does
// nothing unless the benchmark set cameraPlanEnv for its child.
func init() {
	if plan := os.Getenv(cameraPlanEnv); plan != "" {
		os.Exit(cameraProcess(plan))
	}
}

func cameraProcess(planPath string) int {
	b, err := os.ReadFile(planPath)
	var plan cameraPlan
	if err == nil {
		err = json.Unmarshal(b, &plan)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "camera process:", err)
		return 2
	}
	rep, err := runCameras(context.Background(), plan)
	if err != nil {
		fmt.Fprintln(os.Stderr, "camera process:", err)
		return 1
	}
	out, _ := json.Marshal(rep)
	if err := os.WriteFile(planPath+".report", out, 0o644); err != nil {
		fmt.Fprintln(os.Stderr, "camera process:", err)
		return 1
	}
	return 0
}

// runCameraProcess runs runCameras in a child process of this binary.
func runCameraProcess(b *testing.B, plan cameraPlan) (cameraReport, error) {
	var rep cameraReport
	path := filepath.Join(b.TempDir(), "plan.json")
	pb, _ := json.Marshal(plan)
	if err := os.WriteFile(path, pb, 0o600); err != nil {
		return rep, err
	}
	cmd := exec.Command(os.Args[0])
	cmd.Env = append(os.Environ(), cameraPlanEnv+"="+path)
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	if err := cmd.Run(); err != nil {
		return rep, fmt.Errorf("camera process: %w", err)
	}
	rb, err := os.ReadFile(path + ".report")
	if err != nil {
		return rep, err
	}
	return rep, json.Unmarshal(rb, &rep)
}

// runCameras is the cameras' side: an untimed cold round (1 MiB each),
// then per iteration the baseline (50 PutObject of the bytes) and ours
// (50 cameras through the server).
func runCameras(ctx context.Context, plan cameraPlan) (cameraReport, error) {
	cameras := len(plan.Tokens)
	rep := cameraReport{Latencies: map[string][]float64{}}
	var mu sync.Mutex
	record := func(kind string, d time.Duration) {
		mu.Lock()
		rep.Latencies[kind] = append(rep.Latencies[kind], float64(d)/float64(time.Millisecond))
		mu.Unlock()
	}
	mc, err := minio.New(plan.S3Endpoint, &minio.Options{Creds: credentials.NewStaticV4(plan.S3AccessKey, plan.S3SecretKey, "")})
	if err != nil {
		return rep, err
	}
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.MaxIdleConnsPerHost = 4 * cameras
	hc := &http.Client{Transport: phaseTransport{next: tr}, Timeout: 5 * time.Minute}
	run := func(fn func(i int) error) (time.Duration, error) {
		var wg sync.WaitGroup
		errs := make([]error, cameras)
		t0 := time.Now()
		for i := range cameras {
			wg.Add(1)
			go func() { defer wg.Done(); errs[i] = fn(i) }()
		}
		wg.Wait()
		return time.Since(t0), errors.Join(errs...)
	}
	camera := func(phase string, i int, data []byte, sum [32]byte) error {
		ctx := context.WithValue(ctx, phaseKey{}, phase)
		size := int64(len(data))
		timed := func(kind string, fn func() error) error {
			t0 := time.Now()
			err := fn()
			record(phase+kind, time.Since(t0))
			return err
		}
		c, err := dock.NewClient(plan.URL, plan.Tokens[i], hc)
		if err != nil {
			return err
		}
		var sess wire.CreateResponse
		if err := timed("create", func() error {
			sess, err = c.CreateSession(ctx, wire.CreateRequest{SHA256: hex.EncodeToString(sum[:]), Size: size,
				Filename: fmt.Sprintf("cam-%02d.mp4", i), ContentType: "video/mp4",
				Metadata: wire.Metadata{OfficerID: "N1001", DeviceID: fmt.Sprintf("CAM-%02d", i)}})
			return err
		}); err != nil {
			return fmt.Errorf("camera %d: create: %w", i, err)
		}
		id := sess.SessionID
		for off := sess.Offset; off < size; {
			n := wire.ExpectedChunkLength(size, sess.ChunkSize, off)
			part := data[off : off+n]
			next, err := c.PutChunk(ctx, id, off, bytes.NewReader(part), n, sha256.Sum256(part))
			if err != nil {
				return fmt.Errorf("camera %d: chunk at %d: %w", i, off, err)
			}
			var st wire.Session
			if err := timed("status", func() error { st, err = c.GetSession(ctx, id); return err }); err != nil {
				return fmt.Errorf("camera %d: status: %w", i, err)
			}
			if st.Offset != next {
				return fmt.Errorf("camera %d: status says offset %d after chunk acknowledged %d", i, st.Offset, next)
			}
			off = next
		}
		t0 := time.Now()
		var rc *receipt.Receipt
		if err := timed("commit", func() error { rc, err = commitPreferAsync(ctx, hc, plan.URL, plan.Tokens[i], id); return err }); err != nil {
			return fmt.Errorf("camera %d: commit: %w", i, err)
		}
		for n := 0; rc == nil; n++ {
			time.Sleep(dock.DefaultPoll.Delay(n)) // as the agent polls
			var st wire.Session
			if err := timed("status", func() error { st, err = c.GetSession(ctx, id); return err }); err != nil {
				return fmt.Errorf("camera %d: poll: %w", i, err)
			}
			if st.Error != nil {
				return fmt.Errorf("camera %d: session %s: %w", i, st.State, st.Error)
			}
			rc = st.Receipt
		}
		record(phase+"receipt", time.Since(t0))
		return receipt.VerifyFor(plan.ReceiptKey, *rc, hex.EncodeToString(sum[:]), size)
	}

	// The first round after the server starts meets cold PostgreSQL
	// backends (catalog caches, statement preparation) and a cold MinIO:
	// 50 cameras each upload 1 MiB, measured and reported apart (cold_*),
	// so the timed round shows a server in its normal, running state.
	if _, err := run(func(i int) error {
		data := make([]byte, 1<<20)
		rand.Read(data)
		return camera("cold_", i, data, sha256.Sum256(data))
	}); err != nil {
		return rep, err
	}
	files := make([][]byte, cameras)
	for i := range files {
		files[i] = make([]byte, plan.Size)
		rand.Read(files[i])
	}
	var ours, base time.Duration
	for it := range plan.Iterations {
		for i := range files {
			copy(files[i], fmt.Sprintf("%016d", it)) // new bytes each iteration
		}
		sums := make([][32]byte, cameras)
		for i := range files {
			sums[i] = sha256.Sum256(files[i])
		}
		time.Sleep(settle)
		d, err := run(func(i int) error {
			_, err := mc.PutObject(ctx, plan.Bucket, fmt.Sprintf("bench-cameras/%d/%d", it, i), bytes.NewReader(files[i]), plan.Size, minio.PutObjectOptions{ContentType: "video/mp4"})
			return err
		})
		if err != nil {
			return rep, fmt.Errorf("baseline: %w", err)
		}
		base += d
		time.Sleep(settle)
		d, err = run(func(i int) error { return camera("", i, files[i], sums[i]) })
		if err != nil {
			return rep, err
		}
		ours += d
	}
	rep.OursSeconds, rep.BaseSeconds = ours.Seconds(), base.Seconds()
	return rep, nil
}

// settle is the pause before each timed phase, so neither starts while
// MinIO is still writing out the previous phase's bytes.
const settle = 3 * time.Second

type phaseKey struct{}

// phaseTransport sends the request context's phase as benchPhaseHeader.
type phaseTransport struct{ next http.RoundTripper }

func (t phaseTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	if p, _ := r.Context().Value(phaseKey{}).(string); p != "" {
		r = r.Clone(r.Context())
		r.Header.Set(benchPhaseHeader, p)
	}
	return t.next.RoundTrip(r)
}

// commitPreferAsync commits a session asking for the acknowledging commit
// (Prefer: respond-async): nil receipt on 202 (poll the session), the
// receipt on 200 (already committed, or a server that always waits).
// Written against the protocol rather than dock.Client so the same
// benchmark runs against servers before and after the acknowledging
// commit existed.
func commitPreferAsync(ctx context.Context, hc *http.Client, base, token, id string) (*receipt.Receipt, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, base+wire.PathSessions+"/"+id+"/commit", nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Prefer", "respond-async")
	resp, err := hc.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, err
	}
	switch resp.StatusCode {
	case http.StatusAccepted:
		return nil, nil
	case http.StatusOK:
		var cr wire.CommitResponse
		if err := json.Unmarshal(body, &cr); err != nil {
			return nil, err
		}
		return &cr.Receipt, nil
	}
	return nil, fmt.Errorf("commit: %d %s", resp.StatusCode, body)
}

// startProfiles writes CPU, block and mutex profiles of one phase into dir
// (nothing when dir is empty).
func startProfiles(b *testing.B, dir string, it int) func() {
	if dir == "" {
		return func() {}
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		b.Fatal(err)
	}
	f, err := os.Create(filepath.Join(dir, fmt.Sprintf("cpu-%d.pprof", it)))
	if err != nil {
		b.Fatal(err)
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		b.Fatal(err)
	}
	runtime.SetBlockProfileRate(int(time.Millisecond))
	runtime.SetMutexProfileFraction(5)
	return func() {
		pprof.StopCPUProfile()
		f.Close()
		for _, name := range []string{"block", "mutex"} {
			w, err := os.Create(filepath.Join(dir, fmt.Sprintf("%s-%d.pprof", name, it)))
			if err != nil {
				b.Fatal(err)
			}
			pprof.Lookup(name).WriteTo(w, 0)
			w.Close()
		}
		runtime.SetBlockProfileRate(0)
		runtime.SetMutexProfileFraction(0)
	}
}
