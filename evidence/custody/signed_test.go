package custody

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

func (b *bundle) chainView(t *testing.T, id string) ChainResponse {
	t.Helper()
	w := httptest.NewRecorder()
	b.router(true).ServeHTTP(w, httptest.NewRequest(http.MethodGet, "/api/v1/evidence/"+id+"/custody", nil))
	var ch ChainResponse
	if err := json.Unmarshal(w.Body.Bytes(), &ch); err != nil || w.Code != 200 {
		t.Fatalf("chain %d %s %v", w.Code, w.Body, err)
	}
	return ch
}

// A superuser rebuilds an item's chain consistently (every hash and link
// recomputed) after a checkpoint signed it: `verified` must turn false,
// because it means "matches the latest signed checkpoint". Events after
// the checkpoint are reported as the unsigned tail, in the API and in
// the server-side verification command.
func TestVerifiedMeansSignedByCheckpoint(t *testing.T) {
	b := setup(t)
	ctx := context.Background()
	id := b.newItem(t, nil)
	b.fill(t, id, 3)
	if ch := b.chainView(t, id.String()); ch.Verified || ch.UnsignedEvents != 3 || ch.SignedSeq != 0 {
		t.Fatalf("nothing signed yet must not verify: %+v", ch)
	}
	cp, err := Checkpoint(ctx, b.pool, b.store, b.key)
	if err != nil {
		t.Fatal(err)
	}
	b.fill(t, id, 2)
	ch := b.chainView(t, id.String())
	if !ch.Verified || ch.Checkpoint != cp.ID || ch.SignedSeq != 3 || ch.UnsignedEvents != 2 {
		t.Fatalf("signed prefix: %+v", ch)
	}
	var out bytes.Buffer
	if err := VerifyDBCommand(ctx, &out, b.pool, VerifyOptions{PublicKey: b.pub}); err != nil ||
		!strings.Contains(out.String(), "unsigned tail: 2 events in 1 items") {
		t.Fatalf("%v\n%s", err, out.String())
	}

	// Rewrite event 2 and re-seal the chain from there on.
	evs, err := Events(ctx, b.pool, id)
	if err != nil {
		t.Fatal(err)
	}
	b.exec(t, `ALTER TABLE custody_events DISABLE TRIGGER custody_events_append_only`)
	b.exec(t, `ALTER TABLE custody_heads DISABLE TRIGGER custody_heads_forward`)
	prev := evs[0].Hash
	for i := 1; i < len(evs); i++ {
		e := evs[i]
		if i == 1 {
			e.Actor = "user:someone-else"
		}
		e.PrevHash = prev
		prev = e.Seal()
		b.exec(t, `UPDATE custody_events SET actor = $3, prev_hash = $4, hash = $5 WHERE evidence_id = $1 AND seq = $2`,
			id, e.Seq, e.Actor, e.PrevHash[:], e.Hash[:])
	}
	b.exec(t, `UPDATE custody_heads SET hash = $2 WHERE evidence_id = $1`, id, prev[:])
	ch = b.chainView(t, id.String())
	if ch.Verified || len(ch.Problems) != 1 || !strings.Contains(ch.Problems[0].Message, "does not match checkpoint") {
		t.Fatalf("rewritten chain: %+v", ch)
	}

	// A checkpoint that no longer verifies (forged signature) verifies nothing.
	b.exec(t, `ALTER TABLE custody_checkpoints DISABLE TRIGGER custody_checkpoints_append_only`)
	b.exec(t, `UPDATE custody_checkpoints SET signature = $2 WHERE id = $1`, cp.ID, make([]byte, 64))
	if ch := b.chainView(t, id.String()); ch.Verified || len(ch.Problems) == 0 {
		t.Fatalf("forged checkpoint: %+v", ch)
	}
}
