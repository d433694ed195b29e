package ingest_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/opendems/opendems/evidence"
	"github.com/opendems/opendems/evidence/dock"
	"github.com/opendems/opendems/evidence/ingest/receipt"
	"github.com/opendems/opendems/evidence/ingest/wire"
	"github.com/opendems/opendems/storage"
)

func TestPushEndToEnd(t *testing.T) {
	for _, backend := range backends {
		t.Run(backend, func(t *testing.T) {
			e := newEnv(t, backend)
			dir := t.TempDir()
			sizes := map[string]int64{
				"one-byte.mp4":     1,
				"exact-chunk.mp4":  testChunk,
				"three-chunks.mp4": 2*testChunk + 12345,
				"just-under.mp4":   testChunk - 1,
				"two-exact.mp4":    2 * testChunk,
			}
			up := e.uploader(t)
			rec := time.Date(2026, 3, 4, 5, 6, 7, 0, time.UTC)
			for name, size := range sizes {
				p := writeRandom(t, dir, name, size)
				res, err := up.Upload(t.Context(), dock.Upload{Path: p, Metadata: wire.Metadata{
					OfficerID: "b1234", DeviceID: "cam-7", SourceKind: wire.SourceBWC, CameraName: "front", RecordedAt: &rec,
					GPS: []wire.GPSPoint{{Time: rec, Lat: 52.1, Lon: 4.3}},
				}})
				if err != nil {
					t.Fatalf("%s: upload: %v", name, err)
				}
				want := sha256File(t, p)
				if res.SHA256 != want || res.Size != size {
					t.Fatalf("%s: result %s/%d, want %s/%d", name, res.SHA256, res.Size, want, size)
				}
				if err := receipt.VerifyFor(e.pub(), res.Receipt, want, size); err != nil {
					t.Fatalf("%s: receipt: %v", name, err)
				}
				id := uuid.MustParse(res.EvidenceID)
				// The item, as the dock declared it.
				var gotSHA []byte
				var gotSize int64
				var dockID, unitID uuid.UUID
				var officer, device, source, filename string
				var recorded time.Time
				err = e.db.Pool.QueryRow(t.Context(), `SELECT i.sha256, i.size, i.dock_id, i.unit_id, i.officer_id, i.device_id,
					i.source_kind, i.filename, i.recorded_at FROM evidence_items i WHERE i.id = $1`, id).
					Scan(&gotSHA, &gotSize, &dockID, &unitID, &officer, &device, &source, &filename, &recorded)
				if err != nil {
					t.Fatalf("%s: item: %v", name, err)
				}
				if hex.EncodeToString(gotSHA) != want || gotSize != size || dockID != e.dockID || officer != "b1234" ||
					device != "cam-7" || source != "bwc" || filename != name || !recorded.Equal(rec) {
					t.Errorf("%s: item = %x/%d dock %s officer %q device %q source %q file %q rec %v", name, gotSHA, gotSize, dockID, officer, device, source, filename, recorded)
				}
				// First custody event, transcode job, object bytes.
				if n := e.count(t, `SELECT count(*) FROM custody_events WHERE evidence_id = $1 AND action = 'ingested' AND seq = 1 AND actor = 'dock:station-1'`, id); n != 1 {
					t.Errorf("%s: %d ingested custody events", name, n)
				}
				if n := e.count(t, `SELECT count(*) FROM river_job WHERE kind = 'transcode' AND args->>'evidence_id' = $1`, id.String()); n != 1 {
					t.Errorf("%s: %d transcode jobs", name, n)
				}
				d, _ := storage.ParseDigest(want)
				rc, err := e.store.Open(t.Context(), storage.Ref{Namespace: storage.Originals, Digest: d}, 0, -1)
				if err != nil {
					t.Fatalf("%s: open object: %v", name, err)
				}
				h := sha256.New()
				n, _ := io.Copy(h, rc)
				rc.Close()
				if hex.EncodeToString(h.Sum(nil)) != want || n != size {
					t.Errorf("%s: stored object differs", name)
				}
			}
			if n := e.count(t, `SELECT count(*) FROM evidence_items`); n != len(sizes) {
				t.Errorf("%d items, want %d", n, len(sizes))
			}
			if n := e.count(t, `SELECT count(*) FROM ingest_parts`); n != 0 {
				t.Errorf("%d part rows left after commit", n)
			}
			e.assertNoOrphans(t)
		})
	}
}

