package retention_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver/riverpgxv5"

	"github.com/opendems/opendems/evidence"
	"github.com/opendems/opendems/evidence/custody"
	"github.com/opendems/opendems/evidence/retention"
	"github.com/opendems/opendems/storage"
)

const day = 24 * time.Hour

// A category change extends the storage lock and never shortens it; the
// database follows the schedule both ways.
func TestCategoryChangeExtendsNeverShortensLock(t *testing.T) {
	for _, be := range backends {
		t.Run(be.name, func(t *testing.T) {
			b := setup(t, be.open(t))
			ctx := t.Context()
			rec := time.Now().UTC().Truncate(time.Second).Add(-day)
			it := b.newItem("north", "N1", rec)
			steps := []struct {
				cats        []string
				wantDB      time.Time
				wantStorage time.Time
			}{
				{nil, rec.AddDate(0, 0, 180), rec.AddDate(0, 0, 180)},                            // first computation
				{[]string{"traffic"}, rec.AddDate(2, 0, 0), rec.AddDate(2, 0, 0)},                // longer: lock follows
				{[]string{"non-evidentiary"}, rec.AddDate(0, 0, 90), rec.AddDate(2, 0, 0)},       // shorter: lock stays
				{[]string{"misdemeanor", "traffic"}, rec.AddDate(3, 0, 0), rec.AddDate(3, 0, 0)}, // longest of two
			}
			for i, st := range steps {
				var err error
				var got retention.Status
				if st.cats == nil {
					got, err = b.svc.Recompute(ctx, it.ID, "user:admin")
				} else {
					got, err = b.svc.SetCategories(ctx, it.ID, st.cats, "user:records", "step")
				}
				if err != nil {
					t.Fatalf("step %d: %v", i, err)
				}
				if got.RetainUntil == nil || !got.RetainUntil.Equal(st.wantDB) {
					t.Fatalf("step %d: status retain_until %v, want %v", i, got.RetainUntil, st.wantDB)
				}
				_, until, _, _ := b.itemState(it.ID)
				if until == nil || !until.Equal(st.wantDB) {
					t.Fatalf("step %d: stored retain_until %v, want %v", i, until, st.wantDB)
				}
				obj, ok := b.stat(it.Ref)
				if !ok {
					t.Fatalf("step %d: original missing", i)
				}
				// S3 keeps whole seconds, rounded up.
				if d := obj.RetainUntil.Sub(st.wantStorage); d < 0 || d >= time.Second {
					t.Fatalf("step %d: storage lock %v, want %v", i, obj.RetainUntil, st.wantStorage)
				}
			}
			if err := b.store.Delete(ctx, it.Ref); !errors.Is(err, storage.ErrRetained) {
				t.Fatalf("storage delete of a locked original: %v, want ErrRetained", err)
			}
			evs := b.events(it.ID)
			if n := countActions(evs, custody.ActionCategoryChanged); n != 3 {
				t.Fatalf("%d category_changed events, want 3", n)
			}
			if n := countActions(evs, custody.ActionRetentionChanged); n != 4 {
				t.Fatalf("%d retention_changed events, want 4", n)
			}
			// Unknown categories are refused and change nothing.
			if _, err := b.svc.SetCategories(ctx, it.ID, []string{"homocide"}, "user:records", ""); !errors.Is(err, evidence.ErrInvalid) {
				t.Fatalf("unknown category: %v, want evidence.ErrInvalid", err)
			}
		})
	}
}

