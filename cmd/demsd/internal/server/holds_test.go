package server

import (
	"context"
	"testing"
)

// TestRemovingFromHeldCaseKeepsTheHold is issue 11 item 1: a supervisor
// removed an item from a case under legal hold (204) and so lifted the
// item's hold. A case under hold keeps its items; only the hold's release
// (case:hold, recorded in custody) lifts it.
func TestRemovingFromHeldCaseKeepsTheHold(t *testing.T) {
	app, srv, creds := leadTestApp(t)
	w := newTableWorld(t, app, creds)
	ctx := context.Background()
	held := func() (itemHeld bool, inCase bool) {
		t.Helper()
		if err := app.Pool.QueryRow(ctx, `SELECT legal_hold, EXISTS (SELECT 1 FROM case_items WHERE case_id = $2 AND evidence_id = $1)
			FROM evidence_items WHERE id = $1`, w.north, w.caseID).Scan(&itemHeld, &inCase); err != nil {
			t.Fatal(err)
		}
		return itemHeld, inCase
	}
	admin := newCaller(t, srv.URL, w.tokens["admin"])
	sgt := newCaller(t, srv.URL, w.tokens["supervisor"])
	casePath := "/api/v1/cases/" + w.caseID.String() + "/hold"
	membership := "/api/v1/evidence/" + w.north.String() + "/cases/" + w.caseID.String()

	if st, m := admin.do("POST", casePath, `{"reason":"litigation hold, case 2026-N-1"}`); st != 201 {
		t.Fatalf("case hold: %d %v", st, m)
	}
	if h, in := held(); !h || !in {
		t.Fatalf("after the case hold: item held=%v in case=%v", h, in)
	}
	if st, m := sgt.do("DELETE", membership, ""); st != 409 || errCode(m) != "legal_hold" {
		t.Fatalf("removing an item from a held case: %d %v, want 409 legal_hold", st, m)
	}
	if h, in := held(); !h || !in {
		t.Fatalf("after the refused removal: item held=%v in case=%v; the hold must stand", h, in)
	}
	// No other path either: the database keeps a held case's items.
	if _, err := app.Pool.Exec(ctx, `DELETE FROM case_items WHERE case_id = $1`, w.caseID); err == nil {
		t.Fatal("the database let a held case's items be deleted")
	}
	if _, err := app.Pool.Exec(ctx, `UPDATE case_items SET case_id = gen_random_uuid() WHERE case_id = $1`, w.caseID); err == nil {
		t.Fatal("the database let a held case's items move out")
	}
	if h, in := held(); !h || !in {
		t.Fatalf("after direct SQL: item held=%v in case=%v", h, in)
	}
	// The hold's release lifts it (custody records it); then the item may leave.
	if st, m := admin.do("DELETE", casePath, ""); st != 200 {
		t.Fatalf("release: %d %v", st, m)
	}
	if st, m := sgt.do("DELETE", membership, ""); st != 204 {
		t.Fatalf("removal after release: %d %v", st, m)
	}
	if h, in := held(); h || in {
		t.Fatalf("after release and removal: item held=%v in case=%v", h, in)
	}
	var released int
	if err := app.Pool.QueryRow(ctx, `SELECT count(*) FROM custody_events WHERE evidence_id = $1 AND action = 'legal_hold_cleared'`, w.north).Scan(&released); err != nil || released != 1 {
		t.Fatalf("legal_hold_cleared custody events: %d (%v), want 1", released, err)
	}
}
