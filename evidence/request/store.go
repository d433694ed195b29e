package request

import (
	"context"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/opendems/opendems/evidence"
	"github.com/opendems/opendems/evidence/custody/audit"
)

// Actor is who does something, as the audit log records it.
type Actor struct {
	// Name is identity.Principal.Actor() ("user:rita"), "anonymous:web"
	// for the public intake page, or "system:<job>".
	Name   string
	UserID uuid.UUID
	Addr   string // client address, for the audit log
}

// Holds keeps linked items from being purged while their request is open
// (package retention implements it; wired by cmd/demsd). Optional.
type Holds interface {
	OpenAccessRequest(ctx context.Context, evidenceID uuid.UUID, ref, actor string) error
	CloseAccessRequest(ctx context.Context, evidenceID uuid.UUID, ref, actor string) error
}

// Options are a Store's optional collaborators; nil means the default.
type Options struct {
	Now    func() time.Time
	Holds  Holds
	Logger *slog.Logger
}

// Store keeps requests in PostgreSQL.
type Store struct {
	db       *pgxpool.Pool
	settings Settings
	opt      Options
}

// NewStore returns a store under the given settings.
func NewStore(db *pgxpool.Pool, s Settings, o Options) *Store {
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	return &Store{db: db, settings: s, opt: o}
}

// Settings returns the store's settings (rules, exemption codes).
func (s *Store) Settings() Settings { return s.settings }

// Audit event types this package records.
const (
	AuditCreated      audit.EventType = "request_created"
	AuditChanged      audit.EventType = "request_changed"
	AuditViewed       audit.EventType = "request_viewed"
	AuditStatusLookup audit.EventType = "request_status_lookup"
)

func (s *Store) audit(ctx context.Context, q audit.Querier, who Actor, typ audit.EventType, outcome audit.Outcome, evidenceID uuid.UUID, details map[string]any) error {
	_, err := audit.Record(ctx, q, audit.Entry{Time: s.opt.Now(), Component: "request", EventType: typ, Actor: who.Name,
		UserID: who.UserID, Outcome: outcome, SourceAddr: who.Addr, EvidenceID: evidenceID, Details: details})
	return err
}

// AuditView records that who viewed request material (a request, a clip,
// a spec, an output); the HTTP layer calls it for reads.
func (s *Store) AuditView(ctx context.Context, who Actor, what string, requestID, evidenceID uuid.UUID, details map[string]any) error {
	if details == nil {
		details = map[string]any{}
	}
	details["what"] = what
	details["request_id"] = requestID.String()
	return s.audit(ctx, s.db, who, AuditViewed, audit.OutcomeSuccess, evidenceID, details)
}

const requestCols = `id, tracking_number, requester_name, requester_type, contact, description, date_from, date_to,
	place, incident, channel, received_at, state, coalesce(paused_from, ''), assignee, exemptions, created_by,
	created_at, updated_at, version`

func scanRequest(row pgx.Row) (Request, error) {
	var r Request
	err := row.Scan(&r.ID, &r.TrackingNumber, &r.RequesterName, &r.RequesterType, &r.Contact, &r.Description,
		&r.DateFrom, &r.DateTo, &r.Place, &r.Incident, &r.Channel, &r.ReceivedAt, &r.State, &r.PausedFrom,
		&r.Assignee, &r.Exemptions, &r.CreatedBy, &r.CreatedAt, &r.UpdatedAt, &r.Version)
	if errors.Is(err, pgx.ErrNoRows) {
		return r, ErrNotFound
	}
	r.Pauses, r.Extensions = []Pause{}, []Extension{}
	return r, err
}

// querier is a pool or a transaction.
type querier interface {
	Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error)
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
}