// An item under hold cannot be purged through the sweep, the schedule
// (even a forged schedule row), the API or the storage layer; release
// restores deletability in storage.
func TestHeldItemCannotBePurged(t *testing.T) {
	for _, be := range backends {
		t.Run(be.name, func(t *testing.T) {
			b := setup(t, be.open(t))
			ctx := t.Context()
			it := b.newItem("north", "N1", time.Now().AddDate(-1, 0, 0)) // 180 days ended half a year ago
			if _, err := b.svc.Recompute(ctx, it.ID, "user:admin"); err != nil {
				t.Fatal(err)
			}
			hold, st, err := b.svc.SetItemHold(ctx, it.ID, "litigation 2026-17", b.principal("records"))
			if err != nil {
				t.Fatal(err)
			}
			if !st.LegalHold || st.ItemHolds != 1 {
				t.Fatalf("status after hold: %+v", st)
			}
			if obj, _ := b.stat(it.Ref); !obj.LegalHold {
				t.Fatal("storage legal hold not set")
			}
			// Storage layer.
			if err := b.store.Delete(ctx, it.Ref); !errors.Is(err, storage.ErrRetained) {
				t.Fatalf("storage delete under hold: %v, want ErrRetained", err)
			}
			// Explicit scheduling.
			_, err = b.svc.SchedulePurge(ctx, it.ID, "user:admin", "")
			var refused *retention.RefusedError
			if !errors.As(err, &refused) || refused.Decision.Rule != "p, purge, *, legal-hold-item, deny" {
				t.Fatalf("schedule under hold: %v, want refusal by the legal-hold-item rule", err)
			}
			// Sweep.
			b.clock.Add(30 * day)
			if n, err := b.svc.Sweep(ctx); err != nil || n != 0 {
				t.Fatalf("sweep: scheduled %d, err %v; want 0", n, err)
			}
			// A forged schedule row, already due: PurgeDue decides again.
			if _, err := b.db.Pool.Exec(ctx, `INSERT INTO purge_schedule (evidence_id, prior_state, rule, scheduled_by, due_at)
				VALUES ($1, 'ready', 'forged', 'user:mallory', now() - interval '1 day')`, it.ID); err != nil {
				t.Fatal(err)
			}
			if n, err := b.svc.PurgeDue(ctx); err != nil || n != 0 {
				t.Fatalf("purge due: purged %d, err %v; want 0", n, err)
			}
			if _, ok := b.stat(it.Ref); !ok {
				t.Fatal("held original was deleted")
			}
			var state, reason string
			if err := b.db.Pool.QueryRow(ctx, `SELECT state, close_reason FROM purge_schedule WHERE evidence_id = $1`, it.ID).Scan(&state, &reason); err != nil {
				t.Fatal(err)
			}
			if state != "blocked" {
				t.Fatalf("forged schedule state %q (%s), want blocked", state, reason)
			}
			// API.
			srv := b.server()
			code, body, _ := call(t, srv.URL, b.token("admin"), "POST", "/api/v1/evidence/"+it.ID.String()+"/purge", "")
			if code != 409 || errorCode(body) != "purge_refused" {
				t.Fatalf("API purge under hold: %d %v", code, body)
			}
			// Release: the database and storage holds go.
			released, st, err := b.svc.ReleaseItemHold(ctx, it.ID, &hold.ID, "settled", b.principal("admin"))
			if err != nil || len(released) != 1 || st.LegalHold {
				t.Fatalf("release: %v %+v %+v", err, released, st)
			}
			if obj, _ := b.stat(it.Ref); obj.LegalHold {
				t.Fatal("storage legal hold still set after release")
			}
			if _, _, _, held := b.itemState(it.ID); held {
				t.Fatal("item still held")
			}
			if _, _, err := b.svc.ReleaseItemHold(ctx, it.ID, nil, "", b.principal("admin")); !errors.Is(err, evidence.ErrNotFound) {
				t.Fatalf("second release: %v, want evidence.ErrNotFound", err)
			}
			evs := b.events(it.ID)
			if countActions(evs, custody.ActionLegalHoldSet) != 1 || countActions(evs, custody.ActionLegalHoldCleared) != 1 {
				t.Fatal("hold custody events missing")
			}
			all, err := b.svc.ListHolds(ctx, false, 0)
			if err != nil || len(all) != 1 || all[0].SetByName != "records" || all[0].ReleasedByName != "admin" || all[0].ReleasedAt == nil {
				t.Fatalf("hold list: %v %+v", err, all)
			}
			if active, err := b.svc.ListHolds(ctx, true, 0); err != nil || len(active) != 0 {
				t.Fatalf("active holds after release: %v %+v", err, active)
			}
		})
	}
}

// An item whose retention has not ended cannot be purged through any path.
func TestUnexpiredItemCannotBePurged(t *testing.T) {
	b := setup(t, fsStore(t))
	ctx := t.Context()
	it := b.newItem("north", "N1", time.Now().Add(-time.Hour))
	if _, err := b.svc.Recompute(ctx, it.ID, "user:admin"); err != nil {
		t.Fatal(err)
	}
	if err := b.store.Delete(ctx, it.Ref); !errors.Is(err, storage.ErrRetained) {
		t.Fatalf("storage delete before retention ended: %v", err)
	}
	if n, err := b.svc.Sweep(ctx); err != nil || n != 0 {
		t.Fatalf("sweep scheduled %d, err %v", n, err)
	}
	srv := b.server()
	code, body, _ := call(t, srv.URL, b.token("admin"), "POST", "/api/v1/evidence/"+it.ID.String()+"/purge", `{"reason":"tidy up"}`)
	errObj, _ := body["error"].(map[string]any)
	dec, _ := errObj["decision"].(map[string]any)
	if code != 409 || dec["rule"] != "p, purge, *, retention-running, deny" {
		t.Fatalf("API purge: %d %v", code, body)
	}
	if _, err := b.db.Pool.Exec(ctx, `INSERT INTO purge_schedule (evidence_id, prior_state, rule, scheduled_by, due_at)
		VALUES ($1, 'ready', 'forged', 'user:mallory', now() - interval '1 day')`, it.ID); err != nil {
		t.Fatal(err)
	}
	if n, err := b.svc.PurgeDue(ctx); err != nil || n != 0 {
		t.Fatalf("purge due: %d %v", n, err)
	}
	if _, ok := b.stat(it.Ref); !ok {
		t.Fatal("unexpired original deleted")
	}
	// Roles without purge:schedule never reach the decision.
	code, _, _ = call(t, srv.URL, b.token("records"), "POST", "/api/v1/evidence/"+it.ID.String()+"/purge", "")
	if code != 403 {
		t.Fatalf("records scheduling a purge: %d, want 403", code)
	}
}

