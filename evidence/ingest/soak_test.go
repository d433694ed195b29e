package ingest_test

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io/fs"
	"math/big"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver/riverpgxv5"

	"github.com/opendems/opendems/evidence/identity"
	"github.com/opendems/opendems/evidence/ingest"
	"github.com/opendems/opendems/evidence/pg/pgtest"
	"github.com/opendems/opendems/storage"
	"github.com/opendems/opendems/storage/s3"
	"github.com/opendems/opendems/storage/storagetest"
)

// proc is a child process the fault test kills with SIGKILL and restarts.
type proc struct {
	name string
	args []string
	env  []string
	log  string
	cmd  *exec.Cmd
}

func (p *proc) start(t *testing.T) {
	t.Helper()
	f, err := os.OpenFile(p.log, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	fmt.Fprintf(f, "---- start %s\n", time.Now().Format(time.RFC3339Nano))
	p.cmd = exec.Command(p.args[0], p.args[1:]...)
	p.cmd.Env = append(os.Environ(), p.env...)
	p.cmd.Stdout, p.cmd.Stderr = f, f
	if err := p.cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", p.name, err)
	}
	f.Close()
}

func (p *proc) running() bool { return p.cmd != nil && p.cmd.ProcessState == nil }

// kill9 sends SIGKILL and reaps the process.
func (p *proc) kill9() {
	if !p.running() {
		return
	}
	p.cmd.Process.Kill()
	p.cmd.Wait()
}

