package audit

import (
	"context"
	"crypto/ed25519"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/opendems/opendems/evidence"
	"github.com/opendems/opendems/evidence/custody/chain"
)

// Filter selects audit records. Zero fields do not filter.
type Filter struct {
	From, To   time.Time // From inclusive, To exclusive
	Actor      string    // "user:jdoe"
	UserID     uuid.UUID
	EventType  EventType
	Outcome    Outcome
	EvidenceID uuid.UUID
	AfterSeq   int64 // keyset pagination: records with seq > AfterSeq
	// BeforeSeq bounds a query to the log as it stood when the query
	// began (records with seq < BeforeSeq; 0: no bound), so paging
	// through a log that grows while it is read still ends.
	BeforeSeq int64
	Limit     int // 0: DefaultLimit; capped at MaxLimit
}

// Page sizes.
const (
	DefaultLimit = 100
	MaxLimit     = 10000
)

// Validate checks the filter.
func (f Filter) Validate() error {
	if f.Outcome != "" && !f.Outcome.Valid() {
		return fmt.Errorf("%w: outcome %q", evidence.ErrInvalid, f.Outcome)
	}
	if !f.From.IsZero() && !f.To.IsZero() && !f.To.After(f.From) {
		return fmt.Errorf("%w: time range ends before it starts", evidence.ErrInvalid)
	}
	if f.Limit < 0 || f.AfterSeq < 0 || f.BeforeSeq < 0 {
		return fmt.Errorf("%w: negative limit or cursor", evidence.ErrInvalid)
	}
	return nil
}

// Query returns records matching f in chain order, at most f.Limit.
func Query(ctx context.Context, q Querier, f Filter) ([]Event, error) {
	if err := f.Validate(); err != nil {
		return nil, err
	}
	var where []string
	var args []any
	add := func(cond string, v any) {
		args = append(args, v)
		where = append(where, strings.ReplaceAll(cond, "?", "$"+strconv.Itoa(len(args))))
	}
	add("seq > ?", f.AfterSeq)
	if f.BeforeSeq > 0 {
		add("seq < ?", f.BeforeSeq)
	}
	if !f.From.IsZero() {
		add("at >= ?", f.From)
	}
	if !f.To.IsZero() {
		add("at < ?", f.To)
	}
	if f.Actor != "" {
		add("actor = ?", f.Actor)
	}
	if f.UserID != uuid.Nil {
		add("user_id = ?", f.UserID)
	}
	if f.EventType != "" {
		add("event_type = ?", string(f.EventType))
	}
	if f.Outcome != "" {
		add("outcome = ?", string(f.Outcome))
	}
	if f.EvidenceID != uuid.Nil {
		add("evidence_id = ?", f.EvidenceID)
	}
	limit := f.Limit
	if limit == 0 {
		limit = DefaultLimit
	}
	if limit > MaxLimit {
		limit = MaxLimit
	}
	out := []Event{}
	err := scan(ctx, q, "WHERE "+strings.Join(where, " AND ")+" ORDER BY seq LIMIT "+strconv.Itoa(limit), args, func(e *Event) error {
		c := *e
		out = append(out, c)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("audit query: %w", err)
	}
	return out, nil
}

func scan(ctx context.Context, q Querier, where string, args []any, fn func(*Event) error) error {
	rows, err := q.Query(ctx, `SELECT seq, at, component, event_type, actor, user_id, outcome, source_addr,
		evidence_id, details, prev_hash, hash FROM audit_log `+where, args...)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		var e Event
		var et, oc, details string
		var uid, eid *uuid.UUID
		var prev, hash []byte
		if err := rows.Scan(&e.Seq, &e.Time, &e.Component, &et, &e.Actor, &uid, &oc, &e.SourceAddr,
			&eid, &details, &prev, &hash); err != nil {
			return err
		}
		e.Time = e.Time.UTC()
		e.EventType, e.Outcome, e.Details = EventType(et), Outcome(oc), []byte(details)
		if uid != nil {
			e.UserID = *uid
		}
		if eid != nil {
			e.EvidenceID = *eid
		}
		e.PrevHash, _ = chain.HashFromBytes(prev)
		e.Hash, _ = chain.HashFromBytes(hash)
		if err := fn(&e); err != nil {
			return err
		}
	}
	return rows.Err()
}

// Report is the result of Verify.
type Report struct {
	Records int64 `json:"records"`
	// Anchors counts signed anchors; AnchoredSeq is the newest record a
	// valid anchor signs (0: none). Records after it are the unsigned
	// tail (UnsignedRecords): a database superuser could still rewrite or
	// remove them unnoticed until the next anchor is made.
	Anchors         int             `json:"anchors"`
	AnchoredSeq     int64           `json:"anchored_seq"`
	UnsignedRecords int64           `json:"unsigned_records"`
	KeyID           string          `json:"key_id,omitempty"`
	KeyTrusted      bool            `json:"key_trusted"`
	Problems        []chain.Problem `json:"problems,omitempty"`
	ProblemCount    int             `json:"problem_count"`
}

