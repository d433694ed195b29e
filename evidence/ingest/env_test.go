package ingest_test

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver/riverpgxv5"

	"github.com/opendems/opendems/evidence/dock"
	"github.com/opendems/opendems/evidence/identity"
	"github.com/opendems/opendems/evidence/ingest"
	"github.com/opendems/opendems/evidence/ingest/wire"
	"github.com/opendems/opendems/evidence/pg/pgtest"
	"github.com/opendems/opendems/storage"
	"github.com/opendems/opendems/storage/fs"
	"github.com/opendems/opendems/storage/s3"
	"github.com/opendems/opendems/storage/storagetest"
)

// testChunk is the smallest legal chunk, so tests cross chunk boundaries
// with a few MiB of data.
const testChunk = storage.MinPartSize

// env is a real server: PostgreSQL (fresh database), a real storage
// backend, the ingest handlers behind token authentication, and one
// enrolled dock.
type env struct {
	t       testing.TB
	db      *pgtest.DB
	store   storage.Backend
	ids     *identity.Store
	key     ed25519.PrivateKey
	cfg     ingest.Config
	svc     atomic.Pointer[ingest.Service]
	handler atomic.Pointer[gin.Engine]
	srv     *httptest.Server
	dockID  uuid.UUID
	token   string
	now     atomic.Pointer[time.Time] // nil: real clock
}

// backends the end-to-end tests run against.
var backends = []string{"fs", "s3"}

func newEnv(t testing.TB, backend string) *env {
	return newEnvChunk(t, backend, testChunk)
}

// newEnvChunk is newEnv with another chunk size (benchmarks use the
// production default).
func newEnvChunk(t testing.TB, backend string, chunk int64) *env {
	t.Helper()
	gin.SetMode(gin.TestMode)
	e := &env{t: t, db: pgtest.NewDB(t)}
	e.store = newStore(t, backend, chunk)
	e.ids = identity.NewStore(e.db.Pool)
	ctx := t.Context()
	if _, err := e.ids.CreateUnit(ctx, "patrol", "Patrol", ""); err != nil {
		t.Fatalf("create unit: %v", err)
	}
	d, token, err := e.ids.EnrollDock(ctx, "station-1", "patrol", "HQ basement", nil)
	if err != nil {
		t.Fatalf("enroll dock: %v", err)
	}
	e.dockID, e.token = d.ID, token
	_, e.key, _ = ed25519.GenerateKey(rand.Reader)
	rc, err := river.NewClient(riverpgxv5.New(e.db.Pool), &river.Config{})
	if err != nil {
		t.Fatalf("river client: %v", err)
	}
	e.cfg = ingest.Config{
		Pool: e.db.Pool, Storage: e.store, OnCommit: enqueueTranscode(rc), ReceiptKey: e.key, ChunkSize: chunk,
		Now: func() time.Time {
			if p := e.now.Load(); p != nil {
				return *p
			}
			return time.Now()
		},
	}
	e.restart()
	e.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		e.handler.Load().ServeHTTP(w, r)
	}))
	t.Cleanup(e.srv.Close)
	return e
}

// restart replaces the Service and router with new instances on the same
// database and store, as a server restart would.
func (e *env) restart() {
	e.t.Helper()
	svc, err := ingest.NewService(e.cfg)
	if err != nil {
		e.t.Fatalf("NewService: %v", err)
	}
	r := gin.New()
	api := r.Group("", e.authenticate)
	svc.RegisterRoutes(api)
	e.svc.Store(svc)
	e.handler.Store(r)
}

// authenticate stands in for the API's auth middleware (evidence/api is
// not wired here): bearer token → identity.Store.Authenticate → principal.
func (e *env) authenticate(c *gin.Context) {
	tok, ok := strings.CutPrefix(c.GetHeader("Authorization"), "Bearer ")
	if !ok {
		c.AbortWithStatusJSON(http.StatusUnauthorized, wire.Body{Error: &wire.Error{Code: wire.CodeUnauthenticated, Message: "bearer token required"}})
		return
	}
	p, err := e.ids.Authenticate(c.Request.Context(), tok)
	if err != nil {
		c.AbortWithStatusJSON(http.StatusUnauthorized, wire.Body{Error: &wire.Error{Code: wire.CodeUnauthenticated, Message: err.Error()}})
		return
	}
	c.Request = c.Request.WithContext(identity.WithPrincipal(c.Request.Context(), p))
	c.Next()
}

