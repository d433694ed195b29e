package retention

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/rivertype"

	"github.com/opendems/opendems/evidence"
	"github.com/opendems/opendems/evidence/api"
	"github.com/opendems/opendems/evidence/identity"
	"github.com/opendems/opendems/policy"
	"github.com/opendems/opendems/storage"
)

// Errors of this package. Not-found, invalid and conflict are the
// evidence kinds (evidence.ErrNotFound, …), wrapped with the operation;
// these carry a kind too, so the HTTP kit maps them like any other.
var (
	// ErrPurged: the item was destroyed; only its tombstone remains.
	ErrPurged = &evidence.Error{Kind: evidence.ErrGone, Code: "purged", Msg: "the item has been purged; only its record remains"}
	// ErrPurgeRefused: policy.Purge refused the destruction; the error is a
	// *RefusedError carrying the decision and its rule.
	ErrPurgeRefused = &evidence.Error{Kind: evidence.ErrConflict, Code: "purge_refused", Msg: "purge refused by policy"}
	// ErrIntegrity: an original did not hash to its recorded SHA-256 right
	// before destruction; nothing was deleted.
	ErrIntegrity = &evidence.Error{Kind: evidence.ErrIntegrity, Code: "digest_mismatch", Msg: "original does not match its recorded digest"}
)

// RefusedError is a purge refusal with the decision that made it.
type RefusedError struct {
	EvidenceID uuid.UUID
	Decision   policy.PurgeDecision
}

func (e *RefusedError) Error() string {
	return fmt.Sprintf("purge %s refused: %s (rule %q)", e.EvidenceID, e.Decision.Reason, e.Decision.Rule)
}

// Unwrap makes errors.Is(err, ErrPurgeRefused) hold and gives the HTTP
// kit the decision to answer with (409 purge_refused, error.decision).
func (e *RefusedError) Unwrap() error {
	return &evidence.Error{Kind: evidence.ErrConflict, Code: "purge_refused", Msg: e.Decision.Reason,
		Detail: map[string]any{"decision": e.Decision}, Err: ErrPurgeRefused}
}

// JobInserter enqueues a river job inside a transaction.
type JobInserter interface {
	InsertTx(ctx context.Context, tx pgx.Tx, args river.JobArgs, opts *river.InsertOpts) (*rivertype.JobInsertResult, error)
}

// Defaults for Config.
const (
	DefaultPurgeGrace     = 7 * 24 * time.Hour
	DefaultIndefiniteLock = 365 * 24 * time.Hour
	DefaultBatch          = 500
)

// Actors the service records for work nobody asked for in person.
const (
	SweepActor = "system:retention-sweep"
	PurgeActor = "system:retention-purge"
)

// Config is what New needs. Pool, Storage, Schedule and Purge are
// required; the rest have defaults or disable optional routes.
type Config struct {
	Pool    *pgxpool.Pool
	Storage storage.Store
	// Schedule computes retain-until; Purge decides destruction (built on
	// the same schedule).
	Schedule *policy.Schedule
	Purge    *policy.Purge
	// ScheduleConfig, when set, is shown by GET /api/v1/retention/schedule
	// (flags and descriptions are not in the compiled Schedule).
	ScheduleConfig *policy.ScheduleConfig
	// ScheduleVersion identifies the schedule's content (e.g. the SHA-256
	// of the YAML). Items computed under another version are recomputed by
	// the sweep, so an edited retention.yaml reaches every item.
	ScheduleVersion string
	// ScheduleSource names the file, for the schedule route.
	ScheduleSource string
	// PurgeGrace is the time between scheduling and destruction. Zero
	// means no grace; cmd passes retention.purge_grace (default 7 days,
	// DefaultPurgeGrace).
	PurgeGrace time.Duration
	// IndefiniteLock is how far ahead the original of an indefinitely
	// kept item is locked in storage; the sweep renews it at half-time.
	// Zero means DefaultIndefiniteLock.
	IndefiniteLock time.Duration
	// Batch is how many items the sweep reads per query (default 500).
	Batch int
	// Identity and Evidence serve the explain endpoint (which user is
	// asked about) and the one-category route (the item it answers).
	Identity *identity.Store
	Evidence *evidence.Store
	// Auditor, when set, records the denials these routes decide
	// themselves (a case's unit, an item asked about in explain), like the
	// API's enforcement point does for route and item decisions.
	Auditor api.Auditor
	// Jobs, when set, lets RecomputeTx (a change inside another package's
	// transaction) enqueue a RecomputeArgs job in that transaction when a
	// storage hold must be released: the job runs after the commit, so the
	// release does not wait for the next sweep. *river.Client[pgx.Tx]
	// implements it.
	Jobs JobInserter
	// Now is the clock (tests move it forward); nil means time.Now.
	Now    func() time.Time
	Logger *slog.Logger
}

// Service carries out retention, holds and purges. It holds no mutable
// state of its own: several instances (API, workers) may share a database.
type Service struct {
	cfg        Config
	explainers map[string]Explainer
}