// OK reports whether the chain verified.
func (r *Report) OK() bool { return r.ProblemCount == 0 }

func (r *Report) add(seq int64, kind chain.ProblemKind, format string, args ...any) {
	r.ProblemCount++
	if len(r.Problems) < chain.MaxReportedProblems {
		r.Problems = append(r.Problems, chain.Problem{Kind: kind, Seq: seq,
			Message: fmt.Sprintf("audit seq %d: ", seq) + fmt.Sprintf(format, args...)})
	}
}

// anchorMark is what Verify keeps of each valid anchor (48 bytes).
type anchorMark struct {
	id, seq int64
	hash    chain.Hash
}

// Verify re-checks the whole audit chain, its head and every signed
// anchor; the first problem names the first record that does not verify.
// trusted is the server's public key (nil: every anchor must be signed by
// the key of the first one; Report.KeyTrusted is then false). An anchor
// whose record is gone (the log was cut short) or differs is a problem.
// It returns an error only when the database cannot be read.
func Verify(ctx context.Context, q Querier, trusted ed25519.PublicKey) (Report, error) {
	var rep Report
	want := trusted
	rep.KeyTrusted = trusted != nil
	var marks []anchorMark
	err := scanAnchors(ctx, q, func(a *Anchor) {
		rep.Anchors++
		if want == nil {
			want = a.PublicKey
		}
		if err := a.VerifySignature(want); err != nil {
			rep.add(a.Seq, chain.ProblemCheckpointSig, "anchor %d: %v", a.ID, err)
			return
		}
		rep.KeyID = chain.KeyID(a.PublicKey)
		marks = append(marks, anchorMark{id: a.ID, seq: a.Seq, hash: a.Hash})
	})
	if err != nil {
		return rep, fmt.Errorf("audit verify anchors: %w", err)
	}
	sort.SliceStable(marks, func(i, j int) bool { return marks[i].seq < marks[j].seq })
	for _, m := range marks {
		rep.AnchoredSeq = max(rep.AnchoredSeq, m.seq)
	}
	next := 0 // first mark not yet matched against a record
	var lastSeq int64
	var last chain.Hash
	err = scan(ctx, q, "ORDER BY seq", nil, func(e *Event) error {
		rep.Records++
		switch {
		case e.Seq > lastSeq+1:
			rep.add(e.Seq, chain.ProblemGap, "seq %d missing (gap between %d and %d)", lastSeq+1, lastSeq, e.Seq)
		case e.PrevHash != last:
			rep.add(e.Seq, chain.ProblemPrevHashMismatch, "prev_hash mismatch: stored %s, hash of seq %d is %s", e.PrevHash.Short(), lastSeq, last.Short())
		default:
			if c := ComputeHash(e); c != e.Hash {
				rep.add(e.Seq, chain.ProblemHashMismatch, "hash mismatch: stored %s, computed %s", e.Hash.Short(), c.Short())
			}
		}
		for ; next < len(marks) && marks[next].seq <= e.Seq; next++ {
			if m := marks[next]; m.seq == e.Seq && m.hash != e.Hash {
				rep.add(e.Seq, chain.ProblemCheckpointMismatch, "does not match signed anchor %d: anchor has hash %s, record has %s",
					m.id, m.hash.Short(), e.Hash.Short())
			} else if m.seq < e.Seq {
				rep.add(m.seq, chain.ProblemEventsMissing, "signed anchor %d names this record, which is missing", m.id)
			}
		}
		lastSeq, last = e.Seq, e.Hash
		return nil
	})
	if err != nil {
		return rep, fmt.Errorf("audit verify: %w", err)
	}
	for ; next < len(marks); next++ {
		m := marks[next]
		rep.add(m.seq, chain.ProblemEventsMissing, "signed anchor %d commits to seq %d, but the log ends at seq %d (records removed)", m.id, m.seq, lastSeq)
	}
	rep.UnsignedRecords = max(0, lastSeq-rep.AnchoredSeq)
	var headSeq int64
	var head []byte
	if err := q.QueryRow(ctx, `SELECT seq, hash FROM audit_head WHERE id`).Scan(&headSeq, &head); err != nil {
		return rep, fmt.Errorf("audit verify head: %w", err)
	}
	if h, _ := chain.HashFromBytes(head); headSeq != lastSeq || h != last {
		rep.add(lastSeq, chain.ProblemHeadMismatch, "head is seq %d hash %s, last record is seq %d hash %s", headSeq, h.Short(), lastSeq, last.Short())
	}
	return rep, nil
}
