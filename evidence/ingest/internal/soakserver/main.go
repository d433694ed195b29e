// Command soakserver is a minimal ingest server for the kill -9 fault
// tests of package ingest (OPENDEMS_SOAK=1): the real Service, handlers,
// PostgreSQL and S3 storage in a process of its own that a test can kill
// and restart. It is a test fixture, not a product binary (cmd/demsd is):
// it authenticates bearer tokens with identity.Store and nothing else.
package main

import (
	"context"
	"crypto/ed25519"
	"encoding/hex"
	"flag"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/gin-gonic/gin"
	"github.com/jackc/pgx/v5"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver/riverpgxv5"

	"github.com/opendems/opendems/evidence/identity"
	"github.com/opendems/opendems/evidence/ingest"
	"github.com/opendems/opendems/evidence/ingest/wire"
	"github.com/opendems/opendems/evidence/pg"
	"github.com/opendems/opendems/storage/s3"
)

func main() {
	var (
		dbURL    = flag.String("db", "", "PostgreSQL URL (migrated)")
		endpoint = flag.String("s3-endpoint", "", "MinIO host:port")
		access   = flag.String("s3-access", "", "access key")
		secret   = flag.String("s3-secret", "", "secret key")
		bucket   = flag.String("bucket", "", "bucket (created with Object Lock if missing)")
		listen   = flag.String("listen", "127.0.0.1:0", "listen address")
		seedHex  = flag.String("key-seed", "", "hex Ed25519 seed of the receipt key")
		chunk    = flag.Int64("chunk", 5<<20, "chunk size")
	)
	flag.Parse()
	if err := run(*dbURL, *endpoint, *access, *secret, *bucket, *listen, *seedHex, *chunk); err != nil {
		fmt.Fprintln(os.Stderr, "soakserver:", err)
		os.Exit(1)
	}
}

func run(dbURL, endpoint, access, secret, bucket, listen, seedHex string, chunk int64) error {
	ctx := context.Background()
	logger := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	seed, err := hex.DecodeString(seedHex)
	if err != nil || len(seed) != ed25519.SeedSize {
		return fmt.Errorf("-key-seed: want %d hex bytes", ed25519.SeedSize)
	}
	pool, err := pg.Open(ctx, dbURL, 20)
	if err != nil {
		return err
	}
	store, err := s3.New(s3.Config{Endpoint: endpoint, AccessKey: access, SecretKey: secret, Bucket: bucket, PartSize: chunk, Buffers: 4})
	if err != nil {
		return err
	}
	// MinIO may be restarting: wait for it rather than fail.
	for i := 0; ; i++ {
		if err = store.Check(ctx); err == nil {
			break
		}
		if i > 300 {
			return err
		}
		time.Sleep(100 * time.Millisecond)
	}
	rc, err := river.NewClient(riverpgxv5.New(pool), &river.Config{})
	if err != nil {
		return err
	}
	svc, err := ingest.NewService(ingest.Config{Pool: pool, Storage: store, OnCommit: enqueueTranscode(rc),
		ReceiptKey: ed25519.NewKeyFromSeed(seed), ChunkSize: chunk, Logger: logger})
	if err != nil {
		return err
	}
	// Finish commits a previous instance was killed in the middle of.
	if n, err := svc.Reconcile(ctx); err != nil || n > 0 {
		logger.Warn("reconcile at start", "finished", n, "err", err)
	}
	ids := identity.NewStore(pool)
	gin.SetMode(gin.ReleaseMode)
	r := gin.New()
	svc.RegisterRoutes(r.Group("", func(c *gin.Context) {
		tok, ok := strings.CutPrefix(c.GetHeader("Authorization"), "Bearer ")
		p, err := ids.Authenticate(c.Request.Context(), tok)
		if !ok || err != nil {
			c.AbortWithStatusJSON(http.StatusUnauthorized, wire.Body{Error: &wire.Error{Code: wire.CodeUnauthenticated, Message: "bad token"}})
			return
		}
		c.Request = c.Request.WithContext(identity.WithPrincipal(c.Request.Context(), p))
		c.Next()
	}))
	srv := &http.Server{Addr: listen, Handler: r, ReadHeaderTimeout: 10 * time.Second}
	return srv.ListenAndServe()
}

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
