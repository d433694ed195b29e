package custody

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/opendems/opendems/evidence"
	"github.com/opendems/opendems/evidence/custody/chain"
	"github.com/opendems/opendems/storage"
)

// FixityOptions configure RunFixity and CheckFixity. The zero value is
// usable: every original is checked at least once every 30 days by a daily
// run.
type FixityOptions struct {
	// Period is the longest time an original may go unchecked (default 30
	// days).
	Period time.Duration
	// RunInterval is how often the scheduler calls RunFixity (default 24
	// hours). Each run checks ceil(items × RunInterval / Period) originals,
	// the ones checked longest ago first, so every original is checked
	// within Period.
	RunInterval time.Duration
	// MaxPerRun caps one run (0: no cap). A cap that is too small for
	// the collection is logged as a warning, since Period then cannot be
	// met.
	MaxPerRun int
	// Actor recorded in the custody events (default "system:fixity").
	Actor string
	// Logger (default slog.Default()).
	Logger *slog.Logger
	// Registerer receives opendems_fixity_checks_total{result} and
	// opendems_fixity_bytes_total; nil registers nothing. Registering
	// twice (one call per run) reuses the collectors already there.
	Registerer prometheus.Registerer
}

func (o *FixityOptions) defaults() {
	if o.Period <= 0 {
		o.Period = 30 * 24 * time.Hour
	}
	if o.RunInterval <= 0 {
		o.RunInterval = 24 * time.Hour
	}
	if o.Actor == "" {
		o.Actor = "system:fixity"
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
}

// Validate checks the options.
func (o FixityOptions) Validate() error {
	if o.MaxPerRun < 0 {
		return fmt.Errorf("%w: fixity MaxPerRun is negative", evidence.ErrInvalid)
	}
	if o.Actor != "" {
		if err := chain.ValidActor(o.Actor); err != nil {
			return fmt.Errorf("%w: fixity actor: %w", evidence.ErrInvalid, err)
		}
	}
	return nil
}

// Fixity outcomes.
const (
	FixityOK     = "ok"     // the stored bytes hash to the recorded SHA-256
	FixityFailed = "failed" // mismatch, wrong size or object missing: the item is flagged
	FixityError  = "error"  // the check could not complete (backend down); retried next run
)

// FixityResult is the outcome of checking one original.
type FixityResult struct {
	EvidenceID uuid.UUID
	SHA256     storage.Digest
	Result     string // FixityOK, FixityFailed or FixityError
	BytesRead  int64
	Err        error // why it failed or could not complete
	Event      Event // the custody event recorded (not for FixityError)
}

// FixitySummary totals a run.
type FixitySummary struct {
	Total   int // originals in the collection
	Checked int
	OK      int
	Failed  int
	Errors  int
	Results []FixityResult
}

type fixityMetrics struct {
	checks *prometheus.CounterVec
	bytes  prometheus.Counter
}

func newFixityMetrics(reg prometheus.Registerer) (*fixityMetrics, error) {
	m := &fixityMetrics{
		checks: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "opendems_fixity_checks_total",
			Help: "Fixity checks of originals by result (ok, failed, error)."}, []string{"result"}),
		bytes: prometheus.NewCounter(prometheus.CounterOpts{Name: "opendems_fixity_bytes_total",
			Help: "Bytes of originals re-read and re-hashed by fixity checks."}),
	}
	if reg == nil {
		return m, nil
	}
	if err := reg.Register(m.checks); err != nil {
		var are prometheus.AlreadyRegisteredError
		if !errors.As(err, &are) {
			return nil, err
		}
		m.checks = are.ExistingCollector.(*prometheus.CounterVec)
	}
	if err := reg.Register(m.bytes); err != nil {
		var are prometheus.AlreadyRegisteredError
		if !errors.As(err, &are) {
			return nil, err
		}
		m.bytes = are.ExistingCollector.(prometheus.Counter)
	}
	return m, nil
}

type fixityItem struct {
	id     uuid.UUID
	digest storage.Digest
	size   int64
}

// RunFixity checks this run's share of originals (see FixityOptions),
// those checked longest ago (or never) first. Each completed check is a
// custody event (fixity_ok / fixity_failed); a mismatch or missing object
// also sets evidence_items.flagged, adds "fixity_failed" to its flags,
// logs an error and counts in opendems_fixity_checks_total{result="failed"}.
// It returns an error only when the run itself cannot proceed; failed
// originals are in the summary.
func RunFixity(ctx context.Context, db DB, store storage.Store, opts FixityOptions) (FixitySummary, error) {
	return runFixity(ctx, db, store, opts, false)
}