func sha256File(t *testing.T, p string) string {
	t.Helper()
	f, err := os.Open(p)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	h := sha256.New()
	io.Copy(h, f)
	return hex.EncodeToString(h.Sum(nil))
}

func TestDuplicatePushSameItem(t *testing.T) {
	e := newEnv(t, "fs")
	p := writeRandom(t, t.TempDir(), "a.mp4", testChunk+10)
	up := e.uploader(t)
	first, err := up.Upload(t.Context(), dock.Upload{Path: p})
	if err != nil {
		t.Fatal(err)
	}
	second, err := up.Upload(t.Context(), dock.Upload{Path: p})
	if err != nil {
		t.Fatal(err)
	}
	if second.EvidenceID != first.EvidenceID || !second.Duplicate || first.Duplicate {
		t.Fatalf("second push: id %s dup %v, first %s dup %v", second.EvidenceID, second.Duplicate, first.EvidenceID, first.Duplicate)
	}
	if second.Receipt != first.Receipt {
		t.Errorf("re-issued receipt differs:\n%+v\n%+v", second.Receipt, first.Receipt)
	}
	if n := e.count(t, `SELECT count(*) FROM evidence_items`); n != 1 {
		t.Errorf("%d items", n)
	}
	if n := e.count(t, `SELECT count(*) FROM custody_events WHERE evidence_id = $1 AND action = 'duplicate_upload_attempt'`, uuid.MustParse(first.EvidenceID)); n != 1 {
		t.Errorf("%d duplicate custody events", n)
	}
	e.assertNoOrphans(t)
}

// Two sessions (two docks) racing to commit the same bytes: one item, the
// loser gets the winner's receipt and a duplicate custody event.
func TestConcurrentSameBytesOneItem(t *testing.T) {
	e := newEnv(t, "fs")
	_, tok2, err := e.ids.EnrollDock(t.Context(), "station-2", "patrol", "", nil)
	if err != nil {
		t.Fatal(err)
	}
	p := writeRandom(t, t.TempDir(), "a.mp4", testChunk+10)
	c2, _ := dock.NewClient(e.srv.URL, tok2, nil)
	ups := []*dock.Uploader{e.uploader(t), {Client: c2, Key: e.uploader(t).Key}}
	var wg sync.WaitGroup
	res := make([]dock.Result, 2)
	errs := make([]error, 2)
	for i := range ups {
		wg.Add(1)
		go func() {
			defer wg.Done()
			res[i], errs[i] = ups[i].Upload(t.Context(), dock.Upload{Path: p})
		}()
	}
	wg.Wait()
	if errs[0] != nil || errs[1] != nil {
		t.Fatalf("uploads: %v / %v", errs[0], errs[1])
	}
	if res[0].EvidenceID != res[1].EvidenceID {
		t.Fatalf("two items: %s %s", res[0].EvidenceID, res[1].EvidenceID)
	}
	if n := e.count(t, `SELECT count(*) FROM evidence_items`); n != 1 {
		t.Errorf("%d items", n)
	}
	e.assertNoOrphans(t)
}

