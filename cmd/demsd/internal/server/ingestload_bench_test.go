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
	"path/filepath"
	"runtime"
	"runtime/pprof"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/minio/minio-go/v7"

	"github.com/opendems/opendems/configs"
	"github.com/opendems/opendems/evidence/dock"
	"github.com/opendems/opendems/evidence/identity"
	"github.com/opendems/opendems/evidence/ingest/receipt"
	"github.com/opendems/opendems/evidence/ingest/wire"
	"github.com/opendems/opendems/evidence/pg/pgtest"
	"github.com/opendems/opendems/storage/s3"
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
// The cameras' files are hashed before the clock starts (a dock hashes a
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
	var phase atomic.Pointer[string] // prefix of the metrics being taken
	phase.Store(new(string))
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
			lat.add(*phase.Load()+"server_"+kind, time.Since(t0))
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

	files := make([][]byte, cameras)
	for i := range files {
		files[i] = make([]byte, size)
		rand.Read(files[i])
	}
	mc, bucket := app.Storage.(*s3.Store).Client(), env.Bucket
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.MaxIdleConnsPerHost = 4 * cameras
	hc := &http.Client{Transport: tr, Timeout: 5 * time.Minute}

	run := func(fn func(i int) error) time.Duration {
		var wg sync.WaitGroup
		errs := make([]error, cameras)
		t0 := time.Now()
		for i := range cameras {
			wg.Add(1)
			go func() { defer wg.Done(); errs[i] = fn(i) }()
		}
		wg.Wait()
		d := time.Since(t0)
		if err := errors.Join(errs...); err != nil {
			b.Fatal(err)
		}
		return d
	}
	timed := func(kind string, fn func() error) error {
		t0 := time.Now()
		err := fn()
		lat.add(*phase.Load()+kind, time.Since(t0))
		return err
	}
	camera := func(i int, data []byte, sum [32]byte) error {
		size := int64(len(data))
		c, err := dock.NewClient(srv.URL, tokens[i], hc)
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
		if err := timed("commit", func() error { rc, err = commitPreferAsync(ctx, hc, srv.URL, tokens[i], id); return err }); err != nil {
			return fmt.Errorf("camera %d: commit: %w", i, err)
		}
		for rc == nil {
			time.Sleep(20 * time.Millisecond)
			var st wire.Session
			if err := timed("status", func() error { st, err = c.GetSession(ctx, id); return err }); err != nil {
				return fmt.Errorf("camera %d: poll: %w", i, err)
			}
			if st.Error != nil {
				return fmt.Errorf("camera %d: session %s: %w", i, st.State, st.Error)
			}
			rc = st.Receipt
		}
		lat.add(*phase.Load()+"receipt", time.Since(t0))
		return receipt.VerifyFor(pub, *rc, hex.EncodeToString(sum[:]), size)
	}

	// The first round after the server starts meets cold PostgreSQL
	// backends (catalog caches, statement preparation) and a cold MinIO:
	// 50 cameras each upload 1 MiB, measured and reported apart (cold_*),
	// so the timed round shows a server in its normal, running state.
	cold := "cold_"
	phase.Store(&cold)
	run(func(i int) error {
		data := make([]byte, 1<<20)
		rand.Read(data)
		return camera(i, data, sha256.Sum256(data))
	})
	phase.Store(new(string))
	prof := os.Getenv("OPENDEMS_BENCH_PROFILE")
	var ours, base time.Duration
	b.ResetTimer()
	for it := 0; it < b.N; it++ {
		for i := range files {
			copy(files[i], fmt.Sprintf("%016d", it)) // new bytes each iteration
		}
		sums := make([][32]byte, cameras)
		for i := range files {
			sums[i] = sha256.Sum256(files[i])
		}
		base += run(func(i int) error {
			_, err := mc.PutObject(ctx, bucket, fmt.Sprintf("bench-cameras/%d/%d", it, i), bytes.NewReader(files[i]), size, minio.PutObjectOptions{ContentType: "video/mp4"})
			return err
		})
		stopProfile := startProfiles(b, prof, it)
		ours += run(func(i int) error { return camera(i, files[i], sums[i]) })
		stopProfile()
	}
	b.StopTimer()
	total := float64(int64(cameras)*size) / 1e6 * float64(b.N)
	oursMBs, baseMBs := total/ours.Seconds(), total/base.Seconds()
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
		b.ReportMetric(lat.pct(cold+k, 0.50), "cold_p50_"+k+"_ms")
		b.ReportMetric(lat.pct(cold+k, 0.99), "cold_p99_"+k+"_ms")
	}
	ps := app.Pool.Stat()
	b.ReportMetric(float64(ps.NewConnsCount()), "pool_new_conns")
	b.ReportMetric(float64(ps.MaxConns()), "pool_max_conns")
	b.ReportMetric(float64(ps.EmptyAcquireCount())/float64(max(1, ps.AcquireCount())), "pool_empty_acquire_ratio")
	b.ReportMetric(float64(ps.AcquireDuration().Milliseconds())/float64(max(1, ps.AcquireCount())), "pool_mean_acquire_ms")
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
