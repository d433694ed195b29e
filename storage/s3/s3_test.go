package s3_test

import (
	"testing"

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
