package custody

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"
	"testing"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/opendems/opendems/evidence"
	"github.com/opendems/opendems/evidence/custody/chain"
	"github.com/opendems/opendems/evidence/pg/pgtest"
	"github.com/opendems/opendems/storage"
	"github.com/opendems/opendems/storage/fs"
)

// bundle is what each test gets: a fresh database, a filesystem store and
// a signing key.
type bundle struct {
	pool  *pgxpool.Pool
	store *fs.Store
	key   ed25519.PrivateKey
	pub   ed25519.PublicKey
	unit  uuid.UUID
}

func setup(t testing.TB) *bundle {
	t.Helper()
	db := pgtest.NewDB(t)
	store, err := fs.New(t.TempDir(), nil)
	if err != nil {
		t.Fatal(err)
	}
	pub, key, _ := ed25519.GenerateKey(nil)
	b := &bundle{pool: db.Pool, store: store, key: key, pub: pub}
	ctx := context.Background()
	if err := b.pool.QueryRow(ctx, `INSERT INTO units (slug, name, path) VALUES ('patrol', 'Patrol', 'patrol') RETURNING id`).Scan(&b.unit); err != nil {
		t.Fatal(err)
	}
	return b
}

// newItem inserts an evidence item whose original (content) is stored in
// b.store when content is not nil.
func (b *bundle) newItem(t testing.TB, content []byte) uuid.UUID {
	t.Helper()
	ctx := context.Background()
	if content == nil {
		content = make([]byte, 16)
		rand.Read(content)
	}
	d := storage.Digest(sha256Sum(content))
	var id uuid.UUID
	if err := b.pool.QueryRow(ctx, `INSERT INTO evidence_items (sha256, size, unit_id) VALUES ($1, $2, $3) RETURNING id`,
		d[:], len(content), b.unit).Scan(&id); err != nil {
		t.Fatal(err)
	}
	return id
}

func (b *bundle) exec(t testing.TB, sql string, args ...any) {
	t.Helper()
	if _, err := b.pool.Exec(context.Background(), sql, args...); err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
}

func (b *bundle) svc() *Service { return NewService(b.pool, b.store, b.pub, nil) }

// fill appends n viewed events (details {"n":i}) to id.
func (b *bundle) fill(t testing.TB, id uuid.UUID, n int) {
	t.Helper()
	for i := 1; i <= n; i++ {
		if _, err := b.svc().Append(context.Background(), NewEvent{EvidenceID: id, Actor: "user:jdoe",
			Action: ActionViewed, Details: map[string]any{"n": i}}); err != nil {
			t.Fatal(err)
		}
	}
}

