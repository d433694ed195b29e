package custody

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"fmt"
	"sort"

	"github.com/google/uuid"

	"github.com/opendems/opendems/evidence/custody/chain"
)

// VerifyOptions selects what VerifyDB checks.
type VerifyOptions struct {
	// EvidenceID limits the check to one item (uuid.Nil: every item).
	EvidenceID uuid.UUID
	// PublicKey is the trusted checkpoint key; nil accepts the key each
	// checkpoint names (signatures are still checked).
	PublicKey ed25519.PublicKey
}

// DBReport is the result of VerifyDB.
type DBReport struct {
	Items       int   `json:"items"`
	Events      int64 `json:"events"`
	Checkpoints int   `json:"checkpoints"`
	// The unsigned tail: events newer than what the latest valid
	// checkpoint commits to (UnsignedItems items, UnsignedEvents events).
	// They verify as hash chains only; a database superuser could rewrite
	// them unnoticed until the next checkpoint.
	LatestCheckpoint int64           `json:"latest_checkpoint"`
	UnsignedItems    int             `json:"unsigned_items"`
	UnsignedEvents   int64           `json:"unsigned_events"`
	Problems         []chain.Problem `json:"problems,omitempty"`
	ProblemCount     int             `json:"problem_count"`
}

// OK reports whether everything verified.
func (r *DBReport) OK() bool { return r.ProblemCount == 0 }

func (r *DBReport) add(p chain.Problem) {
	r.ProblemCount++
	if len(r.Problems) < chain.MaxReportedProblems {
		r.Problems = append(r.Problems, p)
	}
}

// Err returns a *chain.VerificationError naming the first problem, or nil.
func (r *DBReport) Err() error {
	if r.OK() {
		return nil
	}
	return &chain.VerificationError{First: r.Problems[0], Count: r.ProblemCount}
}

