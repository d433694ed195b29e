package custody

import (
	"context"
	"crypto/ed25519"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/opendems/opendems/evidence"
	"github.com/opendems/opendems/evidence/custody/chain"
	"github.com/opendems/opendems/storage"
)

// Event is one link of a custody chain (the type lives in package chain so
// the offline verifier shares it).
type Event = chain.Event

// Action is a custody action; the constants are re-exported from chain.
type Action = chain.Action

// Custody actions (see chain for their meaning).
const (
	ActionIngested           = chain.ActionIngested
	ActionDuplicateUpload    = chain.ActionDuplicateUpload
	ActionViewed             = chain.ActionViewed
	ActionOriginalDownloaded = chain.ActionOriginalDownloaded
	ActionMetadataChanged    = chain.ActionMetadataChanged
	ActionCategoryChanged    = chain.ActionCategoryChanged
	ActionRetentionChanged   = chain.ActionRetentionChanged
	ActionLegalHoldSet       = chain.ActionLegalHoldSet
	ActionLegalHoldCleared   = chain.ActionLegalHoldCleared
	ActionCaseAdded          = chain.ActionCaseAdded
	ActionCaseRemoved        = chain.ActionCaseRemoved
	ActionMarkerAdded        = chain.ActionMarkerAdded
	ActionNoteAdded          = chain.ActionNoteAdded
	ActionShared             = chain.ActionShared
	ActionRedactionCreated   = chain.ActionRedactionCreated
	ActionRedactionApproved  = chain.ActionRedactionApproved
	ActionReleased           = chain.ActionReleased
	ActionFixityOK           = chain.ActionFixityOK
	ActionFixityFailed       = chain.ActionFixityFailed
	ActionPurgeScheduled     = chain.ActionPurgeScheduled
	ActionPurgeCancelled     = chain.ActionPurgeCancelled
	ActionPurged             = chain.ActionPurged
	ActionAccessDenied       = chain.ActionAccessDenied
)

// Custody actions of public access requests (package evidence/request).
const (
	ActionRequestClipLinked       = chain.ActionRequestClipLinked
	ActionRequestClipRemoved      = chain.ActionRequestClipRemoved
	ActionRequestOutputDownloaded = chain.ActionRequestOutputDownloaded
	ActionRequestWithheld         = chain.ActionRequestWithheld
	ActionRequestWithholdEnded    = chain.ActionRequestWithholdEnded
)

// Errors of this package beyond the evidence kinds (bad input is
// evidence.ErrInvalid, an unknown item evidence.ErrNotFound).
var (
	// ErrNoSigner: checkpoints need the server's Ed25519 key.
	ErrNoSigner = errors.New("no checkpoint signing key configured")
)

// Querier is what reads need: a pool, a connection or a transaction.
type Querier interface {
	Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error)
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
}

// DB is a Querier that can open transactions (*pgxpool.Pool, *pgx.Conn,
// or a pgx.Tx, which opens a savepoint).
type DB interface {
	Querier
	Begin(ctx context.Context) (pgx.Tx, error)
}

// NewEvent is what a caller supplies to Append; sequence number, previous
// hash and hash are assigned by Append.
type NewEvent struct {
	EvidenceID uuid.UUID
	// Actor is who did it: identity.Principal.Actor() ("user:jdoe",
	// "dock:station-3") or "system:<job>" for the server itself.
	Actor  string
	Action Action
	// Details is marshalled with encoding/json and canonicalized; a
	// json.RawMessage or []byte is taken as JSON. nil means {}. Changes
	// carry "old" and "new"; see chain.Action.CheckDetails for what each
	// action requires.
	Details any
	// Time defaults to now; it is kept to the microsecond.
	Time time.Time
}

// prepare validates ev and returns the event to be sealed.
func prepare(ev NewEvent) (Event, error) {
	if ev.EvidenceID == uuid.Nil {
		return Event{}, fmt.Errorf("%w: no evidence id", evidence.ErrInvalid)
	}
	if err := chain.ValidActor(ev.Actor); err != nil {
		return Event{}, fmt.Errorf("%w: %w", evidence.ErrInvalid, err)
	}
	details, err := chain.CanonicalDetails(ev.Details)
	if err != nil {
		return Event{}, fmt.Errorf("%w: %w", evidence.ErrInvalid, err)
	}
	var m map[string]any
	if err := json.Unmarshal(details, &m); err != nil {
		return Event{}, fmt.Errorf("%w: %v", evidence.ErrInvalid, err)
	}
	if err := ev.Action.CheckDetails(m); err != nil {
		return Event{}, fmt.Errorf("%w: %w", evidence.ErrInvalid, err)
	}
	t := ev.Time
	if t.IsZero() {
		t = time.Now()
	}
	return Event{EvidenceID: ev.EvidenceID, Time: chain.CanonicalTime(t), Actor: ev.Actor,
		Action: ev.Action, Details: details}, nil
}

