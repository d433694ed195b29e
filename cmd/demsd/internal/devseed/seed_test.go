package devseed_test

import (
	"context"
	"crypto/sha256"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/opendems/opendems/cmd/demsd/internal/devseed"
	"github.com/opendems/opendems/cmd/demsd/internal/server"
	"github.com/opendems/opendems/configs"
	"github.com/opendems/opendems/evidence/custody"
	"github.com/opendems/opendems/evidence/identity"
	"github.com/opendems/opendems/evidence/pg/pgtest"
	"github.com/opendems/opendems/redact"
)

// TestSeedDemoMediaFaces seeds the demo agency and its recordings into a
// real server (PostgreSQL, fs storage) and checks what issue 15 asks of
// the demo: recordings in which real faces move, ingested as a dock's (not
// a user's) upload, and the YuNet detector finds faces in them.
func TestSeedDemoMediaFaces(t *testing.T) {
	db := pgtest.NewDB(t)
	dir := t.TempDir()
	cfg := configs.Default()
	cfg.Database.URL = configs.Secret(db.URL)
	cfg.Storage.FS.Root = filepath.Join(dir, "objects")
	cfg.Keys.SigningKeyFile = filepath.Join(dir, "keys", "signing.pem")
	off := false
	ctx := context.Background()
	app, err := server.Build(ctx, cfg, server.Options{Workers: &off})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(app.Close)
	app.Identity.WithArgon2(identity.Argon2Params{Memory: 1024, Time: 1, Threads: 1, KeyLen: 32, SaltLen: 16})
	seed := &devseed.App{Pool: app.Pool, Identity: app.Identity, Ingest: app.Ingest, Logger: app.Logger}
	if _, err := devseed.SeedDemo(ctx, seed, filepath.Join(dir, "creds.json"), "http://127.0.0.1"); err != nil {
		t.Fatal(err)
	}
	cache := filepath.Join(dir, "seed")
	start := time.Now()
	ids, err := devseed.SeedDemoMedia(ctx, seed, cache)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("seeded %d recordings in %v", len(ids), time.Since(start))
	if len(ids) != devseed.DemoRecordings() {
		t.Fatalf("seeded %d recordings, want %d", len(ids), devseed.DemoRecordings())
	}

	// The face recordings are the cached clips, byte for byte.
	clips, err := filepath.Glob(filepath.Join(cache, "faces-*.mp4"))
	if err != nil {
		t.Fatal(err)
	}
	if len(clips) != 2 {
		t.Fatalf("face clips in the cache: %v, want 2", clips)
	}
	byHash := map[[32]byte]string{}
	for _, c := range clips {
		b, err := os.ReadFile(c)
		if err != nil {
			t.Fatal(err)
		}
		byHash[sha256.Sum256(b)] = c
	}
	var faceItems []uuid.UUID
	for _, id := range ids {
		var sum []byte
		var dock *uuid.UUID
		var uploader *uuid.UUID
		if err := app.Pool.QueryRow(ctx, `SELECT sha256, dock_id, uploaded_by FROM evidence_items WHERE id = $1`, id).Scan(&sum, &dock, &uploader); err != nil {
			t.Fatal(err)
		}
		if dock == nil || uploader != nil {
			t.Errorf("item %s: dock %v, uploaded_by %v; want a dock's upload", id, dock, uploader)
			continue
		}
		d, err := app.Identity.DockByID(ctx, *dock)
		if err != nil {
			t.Fatal(err)
		}
		evs, err := custody.Events(ctx, app.Pool, id)
		if err != nil {
			t.Fatal(err)
		}
		if len(evs) == 0 || evs[0].Action != "ingested" {
			t.Fatalf("item %s: chain starts %v, want ingested", id, evs)
		}
		if want := "dock:" + d.Name; evs[0].Actor != want {
			t.Errorf("item %s: ingested by %q, want %q", id, evs[0].Actor, want)
		}
		if !strings.Contains(string(evs[0].Details), "officer of the dock's unit") {
			t.Errorf("item %s: ingested details %s name no dock attribution", id, evs[0].Details)
		}
		if d.RevokedAt == nil {
			t.Errorf("seeding dock %s still valid after seeding (its token is lost)", d.Name)
		}
		var h [32]byte
		copy(h[:], sum)
		if _, ok := byHash[h]; ok {
			faceItems = append(faceItems, id)
			delete(byHash, h)
		}
	}
	if len(faceItems) != 2 || len(byHash) != 0 {
		t.Fatalf("face recordings among the seeded items: %v (unmatched clips %v)", faceItems, byHash)
	}

	// YuNet finds the moving faces: the three-person clip has three
	// tracked faces, each detected through most of the clip.
	lib, err := redact.FindONNXRuntime("")
	if err != nil {
		t.Fatalf("ONNX Runtime (make onnxruntime; OPENDEMS_REDACT_ONNXRUNTIME_LIBRARY): %v", err)
	}
	for _, c := range clips {
		res, err := redact.Detect(ctx, c, redact.DetectOptions{ONNXRuntimeLibrary: lib, Detector: redact.DetectorYuNet, Workers: 2})
		if err != nil {
			t.Fatal(err)
		}
		want := 2
		if strings.Contains(filepath.Base(c), "launch") {
			want = 3
		}
		t.Logf("%s: %d regions, %d doubtful, %d frames analysed, %dx%d", filepath.Base(c), len(res.Spec.Regions), len(res.Doubtful), res.FramesAnalysed, res.Media.Width, res.Media.Height)
		if res.Media.Width != 1280 || res.Media.Height != 720 {
			t.Errorf("%s: %dx%d, want 1280x720", c, res.Media.Width, res.Media.Height)
		}
		if len(res.Spec.Regions) != want {
			t.Errorf("%s: %d face regions proposed, want %d", c, len(res.Spec.Regions), want)
		}
	}

}