// loadClock fills pauses, extensions and the clock of the requests.
func (s *Store) loadClock(ctx context.Context, q querier, reqs []*Request) error {
	if len(reqs) == 0 {
		return nil
	}
	ids := make([]uuid.UUID, len(reqs))
	byID := make(map[uuid.UUID]*Request, len(reqs))
	for i, r := range reqs {
		ids[i] = r.ID
		byID[r.ID] = r
	}
	rows, err := q.Query(ctx, `SELECT id, request_id, kind, reason, paused_at, paused_by, resumed_at, coalesce(resumed_by, '')
		FROM access_request_pauses WHERE request_id = ANY($1) ORDER BY paused_at, id`, ids)
	if err != nil {
		return err
	}
	for rows.Next() {
		var p Pause
		var rid uuid.UUID
		if err := rows.Scan(&p.ID, &rid, &p.Kind, &p.Reason, &p.From, &p.By, &p.To, &p.EndedBy); err != nil {
			rows.Close()
			return err
		}
		byID[rid].Pauses = append(byID[rid].Pauses, p)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return err
	}
	rows, err = q.Query(ctx, `SELECT request_id, days, reason, granted_at, granted_by
		FROM access_request_extensions WHERE request_id = ANY($1) ORDER BY granted_at, id`, ids)
	if err != nil {
		return err
	}
	for rows.Next() {
		var e Extension
		var rid uuid.UUID
		if err := rows.Scan(&rid, &e.Days, &e.Reason, &e.At, &e.By); err != nil {
			rows.Close()
			return err
		}
		byID[rid].Extensions = append(byID[rid].Extensions, e)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return err
	}
	now := s.opt.Now()
	for _, r := range reqs {
		r.Clock = s.settings.Rules.Status(r, now)
	}
	return nil
}

// Get returns one request with its clock.
func (s *Store) Get(ctx context.Context, id uuid.UUID) (Request, error) {
	r, err := scanRequest(s.db.QueryRow(ctx, `SELECT `+requestCols+` FROM access_requests WHERE id = $1`, id))
	if err != nil {
		return r, fmt.Errorf("request get %s: %w", id, err)
	}
	if err := s.loadClock(ctx, s.db, []*Request{&r}); err != nil {
		return r, fmt.Errorf("request get %s: %w", id, err)
	}
	return r, nil
}

// GetByTracking returns the request with that tracking number.
func (s *Store) GetByTracking(ctx context.Context, number string) (Request, error) {
	if !ValidTrackingNumber(number) {
		return Request{}, fmt.Errorf("request get %q: %w", truncate(number, 40), ErrNotFound)
	}
	var id uuid.UUID
	if err := s.db.QueryRow(ctx, `SELECT id FROM access_requests WHERE tracking_number = $1`, number).Scan(&id); err != nil {
		if errors.Is(err, pgx.ErrNoRows) {
			err = ErrNotFound
		}
		return Request{}, fmt.Errorf("request get %s: %w", number, err)
	}
	return s.Get(ctx, id)
}

// Create records a new request and returns it with its public status code,
// which is shown once and never stored.
func (s *Store) Create(ctx context.Context, who Actor, in Intake) (Request, string, error) {
	now := s.opt.Now()
	if err := in.Validate(now); err != nil {
		return Request{}, "", err
	}
	if in.ReceivedAt.IsZero() {
		in.ReceivedAt = now
	}
	code, hash, err := NewStatusCode()
	if err != nil {
		return Request{}, "", err
	}
	year := in.ReceivedAt.In(s.settings.Rules.Location).Year()
	var id uuid.UUID
	err = pgx.BeginFunc(ctx, s.db, func(tx pgx.Tx) error {
		var n int64
		if err := tx.QueryRow(ctx, `INSERT INTO access_request_counters (year, last) VALUES ($1, 1)
			ON CONFLICT (year) DO UPDATE SET last = access_request_counters.last + 1 RETURNING last`, year).Scan(&n); err != nil {
			return err
		}
		number := fmt.Sprintf("%s-%04d-%06d", s.settings.TrackingPrefix, year, n)
		if err := tx.QueryRow(ctx, `INSERT INTO access_requests (tracking_number, status_code_hash, requester_name,
			requester_type, contact, description, date_from, date_to, place, incident, channel, received_at, created_by,
			created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $14) RETURNING id`,
			number, hash, in.RequesterName, in.RequesterType, in.Contact, in.Description, in.DateFrom, in.DateTo,
			in.Place, in.Incident, in.Channel, in.ReceivedAt, who.Name, now).Scan(&id); err != nil {
			return err
		}
		details := map[string]any{"tracking_number": number, "channel": string(in.Channel),
			"requester_type": string(in.RequesterType), "received_at": in.ReceivedAt.UTC().Format(time.RFC3339)}
		if err := s.appendEvent(ctx, tx, id, who.Name, EventCreated, details); err != nil {
			return err
		}
		details["request_id"] = id.String()
		return s.audit(ctx, tx, who, AuditCreated, audit.OutcomeSuccess, uuid.Nil, details)
	})
	if err != nil {
		return Request{}, "", fmt.Errorf("request create: %w", err)
	}
	r, err := s.Get(ctx, id)
	return r, code, err
}