// The sweep schedules an expired item, the grace period protects it, and
// the purge deletes exactly what the certificate says.
func TestSweepPurgeAndCertificate(t *testing.T) {
	for _, be := range backends {
		t.Run(be.name, func(t *testing.T) { testSweepPurgeAndCertificate(t, be.open(t)) })
	}
}

func testSweepPurgeAndCertificate(t *testing.T, store storage.Backend) {
	b := setup(t, store)
	ctx := t.Context()
	rec := time.Now().UTC().AddDate(-1, 0, 0).Truncate(time.Millisecond)
	it := b.newItem("north", "N1", rec, "non-evidentiary")
	other := b.newItem("south", "S1", time.Now())
	proxy := b.addDerivative(it, "proxy", []byte("proxy bytes of the purged item"))
	poster := []byte("a black poster frame, the same for many items")
	shared := b.addDerivative(it, "poster", poster)
	b.addDerivative(other, "poster", poster)

	n, err := b.svc.Sweep(ctx)
	if err != nil || n != 1 {
		t.Fatalf("sweep: scheduled %d, err %v; want 1", n, err)
	}
	if st, _, _, _ := b.itemState(it.ID); st != "purge_scheduled" {
		t.Fatalf("state %q after scheduling", st)
	}
	up, err := b.svc.UpcomingPurges(ctx, time.Time{}, 0)
	if err != nil || len(up) != 1 || up[0].EvidenceID != it.ID || up[0].Rule != "p, purge, *, retention-ended, allow" {
		t.Fatalf("upcoming: %v %+v", err, up)
	}
	// Still in the grace period: nothing happens.
	if n, err := b.svc.PurgeDue(ctx); err != nil || n != 0 {
		t.Fatalf("purge during grace: %d %v", n, err)
	}
	if _, ok := b.stat(it.Ref); !ok {
		t.Fatal("deleted during grace")
	}
	b.clock.Add(grace + time.Minute)
	if n, err := b.svc.PurgeDue(ctx); err != nil || n != 1 {
		t.Fatalf("purge after grace: %d %v", n, err)
	}
	if _, ok := b.stat(it.Ref); ok {
		t.Fatal("original still stored")
	}
	if _, ok := b.stat(proxy); ok {
		t.Fatal("proxy still stored")
	}
	if _, ok := b.stat(shared); !ok {
		t.Fatal("a derivative another item uses was deleted")
	}
	if _, ok := b.stat(other.Ref); !ok {
		t.Fatal("another item's original was deleted")
	}
	state, _, _, _ := b.itemState(it.ID)
	if state != "purged" {
		t.Fatalf("tombstone state %q", state)
	}
	evs := b.events(it.ID)
	last := evs[len(evs)-1]
	if last.Action != custody.ActionPurged {
		t.Fatalf("final custody event is %s, want purged", last.Action)
	}
	var details struct {
		Certificate retention.Certificate `json:"certificate"`
	}
	if err := json.Unmarshal(last.Details, &details); err != nil {
		t.Fatal(err)
	}
	c := details.Certificate
	if c.SHA256 != it.Ref.Digest.String() || c.Size != int64(len(it.Data)) || c.EvidenceID != it.ID {
		t.Fatalf("certificate names %s/%d/%s, deleted %s/%d/%s", c.SHA256, c.Size, c.EvidenceID, it.Ref.Digest, len(it.Data), it.ID)
	}
	if c.Rule != "p, purge, *, retention-ended, allow" || c.ScheduledBy != retention.SweepActor || c.RecordedAt == nil ||
		!c.RecordedAt.Equal(rec) || len(c.Categories) != 1 || c.Categories[0] != "non-evidentiary" || !c.RetainUntil.Equal(rec.AddDate(0, 0, 90)) {
		t.Fatalf("certificate: %+v", c)
	}
	want := map[string]string{it.Ref.Digest.String(): "deleted", proxy.Digest.String(): "deleted", shared.Digest.String(): "kept-shared"}
	if len(c.Objects) != len(want) {
		t.Fatalf("certificate objects %+v", c.Objects)
	}
	for _, o := range c.Objects {
		if want[o.SHA256] != o.Result {
			t.Fatalf("object %s: result %q, want %q", o.SHA256, o.Result, want[o.SHA256])
		}
		if o.Kind == "original" && (!o.Verified || o.Size != int64(len(it.Data))) {
			t.Fatalf("original not verified before deletion: %+v", o)
		}
	}
	// The tombstone refuses further changes.
	if _, err := b.svc.SetCategories(ctx, it.ID, []string{"felony"}, "user:records", ""); !errors.Is(err, retention.ErrPurged) {
		t.Fatalf("categorizing a purged item: %v", err)
	}
	if _, _, err := b.svc.SetItemHold(ctx, it.ID, "too late", b.principal("admin")); !errors.Is(err, retention.ErrPurged) {
		t.Fatalf("holding a purged item: %v", err)
	}
}