func (b *bundle) export(t testing.TB, scope Scope) []byte {
	t.Helper()
	var buf bytes.Buffer
	if err := Export(context.Background(), b.pool, &buf, scope, b.pub); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func TestAppendAndRead(t *testing.T) {
	b := setup(t)
	ctx := context.Background()
	id := b.newItem(t, nil)
	tx, err := b.pool.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	e1, err := Append(ctx, tx, NewEvent{EvidenceID: id, Actor: "dock:Station 3 (north)", Action: ActionIngested,
		Details: map[string]any{"sha256": "ab", "size": 3}})
	if err != nil {
		t.Fatal(err)
	}
	if err := tx.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	e2, err := b.svc().Append(ctx, NewEvent{EvidenceID: id, Actor: "user:jdoe", Action: ActionMetadataChanged,
		Details: json.RawMessage(`{"new":"B","old":"A","field":"title"}`)})
	if err != nil {
		t.Fatal(err)
	}
	if e1.Seq != 1 || e2.Seq != 2 || e2.PrevHash != e1.Hash || e1.PrevHash != chain.ZeroHash {
		t.Fatalf("links: %+v %+v", e1, e2)
	}
	evs, err := Events(ctx, b.pool, id)
	if err != nil || len(evs) != 2 {
		t.Fatalf("events: %v %v", evs, err)
	}
	if string(evs[1].Details) != `{"field":"title","new":"B","old":"A"}` || evs[1].Hash != e2.Hash || !evs[0].Time.Equal(e1.Time) {
		t.Fatalf("read back %+v, appended %+v", evs[1], e2)
	}
	if probs := chain.VerifyChain(evs); len(probs) != 0 {
		t.Fatal(probs)
	}
	// A rolled-back append leaves nothing.
	tx, _ = b.pool.Begin(ctx)
	if _, err := Append(ctx, tx, NewEvent{EvidenceID: id, Actor: "user:jdoe", Action: ActionViewed}); err != nil {
		t.Fatal(err)
	}
	tx.Rollback(ctx)
	if evs, _ := Events(ctx, b.pool, id); len(evs) != 2 {
		t.Fatalf("rollback kept an event: %d", len(evs))
	}
}

func TestAppendRejectsBadInput(t *testing.T) {
	b := setup(t)
	id := b.newItem(t, nil)
	tests := []struct {
		name string
		ev   NewEvent
		want error
	}{
		{"unknown action", NewEvent{EvidenceID: id, Actor: "user:a", Action: "teleported"}, evidence.ErrInvalid},
		{"bad actor", NewEvent{EvidenceID: id, Actor: "jdoe", Action: ActionViewed}, evidence.ErrInvalid},
		{"actor with newline", NewEvent{EvidenceID: id, Actor: "user:j\ndoe", Action: ActionViewed}, evidence.ErrInvalid},
		{"missing old value", NewEvent{EvidenceID: id, Actor: "user:a", Action: ActionCategoryChanged, Details: map[string]any{"new": "x"}}, evidence.ErrInvalid},
		{"details not object", NewEvent{EvidenceID: id, Actor: "user:a", Action: ActionViewed, Details: []int{1}}, evidence.ErrInvalid},
		{"no item", NewEvent{EvidenceID: uuid.New(), Actor: "user:a", Action: ActionViewed}, evidence.ErrNotFound},
		{"nil item", NewEvent{Actor: "user:a", Action: ActionViewed}, evidence.ErrInvalid},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := b.svc().Append(context.Background(), tc.ev); !errors.Is(err, tc.want) {
				t.Fatalf("got %v, want %v", err, tc.want)
			}
		})
	}
}