// New validates cfg and returns a Service.
func New(cfg Config) (*Service, error) {
	switch {
	case cfg.Pool == nil:
		return nil, fmt.Errorf("retention: new: no database pool: %w", evidence.ErrInvalid)
	case cfg.Storage == nil:
		return nil, fmt.Errorf("retention: new: no storage: %w", evidence.ErrInvalid)
	case cfg.Schedule == nil:
		return nil, fmt.Errorf("retention: new: no retention schedule: %w", evidence.ErrInvalid)
	case cfg.Purge == nil:
		return nil, fmt.Errorf("retention: new: no purge decider: %w", evidence.ErrInvalid)
	case cfg.PurgeGrace < 0:
		return nil, fmt.Errorf("retention: new: purge grace %s is negative: %w", cfg.PurgeGrace, evidence.ErrInvalid)
	case cfg.IndefiniteLock < 0:
		return nil, fmt.Errorf("retention: new: indefinite lock %s is negative: %w", cfg.IndefiniteLock, evidence.ErrInvalid)
	}
	if cfg.IndefiniteLock == 0 {
		cfg.IndefiniteLock = DefaultIndefiniteLock
	}
	if cfg.Batch <= 0 {
		cfg.Batch = DefaultBatch
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	return &Service{cfg: cfg}, nil
}

func (s *Service) now() time.Time { return s.cfg.Now().UTC() }

// itemRow is what retention reads of an item, under its row lock.
type itemRow struct {
	ID          uuid.UUID
	SHA256      []byte
	Size        int64
	State       string
	Categories  []string
	Flags       []string
	RecordedAt  *time.Time
	IngestedAt  time.Time
	RetainUntil *time.Time
	Indefinite  bool
	LegalHold   bool
	ComputedAt  *time.Time
	UnitPath    string
}

func (r *itemRow) original() storage.Ref {
	var d storage.Digest
	copy(d[:], r.SHA256)
	return storage.Ref{Namespace: storage.Originals, Digest: d}
}

// lockItem reads and row-locks an item for the rest of tx.
func lockItem(ctx context.Context, tx pgx.Tx, id uuid.UUID) (*itemRow, error) {
	return scanItemRow(ctx, tx, id, " FOR UPDATE OF i")
}

// readItem reads an item without locking it (reports).
func readItem(ctx context.Context, tx pgx.Tx, id uuid.UUID) (*itemRow, error) {
	return scanItemRow(ctx, tx, id, "")
}

func scanItemRow(ctx context.Context, tx pgx.Tx, id uuid.UUID, lock string) (*itemRow, error) {
	var r itemRow
	err := tx.QueryRow(ctx, `
		SELECT i.id, i.sha256, i.size, i.state, i.categories, i.flags, i.recorded_at, i.ingested_at,
		       i.retain_until, i.retention_indefinite, i.legal_hold, i.retention_computed_at, u.path
		FROM evidence_items i JOIN units u ON u.id = i.unit_id
		WHERE i.id = $1`+lock, id).Scan(
		&r.ID, &r.SHA256, &r.Size, &r.State, &r.Categories, &r.Flags, &r.RecordedAt, &r.IngestedAt,
		&r.RetainUntil, &r.Indefinite, &r.LegalHold, &r.ComputedAt, &r.UnitPath)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, fmt.Errorf("evidence %s: %w", id, evidence.ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("lock evidence %s: %w", id, err)
	}
	return &r, nil
}

// facts are the things besides the item row that retention depends on.
type facts struct {
	SubjectRequests []time.Time
	OpenAccess      int
	ItemHolds       int
	CaseHolds       []string // ids of held cases the item is in
}

func loadFacts(ctx context.Context, tx pgx.Tx, id uuid.UUID) (facts, error) {
	var f facts
	rows, err := tx.Query(ctx, `SELECT requested_at FROM subject_requests WHERE evidence_id = $1 ORDER BY requested_at`, id)
	if err != nil {
		return f, fmt.Errorf("subject requests of %s: %w", id, err)
	}
	if f.SubjectRequests, err = pgx.CollectRows(rows, pgx.RowTo[time.Time]); err != nil {
		return f, fmt.Errorf("subject requests of %s: %w", id, err)
	}
	err = tx.QueryRow(ctx, `SELECT
		(SELECT count(*) FROM access_request_holds WHERE evidence_id = $1 AND closed_at IS NULL),
		(SELECT count(*) FROM legal_holds WHERE evidence_id = $1 AND released_at IS NULL)`, id).Scan(&f.OpenAccess, &f.ItemHolds)
	if err != nil {
		return f, fmt.Errorf("holds of %s: %w", id, err)
	}
	rows, err = tx.Query(ctx, `
		SELECT c.id::text FROM cases c JOIN case_items ci ON ci.case_id = c.id
		WHERE ci.evidence_id = $1 AND (c.legal_hold OR EXISTS (
			SELECT 1 FROM legal_holds h WHERE h.case_id = c.id AND h.released_at IS NULL))
		ORDER BY c.id`, id)
	if err != nil {
		return f, fmt.Errorf("case holds of %s: %w", id, err)
	}
	if f.CaseHolds, err = pgx.CollectRows(rows, pgx.RowTo[string]); err != nil {
		return f, fmt.Errorf("case holds of %s: %w", id, err)
	}
	return f, nil
}

func (f facts) held() bool { return f.ItemHolds > 0 || len(f.CaseHolds) > 0 }

func retentionInput(r *itemRow, f facts) policy.ItemRetentionInput {
	in := policy.ItemRetentionInput{IngestedAt: r.IngestedAt, Categories: r.Categories, Flags: r.Flags,
		SubjectRequests: f.SubjectRequests, OpenAccessRequests: f.OpenAccess > 0}
	if r.RecordedAt != nil {
		in.RecordedAt = *r.RecordedAt
	}
	return in
}

// Status is an item's retention as stored after a change.
type Status struct {
	EvidenceID  uuid.UUID  `json:"evidence_id"`
	State       string     `json:"state"`
	Categories  []string   `json:"categories"`
	Flags       []string   `json:"flags"`
	RetainUntil *time.Time `json:"retain_until"`
	Indefinite  bool       `json:"indefinite"`
	Explanation string     `json:"explanation"`
	LegalHold   bool       `json:"legal_hold"`
	// StorageRetainUntil is the original's lock in storage as last set; it
	// may be later than RetainUntil (storage locks only grow).
	StorageRetainUntil *time.Time `json:"storage_retain_until"`
	ItemHolds          int        `json:"item_holds"`
	CaseHolds          []string   `json:"case_holds"`
	SubjectRequests    int        `json:"subject_requests"`
	OpenAccessRequests int        `json:"open_access_requests"`
}

// after collects storage operations that must only run once the
// transaction committed (releasing ones).
type after []func(ctx context.Context)

func (a after) run(ctx context.Context) {
	for _, f := range a {
		f(context.WithoutCancel(ctx))
	}
}

// change runs mutate and a recompute of item id in one transaction, then
// the releasing storage operations. mutate may be nil (plain recompute).
func (s *Service) change(ctx context.Context, id uuid.UUID, actor, cause string, mutate func(tx pgx.Tx, r *itemRow) error) (Status, error) {
	var st Status
	var post after
	err := pgx.BeginFunc(ctx, s.cfg.Pool, func(tx pgx.Tx) error {
		r, err := lockItem(ctx, tx, id)
		if err != nil {
			return err
		}
		if r.State == "purged" {
			return fmt.Errorf("evidence %s: %w", id, ErrPurged)
		}
		if mutate != nil {
			if err := mutate(tx, r); err != nil {
				return err
			}
		}
		st, err = s.apply(ctx, tx, r, actor, cause, &post)
		return err
	})
	if err != nil {
		return Status{}, err
	}
	post.run(ctx)
	return st, nil
}

// Recompute recomputes an item's retention and holds from what is stored
// and mirrors them to storage. Other packages call it after a change that
// retention depends on and that they made themselves (an item added to or
// removed from a case); the sweep also calls it for stale items.
func (s *Service) Recompute(ctx context.Context, id uuid.UUID, actor string) (Status, error) {
	st, err := s.change(ctx, id, actor, "recompute", nil)
	if err != nil {
		return st, fmt.Errorf("retention: recompute %s: %w", id, err)
	}
	return st, nil
}

// RecomputeTx is Recompute inside the caller's transaction (for example
// the one that adds an item to a case), which must not have locked other
// items' rows in a different order. Storage is made more protective at
// once; a storage hold that should be released stays set until a
// RecomputeArgs job (Config.Jobs, enqueued in tx) or the next sweep
// releases it after the commit (the safe direction).
func (s *Service) RecomputeTx(ctx context.Context, tx pgx.Tx, id uuid.UUID, actor string) (Status, error) {
	r, err := lockItem(ctx, tx, id)
	if err != nil {
		return Status{}, fmt.Errorf("retention: recompute %s: %w", id, err)
	}
	if r.State == "purged" {
		return Status{}, fmt.Errorf("retention: recompute %s: %w", id, ErrPurged)
	}
	var post after
	st, err := s.apply(ctx, tx, r, actor, "recompute", &post)
	if err != nil {
		return st, fmt.Errorf("retention: recompute %s: %w", id, err)
	}
	// Releasing operations must wait for the caller's commit: hand them to
	// a job that becomes visible with it (or leave them to the sweep).
	if len(post) > 0 && s.cfg.Jobs != nil {
		if _, err := s.cfg.Jobs.InsertTx(ctx, tx, RecomputeArgs{EvidenceID: id}, nil); err != nil {
			return st, fmt.Errorf("retention: recompute %s: enqueue release: %w", id, err)
		}
	}
	return st, nil
}