// A cancelled purge deletes nothing, restores the item, and the sweep does
// not schedule it again for the same deadline.
func TestCancelledPurgeDeletesNothing(t *testing.T) {
	b := setup(t, fsStore(t))
	ctx := t.Context()
	it := b.newItem("north", "N1", time.Now().AddDate(-1, 0, 0))
	der := b.addDerivative(it, "proxy", []byte("proxy"))
	if n, err := b.svc.Sweep(ctx); err != nil || n != 1 {
		t.Fatalf("sweep %d %v", n, err)
	}
	srv := b.server()
	path := "/api/v1/evidence/" + it.ID.String() + "/purge/cancel"
	if code, _, _ := call(t, srv.URL, b.token("records"), "POST", path, ""); code != 403 {
		t.Fatalf("records cancelling: %d, want 403", code)
	}
	if code, body, _ := call(t, srv.URL, b.token("admin"), "POST", path, `{"reason":"pending complaint"}`); code != 200 {
		t.Fatalf("cancel: %d %v", code, body)
	}
	if code, body, _ := call(t, srv.URL, b.token("admin"), "POST", path, ""); code != 409 {
		t.Fatalf("second cancel: %d %v", code, body)
	}
	b.clock.Add(grace + day)
	if n, err := b.svc.PurgeDue(ctx); err != nil || n != 0 {
		t.Fatalf("purge due after cancel: %d %v", n, err)
	}
	if n, err := b.svc.Sweep(ctx); err != nil || n != 0 {
		t.Fatalf("sweep after cancel scheduled %d %v", n, err)
	}
	for _, ref := range []storage.Ref{it.Ref, der} {
		if _, ok := b.stat(ref); !ok {
			t.Fatalf("%s deleted after a cancelled purge", ref)
		}
	}
	if st, _, _, _ := b.itemState(it.ID); st != "ready" {
		t.Fatalf("state %q after cancel, want ready", st)
	}
	if n := countActions(b.events(it.ID), custody.ActionPurgeCancelled); n != 1 {
		t.Fatalf("%d purge_cancelled events", n)
	}
	// A person may still schedule it explicitly.
	if code, body, _ := call(t, srv.URL, b.token("admin"), "POST", "/api/v1/evidence/"+it.ID.String()+"/purge", ""); code != 201 {
		t.Fatalf("explicit schedule: %d %v", code, body)
	}
}

