package ingest_test

import (
	"context"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/opendems/opendems/evidence/dock"
	"github.com/opendems/opendems/evidence/ingest/wire"
)

// dockSetup is a daemon's directories and configuration against env.
type dockSetup struct {
	cam, released, quarantine, state string
	cfg                              dock.Config
	journal                          *dock.Journal
}

func newDockSetup(t *testing.T, e *env) *dockSetup {
	t.Helper()
	root := t.TempDir()
	s := &dockSetup{cam: filepath.Join(root, "cam"), released: filepath.Join(root, "released"),
		quarantine: filepath.Join(root, "quarantine"), state: filepath.Join(root, "state")}
	for _, d := range []string{s.cam, s.state} {
		os.MkdirAll(d, 0o755)
	}
	s.cfg = dock.Config{
		Server: e.srv.URL, Token: e.token, StateDir: s.state,
		Watch:     []dock.WatchDir{{Path: s.cam, Defaults: dock.Defaults{DeviceID: "cam-9"}}},
		StableFor: 50 * time.Millisecond, PollInterval: 20 * time.Millisecond,
		ReleasedDir: s.released, QuarantineDir: s.quarantine,
		RetryInitial: 10 * time.Millisecond, RetryMax: 50 * time.Millisecond,
		Defaults: dock.Defaults{OfficerID: "b7"},
	}.WithDefaults()
	if err := s.cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	j, err := dock.OpenJournal(filepath.Join(s.state, dock.JournalFile), false, time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { j.Close() })
	s.journal = j
	return s
}

// start runs a daemon until the returned stop is called.
func (s *dockSetup) start(t *testing.T, e *env) (stop func()) {
	t.Helper()
	up := e.uploader(t)
	up.MaxTransient = 3
	d, err := dock.NewDaemon(s.cfg, s.journal, up, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { d.Run(ctx); close(done) }()
	return func() { cancel(); <-done }
}

// waitFor polls cond until it holds; the deadline only bounds a broken
// test, it asserts nothing about speed.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(90 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("gave up waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func (s *dockSetup) entry(path string) (dock.Entry, bool) {
	e, err := s.journal.Get(path)
	return e, err == nil
}

func (s *dockSetup) finalState(path string) dock.State {
	h, _ := s.journal.History(1000)
	for _, e := range h {
		if e.Path == path {
			return e.State
		}
	}
	return ""
}

// gate lets a test make chosen requests fail with a chosen error.
type gate struct {
	mu   sync.Mutex
	fail func(r *http.Request) *wire.Error
}

func (g *gate) set(f func(r *http.Request) *wire.Error) { g.mu.Lock(); g.fail = f; g.mu.Unlock() }

func (g *gate) middleware(c *gin.Context) {
	g.mu.Lock()
	f := g.fail
	g.mu.Unlock()
	if f != nil {
		if we := f(c.Request); we != nil {
			c.AbortWithStatusJSON(wire.Status(we.Code), wire.Body{Error: we})
			return
		}
	}
	c.Next()
}

// withGate puts a gate in front of the ingest routes.
func (e *env) withGate(t *testing.T) *gate {
	g := &gate{}
	svc := e.svc.Load()
	r := gin.New()
	svc.RegisterRoutes(r.Group("", g.middleware, e.authenticate))
	e.handler.Store(r)
	return g
}

func isCommit(r *http.Request) bool { return strings.HasSuffix(r.URL.Path, "/commit") }

// A file appears in the camera folder; it becomes exactly one item and is
// moved to the released folder only after its receipt verified.
func TestDaemonReleasesOnlyAfterReceipt(t *testing.T) {
	e := newEnv(t, "fs")
	s := newDockSetup(t, e)
	g := e.withGate(t)
	var commitsRefused atomic.Int32
	g.set(func(r *http.Request) *wire.Error {
		if isCommit(r) {
			commitsRefused.Add(1)
			return &wire.Error{Code: wire.CodeUnavailable, Message: "test: database down"}
		}
		return nil
	})
	stop := s.start(t, e)
	defer stop()
	sub := filepath.Join(s.cam, "DCIM", "100")
	os.MkdirAll(sub, 0o755)
	p := writeRandom(t, sub, "clip.mp4", testChunk+99)
	os.WriteFile(p+".json", []byte(`{"officer_id":"b42","source_kind":"bwc","camera_name":"chest","recorded_at":"2026-02-03T04:05:06Z"}`), 0o644)
	want := sha256File(t, p)

	// Everything sent, commit refused over and over: the file must stay.
	waitFor(t, "refused commits", func() bool {
		en, ok := s.entry(p)
		return commitsRefused.Load() >= 3 && ok && en.LastError != ""
	})
	if _, err := os.Stat(p); err != nil {
		t.Fatalf("file left the camera folder before a receipt: %v", err)
	}
	if _, err := os.Stat(s.released); err == nil {
		ents, _ := os.ReadDir(s.released)
		if len(ents) > 0 {
			t.Fatalf("released folder has %d entries before a receipt", len(ents))
		}
	}
	if en, ok := s.entry(p); !ok || en.State != dock.StateUploading || en.Offset != en.Size || en.LastError == "" {
		t.Fatalf("journal before commit: %+v", en)
	}
	if n := e.count(t, `SELECT count(*) FROM evidence_items`); n != 0 {
		t.Fatalf("%d items before commit", n)
	}

	g.set(nil)
	waitFor(t, "release", func() bool { return s.finalState(p) == dock.StateReleased })
	if _, err := os.Stat(p); err == nil {
		t.Error("released file still in the camera folder")
	}
	moved := filepath.Join(s.released, "DCIM", "100", "clip.mp4")
	if got := sha256File(t, moved); got != want {
		t.Errorf("released copy hashes to %s, want %s", got, want)
	}
	if _, err := os.Stat(moved + ".json"); err != nil {
		t.Errorf("sidecar not moved along: %v", err)
	}
	var officer, device, camera string
	var rec time.Time
	err := e.db.Pool.QueryRow(t.Context(), `SELECT officer_id, device_id, camera_name, recorded_at FROM evidence_items WHERE encode(sha256,'hex') = $1`, want).
		Scan(&officer, &device, &camera, &rec)
	if err != nil || officer != "b42" || device != "cam-9" || camera != "chest" || !rec.Equal(time.Date(2026, 2, 3, 4, 5, 6, 0, time.UTC)) {
		t.Errorf("item metadata: %q %q %q %v %v", officer, device, camera, rec, err)
	}
	if n := e.count(t, `SELECT count(*) FROM evidence_items`); n != 1 {
		t.Errorf("%d items", n)
	}
	// The status snapshot shows the released file with its evidence id.
	h, _ := s.journal.History(10)
	if len(h) != 1 || h[0].EvidenceID == "" || h[0].Receipt == nil || h[0].MovedTo != moved {
		t.Errorf("history: %+v", h)
	}
	e.assertNoOrphans(t)
}