func freePort(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

func waitHTTP(t *testing.T, url string) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for time.Now().Before(deadline) {
		resp, err := http.Get(url)
		if err == nil {
			resp.Body.Close()
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("%s did not come up", url)
}

func randN(n int64) int64 {
	v, _ := rand.Int(rand.Reader, big.NewInt(n))
	return v.Int64()
}

// TestKill9AgentServerMinIO is the fault test: a dock daemon uploads
// recordings through a server into MinIO while one of the three is killed
// with SIGKILL at a random moment and restarted, round after round. After
// every kill: no file left the camera folder without an item holding its
// bytes (the receipt comes only after the commit). At the end: every file
// became exactly one item with its hash and was released, and no visible
// original lacks an item. By default it runs 3 rounds (one kill of each);
// OPENDEMS_SOAK=1 (make soak) runs OPENDEMS_SOAK_ROUNDS (default 30)
// random rounds with more and larger files.
func TestKill9AgentServerMinIO(t *testing.T) {
	minioBin := os.Getenv("OPENDEMS_TEST_MINIO_BIN")
	if minioBin == "" {
		if os.Getenv("OPENDEMS_TEST_REQUIRE_SERVICES") == "1" {
			t.Fatal("OPENDEMS_TEST_MINIO_BIN is not set but OPENDEMS_TEST_REQUIRE_SERVICES=1")
		}
		t.Skip("OPENDEMS_TEST_MINIO_BIN not set; run make test")
	}
	soak := os.Getenv("OPENDEMS_SOAK") == "1"
	rounds, nFiles, maxMB, bandwidth := 3, 4, int64(12), "24MiB/s"
	if soak {
		rounds, nFiles, maxMB, bandwidth = 30, 10, 40, "32MiB/s"
		if v, err := strconv.Atoi(os.Getenv("OPENDEMS_SOAK_ROUNDS")); err == nil && v > 0 {
			rounds = v
		}
	}
	db := pgtest.NewDB(t)
	senv := storagetest.S3Env(t) // credentials and a unique bucket name
	root := t.TempDir()
	ctx := context.Background()

	// A MinIO of our own, so it can be killed.
	s3Addr, consoleAddr := freePort(t), freePort(t)
	minio := &proc{name: "minio", log: filepath.Join(root, "minio.log"),
		args: []string{minioBin, "server", "--quiet", "--address", s3Addr, "--console-address", consoleAddr, filepath.Join(root, "minio-data")},
		env:  []string{"MINIO_ROOT_USER=" + senv.AccessKey, "MINIO_ROOT_PASSWORD=" + senv.SecretKey}}
	minio.start(t)
	defer minio.kill9()
	waitHTTP(t, "http://"+s3Addr+"/minio/health/live")

	ids := identity.NewStore(db.Pool)
	if _, err := ids.CreateUnit(ctx, "patrol", "", ""); err != nil {
		t.Fatal(err)
	}
	_, token, err := ids.EnrollDock(ctx, "soak-dock", "patrol", "", nil)
	if err != nil {
		t.Fatal(err)
	}
	seed := make([]byte, ed25519.SeedSize)
	rand.Read(seed)
	key := ed25519.NewKeyFromSeed(seed)

	srvAddr := freePort(t)
	server := &proc{name: "server", log: filepath.Join(root, "server.log"),
		args: []string{buildCmd(t, "evidence/ingest/internal/soakserver", true), "-db", db.URL, "-s3-endpoint", s3Addr,
			"-s3-access", senv.AccessKey, "-s3-secret", senv.SecretKey, "-bucket", senv.Bucket,
			"-listen", srvAddr, "-key-seed", hex.EncodeToString(seed), "-chunk", strconv.Itoa(testChunk)}}
	server.start(t)
	defer server.kill9()
	waitHTTP(t, "http://"+srvAddr+"/api/v1/ingest/receipt-key")

	cam, released, state := filepath.Join(root, "cam"), filepath.Join(root, "released"), filepath.Join(root, "state")
	os.MkdirAll(cam, 0o755)
	cfgPath := filepath.Join(root, "dock.yaml")
	os.WriteFile(cfgPath, []byte(fmt.Sprintf(`server: http://%s
token: %s
state_dir: %s
watch: [{path: %s}]
released_dir: %s
quarantine_dir: %s
stable_for: 200ms
poll_interval: 100ms
retry_initial: 100ms
retry_max: 1s
max_permanent_failures: 1000
concurrency: 2
bandwidth: %s
`, srvAddr, token, state, cam, released, filepath.Join(root, "quarantine"), bandwidth)), 0o640)
	dockBin := buildCmd(t, "cmd/dems-dock", false)
	if out, err := exec.Command(dockBin, "enroll", "--config", cfgPath).CombinedOutput(); err != nil {
		t.Fatalf("enroll: %v\n%s", err, out)
	}
	agent := &proc{name: "agent", log: filepath.Join(root, "agent.log"), args: []string{dockBin, "run", "--config", cfgPath}}
	defer agent.kill9()

	want := map[string]string{} // file name → sha256
	addFile := func(i int) {
		size := (1+randN(maxMB))<<20 + randN(1<<20)
		name := fmt.Sprintf("rec-%03d.mp4", i)
		p := writeRandom(t, t.TempDir(), name, size)
		want[name] = sha256File(t, p)
		// Appear atomically, as a finished copy from a camera would.
		if err := os.Rename(p, filepath.Join(cam, name)); err != nil {
			t.Fatal(err)
		}
	}
	for i := range nFiles {
		addFile(i)
	}
	itemsFor := func(sha string) int {
		var n int
		db.Pool.QueryRow(ctx, `SELECT count(*) FROM evidence_items WHERE encode(sha256,'hex') = $1`, sha).Scan(&n)
		return n
	}
	logs := func() string {
		var b strings.Builder
		for _, p := range []*proc{agent, server, minio} {
			raw, _ := os.ReadFile(p.log)
			s := string(raw)
			if len(s) > 3000 {
				s = s[len(s)-3000:]
			}
			fmt.Fprintf(&b, "==== %s log (tail)\n%s\n", p.name, s)
		}
		return b.String()
	}
	// checkReleased: every file is in the camera folder unchanged or in the
	// released folder with an item holding exactly its bytes.
	checkReleased := func(round int) int {
		done := 0
		for name, sha := range want {
			if _, err := os.Stat(filepath.Join(cam, name)); err == nil {
				continue
			}
			rp := filepath.Join(released, name)
			if _, err := os.Stat(rp); err != nil {
				t.Fatalf("round %d: %s is neither in the camera folder nor released: %v\n%s", round, name, err, logs())
			}
			if got := sha256File(t, rp); got != sha {
				t.Fatalf("round %d: released %s hashes to %s, want %s", round, name, got, sha)
			}
			if n := itemsFor(sha); n != 1 {
				t.Fatalf("round %d: %s left the camera folder with %d items for its hash\n%s", round, name, n, logs())
			}
			done++
		}
		return done
	}

	procs := []*proc{agent, server, minio}
	for r := range rounds {
		for _, p := range procs {
			if !p.running() {
				p.start(t)
			}
		}
		// New recordings keep arriving, so kills land mid-upload.
		if !soak || randN(2) == 0 {
			addFile(len(want))
		}
		time.Sleep(time.Duration(200+randN(1800)) * time.Millisecond)
		victim := procs[r%len(procs)]
		if soak {
			victim = procs[randN(int64(len(procs)))]
		}
		victim.kill9()
		t.Logf("round %d: killed %s; %d/%d files released", r, victim.name, checkReleased(r), len(want))
		if victim == minio {
			// MinIO comes back before the server is judged on it.
			minio.start(t)
			waitHTTP(t, "http://"+s3Addr+"/minio/health/live")
		}
	}
	for _, p := range procs {
		if !p.running() {
			p.start(t)
		}
	}
	deadline := time.Now().Add(5 * time.Minute)
	for checkReleased(rounds) < len(want) {
		if time.Now().After(deadline) {
			t.Fatalf("not every file was released after the faults stopped\n%s", logs())
		}
		time.Sleep(200 * time.Millisecond)
	}
	agent.kill9()
	server.kill9()

	// Every file exactly one item; nothing else became evidence.
	for name, sha := range want {
		if n := itemsFor(sha); n != 1 {
			t.Errorf("%s: %d items", name, n)
		}
	}
	var items, sessions int
	db.Pool.QueryRow(ctx, `SELECT count(*) FROM evidence_items`).Scan(&items)
	if items != len(want) {
		t.Errorf("%d items for %d files", items, len(want))
	}
	// One session per file: every interruption resumed the session it
	// interrupted instead of starting over from zero.
	db.Pool.QueryRow(ctx, `SELECT count(*) FROM ingest_sessions`).Scan(&sessions)
	if sessions != len(want) {
		t.Errorf("%d upload sessions for %d files: some upload started over", sessions, len(want))
	}
	// Finish what the kills left (a janitor run), then: no visible original
	// without an item, no upload without a live session.
	store, err := s3.New(s3.Config{Endpoint: s3Addr, AccessKey: senv.AccessKey, SecretKey: senv.SecretKey, Bucket: senv.Bucket, PartSize: testChunk})
	if err != nil {
		t.Fatal(err)
	}
	rc, _ := river.NewClient(riverpgxv5.New(db.Pool), &river.Config{})
	svc, err := ingest.NewService(ingest.Config{Pool: db.Pool, Storage: store, OnCommit: enqueueTranscode(rc), ReceiptKey: key, ChunkSize: testChunk,
		Now: func() time.Time { return time.Now().Add(time.Hour) }})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := svc.CleanupAbandoned(ctx, time.Minute); err != nil {
		t.Errorf("cleanup: %v", err)
	}
	e := &env{t: t, db: db, store: store}
	e.assertNoOrphans(t)
	var live int
	db.Pool.QueryRow(ctx, `SELECT count(*) FROM ingest_sessions WHERE state IN ('open','completing')`).Scan(&live)
	if live != 0 {
		t.Errorf("%d live sessions after cleanup", live)
	}
	var left int
	filepath.WalkDir(cam, func(p string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			left++
		}
		return nil
	})
	if left != 0 {
		t.Errorf("%d files left in the camera folder", left)
	}
	_ = storage.Originals
}