// Append adds ev to its item's chain inside the caller's transaction and
// returns the sealed event. The item's head row stays locked until tx
// ends, so concurrent appends to the same item queue behind this one and
// the chain stays ordered and gap-free; appends to other items proceed in
// parallel. If tx rolls back, the event is gone with it (custody records
// what happened, and a rolled-back change did not happen).
func Append(ctx context.Context, tx pgx.Tx, ev NewEvent) (Event, error) {
	e, err := prepare(ev)
	if err != nil {
		return Event{}, err
	}
	var headSeq int64
	var headHash []byte
	err = tx.QueryRow(ctx, selectHeadSQL, e.EvidenceID).Scan(&headSeq, &headHash)
	if errors.Is(err, pgx.ErrNoRows) {
		err = tx.QueryRow(ctx, lockHeadSQL, e.EvidenceID, chain.ZeroHash[:]).Scan(&headSeq, &headHash)
	}
	if err != nil {
		return Event{}, appendErr(e.EvidenceID, err)
	}
	if err := seal(&e, headSeq, headHash); err != nil {
		return Event{}, err
	}
	if _, err := tx.Exec(ctx, insertEventSQL, insertArgs(&e)...); err != nil {
		return Event{}, appendErr(e.EvidenceID, err)
	}
	return e, nil
}

// selectHeadSQL locks an existing head row; it writes only a row lock,
// not a new row version, so it is the common path.
const selectHeadSQL = `SELECT seq, hash FROM custody_heads WHERE evidence_id = $1 FOR UPDATE`

// lockHeadSQL creates a missing head row, or locks it if a concurrent
// first append created it meanwhile (ON CONFLICT DO UPDATE takes the row
// lock), in one round trip.
const lockHeadSQL = `
	INSERT INTO custody_heads (evidence_id, seq, hash) VALUES ($1, 0, $2)
	ON CONFLICT (evidence_id) DO UPDATE SET seq = custody_heads.seq
	RETURNING seq, hash`

// insertEventSQL inserts the event and moves the head in one statement.
const insertEventSQL = `
	WITH ins AS (
		INSERT INTO custody_events (evidence_id, seq, at, actor, action, details, prev_hash, hash)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
	)
	UPDATE custody_heads SET seq = $2, hash = $8, updated_at = now() WHERE evidence_id = $1`

func insertArgs(e *Event) []any {
	return []any{e.EvidenceID, e.Seq, e.Time, e.Actor, string(e.Action), string(e.Details), e.PrevHash[:], e.Hash[:]}
}

func seal(e *Event, headSeq int64, headHash []byte) error {
	var err error
	if e.PrevHash, err = chain.HashFromBytes(headHash); err != nil {
		return fmt.Errorf("custody append %s: head: %w", e.EvidenceID, err)
	}
	e.Seq = headSeq + 1
	e.Seal()
	return nil
}

// appendPipelined is Append in a transaction of its own on a dedicated
// connection, with BEGIN sent together with the head lock and COMMIT
// together with the insert: two round trips instead of four. Every event
// is still its own committed transaction; nothing is batched across
// events.
func appendPipelined(ctx context.Context, conn *pgx.Conn, ev NewEvent) (out Event, err error) {
	e, err := prepare(ev)
	if err != nil {
		return Event{}, err
	}
	defer func() {
		if err != nil && conn.PgConn().TxStatus() != 'I' {
			conn.Exec(context.WithoutCancel(ctx), "ROLLBACK")
		}
	}()
	b := &pgx.Batch{}
	b.Queue("BEGIN")
	b.Queue(selectHeadSQL, e.EvidenceID)
	br := conn.SendBatch(ctx, b)
	var headSeq int64
	var headHash []byte
	_, err = br.Exec()
	if err == nil {
		err = br.QueryRow().Scan(&headSeq, &headHash)
	}
	if cerr := br.Close(); err == nil || (errors.Is(err, pgx.ErrNoRows) && cerr != nil) {
		err = cerr
	}
	if errors.Is(err, pgx.ErrNoRows) {
		// First event of this item: create its head.
		err = conn.QueryRow(ctx, lockHeadSQL, e.EvidenceID, chain.ZeroHash[:]).Scan(&headSeq, &headHash)
	}
	if err != nil {
		return Event{}, appendErr(e.EvidenceID, err)
	}
	if err = seal(&e, headSeq, headHash); err != nil {
		return Event{}, err
	}
	b = &pgx.Batch{}
	b.Queue(insertEventSQL, insertArgs(&e)...)
	b.Queue("COMMIT")
	br = conn.SendBatch(ctx, b)
	_, err = br.Exec()
	if err == nil {
		_, err = br.Exec()
	}
	if cerr := br.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return Event{}, appendErr(e.EvidenceID, err)
	}
	return e, nil
}