// A hold on a case holds all its items; releasing it restores each item's
// own state (an item with its own hold stays held).
func TestCaseHoldAppliesToAllItemsAndReleaseRestores(t *testing.T) {
	for _, be := range backends {
		t.Run(be.name, func(t *testing.T) {
			b := setup(t, be.open(t))
			ctx := t.Context()
			old := time.Now().AddDate(-1, 0, 0)
			own := b.newItem("north", "N1", old)
			plain := b.newItem("north", "N1", old)
			fresh := b.newItem("south", "S1", time.Now())
			outside := b.newItem("north", "N1", old)
			for _, it := range []item{own, plain, fresh, outside} {
				if _, err := b.svc.Recompute(ctx, it.ID, "user:admin"); err != nil {
					t.Fatal(err)
				}
			}
			if _, _, err := b.svc.SetItemHold(ctx, own.ID, "own matter", b.principal("records")); err != nil {
				t.Fatal(err)
			}
			caseID := b.newCase("north", "2026-CR-1", own, plain, fresh)
			srv := b.server()
			if code, body, _ := call(t, srv.URL, b.token("admin"), "POST", "/api/v1/cases/"+caseID.String()+"/hold", `{}`); code != 400 {
				t.Fatalf("case hold without reason: %d %v", code, body)
			}
			if code, _, _ := call(t, srv.URL, b.token("records"), "POST", "/api/v1/cases/"+caseID.String()+"/hold", `{"reason":"x"}`); code != 403 {
				t.Fatalf("records holding a case: %d, want 403", code)
			}
			code, body, _ := call(t, srv.URL, b.token("admin"), "POST", "/api/v1/cases/"+caseID.String()+"/hold", `{"reason":"court order 17"}`)
			if code != 201 {
				t.Fatalf("case hold: %d %v", code, body)
			}
			for _, it := range []item{own, plain, fresh} {
				if _, _, _, held := b.itemState(it.ID); !held {
					t.Fatalf("item %s not held by the case", it.ID)
				}
				if obj, _ := b.stat(it.Ref); !obj.LegalHold {
					t.Fatalf("item %s: storage hold not set", it.ID)
				}
			}
			if _, _, _, held := b.itemState(outside.ID); held {
				t.Fatal("an item outside the case is held")
			}
			d, err := b.svc.DecidePurge(ctx, plain.ID)
			if err != nil || d.Allowed || d.Rule != "p, purge, *, legal-hold-case, deny" {
				t.Fatalf("purge decision under case hold: %v %+v", err, d)
			}
			if code, _, _ := call(t, srv.URL, b.token("admin"), "POST", "/api/v1/cases/"+caseID.String()+"/hold", `{"reason":"again"}`); code != 409 {
				t.Fatalf("second case hold: %d, want 409", code)
			}
			if code, body, _ := call(t, srv.URL, b.token("admin"), "DELETE", "/api/v1/cases/"+caseID.String()+"/hold", `{"reason":"order lifted"}`); code != 200 {
				t.Fatalf("case release: %d %v", code, body)
			}
			for _, w := range []struct {
				it   item
				held bool
			}{{own, true}, {plain, false}, {fresh, false}} {
				it, held := w.it, w.held
				if _, _, _, h := b.itemState(it.ID); h != held {
					t.Fatalf("item %s held=%v after case release, want %v", it.ID, h, held)
				}
				if obj, _ := b.stat(it.Ref); obj.LegalHold != held {
					t.Fatalf("item %s storage hold=%v after case release, want %v", it.ID, obj.LegalHold, held)
				}
				if n := countActions(b.events(it.ID), custody.ActionLegalHoldCleared); n != 1 {
					t.Fatalf("item %s: %d legal_hold_cleared events", it.ID, n)
				}
			}
			if code, _, _ := call(t, srv.URL, b.token("admin"), "DELETE", "/api/v1/cases/"+caseID.String()+"/hold", ""); code != 404 {
				t.Fatalf("releasing an unheld case: %d, want 404", code)
			}
		})
	}
}

// When the schedule shortens below the storage lock, the purge waits for
// the lock instead of failing or forcing it.
func TestPurgePostponedWhileStorageLocked(t *testing.T) {
	b := setup(t, fsStore(t))
	ctx := t.Context()
	it := b.newItem("north", "N1", time.Now().AddDate(0, 0, -100))
	if _, err := b.svc.Recompute(ctx, it.ID, "user:admin"); err != nil { // 180d: locked 80 more days
		t.Fatal(err)
	}
	st, err := b.svc.SetCategories(ctx, it.ID, []string{"non-evidentiary"}, "user:records", "") // 90d: ended
	if err != nil {
		t.Fatal(err)
	}
	if st.StorageRetainUntil == nil || !st.StorageRetainUntil.After(*st.RetainUntil) {
		t.Fatalf("storage lock %v should outlast retain_until %v", st.StorageRetainUntil, st.RetainUntil)
	}
	if n, err := b.svc.Sweep(ctx); err != nil || n != 1 {
		t.Fatalf("sweep %d %v", n, err)
	}
	b.clock.Add(grace + time.Minute)
	if n, err := b.svc.PurgeDue(ctx); err != nil || n != 0 {
		t.Fatalf("purge while storage-locked: %d %v", n, err)
	}
	if _, ok := b.stat(it.Ref); !ok {
		t.Fatal("storage-locked original deleted")
	}
	up, err := b.svc.UpcomingPurges(ctx, time.Time{}, 0)
	if err != nil || len(up) != 1 || !up[0].DueAt.Equal(*st.StorageRetainUntil) {
		t.Fatalf("postponed purge: %v %+v (storage lock %v)", err, up, st.StorageRetainUntil)
	}
}

