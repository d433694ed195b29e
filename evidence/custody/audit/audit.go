package audit

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/opendems/opendems/evidence"
	"github.com/opendems/opendems/evidence/custody/chain"
)

// EventType names what happened. The string values are hashed: never
// rename one.
type EventType string

// Audit event types.
const (
	EventLogon             EventType = "logon"  // outcome success or failure
	EventLogoff            EventType = "logoff" // including session expiry
	EventPasswordChanged   EventType = "password_changed"
	EventMFAChanged        EventType = "mfa_changed" // enrolled, reset, removed
	EventAccountCreated    EventType = "account_created"
	EventAccountChanged    EventType = "account_changed"
	EventAccountDisabled   EventType = "account_disabled"
	EventAccountLocked     EventType = "account_locked"
	EventPermissionChanged EventType = "permission_changed" // role, unit, groups
	EventTokenCreated      EventType = "token_created"
	EventTokenRevoked      EventType = "token_revoked"
	EventDockEnrolled      EventType = "dock_enrolled"
	EventDockRevoked       EventType = "dock_revoked"
	EventPolicyChanged     EventType = "policy_changed"
	EventConfigChanged     EventType = "config_changed"
	EventAdminAction       EventType = "admin_action" // every request by an administrator
	EventAuditRead         EventType = "audit_read"   // any access to the audit log
	EventAccessDenied      EventType = "access_denied"
)

// Outcome of the audited action.
type Outcome string

// Outcomes.
const (
	OutcomeSuccess Outcome = "success"
	OutcomeFailure Outcome = "failure"
	OutcomeDenied  Outcome = "denied"
)

// Valid reports whether o is one of the outcomes.
func (o Outcome) Valid() bool {
	return o == OutcomeSuccess || o == OutcomeFailure || o == OutcomeDenied
}

// Querier is a pool or a transaction: Record opens a transaction (or a
// savepoint inside the caller's) to hold the chain head.
type Querier interface {
	Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error)
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
	Begin(ctx context.Context) (pgx.Tx, error)
}

// Entry is what a caller records.
type Entry struct {
	Time      time.Time // zero: now
	Component string    // e.g. "identity", "api", "policy", "custody"
	EventType EventType
	// Actor is who acted: identity.Principal.Actor(), or for a failed
	// logon "user:<name as typed>" / "anonymous". Anything that is not a
	// valid actor is normalized by SanitizeActor (original kept in the
	// details), never refused.
	Actor      string
	UserID     uuid.UUID // users.id when known
	Outcome    Outcome
	SourceAddr string    // client IP address
	EvidenceID uuid.UUID // the item concerned, if any
	// Details: anything that explains the record (old and new values of
	// a change, the request path, the filter used to read the log). It
	// is marshalled and canonicalized; never put secrets here.
	Details any
}

// Event is a stored audit record.
type Event struct {
	Seq        int64      `json:"seq"`
	Time       time.Time  `json:"time"`
	Component  string     `json:"component"`
	EventType  EventType  `json:"event_type"`
	Actor      string     `json:"actor"`
	UserID     uuid.UUID  `json:"user_id"`
	Outcome    Outcome    `json:"outcome"`
	SourceAddr string     `json:"source_addr"`
	EvidenceID uuid.UUID  `json:"evidence_id"`
	Details    []byte     `json:"-"` // canonical JSON
	PrevHash   chain.Hash `json:"prev_hash"`
	Hash       chain.Hash `json:"hash"`
}

// AppendCanonical appends the bytes hashed for e: a canonical JSON object
// with keys in sorted order (ids as strings, "" when absent).
func AppendCanonical(out []byte, e *Event) []byte {
	str := func(key, v string) {
		out = append(out, key...)
		out = chain.AppendJSONString(out, v)
	}
	id := func(u uuid.UUID) string {
		if u == uuid.Nil {
			return ""
		}
		return u.String()
	}
	str(`{"actor":`, e.Actor)
	str(`,"component":`, e.Component)
	out = append(out, `,"details":`...)
	if len(e.Details) == 0 {
		out = append(out, "{}"...)
	} else {
		out = append(out, e.Details...)
	}
	str(`,"event_type":`, string(e.EventType))
	str(`,"evidence_id":`, id(e.EvidenceID))
	str(`,"outcome":`, string(e.Outcome))
	out = append(out, `,"seq":`...)
	out = strconv.AppendInt(out, e.Seq, 10)
	str(`,"source_addr":`, e.SourceAddr)
	str(`,"time":`, chain.FormatTime(e.Time))
	str(`,"user_id":`, id(e.UserID))
	return append(out, '}')
}

// ComputeHash returns SHA-256(e.PrevHash || AppendCanonical(e)).
func ComputeHash(e *Event) chain.Hash {
	buf := append(make([]byte, 0, 512), e.PrevHash[:]...)
	return sha256Sum(AppendCanonical(buf, e))
}

