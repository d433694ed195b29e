package audit

import (
	"context"
	"crypto/ed25519"
	"strings"
	"testing"
)

// A database superuser deletes the last audit records and resets the head
// to match: without an anchor that verifies; with one it must not.
func TestAnchorDetectsDeletedTail(t *testing.T) {
	db := setup(t)
	ctx := context.Background()
	pub, key, _ := ed25519.GenerateKey(nil)
	if a, created, err := SignAnchor(ctx, db, key); err != nil || created || a.ID != 0 {
		t.Fatalf("empty log: %+v %v %v", a, created, err)
	}
	for i := 0; i < 6; i++ {
		if _, err := Record(ctx, db, logon("user:jdoe", true)); err != nil {
			t.Fatal(err)
		}
	}
	a, created, err := SignAnchor(ctx, db, key)
	if err != nil || !created || a.Seq != 6 {
		t.Fatalf("anchor %+v %v %v", a, created, err)
	}
	if again, created, err := SignAnchor(ctx, db, key); err != nil || created || again.ID != a.ID {
		t.Fatalf("unchanged head must not be signed again: %+v %v %v", again, created, err)
	}
	// Two more records: the unsigned tail.
	for i := 0; i < 2; i++ {
		if _, err := Record(ctx, db, logon("user:jdoe", false)); err != nil {
			t.Fatal(err)
		}
	}
	rep, err := Verify(ctx, db, pub)
	if err != nil || !rep.OK() || rep.AnchoredSeq != 6 || rep.UnsignedRecords != 2 || !rep.KeyTrusted {
		t.Fatalf("verify %+v %v", rep, err)
	}
	// A foreign key is refused.
	other, _, _ := ed25519.GenerateKey(nil)
	if rep, _ := Verify(ctx, db, other); rep.OK() {
		t.Fatalf("foreign key verified: %+v", rep)
	}

	// The superuser removes records 5..8 and moves the head back to 4.
	for _, sql := range []string{
		`ALTER TABLE audit_log DISABLE TRIGGER audit_log_append_only`,
		`ALTER TABLE audit_head DISABLE TRIGGER audit_head_forward`,
		`DELETE FROM audit_log WHERE seq >= 5`,
		`UPDATE audit_head SET seq = 4, hash = (SELECT hash FROM audit_log WHERE seq = 4)`,
	} {
		if _, err := db.Exec(ctx, sql); err != nil {
			t.Fatalf("%s: %v", sql, err)
		}
	}
	rep, err = Verify(ctx, db, pub)
	if err != nil || rep.OK() {
		t.Fatalf("cut log verified: %+v %v", rep, err)
	}
	if !strings.Contains(rep.Problems[0].Message, "commits to seq 6, but the log ends at seq 4") {
		t.Fatalf("problem %+v", rep.Problems)
	}

	// An anchor row cannot be removed by the application either.
	if _, err := db.Exec(ctx, `DELETE FROM audit_anchors`); err == nil || !strings.Contains(err.Error(), "append-only") {
		t.Fatalf("delete anchors: %v", err)
	}
}

// Rewriting an anchored record (and every hash after it, as a forger
// would) no longer matches the signature.
func TestAnchorDetectsRewrittenHistory(t *testing.T) {
	db := setup(t)
	ctx := context.Background()
	pub, key, _ := ed25519.GenerateKey(nil)
	for i := 0; i < 3; i++ {
		if _, err := Record(ctx, db, logon("user:jdoe", true)); err != nil {
			t.Fatal(err)
		}
	}
	if _, _, err := SignAnchor(ctx, db, key); err != nil {
		t.Fatal(err)
	}
	// Recompute the last record with a changed outcome: the chain itself
	// is consistent again, only the anchor can tell.
	evs, err := Query(ctx, db, Filter{})
	if err != nil {
		t.Fatal(err)
	}
	e := evs[2]
	e.Outcome = OutcomeFailure
	e.Hash = ComputeHash(&e)
	for _, sql := range []string{
		`ALTER TABLE audit_log DISABLE TRIGGER audit_log_append_only`,
		`ALTER TABLE audit_head DISABLE TRIGGER audit_head_forward`,
	} {
		if _, err := db.Exec(ctx, sql); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := db.Exec(ctx, `UPDATE audit_log SET outcome = 'failure', hash = $1 WHERE seq = 3`, e.Hash[:]); err != nil {
		t.Fatal(err)
	}
	if _, err := db.Exec(ctx, `UPDATE audit_head SET hash = $1`, e.Hash[:]); err != nil {
		t.Fatal(err)
	}
	rep, err := Verify(ctx, db, pub)
	if err != nil || rep.OK() || !strings.Contains(rep.Problems[0].Message, "does not match signed anchor") {
		t.Fatalf("rewritten record: %+v %v", rep, err)
	}
}