// Subject requests, flags and open public access requests feed retention;
// a request closing recomputes it.
func TestRequestsAndFlags(t *testing.T) {
	b := setup(t, fsStore(t))
	ctx := t.Context()
	rec := time.Now().UTC().AddDate(0, 0, -170).Truncate(time.Second)
	it := b.newItem("north", "N1", rec)
	st, err := b.svc.SetFlags(ctx, it.ID, []string{"use-of-force"}, "user:sgt.north", "")
	if err != nil || !st.RetainUntil.Equal(rec.AddDate(0, 0, 180).AddDate(3, 0, 0)) {
		t.Fatalf("flag: %v %+v", err, st)
	}
	if st, err = b.svc.SetFlags(ctx, it.ID, []string{}, "user:sgt.north", ""); err != nil || !st.RetainUntil.Equal(rec.AddDate(0, 0, 180)) {
		t.Fatalf("unflag: %v %+v", err, st)
	}
	req := time.Now().UTC().Truncate(time.Second)
	if st, err = b.svc.AddSubjectRequest(ctx, it.ID, retention.SubjectRequest{RequestedAt: req, Requester: "J. Doe"}, "user:records"); err != nil ||
		!st.RetainUntil.Equal(req.AddDate(0, 0, 180)) {
		t.Fatalf("subject request: %v %+v", err, st)
	}
	if st, err = b.svc.OpenAccessRequest(ctx, it.ID, "FOIA-2026-9", "user:records"); err != nil || !st.Indefinite || st.RetainUntil != nil {
		t.Fatalf("access request: %v %+v", err, st)
	}
	if obj, _ := b.stat(it.Ref); obj.RetainUntil.Before(time.Now().Add(300 * day)) {
		t.Fatalf("indefinite item's rolling lock %v is too short", obj.RetainUntil)
	}
	if _, err := b.svc.SchedulePurge(ctx, it.ID, "user:admin", ""); !errors.Is(err, retention.ErrPurgeRefused) {
		t.Fatalf("purge with an open access request: %v", err)
	}
	if st, err = b.svc.CloseAccessRequest(ctx, it.ID, "FOIA-2026-9", "user:records"); err != nil || st.Indefinite {
		t.Fatalf("close access request: %v %+v", err, st)
	}
	if _, err = b.svc.CloseAccessRequest(ctx, it.ID, "FOIA-2026-9", "user:records"); !errors.Is(err, evidence.ErrNotFound) {
		t.Fatalf("closing twice: %v", err)
	}
	if _, err = b.svc.AddSubjectRequest(ctx, it.ID, retention.SubjectRequest{RequestedAt: time.Now().Add(day)}, "user:records"); !errors.Is(err, evidence.ErrInvalid) {
		t.Fatalf("future request: %v", err)
	}
}

// The sweep computes retention for new items, and picks up a changed
// schedule version.
func TestSweepComputesNewItems(t *testing.T) {
	b := setup(t, fsStore(t))
	ctx := t.Context()
	var its []item
	for i := range 3 {
		its = append(its, b.newItem("north", fmt.Sprint("N", i), time.Now()))
	}
	if _, err := b.svc.Sweep(ctx); err != nil {
		t.Fatal(err)
	}
	for _, it := range its {
		_, until, _, _ := b.itemState(it.ID)
		if until == nil {
			t.Fatalf("item %s: retention not computed by the sweep", it.ID)
		}
		if obj, _ := b.stat(it.Ref); obj.RetainUntil.IsZero() {
			t.Fatalf("item %s: storage not locked by the sweep", it.ID)
		}
	}
	var stale int
	if err := b.db.Pool.QueryRow(ctx, `SELECT count(*) FROM evidence_items WHERE retention_version <> 'test-v1'`).Scan(&stale); err != nil || stale != 0 {
		t.Fatalf("%d items with an old schedule version (%v)", stale, err)
	}
}

