package server

import (
	"context"
	"sync"
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
	appended := make([]int, len(items))
	for i, id := range items {
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
				appended[i]++
			}
		}()
	}
	stopAppending := sync.OnceFunc(func() {
		close(stop)
		wg.Wait()
	})
	defer stopAppending() // before the pool closes, also on failure
	for run := 0; run < 10; run++ {
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
	total := 0
	for _, n := range appended {
		total += n
	}
	if total < 40 {
		t.Fatalf("only %d events appended while verifying", total)
	}
	var runs, failed int
	if err := app.Pool.QueryRow(ctx, `SELECT count(*), count(*) FILTER (WHERE NOT ok) FROM custody_verifications`).Scan(&runs, &failed); err != nil || runs != 10 || failed != 0 {
		t.Fatalf("recorded %d runs, %d failed (%v)", runs, failed, err)
	}
}