// The daemon is stopped mid-upload and restarted: the file continues from
// the durable offset and becomes exactly one item.
func TestDaemonRestartResumes(t *testing.T) {
	e := newEnv(t, "fs")
	s := newDockSetup(t, e)
	s.cfg.AfterReceipt = "delete"
	s.cfg.Bandwidth = "16MiB/s" // slow enough to stop it mid-file
	stop := s.start(t, e)
	p := writeRandom(t, s.cam, "long.mp4", 3*testChunk+1)
	waitFor(t, "first chunk durable", func() bool {
		en, ok := s.entry(p)
		return ok && en.State == dock.StateUploading && en.Offset >= testChunk
	})
	stop()
	en, _ := s.entry(p)
	if en.Final() || en.Offset == en.Size {
		t.Fatalf("upload finished before the stop; nothing to resume: %+v", en)
	}
	s.cfg.Bandwidth = ""
	stoppedAt := en.Offset
	var minOffset atomic.Int64
	minOffset.Store(-1)
	g := e.withGate(t)
	g.set(func(r *http.Request) *wire.Error {
		if r.Method == http.MethodPut {
			if v, err := strconv.ParseInt(r.URL.Query().Get("offset"), 10, 64); err == nil {
				minOffset.CompareAndSwap(-1, v)
			}
		}
		return nil
	})
	stop = s.start(t, e)
	defer stop()
	waitFor(t, "release", func() bool { return s.finalState(p) == dock.StateReleased })
	if m := minOffset.Load(); m >= 0 && m < stoppedAt {
		t.Errorf("restarted daemon sent a chunk at %d, before the durable offset %d", m, stoppedAt)
	}
	if _, err := os.Stat(p); err == nil {
		t.Error("file not deleted after receipt (after_receipt: delete)")
	}
	if n := e.count(t, `SELECT count(*) FROM evidence_items`); n != 1 {
		t.Errorf("%d items", n)
	}
	if n := e.count(t, `SELECT count(*) FROM ingest_sessions`); n != 1 {
		rows, _ := e.db.Pool.Query(t.Context(), `SELECT state, received, error_code, error_message, created_at FROM ingest_sessions ORDER BY created_at`)
		for rows.Next() {
			var st, code, msg string
			var rec int64
			var at time.Time
			rows.Scan(&st, &rec, &code, &msg, &at)
			t.Logf("session %s %d %s %s %v", st, rec, code, msg, at)
		}
		rows.Close()
		t.Errorf("%d sessions: the restart started over", n)
	}
	e.assertNoOrphans(t)
}

// A file the server keeps rejecting as wrong content is quarantined after
// max_permanent_failures, never deleted; a revoked dock quarantines nothing.
func TestDaemonQuarantineAndRevocation(t *testing.T) {
	e := newEnv(t, "fs")
	s := newDockSetup(t, e)
	g := e.withGate(t)
	g.set(func(r *http.Request) *wire.Error {
		if isCommit(r) {
			return &wire.Error{Code: wire.CodeDigestMismatch, Message: "test: the bytes received do not hash to the declared sha256"}
		}
		return nil
	})
	stop := s.start(t, e)
	p := writeRandom(t, s.cam, "bad.mp4", 1000)
	want := sha256File(t, p)
	waitFor(t, "quarantine", func() bool { return s.finalState(p) == dock.StateQuarantined })
	stop()
	q := filepath.Join(s.quarantine, "bad.mp4")
	if got := sha256File(t, q); got != want {
		t.Fatalf("quarantined copy: %s", got)
	}
	h, _ := s.journal.History(10)
	if len(h) != 1 || h[0].PermanentFailures != s.cfg.MaxPermanentFailures || !strings.Contains(h[0].LastError, "digest_mismatch") {
		t.Errorf("quarantine record: %+v", h)
	}

	// Revoked: files wait (auth errors), are neither quarantined nor moved.
	g.set(nil)
	if err := e.ids.RevokeDock(t.Context(), e.dockID); err != nil {
		t.Fatal(err)
	}
	stop = s.start(t, e)
	defer stop()
	p2 := writeRandom(t, s.cam, "ok.mp4", 1000)
	waitFor(t, "auth failures", func() bool {
		en, ok := s.entry(p2)
		return ok && en.Attempts >= 1
	})
	en, _ := s.entry(p2)
	if en.LastErrorKind != "auth" || en.PermanentFailures != 0 {
		t.Errorf("revoked dock: %+v", en)
	}
	if _, err := os.Stat(p2); err != nil {
		t.Errorf("file moved while the dock is revoked: %v", err)
	}
}
