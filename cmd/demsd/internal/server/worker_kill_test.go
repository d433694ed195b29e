package server

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/opendems/opendems/configs"
	"github.com/opendems/opendems/evidence/identity"
	"github.com/opendems/opendems/evidence/ingest/wire"
	"github.com/opendems/opendems/evidence/pg/pgtest"
	"github.com/opendems/opendems/storage"
	"github.com/opendems/opendems/transcode"
)

// TestTranscodeWorkerKilledMidJob runs two `demsd worker` processes on one
// queue: the first is killed with SIGKILL while it encodes a proxy; the
// second, after river rescues the stuck job, makes the proxy. The item
// ends ready with exactly one proxy that plays, and the job shows two
// attempts.
func TestTranscodeWorkerKilledMidJob(t *testing.T) {
	if testing.Short() {
		t.Skip("builds demsd and transcodes a 60 s clip")
	}
	db := pgtest.NewDB(t)
	dir := t.TempDir()
	bin := filepath.Join(dir, "demsd")
	build := exec.Command("go", "build", "-o", bin, "github.com/opendems/opendems/cmd/demsd")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build demsd: %v\n%s", err, out)
	}

	cfg := configs.Default()
	cfg.Database.URL = configs.Secret(db.URL)
	cfg.Storage.FS.Root = filepath.Join(dir, "objects")
	cfg.Keys.SigningKeyFile = filepath.Join(dir, "keys", "signing.pem")
	off := false
	ctx := context.Background()
	app, err := Build(ctx, cfg, Options{Workers: &off})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(app.Close)
	app.Identity.WithArgon2(identity.Argon2Params{Memory: 1024, Time: 1, Threads: 1, KeyLen: 32, SaltLen: 16})
	if _, err := SeedDemo(ctx, app, filepath.Join(dir, "creds.json"), "http://localhost"); err != nil {
		t.Fatal(err)
	}
	u, err := app.Identity.UserByName(ctx, "officer.north")
	if err != nil {
		t.Fatal(err)
	}
	clip := filepath.Join(dir, "long.mp4")
	if err := MakeDemoClip(ctx, dir, clip, DemoClip{Seconds: 60, Width: 1280, Height: 720, FPS: 25, Hue: 100}); err != nil {
		t.Fatal(err)
	}
	at := time.Now().UTC().Truncate(time.Second)
	id, err := IngestFile(ctx, app, u.Principal("test"), clip, "long.mp4", wire.Metadata{OfficerID: u.Badge, RecordedAt: &at})
	if err != nil {
		t.Fatal(err)
	}

	// The workers get exactly this configuration: other OPENDEMS_
	// variables of the test's environment are not theirs.
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "OPENDEMS_") || strings.HasPrefix(kv, "OPENDEMS_TEST_") {
			env = append(env, kv)
		}
	}
	env = append(env,
		"OPENDEMS_DATABASE_URL="+db.URL,
		"OPENDEMS_STORAGE_BACKEND=fs",
		"OPENDEMS_STORAGE_FS_ROOT="+cfg.Storage.FS.Root,
		"OPENDEMS_KEYS_SIGNING_KEY_FILE="+cfg.Keys.SigningKeyFile,
		"OPENDEMS_WORKERS_CONCURRENCY=1",
		"OPENDEMS_WORKERS_RESCUE_STUCK_AFTER=2h",
		"OPENDEMS_LOG_LEVEL=info",
	)
	start := func(name string) *exec.Cmd {
		cmd := exec.Command(bin, "worker")
		cmd.Env = env
		logf, err := os.Create(filepath.Join(dir, name+".log"))
		if err != nil {
			t.Fatal(err)
		}
		cmd.Stdout, cmd.Stderr = logf, logf
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() {
			cmd.Process.Kill()
			cmd.Wait()
			logf.Close()
			if t.Failed() {
				b, _ := os.ReadFile(logf.Name())
				t.Logf("%s log:\n%s", name, b)
			}
		})
		return cmd
	}
	type row struct {
		status   string
		progress float32
		proxies  int
		job      string
		attempt  int
	}
	read := func() row {
		var r row
		err := app.Pool.QueryRow(ctx, `SELECT i.proxy_status, i.proxy_progress,
				(SELECT count(*) FROM evidence_derivatives d WHERE d.evidence_id = i.id AND d.kind = 'proxy'),
				coalesce((SELECT state::text FROM river_job j WHERE j.kind = 'transcode' AND j.args->>'evidence_id' = i.id::text), ''),
				coalesce((SELECT attempt FROM river_job j WHERE j.kind = 'transcode' AND j.args->>'evidence_id' = i.id::text), 0)
			FROM evidence_items i WHERE i.id = $1`, id).Scan(&r.status, &r.progress, &r.proxies, &r.job, &r.attempt)
		if err != nil {
			t.Fatal(err)
		}
		return r
	}
	waitFor := func(what string, limit time.Duration, ok func(row) bool) row {
		deadline := time.Now().Add(limit)
		for {
			r := read()
			if ok(r) {
				return r
			}
			if time.Now().After(deadline) {
				t.Fatalf("waiting for %s: item/job now %+v", what, r)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}

	a := start("worker-a")
	waitFor("worker A to be encoding", 3*time.Minute, func(r row) bool { return r.status == "processing" && r.progress > 6 })
	if err := a.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	a.Wait()
	r := read()
	if r.proxies != 0 || r.status != "processing" || r.job != "running" || r.attempt != 1 {
		t.Fatalf("after kill -9: %+v; want a running first attempt and no proxy (make the clip longer if the job finished first)", r)
	}
	// River rescues a job whose attempt started more than
	// workers.rescue_stuck_after ago (2h here). Moving the
	// attempt's start back stands for that much time passing; the rescue
	// itself is river's, run by the surviving worker.
	if _, err := app.Pool.Exec(ctx, `UPDATE river_job SET attempted_at = now() - interval '3 hours'
		WHERE kind = 'transcode' AND args->>'evidence_id' = $1`, id.String()); err != nil {
		t.Fatal(err)
	}
	start("worker-b")
	r = waitFor("worker B to finish the proxy", 4*time.Minute, func(r row) bool { return r.status == "ready" && r.job == "completed" })
	if r.attempt != 2 || r.proxies != 1 || r.progress != 100 {
		t.Fatalf("finished: %+v; want attempt 2, one proxy, 100%%", r)
	}

	// The stored proxy is a complete, playable 60 s video.
	var sum []byte
	var size int64
	if err := app.Pool.QueryRow(ctx, `SELECT sha256, size FROM evidence_derivatives WHERE evidence_id = $1 AND kind = 'proxy'`, id).Scan(&sum, &size); err != nil {
		t.Fatal(err)
	}
	var d storage.Digest
	copy(d[:], sum)
	rc, err := app.Storage.Open(ctx, storage.Ref{Namespace: storage.Derivatives, Digest: d}, 0, -1)
	if err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(dir, "proxy.mp4")
	f, _ := os.Create(out)
	if _, err := f.ReadFrom(storage.NewHashingReader(rc, d, size)); err != nil {
		t.Fatal(err)
	}
	rc.Close()
	f.Close()
	p, err := transcode.Probe(ctx, out)
	if err != nil {
		t.Fatal(err)
	}
	if !p.HasVideo || p.Duration < 59 || p.Duration > 61 {
		t.Fatalf("proxy: video=%v duration=%.2f", p.HasVideo, p.Duration)
	}
}