// CheckAllFixity checks every original now, whatever its schedule (for
// the CLI and after a restore from backup).
func CheckAllFixity(ctx context.Context, db DB, store storage.Store, opts FixityOptions) (FixitySummary, error) {
	return runFixity(ctx, db, store, opts, true)
}

func runFixity(ctx context.Context, db DB, store storage.Store, opts FixityOptions, all bool) (FixitySummary, error) {
	if err := opts.Validate(); err != nil {
		return FixitySummary{}, err
	}
	opts.defaults()
	m, err := newFixityMetrics(opts.Registerer)
	if err != nil {
		return FixitySummary{}, fmt.Errorf("fixity: metrics: %w", err)
	}
	var sum FixitySummary
	if err := db.QueryRow(ctx, `SELECT count(*) FROM evidence_items WHERE state <> 'purged'`).Scan(&sum.Total); err != nil {
		return sum, fmt.Errorf("fixity: count: %w", err)
	}
	share := sum.Total
	if !all {
		share = int(math.Ceil(float64(sum.Total) * float64(opts.RunInterval) / float64(opts.Period)))
		if opts.MaxPerRun > 0 && share > opts.MaxPerRun {
			opts.Logger.Warn("fixity: MaxPerRun is too small to check every original within the period",
				"originals", sum.Total, "needed_per_run", share, "max_per_run", opts.MaxPerRun, "period", opts.Period)
			share = opts.MaxPerRun
		}
	}
	rows, err := db.Query(ctx, `
		SELECT e.id, e.sha256, e.size FROM evidence_items e
		LEFT JOIN custody_fixity f ON f.evidence_id = e.id
		WHERE e.state <> 'purged'
		ORDER BY f.checked_at NULLS FIRST, e.ingested_at, e.id
		LIMIT $1`, share)
	if err != nil {
		return sum, fmt.Errorf("fixity: select: %w", err)
	}
	var items []fixityItem
	for rows.Next() {
		var it fixityItem
		var d []byte
		if err := rows.Scan(&it.id, &d, &it.size); err != nil {
			rows.Close()
			return sum, fmt.Errorf("fixity: select: %w", err)
		}
		copy(it.digest[:], d)
		items = append(items, it)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return sum, fmt.Errorf("fixity: select: %w", err)
	}
	for _, it := range items {
		if err := ctx.Err(); err != nil {
			return sum, fmt.Errorf("fixity: %w", err)
		}
		r, err := checkOne(ctx, db, store, it, opts, m)
		if err != nil {
			return sum, err
		}
		sum.Checked++
		switch r.Result {
		case FixityOK:
			sum.OK++
		case FixityFailed:
			sum.Failed++
		default:
			sum.Errors++
		}
		sum.Results = append(sum.Results, r)
	}
	opts.Logger.Info("fixity run finished", "originals", sum.Total, "checked", sum.Checked,
		"ok", sum.OK, "failed", sum.Failed, "errors", sum.Errors)
	return sum, nil
}

// CheckFixity checks one item's original now.
func CheckFixity(ctx context.Context, db DB, store storage.Store, evidenceID uuid.UUID, opts FixityOptions) (FixityResult, error) {
	if err := opts.Validate(); err != nil {
		return FixityResult{}, err
	}
	opts.defaults()
	m, err := newFixityMetrics(opts.Registerer)
	if err != nil {
		return FixityResult{}, fmt.Errorf("fixity: metrics: %w", err)
	}
	it := fixityItem{id: evidenceID}
	var d []byte
	err = db.QueryRow(ctx, `SELECT sha256, size FROM evidence_items WHERE id = $1`, evidenceID).Scan(&d, &it.size)
	if errors.Is(err, pgx.ErrNoRows) {
		return FixityResult{}, fmt.Errorf("fixity %s: %w", evidenceID, evidence.ErrNotFound)
	}
	if err != nil {
		return FixityResult{}, fmt.Errorf("fixity %s: %w", evidenceID, err)
	}
	copy(it.digest[:], d)
	return checkOne(ctx, db, store, it, opts, m)
}