func newStore(t testing.TB, backend string, chunk int64) storage.Backend {
	t.Helper()
	switch backend {
	case "fs":
		st, err := fs.New(t.TempDir(), nil)
		if err != nil {
			t.Fatal(err)
		}
		return st
	case "s3":
		senv := storagetest.S3Env(t)
		st, err := s3.New(s3.Config{Endpoint: senv.Endpoint, AccessKey: senv.AccessKey, SecretKey: senv.SecretKey,
			Bucket: senv.Bucket, PartSize: chunk, Buffers: 4})
		if err != nil {
			t.Fatal(err)
		}
		if err := st.Check(t.Context()); err != nil {
			t.Fatalf("s3 check: %v", err)
		}
		return st
	}
	t.Fatalf("unknown backend %q", backend)
	return nil
}

func (e *env) client(t testing.TB) *dock.Client {
	t.Helper()
	c, err := dock.NewClient(e.srv.URL, e.token, nil)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func (e *env) pub() ed25519.PublicKey { return e.key.Public().(ed25519.PublicKey) }

func (e *env) uploader(t testing.TB) *dock.Uploader {
	return &dock.Uploader{Client: e.client(t), Key: e.key.Public().(ed25519.PublicKey),
		Backoff: dock.Backoff{Initial: 5 * time.Millisecond, Max: 50 * time.Millisecond}, MaxTransient: 50}
}

// writeRandom writes a file of n random bytes (streamed, so a large
// benchmark file does not inflate the process's peak RSS) and returns its
// path.
func writeRandom(t testing.TB, dir, name string, n int64) string {
	t.Helper()
	p := filepath.Join(dir, name)
	f, err := os.Create(p)
	if err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 1<<20)
	for left := n; left > 0; {
		k := min(left, int64(len(buf)))
		rand.Read(buf[:k])
		if _, err := f.Write(buf[:k]); err != nil {
			t.Fatal(err)
		}
		left -= k
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	return p
}

func (e *env) count(t testing.TB, sql string, args ...any) int {
	t.Helper()
	var n int
	if err := e.db.Pool.QueryRow(context.Background(), sql, args...).Scan(&n); err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
	return n
}

// assertNoOrphans checks the invariant after any test: every visible
// original has an item, and no storage upload is left unless a live
// session owns it.
func (e *env) assertNoOrphans(t testing.TB) {
	t.Helper()
	ctx := context.Background()
	err := e.store.List(ctx, storage.Originals, func(o storage.Object) error {
		if n := e.count(t, `SELECT count(*) FROM evidence_items WHERE sha256 = $1`, o.Digest[:]); n != 1 {
			t.Errorf("visible original %s has %d items", o.Digest, n)
		}
		return nil
	})
	if err != nil {
		t.Fatalf("list originals: %v", err)
	}
	err = e.store.ListUploads(ctx, time.Now().Add(time.Hour), func(id storage.UploadID, ref storage.Ref, _ time.Time) error {
		if n := e.count(t, `SELECT count(*) FROM ingest_sessions WHERE upload_id = $1 AND state IN ('open','completing')`, string(id)); n != 1 {
			t.Errorf("upload %s (%s) has no live session", id, ref)
		}
		return nil
	})
	if err != nil {
		t.Fatalf("list uploads: %v", err)
	}
}

func wireCode(err error) string {
	var we *wire.Error
	if errors.As(err, &we) {
		return we.Code
	}
	return ""
}

var _ = pgx.ErrNoRows

// transcodeArgs has the kind and JSON of demsd's transcode job, so the
// job ingest's commit hook enqueues is visible here without linking FFmpeg.
type transcodeArgs struct {
	EvidenceID uuid.UUID `json:"evidence_id"`
}

func (transcodeArgs) Kind() string { return "transcode" }

// enqueueTranscode is the commit hook demsd wires, reduced to the job.
func enqueueTranscode(rc *river.Client[pgx.Tx]) ingest.CommitHook {
	return func(ctx context.Context, tx pgx.Tx, id uuid.UUID) error {
		_, err := rc.InsertTx(ctx, tx, transcodeArgs{EvidenceID: id}, nil)
		return err
	}
}