// VerifyDB re-checks the custody chains stored in PostgreSQL with the same
// rules as the offline verifier: every hash and link, gap-free sequence
// numbers, the head table against the last event, every checkpoint's
// signature and Merkle root, and every chain against the latest checkpoint
// (a head hash commits to the whole chain before it, so the latest
// checkpoint is enough to detect a rewritten history it covers). It
// returns an error only when the database cannot be read; what does not
// verify is in the report (see DBReport.Err).
func VerifyDB(ctx context.Context, q Querier, opts VerifyOptions) (DBReport, error) {
	var rep DBReport
	latest, err := verifyCheckpoints(ctx, q, opts, &rep)
	if err != nil {
		return rep, err
	}
	want := map[uuid.UUID]chain.Leaf{}
	if latest != nil {
		for _, l := range latest.leaves {
			if opts.EvidenceID == uuid.Nil || l.EvidenceID == opts.EvidenceID {
				want[l.EvidenceID] = l
			}
		}
	}
	checker := chain.NewChainChecker(false)
	where, args := `ORDER BY evidence_id, seq`, []any{}
	if opts.EvidenceID != uuid.Nil {
		where, args = `WHERE evidence_id = $1 ORDER BY seq`, []any{opts.EvidenceID}
	}
	err = scanEvents(ctx, q, func(e *Event) error {
		rep.Events++
		if p := checker.Check(e); p != nil {
			rep.add(*p)
		}
		if l, ok := want[e.EvidenceID]; ok && l.Seq == e.Seq && l.Hash != e.Hash {
			rep.add(chain.Problem{Kind: chain.ProblemCheckpointMismatch, EvidenceID: e.EvidenceID, Seq: e.Seq,
				Checkpoint: latest.ID, Message: fmt.Sprintf("does not match checkpoint %d: checkpoint has hash %s, chain has %s",
					latest.ID, l.Hash.Short(), e.Hash.Short())})
		}
		return nil
	}, where, args...)
	if err != nil {
		return rep, fmt.Errorf("custody verify: %w", err)
	}
	items := checker.Items()
	rep.Items = len(items)
	if latest != nil {
		rep.LatestCheckpoint = latest.ID
	}
	for id, st := range items {
		if signed := want[id].Seq; signed < st.LastSeq {
			rep.UnsignedItems++
			rep.UnsignedEvents += st.LastSeq - signed
		}
	}
	for id, l := range want {
		if st := items[id]; st == nil || st.LastSeq < l.Seq {
			last := int64(0)
			if st != nil {
				last = st.LastSeq
			}
			rep.add(chain.Problem{Kind: chain.ProblemEventsMissing, EvidenceID: id, Checkpoint: latest.ID,
				Message: fmt.Sprintf("checkpoint %d commits to seq %d, but the chain ends at seq %d (events removed)", latest.ID, l.Seq, last)})
		}
	}
	// Heads must point at the last event.
	hwhere, hargs := ``, []any{}
	if opts.EvidenceID != uuid.Nil {
		hwhere, hargs = ` WHERE evidence_id = $1`, []any{opts.EvidenceID}
	}
	rows, err := q.Query(ctx, `SELECT evidence_id, seq, hash FROM custody_heads`+hwhere, hargs...)
	if err != nil {
		return rep, fmt.Errorf("custody verify heads: %w", err)
	}
	defer rows.Close()
	seen := map[uuid.UUID]bool{}
	for rows.Next() {
		var id uuid.UUID
		var seq int64
		var hb []byte
		if err := rows.Scan(&id, &seq, &hb); err != nil {
			return rep, fmt.Errorf("custody verify heads: %w", err)
		}
		seen[id] = true
		h, _ := chain.HashFromBytes(hb)
		st := items[id]
		switch {
		case st == nil && seq == 0:
		case st == nil:
			rep.add(chain.Problem{Kind: chain.ProblemHeadMismatch, EvidenceID: id,
				Message: fmt.Sprintf("head says seq %d but the item has no events", seq)})
		case st.LastSeq != seq || st.LastHash != h:
			rep.add(chain.Problem{Kind: chain.ProblemHeadMismatch, EvidenceID: id, Seq: st.LastSeq,
				Message: fmt.Sprintf("head is seq %d hash %s, last event is seq %d hash %s", seq, h.Short(), st.LastSeq, st.LastHash.Short())})
		}
	}
	if err := rows.Err(); err != nil {
		return rep, fmt.Errorf("custody verify heads: %w", err)
	}
	for id, st := range items {
		if !seen[id] {
			rep.add(chain.Problem{Kind: chain.ProblemHeadMismatch, EvidenceID: id, Seq: st.LastSeq,
				Message: "events exist but the chain has no head row"})
		}
	}
	return rep, nil
}

type storedCheckpoint struct {
	chain.Checkpoint
	leaves []chain.Leaf
	object chain.Hash
}