func prepare(en Entry) (Event, error) {
	if en.Component == "" || len(en.Component) > 64 {
		return Event{}, fmt.Errorf("%w: component must be 1 to 64 characters", evidence.ErrInvalid)
	}
	if en.EventType == "" || len(en.EventType) > 64 {
		return Event{}, fmt.Errorf("%w: event type must be 1 to 64 characters", evidence.ErrInvalid)
	}
	if !en.Outcome.Valid() {
		return Event{}, fmt.Errorf("%w: outcome %q (want success, failure or denied)", evidence.ErrInvalid, en.Outcome)
	}
	actor := SanitizeActor(en.Actor)
	if len(en.SourceAddr) > 256 {
		return Event{}, fmt.Errorf("%w: source address too long", evidence.ErrInvalid)
	}
	details, err := chain.CanonicalDetails(en.Details)
	if err != nil {
		return Event{}, fmt.Errorf("%w: %w", evidence.ErrInvalid, err)
	}
	if actor != en.Actor {
		// Keep exactly what was claimed (a failed logon's user name as
		// typed is evidence of guessing) next to the normalized actor.
		var m map[string]any
		if err := json.Unmarshal(details, &m); err != nil {
			return Event{}, fmt.Errorf("%w: %v", evidence.ErrInvalid, err)
		}
		m["actor_as_given"] = strings.ToValidUTF8(en.Actor, "\uFFFD")
		if details, err = chain.CanonicalDetails(m); err != nil {
			return Event{}, fmt.Errorf("%w: %w", evidence.ErrInvalid, err)
		}
	}
	t := en.Time
	if t.IsZero() {
		t = time.Now()
	}
	return Event{Time: chain.CanonicalTime(t), Component: en.Component, EventType: en.EventType,
		Actor: actor, UserID: en.UserID, Outcome: en.Outcome, SourceAddr: en.SourceAddr,
		EvidenceID: en.EvidenceID, Details: details}, nil
}

// Record appends en to the audit chain. Inside a caller's transaction it
// uses a savepoint and the chain head stays locked until that transaction
// ends (so audit records commit or roll back with what they describe);
// with a pool it commits on its own.
func Record(ctx context.Context, q Querier, en Entry) (Event, error) {
	e, err := prepare(en)
	if err != nil {
		return Event{}, err
	}
	err = pgx.BeginFunc(ctx, q, func(tx pgx.Tx) error {
		var head []byte
		if err := tx.QueryRow(ctx, `SELECT seq, hash FROM audit_head WHERE id FOR UPDATE`).Scan(&e.Seq, &head); err != nil {
			return err
		}
		var err error
		if e.PrevHash, err = chain.HashFromBytes(head); err != nil {
			return err
		}
		e.Seq++
		e.Hash = ComputeHash(&e)
		_, err = tx.Exec(ctx, `
			WITH ins AS (
				INSERT INTO audit_log (seq, at, component, event_type, actor, user_id, outcome, source_addr, evidence_id, details, prev_hash, hash)
				VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)
			)
			UPDATE audit_head SET seq = $1, hash = $12 WHERE id`,
			e.Seq, e.Time, e.Component, string(e.EventType), e.Actor, nullUUID(e.UserID), string(e.Outcome),
			e.SourceAddr, nullUUID(e.EvidenceID), string(e.Details), e.PrevHash[:], e.Hash[:])
		return err
	})
	if err != nil {
		return Event{}, fmt.Errorf("audit record %s: %w", en.EventType, err)
	}
	return e, nil
}

// SanitizeActor returns s if it is a valid "kind:name" actor, and
// otherwise a valid actor derived from it: a missing kind becomes
// "anonymous" (or "unknown" when s is not a plain kind), white space and
// control characters in the name become '_', invalid UTF-8 becomes
// U+FFFD, and the name is cut to 128 bytes. Record applies it and keeps
// the original in details["actor_as_given"], so that a failed logon with a
// strange user name is recorded, never refused.
func SanitizeActor(s string) string {
	if chain.ValidActor(s) == nil {
		return s
	}
	kind, name, ok := strings.Cut(s, ":")
	if !ok {
		kind, name = "anonymous", s
	}
	if kind == "" || strings.IndexFunc(kind, func(r rune) bool { return r < 'a' || r > 'z' }) >= 0 || len(kind) > 32 {
		kind, name = "unknown", s
	}
	name = strings.ToValidUTF8(name, "\uFFFD")
	name = strings.Map(func(r rune) rune {
		if r <= ' ' || r == 0x7f || unicode.IsSpace(r) || unicode.IsControl(r) {
			return '_'
		}
		return r
	}, name)
	for len(name) > 128 {
		_, size := utf8.DecodeLastRuneInString(name)
		name = name[:len(name)-size]
	}
	if name == "" {
		name = "-"
	}
	return kind + ":" + name
}

func nullUUID(u uuid.UUID) any {
	if u == uuid.Nil {
		return nil
	}
	return u
}

func sha256Sum(b []byte) chain.Hash { return sha256.Sum256(b) }