// The agent is cancelled after the first chunk is durable; a new agent
// (no local state) resumes at the server's offset, not at zero.
func TestResumeAfterAgentInterrupted(t *testing.T) {
	for _, backend := range backends {
		t.Run(backend, func(t *testing.T) {
			e := newEnv(t, backend)
			size := int64(3*testChunk + 77)
			p := writeRandom(t, t.TempDir(), "long.mp4", size)
			ctx, cancel := context.WithCancel(t.Context())
			_, err := e.uploader(t).Upload(ctx, dock.Upload{Path: p, Durable: func(_ string, off int64) {
				if off >= testChunk {
					cancel()
				}
			}})
			if err == nil || dock.Classify(err) != dock.Transient {
				t.Fatalf("interrupted upload: %v, want a transient error", err)
			}
			var firstOffset int64 = -1
			var sent int64
			var mu sync.Mutex
			res, err := e.uploader(t).Upload(t.Context(), dock.Upload{Path: p,
				Durable: func(_ string, off int64) {
					mu.Lock()
					if firstOffset < 0 {
						firstOffset = off
					}
					mu.Unlock()
				},
				Progress: func(done, _ int64) { sent = done }})
			if err != nil {
				t.Fatalf("resumed upload: %v", err)
			}
			if firstOffset < testChunk {
				t.Errorf("resumed at offset %d, want at least %d", firstOffset, testChunk)
			}
			if sent != size || res.Size != size {
				t.Errorf("progress ended at %d, result size %d, want %d", sent, res.Size, size)
			}
			if n := e.count(t, `SELECT count(*) FROM ingest_sessions`); n != 1 {
				t.Errorf("%d sessions, want the one resumed", n)
			}
			e.assertNoOrphans(t)
		})
	}
}

// The server is replaced by a new instance (and every connection cut) in
// the middle of an upload; the agent carries on from the durable offset.
func TestServerRestartMidUpload(t *testing.T) {
	for _, backend := range backends {
		t.Run(backend, func(t *testing.T) {
			e := newEnv(t, backend)
			size := int64(3*testChunk + 5)
			p := writeRandom(t, t.TempDir(), "long.mp4", size)
			var once sync.Once
			var offsets []int64
			res, err := e.uploader(t).Upload(t.Context(), dock.Upload{Path: p,
				Durable: func(_ string, off int64) { offsets = append(offsets, off) },
				Progress: func(done, _ int64) {
					if done > testChunk+testChunk/2 {
						once.Do(func() {
							e.restart()
							e.srv.CloseClientConnections()
						})
					}
				}})
			if err != nil {
				t.Fatalf("upload across restart: %v", err)
			}
			if res.Size != size || res.SHA256 != sha256File(t, p) {
				t.Fatalf("result %+v", res)
			}
			for i := 1; i < len(offsets); i++ {
				if offsets[i] < offsets[i-1] {
					t.Errorf("durable offset went back: %v", offsets)
				}
			}
			if n := e.count(t, `SELECT count(*) FROM evidence_items`); n != 1 {
				t.Errorf("%d items", n)
			}
			e.assertNoOrphans(t)
		})
	}
}

func TestRevokedDockRefused(t *testing.T) {
	e := newEnv(t, "fs")
	p := writeRandom(t, t.TempDir(), "a.mp4", 100)
	if err := e.ids.RevokeDock(t.Context(), e.dockID); err != nil {
		t.Fatal(err)
	}
	_, err := e.uploader(t).Upload(t.Context(), dock.Upload{Path: p})
	if dock.Classify(err) != dock.Auth || wireCode(err) != wire.CodeUnauthenticated {
		t.Fatalf("revoked dock upload: %v (kind %v), want auth/unauthenticated", err, dock.Classify(err))
	}
	if n := e.count(t, `SELECT count(*) FROM ingest_sessions`); n != 0 {
		t.Errorf("%d sessions for a revoked dock", n)
	}
}

