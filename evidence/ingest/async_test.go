package ingest_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/opendems/opendems/evidence/dock"
	"github.com/opendems/opendems/evidence/ingest/receipt"
	"github.com/opendems/opendems/evidence/ingest/wire"
	"github.com/opendems/opendems/storage"
)

// uploadAll creates a session declaring declSHA for data and sends every
// chunk with its true hash; it returns the session id.
func (e *env) uploadAll(t *testing.T, declSHA string, data []byte) string {
	t.Helper()
	sid := e.newSession(t, declSHA, int64(len(data)))
	for off := int64(0); off < int64(len(data)); off += testChunk {
		part := data[off:min(int64(len(data)), off+testChunk)]
		if status, _, raw := e.raw(t, http.MethodPut, chunkPath(sid, off), bytes.NewReader(part), map[string]string{wire.HeaderChunkSHA256: hexSum(part)}); status != 200 {
			t.Fatalf("chunk at %d: %d %s", off, status, raw)
		}
	}
	return sid
}

// commitAsync posts the acknowledging commit and returns status and body.
func (e *env) commitAsync(t *testing.T, sid string) (int, []byte) {
	t.Helper()
	status, _, raw := e.raw(t, http.MethodPost, wire.PathSessions+"/"+sid+"/commit", nil, map[string]string{wire.HeaderPrefer: wire.PreferAsync})
	return status, raw
}

