package devseed_test

import (
	"context"
	"crypto/sha256"
	"encoding/json"
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
	"github.com/opendems/opendems/evidence/request"
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
	seed := &devseed.App{Pool: app.Pool, Identity: app.Identity, Ingest: app.Ingest, Requests: app.Requests, Logger: app.Logger}
	credPath := filepath.Join(dir, "creds.json")
	creds, err := devseed.SeedDemo(ctx, seed, credPath, "http://127.0.0.1")
	if err != nil {
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

	checkDemoRequest(t, app, seed, ids, creds, credPath)

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

// checkDemoRequest seeds the demo public access request as `demsd dev`
// does and checks it is on the records floor, ready to redact: state
// redacting, assigned to records, the lobby face recording linked as one
// clip covering it, the link in the item's custody and on the timeline;
// and that a second seeding adds nothing.
func checkDemoRequest(t *testing.T, app *server.App, seed *devseed.App, ids []uuid.UUID, creds devseed.Credentials, credPath string) {
	t.Helper()
	ctx := context.Background()
	dr, err := devseed.SeedDemoRequest(ctx, seed, ids)
	if err != nil {
		t.Fatal(err)
	}
	if dr == nil || !strings.HasPrefix(dr.TrackingNumber, "PAR-") || dr.StatusCode == "" {
		t.Fatalf("demo request %+v: want a tracking number and a status code", dr)
	}
	r, err := app.Requests.GetByTracking(ctx, dr.TrackingNumber)
	if err != nil {
		t.Fatal(err)
	}
	if r.ID.String() != dr.ID {
		t.Errorf("request id %s, seeding returned %s", r.ID, dr.ID)
	}
	if r.State != request.StateRedacting || r.Assignee != "records" {
		t.Errorf("request %s: state %s, assignee %q; want redacting, records", r.TrackingNumber, r.State, r.Assignee)
	}
	if r.RequesterType != request.RequesterMedia || r.Channel != request.ChannelEmail || r.RequesterName == "" ||
		r.Contact == "" || r.Description == "" || r.Place != "City Hall lobby" || r.Incident == "" ||
		r.DateFrom == nil || r.DateTo == nil || !r.DateFrom.Before(*r.DateTo) {
		t.Errorf("request %s: intake fields incomplete: %+v", r.TrackingNumber, r)
	}
	if r.Clock.DueDate == "" {
		t.Errorf("request %s: no due date (clock %+v)", r.TrackingNumber, r.Clock)
	}
	st, err := app.Requests.PublicStatus(ctx, request.Actor{Name: "anonymous:public"}, dr.TrackingNumber, dr.StatusCode)
	if err != nil || st.State != request.StateRedacting {
		t.Errorf("public status with the seeded code: %+v, %v", st, err)
	}

	var lobby uuid.UUID
	var recordedAt time.Time
	if err := app.Pool.QueryRow(ctx, `SELECT id, recorded_at FROM evidence_items WHERE title = 'Witness interviews, City Hall lobby'`).Scan(&lobby, &recordedAt); err != nil {
		t.Fatal(err)
	}
	if recordedAt.Before(*r.DateFrom) || recordedAt.After(*r.DateTo) {
		t.Errorf("request dates %v..%v miss the recording (%v)", r.DateFrom, r.DateTo, recordedAt)
	}
	clips, err := app.Requests.Clips(ctx, r.ID)
	if err != nil {
		t.Fatal(err)
	}
	if len(clips) != 1 {
		t.Fatalf("request %s: %d clips, want 1", r.TrackingNumber, len(clips))
	}
	c := clips[0]
	if c.EvidenceID != lobby || c.InMs != 0 || c.OutMs != 6000 || c.LinkedBy != "user:records" || c.RemovedAt != nil {
		t.Errorf("clip %+v: want the lobby recording %s, 0–6000 ms, linked by user:records", c, lobby)
	}

	evs, err := custody.Events(ctx, app.Pool, lobby)
	if err != nil {
		t.Fatal(err)
	}
	var linked int
	for _, e := range evs {
		if e.Action == custody.ActionRequestClipLinked {
			linked++
			if e.Actor != "user:records" || !strings.Contains(string(e.Details), dr.TrackingNumber) || !strings.Contains(string(e.Details), c.ID.String()) {
				t.Errorf("custody clip link: actor %q, details %s; want user:records, %s, clip %s", e.Actor, e.Details, dr.TrackingNumber, c.ID)
			}
		}
	}
	if linked != 1 {
		t.Errorf("lobby recording custody has %d clip-link events, want 1: %+v", linked, evs)
	}

	tl, err := app.Requests.Timeline(ctx, r.ID)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, e := range tl {
		step := string(e.Kind)
		if to, ok := e.Details["to"].(string); ok && e.Kind == request.EventTransition {
			step += ":" + to
		}
		got = append(got, step)
		if e.Actor != "user:records" {
			t.Errorf("timeline %s by %q, want user:records", step, e.Actor)
		}
	}
	want := []string{"created", "transition:assigned", "transition:searching", "clip_linked", "transition:redacting"}
	if strings.Join(got, " ") != strings.Join(want, " ") {
		t.Errorf("timeline %v, want %v", got, want)
	}

	// Only once: a request exists now.
	if again, err := devseed.SeedDemoRequest(ctx, seed, ids); err != nil || again != nil {
		t.Errorf("second seeding: %+v, %v; want nothing", again, err)
	}
	if list, err := app.Requests.List(ctx, request.ListFilter{}); err != nil || len(list) != 1 {
		t.Errorf("requests after a second seeding: %d, %v; want 1", len(list), err)
	}

	// The credentials file keeps its users and dock and gains the request.
	creds.DemoRequest = dr
	if err := devseed.WriteCredentials(credPath, creds); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(credPath)
	if err != nil {
		t.Fatal(err)
	}
	var file map[string]json.RawMessage
	if err := json.Unmarshal(b, &file); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"url", "users", "dock", "demo_request"} {
		if _, ok := file[k]; !ok {
			t.Errorf("credentials file lacks %q: %s", k, b)
		}
	}
	if !strings.Contains(string(file["demo_request"]), dr.TrackingNumber) {
		t.Errorf("credentials demo_request %s lacks %s", file["demo_request"], dr.TrackingNumber)
	}
	// A restart reads the file back and keeps the request.
	back, err := devseed.SeedDemo(ctx, seed, credPath, "http://127.0.0.1")
	if err != nil {
		t.Fatal(err)
	}
	if back.DemoRequest == nil || back.DemoRequest.TrackingNumber != dr.TrackingNumber {
		t.Errorf("credentials after a restart: demo_request %+v, want %s", back.DemoRequest, dr.TrackingNumber)
	}
}