// A dock revoked mid-upload is refused at its next chunk.
func TestDockRevokedMidUpload(t *testing.T) {
	e := newEnv(t, "fs")
	p := writeRandom(t, t.TempDir(), "a.mp4", 2*testChunk)
	_, err := e.uploader(t).Upload(t.Context(), dock.Upload{Path: p, Durable: func(_ string, off int64) {
		if off > 0 {
			if err := e.ids.RevokeDock(context.Background(), e.dockID); err != nil && !errors.Is(err, evidence.ErrNotFound) {
				t.Error(err)
			}
		}
	}})
	if dock.Classify(err) != dock.Auth {
		t.Fatalf("upload after revocation: %v", err)
	}
	if n := e.count(t, `SELECT count(*) FROM evidence_items`); n != 0 {
		t.Errorf("%d items from a revoked dock", n)
	}
}

func TestCleanupAbandoned(t *testing.T) {
	for _, backend := range backends {
		t.Run(backend, func(t *testing.T) {
			e := newEnv(t, backend)
			p := writeRandom(t, t.TempDir(), "a.mp4", 2*testChunk)
			ctx, cancel := context.WithCancel(t.Context())
			e.uploader(t).Upload(ctx, dock.Upload{Path: p, Durable: func(_ string, off int64) {
				if off > 0 {
					cancel()
				}
			}})
			// An upload whose session was never written (crash right after
			// CreateUpload).
			orphan := storage.Ref{Namespace: storage.Originals, Digest: sha256.Sum256([]byte("orphan"))}
			if _, err := e.store.CreateUpload(t.Context(), orphan, 10, storage.PutOptions{}); err != nil {
				t.Fatal(err)
			}
			// Not yet old enough: nothing happens.
			n, err := e.svc.Load().CleanupAbandoned(t.Context(), time.Hour)
			if err != nil || n != 0 {
				t.Fatalf("early cleanup = %d, %v", n, err)
			}
			later := time.Now().Add(2 * time.Hour)
			e.now.Store(&later)
			n, err = e.svc.Load().CleanupAbandoned(t.Context(), time.Hour)
			if err != nil {
				t.Fatalf("cleanup: %v", err)
			}
			if n != 2 {
				t.Errorf("cleanup finished %d, want 2 (a session, an orphan upload)", n)
			}
			if c := e.count(t, `SELECT count(*) FROM ingest_sessions WHERE state = 'aborted' AND error_code = 'abandoned'`); c != 1 {
				t.Errorf("%d aborted sessions", c)
			}
			if c := e.count(t, `SELECT count(*) FROM ingest_parts`); c != 0 {
				t.Errorf("%d parts left", c)
			}
			left := 0
			e.store.ListUploads(t.Context(), later, func(storage.UploadID, storage.Ref, time.Time) error { left++; return nil })
			if left != 0 {
				t.Errorf("%d storage uploads left", left)
			}
			// The agent comes back: the old session is gone, it starts over
			// and still ends with exactly one item.
			e.now.Store(nil)
			if _, err := e.uploader(t).Upload(t.Context(), dock.Upload{Path: p}); err != nil {
				t.Fatalf("upload after cleanup: %v", err)
			}
			if c := e.count(t, `SELECT count(*) FROM evidence_items`); c != 1 {
				t.Errorf("%d items", c)
			}
			e.assertNoOrphans(t)
		})
	}
}

