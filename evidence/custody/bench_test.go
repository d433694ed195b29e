package custody

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/opendems/opendems/evidence/custody/chain"
)

// BenchmarkAppend measures custody appends per second with 1, 8 and 32
// concurrent writers, each append its own transaction (BEGIN, lock head,
// insert event, move head, COMMIT: nothing is batched), spread over 256
// items. The baseline inserts the same rows, one transaction each, into a
// plain table with no chaining, head row or trigger. ratio = ours /
// baseline.
func BenchmarkAppend(b *testing.B) {
	bd := setup(b)
	ctx := context.Background()
	const nItems = 256
	items := make([]uuid.UUID, nItems)
	for i := range items {
		items[i] = bd.newItem(b, nil)
	}
	bd.exec(b, `CREATE TABLE plain_events (LIKE custody_events INCLUDING DEFAULTS)`)
	bd.exec(b, `ALTER TABLE plain_events ADD PRIMARY KEY (evidence_id, seq)`)
	var fsync string
	bd.pool.QueryRow(ctx, `SHOW fsync`).Scan(&fsync)
	b.Logf("server fsync=%s", fsync)
	var plainSeq [nItems]int64 // baseline sequence numbers, across sub-benchmarks
	var mu sync.Mutex
	for _, writers := range []int{1, 8, 32} {
		b.Run(fmt.Sprintf("writers=%d", writers), func(b *testing.B) {
			perWriter := 2000 / writers * b.N
			total := perWriter * writers
			run := func(fn func(w, i int) error) time.Duration {
				var wg sync.WaitGroup
				errs := make(chan error, writers)
				t0 := time.Now()
				for w := 0; w < writers; w++ {
					wg.Add(1)
					go func(w int) {
						defer wg.Done()
						for i := 0; i < perWriter; i++ {
							if err := fn(w, i); err != nil {
								errs <- err
								return
							}
						}
					}(w)
				}
				wg.Wait()
				d := time.Since(t0)
				close(errs)
				for err := range errs {
					b.Fatal(err)
				}
				return d
			}
			item := func(w, i int) int { return (w + i*writers) % nItems }
			b.ResetTimer()
			ours := run(func(w, i int) error {
				_, err := bd.svc().Append(ctx, NewEvent{EvidenceID: items[item(w, i)], Actor: "user:bench",
					Action: ActionViewed, Details: map[string]any{"w": w, "i": i}})
				return err
			})
			zero := chain.ZeroHash
			base := run(func(w, i int) error {
				k := item(w, i)
				mu.Lock()
				plainSeq[k]++
				seq := plainSeq[k]
				mu.Unlock()
				return pgx.BeginFunc(ctx, bd.pool, func(tx pgx.Tx) error {
					_, err := tx.Exec(ctx, `INSERT INTO plain_events (evidence_id, seq, at, actor, action, details, prev_hash, hash)
						VALUES ($1, $2, $3, $4, $5, $6, $7, $8)`, items[k], seq, time.Now(), "user:bench", "viewed",
						fmt.Sprintf(`{"i":%d,"w":%d}`, i, w), zero[:], zero[:])
					return err
				})
			})
			b.StopTimer()
			o, p := float64(total)/ours.Seconds(), float64(total)/base.Seconds()
			b.ReportMetric(o, "appends/s")
			b.ReportMetric(p, "baseline_inserts/s")
			b.ReportMetric(o/p, "ratio")
		})
	}
	rep, err := VerifyDB(ctx, bd.pool, VerifyOptions{})
	if err != nil || !rep.OK() {
		b.Fatalf("chains after benchmark: %+v %v", rep, err)
	}
}