// await polls the session until it leaves the completing state.
func (e *env) await(t *testing.T, sid string) wire.Session {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	for {
		st, err := e.client(t).GetSession(t.Context(), sid)
		if err != nil {
			t.Fatalf("status: %v", err)
		}
		if st.State != wire.StateCompleting {
			return st
		}
		if time.Now().After(deadline) {
			t.Fatalf("session %s still completing after a minute", sid)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func storageUploads(t *testing.T, e *env) int {
	t.Helper()
	n := 0
	if err := e.store.ListUploads(t.Context(), time.Now().Add(time.Hour), func(storage.UploadID, storage.Ref, time.Time) error { n++; return nil }); err != nil {
		t.Fatal(err)
	}
	return n
}

// The acknowledging commit (Prefer: respond-async) answers 202 once the
// commit is recorded; the receipt appears on the session only after the
// verification and the item's transaction, and a second commit call then
// answers 200 with the same receipt. A create touches no storage: the
// upload starts with the first chunk.
func TestAcknowledgedCommit(t *testing.T) {
	for _, backend := range backends {
		t.Run(backend, func(t *testing.T) {
			e := newEnv(t, backend)
			data := make([]byte, testChunk+1000)
			rand.Read(data)
			sid := e.newSession(t, hexSum(data), int64(len(data)))
			if n := storageUploads(t, e); n != 0 {
				t.Fatalf("a create started %d storage uploads; want none before the first chunk", n)
			}
			if n := e.count(t, `SELECT count(*) FROM ingest_sessions WHERE id = $1 AND upload_id = ''`, sid); n != 1 {
				t.Fatalf("session has an upload id before any chunk")
			}
			for off := int64(0); off < int64(len(data)); off += testChunk {
				part := data[off:min(int64(len(data)), off+testChunk)]
				if status, _, raw := e.raw(t, http.MethodPut, chunkPath(sid, off), bytes.NewReader(part), map[string]string{wire.HeaderChunkSHA256: hexSum(part)}); status != 200 {
					t.Fatalf("chunk at %d: %d %s", off, status, raw)
				}
				if n := storageUploads(t, e); n != 1 {
					t.Fatalf("after a chunk: %d storage uploads, want 1", n)
				}
			}
			status, raw := e.commitAsync(t, sid)
			var ack wire.Session
			if err := json.Unmarshal(raw, &ack); status != http.StatusAccepted || err != nil || ack.SessionID != sid || ack.Receipt != nil {
				t.Fatalf("acknowledging commit: %d %s", status, raw)
			}
			st := e.await(t, sid)
			if st.State != wire.StateCommitted || st.Receipt == nil {
				t.Fatalf("after the commit: %+v", st)
			}
			if err := receipt.VerifyFor(e.pub(), *st.Receipt, hexSum(data), int64(len(data))); err != nil {
				t.Fatalf("receipt: %v", err)
			}
			status, raw = e.commitAsync(t, sid)
			var again wire.CommitResponse
			if err := json.Unmarshal(raw, &again); status != http.StatusOK || err != nil || again.Receipt.Signature != st.Receipt.Signature {
				t.Fatalf("commit of a committed session: %d %s", status, raw)
			}
			if n := e.count(t, `SELECT count(*) FROM custody_events c JOIN evidence_items i ON i.id = c.evidence_id
				WHERE i.sha256 = decode($1, 'hex') AND c.action = 'ingested'`, hexSum(data)); n != 1 {
				t.Errorf("%d ingested events", n)
			}
			e.assertNoOrphans(t)
		})
	}
}

// A verification that fails after the acknowledgement is found by the
// poll: the session is failed with the verification's code, nothing is
// stored, no item made; the agent classifies it as permanent.
func TestAcknowledgedCommitFailsVerification(t *testing.T) {
	for _, backend := range backends {
		t.Run(backend, func(t *testing.T) {
			e := newEnv(t, backend)
			data := make([]byte, testChunk+1000)
			rand.Read(data)
			other := make([]byte, len(data))
			rand.Read(other)
			sid := e.uploadAll(t, hexSum(other), data) // declares the wrong bytes
			if status, raw := e.commitAsync(t, sid); status != http.StatusAccepted {
				t.Fatalf("acknowledging commit: %d %s", status, raw)
			}
			st := e.await(t, sid)
			if st.State != wire.StateFailed || st.Error == nil || st.Error.Code != wire.CodeDigestMismatch || st.Receipt != nil {
				t.Fatalf("after a failed verification: %+v (error %+v)", st, st.Error)
			}
			if n := e.count(t, `SELECT count(*) FROM evidence_items`); n != 0 {
				t.Errorf("%d items after a failed verification", n)
			}
			e.assertNoOrphans(t)

			// The agent's side: a file whose declared hash is not its
			// bytes' fails permanently at the poll.
			path := filepath.Join(t.TempDir(), "clip.mp4")
			if err := os.WriteFile(path, data, 0o644); err != nil {
				t.Fatal(err)
			}
			rand.Read(other)
			_, err := e.uploader(t).Upload(t.Context(), dock.Upload{Path: path, Hash: dock.Hash{SHA256: hexSum(other), Size: int64(len(data))}})
			var ue *dock.UploadError
			if !errors.As(err, &ue) || ue.Kind != dock.Permanent || wireCode(err) != wire.CodeDigestMismatch {
				t.Fatalf("agent upload of mis-declared bytes: %v", err)
			}
		})
	}
}

// A server that stops right after acknowledging a commit loses nothing:
// the restarted one's Reconcile (as demsd runs at start) finishes it, and
// the bytes make exactly one item with one ingested event, whichever
// process gets there first.
func TestAcknowledgedCommitSurvivesRestart(t *testing.T) {
	e := newEnv(t, "fs")
	data := make([]byte, testChunk+1000)
	rand.Read(data)
	sid := e.uploadAll(t, hexSum(data), data)
	old := e.svc.Load()
	if status, raw := e.commitAsync(t, sid); status != http.StatusAccepted {
		t.Fatalf("acknowledging commit: %d %s", status, raw)
	}
	e.restart()
	if _, err := e.svc.Load().Reconcile(t.Context()); err != nil {
		t.Fatalf("reconcile: %v", err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	if err := old.WaitCommits(ctx); err != nil {
		t.Fatal(err)
	}
	st := e.await(t, sid)
	if st.State != wire.StateCommitted || st.Receipt == nil {
		t.Fatalf("after restart and reconcile: %+v", st)
	}
	if n := e.count(t, `SELECT count(*) FROM evidence_items WHERE sha256 = decode($1, 'hex')`, hexSum(data)); n != 1 {
		t.Errorf("%d items", n)
	}
	if n := e.count(t, `SELECT count(*) FROM custody_events WHERE action = 'ingested'`); n != 1 {
		t.Errorf("%d ingested events", n)
	}
	e.assertNoOrphans(t)
}

// A commit before the last byte is refused at once, as without the
// preference (409 incomplete with the offset).
func TestAcknowledgedCommitIncomplete(t *testing.T) {
	e := newEnv(t, "fs")
	data := make([]byte, testChunk+1000)
	rand.Read(data)
	sid := e.newSession(t, hexSum(data), int64(len(data)))
	status, _, raw := e.raw(t, http.MethodPost, wire.PathSessions+"/"+sid+"/commit", nil, map[string]string{wire.HeaderPrefer: wire.PreferAsync})
	var eb wire.Body
	if err := json.Unmarshal(raw, &eb); status != http.StatusConflict || err != nil || eb.Error.Code != wire.CodeIncomplete {
		t.Fatalf("early acknowledging commit: %d %s", status, raw)
	}
	// Aborting a session that never stored a chunk has nothing to discard.
	if err := e.client(t).AbortSession(t.Context(), sid); err != nil {
		t.Fatalf("abort before any chunk: %v", err)
	}
	e.assertNoOrphans(t)
}