// Changes made by code that did not call Recompute (a category set in
// SQL, a case hold flagged on the case row, a storage hold left after a
// release) are repaired by the next sweep.
func TestSweepRepairsDrift(t *testing.T) {
	b := setup(t, fsStore(t))
	ctx := t.Context()
	rec := time.Now().UTC().Add(-day).Truncate(time.Second)
	cat := b.newItem("north", "N1", rec)
	held := b.newItem("north", "N1", rec)
	loose := b.newItem("north", "N1", rec)
	for _, it := range []item{cat, held, loose} {
		if _, err := b.svc.Recompute(ctx, it.ID, "user:admin"); err != nil {
			t.Fatal(err)
		}
	}
	// Simulate writers that bypass the service (a second after the
	// computation, as a later request would be).
	caseID := b.newCase("north", "2026-X", held)
	for _, q := range []struct {
		sql string
		arg any
	}{
		{`UPDATE evidence_items SET categories = '{felony}', category = 'felony', updated_at = now() + interval '1 second' WHERE id = $1`, cat.ID},
		{`UPDATE cases SET legal_hold = true, hold_reason = 'flag only' WHERE id = $1`, caseID},
		{`UPDATE evidence_items SET legal_hold = true WHERE id = $1`, held.ID},
	} {
		if _, err := b.db.Pool.Exec(ctx, q.sql, q.arg); err != nil {
			t.Fatal(err)
		}
	}
	if err := b.store.SetLegalHold(ctx, loose.Ref, true); err != nil {
		t.Fatal(err)
	}
	if _, err := b.db.Pool.Exec(ctx, `UPDATE objects SET legal_hold = true WHERE sha256 = $1`, loose.Ref.Digest[:]); err != nil {
		t.Fatal(err)
	}
	if _, err := b.svc.Sweep(ctx); err != nil {
		t.Fatal(err)
	}
	if _, until, _, _ := b.itemState(cat.ID); until == nil || !until.Equal(rec.AddDate(10, 0, 0)) {
		t.Fatalf("felony retain_until after sweep: %v", until)
	}
	if obj, _ := b.stat(cat.Ref); obj.RetainUntil.Before(rec.AddDate(10, 0, 0)) {
		t.Fatalf("felony storage lock after sweep: %v", obj.RetainUntil)
	}
	if obj, _ := b.stat(held.Ref); !obj.LegalHold {
		t.Fatal("case-held item has no storage hold after sweep")
	}
	if obj, _ := b.stat(loose.Ref); obj.LegalHold {
		t.Fatal("stale storage hold not released by the sweep")
	}
}

// A hold racing a due purge: whichever takes the item's row lock first
// wins, and the loser sees it — never a held item without its bytes, nor a
// purged item that claims a hold.
func TestHoldRacingPurge(t *testing.T) {
	b := setup(t, fsStore(t))
	ctx := t.Context()
	outcomes := map[string]int{}
	for i := range 8 {
		it := b.newItem("north", "N1", time.Now().AddDate(-1, 0, 0))
		if _, err := b.svc.SchedulePurge(ctx, it.ID, "user:admin", ""); err != nil {
			t.Fatal(err)
		}
		b.clock.Add(grace + time.Minute)
		var holdErr, purgeErr error
		var purged int
		done := make(chan struct{})
		go func() {
			defer close(done)
			purged, purgeErr = b.svc.PurgeDue(ctx)
		}()
		_, _, holdErr = b.svc.SetItemHold(ctx, it.ID, fmt.Sprint("race ", i), b.principal("records"))
		<-done
		if purgeErr != nil {
			t.Fatalf("round %d: purge: %v", i, purgeErr)
		}
		state, _, _, held := b.itemState(it.ID)
		obj, present := b.stat(it.Ref)
		switch {
		case purged == 1:
			if !errors.Is(holdErr, retention.ErrPurged) || state != "purged" || held || present {
				t.Fatalf("round %d: purged, but hold err %v, state %s, held %v, bytes present %v", i, holdErr, state, held, present)
			}
			outcomes["purge first"]++
		default:
			if holdErr != nil || state == "purged" || !held || !present || !obj.LegalHold {
				t.Fatalf("round %d: not purged, but hold err %v, state %s, held %v, present %v, storage hold %v", i, holdErr, state, held, present, obj.LegalHold)
			}
			outcomes["hold first"]++
		}
	}
	t.Logf("outcomes: %v", outcomes)
}

// A purge that crashed after deleting the bytes but before its commit is
// finished by the next run, and its certificate says the original was
// already absent rather than claiming a deletion it did not see.
func TestPurgeRetryAfterCrashBetweenDeleteAndCommit(t *testing.T) {
	b := setup(t, fsStore(t))
	ctx := t.Context()
	it := b.newItem("north", "N1", time.Now().AddDate(-1, 0, 0))
	if _, err := b.svc.SchedulePurge(ctx, it.ID, "user:admin", "crash test"); err != nil {
		t.Fatal(err)
	}
	// What the crashed run had done: the original is gone, nothing else.
	if err := b.store.Delete(ctx, it.Ref); err != nil {
		t.Fatal(err)
	}
	b.clock.Add(grace + time.Minute)
	if n, err := b.svc.PurgeDue(ctx); err != nil || n != 1 {
		t.Fatalf("retry: %d %v", n, err)
	}
	evs := b.events(it.ID)
	var details struct {
		Certificate retention.Certificate `json:"certificate"`
	}
	if err := json.Unmarshal(evs[len(evs)-1].Details, &details); err != nil {
		t.Fatal(err)
	}
	o := details.Certificate.Objects[0]
	if o.Kind != "original" || o.Result != "absent" || o.Verified || o.SHA256 != it.Ref.Digest.String() {
		t.Fatalf("certificate after retry: %+v", o)
	}
}