func TestAppendOnlyTrigger(t *testing.T) {
	b := setup(t)
	ctx := context.Background()
	id := b.newItem(t, nil)
	b.fill(t, id, 2)
	if _, err := b.svc().Append(ctx, NewEvent{EvidenceID: id, Actor: "user:a", Action: ActionViewed}); err != nil {
		t.Fatal(err)
	}
	for _, sql := range []string{
		`UPDATE custody_events SET actor = 'user:x'`,
		`DELETE FROM custody_events`,
		`TRUNCATE custody_events`,
		`TRUNCATE custody_events CASCADE`,
		`TRUNCATE audit_log`, // row triggers on audit_log are tested in package audit
		`DELETE FROM custody_heads`,
		`UPDATE custody_heads SET seq = 0`,
	} {
		// As superuser: the trigger refuses.
		_, err := b.pool.Exec(ctx, sql)
		if err == nil || !(strings.Contains(err.Error(), "append-only") || strings.Contains(err.Error(), "chain head")) {
			t.Errorf("%s as superuser: %v", sql, err)
		}
	}
	// As the application role: no privilege at all (checked before any trigger).
	conn, err := b.pool.Acquire(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Release()
	if _, err := conn.Exec(ctx, `SET ROLE opendems_app`); err != nil {
		t.Fatal(err)
	}
	defer conn.Exec(ctx, `RESET ROLE`)
	for _, sql := range []string{`UPDATE custody_events SET actor = 'user:x'`, `DELETE FROM custody_events`,
		`TRUNCATE custody_events`, `UPDATE audit_log SET outcome = 'success'`, `DELETE FROM custody_checkpoints`} {
		_, err := conn.Exec(ctx, sql)
		var pe *pgconn.PgError
		if !errors.As(err, &pe) || pe.Code != "42501" || !strings.Contains(pe.Message, "permission denied") {
			t.Errorf("%s as opendems_app: %v", sql, err)
		}
	}
	// ... but it can append.
	tx, err := conn.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Append(ctx, tx, NewEvent{EvidenceID: id, Actor: "user:a", Action: ActionViewed}); err != nil {
		t.Fatalf("append as opendems_app: %v", err)
	}
	if err := tx.Commit(ctx); err != nil {
		t.Fatal(err)
	}
}

func TestConcurrentAppends(t *testing.T) {
	b := setup(t)
	ctx := context.Background()
	const spread, perSpread = 32, 15
	const shared, perShared = 8, 25
	var items []uuid.UUID
	for i := 0; i < spread; i++ {
		items = append(items, b.newItem(t, nil))
	}
	one := b.newItem(t, nil)
	var wg sync.WaitGroup
	errs := make(chan error, spread+shared)
	run := func(id uuid.UUID, n int, who string) {
		defer wg.Done()
		for i := 0; i < n; i++ {
			if _, err := b.svc().Append(ctx, NewEvent{EvidenceID: id, Actor: who, Action: ActionViewed,
				Details: map[string]any{"i": i}}); err != nil {
				errs <- err
				return
			}
		}
	}
	for i, id := range items {
		wg.Add(1)
		go run(id, perSpread, fmt.Sprintf("user:w%d", i))
	}
	for i := 0; i < shared; i++ {
		wg.Add(1)
		go run(one, perShared, fmt.Sprintf("user:s%d", i))
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	rep, err := VerifyDB(ctx, b.pool, VerifyOptions{})
	if err != nil || !rep.OK() {
		t.Fatalf("verify: %+v %v", rep, err)
	}
	if rep.Items != spread+1 || rep.Events != spread*perSpread+shared*perShared {
		t.Fatalf("report %+v", rep)
	}
	evs, _ := Events(ctx, b.pool, one)
	for i, e := range evs {
		if e.Seq != int64(i+1) {
			t.Fatalf("seq %d at position %d", e.Seq, i)
		}
	}
	if len(evs) != shared*perShared {
		t.Fatalf("%d events on the shared item", len(evs))
	}
}

func TestCheckpoint(t *testing.T) {
	b := setup(t)
	ctx := context.Background()
	a, c := b.newItem(t, nil), b.newItem(t, nil)
	b.newItem(t, nil) // no events: not a leaf
	b.fill(t, a, 3)
	b.fill(t, c, 2)
	cp, err := Checkpoint(ctx, b.pool, b.store, b.key)
	if err != nil {
		t.Fatal(err)
	}
	if cp.TreeSize != 2 || cp.VerifySignature(b.pub) != nil {
		t.Fatalf("checkpoint %+v", cp)
	}
	again, err := Checkpoint(ctx, b.pool, b.store, b.key)
	if err != nil || again.ID != cp.ID {
		t.Fatalf("unchanged heads made a new checkpoint: %d vs %d (%v)", again.ID, cp.ID, err)
	}
	b.fill(t, c, 1)
	next, err := Checkpoint(ctx, b.pool, b.store, b.key)
	if err != nil || next.ID <= cp.ID || next.Root == cp.Root {
		t.Fatalf("new checkpoint %+v after %+v (%v)", next, cp, err)
	}
	// The storage object holds the same signed checkpoint and leaves.
	var objSHA []byte
	if err := b.pool.QueryRow(ctx, `SELECT object_sha256 FROM custody_checkpoints WHERE id = $1`, next.ID).Scan(&objSHA); err != nil {
		t.Fatal(err)
	}
	var d storage.Digest
	copy(d[:], objSHA)
	obj, err := b.store.Stat(ctx, storage.Ref{Namespace: storage.Checkpoints, Digest: d})
	if err != nil || obj.RetainUntil.IsZero() {
		t.Fatalf("stored object %+v %v", obj, err)
	}
	rc, err := b.store.Open(ctx, obj.Ref, 0, -1)
	if err != nil {
		t.Fatal(err)
	}
	raw, _ := io.ReadAll(rc)
	rc.Close()
	var doc CheckpointObject
	if err := json.Unmarshal(raw, &doc); err != nil || doc.ID != next.ID || doc.Root != next.Root || doc.Message != string(next.CheckpointMessage()) {
		t.Fatalf("object %s: %v", raw, err)
	}
	rep, err := VerifyDB(ctx, b.pool, VerifyOptions{PublicKey: b.pub})
	if err != nil || !rep.OK() || rep.Checkpoints != 2 {
		t.Fatalf("verify %+v %v", rep, err)
	}
	// Export of one item carries the proof against the latest checkpoint.
	er, err := chain.VerifyExport(bytes.NewReader(b.export(t, Scope{EvidenceID: c})), b.pub)
	if err != nil || er.Proofs != 1 || er.Events != 3 || er.Uncovered != 0 || !er.KeyTrusted {
		t.Fatalf("export verify %+v %v", er, err)
	}
	er, err = chain.VerifyExport(bytes.NewReader(b.export(t, Scope{All: true, AllCheckpoints: true})), b.pub)
	if err != nil || er.Proofs != 4 || er.Checkpoints != 2 || er.Items != 2 {
		t.Fatalf("export all verify %+v %v", er, err)
	}
	if _, err := Checkpoint(ctx, b.pool, b.store, nil); !errors.Is(err, ErrNoSigner) {
		t.Fatalf("nil key: %v", err)
	}
}

func TestExportCase(t *testing.T) {
	b := setup(t)
	ctx := context.Background()
	caseID := uuid.New()
	in1, in2, out := b.newItem(t, nil), b.newItem(t, nil), b.newItem(t, nil)
	for _, id := range []uuid.UUID{in1, in2} {
		if _, err := b.svc().Append(ctx, NewEvent{EvidenceID: id, Actor: "user:a", Action: ActionCaseAdded,
			Details: map[string]any{"case_id": caseID.String()}}); err != nil {
			t.Fatal(err)
		}
	}
	b.fill(t, out, 2)
	rep, err := chain.VerifyExport(bytes.NewReader(b.export(t, Scope{CaseID: caseID})), b.pub)
	if err != nil || rep.Items != 2 || rep.Events != 2 || rep.Uncovered != 2 || rep.Scope != "case:"+caseID.String() {
		t.Fatalf("case export %+v %v", rep, err)
	}
	if err := Export(ctx, b.pool, io.Discard, Scope{}, b.pub); !errors.Is(err, evidence.ErrInvalid) {
		t.Fatalf("empty scope: %v", err)
	}
	if err := Export(ctx, b.pool, io.Discard, Scope{EvidenceID: uuid.New()}, b.pub); !errors.Is(err, evidence.ErrNotFound) {
		t.Fatalf("unknown item: %v", err)
	}
}

// TestTamperDetected tampers with the database as a superuser and checks
// that both the database verifier and the export verifier name the exact
// event.
func TestTamperDetected(t *testing.T) {
	tests := []struct {
		name   string
		tamper func(t *testing.T, b *bundle, id uuid.UUID)
		seq    int64
		want   string
		cpWant string // expected instead of want when only the checkpoint catches it
	}{
		{"detail changed", func(t *testing.T, b *bundle, id uuid.UUID) {
			b.exec(t, `UPDATE custody_events SET details = '{"n":99}' WHERE evidence_id = $1 AND seq = 7`, id)
		}, 7, "hash mismatch: stored", ""},
		{"row deleted", func(t *testing.T, b *bundle, id uuid.UUID) {
			b.exec(t, `DELETE FROM custody_events WHERE evidence_id = $1 AND seq = 5`, id)
		}, 6, "seq 5 missing (gap between 4 and 6)", ""},
		{"rows reordered", func(t *testing.T, b *bundle, id uuid.UUID) {
			b.exec(t, `UPDATE custody_events SET seq = 1000 WHERE evidence_id = $1 AND seq = 3`, id)
			b.exec(t, `UPDATE custody_events SET seq = 3 WHERE evidence_id = $1 AND seq = 4`, id)
			b.exec(t, `UPDATE custody_events SET seq = 4 WHERE evidence_id = $1 AND seq = 1000`, id)
		}, 3, "prev_hash mismatch", ""},
		{"forged row", func(t *testing.T, b *bundle, id uuid.UUID) {
			var prev []byte
			b.pool.QueryRow(context.Background(), `SELECT hash FROM custody_events WHERE evidence_id = $1 AND seq = 10`, id).Scan(&prev)
			forged := make([]byte, 32)
			rand.Read(forged)
			b.exec(t, `INSERT INTO custody_events (evidence_id, seq, at, actor, action, details, prev_hash, hash)
				VALUES ($1, 11, now(), 'user:mallory', 'viewed', '{}', $2, $3)`, id, prev, forged)
		}, 11, "hash mismatch", ""},
		{"chain replaced", func(t *testing.T, b *bundle, id uuid.UUID) {
			// Rewrite the whole history consistently: only the checkpoint
			// can tell.
			evs, err := Events(context.Background(), b.pool, id)
			if err != nil {
				t.Fatal(err)
			}
			b.exec(t, `DELETE FROM custody_events WHERE evidence_id = $1`, id)
			prev := chain.ZeroHash
			for i := range evs {
				e := &evs[i]
				if e.Seq == 4 {
					e.Actor = "user:mallory"
				}
				e.PrevHash = prev
				prev = e.Seal()
				b.exec(t, `INSERT INTO custody_events (evidence_id, seq, at, actor, action, details, prev_hash, hash)
					VALUES ($1, $2, $3, $4, $5, $6, $7, $8)`, id, e.Seq, e.Time, e.Actor, string(e.Action), string(e.Details), e.PrevHash[:], e.Hash[:])
			}
			b.exec(t, `ALTER TABLE custody_heads DISABLE TRIGGER custody_heads_forward`)
			b.exec(t, `UPDATE custody_heads SET hash = $2 WHERE evidence_id = $1`, id, prev[:])
		}, 10, "does not match checkpoint 1", ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			b := setup(t)
			ctx := context.Background()
			var ids []uuid.UUID
			for i := 0; i < 3; i++ {
				id := b.newItem(t, nil)
				b.fill(t, id, 10)
				ids = append(ids, id)
			}
			if _, err := Checkpoint(ctx, b.pool, b.store, b.key); err != nil {
				t.Fatal(err)
			}
			victim := ids[1]
			b.exec(t, `ALTER TABLE custody_events DISABLE TRIGGER custody_events_append_only`)
			tc.tamper(t, b, victim)

			wantPrefix := fmt.Sprintf("evidence %s seq %d: ", victim, tc.seq)
			rep, err := VerifyDB(ctx, b.pool, VerifyOptions{PublicKey: b.pub})
			if err != nil {
				t.Fatal(err)
			}
			if rep.OK() {
				t.Fatal("database verification missed the tampering")
			}
			first := rep.Problems[0].String()
			if !strings.HasPrefix(first, wantPrefix) || !strings.Contains(first, tc.want) {
				t.Fatalf("db verify: first problem %q, want prefix %q containing %q", first, wantPrefix, tc.want)
			}
			one, err := VerifyDB(ctx, b.pool, VerifyOptions{PublicKey: b.pub, EvidenceID: ids[0]})
			if err != nil || !one.OK() {
				t.Fatalf("untouched item: %+v %v", one, err)
			}

			_, err = chain.VerifyExport(bytes.NewReader(b.export(t, Scope{All: true})), b.pub)
			var ve *chain.VerificationError
			if !errors.As(err, &ve) {
				t.Fatalf("export verify: %v", err)
			}
			got := ve.First.String()
			if !strings.Contains(got, wantPrefix) || !strings.Contains(got, tc.want) {
				t.Fatalf("export verify: first problem %q, want %q ... %q", got, wantPrefix, tc.want)
			}
		})
	}
}

func sha256Sum(b []byte) [32]byte { return sha256.Sum256(b) }

var _ = pgx.ErrNoRows

func TestVerifyDBRejectsForeignCheckpoint(t *testing.T) {
	b := setup(t)
	ctx := context.Background()
	id := b.newItem(t, nil)
	b.fill(t, id, 2)
	if _, err := Checkpoint(ctx, b.pool, b.store, b.key); err != nil {
		t.Fatal(err)
	}
	b.fill(t, id, 1)
	_, mallory, _ := ed25519.GenerateKey(nil)
	if _, err := Checkpoint(ctx, b.pool, b.store, mallory); err != nil {
		t.Fatal(err)
	}
	for name, key := range map[string]ed25519.PublicKey{"trusted key": b.pub, "no key": nil} {
		rep, err := VerifyDB(ctx, b.pool, VerifyOptions{PublicKey: key})
		if err != nil || rep.OK() || rep.Problems[0].Checkpoint != 2 || !strings.Contains(rep.Problems[0].Message, "untrusted key") {
			t.Fatalf("%s: %+v %v", name, rep, err)
		}
	}
}

func TestVerifyDBDetectsCheckpointTampering(t *testing.T) {
	b := setup(t)
	ctx := context.Background()
	a, c := b.newItem(t, nil), b.newItem(t, nil)
	b.fill(t, a, 2)
	b.fill(t, c, 2)
	cp, err := Checkpoint(ctx, b.pool, b.store, b.key)
	if err != nil {
		t.Fatal(err)
	}
	// Drop one leaf from the stored checkpoint (its signature is intact).
	b.exec(t, `ALTER TABLE custody_checkpoints DISABLE TRIGGER custody_checkpoints_append_only`)
	b.exec(t, `UPDATE custody_checkpoints SET leaves = substring(leaves from 1 for $2) WHERE id = $1`, cp.ID, chain.LeafSize)
	rep, err := VerifyDB(ctx, b.pool, VerifyOptions{PublicKey: b.pub})
	if err != nil || rep.OK() || rep.Problems[0].Checkpoint != cp.ID || !strings.Contains(rep.Problems[0].String(), "stored leaves (1) hash to root") {
		t.Fatalf("report %+v %v", rep, err)
	}
	// A forged signature is named too.
	b.exec(t, `UPDATE custody_checkpoints SET signature = $2 WHERE id = $1`, cp.ID, make([]byte, 64))
	rep, _ = VerifyDB(ctx, b.pool, VerifyOptions{PublicKey: b.pub})
	if rep.OK() || !strings.Contains(rep.Problems[0].String(), "checkpoint 1: signature invalid") {
		t.Fatalf("report %+v", rep)
	}
}

func TestVerifyDBCommand(t *testing.T) {
	b := setup(t)
	ctx := context.Background()
	id := b.newItem(t, nil)
	b.fill(t, id, 3)
	var out bytes.Buffer
	if err := VerifyDBCommand(ctx, &out, b.pool, VerifyOptions{PublicKey: b.pub}); err != nil || !strings.Contains(out.String(), "OK:") {
		t.Fatalf("%v\n%s", err, out.String())
	}
	b.exec(t, `ALTER TABLE custody_events DISABLE TRIGGER custody_events_append_only`)
	b.exec(t, `UPDATE custody_events SET actor = 'user:x' WHERE evidence_id = $1 AND seq = 2`, id)
	out.Reset()
	err := VerifyDBCommand(ctx, &out, b.pool, VerifyOptions{PublicKey: b.pub})
	if !errors.Is(err, chain.ErrNotVerified) || !strings.Contains(out.String(), fmt.Sprintf("evidence %s seq 2: hash mismatch", id)) {
		t.Fatalf("%v\n%s", err, out.String())
	}
}