func appendErr(id uuid.UUID, err error) error {
	var pe *pgconn.PgError
	if errors.As(err, &pe) && pe.Code == "23503" {
		return fmt.Errorf("custody append %s: %w", id, evidence.ErrNotFound)
	}
	return fmt.Errorf("custody append %s: %w", id, err)
}

// Service bundles what the HTTP handlers, jobs and CLI need.
type Service struct {
	DB     DB
	Store  storage.Store
	Key    ed25519.PublicKey // the checkpoint key published at /custody/public-key
	Logger *slog.Logger
}

// NewService returns a Service; logger nil means slog.Default().
func NewService(db DB, store storage.Store, key ed25519.PublicKey, logger *slog.Logger) *Service {
	if logger == nil {
		logger = slog.Default()
	}
	return &Service{DB: db, Store: store, Key: key, Logger: logger}
}

// Append appends ev in a transaction of its own (pipelined on a
// dedicated connection when DB is a pool).
func (s *Service) Append(ctx context.Context, ev NewEvent) (Event, error) {
	if p, ok := s.DB.(*pgxpool.Pool); ok {
		conn, err := p.Acquire(ctx)
		if err != nil {
			return Event{}, fmt.Errorf("custody append %s: %w", ev.EvidenceID, err)
		}
		defer conn.Release()
		return appendPipelined(ctx, conn.Conn(), ev)
	}
	var out Event
	err := pgx.BeginFunc(ctx, s.DB, func(tx pgx.Tx) error {
		var err error
		out, err = Append(ctx, tx, ev)
		return err
	})
	return out, err
}

// Events returns an item's whole chain in order; an item without events
// returns an empty slice, an unknown item evidence.ErrNotFound.
func Events(ctx context.Context, q Querier, evidenceID uuid.UUID) ([]Event, error) {
	var exists bool
	if err := q.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM evidence_items WHERE id = $1)`, evidenceID).Scan(&exists); err != nil {
		return nil, fmt.Errorf("custody events %s: %w", evidenceID, err)
	}
	if !exists {
		return nil, fmt.Errorf("custody events %s: %w", evidenceID, evidence.ErrNotFound)
	}
	out := []Event{}
	err := scanEvents(ctx, q, func(e *Event) error {
		out = append(out, *e)
		return nil
	}, `WHERE evidence_id = $1 ORDER BY seq`, evidenceID)
	if err != nil {
		return nil, fmt.Errorf("custody events %s: %w", evidenceID, err)
	}
	return out, nil
}

const eventColumns = `SELECT evidence_id, seq, at, actor, action, details, prev_hash, hash FROM custody_events `

// scanEvents streams events matching where (appended to the SELECT);
// the Event passed to fn is reused between calls.
func scanEvents(ctx context.Context, q Querier, fn func(*Event) error, where string, args ...any) error {
	rows, err := q.Query(ctx, eventColumns+where, args...)
	if err != nil {
		return err
	}
	defer rows.Close()
	var (
		e          Event
		action     string
		details    string
		prev, hash []byte
	)
	for rows.Next() {
		if err := rows.Scan(&e.EvidenceID, &e.Seq, &e.Time, &e.Actor, &action, &details, &prev, &hash); err != nil {
			return err
		}
		e.Action = Action(action)
		e.Details = []byte(details)
		// A wrong length (only possible by tampering, the columns have
		// CHECKs) leaves a zero hash, which the checker then reports.
		e.PrevHash, _ = chain.HashFromBytes(prev)
		e.Hash, _ = chain.HashFromBytes(hash)
		e.Time = e.Time.UTC()
		if err := fn(&e); err != nil {
			return err
		}
	}
	return rows.Err()
}