// An original missing from storage (a fixity failure) does not stop a
// legal hold or a category change: the database decision stands.
func TestHoldOnItemWithMissingOriginal(t *testing.T) {
	b := setup(t, fsStore(t))
	ctx := t.Context()
	it := b.newItem("north", "N1", time.Now().AddDate(-1, 0, 0)) // expired: no lock, deletable
	if err := b.store.Delete(ctx, it.Ref); err != nil {
		t.Fatal(err)
	}
	if _, st, err := b.svc.SetItemHold(ctx, it.ID, "preserve the record", b.principal("admin")); err != nil || !st.LegalHold {
		t.Fatalf("hold on an item without its original: %v %+v", err, st)
	}
	if st, err := b.svc.SetCategories(ctx, it.ID, []string{"felony"}, "user:records", ""); err != nil || st.StorageRetainUntil != nil {
		t.Fatalf("categorize without an original: %v %+v", err, st)
	}
}

// Releasing one hold while another is placed never leaves the held item
// without its storage hold.
func TestReleaseRacingNewHold(t *testing.T) {
	for _, be := range backends {
		t.Run(be.name, func(t *testing.T) {
			b := setup(t, be.open(t))
			ctx := t.Context()
			it := b.newItem("north", "N1", time.Now().AddDate(-1, 0, 0))
			for i := range 6 {
				h, _, err := b.svc.SetItemHold(ctx, it.ID, fmt.Sprint("first ", i), b.principal("records"))
				if err != nil {
					t.Fatal(err)
				}
				done := make(chan error)
				go func() {
					_, _, err := b.svc.ReleaseItemHold(ctx, it.ID, &h.ID, "done", b.principal("admin"))
					done <- err
				}()
				h2, _, err := b.svc.SetItemHold(ctx, it.ID, fmt.Sprint("second ", i), b.principal("records"))
				if err != nil {
					t.Fatal(err)
				}
				if err := <-done; err != nil {
					t.Fatal(err)
				}
				if _, _, _, held := b.itemState(it.ID); !held {
					t.Fatalf("round %d: item not held with hold %s active", i, h2.ID)
				}
				if obj, _ := b.stat(it.Ref); !obj.LegalHold {
					t.Fatalf("round %d: storage hold lost while hold %s is active", i, h2.ID)
				}
				if _, _, err := b.svc.ReleaseItemHold(ctx, it.ID, &h2.ID, "done", b.principal("admin")); err != nil {
					t.Fatal(err)
				}
				if obj, _ := b.stat(it.Ref); obj.LegalHold {
					t.Fatalf("round %d: storage hold left after every hold was released", i)
				}
			}
		})
	}
}

// A release made inside another package's transaction (RecomputeTx)
// enqueues a recompute job in that transaction; the job, run after the
// commit, clears the storage hold without waiting for the sweep.
func TestRecomputeTxEnqueuesRelease(t *testing.T) {
	b := setup(t, fsStore(t))
	ctx := t.Context()
	jobs, err := river.NewClient(riverpgxv5.New(b.db.Pool), &river.Config{})
	if err != nil {
		t.Fatal(err)
	}
	sched, purge, _ := defaultPolicy(t)
	svc, err := retention.New(retention.Config{Pool: b.db.Pool, Storage: b.store, Schedule: sched, Purge: purge, Jobs: jobs, Now: b.clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	it := b.newItem("north", "N1", time.Now())
	if _, _, err := svc.SetItemHold(ctx, it.ID, "x", b.principal("records")); err != nil {
		t.Fatal(err)
	}
	err = pgx.BeginFunc(ctx, b.db.Pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `UPDATE legal_holds SET released_at = now(), released_by = set_by WHERE evidence_id = $1`, it.ID); err != nil {
			return err
		}
		st, err := svc.RecomputeTx(ctx, tx, it.ID, "user:records")
		if err == nil && st.LegalHold {
			err = fmt.Errorf("still held: %+v", st)
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	if obj, _ := b.stat(it.Ref); !obj.LegalHold {
		t.Fatal("storage hold released inside the caller's transaction")
	}
	var queued []uuid.UUID
	rows, err := b.db.Pool.Query(ctx, `SELECT (args->>'evidence_id')::uuid FROM river_job WHERE kind = 'retention_recompute'`)
	if err != nil {
		t.Fatal(err)
	}
	if queued, err = pgx.CollectRows(rows, pgx.RowTo[uuid.UUID]); err != nil || len(queued) != 1 || queued[0] != it.ID {
		t.Fatalf("queued recompute jobs %v (%v), want one for %s", queued, err, it.ID)
	}
	// What the job's worker does.
	if _, err := svc.Recompute(ctx, it.ID, retention.SweepActor); err != nil {
		t.Fatal(err)
	}
	if obj, _ := b.stat(it.Ref); obj.LegalHold {
		t.Fatal("storage hold not released by the job's recompute")
	}
}
