package custody

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/opendems/opendems/storage"
	"github.com/opendems/opendems/storage/s3"
	"github.com/opendems/opendems/storage/storagetest"
)

// TestCheckpointLockedOnS3 stores a checkpoint on MinIO with Object Lock
// and checks that the object is retained and cannot be deleted.
func TestCheckpointLockedOnS3(t *testing.T) {
	env := storagetest.S3Env(t)
	st, err := s3.New(s3.Config{Endpoint: env.Endpoint, AccessKey: env.AccessKey, SecretKey: env.SecretKey, Bucket: env.Bucket})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if err := st.Check(ctx); err != nil {
		t.Fatal(err)
	}
	b := setup(t)
	id := b.newItem(t, nil)
	b.fill(t, id, 2)
	cp, err := Checkpoint(ctx, b.pool, st, b.key)
	if err != nil {
		t.Fatal(err)
	}
	var objSHA []byte
	if err := b.pool.QueryRow(ctx, `SELECT object_sha256 FROM custody_checkpoints WHERE id = $1`, cp.ID).Scan(&objSHA); err != nil {
		t.Fatal(err)
	}
	var d storage.Digest
	copy(d[:], objSHA)
	ref := storage.Ref{Namespace: storage.Checkpoints, Digest: d}
	obj, err := st.Stat(ctx, ref)
	if err != nil {
		t.Fatal(err)
	}
	if obj.RetainUntil.Before(time.Now().Add(CheckpointRetention - 24*time.Hour)) {
		t.Fatalf("checkpoint object retained only until %v", obj.RetainUntil)
	}
	if err := st.Delete(ctx, ref); !errors.Is(err, storage.ErrRetained) {
		t.Fatalf("delete of a locked checkpoint: %v", err)
	}
}
