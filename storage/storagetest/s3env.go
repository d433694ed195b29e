package storagetest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"
)

// S3 is a test's view of the private MinIO: where it is, a bucket name
// unique to the test (not yet created), and an administrative client for
// assertions the backend interface cannot make (listing raw versions and
// incomplete uploads, trying the governance bypass).
type S3 struct {
	Endpoint  string
	AccessKey string
	SecretKey string
	// Bucket is unique per call, lower-case and valid; nothing creates
	// it, so a test decides whether it gets Object Lock.
	Bucket string
	Admin  *minio.Client
}

// RequireServices reports whether OPENDEMS_TEST_REQUIRE_SERVICES=1, in
// which case a missing test service is a failure, not a skip.
func RequireServices() bool { return os.Getenv("OPENDEMS_TEST_REQUIRE_SERVICES") == "1" }

// S3Env returns the test MinIO from OPENDEMS_TEST_S3_ENDPOINT,
// OPENDEMS_TEST_S3_ACCESS_KEY and OPENDEMS_TEST_S3_SECRET_KEY, skipping
// the test when one is missing (failing when services are required). At
// cleanup it removes what it can of the test's bucket: objects locked in
// COMPLIANCE mode cannot be removed by anyone and stay until they expire.
func S3Env(t testing.TB) S3 {
	t.Helper()
	env := S3{
		Endpoint:  os.Getenv("OPENDEMS_TEST_S3_ENDPOINT"),
		AccessKey: os.Getenv("OPENDEMS_TEST_S3_ACCESS_KEY"),
		SecretKey: os.Getenv("OPENDEMS_TEST_S3_SECRET_KEY"),
	}
	var missing []string
	for name, v := range map[string]string{
		"OPENDEMS_TEST_S3_ENDPOINT":   env.Endpoint,
		"OPENDEMS_TEST_S3_ACCESS_KEY": env.AccessKey,
		"OPENDEMS_TEST_S3_SECRET_KEY": env.SecretKey,
	} {
		if v == "" {
			missing = append(missing, name)
		}
	}
	if len(missing) > 0 {
		msg := "test needs MinIO; unset: " + strings.Join(missing, ", ")
		if RequireServices() {
			t.Fatal(msg + " (OPENDEMS_TEST_REQUIRE_SERVICES=1)")
		}
		t.Skip(msg)
	}
	var b [6]byte
	rand.Read(b[:])
	env.Bucket = "odt-" + hex.EncodeToString(b[:])
	admin, err := minio.New(env.Endpoint, &minio.Options{Creds: credentials.NewStaticV4(env.AccessKey, env.SecretKey, "")})
	if err != nil {
		t.Fatalf("minio client for %s: %v", env.Endpoint, err)
	}
	env.Admin = admin
	t.Cleanup(func() { env.cleanup() })
	return env
}

// cleanup removes every removable version (governance locks are bypassed
// here, in test teardown only) and then the bucket if it became empty.
func (e S3) cleanup() {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if ok, err := e.Admin.BucketExists(ctx, e.Bucket); err != nil || !ok {
		return
	}
	for u := range e.Admin.ListIncompleteUploads(ctx, e.Bucket, "", true) {
		if u.Err == nil {
			e.Admin.RemoveIncompleteUpload(ctx, e.Bucket, u.Key)
		}
	}
	for v := range e.Admin.ListObjects(ctx, e.Bucket, minio.ListObjectsOptions{Recursive: true, WithVersions: true}) {
		if v.Err != nil {
			return
		}
		e.Admin.PutObjectLegalHold(ctx, e.Bucket, v.Key, minio.PutObjectLegalHoldOptions{VersionID: v.VersionID, Status: ptr(minio.LegalHoldDisabled)})
		e.Admin.RemoveObject(ctx, e.Bucket, v.Key, minio.RemoveObjectOptions{VersionID: v.VersionID, GovernanceBypass: true})
	}
	e.Admin.RemoveBucket(ctx, e.Bucket)
}

func ptr[T any](v T) *T { return &v }
