package s3_test

import (
	"testing"
	"time"

	"github.com/minio/minio-go/v7"

	"github.com/opendems/opendems/storage"
	"github.com/opendems/opendems/storage/s3"
	"github.com/opendems/opendems/storage/storagetest"
)

// newStore returns a checked Store on a fresh Object Lock bucket.
func newStore(t *testing.T, mode string) (*s3.Store, storagetest.S3) {
	t.Helper()
	env := storagetest.S3Env(t)
	st := openStore(t, configFor(env, mode))
	if err := st.Check(t.Context()); err != nil {
		t.Fatalf("Check: %v", err)
	}
	return st, env
}

func configFor(env storagetest.S3, mode string) s3.Config {
	return s3.Config{
		Endpoint: env.Endpoint, AccessKey: env.AccessKey, SecretKey: env.SecretKey,
		Bucket: env.Bucket, RetentionMode: mode,
		// Small parts so the suite's uploads cross part boundaries.
		PartSize: storage.MinPartSize, Buffers: 3,
	}
}

func openStore(t *testing.T, cfg s3.Config) *s3.Store {
	t.Helper()
	st, err := s3.New(cfg)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return st
}

func TestConformance(t *testing.T) {
	storagetest.Run(t,
		func(t *testing.T) storage.Backend { st, _ := newStore(t, s3.Governance); return st },
		storagetest.WithReopen(func(t *testing.T, b storage.Backend) storage.Backend {
			return openStore(t, b.(*s3.Store).Config())
		}))
}

// TestStreamLeavesNoStaging: a committed or aborted stream leaves nothing
// under the staging prefix (no object version, no unfinished upload).
func TestStreamLeavesNoStaging(t *testing.T) {
	st, env := newStore(t, s3.Governance)
	ctx := t.Context()
	data, ref := storagetest.Content(storage.Derivatives, 5, 7<<20)
	w, err := st.CreateStream(ctx, storage.Derivatives, storage.PutOptions{RetainUntil: time.Now().Add(time.Hour)})
	if err != nil {
		t.Fatal(err)
	}
	w.Write(data)
	obj, err := w.Commit(ctx)
	if err != nil || obj.Ref != ref || obj.RetainUntil.IsZero() {
		t.Fatalf("Commit = %+v, %v; want %s retained", obj, err, ref)
	}
	w2, err := st.CreateStream(ctx, storage.Derivatives, storage.PutOptions{})
	if err != nil {
		t.Fatal(err)
	}
	w2.Write(data[:6<<20]) // one part sent
	if err := w2.Abort(); err != nil {
		t.Fatal(err)
	}
	for o := range env.Admin.ListObjects(ctx, env.Bucket, minio.ListObjectsOptions{Prefix: "staging/", Recursive: true, WithVersions: true}) {
		t.Errorf("left under staging/: %s %s %v", o.Key, o.VersionID, o.Err)
	}
	for u := range env.Admin.ListIncompleteUploads(ctx, env.Bucket, "staging/", true) {
		t.Errorf("unfinished upload left: %s %s %v", u.Key, u.UploadID, u.Err)
	}
}