// checkOne re-reads and re-hashes one original through storage's
// verifying reader, then records the outcome. It returns an error only
// when the outcome cannot be recorded.
func checkOne(ctx context.Context, db DB, store storage.Store, it fixityItem, opts FixityOptions, m *fixityMetrics) (FixityResult, error) {
	r := FixityResult{EvidenceID: it.id, SHA256: it.digest}
	ref := storage.Ref{Namespace: storage.Originals, Digest: it.digest}
	var readErr error
	rc, err := store.Open(ctx, ref, 0, -1)
	if err == nil {
		hr := storage.NewHashingReader(rc, it.digest, it.size)
		r.BytesRead, readErr = io.Copy(io.Discard, hr)
		rc.Close()
		if readErr == nil && !hr.Verified() {
			readErr = fmt.Errorf("stream ended without verification: %w", storage.ErrSizeMismatch)
		}
	} else {
		readErr = err
	}
	m.bytes.Add(float64(r.BytesRead))
	switch {
	case readErr == nil:
		r.Result = FixityOK
	case errors.Is(readErr, storage.ErrNotFound), errors.Is(readErr, storage.ErrDigestMismatch),
		errors.Is(readErr, storage.ErrSizeMismatch):
		r.Result, r.Err = FixityFailed, readErr
	default:
		if ctx.Err() != nil {
			return r, fmt.Errorf("fixity %s: %w", it.id, ctx.Err())
		}
		r.Result, r.Err = FixityError, readErr
		m.checks.WithLabelValues(FixityError).Inc()
		opts.Logger.Warn("fixity check could not complete; will retry", "evidence_id", it.id, "sha256", it.digest, "err", readErr)
		return r, nil
	}
	ev := NewEvent{EvidenceID: it.id, Actor: opts.Actor, Action: ActionFixityOK,
		Details: map[string]any{"sha256": it.digest.String(), "size": it.size, "bytes_read": r.BytesRead}}
	if r.Result == FixityFailed {
		ev.Action = ActionFixityFailed
		ev.Details = map[string]any{"sha256": it.digest.String(), "size": it.size, "bytes_read": r.BytesRead,
			"error": readErr.Error(), "missing": errors.Is(readErr, storage.ErrNotFound)}
	}
	err = pgx.BeginFunc(ctx, db, func(tx pgx.Tx) error {
		var err error
		if r.Event, err = Append(ctx, tx, ev); err != nil {
			return err
		}
		errText := ""
		if r.Err != nil {
			errText = r.Err.Error()
		}
		if _, err := tx.Exec(ctx, `INSERT INTO custody_fixity (evidence_id, checked_at, ok, error) VALUES ($1, $2, $3, $4)
			ON CONFLICT (evidence_id) DO UPDATE SET checked_at = EXCLUDED.checked_at, ok = EXCLUDED.ok, error = EXCLUDED.error`,
			it.id, r.Event.Time, r.Result == FixityOK, errText); err != nil {
			return err
		}
		if r.Result == FixityFailed {
			_, err := tx.Exec(ctx, `UPDATE evidence_items SET flagged = true, updated_at = now(),
				flags = CASE WHEN 'fixity_failed' = ANY(flags) THEN flags ELSE array_append(flags, 'fixity_failed') END
				WHERE id = $1`, it.id)
			return err
		}
		return nil
	})
	if err != nil {
		return r, fmt.Errorf("fixity %s: record: %w", it.id, err)
	}
	m.checks.WithLabelValues(r.Result).Inc()
	if r.Result == FixityFailed {
		opts.Logger.Error("fixity check FAILED: original does not match its recorded SHA-256; item flagged",
			"evidence_id", it.id, "sha256", it.digest, "err", readErr, "custody_seq", r.Event.Seq)
	}
	return r, nil
}

// RecordReadFailure records that an original did not match its SHA-256
// when it was read for another purpose (a download): a fixity_failed
// custody event with details, the fixity state, and the item flagged
// ("fixity_failed"), in one transaction, exactly as a failed fixity run
// would. Downloads of a flagged item then need an explicit override.
func (s *Service) RecordReadFailure(ctx context.Context, id uuid.UUID, actor string, details map[string]any) error {
	err := pgx.BeginFunc(ctx, s.DB, func(tx pgx.Tx) error {
		ev, err := Append(ctx, tx, NewEvent{EvidenceID: id, Actor: actor, Action: ActionFixityFailed, Details: details})
		if err != nil {
			return err
		}
		msg, _ := details["error"].(string)
		if _, err := tx.Exec(ctx, `INSERT INTO custody_fixity (evidence_id, checked_at, ok, error) VALUES ($1, $2, false, $3)
			ON CONFLICT (evidence_id) DO UPDATE SET checked_at = EXCLUDED.checked_at, ok = false, error = EXCLUDED.error`,
			id, ev.Time, msg); err != nil {
			return err
		}
		_, err = tx.Exec(ctx, `UPDATE evidence_items SET flagged = true, updated_at = now(),
			flags = CASE WHEN 'fixity_failed' = ANY(flags) THEN flags ELSE array_append(flags, 'fixity_failed') END
			WHERE id = $1`, id)
		return err
	})
	if err != nil {
		return fmt.Errorf("custody record read failure %s: %w", id, err)
	}
	s.Logger.Error("original does not match its recorded SHA-256 on read; item flagged", "evidence_id", id, "details", details)
	return nil
}
