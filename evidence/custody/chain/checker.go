package chain

import (
	"fmt"

	"github.com/google/uuid"
)

// ProblemKind classifies a verification failure.
type ProblemKind string

// Kinds of verification problems.
const (
	ProblemHashMismatch       ProblemKind = "hash_mismatch"
	ProblemPrevHashMismatch   ProblemKind = "prev_hash_mismatch"
	ProblemGap                ProblemKind = "gap"
	ProblemOutOfOrder         ProblemKind = "out_of_order"
	ProblemNotContiguous      ProblemKind = "not_contiguous"
	ProblemBadEvent           ProblemKind = "bad_event"
	ProblemHeadMismatch       ProblemKind = "head_mismatch"
	ProblemCheckpointSig      ProblemKind = "checkpoint_signature"
	ProblemCheckpointMismatch ProblemKind = "checkpoint_mismatch"
	ProblemProofInvalid       ProblemKind = "proof_invalid"
	ProblemEventsMissing      ProblemKind = "events_missing"
	ProblemTruncated          ProblemKind = "truncated"
	ProblemCountMismatch      ProblemKind = "count_mismatch"
)

// Problem is one thing that does not verify, named precisely enough to
// find it: the item, the sequence number and/or the checkpoint.
type Problem struct {
	Kind       ProblemKind `json:"kind"`
	Line       int         `json:"line,omitempty"` // export line, 0 for the database
	EvidenceID uuid.UUID   `json:"evidence_id,omitempty"`
	Seq        int64       `json:"seq,omitempty"`
	Checkpoint int64       `json:"checkpoint,omitempty"`
	Message    string      `json:"message"`
}

// String gives the human form, e.g. "evidence 3f2a… seq 7: hash mismatch:
// stored 9ab…, computed 1c4…".
func (p Problem) String() string {
	prefix := ""
	if p.Line > 0 {
		prefix = fmt.Sprintf("line %d: ", p.Line)
	}
	switch {
	case p.EvidenceID != uuid.Nil && p.Seq > 0:
		prefix += fmt.Sprintf("evidence %s seq %d: ", p.EvidenceID, p.Seq)
	case p.EvidenceID != uuid.Nil:
		prefix += fmt.Sprintf("evidence %s: ", p.EvidenceID)
	case p.Checkpoint > 0:
		prefix += fmt.Sprintf("checkpoint %d: ", p.Checkpoint)
	}
	return prefix + p.Message
}

// VerificationError is returned when something did not verify; First is
// the first problem found (in file or chain order).
type VerificationError struct {
	First Problem
	Count int
}

func (e *VerificationError) Error() string {
	if e.Count > 1 {
		return fmt.Sprintf("custody verification failed: %s (and %d more problems)", e.First, e.Count-1)
	}
	return "custody verification failed: " + e.First.String()
}

// Unwrap lets callers test errors.Is(err, ErrNotVerified).
func (e *VerificationError) Unwrap() error { return ErrNotVerified }

// ItemState is what the checker knows about one chain after its events.
type ItemState struct {
	LastSeq  int64
	LastHash Hash // stored hash of the last event seen
	// Hashes[i] is the stored hash of seq i+1 (zero where a seq is
	// missing); kept only when the checker was asked to.
	Hashes []Hash
	Broken bool // some event of this chain did not verify
}

// ChainChecker verifies events one at a time, in chain order, for any
// number of chains. It is used by the offline verifier and by the database
// verifier, so both apply the same rules. The zero value is not usable:
// call NewChainChecker.
type ChainChecker struct {
	items      map[uuid.UUID]*ItemState
	cur        *ItemState
	curID      uuid.UUID
	keepHashes bool
	buf        []byte
}

// NewChainChecker returns a checker; keepHashes retains every stored hash
// so checkpoints can be checked against any sequence number later.
func NewChainChecker(keepHashes bool) *ChainChecker {
	return &ChainChecker{items: map[uuid.UUID]*ItemState{}, keepHashes: keepHashes}
}

// Items returns the per-chain state (read-only for the caller).
func (c *ChainChecker) Items() map[uuid.UUID]*ItemState { return c.items }

// Check verifies e (whose Hash and PrevHash are the stored values) against
// the previous event of its chain and returns the problem, if any. It
// reports at most one problem per event, the most specific one.
func (c *ChainChecker) Check(e *Event) *Problem {
	if c.cur == nil || e.EvidenceID != c.curID {
		st, seen := c.items[e.EvidenceID]
		if !seen {
			st = &ItemState{}
			c.items[e.EvidenceID] = st
		}
		c.cur, c.curID = st, e.EvidenceID
		if seen {
			st.Broken = true
			return &Problem{Kind: ProblemNotContiguous, EvidenceID: e.EvidenceID, Seq: e.Seq,
				Message: "events of this item are not contiguous (appears again after other items)"}
		}
	}
	st := c.cur
	want := st.LastSeq + 1
	problem := func(kind ProblemKind, format string, args ...any) *Problem {
		st.Broken = true
		return &Problem{Kind: kind, EvidenceID: e.EvidenceID, Seq: e.Seq, Message: fmt.Sprintf(format, args...)}
	}
	if e.Seq < want {
		if e.Seq < 1 {
			return problem(ProblemOutOfOrder, "invalid seq %d", e.Seq)
		}
		return problem(ProblemOutOfOrder, "seq %d out of order or duplicated (after seq %d)", e.Seq, st.LastSeq)
	}
	var p *Problem
	if e.Seq > want {
		switch {
		case st.LastSeq == 0 && e.Seq == 2:
			p = problem(ProblemGap, "seq 1 missing (chain starts at seq 2)")
		case st.LastSeq == 0:
			p = problem(ProblemGap, "seq 1 to %d missing (chain starts at seq %d)", e.Seq-1, e.Seq)
		case e.Seq == want+1:
			p = problem(ProblemGap, "seq %d missing (gap between %d and %d)", want, st.LastSeq, e.Seq)
		default:
			p = problem(ProblemGap, "seq %d to %d missing (gap between %d and %d)", want, e.Seq-1, st.LastSeq, e.Seq)
		}
	} else if e.PrevHash != st.LastHash {
		p = problem(ProblemPrevHashMismatch, "prev_hash mismatch: stored %s, hash of seq %d is %s",
			e.PrevHash.Short(), st.LastSeq, st.LastHash.Short())
	}
	if p == nil {
		var computed Hash
		computed, c.buf = ComputeHash(e, c.buf)
		if computed != e.Hash {
			p = problem(ProblemHashMismatch, "hash mismatch: stored %s, computed %s", e.Hash.Short(), computed.Short())
		}
	}
	st.LastSeq, st.LastHash = e.Seq, e.Hash
	if c.keepHashes {
		for int64(len(st.Hashes)) < e.Seq-1 {
			st.Hashes = append(st.Hashes, Hash{})
		}
		st.Hashes = append(st.Hashes, e.Hash)
	}
	return p
}

// VerifyChain checks one complete chain held in memory (in seq order) and
// returns every problem.
func VerifyChain(events []Event) []Problem {
	c := NewChainChecker(false)
	var out []Problem
	for i := range events {
		if p := c.Check(&events[i]); p != nil {
			out = append(out, *p)
		}
	}
	return out
}
