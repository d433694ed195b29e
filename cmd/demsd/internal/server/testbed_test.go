package server

import (
	"context"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/opendems/opendems/configs"
	"github.com/opendems/opendems/evidence/identity"
	"github.com/opendems/opendems/evidence/pg/pgtest"
	"github.com/opendems/opendems/storage/storagetest"
)

// The test bed shared by the tests that run demsd whole: in-process
// (startTestServer) or as separate processes over one database and one
// object store (newProcCluster), the way docs/ops/deployment.md deploys
// it.

// testConfig is demsd's configuration over a fresh database, with the
// signing key under dir and the objects under dir (backend "fs") or in a
// fresh MinIO bucket with Object Lock (backend "s3", the shared test
// MinIO; the bucket is made by the first process that opens it).
func testConfig(t *testing.T, dir, backend string) configs.Config {
	t.Helper()
	db := pgtest.NewDB(t)
	cfg := configs.Default()
	cfg.Database.URL = configs.Secret(db.URL)
	cfg.Keys.SigningKeyFile = filepath.Join(dir, "keys", "signing.pem")
	cfg.Server.SecureCookies = false
	switch backend {
	case "fs":
		cfg.Storage.Backend = "fs"
		cfg.Storage.FS.Root = filepath.Join(dir, "objects")
	case "s3":
		env := storagetest.S3Env(t)
		cfg.Storage.Backend = "s3"
		cfg.Storage.S3.Endpoint, cfg.Storage.S3.AccessKey, cfg.Storage.S3.SecretKey = env.Endpoint, env.AccessKey, configs.Secret(env.SecretKey)
		cfg.Storage.S3.Bucket, cfg.Storage.S3.UseTLS = env.Bucket, false
	default:
		t.Fatalf("testConfig: backend %q", backend)
	}
	return cfg
}

// startTestServer builds the whole server in-process from cfg (its
// workers running when workers is set), serves its API on a loopback
// port and seeds the demo agency (fast password hashing).
func startTestServer(t *testing.T, cfg configs.Config, workers bool) (*App, *httptest.Server, Credentials) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	app, err := Build(ctx, cfg, Options{HTTP: true, Workers: &workers})
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	t.Cleanup(app.Close)
	app.Identity.WithArgon2(identity.Argon2Params{Memory: 1024, Time: 1, Threads: 1, KeyLen: 32, SaltLen: 16})
	if workers {
		if err := app.River.Start(ctx); err != nil {
			cancel()
			t.Fatal(err)
		}
	}
	t.Cleanup(func() {
		cancel()
		if workers {
			sctx, c := context.WithTimeout(context.Background(), 30*time.Second)
			defer c()
			app.River.Stop(sctx)
		}
	})
	srv := contractServer(t, app)
	creds, err := SeedDemo(ctx, app, filepath.Join(t.TempDir(), "creds.json"), srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	return app, srv, creds
}

// procCluster is demsd as separate processes (`demsd serve`, `demsd
// worker`) over one database and one object store. app is an in-process
// handle on the same database and store (no HTTP, no workers) that seeds
// the demo agency and lets the test look underneath.
type procCluster struct {
	t     *testing.T
	dir   string
	bin   string
	cfg   configs.Config
	app   *App
	creds Credentials
	env   []string
}

// newProcCluster builds demsd, seeds the shared database and prepares the
// environment every process gets: exactly cfg's database, storage and
// key, no other OPENDEMS_ variable of the test's own environment.
func newProcCluster(t *testing.T, backend string) *procCluster {
	t.Helper()
	dir := t.TempDir()
	c := &procCluster{t: t, dir: dir, bin: filepath.Join(dir, "demsd"), cfg: testConfig(t, dir, backend)}
	build := exec.Command("go", "build", "-o", c.bin, "github.com/opendems/opendems/cmd/demsd")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build demsd: %v\n%s", err, out)
	}
	off := false
	ctx := context.Background()
	app, err := Build(ctx, c.cfg, Options{Workers: &off})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(app.Close)
	app.Identity.WithArgon2(identity.Argon2Params{Memory: 1024, Time: 1, Threads: 1, KeyLen: 32, SaltLen: 16})
	if c.creds, err = SeedDemo(ctx, app, filepath.Join(dir, "creds.json"), "http://localhost"); err != nil {
		t.Fatal(err)
	}
	c.app = app

	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "OPENDEMS_") || strings.HasPrefix(kv, "OPENDEMS_TEST_") {
			c.env = append(c.env, kv)
		}
	}
	s := c.cfg.Storage
	c.env = append(c.env,
		"OPENDEMS_DATABASE_URL="+c.cfg.Database.URL.Reveal(),
		"OPENDEMS_DATABASE_MIGRATE_ON_START=false",
		"OPENDEMS_STORAGE_BACKEND="+s.Backend,
		"OPENDEMS_KEYS_SIGNING_KEY_FILE="+c.cfg.Keys.SigningKeyFile,
		"OPENDEMS_SERVER_SECURE_COOKIES=false",
		"OPENDEMS_INGEST_CHUNK_SIZE=5242880", // the smallest multipart part: multi-chunk uploads stay small
		"OPENDEMS_LOG_LEVEL=info",
	)
	if s.Backend == "fs" {
		c.env = append(c.env, "OPENDEMS_STORAGE_FS_ROOT="+s.FS.Root)
	} else {
		c.env = append(c.env, "OPENDEMS_STORAGE_S3_ENDPOINT="+s.S3.Endpoint, "OPENDEMS_STORAGE_S3_ACCESS_KEY="+s.S3.AccessKey,
			"OPENDEMS_STORAGE_S3_SECRET_KEY="+s.S3.SecretKey.Reveal(), "OPENDEMS_STORAGE_S3_BUCKET="+s.S3.Bucket,
			"OPENDEMS_STORAGE_S3_USE_TLS="+strconv.FormatBool(s.S3.UseTLS))
	}
	return c
}

// start runs `demsd args...` with the cluster's environment plus
// extraEnv, its output in dir/name.log (printed if the test fails); the
// process is killed at cleanup.
func (c *procCluster) start(name string, extraEnv []string, args ...string) *exec.Cmd {
	t := c.t
	t.Helper()
	cmd := exec.Command(c.bin, args...)
	cmd.Env = append(append([]string{}, c.env...), extraEnv...)
	logf, err := os.Create(filepath.Join(c.dir, name+".log"))
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

// serve starts `demsd serve` with its workers off and returns its base
// URL once it answers /healthz.
func (c *procCluster) serve(name string) string {
	addr := freeAddr(c.t)
	c.start(name, []string{"OPENDEMS_SERVER_LISTEN=" + addr, "OPENDEMS_WORKERS_ENABLED=false"}, "serve")
	return waitHealthy(c.t, "http://"+addr)
}

// worker starts `demsd worker` (extraEnv added) and returns the process
// and the base URL of its /metrics once it answers /healthz.
func (c *procCluster) worker(name string, extraEnv ...string) (*exec.Cmd, string) {
	addr := freeAddr(c.t)
	cmd := c.start(name, extraEnv, "worker", "--metrics-listen", addr)
	return cmd, waitHealthy(c.t, "http://"+addr)
}

// waitHealthy waits (up to a minute) until base/healthz answers 200.
func waitHealthy(t *testing.T, base string) string {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	for {
		resp, err := http.Get(base + "/healthz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return base
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s did not become healthy: %v", base, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

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
