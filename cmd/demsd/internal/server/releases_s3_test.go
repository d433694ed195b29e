package server

import (
	"context"
	"errors"
	"path/filepath"
	"testing"
	"time"

	"github.com/opendems/opendems/configs"
	"github.com/opendems/opendems/evidence/identity"
	"github.com/opendems/opendems/evidence/pg/pgtest"
	"github.com/opendems/opendems/storage"
	"github.com/opendems/opendems/storage/storagetest"
)

// TestReleaseLockedOnS3 releases a package with MinIO as the object store:
// the package is stored under Object Lock until releases.retain_for from
// now and cannot be deleted; it downloads whole and by range.
func TestReleaseLockedOnS3(t *testing.T) {
	env := storagetest.S3Env(t)
	db := pgtest.NewDB(t)
	dir := t.TempDir()
	cfg := configs.Default()
	cfg.Database.URL = configs.Secret(db.URL)
	cfg.Storage.Backend = "s3"
	cfg.Storage.S3.Endpoint, cfg.Storage.S3.AccessKey, cfg.Storage.S3.SecretKey = env.Endpoint, env.AccessKey, configs.Secret(env.SecretKey)
	cfg.Storage.S3.Bucket, cfg.Storage.S3.UseTLS = env.Bucket, false
	cfg.Keys.SigningKeyFile = filepath.Join(dir, "keys", "signing.pem")
	cfg.Server.SecureCookies = false
	off := false
	ctx := context.Background()
	app, err := Build(ctx, cfg, Options{HTTP: true, Workers: &off})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(app.Close)
	app.Identity.WithArgon2(identity.Argon2Params{Memory: 1024, Time: 1, Threads: 1, KeyLen: 32, SaltLen: 16})
	srv := contractServer(t, app)
	creds, err := SeedDemo(ctx, app, filepath.Join(dir, "creds.json"), srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	maker := newCaller(t, srv.URL, credUser(creds, "records", "").APIToken)
	checker := newCaller(t, srv.URL, secondRecordsOfficer(t, app, "checker"))
	_, rel := releasedPackage(t, app, maker, checker)
	sum, err := storage.ParseDigest(rel["package_sha256"].(string))
	if err != nil {
		t.Fatal(err)
	}
	ref := storage.Ref{Namespace: storage.Derivatives, Digest: sum}
	obj, err := app.Storage.Stat(ctx, ref)
	if err != nil {
		t.Fatal(err)
	}
	if want := time.Now().Add(cfg.Releases.RetainFor - 24*time.Hour); obj.RetainUntil.Before(want) {
		t.Fatalf("package retained until %s, want after %s", obj.RetainUntil, want)
	}
	if err := app.Storage.Delete(ctx, ref); !errors.Is(err, storage.ErrRetained) {
		t.Fatalf("deleting the locked package on S3: %v", err)
	}
	pkg := download(t, srv.URL+"/api/v1/releases/"+rel["id"].(string)+"/package", credUser(creds, "records", "").APIToken, "")
	part := download(t, srv.URL+"/api/v1/releases/"+rel["id"].(string)+"/package", credUser(creds, "records", "").APIToken, "bytes=10-19")
	if int64(len(pkg)) != int64(rel["package_size"].(float64)) || string(part) != string(pkg[10:20]) {
		t.Fatalf("package from S3: %d bytes, range %q", len(pkg), part)
	}
}