// A crash between storage Complete and the database commit leaves a
// visible object without an item; the agent's next commit (or the
// janitor, if the agent never returns) finishes it.
func TestCrashAfterCompleteReconciled(t *testing.T) {
	for _, backend := range backends {
		for _, by := range []string{"agent", "cleanup", "reconcile"} {
			t.Run(backend+"/"+by, func(t *testing.T) {
				e := newEnv(t, backend)
				p := writeRandom(t, t.TempDir(), "a.mp4", testChunk+1)
				c := e.client(t)
				sid, h := uploadAllChunks(t, c, p)
				// Simulate the crash: completing recorded, storage completed,
				// database commit never ran.
				simulateCompleteCrash(t, e, sid)
				d, _ := storage.ParseDigest(h)
				if _, err := e.store.Stat(t.Context(), storage.Ref{Namespace: storage.Originals, Digest: d}); err != nil {
					t.Fatalf("object not visible after Complete: %v", err)
				}
				switch by {
				case "agent":
					cr, err := c.Commit(t.Context(), sid)
					if err != nil {
						t.Fatalf("commit after crash: %v", err)
					}
					if err := receipt.VerifyFor(e.pub(), cr.Receipt, h, testChunk+1); err != nil {
						t.Fatal(err)
					}
				case "cleanup":
					// Completing sessions are finished after 10 idle minutes
					// even when abandoned uploads are kept for a week.
					later := time.Now().Add(11 * time.Minute)
					e.now.Store(&later)
					if n, err := e.svc.Load().CleanupAbandoned(t.Context(), 7*24*time.Hour); err != nil || n != 1 {
						t.Fatalf("cleanup = %d, %v", n, err)
					}
				case "reconcile":
					if n, err := e.svc.Load().Reconcile(t.Context()); err != nil || n != 1 {
						t.Fatalf("reconcile = %d, %v", n, err)
					}
				}
				if n := e.count(t, `SELECT count(*) FROM evidence_items WHERE sha256 = $1`, d[:]); n != 1 {
					t.Fatalf("%d items after reconciliation", n)
				}
				if n := e.count(t, `SELECT count(*) FROM ingest_sessions WHERE state = 'committed'`); n != 1 {
					t.Errorf("%d committed sessions", n)
				}
				e.assertNoOrphans(t)
			})
		}
	}
}

// With RetainFor set, the original is locked in storage from the moment
// it becomes visible; the item's own retention is left to the retention
// module (NULL until computed).
func TestOriginalLockedOnCommit(t *testing.T) {
	for _, backend := range backends {
		t.Run(backend, func(t *testing.T) {
			e := newEnv(t, backend)
			e.cfg.RetainFor = time.Hour
			e.restart()
			p := writeRandom(t, t.TempDir(), "a.mp4", 1000)
			res, err := e.uploader(t).Upload(t.Context(), dock.Upload{Path: p})
			if err != nil {
				t.Fatal(err)
			}
			d, _ := storage.ParseDigest(res.SHA256)
			ref := storage.Ref{Namespace: storage.Originals, Digest: d}
			obj, err := e.store.Stat(t.Context(), ref)
			if err != nil || obj.RetainUntil.Before(time.Now().Add(50*time.Minute)) {
				t.Fatalf("object retention %v, %v", obj.RetainUntil, err)
			}
			if err := e.store.Delete(t.Context(), ref); !errors.Is(err, storage.ErrRetained) {
				t.Errorf("deleting a fresh original: %v, want ErrRetained", err)
			}
			if n := e.count(t, `SELECT count(*) FROM objects WHERE sha256 = $1 AND retain_until > now()`, d[:]); n != 1 {
				t.Errorf("objects row without the lock date")
			}
			if n := e.count(t, `SELECT count(*) FROM evidence_items WHERE sha256 = $1 AND retain_until IS NULL`, d[:]); n != 1 {
				t.Errorf("ingest set the item's retention")
			}
		})
	}
}

// An abandoned session that had received every byte is committed by the
// janitor rather than thrown away.
func TestCleanupCommitsCompleteSession(t *testing.T) {
	e := newEnv(t, "fs")
	p := writeRandom(t, t.TempDir(), "a.mp4", testChunk+5)
	_, h := uploadAllChunks(t, e.client(t), p)
	later := time.Now().Add(2 * time.Hour)
	e.now.Store(&later)
	if n, err := e.svc.Load().CleanupAbandoned(t.Context(), time.Hour); err != nil || n != 1 {
		t.Fatalf("cleanup = %d, %v", n, err)
	}
	d, _ := storage.ParseDigest(h)
	if n := e.count(t, `SELECT count(*) FROM evidence_items WHERE sha256 = $1`, d[:]); n != 1 {
		t.Fatalf("%d items", n)
	}
	e.assertNoOrphans(t)
}
