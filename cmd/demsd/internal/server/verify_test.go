package server

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/google/uuid"

	"github.com/opendems/opendems/evidence/custody"
)

// TestCustodyVerificationWhileAppending runs the periodic verification
// while custody events keep being appended to several chains (a live
// server): every run must verify, because it reads chains, heads,
// checkpoints and the audit log in one snapshot. Read one after the
// other, a head that moved after its chain was read looks like tampering.
func TestCustodyVerificationWhileAppending(t *testing.T) {
	app, _, _ := startTestServer(t, testConfig(t, t.TempDir(), "fs"), false)
	ctx := context.Background()
	var items []uuid.UUID
	for i := 0; i < 4; i++ {
		items = append(items, insertItem(t, app, "north", "N1001"))
	}
	stop := make(chan struct{})
	var wg sync.WaitGroup
	var appended atomic.Int64
	for _, id := range items {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				if _, err := app.Custody.Append(ctx, custody.NewEvent{EvidenceID: id, Actor: "user:test", Action: custody.ActionViewed}); err != nil {
					t.Error(err)
					return
				}
				appended.Add(1)
			}
		}()
	}
	stopAppending := sync.OnceFunc(func() {
		close(stop)
		wg.Wait()
	})
	defer stopAppending() // before the pool closes, also on failure
	// At least 10 runs, and as many more as it takes for the appenders to
	// have added 40 events meanwhile (a loaded machine schedules them late);
	// the cap only bounds a machine where appends never get to run.
	runs := 0
	for ; runs < 10 || (appended.Load() < 40 && runs < 500); runs++ {
		run := runs
		if run%3 == 0 {
			if _, err := custody.Checkpoint(ctx, app.Pool, app.Storage, app.Key); err != nil {
				t.Fatal(err)
			}
		}
		v, err := VerifyCustody(ctx, app)
		if err != nil {
			t.Fatal(err)
		}
		if !v.OK() {
			t.Fatalf("run %d under appends: %s (%d custody, %d audit problems)", run, v.firstProblem(), v.Custody.ProblemCount, v.Audit.ProblemCount)
		}
	}
	stopAppending()
	if total := appended.Load(); total < 40 {
		t.Fatalf("only %d events appended during %d verification runs", total, runs)
	}
	var recorded, failed int
	if err := app.Pool.QueryRow(ctx, `SELECT count(*), count(*) FILTER (WHERE NOT ok) FROM custody_verifications`).Scan(&recorded, &failed); err != nil || recorded != runs || failed != 0 {
		t.Fatalf("recorded %d runs of %d, %d failed (%v)", recorded, runs, failed, err)
	}
}
