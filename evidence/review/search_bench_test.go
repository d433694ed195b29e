package review_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/opendems/opendems/evidence"
	"github.com/opendems/opendems/evidence/pg/pgtest"
)

// benchItems is the size of the search benchmark's table (the issue's
// "100,000+ items").
const benchItems = 100_000

// seedSearch bulk-loads n synthetic items over 20 patrol units (COPY), and
// returns the unit paths. Distributions: 200 officers, 300 devices, a year
// of recordings, six categories, a few tags, 2 % flagged.
func seedSearch(b *testing.B, db *pgtest.DB, n int) []string {
	ctx := context.Background()
	var hq uuid.UUID
	if err := db.Pool.QueryRow(ctx, `INSERT INTO units (slug, name, path) VALUES ('hq', 'HQ', 'hq') RETURNING id`).Scan(&hq); err != nil {
		b.Fatal(err)
	}
	var units []uuid.UUID
	var paths []string
	for i := 0; i < 20; i++ {
		var id uuid.UUID
		slug := fmt.Sprintf("u%02d", i)
		if err := db.Pool.QueryRow(ctx, `INSERT INTO units (slug, name, parent_id, path) VALUES ($1, $1, $2, 'hq.' || $1) RETURNING id`, slug, hq).Scan(&id); err != nil {
			b.Fatal(err)
		}
		units = append(units, id)
		paths = append(paths, "hq."+slug)
	}
	r := rand.New(rand.NewPCG(1, 2))
	cats := []string{"uncategorized", "non-evidentiary", "traffic", "misdemeanor", "felony", "use-of-force"}
	tags := []string{"arrest", "pursuit", "dui", "juvenile", "complaint", "k9", "taser", "interview"}
	words := []string{"traffic", "stop", "park", "main", "street", "mall", "disturbance", "welfare", "check", "collision", "harbor", "ridge"}
	start := time.Date(2025, 11, 1, 0, 0, 0, 0, time.UTC)
	rows := make([][]any, 0, n)
	for i := 0; i < n; i++ {
		var sum [32]byte
		for j := range sum {
			sum[j] = byte(r.Uint32())
		}
		off := r.IntN(200)
		unit := off % 20 // officers belong to one unit
		cat := cats[r.IntN(len(cats))]
		var tg []string
		for _, t := range tags {
			if r.IntN(10) == 0 {
				tg = append(tg, t)
			}
		}
		if tg == nil {
			tg = []string{}
		}
		rec := start.Add(time.Duration(r.Int64N(int64(365 * 24 * time.Hour))))
		title := words[r.IntN(len(words))] + " " + words[r.IntN(len(words))]
		rows = append(rows, []any{sum[:], int64(1 << 20), "ready", title, fmt.Sprintf("clip-%d.mp4", i), cat, []string{cat}, tg,
			rec, rec.Add(2 * time.Hour), fmt.Sprintf("B%04d", off), fmt.Sprintf("D%04d", r.IntN(300)), units[unit], r.IntN(50) == 0, "ready"})
	}
	_, err := db.Pool.CopyFrom(ctx, pgx.Identifier{"evidence_items"},
		[]string{"sha256", "size", "state", "title", "filename", "category", "categories", "tags", "recorded_at", "ingested_at",
			"officer_id", "device_id", "unit_id", "flagged", "proxy_status"}, pgx.CopyFromRows(rows))
	if err != nil {
		b.Fatal(err)
	}
	if _, err := db.Pool.Exec(ctx, `ANALYZE evidence_items; ANALYZE units`); err != nil {
		b.Fatal(err)
	}
	return paths
}

// BenchmarkSearch measures evidence search (evidence.Store.List: the count
// and one page) over 100,000 items with a supervisor's scope (one unit
// subtree) and the filters the review UI sends. The baseline is the same
// query without the scope predicate (agency-wide), so "ratio" is what the
// authorization boundary costs. p50 and p99 are over every query of the
// mix, repeated.
func BenchmarkSearch(b *testing.B) {
	db := pgtest.NewDB(b)
	paths := seedSearch(b, db, benchItems)
	store := evidence.NewStore(db.Pool)
	ctx := context.Background()
	flagged := true
	from := time.Date(2026, 9, 1, 0, 0, 0, 0, time.UTC)
	to := from.AddDate(0, 1, 0)
	filters := []struct {
		name string
		f    evidence.Filter
	}{
		{"newest", evidence.Filter{Limit: 25}},
		{"date range", evidence.Filter{From: &from, To: &to, Limit: 25}},
		{"officer", evidence.Filter{OfficerID: "B0003", Limit: 25}},
		{"device", evidence.Filter{DeviceID: "D0042", Limit: 25}},
		{"category+tag", evidence.Filter{Category: "felony", Tag: "arrest", Limit: 25}},
		{"flagged", evidence.Filter{Flagged: &flagged, Limit: 25}},
		{"text", evidence.Filter{Text: "park", Limit: 25}},
		{"sorted by size, page 5", evidence.Filter{Sort: "size", Desc: true, After: "100", Limit: 25}},
	}
	const reps = 15
	run := func(scoped bool) []time.Duration {
		var ds []time.Duration
		for rep := 0; rep < reps; rep++ {
			for i, f := range filters {
				sc := evidence.Scope{All: true}
				if scoped {
					sc = evidence.Scope{UnitPaths: []string{paths[(rep+i)%len(paths)]}}
				}
				t0 := time.Now()
				if _, err := store.List(ctx, sc, f.f); err != nil {
					b.Fatalf("%s: %v", f.name, err)
				}
				ds = append(ds, time.Since(t0))
			}
		}
		return ds
	}
	run(true) // warm the cache for both
	run(false)
	b.ResetTimer()
	var ours, base []time.Duration
	for i := 0; i < b.N; i++ {
		ours = append(ours, run(true)...)
		base = append(base, run(false)...)
	}
	b.StopTimer()
	ms := func(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
	pct := func(ds []time.Duration, p float64) time.Duration {
		s := slices.Clone(ds)
		slices.Sort(s)
		return s[int(p*float64(len(s)-1))]
	}
	b.ReportMetric(ms(pct(ours, 0.5)), "p50_ms")
	b.ReportMetric(ms(pct(ours, 0.99)), "p99_ms")
	b.ReportMetric(ms(pct(base, 0.5)), "baseline_p50_ms")
	b.ReportMetric(ms(pct(base, 0.99)), "baseline_p99_ms")
	b.ReportMetric(ms(pct(ours, 0.99))/ms(pct(base, 0.99)), "ratio")
	b.ReportMetric(float64(benchItems), "items")
	// Per-filter p99 of the scoped query, for the documentation.
	for i, f := range filters {
		var one []time.Duration
		for j := i; j < len(ours); j += len(filters) {
			one = append(one, ours[j])
		}
		b.Logf("%-24s scoped p50 %6.2f ms  p99 %6.2f ms", f.name, ms(pct(one, 0.5)), ms(pct(one, 0.99)))
	}
}