// verifyCheckpoints checks every checkpoint's signature and root and
// returns the latest one (nil if there is none).
func verifyCheckpoints(ctx context.Context, q Querier, opts VerifyOptions, rep *DBReport) (*storedCheckpoint, error) {
	var latest *storedCheckpoint
	want := opts.PublicKey
	err := scanCheckpoints(ctx, q, `ORDER BY id`, nil, func(c *storedCheckpoint, leavesErr error) error {
		rep.Checkpoints++
		if want == nil {
			// Without a trusted key, at least every checkpoint must be
			// signed by the same key as the first. Pass the server's key:
			// someone who can write the database could otherwise sign a
			// forged history with a key of their own.
			want = c.PublicKey
		}
		if err := c.VerifySignature(want); err != nil {
			rep.add(chain.Problem{Kind: chain.ProblemCheckpointSig, Checkpoint: c.ID, Message: "signature invalid: " + err.Error()})
			return nil
		}
		if leavesErr != nil {
			rep.add(chain.Problem{Kind: chain.ProblemProofInvalid, Checkpoint: c.ID, Message: leavesErr.Error()})
			return nil
		}
		if root := chain.MerkleRoot(leafHashes(c.leaves)); root != c.Root || int64(len(c.leaves)) != c.TreeSize {
			rep.add(chain.Problem{Kind: chain.ProblemProofInvalid, Checkpoint: c.ID,
				Message: fmt.Sprintf("stored leaves (%d) hash to root %s, signed root is %s over %d leaves", len(c.leaves), root.Short(), c.Root.Short(), c.TreeSize)})
			return nil
		}
		cp := *c
		latest = &cp
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("custody verify checkpoints: %w", err)
	}
	return latest, nil
}

func leafHashes(leaves []chain.Leaf) []chain.Hash {
	out := make([]chain.Hash, len(leaves))
	for i, l := range leaves {
		out[i] = chain.LeafHash(l.Bytes())
	}
	return out
}

// scanCheckpoints streams stored checkpoints; fn gets the leaves' parse
// error separately so that a damaged row is reported, not fatal.
func scanCheckpoints(ctx context.Context, q Querier, where string, args []any, fn func(*storedCheckpoint, error) error) error {
	rows, err := q.Query(ctx, `SELECT id, created_at, tree_size, root, public_key, signature, leaves, object_sha256
		FROM custody_checkpoints `+where, args...)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		var c storedCheckpoint
		var root, pub, sig, leaves, obj []byte
		if err := rows.Scan(&c.ID, &c.Time, &c.TreeSize, &root, &pub, &sig, &leaves, &obj); err != nil {
			return err
		}
		c.Time = c.Time.UTC()
		c.Root, _ = chain.HashFromBytes(root)
		c.object, _ = chain.HashFromBytes(obj)
		c.PublicKey = ed25519.PublicKey(pub)
		c.Signature = sig
		var lerr error
		c.leaves, lerr = chain.ParseLeaves(leaves)
		if err := fn(&c, lerr); err != nil {
			return err
		}
	}
	return rows.Err()
}

// SignedHeadResult is what the latest checkpoint says about one item.
type SignedHeadResult struct {
	Checkpoint int64          // latest checkpoint id (0: none)
	Leaf       chain.Leaf     // the item's signed head (Seq 0: not covered)
	Problem    *chain.Problem // the latest checkpoint itself does not verify
}

// SignedHead reads the latest checkpoint, checks its signature against
// the service's key and its Merkle root against its leaves, and returns
// the head it commits to for item id. It reads every leaf of one
// checkpoint (O(items)): the price of checking the root on every call.
func (s *Service) SignedHead(ctx context.Context, id uuid.UUID) (SignedHeadResult, error) {
	var out SignedHeadResult
	err := scanCheckpoints(ctx, s.DB, `ORDER BY id DESC LIMIT 1`, nil, func(c *storedCheckpoint, leavesErr error) error {
		out.Checkpoint = c.ID
		bad := func(msg string) {
			out.Problem = &chain.Problem{Kind: chain.ProblemCheckpointSig, Checkpoint: c.ID, Message: msg}
		}
		switch {
		case len(s.Key) == 0:
			bad("no trusted checkpoint key is configured")
		case c.VerifySignature(s.Key) != nil:
			bad("latest checkpoint: " + c.VerifySignature(s.Key).Error())
		case leavesErr != nil:
			bad("latest checkpoint: " + leavesErr.Error())
		case chain.MerkleRoot(leafHashes(c.leaves)) != c.Root || int64(len(c.leaves)) != c.TreeSize:
			bad(fmt.Sprintf("latest checkpoint %d: stored leaves do not hash to the signed root", c.ID))
		default:
			i := sort.Search(len(c.leaves), func(i int) bool { return bytes.Compare(c.leaves[i].EvidenceID[:], id[:]) >= 0 })
			if i < len(c.leaves) && c.leaves[i].EvidenceID == id {
				out.Leaf = c.leaves[i]
			}
		}
		return nil
	})
	if err != nil {
		return out, fmt.Errorf("custody signed head: %w", err)
	}
	return out, nil
}
