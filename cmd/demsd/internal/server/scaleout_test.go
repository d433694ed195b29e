package server

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/opendems/opendems/configs"
	"github.com/opendems/opendems/evidence/identity"
	"github.com/opendems/opendems/evidence/ingest/wire"
	"github.com/opendems/opendems/evidence/pg/pgtest"
)

// freeAddr returns a loopback address no one listens on (yet).
func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// TestScaleOutProcesses runs the production shape as real processes: two
// `demsd serve` (workers off) and one `demsd worker` over one PostgreSQL
// database and one object store (docs/ops/deployment.md). An upload
// started on one serve process resumes and commits on the other; a
// recording uploaded through the first is visible through the second and
// is transcoded by the worker, whose /metrics shows the job; neither serve
// process ran a job.
func TestScaleOutProcesses(t *testing.T) {
	if testing.Short() {
		t.Skip("builds demsd and runs three processes")
	}
	db := pgtest.NewDB(t)
	dir := t.TempDir()
	bin := filepath.Join(dir, "demsd")
	build := exec.Command("go", "build", "-o", bin, "github.com/opendems/opendems/cmd/demsd")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build demsd: %v\n%s", err, out)
	}

	// Seed the demo agency in the shared database (as an administrator
	// would with demsd bootstrap).
	cfg := configs.Default()
	cfg.Database.URL = configs.Secret(db.URL)
	cfg.Storage.FS.Root = filepath.Join(dir, "objects")
	cfg.Keys.SigningKeyFile = filepath.Join(dir, "keys", "signing.pem")
	off := false
	ctx := context.Background()
	seed, err := Build(ctx, cfg, Options{Workers: &off})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(seed.Close)
	seed.Identity.WithArgon2(identity.Argon2Params{Memory: 1024, Time: 1, Threads: 1, KeyLen: 32, SaltLen: 16})
	creds, err := SeedDemo(ctx, seed, filepath.Join(dir, "creds.json"), "http://localhost")
	if err != nil {
		t.Fatal(err)
	}

	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "OPENDEMS_") || strings.HasPrefix(kv, "OPENDEMS_TEST_") {
			env = append(env, kv)
		}
	}
	env = append(env,
		"OPENDEMS_DATABASE_URL="+db.URL,
		"OPENDEMS_DATABASE_MIGRATE_ON_START=false",
		"OPENDEMS_STORAGE_BACKEND=fs",
		"OPENDEMS_STORAGE_FS_ROOT="+cfg.Storage.FS.Root,
		"OPENDEMS_KEYS_SIGNING_KEY_FILE="+cfg.Keys.SigningKeyFile,
		"OPENDEMS_INGEST_CHUNK_SIZE=5242880",
		"OPENDEMS_SERVER_SECURE_COOKIES=false",
		"OPENDEMS_LOG_LEVEL=info",
	)
	start := func(name string, extraEnv []string, args ...string) {
		cmd := exec.Command(bin, args...)
		cmd.Env = append(append([]string{}, env...), extraEnv...)
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
	}
	addrA, addrB, addrW := freeAddr(t), freeAddr(t), freeAddr(t)
	start("serve-a", []string{"OPENDEMS_SERVER_LISTEN=" + addrA, "OPENDEMS_WORKERS_ENABLED=false"}, "serve")
	start("serve-b", []string{"OPENDEMS_SERVER_LISTEN=" + addrB, "OPENDEMS_WORKERS_ENABLED=false"}, "serve")
	start("worker", []string{"OPENDEMS_WORKERS_CONCURRENCY=1"}, "worker", "--metrics-listen", addrW)
	a, b, w := "http://"+addrA, "http://"+addrB, "http://"+addrW
	for _, base := range []string{a, b, w} {
		deadline := time.Now().Add(time.Minute)
		for {
			resp, err := http.Get(base + "/healthz")
			if err == nil {
				resp.Body.Close()
				if resp.StatusCode == 200 {
					break
				}
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s did not become healthy: %v", base, err)
			}
			time.Sleep(100 * time.Millisecond)
		}
	}

	dock := creds.Dock.Token
	send := func(base, method, path string, hdr map[string]string, body []byte) (int, map[string]any) {
		t.Helper()
		req, _ := http.NewRequest(method, base+path, bytes.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+dock)
		for k, v := range hdr {
			req.Header.Set(k, v)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		raw, _ := io.ReadAll(resp.Body)
		var m map[string]any
		json.Unmarshal(raw, &m)
		return resp.StatusCode, m
	}

	// 1. An upload of two chunks: created and first chunk on A, second
	// chunk and commit on B (a dock moved to another instance).
	big := make([]byte, 5<<20+12345)
	rand.Read(big)
	sum := sha256.Sum256(big)
	cr, _ := json.Marshal(wire.CreateRequest{SHA256: hex.EncodeToString(sum[:]), Size: int64(len(big)), Filename: "two-chunks.bin",
		Metadata: wire.Metadata{OfficerID: "N1001"}})
	st, m := send(a, "POST", wire.PathSessions, map[string]string{"Content-Type": "application/json"}, cr)
	sid, _ := m["session_id"].(string)
	if (st != 200 && st != 201) || sid == "" || m["chunk_size"] != float64(5<<20) {
		t.Fatalf("create on A: %d %v", st, m)
	}
	for i, part := range [][]byte{big[:5<<20], big[5<<20:]} {
		base := []string{a, b}[i]
		cs := sha256.Sum256(part)
		st, m := send(base, "PUT", fmt.Sprintf("%s/%s/chunks?offset=%d", wire.PathSessions, sid, i*(5<<20)),
			map[string]string{wire.HeaderChunkSHA256: hex.EncodeToString(cs[:])}, part)
		if st != 200 {
			t.Fatalf("chunk %d on %s: %d %v", i, base, st, m)
		}
	}
	st, m = send(b, "POST", wire.PathSessions+"/"+sid+"/commit", nil, nil)
	bigID, _ := m["evidence_id"].(string)
	if st != 200 || bigID == "" {
		t.Fatalf("commit on B of a session started on A: %d %v", st, m)
	}

	// 2. A real recording uploaded through A, seen through B, transcoded
	// by the worker.
	clip := filepath.Join(dir, "clip.mp4")
	if err := MakeDemoClip(ctx, dir, clip, DemoClip{Seconds: 2, Width: 320, Height: 240, FPS: 15, Hue: 90}); err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(clip)
	if err != nil {
		t.Fatal(err)
	}
	st, m = uploadOverHTTP(t, a, dock, data, nil, true)
	id, _ := m["evidence_id"].(string)
	if st != 200 || id == "" {
		t.Fatalf("upload through A: %d %v", st, m)
	}
	north := newCaller(t, b, credUser(creds, "supervisor", "north").APIToken)
	clipSum := sha256.Sum256(data)
	if st, item := north.do("GET", "/api/v1/evidence/"+id, ""); st != 200 || item["sha256"] != hex.EncodeToString(clipSum[:]) {
		t.Fatalf("item through B: %d %v", st, item)
	}
	deadline := time.Now().Add(3 * time.Minute)
	for {
		req, _ := http.NewRequest("GET", b+"/api/v1/evidence/"+id+"/proxy", nil)
		req.Header.Set("Authorization", "Bearer "+north.token)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode == 200 && len(body) > 1000 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("proxy through B never became ready: %d %s", resp.StatusCode, body)
		}
		time.Sleep(200 * time.Millisecond)
	}

	// The worker ran the transcode; the serve processes ran no job.
	if v, _ := metricValue(scrape(t, w), "opendems_job_run_seconds", map[string]string{"kind": "transcode"}); v < 1 {
		t.Errorf("worker's transcode runs = %v, want >= 1", v)
	}
	if v, _ := metricValue(scrape(t, w), "opendems_transcode_media_seconds_total", nil); v < 1.5 {
		t.Errorf("worker's transcoded media seconds = %v", v)
	}
	for _, base := range []string{a, b} {
		if v, ok := metricValue(scrape(t, base), "opendems_job_run_seconds", nil); ok && v > 0 {
			t.Errorf("serve process %s ran %v jobs; its workers are off", base, v)
		}
	}
	if v, _ := metricValue(scrape(t, a), "opendems_ingest_received_bytes_total", nil); v < float64(5<<20+len(data)) {
		t.Errorf("A received %v bytes", v)
	}
	if v, _ := metricValue(scrape(t, b), "opendems_ingest_commit_seconds", map[string]string{"outcome": "ok"}); v < 1 {
		t.Errorf("B committed %v uploads", v)
	}
}