// appendEvent adds a timeline line; the caller holds the request's row lock
// (or has just inserted it), so sequence numbers are gap-free.
func (s *Store) appendEvent(ctx context.Context, tx pgx.Tx, id uuid.UUID, actor string, kind EventKind, details map[string]any) error {
	if details == nil {
		details = map[string]any{}
	}
	b, err := json.Marshal(details)
	if err != nil {
		return fmt.Errorf("timeline: %w", err)
	}
	_, err = tx.Exec(ctx, `INSERT INTO access_request_events (request_id, seq, at, actor, kind, details)
		SELECT $1, coalesce(max(seq), 0) + 1, $2, $3, $4, $5 FROM access_request_events WHERE request_id = $1`,
		id, s.opt.Now(), actor, string(kind), b)
	if err != nil {
		return fmt.Errorf("timeline: %w", err)
	}
	return nil
}

// Timeline returns a request's events in order.
func (s *Store) Timeline(ctx context.Context, id uuid.UUID) ([]Event, error) {
	rows, err := s.db.Query(ctx, `SELECT seq, at, actor, kind, details FROM access_request_events WHERE request_id = $1 ORDER BY seq`, id)
	if err != nil {
		return nil, fmt.Errorf("request timeline %s: %w", id, err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (Event, error) {
		var e Event
		var b []byte
		if err := r.Scan(&e.Seq, &e.At, &e.Actor, &e.Kind, &b); err != nil {
			return e, err
		}
		return e, json.Unmarshal(b, &e.Details)
	})
	if err != nil {
		return nil, fmt.Errorf("request timeline %s: %w", id, err)
	}
	if len(out) == 0 {
		if _, err := s.Get(ctx, id); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// PublicStatus is all the public status page shows.
type PublicStatus struct {
	TrackingNumber string `json:"tracking_number"`
	State          State  `json:"state"`
	Paused         bool   `json:"paused"`
	DueDate        string `json:"due_date,omitempty"`
}

// PublicStatus answers the public status page: the state and due date of
// the request, if code is its status code. A wrong code and an unknown
// number are the same ErrNotFound, and both are audited.
func (s *Store) PublicStatus(ctx context.Context, who Actor, number, code string) (PublicStatus, error) {
	fail := func() (PublicStatus, error) {
		s.audit(ctx, s.db, who, AuditStatusLookup, audit.OutcomeFailure, uuid.Nil, map[string]any{"tracking_number": truncate(number, 40)})
		return PublicStatus{}, fmt.Errorf("request status: %w", ErrNotFound)
	}
	canon := NormalizeStatusCode(code)
	if !ValidTrackingNumber(number) || canon == "" {
		return fail()
	}
	var id uuid.UUID
	var stored []byte
	err := s.db.QueryRow(ctx, `SELECT id, status_code_hash FROM access_requests WHERE tracking_number = $1`, number).Scan(&id, &stored)
	if errors.Is(err, pgx.ErrNoRows) {
		return fail()
	}
	if err != nil {
		return PublicStatus{}, fmt.Errorf("request status: %w", err)
	}
	if subtle.ConstantTimeCompare(stored, HashStatusCode(canon)) != 1 {
		return fail()
	}
	r, err := s.Get(ctx, id)
	if err != nil {
		return PublicStatus{}, err
	}
	if err := s.audit(ctx, s.db, who, AuditStatusLookup, audit.OutcomeSuccess, uuid.Nil, map[string]any{
		"tracking_number": number, "request_id": id.String()}); err != nil {
		return PublicStatus{}, fmt.Errorf("request status: %w", err)
	}
	return PublicStatus{TrackingNumber: r.TrackingNumber, State: r.State, Paused: r.Clock.Paused, DueDate: r.Clock.DueDate}, nil
}

// ListFilter narrows the dashboard.
type ListFilter struct {
	Open     bool    // only requests still awaiting an answer
	States   []State // any of these states (empty: all)
	Assignee string
	Limit    int // default 200, at most 1000
}

// List returns requests sorted by due date: overdue first, then by
// deadline; paused requests after those with a deadline, answered ones
// last (newest first).
func (s *Store) List(ctx context.Context, f ListFilter) ([]Request, error) {
	var where []string
	var args []any
	arg := func(v any) string { args = append(args, v); return fmt.Sprintf("$%d", len(args)) }
	if f.Open {
		where = append(where, `state NOT IN ('released', 'denied', 'withdrawn', 'closed')`)
	}
	if len(f.States) > 0 {
		for _, st := range f.States {
			if !st.Valid() {
				p := problems{op: "request list"}
				p.add("state", "unknown state %q", st)
				return nil, p.err()
			}
		}
		where = append(where, "state = ANY("+arg(f.States)+")")
	}
	if f.Assignee != "" {
		where = append(where, "assignee = "+arg(f.Assignee))
	}
	if f.Limit <= 0 {
		f.Limit = 200
	}
	f.Limit = min(f.Limit, 1000)
	sql := `SELECT ` + requestCols + ` FROM access_requests`
	if len(where) > 0 {
		sql += " WHERE " + strings.Join(where, " AND ")
	}
	// Open requests first and oldest first: the order of their deadlines
	// up to pauses and extensions, which the sort below applies.
	sql += ` ORDER BY (state IN ('released', 'denied', 'withdrawn', 'closed')), received_at LIMIT ` + arg(f.Limit)
	rows, err := s.db.Query(ctx, sql, args...)
	if err != nil {
		return nil, fmt.Errorf("request list: %w", err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (Request, error) { return scanRequest(r) })
	if err != nil {
		return nil, fmt.Errorf("request list: %w", err)
	}
	ptrs := make([]*Request, len(out))
	for i := range out {
		ptrs[i] = &out[i]
	}
	if err := s.loadClock(ctx, s.db, ptrs); err != nil {
		return nil, fmt.Errorf("request list: %w", err)
	}
	rank := func(r *Request) int {
		switch {
		case !r.State.Open():
			return 3
		case r.Clock.Paused || r.Clock.DueAt == nil:
			return 2
		}
		return 1
	}
	sort.SliceStable(out, func(i, j int) bool {
		a, b := &out[i], &out[j]
		if ra, rb := rank(a), rank(b); ra != rb {
			return ra < rb
		}
		switch rank(a) {
		case 1:
			return a.Clock.DueAt.Before(*b.Clock.DueAt)
		case 3:
			return a.ReceivedAt.After(b.ReceivedAt)
		}
		return a.ReceivedAt.Before(b.ReceivedAt)
	})
	return out, nil
}

// lock reads a request for update inside tx.
func lock(ctx context.Context, tx pgx.Tx, id uuid.UUID) (Request, error) {
	r, err := scanRequest(tx.QueryRow(ctx, `SELECT `+requestCols+` FROM access_requests WHERE id = $1 FOR UPDATE`, id))
	if err != nil {
		return r, fmt.Errorf("request %s: %w", id, err)
	}
	return r, nil
}

// bump records that the request changed.
func (s *Store) bump(ctx context.Context, tx pgx.Tx, id uuid.UUID) error {
	_, err := tx.Exec(ctx, `UPDATE access_requests SET version = version + 1, updated_at = $2 WHERE id = $1`, id, s.opt.Now())
	return err
}

// TransitionInput asks for a state change.
type TransitionInput struct {
	To State `json:"state"`
	// Assignee (a username) is required to enter assigned.
	Assignee string `json:"assignee,omitempty"`
	// Exemptions are required to enter denied.
	Exemptions []string `json:"exemptions,omitempty"`
	// PauseKind and Reason are required to enter awaiting_requester.
	PauseKind PauseKind `json:"pause_kind,omitempty"`
	Reason    string    `json:"reason,omitempty"`
	Note      string    `json:"note,omitempty"`
	// Version, when not zero, must be the request's current version
	// (the change is refused with ErrConflict if someone changed it since).
	Version int64 `json:"version,omitempty"`
}

// ConflictError is a change refused because of the request's current
// state; it wraps ErrConflict.
type ConflictError struct{ Msg string }

func (e *ConflictError) Error() string { return e.Msg }

// Unwrap gives the error's kind.
func (e *ConflictError) Unwrap() error { return ErrConflict }

// Transition moves a request to another state, enforcing the state machine
// and what each state needs.
func (s *Store) Transition(ctx context.Context, id uuid.UUID, who Actor, in TransitionInput) (Request, error) {
	p := problems{op: "request transition"}
	p.text("note", in.Note, MaxReasonLen, false, true)
	p.text("reason", in.Reason, MaxReasonLen, false, true)
	if err := p.err(); err != nil {
		return Request{}, err
	}
	var closeHolds []uuid.UUID
	var number string
	err := pgx.BeginFunc(ctx, s.db, func(tx pgx.Tx) error {
		r, err := lock(ctx, tx, id)
		if err != nil {
			return err
		}
		number = r.TrackingNumber
		if in.Version != 0 && in.Version != r.Version {
			return &ConflictError{Msg: fmt.Sprintf("request %s changed since version %d (now version %d, %s); reload and try again",
				r.TrackingNumber, in.Version, r.Version, r.State)}
		}
		if err := CheckTransition(r.State, r.PausedFrom, in.To); err != nil {
			return err
		}
		now := s.opt.Now()
		details := map[string]any{"from": string(r.State), "to": string(in.To)}
		if in.Note != "" {
			details["note"] = in.Note
		}
		pausedFrom := any(nil)
		assignee := r.Assignee
		exemptions := r.Exemptions
		switch in.To {
		case StateAssigned:
			if err := s.checkAssignee(ctx, tx, in.Assignee); err != nil {
				return err
			}
			assignee = in.Assignee
			details["assignee"] = assignee
		case StateAwaitingRequester:
			if err := s.settings.Rules.CheckPause(in.PauseKind, in.Reason); err != nil {
				return err
			}
			if _, err := tx.Exec(ctx, `INSERT INTO access_request_pauses (request_id, kind, reason, paused_at, paused_by)
				VALUES ($1, $2, $3, $4, $5)`, id, in.PauseKind, in.Reason, now, who.Name); err != nil {
				return err
			}
			pausedFrom = string(r.State)
			details["pause_kind"], details["reason"] = string(in.PauseKind), in.Reason
		case StateDenied:
			if err := s.settings.Exemptions.Check("exemptions", in.Exemptions, true); err != nil {
				return err
			}
			exemptions = in.Exemptions
			details["exemptions"] = in.Exemptions
		}
		if r.State == StateAwaitingRequester {
			if _, err := tx.Exec(ctx, `UPDATE access_request_pauses SET resumed_at = $2, resumed_by = $3
				WHERE request_id = $1 AND resumed_at IS NULL`, id, now, who.Name); err != nil {
				return err
			}
			if err := s.appendEvent(ctx, tx, id, who.Name, EventResumed, map[string]any{"note": in.Note, "to": string(in.To)}); err != nil {
				return err
			}
		}
		if _, err := tx.Exec(ctx, `UPDATE access_requests SET state = $2, paused_from = $3, assignee = $4, exemptions = $5
			WHERE id = $1`, id, in.To, pausedFrom, assignee, exemptions); err != nil {
			return err
		}
		if err := s.bump(ctx, tx, id); err != nil {
			return err
		}
		kind := EventTransition
		if in.To == StateAwaitingRequester {
			kind = EventPaused
		}
		if err := s.appendEvent(ctx, tx, id, who.Name, kind, details); err != nil {
			return err
		}
		if in.To == StateClosed && s.opt.Holds != nil {
			rows, err := tx.Query(ctx, `SELECT DISTINCT evidence_id FROM request_clips WHERE request_id = $1`, id)
			if err != nil {
				return err
			}
			if closeHolds, err = pgx.CollectRows(rows, pgx.RowTo[uuid.UUID]); err != nil {
				return err
			}
		}
		details["request_id"], details["tracking_number"] = id.String(), r.TrackingNumber
		return s.audit(ctx, tx, who, AuditChanged, audit.OutcomeSuccess, uuid.Nil, details)
	})
	var pe *pgconn.PgError
	if errors.As(err, &pe) && pe.Hint == "opendems:review" {
		// The database's release gate (migration 0015): approved and
		// released are reached through review and release only.
		err = &ConflictError{Msg: pe.Message}
	}
	if err != nil {
		return Request{}, fmt.Errorf("request transition %s: %w", id, err)
	}
	var holdErrs []error
	for _, ev := range closeHolds {
		if err := s.opt.Holds.CloseAccessRequest(ctx, ev, number, who.Name); err != nil && !errors.Is(err, ErrNotFound) {
			holdErrs = append(holdErrs, err)
		}
	}
	if err := errors.Join(holdErrs...); err != nil {
		return Request{}, fmt.Errorf("request %s closed, but releasing its retention holds failed: %w", number, err)
	}
	return s.Get(ctx, id)
}

func (s *Store) checkAssignee(ctx context.Context, tx pgx.Tx, username string) error {
	p := problems{op: "request assign"}
	if username == "" {
		p.add("assignee", "required to assign a request")
		return p.err()
	}
	var ok bool
	if err := tx.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM users WHERE username = $1 AND disabled_at IS NULL)`, username).Scan(&ok); err != nil {
		return err
	}
	if !ok {
		p.add("assignee", "no active user %q", truncate(username, 64))
	}
	return p.err()
}

// Pause stops the clock while the agency waits for the requester.
func (s *Store) Pause(ctx context.Context, id uuid.UUID, who Actor, kind PauseKind, reason string) (Request, error) {
	return s.Transition(ctx, id, who, TransitionInput{To: StateAwaitingRequester, PauseKind: kind, Reason: reason})
}

// Resume restarts the clock and returns the request to the state it was
// paused in.
func (s *Store) Resume(ctx context.Context, id uuid.UUID, who Actor, reason string) (Request, error) {
	r, err := s.Get(ctx, id)
	if err != nil {
		return r, err
	}
	if r.State != StateAwaitingRequester {
		return r, fmt.Errorf("request resume %s: %w", id, &ConflictError{Msg: fmt.Sprintf("request %s is %s, not paused", r.TrackingNumber, r.State)})
	}
	p := problems{op: "request resume"}
	p.text("reason", reason, MaxReasonLen, true, true)
	if err := p.err(); err != nil {
		return r, err
	}
	return s.Transition(ctx, id, who, TransitionInput{To: r.PausedFrom, Note: reason, Version: r.Version})
}

// Extend grants an extension of the clock.
func (s *Store) Extend(ctx context.Context, id uuid.UUID, who Actor, days int, reason string) (Request, error) {
	err := pgx.BeginFunc(ctx, s.db, func(tx pgx.Tx) error {
		r, err := lock(ctx, tx, id)
		if err != nil {
			return err
		}
		if !r.State.Open() {
			return &ConflictError{Msg: fmt.Sprintf("request %s is %s: its clock has stopped", r.TrackingNumber, r.State)}
		}
		if err := s.loadClock(ctx, tx, []*Request{&r}); err != nil {
			return err
		}
		if err := s.settings.Rules.CheckExtension(r.Extensions, days, reason); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `INSERT INTO access_request_extensions (request_id, days, reason, granted_at, granted_by)
			VALUES ($1, $2, $3, $4, $5)`, id, days, reason, s.opt.Now(), who.Name); err != nil {
			return err
		}
		if err := s.bump(ctx, tx, id); err != nil {
			return err
		}
		details := map[string]any{"days": days, "reason": reason, "old_due_date": r.Clock.DueDate}
		r.Extensions = append(r.Extensions, Extension{Days: days, Reason: reason})
		details["new_due_date"] = s.settings.Rules.Status(&r, s.opt.Now()).DueDate
		if err := s.appendEvent(ctx, tx, id, who.Name, EventExtended, details); err != nil {
			return err
		}
		details["request_id"], details["tracking_number"], details["change"] = id.String(), r.TrackingNumber, "extension"
		return s.audit(ctx, tx, who, AuditChanged, audit.OutcomeSuccess, uuid.Nil, details)
	})
	if err != nil {
		return Request{}, fmt.Errorf("request extend %s: %w", id, err)
	}
	return s.Get(ctx, id)
}

// stateIn reports whether st is one of states.
func stateIn(st State, states ...State) bool { return slices.Contains(states, st) }

func isForeignKeyViolation(err error) bool {
	var pe *pgconn.PgError
	return errors.As(err, &pe) && pe.Code == "23503"
}

// SetHolds sets the retention holds collaborator once it exists (cmd
// builds retention after the store). Call it before serving.
func (s *Store) SetHolds(h Holds) { s.opt.Holds = h }

// PublicWindow is the window of the public pages' rate limit.
const PublicWindow = time.Hour

// AllowPublic records an attempt on the public intake ("intake") or status
// ("status") page from addr and refuses it beyond
// requests.public_intake_per_hour attempts in the last hour, with an
// evidence.ErrRateLimited error saying when to retry (429). The count
// lives in PostgreSQL, so several demsd processes share one limit.
func (s *Store) AllowPublic(ctx context.Context, addr, purpose string) error {
	limit := s.settings.PublicIntakePerHour
	if limit <= 0 {
		limit = 5
	}
	now := s.opt.Now()
	cutoff := now.Add(-PublicWindow)
	var retry time.Duration
	limited := false
	err := pgx.BeginFunc(ctx, s.db, func(tx pgx.Tx) error {
		// One attempt at a time per address and purpose, so a burst
		// cannot slip past the count.
		if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock(hashtext($1))`, purpose+" "+addr); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `DELETE FROM public_request_attempts WHERE at < $1`, cutoff); err != nil {
			return err
		}
		var n int
		var oldest *time.Time
		if err := tx.QueryRow(ctx, `SELECT count(*), min(at) FROM public_request_attempts WHERE addr = $1 AND purpose = $2 AND at >= $3`,
			addr, purpose, cutoff).Scan(&n, &oldest); err != nil {
			return err
		}
		if n >= limit {
			retry, limited = max(oldest.Add(PublicWindow).Sub(now).Round(time.Second), time.Second), true
			return nil
		}
		_, err := tx.Exec(ctx, `INSERT INTO public_request_attempts (addr, purpose, at) VALUES ($1, $2, $3)`, addr, purpose, now)
		return err
	})
	if err != nil {
		return fmt.Errorf("public %s: rate limit: %w", purpose, err)
	}
	if limited {
		return evidence.E(evidence.ErrRateLimited, "public "+purpose,
			fmt.Sprintf("too many requests from your address; try again in %s", retry), nil)
	}
	return nil
}
