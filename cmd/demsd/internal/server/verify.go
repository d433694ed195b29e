package server

import (
	"context"
	"crypto/ed25519"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/opendems/opendems/evidence/custody"
	"github.com/opendems/opendems/evidence/custody/audit"
)

// CustodyVerification is one run of the periodic integrity check.
type CustodyVerification struct {
	Custody custody.DBReport
	Audit   audit.Report
	Took    time.Duration
}

// OK reports whether both the custody chains and the audit log verified.
func (v *CustodyVerification) OK() bool { return v.Custody.OK() && v.Audit.OK() }

// firstProblem names the first thing that did not verify ("" when none).
func (v *CustodyVerification) firstProblem() string {
	switch {
	case len(v.Custody.Problems) > 0:
		return v.Custody.Problems[0].String()
	case len(v.Audit.Problems) > 0:
		return v.Audit.Problems[0].String()
	}
	return ""
}

// VerifyCustody re-verifies every custody chain against the latest signed
// checkpoint and the audit log against its signed anchors, with the
// server's own key (the same checks as `demsd custody-verify`), records
// the run in custody_verifications and in the metrics, and on a failure
// writes an audit record and an error log. It returns an error only when
// the check could not run (the database could not be read); a failed
// verification is a finding, returned in the result, not a job failure.
func VerifyCustody(ctx context.Context, a *App) (*CustodyVerification, error) {
	start := time.Now()
	key := a.Key.Public().(ed25519.PublicKey)
	var v CustodyVerification
	// One snapshot for every read: the server keeps appending while this
	// runs, and a head read after its chain (or an anchor after its
	// records) would otherwise look like a mismatch.
	tx, err := a.Pool.BeginTx(ctx, pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly})
	if err != nil {
		return nil, fmt.Errorf("custody verify: %w", err)
	}
	defer tx.Rollback(context.WithoutCancel(ctx))
	if v.Custody, err = custody.VerifyDB(ctx, tx, custody.VerifyOptions{PublicKey: key}); err != nil {
		return nil, err
	}
	if v.Audit, err = audit.Verify(ctx, tx, key); err != nil {
		return nil, fmt.Errorf("audit verify: %w", err)
	}
	if err := tx.Rollback(ctx); err != nil {
		return nil, fmt.Errorf("custody verify: %w", err)
	}
	v.Took = time.Since(start)
	a.Metrics.CustodyVerifySeconds.Observe(v.Took.Seconds())
	if !v.Custody.OK() {
		a.Metrics.CustodyVerifyFailures.WithLabelValues("custody").Inc()
	}
	if !v.Audit.OK() {
		a.Metrics.CustodyVerifyFailures.WithLabelValues("audit").Inc()
	}
	_, err = a.Pool.Exec(ctx, `INSERT INTO custody_verifications (started_at, ok, items, events, checkpoints, latest_checkpoint,
			unsigned_events, custody_problems, audit_records, audit_problems, first_problem)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)`,
		start, v.OK(), v.Custody.Items, v.Custody.Events, v.Custody.Checkpoints, v.Custody.LatestCheckpoint,
		v.Custody.UnsignedEvents, v.Custody.ProblemCount, v.Audit.Records, v.Audit.ProblemCount, v.firstProblem())
	if err != nil {
		return &v, fmt.Errorf("record custody verification: %w", err)
	}
	if v.OK() {
		a.Logger.Info("custody verified", "items", v.Custody.Items, "events", v.Custody.Events,
			"latest_checkpoint", v.Custody.LatestCheckpoint, "unsigned_events", v.Custody.UnsignedEvents,
			"audit_records", v.Audit.Records, "took", v.Took)
		return &v, nil
	}
	a.Logger.Error("custody verification FAILED: history does not match what was signed",
		"custody_problems", v.Custody.ProblemCount, "audit_problems", v.Audit.ProblemCount, "first", v.firstProblem())
	_, aerr := audit.Record(context.WithoutCancel(ctx), a.Pool, audit.Entry{Component: "custody", EventType: EventCustodyVerificationFailed,
		Actor: "system:demsd", Outcome: audit.OutcomeFailure, Details: map[string]any{
			"custody_problems": v.Custody.ProblemCount, "audit_problems": v.Audit.ProblemCount, "first_problem": v.firstProblem(),
			"latest_checkpoint": v.Custody.LatestCheckpoint, "items": v.Custody.Items, "events": v.Custody.Events}})
	if aerr != nil {
		a.Logger.ErrorContext(ctx, "audit record failed", "type", EventCustodyVerificationFailed, "err", aerr)
	}
	return &v, nil
}

// EventCustodyVerificationFailed is the audit event of a periodic
// verification that found custody or audit history not matching what was
// signed.
const EventCustodyVerificationFailed audit.EventType = "custody_verification_failed"
